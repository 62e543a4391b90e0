"""Retry policy for LLM calls, run by ``tenacity`` (as Inspect AI does), sync and async alike.

- Retried: HTTP 429, 408 and 5xx, timeouts, connection errors, a 200 whose body is not JSON.
- Not retried: every other 4xx (400, 401, 403, 404, 422, ...) and a JSON answer of the wrong shape:
  they fail at once with the provider's message, so a bad model name, a bad key or an incompatible
  provider fails fast instead of paying again for the same useless answer.
- Backoff: exponential with full jitter, ``uniform(0, min(backoff_max_s, backoff_base_s * 2**(n-1)))``
  before retry ``n``.
- ``Retry-After`` (seconds or an HTTP date; ``retry-after-ms``) is honoured exactly, never shortened:
  retrying earlier than the provider asked only earns another 429. When it does not fit in what is
  left of the total wait budget, the call fails at once and the message says so.
- At most ``max_retries`` retries and at most ``max_total_wait_s`` seconds of sleeping in total.

``RetryPolicy.next_delay`` is the whole decision, pure and unit-testable; ``_Decider`` hands it to
tenacity as its ``wait`` and ``stop`` (one decision per failed attempt, so the jitter is drawn once).
The attempt returns a value or an ``AttemptFailure`` (it never raises a library exception, so none can
be chained into the final error); ``sleep``/``asleep`` are injectable so tests do not wait. An
optional observer sees every failed attempt (429s and their rate-limit headers included), for a
caller that adapts its concurrency.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_result

from daydream.errors import LLMError
from daydream.llm.redaction import Redactor, one_line, redact

__all__ = [
    "AttemptFailure",
    "AttemptObserver",
    "LLMCallError",
    "Outcome",
    "RetryExhausted",
    "RetryPolicy",
    "acall_with_retries",
    "call_with_retries",
    "final_error",
    "is_retryable_status",
    "one_line",
    "parse_retry_after",
    "redact",
]

log = logging.getLogger("daydream.llm")

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 429})


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS or 500 <= status <= 599


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
    if seconds != seconds:  # NaN; an infinite wait stays infinite and fails the budget at once
        return None
    return max(0.0, seconds)


def retry_after_from(headers: Mapping[str, str]) -> float | None:
    """The wait a response asks for: ``retry-after-ms`` (OpenAI, precise) else ``Retry-After``."""
    millis = parse_retry_after(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    return parse_retry_after(headers.get("retry-after"))


@dataclass(frozen=True)
class AttemptFailure:
    """One failed attempt, already reduced to key-free facts.

    ``headers`` keeps the response's ``retry-after``, ``retry-after-ms`` and ``x-ratelimit-*`` headers
    (lower-cased names), and ``attempt`` is filled in by the retry loop (1-based) before an observer
    sees the failure.
    """

    kind: str  # "status" | "timeout" | "connection" | "response"
    message: str
    status: int | None = None
    retry_after_s: float | None = None
    retryable: bool = True
    headers: Mapping[str, str] = field(default_factory=dict, compare=False)
    attempt: int = 0

    def describe(self) -> str:
        return f"HTTP {self.status}: {self.message}" if self.status is not None else self.message

    @property
    def rate_limited(self) -> bool:
        return self.status == 429


AttemptObserver = Callable[[AttemptFailure], None]
"""Called once per failed attempt, in the caller's thread or event loop, before the retry decision.

It must not block (the async face calls it on the event loop). An exception it raises is logged and
ignored: watching a call must never change how the call ends.
"""


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
    """Raised when the policy gives up; carries the last failure and the count of attempts."""

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


def _is_failure(value: object) -> bool:
    return isinstance(value, AttemptFailure)


class _Decider:
    """One call's retry state, as tenacity's ``after``/``wait``/``stop``/``before_sleep`` hooks."""

    def __init__(
        self,
        policy: RetryPolicy,
        rng: random.Random,
        label: str,
        observers: Iterable[AttemptObserver | None],
    ):
        self.policy = policy
        self.rng = rng
        self.label = label
        self.observers = [o for o in observers if o is not None]
        self.attempts = 0
        self.waited = 0.0
        self.delay: float | None = None
        self.reason = ""
        self.failure: AttemptFailure | None = None

    def counted(self, value: T | AttemptFailure) -> T | AttemptFailure:
        self.attempts += 1
        return value

    def after(self, state: RetryCallState) -> None:
        failure: AttemptFailure = state.outcome.result()  # type: ignore[union-attr]
        self.failure = replace(failure, attempt=state.attempt_number)
        for observer in self.observers:
            try:
                observer(self.failure)
            except Exception:  # noqa: BLE001 (see AttemptObserver)
                log.exception("%s: the attempt observer failed; ignored", self.label)

    def wait(self, state: RetryCallState) -> float:
        assert self.failure is not None
        self.delay, self.reason = self.policy.next_delay(
            self.failure, retry_number=state.attempt_number, waited_s=self.waited, rng=self.rng
        )
        return self.delay or 0.0

    def stop(self, state: RetryCallState) -> bool:
        return self.delay is None

    def before_sleep(self, state: RetryCallState) -> None:
        assert self.failure is not None and self.delay is not None
        log.warning(
            "%s: %s (attempt %d of %d); retrying in %.2fs",
            self.label,
            self.failure.describe(),
            state.attempt_number,
            self.policy.max_retries + 1,
            self.delay,
        )
        self.waited += self.delay

    def give_up(self, state: RetryCallState) -> Any:
        assert self.failure is not None
        raise RetryExhausted(self.failure, state.attempt_number, self.reason, self.waited)

    def tenacity_kwargs(self) -> dict[str, Any]:
        return {
            "retry": retry_if_result(_is_failure),
            "after": self.after,
            "wait": self.wait,
            "stop": self.stop,
            "before_sleep": self.before_sleep,
            "retry_error_callback": self.give_up,
        }


def call_with_retries(
    attempt: Callable[[], T | AttemptFailure],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    label: str = "LLM call",
    observers: Iterable[AttemptObserver | None] = (),
) -> Outcome[T]:
    """Run ``attempt`` until it returns a value; raise ``RetryExhausted`` when the policy gives up."""
    decider = _Decider(policy, rng or random.Random(), label, observers)
    value = Retrying(sleep=sleep, **decider.tenacity_kwargs())(lambda: decider.counted(attempt()))
    return Outcome(value, decider.attempts, decider.waited)  # type: ignore[arg-type]


async def acall_with_retries(
    attempt: Callable[[], Awaitable[T | AttemptFailure]],
    policy: RetryPolicy,
    *,
    asleep: Callable[[float], Awaitable[None]],
    rng: random.Random | None = None,
    label: str = "LLM call",
    observers: Iterable[AttemptObserver | None] = (),
) -> Outcome[T]:
    """``call_with_retries`` for a coroutine attempt: the same policy, sleeping with ``asleep``."""
    decider = _Decider(policy, rng or random.Random(), label, observers)

    async def counted() -> T | AttemptFailure:
        return decider.counted(await attempt())

    value: Any = await AsyncRetrying(sleep=asleep, **decider.tenacity_kwargs())(counted)
    return Outcome(value, decider.attempts, decider.waited)


def final_error(exc: RetryExhausted, *, label: str, secrets: Iterable[str | None] = ()) -> LLMError:
    """The one-line, key-free ``LLMError`` for a call that failed for good."""
    failure = exc.failure
    noun = "attempt" if exc.attempts == 1 else "attempts"
    tail = "not retried" if not failure.retryable else exc.reason
    text = f"{label} failed after {exc.attempts} {noun} ({tail}): {failure.describe()}"
    redactor = Redactor(secrets)
    return LLMCallError(
        redactor(one_line(redactor(text), 2000)),
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
