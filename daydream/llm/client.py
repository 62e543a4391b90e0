"""The OpenAI-compatible chat client the stage runner calls (no Airflow import), sync and async.

One user message per call, non-streaming, through the ``openai`` package with its own retries
turned off (``daydream.llm.retry`` does them on tenacity, so ``Retry-After``, the jitter and the total
budget are ours and testable). Works against OpenRouter (default), OpenAI, vLLM, Ollama, llama.cpp
server and the offline server of ``daydream.llm.offline``.

``complete`` (a worker) and ``acomplete`` (the triggerer, an asyncio loop) are two faces of one
client: the same settings, retry policy, failure classification, body parsing
(``daydream.llm.responses``) and redaction; only the transport (``openai.OpenAI`` or
``openai.AsyncOpenAI``) and the sleep differ.

The API key lives only inside the ``openai`` client objects. Library exceptions are reduced to
key-free facts inside the attempt and never re-raised or chained, so no exception text, cause,
context, repr or log line of ours can carry the key; provider text is masked for every form of the
key (``daydream.llm.redaction``), since some providers echo it back.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import openai

from daydream.errors import LLMError
from daydream.llm.redaction import Redactor, register_secret
from daydream.llm.responses import (
    count_models,
    failure_from_exception,
    parse_completion,
    provider_message,
    unexpected_failure,
)
from daydream.llm.retry import (
    AttemptFailure,
    AttemptObserver,
    Outcome,
    RetryExhausted,
    RetryPolicy,
    acall_with_retries,
    call_with_retries,
    final_error,
)
from daydream.llm.settings import API_KEY_ENV, LLMSettings
from daydream.llm.types import LLMResult

__all__ = ["OFFLINE_PLACEHOLDER_KEY", "OpenAICompatibleClient", "provider_message"]

OFFLINE_PLACEHOLDER_KEY = "offline-no-key"
NO_KEY_MESSAGE = (
    "no LLM API key configured for {base_url}: set the password (API key) of the Airflow "
    "connection 'llm_default' or the environment variable " + API_KEY_ENV
)
T = TypeVar("T")
Observers = tuple[AttemptObserver | None, ...]
# Keys a caller may not override through ``request_defaults``: the call's own arguments.
_CALL_KEYS = frozenset({"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "stream"})


class OpenAICompatibleClient:
    """``LLMClient`` for any OpenAI-compatible ``/chat/completions`` endpoint, with an async face.

    ``on_attempt_failure`` observes every failed attempt of every call (see
    ``daydream.llm.retry.AttemptObserver``); a call may pass its own as well.
    """

    def __init__(
        self,
        settings: LLMSettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        on_attempt_failure: AttemptObserver | None = None,
    ) -> None:
        self.settings = settings if settings is not None else LLMSettings.from_env()
        self.policy = RetryPolicy.from_settings(self.settings)
        self.on_attempt_failure = on_attempt_failure
        self._sleep = sleep
        self._asleep = asleep
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._client: openai.OpenAI | None = None
        self._aclient: tuple[asyncio.AbstractEventLoop, openai.AsyncOpenAI] | None = None
        self._redactor = Redactor(self._secrets())
        for secret in self._secrets():
            register_secret(secret)

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

    def _transport_options(self) -> dict[str, Any]:
        return {
            "base_url": self.settings.base_url,
            "api_key": self._api_key(),
            "timeout": self.settings.timeout_s,
            "max_retries": 0,
            "default_headers": dict(self.settings.extra_headers) or None,
        }

    def _openai(self) -> openai.OpenAI:
        """The sync transport, built on first use so a task that makes no call needs no key."""
        with self._lock:
            if self._client is None:
                self._client = openai.OpenAI(**self._transport_options())
            return self._client

    def _aopenai(self) -> openai.AsyncOpenAI:
        """The async transport of the running event loop (its connection pool belongs to that loop).

        Our own ``http_client``: the ``openai`` package's default one schedules its own closing on
        whatever loop runs when it is collected, which fails for a pool of a loop that has ended.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._aclient is None or self._aclient[0] is not loop:
                http = openai.DefaultAsyncHttpxClient(timeout=self.settings.timeout_s)
                self._aclient = (loop, openai.AsyncOpenAI(**self._transport_options(), http_client=http))
            return self._aclient[1]

    def _api_key(self) -> str:
        if self.settings.has_api_key:
            return self.settings.api_key.get_secret_value()  # type: ignore[union-attr]
        if self.settings.is_loopback:
            return OFFLINE_PLACEHOLDER_KEY
        raise LLMError(NO_KEY_MESSAGE.format(base_url=self.settings.base_url))

    def _secrets(self) -> tuple[str, ...]:
        return (self.settings.api_key.get_secret_value(),) if self.settings.has_api_key else ()  # type: ignore[union-attr]

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the async transport of the running loop (the sync one stays: ``close`` ends it)."""
        with self._lock:
            pair, self._aclient = self._aclient, None
        if pair is not None and pair[0] is asyncio.get_running_loop():
            await pair[1].close()

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

    def _request(self, model: str, prompt: str, max_tokens: int, temperature: float) -> dict[str, Any]:
        extra_body = self.request_body()
        return {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "extra_body": extra_body or None,
        }

    def _label(self, model: str) -> str:
        return f"LLM call to model '{model}' at {self.settings.base_url}"

    def _failure(self, exc: Exception) -> AttemptFailure:
        if isinstance(exc, openai.OpenAIError):
            return failure_from_exception(
                exc, base_url=self.settings.base_url, timeout_s=self.settings.timeout_s, redactor=self._redactor
            )
        return unexpected_failure(exc, self._redactor)

    def _parse(self, raw: Any, model: str, max_tokens: int) -> LLMResult | AttemptFailure:
        try:
            return parse_completion(raw.http_response, model=model, max_tokens=max_tokens, redactor=self._redactor)
        except Exception as exc:  # noqa: BLE001 (a reader bug must still end as this generation's LLMError)
            return unexpected_failure(exc, self._redactor)

    def complete(
        self,
        *,
        model: str,
        prompt: str,
        max_tokens: int,
        temperature: float,
        on_attempt_failure: AttemptObserver | None = None,
    ) -> LLMResult:
        """Send ``prompt`` as one user message to ``model``; retry per the policy; never leak the key."""
        client = self._openai()
        request = self._request(model, prompt, max_tokens, temperature)
        started = time.monotonic()

        def attempt() -> LLMResult | AttemptFailure:
            try:
                raw = client.chat.completions.with_raw_response.create(**request)
            except Exception as exc:  # noqa: BLE001 (reduced to key-free facts; see the module docstring)
                return self._failure(exc)
            return self._parse(raw, model, max_tokens)

        outcome = self._retried(attempt, self._label(model), (self.on_attempt_failure, on_attempt_failure))
        return self._timed(outcome, started)

    async def acomplete(
        self,
        *,
        model: str,
        prompt: str,
        max_tokens: int,
        temperature: float,
        on_attempt_failure: AttemptObserver | None = None,
    ) -> LLMResult:
        """``complete`` on the running event loop: same request, policy, errors and result."""
        client = self._aopenai()
        request = self._request(model, prompt, max_tokens, temperature)
        started = time.monotonic()

        async def attempt() -> LLMResult | AttemptFailure:
            try:
                raw = await client.chat.completions.with_raw_response.create(**request)
            except Exception as exc:  # noqa: BLE001 (CancelledError is a BaseException and passes)
                return self._failure(exc)
            return self._parse(raw, model, max_tokens)

        outcome = await self._aretried(attempt, self._label(model), (self.on_attempt_failure, on_attempt_failure))
        return self._timed(outcome, started)

    # -- retries whose give-up is this client's key-free LLMError ---------------------------------

    def _retried(self, attempt: Callable[[], T | AttemptFailure], label: str, observers: Observers) -> Outcome[T]:
        error: LLMError
        try:
            return call_with_retries(
                attempt, self.policy, sleep=self._sleep, rng=self._rng, label=label, observers=observers
            )
        except RetryExhausted as exc:
            error = final_error(exc, label=label, secrets=self._secrets())
        raise error  # outside the except block: no __context__ to carry library objects

    async def _aretried(
        self, attempt: Callable[[], Awaitable[T | AttemptFailure]], label: str, observers: Observers
    ) -> Outcome[T]:
        error: LLMError
        try:
            return await acall_with_retries(
                attempt, self.policy, asleep=self._asleep, rng=self._rng, label=label, observers=observers
            )
        except RetryExhausted as exc:
            error = final_error(exc, label=label, secrets=self._secrets())
        raise error

    @staticmethod
    def _timed(outcome: Outcome[LLMResult], started: float) -> LLMResult:
        return outcome.value.model_copy(
            update={"attempts": outcome.attempts, "duration_s": round(time.monotonic() - started, 4)}
        )

    # -- embeddings (the reports' idea clusters) -------------------------------------------------

    def embed(self, texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
        """One vector per text from ``/embeddings`` (``model``, else the settings' ``embedding_model``).

        The same retry policy, failure classification and redaction as ``complete``. Asks for floats
        (``encoding_format``), which every OpenAI-compatible server supports.
        """
        name = model or self.settings.embedding_model
        if not name:
            raise LLMError(
                f"no embedding model for {self.settings.base_url}: set 'embedding_model' in the extras of "
                "the Airflow connection 'llm_default'"
            )
        client = self._openai()
        inputs = list(texts)
        label = f"embeddings from model '{name}' at {self.settings.base_url}"

        def attempt() -> list[list[float]] | AttemptFailure:
            try:
                raw = client.embeddings.create(model=name, input=inputs, encoding_format="float")
            except Exception as exc:  # noqa: BLE001 (reduced to key-free facts, as in complete)
                return self._failure(exc)
            try:
                rows = sorted(raw.data, key=lambda d: d.index)
                vectors = [[float(v) for v in row.embedding] for row in rows]
            except Exception as exc:  # noqa: BLE001 (a malformed body fails this call, redacted)
                return unexpected_failure(exc, self._redactor)
            if len(vectors) != len(inputs):
                return unexpected_failure(
                    ValueError(f"{len(vectors)} embeddings for {len(inputs)} texts"), self._redactor
                )
            return vectors

        return self._retried(attempt, label, (self.on_attempt_failure,)).value

    # -- connection check ----------------------------------------------------------------------

    def _probe(self, request: Callable[[], Any]) -> tuple[Any, AttemptFailure | None]:
        try:
            return request(), None
        except Exception as exc:  # noqa: BLE001 (the Test button must answer, never crash)
            return None, self._failure(exc)

    def check(self) -> tuple[bool, str]:
        """A connection test without retries: ``(ok, message)``, never an exception.

        Lists the models (reachability; OpenAI and vLLM also check the key there), then asks
        OpenRouter's ``GET /key`` (the key itself). Either may be missing (404), not both: a server
        that has neither is most likely the wrong base URL.
        """
        base = self.settings.base_url
        try:
            client = self._openai()
        except LLMError as exc:
            return False, str(exc)
        models, models_failure = self._probe(lambda: client.models.with_raw_response.list())
        if models_failure is not None and models_failure.status != 404:
            return False, f"{base}: {models_failure.describe()}"
        _, key_failure = self._probe(lambda: client.get("/key", cast_to=object))
        if key_failure is not None and key_failure.status != 404:
            return False, f"{base}: {key_failure.describe()}"
        if models is None:
            if key_failure is not None:
                return False, (
                    f"{base}: neither /models nor /key exists there (HTTP 404); check the base URL "
                    "(OpenAI-compatible endpoints usually end in /v1)"
                )
            return True, f"reached {base}: it has no /models endpoint to list models; API key accepted"
        count = count_models(models.http_response)
        listed = "the model list is unreadable" if count is None else f"{count} models listed"
        return True, f"reached {base}: {listed}, API key accepted"
