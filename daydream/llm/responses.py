"""Reading what a provider sent back: a completion body, or a library exception, as key-free facts.

One implementation for the sync and async faces of the client. The body is parsed here, from the
raw HTTP response, with our own pydantic models, because providers answer HTTP 200 with things the
``openai`` package does not expect: an HTML page from a proxy, a body cut short, ``usage`` counts as
strings, ``choices`` that are not a list. The library would hand those back as a bare string or raise
a ``JSONDecodeError``/``ValidationError`` later; here each becomes an ``AttemptFailure`` the retry
policy classifies and the runner records in ``error.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

import openai
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from daydream.errors import first_problem
from daydream.llm.redaction import Redactor, clean
from daydream.llm.retry import AttemptFailure, is_retryable_status, retry_after_from
from daydream.llm.types import LLMResult, Usage

SNIPPET = 200
"""How much of an unreadable body an error message shows (masked): enough to recognise a proxy page."""


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    return value


Count = Annotated[int, BeforeValidator(_not_bool), Field(ge=0)]
Dollars = Annotated[float, BeforeValidator(_not_bool), Field(ge=0)]


class _WireUsage(BaseModel):
    model_config = ConfigDict(extra="allow")

    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    total_tokens: Count | None = None
    cost: Dollars | None = None


class _TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    text: str = ""


class _WireMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    content: str | list[_TextPart] | None = None


class _WireChoice(BaseModel):
    model_config = ConfigDict(extra="allow")

    finish_reason: str | None = None
    message: _WireMessage | None = None


class _WireCompletion(BaseModel):
    """The parts of an OpenAI/OpenRouter chat completion DayDream reads; the rest may be anything."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    model: str | None = None
    provider: Any = None
    choices: list[_WireChoice] | None = None
    usage: _WireUsage | None = None
    error: Any = None


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


def rate_limit_headers(headers: Mapping[str, str], redactor: Redactor) -> dict[str, str]:
    """``retry-after``, ``retry-after-ms`` and ``x-ratelimit-*`` headers, names lower-cased, masked."""
    kept = {}
    for name, value in headers.items():
        low = name.lower()
        if low in ("retry-after", "retry-after-ms") or low.startswith("x-ratelimit-"):
            kept[low] = clean(value, redactor, 200)
    return kept


def failure_from_exception(
    exc: openai.OpenAIError, *, base_url: str, timeout_s: float, redactor: Redactor
) -> AttemptFailure:
    """An ``AttemptFailure`` for what the ``openai`` package raised; nothing of ``exc`` survives but text."""
    if isinstance(exc, openai.APITimeoutError):
        return AttemptFailure("timeout", f"request timed out after {timeout_s:g}s")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
        return AttemptFailure("connection", clean(f"cannot connect to {base_url} ({detail})", redactor))
    if isinstance(exc, openai.APIStatusError):
        headers = exc.response.headers
        return AttemptFailure(
            "status",
            clean(provider_message(exc.body, exc.message), redactor),
            status=exc.status_code,
            retry_after_s=retry_after_from(headers),
            retryable=is_retryable_status(exc.status_code),
            headers=rate_limit_headers(headers, redactor),
        )
    return AttemptFailure("response", clean(f"{type(exc).__name__}: {exc}", redactor), retryable=False)


def unexpected_failure(exc: Exception, redactor: Redactor) -> AttemptFailure:
    """A failure for anything else raised while reading an answer: recorded, not retried, never bare."""
    return AttemptFailure(
        "response", clean(f"unexpected {type(exc).__name__} reading the answer: {exc}", redactor), retryable=False
    )


def _body_json(http: Any, redactor: Redactor) -> Any:
    """The decoded JSON body, or an ``AttemptFailure`` (retryable: a proxy page or a cut body)."""
    content: bytes = http.content
    try:
        return json.loads(content)
    except ValueError:  # also UnicodeDecodeError
        kind = http.headers.get("content-type") or "no content type"
        snippet = clean(content[:SNIPPET].decode("utf-8", "replace"), redactor, SNIPPET)
        return AttemptFailure(
            "response",
            clean(
                f"provider answered HTTP {http.status_code} with a body that is not JSON "
                f"({kind}, {len(content)} bytes): {snippet!r}",
                redactor,
                800,
            ),
            headers=rate_limit_headers(http.headers, redactor),
        )


def parse_completion(http: Any, *, model: str, max_tokens: int, redactor: Redactor) -> LLMResult | AttemptFailure:
    """An ``LLMResult`` from the raw HTTP response of a chat completion, or why it cannot be one."""
    data = _body_json(http, redactor)
    if isinstance(data, AttemptFailure):
        return data
    if not isinstance(data, dict):
        return AttemptFailure(
            "response",
            f"provider answered with JSON that is not a completion object (a {type(data).__name__})",
            retryable=False,
        )
    try:
        completion = _WireCompletion.model_validate(data)
    except ValidationError as exc:
        where, problem = first_problem(exc)
        return AttemptFailure(
            "response",
            clean(f"provider answered with a malformed completion: field '{where}': {problem}", redactor),
            retryable=False,
        )
    if not completion.choices:
        # OpenRouter reports an upstream failure as HTTP 200 with {"error": {...}} and no choices.
        err = completion.error
        code = err.get("code") if isinstance(err, dict) else None
        status = code if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599 else 502
        return AttemptFailure(
            "response",
            clean("provider answered with no choices: " + provider_message(err, "no details"), redactor),
            status=status,
            retryable=is_retryable_status(status),
        )
    return _result(completion, model=model, max_tokens=max_tokens, redactor=redactor)


def _result(
    completion: _WireCompletion, *, model: str, max_tokens: int, redactor: Redactor
) -> LLMResult | AttemptFailure:
    choice = completion.choices[0]  # type: ignore[index]
    if choice.finish_reason == "error":
        return AttemptFailure("response", "provider reported finish_reason 'error'", status=502)
    usage = completion.usage or _WireUsage()
    counts = Usage(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
        total_tokens=usage.total_tokens or 0,
    )
    content = choice.message.content if choice.message is not None else None
    text = "".join(part.text for part in content) if isinstance(content, list) else (content or "")
    provider = completion.provider if isinstance(completion.provider, str) else None
    # The answer is stored as it came, but for the key: a hostile provider may echo it there too.
    return LLMResult(
        text=redactor.secrets(text),
        finish_reason=choice.finish_reason,
        truncated=choice.finish_reason == "length" or counts.completion_tokens >= max_tokens,
        usage=counts,
        cost_usd=usage.cost,
        model=model,
        response_model=redactor.secrets(completion.model) if completion.model else None,
        response_id=redactor.secrets(completion.id) if completion.id else None,
        provider=redactor.secrets(provider) if provider else None,
    )


def count_models(http: Any) -> int | None:
    """How many models a ``GET /models`` answer lists; None when the body is not the usual shape."""
    try:
        data = json.loads(http.content)
    except ValueError:
        return None
    listed = data.get("data") if isinstance(data, dict) else data
    return len(listed) if isinstance(listed, list) else None
