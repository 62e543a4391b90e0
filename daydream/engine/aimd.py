"""How many calls one model may have in flight: additive increase, multiplicative decrease (AIMD).

A pool says how many calls the researcher allows; a provider may allow fewer, and says so with 429s.
TCP's answer to the same problem works here: halve the model's limit when the provider pushes back,
add about one call per round of successes while the limit is what holds the calls back, and never go
above the pool. A burst of 429s caused by one overshoot counts once (``cooldown_s``), otherwise one
wave of rejected calls would take the limit to 1.

The provider's own words come first: ``Retry-After`` and the rate-limit headers
(``x-ratelimit-remaining-requests: 0`` with ``x-ratelimit-reset-requests``, OpenRouter's
``x-ratelimit-remaining: 0`` with ``x-ratelimit-reset``) pause new calls to that model until the time
they name; the call that was told waits that long by the retry policy anyway.

Pure logic on an injected clock: the gate (``daydream.engine.gate``) owns one per model.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from daydream.llm.retry import AttemptFailure

__all__ = ["AIMD", "AIMDSettings", "parse_reset"]

_DURATION = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_reset(value: str | None, *, now_wall: float) -> float | None:
    """Seconds until a rate-limit window resets, from a reset header; None when absent or unreadable.

    Providers spell it three ways: a duration (OpenAI: ``6m0s``, ``1.5s``, ``20ms``), an epoch time in
    milliseconds (OpenRouter) or seconds, or plain seconds from now.
    """
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    try:
        number = float(text)
    except ValueError:
        parts = list(_DURATION.finditer(text))
        if not parts or "".join(p.group(0) for p in parts) != text:
            return None
        return sum(float(p.group("value")) * _UNIT_S[p.group("unit")] for p in parts)
    if not math.isfinite(number) or number < 0:
        return None
    if number > 1e12:  # epoch milliseconds
        return max(0.0, number / 1000.0 - now_wall)
    if number > 1e9:  # epoch seconds
        return max(0.0, number - now_wall)
    return number


def header_pause(headers: Mapping[str, str], *, now_wall: float) -> float | None:
    """The wait the rate-limit headers ask for: the reset of an exhausted window, else None."""
    pauses = []
    for remaining, reset in (
        ("x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
        ("x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
        ("x-ratelimit-remaining", "x-ratelimit-reset"),
    ):
        left = headers.get(remaining)
        if left is not None and left.strip() in ("0", "0.0"):
            seconds = parse_reset(headers.get(reset), now_wall=now_wall)
            if seconds is not None:
                pauses.append(seconds)
    return max(pauses) if pauses else None


@dataclass(frozen=True)
class AIMDSettings:
    decrease_factor: float = 0.5
    """The limit is multiplied by this on a 429 (TCP halves)."""
    cooldown_s: float = 2.0
    """At most one decrease per this many seconds: the 429s of one overshoot arrive together."""
    min_limit: int = 1
    max_pause_s: float = 3600.0
    """A pause longer than this is not a rate limit but a quota (``daydream.engine.quota`` handles it)."""


class AIMD:
    """The concurrency limit of one model, between 1 and the pool's slots."""

    def __init__(
        self,
        settings: AIMDSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or AIMDSettings()
        self.clock = clock
        self.wall = wall
        self.limit: float | None = None  # None: not limited yet, the pool decides
        self.paused_until = 0.0
        self.last_decrease = -math.inf
        self.decreases = 0

    def cap(self, ceiling: int) -> int:
        """Calls this model may have in flight now, with the pool at ``ceiling`` slots."""
        ceiling = max(0, ceiling)
        if self.limit is None:
            return ceiling
        self.limit = min(self.limit, float(max(ceiling, self.settings.min_limit)))
        return min(ceiling, max(self.settings.min_limit, math.floor(self.limit)))

    def paused_for(self) -> float:
        """Seconds until new calls may start (0 when they may start now)."""
        return max(0.0, self.paused_until - self.clock())

    def on_success(self, *, in_flight: int, ceiling: int, waiting: int = 0) -> None:
        """One call answered (``in_flight`` counts it): grow by about one call per round of answers while
        the limit is what holds calls back (it is full, or calls wait for it)."""
        if self.limit is None:
            return
        if in_flight >= self.cap(ceiling) or waiting > 0:
            self.limit = min(float(ceiling), self.limit + 1.0 / max(self.limit, 1.0))
            if self.limit >= ceiling:
                self.limit = None  # back to the pool's own limit

    def on_failure(self, failure: AttemptFailure, *, in_flight: int, ceiling: int) -> None:
        """A failed attempt: a 429 halves the limit (once per cooldown) and pauses new calls as asked."""
        if not failure.rate_limited:
            return
        now = self.clock()
        pause = failure.retry_after_s
        from_headers = header_pause(failure.headers, now_wall=self.wall())
        if from_headers is not None:
            pause = max(pause or 0.0, from_headers)
        if pause is not None and pause > 0:
            self.paused_until = max(self.paused_until, now + min(pause, self.settings.max_pause_s))
        if now - self.last_decrease < self.settings.cooldown_s:
            return
        current = float(max(1, in_flight)) if self.limit is None else min(self.limit, float(max(1, in_flight)))
        base = max(current, float(self.settings.min_limit))
        self.limit = max(float(self.settings.min_limit), base * self.settings.decrease_factor)
        self.last_decrease = now
        self.decreases += 1
