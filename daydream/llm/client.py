"""The OpenAI-compatible chat client the stage runner calls (no Airflow import).

One user message per call, non-streaming, through the ``openai`` package with its own retries
turned off (``daydream.llm.retry`` does them, so ``Retry-After``, the jitter and the total budget are
ours and testable). Works against OpenRouter (default), OpenAI, vLLM, Ollama, llama.cpp server and the
offline server of ``daydream.llm.offline``.

The API key lives only inside the ``openai.OpenAI`` object. Library exceptions are reduced to
key-free facts inside the attempt and never re-raised or chained, so no exception text, cause,
context, repr or log line of ours can carry the key; provider messages are scrubbed as well, since
some providers echo (part of) the key back.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import openai

from daydream.errors import LLMError
from daydream.llm.retry import (
    AttemptFailure,
    RetryExhausted,
    RetryPolicy,
    call_with_retries,
    final_error,
    is_retryable_status,
    one_line,
    parse_retry_after,
    redact,
)
from daydream.llm.settings import API_KEY_ENV, LLMSettings
from daydream.llm.types import LLMResult, Usage
from daydream.values import optional_float

OFFLINE_PLACEHOLDER_KEY = "offline-no-key"
NO_KEY_MESSAGE = (
    "no LLM API key configured for {base_url}: set the password (API key) of the Airflow "
    "connection 'llm_default' or the environment variable " + API_KEY_ENV
)
# Keys a caller may not override through ``request_defaults``: the call's own arguments.
_CALL_KEYS = frozenset({"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "stream"})


class OpenAICompatibleClient:
    """``LLMClient`` for any OpenAI-compatible ``/chat/completions`` endpoint."""

    def __init__(
        self,
        settings: LLMSettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings if settings is not None else LLMSettings.from_env()
        self.policy = RetryPolicy.from_settings(self.settings)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._client: openai.OpenAI | None = None

    def stage_request(self, stage: str) -> tuple[int, float]:
        """The stage's ``(max_tokens, temperature)`` from this client's settings (the runner asks)."""
        return self.settings.stage_request(stage)

    def __repr__(self) -> str:
        return (
            f"OpenAICompatibleClient(base_url={self.settings.base_url!r}, "
            f"api_key_set={self.settings.has_api_key}, timeout_s={self.settings.timeout_s}, "
            f"max_retries={self.settings.max_retries})"
        )

    __str__ = __repr__

    # -- lifecycle ---------------------------------------------------------------------------

    def _openai(self) -> openai.OpenAI:
        """The underlying client, built on first use so a task that makes no call needs no key."""
        with self._lock:
            if self._client is None:
                self._client = openai.OpenAI(
                    base_url=self.settings.base_url,
                    api_key=self._api_key(),
                    timeout=self.settings.timeout_s,
                    max_retries=0,
                    default_headers=dict(self.settings.extra_headers) or None,
                )
            return self._client

    def _api_key(self) -> str:
        if self.settings.has_api_key:
            return self.settings.api_key.get_secret_value()  # type: ignore[union-attr]
        if self.settings.is_loopback:
            return OFFLINE_PLACEHOLDER_KEY
        raise LLMError(NO_KEY_MESSAGE.format(base_url=self.settings.base_url))

    def _secrets(self) -> tuple[str, ...]:
        return (self.settings.api_key.get_secret_value(),) if self.settings.has_api_key else ()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> OpenAICompatibleClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the call ------------------------------------------------------------------------------

    def request_body(self) -> dict[str, Any]:
        """The extra body fields sent with each call: ``request_defaults`` plus usage accounting."""
        body = {k: v for k, v in self.settings.request_defaults.items() if k not in _CALL_KEYS}
        if self.settings.usage_accounting:
            body.setdefault("usage", {"include": True})
        return body

    def complete(self, *, model: str, prompt: str, max_tokens: int, temperature: float) -> LLMResult:
        """Send ``prompt`` as one user message to ``model``; retry per the policy; never leak the key."""
        client = self._openai()
        label = f"LLM call to model '{model}' at {self.settings.base_url}"
        extra_body = self.request_body()
        started = time.monotonic()

        def attempt() -> LLMResult | AttemptFailure:
            try:
                completion = client.chat.completions.create(
                    model=model,
                    messages=[{"role": "user", "content": prompt}],
                    max_tokens=max_tokens,
                    temperature=temperature,
                    extra_body=extra_body or None,
                )
            except openai.OpenAIError as exc:
                return self._failure(exc)
            return self._result(completion, model=model, max_tokens=max_tokens)

        error: LLMError | None = None
        try:
            outcome = call_with_retries(attempt, self.policy, sleep=self._sleep, rng=self._rng, label=label)
        except RetryExhausted as exc:
            error = final_error(exc, label=label, secrets=self._secrets())
        if error is not None:
            raise error  # outside the except block: no __context__ to carry library objects
        return outcome.value.model_copy(
            update={
                "attempts": outcome.attempts,
                "duration_s": round(time.monotonic() - started, 4),
            }
        )

    # -- reading answers and failures -----------------------------------------------------------

    def _clean(self, text: object) -> str:
        return redact(one_line(str(text)), self._secrets())

    def _failure(self, exc: openai.OpenAIError) -> AttemptFailure:
        if isinstance(exc, openai.APITimeoutError):
            return AttemptFailure("timeout", f"request timed out after {self.settings.timeout_s:g}s")
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__
            detail = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
            return AttemptFailure("connection", self._clean(f"cannot connect to {self.settings.base_url} ({detail})"))
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            headers = exc.response.headers
            retry_after = parse_retry_after(headers.get("retry-after"))
            if retry_after is None and headers.get("retry-after-ms"):
                ms = parse_retry_after(headers.get("retry-after-ms"))
                retry_after = None if ms is None else ms / 1000.0
            return AttemptFailure(
                "status",
                self._clean(provider_message(exc.body, exc.message)),
                status=status,
                retry_after_s=retry_after,
                retryable=is_retryable_status(status),
            )
        return AttemptFailure("response", self._clean(f"{type(exc).__name__}: {exc}"), retryable=False)

    def _result(self, completion: Any, *, model: str, max_tokens: int) -> LLMResult | AttemptFailure:
        extra = completion.model_extra or {}
        choices = completion.choices or []
        if not choices:
            # OpenRouter reports an upstream failure as HTTP 200 with {"error": {...}} and no choices.
            err = extra.get("error")
            code = err.get("code") if isinstance(err, dict) else None
            status = code if isinstance(code, int) else 502
            return AttemptFailure(
                "response",
                self._clean("provider answered with no choices: " + provider_message(err, "no details")),
                status=status,
                retryable=is_retryable_status(status),
            )
        choice = choices[0]
        if choice.finish_reason == "error":
            return AttemptFailure("response", "provider reported finish_reason 'error'", status=502)
        usage = completion.usage
        counts = Usage(
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            total_tokens=getattr(usage, "total_tokens", 0) or 0,
        )
        text = (choice.message.content if choice.message is not None else None) or ""
        return LLMResult(
            text=text,
            finish_reason=choice.finish_reason,
            truncated=choice.finish_reason == "length" or counts.completion_tokens >= max_tokens,
            usage=counts,
            cost_usd=_cost(usage),
            model=model,
            response_model=completion.model or None,
            response_id=completion.id or None,
            provider=extra.get("provider") if isinstance(extra.get("provider"), str) else None,
        )

    # -- connection check ----------------------------------------------------------------------

    def check(self) -> tuple[bool, str]:
        """A connection test without retries: ``(ok, message)``.

        Lists the models (reachability; OpenAI and vLLM also check the key there), then asks
        OpenRouter's ``GET /key`` (the key itself); an endpoint without ``/key`` (404) is fine.
        """
        try:
            client = self._openai()
        except LLMError as exc:
            return False, str(exc)
        failure: AttemptFailure | None = None
        try:
            count = len(client.models.list().data or [])
            client.get("/key", cast_to=object)
        except openai.NotFoundError:
            pass
        except openai.OpenAIError as exc:
            failure = self._failure(exc)
        if failure is not None:
            return False, f"{self.settings.base_url}: {failure.describe()}"
        return True, f"reached {self.settings.base_url}: {count} models listed, API key accepted"


def provider_message(body: object, fallback: str) -> str:
    """The human part of an OpenAI/OpenRouter error body (``message`` plus upstream ``raw``)."""
    if isinstance(body, dict):
        message = body.get("message")
        metadata = body.get("metadata")
        raw = metadata.get("raw") if isinstance(metadata, dict) else None
        if message:
            return f"{message} ({raw})" if isinstance(raw, str) and raw else str(message)
    elif isinstance(body, str) and body.strip():
        return body
    return fallback


def _cost(usage: Any) -> float | None:
    """``usage.cost`` as OpenRouter reports it with usage accounting on; None when absent."""
    if usage is None:
        return None
    return optional_float((getattr(usage, "model_extra", None) or {}).get("cost"))
