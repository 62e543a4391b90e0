"""The pure rules of the trigger path's concurrency control: AIMD per model, rate-limit headers, the
daily quota's detection and its record under the data root."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from daydream.engine.aimd import AIMD, AIMDSettings, header_pause, parse_reset
from daydream.engine.quota import QuotaBook, daily_quota_reset, next_utc_midnight
from daydream.llm.retry import AttemptFailure
from daydream.storage import LocalStorage

pytestmark = pytest.mark.timing  # make test keeps it from running beside a scheduler test

NOW = datetime(2025, 6, 1, 15, 30, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def rate_limited(retry_after: float | None = None, **headers: str) -> AttemptFailure:
    return AttemptFailure("status", "Rate limit exceeded", status=429, retry_after_s=retry_after, headers=headers)


def test_reset_headers_in_every_spelling() -> None:
    assert parse_reset("6m0s", now_wall=NOW) == 360.0
    assert parse_reset("1.5s", now_wall=NOW) == 1.5
    assert parse_reset("20ms", now_wall=NOW) == pytest.approx(0.02)
    assert parse_reset("1h2m3s", now_wall=NOW) == 3723.0
    assert parse_reset(str(int((NOW + 90) * 1000)), now_wall=NOW) == pytest.approx(90.0)  # epoch ms (OpenRouter)
    assert parse_reset(str(int(NOW + 30)), now_wall=NOW) == pytest.approx(30.0)  # epoch s
    assert parse_reset("12", now_wall=NOW) == 12.0
    for bad in (None, "", "soon", "5x", "-3", "nan", "6m0s later"):
        assert parse_reset(bad, now_wall=NOW) is None, bad
    exhausted = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2s"}
    assert header_pause(exhausted, now_wall=NOW) == 2.0
    assert header_pause({**exhausted, "x-ratelimit-remaining-requests": "3"}, now_wall=NOW) is None


def test_aimd_halves_once_per_burst_honours_retry_after_and_never_exceeds_the_pool() -> None:
    clock = Clock()
    aimd = AIMD(AIMDSettings(cooldown_s=2.0), clock=clock, wall=lambda: NOW)
    assert aimd.cap(20) == 20  # unlimited until the provider pushes back: the pool decides
    aimd.on_failure(rate_limited(retry_after=3.0), in_flight=16, ceiling=20)
    assert aimd.cap(20) == 8 and aimd.paused_for() == 3.0
    for _ in range(5):  # the rest of the same burst: no further decrease
        aimd.on_failure(rate_limited(), in_flight=16, ceiling=20)
    assert aimd.cap(20) == 8 and aimd.decreases == 1
    clock.t += 2.5
    aimd.on_failure(rate_limited(), in_flight=8, ceiling=20)
    assert aimd.cap(20) == 4 and aimd.decreases == 2
    for _ in range(10):
        clock.t += 3
        aimd.on_failure(rate_limited(), in_flight=1, ceiling=20)
    assert aimd.cap(20) == 1, "never below one call"
    assert aimd.cap(0) == 0, "a pool of zero slots admits nothing"
    aimd.on_failure(AttemptFailure("status", "boom", status=500), in_flight=1, ceiling=20)
    assert aimd.decreases == 12, "only 429s count"


def test_aimd_grows_back_on_sustained_success_up_to_the_pool_only() -> None:
    clock = Clock()
    aimd = AIMD(clock=clock, wall=lambda: NOW)
    aimd.on_failure(rate_limited(), in_flight=10, ceiling=10)
    assert aimd.cap(10) == 5
    aimd.on_success(in_flight=2, ceiling=10)  # below its cap: the limit is not what holds calls back
    assert aimd.cap(10) == 5
    answers = 0
    while aimd.cap(10) < 10:
        aimd.on_success(in_flight=aimd.cap(10), ceiling=10)
        answers += 1
    assert 20 <= answers <= 45, answers  # about one more call per round of answers: 5+6+7+8+9
    assert aimd.limit is None and aimd.cap(10) == 10, "back to the pool's own limit"
    clock.t += 5
    aimd.on_failure(rate_limited(), in_flight=10, ceiling=10)
    assert aimd.cap(3) == 3, "a pool shrunk below the model's limit wins"
    assert aimd.cap(10) == 3, "and the limit does not jump back above it"


def test_rate_limit_headers_pause_new_calls() -> None:
    clock = Clock()
    aimd = AIMD(clock=clock, wall=lambda: NOW)
    aimd.on_failure(
        rate_limited(x_ratelimit_remaining="0", **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": "7s"}),
        in_flight=4,
        ceiling=5,
    )
    assert aimd.paused_for() == pytest.approx(7.0)
    clock.t += 7
    assert aimd.paused_for() == 0


def test_daily_quota_is_told_apart_from_a_rate_limit() -> None:
    reset_ms = str(int((NOW + 8 * 3600) * 1000))
    day = {"x-ratelimit-limit": "50", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset_ms}
    assert daily_quota_reset(429, "Rate limit exceeded: free-models-per-day", day, now_wall=NOW) == pytest.approx(
        NOW + 8 * 3600
    )
    # the headers alone: a window that resets hours from now
    assert daily_quota_reset(429, "Rate limit exceeded", day, now_wall=NOW) == pytest.approx(NOW + 8 * 3600)
    # the message alone: until the next UTC midnight
    assert daily_quota_reset(429, "free-models-per-day limit reached", {}, now_wall=NOW) == next_utc_midnight(NOW)
    assert next_utc_midnight(NOW) == datetime(2025, 6, 2, tzinfo=UTC).timestamp()
    minute = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int((NOW + 40) * 1000))}
    assert daily_quota_reset(429, "Rate limit exceeded: free-models-per-min", minute, now_wall=NOW) is None
    assert daily_quota_reset(500, "daily maintenance", {}, now_wall=NOW) is None


def test_quota_book_is_shared_through_the_data_root_and_expires(tmp_path) -> None:
    clock = Clock()
    clock.t = NOW
    book = QuotaBook(LocalStorage(tmp_path), clock=clock)
    assert book.stopped("deepseek_r1_f") is None
    book.stop("deepseek_r1_f", "deepseek/deepseek-r1:free", NOW + 60, "HTTP 429: free-models-per-day")
    other_process = QuotaBook(LocalStorage(tmp_path), clock=clock)
    stop = other_process.stopped("deepseek_r1_f")
    assert stop is not None and stop.model == "deepseek/deepseek-r1:free"
    assert "daily quota of model 'deepseek/deepseek-r1:free' is used up until 2025-06-01 15:31 UTC" in stop.describe()
    assert (tmp_path / "llm_limits" / "quota" / "deepseek_r1_f.json").is_file()
    clock.t += 61
    assert other_process.stopped("deepseek_r1_f") is None, "past its reset the stop is ignored"
    (tmp_path / "llm_limits" / "quota" / "qwen.json").write_text("{not json")
    assert book.stopped("qwen") is None, "a damaged record must not stop a model forever"
