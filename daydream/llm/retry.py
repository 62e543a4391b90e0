"""Retry policy for LLM calls: pure pieces, unit-testable without a network or a clock.

- Retried: HTTP 429, 408 and 5xx, timeouts, connection errors.
- Not retried: every other 4xx (400, 401, 403, 404, 422, ...): they fail at once with the provider's
  message, so a bad model name or a bad key fails fast.
- Backoff: exponential with full jitter, ``uniform(0, min(backoff_max_s, backoff_base_s * 2**(n-1)))``
  before retry ``n``.
- ``Retry-After`` (seconds or an HTTP date) is honoured exactly, never shortened: retrying earlier
  than the provider asked only earns another 429. When it does not fit in what is left of the total
  wait budget, the call fails at once and the message says so.
- At most ``max_retries`` retries and at most ``max_total_wait_s`` seconds of sleeping in total.

``call_with_retries`` takes the attempt as a callable that returns a value or an ``AttemptFailure``
(it never sees a library exception, so nothing can chain one into the final error), and an
injectable ``sleep`` so tests do not wait.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from daydream.errors import LLMError

log = logging.getLogger("daydream.llm")

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 429})
MAX_PROVIDER_MESSAGE = 500
_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9][A-Za-z0-9_\-]{6,}|Bearer\s+\S+)", re.IGNORECASE)


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS or 500 <= status <= 599


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with each secret and anything shaped like an API key or bearer token masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return _KEY_PATTERN.sub("<redacted>", text)


def one_line(text: str, limit: int = MAX_PROVIDER_MESSAGE) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class AttemptFailure:
    """One failed attempt, already reduced to key-free facts."""

    kind: str  # "status" | "timeout" | "connection" | "response"
    message: str
    status: int | None = None
    retry_after_s: float | None = None
    retryable: bool = True

    def describe(self) -> str:
        return f"HTTP {self.status}: {self.message}" if self.status is not None else self.message


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    max_total_wait_s: float = 600.0

    @classmethod
    def from_settings(cls, settings: object) -> RetryPolicy:
        return cls(**{name: getattr(settings, name) for name in cls.__dataclass_fields__})

    def backoff_cap(self, retry_number: int) -> float:
        """Upper bound of the jittered wait before retry ``retry_number`` (1-based)."""
        return min(self.backoff_max_s, self.backoff_base_s * 2 ** max(0, retry_number - 1))

    def next_delay(
        self, failure: AttemptFailure, *, retry_number: int, waited_s: float, rng: random.Random
    ) -> tuple[float | None, str]:
        """``(delay, "")`` to retry after ``delay`` seconds, or ``(None, reason)`` to give up."""
        if not failure.retryable:
            return None, "not retryable"
        if retry_number > self.max_retries:
            return None, f"no retries left (max_retries={self.max_retries})"
        remaining = self.max_total_wait_s - waited_s
        if failure.retry_after_s is not None:
            if failure.retry_after_s > remaining + 1e-9:
                return None, (
                    f"provider asked to retry after {failure.retry_after_s:g}s, more than the "
                    f"{max(0.0, remaining):g}s left of the retry wait budget "
                    f"(max_total_wait_s={self.max_total_wait_s:g})"
                )
            return failure.retry_after_s, ""
        if remaining <= 0:
            return None, f"retry wait budget used up (max_total_wait_s={self.max_total_wait_s:g})"
        return min(remaining, rng.uniform(0.0, self.backoff_cap(retry_number))), ""


class RetryExhausted(Exception):
    """Raised by ``call_with_retries``; carries the last failure and the count of attempts."""

    def __init__(self, failure: AttemptFailure, attempts: int, reason: str, waited_s: float):
        super().__init__(failure.describe())
        self.failure = failure
        self.attempts = attempts
        self.reason = reason
        self.waited_s = waited_s


@dataclass
class Outcome(Generic[T]):
    value: T
    attempts: int
    waited_s: float


def call_with_retries(
    attempt: Callable[[], T | AttemptFailure],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    label: str = "LLM call",
) -> Outcome[T]:
    """Run ``attempt`` until it returns a value; raise ``RetryExhausted`` when the policy gives up."""
    rng = rng or random.Random()
    waited = 0.0
    attempts = 0
    while True:
        attempts += 1
        result = attempt()
        if not isinstance(result, AttemptFailure):
            return Outcome(result, attempts, waited)
        delay, reason = policy.next_delay(result, retry_number=attempts, waited_s=waited, rng=rng)
        if delay is None:
            raise RetryExhausted(result, attempts, reason, waited)
        log.warning(
            "%s: %s (attempt %d of %d); retrying in %.2fs",
            label,
            result.describe(),
            attempts,
            policy.max_retries + 1,
            delay,
        )
        sleep(delay)
        waited += delay


def final_error(exc: RetryExhausted, *, label: str, secrets: Iterable[str | None] = ()) -> LLMError:
    """The one-line, key-free ``LLMError`` for a call that failed for good."""
    failure = exc.failure
    noun = "attempt" if exc.attempts == 1 else "attempts"
    tail = "not retried" if not failure.retryable else exc.reason
    text = f"{label} failed after {exc.attempts} {noun} ({tail}): {failure.describe()}"
    return LLMCallError(
        redact(one_line(text, 2000), secrets),
        status=failure.status,
        attempts=exc.attempts,
        retryable=failure.retryable,
        kind=failure.kind,
    )


class LLMCallError(LLMError):
    """``LLMError`` with the facts of the last attempt, for callers that want to branch on them."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        attempts: int = 1,
        retryable: bool = False,
        kind: str = "status",
    ):
        super().__init__(message)
        self.status = status
        self.attempts = attempts
        self.retryable = retryable
        self.kind = kind
