"""A model's daily quota used up: no more calls to it until the quota resets.

OpenRouter's free models allow a number of requests per day; past it every request gets a 429 whose
message says ``free-models-per-day`` and whose ``X-RateLimit-Remaining: 0`` comes with
``X-RateLimit-Reset`` (epoch milliseconds). Retrying such a call, or sending the next generation, only
collects more 429s until tomorrow. So the first one stops the model for the day: the stop is written
to the data root (``llm_limits/quota/<llm_model_id>.json``), where every process that runs
generations (the triggerers, a worker of the fallback path) sees it before it calls, and the
generations of that model end in state ``quota`` (pending, not failed). The scheduled
``daydream_resume`` runs the cohort again the next day; by then the stop has expired.

A per-minute 429 is not a quota: it is a rate limit, which ``daydream.engine.aimd`` handles.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from daydream.engine.aimd import parse_reset
from daydream.errors import DayDreamError
from daydream.paths import check_id
from daydream.storage import Storage

__all__ = ["QUOTA_PREFIX", "QuotaBook", "QuotaStop", "QuotaStopped", "daily_quota_reset"]

QUOTA_PREFIX = "llm_limits/quota"
_DAILY = re.compile(r"per[-_ ]?day|daily|requests? per day|\bRPD\b|quota", re.IGNORECASE)
_LONG_WINDOW_S = 3600.0
"""A window that resets more than an hour from now is a quota, not a rate limit."""


class QuotaStopped(DayDreamError):
    """A model's daily quota is used up: the call was not made (or not retried)."""

    def __init__(self, stop: QuotaStop):
        super().__init__(stop.describe())
        self.stop = stop


@dataclass(frozen=True)
class QuotaStop:
    llm_model_id: str
    model: str
    until: float  # epoch seconds
    reason: str

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.until, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (
            f"the daily quota of model '{self.model}' is used up until {when} ({self.reason}); no call was made, "
            "the generation stays pending and daydream_resume runs it after the reset"
        )

    def as_json(self) -> dict[str, object]:
        return {"llm_model_id": self.llm_model_id, "model": self.model, "until": self.until, "reason": self.reason}


def next_utc_midnight(now_wall: float) -> float:
    today = datetime.fromtimestamp(now_wall, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today + timedelta(days=1)).timestamp()


def daily_quota_reset(
    status: int | None, message: str, headers: Mapping[str, str], *, now_wall: float | None = None
) -> float | None:
    """When a 429 is a used-up daily quota, the epoch time it resets (next UTC midnight when the
    provider does not say); None for anything else."""
    if status != 429:
        return None
    now = time.time() if now_wall is None else now_wall
    reset_in = None
    for remaining, reset in (
        ("x-ratelimit-remaining", "x-ratelimit-reset"),
        ("x-ratelimit-remaining-requests-day", "x-ratelimit-reset-requests-day"),
    ):
        if (headers.get(remaining) or "").strip() == "0":
            reset_in = parse_reset(headers.get(reset), now_wall=now)
            if reset_in is not None:
                break
    says_daily = bool(_DAILY.search(message or ""))
    if not says_daily and (reset_in is None or reset_in < _LONG_WINDOW_S):
        return None
    if reset_in is not None and reset_in > 0:
        return now + reset_in
    return next_utc_midnight(now)


class QuotaBook:
    """The quota stops under the data root, shared by every process; a stop past its time is ignored."""

    def __init__(self, storage: Storage, *, clock: object = time.time) -> None:
        self.storage = storage
        self.clock = clock

    def key(self, llm_model_id: str) -> str:
        return f"{QUOTA_PREFIX}/{check_id(llm_model_id, kind='llm model id')}.json"

    def now(self) -> float:
        return float(self.clock())  # type: ignore[operator]

    def stopped(self, llm_model_id: str) -> QuotaStop | None:
        """The model's stop while it lasts; None when there is none, it expired, or it cannot be read."""
        try:
            data = json.loads(self.storage.read_bytes(self.key(llm_model_id)))
            stop = QuotaStop(str(data["llm_model_id"]), str(data["model"]), float(data["until"]), str(data["reason"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, OSError):
            return None  # a damaged file must not stop a model forever
        return stop if stop.until > self.now() else None

    def stop(self, llm_model_id: str, model: str, until: float, reason: str) -> QuotaStop:
        """Record the stop (atomically; a later stop for the same model replaces it)."""
        stop = QuotaStop(llm_model_id, model, until, reason[:300])
        self.storage.write_bytes(self.key(llm_model_id), json.dumps(stop.as_json()).encode())
        return stop
