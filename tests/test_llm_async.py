"""The async face of the client and the hook, against the real offline server.

``acomplete`` must behave exactly as ``complete`` (same request, retries, errors, result), because a
generation may run on a worker or in the triggerer; the retry observer must see every failed
attempt with its rate-limit facts (issue 11 adapts concurrency on them); and one offline server
process must hold hundreds of requests in flight (issue 11's benchmarks run 500 at 5 s).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from llm_fixtures import (
    CANARY,
    FREE,
    PAID,
    RecordingSleep,
    acall,
    airflow_env,
    call,
    make_client,
    no_env_key,
    offline_server,
    set_connection,
)

from daydream.errors import LLMError
from daydream.llm.client import OpenAICompatibleClient
from daydream.llm.retry import AttemptFailure
from daydream.llm.settings import LLMSettings
from daydream.llm.types import AsyncLLMClient

__all__ = ["airflow_env", "no_env_key", "offline_server"]

PROMPT = "DRAFT TASK\n- Tacit Knowledge: skill\n- Economic Moat: defence\n"


def test_async_and_sync_faces_give_the_same_result(offline_server):
    client = make_client(offline_server)
    assert isinstance(client, AsyncLLMClient)
    sync, async_ = call(client, PROMPT), acall(client, PROMPT)
    assert async_.text == sync.text and async_.usage == sync.usage and async_.cost_usd == sync.cost_usd
    assert async_.finish_reason == "stop" and async_.attempts == 1 and async_.duration_s > 0
    assert async_.response_id.startswith("gen-offline-") and async_.provider == "DayDream Offline"
    assert offline_server.stats()["last_request"]["body"]["usage"] == {"include": True}


def test_async_face_retries_with_the_same_policy(offline_server):
    offline_server.configure(fault={"fault": "rate_limit", "first_n": 2, "retry_after": 1})
    sleep = RecordingSleep()
    assert acall(make_client(offline_server, sleep=sleep)).attempts == 3 and sleep.calls == [1.0, 1.0]
    offline_server.configure(faults=[{"fault": "server_error", "message": "upstream exploded"}])
    with pytest.raises(LLMError) as info:
        acall(make_client(offline_server, max_retries=2, backoff_base_s=0.01))
    assert "after 3 attempts" in str(info.value) and "HTTP 500: upstream exploded" in str(info.value)
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_async_face_waits_in_real_time_on_a_fresh_event_loop_each_run(offline_server):
    offline_server.configure(fault={"fault": "rate_limit", "first_n": 1, "retry_after": 0.5})
    client = OpenAICompatibleClient(LLMSettings(base_url=offline_server.base_url, api_key=CANARY))
    for prompt in ("first loop", "second loop"):  # a new loop needs its own connection pool
        started = time.monotonic()
        result = asyncio.run(client.acomplete(model=PAID, prompt=prompt, max_tokens=50, temperature=0))
        assert result.attempts == 2 and time.monotonic() - started >= 0.5


def test_the_observer_sees_every_failed_attempt_with_its_rate_limit_facts(offline_server):
    offline_server.configure(
        fault={
            "fault": "rate_limit",
            "first_n": 2,
            "retry_after": 2,
            "retry_after_ms": 1500,
            "headers": {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1.5s"},
        }
    )
    seen: list[AttemptFailure] = []
    per_call: list[int] = []
    sleep = RecordingSleep()
    client = OpenAICompatibleClient(
        LLMSettings(base_url=offline_server.base_url, api_key=CANARY),
        sleep=sleep,
        asleep=sleep.asleep,
        on_attempt_failure=seen.append,
    )
    result = acall(client, on_attempt_failure=lambda failure: per_call.append(failure.attempt))
    assert result.attempts == 3 and sleep.calls == [1.5, 1.5]  # retry-after-ms wins over Retry-After
    assert [f.attempt for f in seen] == [1, 2] and per_call == [1, 2]
    first = seen[0]
    assert first.rate_limited and first.status == 429 and first.retry_after_s == 1.5 and first.retryable
    assert first.headers == {
        "retry-after": "2",
        "retry-after-ms": "1500",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1.5s",
    }
    offline_server.configure(faults=[{"fault": "bad_request"}])
    with pytest.raises(LLMError):
        call(client, "the final failure is observed too")
    assert seen[-1].status == 400 and not seen[-1].retryable and seen[-1].attempt == 1


def test_a_failing_observer_never_changes_how_the_call_ends(offline_server, caplog):
    offline_server.configure(fault={"fault": "server_error", "first_n": 1})

    def broken(failure: AttemptFailure) -> None:
        raise RuntimeError("observer bug")

    assert acall(make_client(offline_server), on_attempt_failure=broken).attempts == 2
    assert call(make_client(offline_server), "sync too", on_attempt_failure=broken).attempts == 2
    assert "the attempt observer failed" in caplog.text


def test_cancelling_an_async_call_cancels_it(offline_server):
    """The triggerer cancels a trigger's coroutine; the call must not swallow that as a failure."""
    offline_server.configure(latency_s=5)
    client = make_client(offline_server)

    async def run() -> None:
        task = asyncio.create_task(client.acomplete(model=PAID, prompt="x", max_tokens=10, temperature=0))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())


def test_the_hook_reads_its_connection_asynchronously(airflow_env, offline_server):
    from daydream.airflow.hook import LLMHook

    set_connection(
        airflow_env,
        host=offline_server.base_url,
        password=CANARY,
        extra={"timeout": 7, "extra_headers": '{"X-Title": "DayDream"}', "stages": {"draft": {"max_tokens": 99}}},
    )

    async def run() -> tuple:
        hook = LLMHook()
        settings = await hook.aget_settings()
        client = await hook.aget_client()
        result = await hook.acomplete(model=PAID, prompt=PROMPT, max_tokens=50, temperature=0.0)
        return settings, client, result, hook

    settings, client, result, hook = asyncio.run(run())
    assert settings.timeout_s == 7 and settings.extra_headers == {"X-Title": "DayDream"}
    assert settings.stage_request("draft") == (99, 0.8) and settings.api_key.get_secret_value() == CANARY
    assert client is hook.get_conn() and result.text
    assert offline_server.stats()["last_request"]["headers"]["x-title"] == "DayDream"
    airflow_env.delenv("AIRFLOW_CONN_LLM_DEFAULT")
    airflow_env.setenv("DAYDREAM_LLM_BASE_URL", offline_server.base_url)
    fallback = asyncio.run(LLMHook().aget_settings())  # no connection: the environment, as get_settings
    assert fallback.base_url == offline_server.base_url and not fallback.has_api_key


@pytest.fixture
def served(tmp_path: Path):
    """``daydream llm serve`` in its own process (as include/scripts start it), 1 s latency."""
    ready = tmp_path / "ready"
    command = [sys.executable, "-m", "daydream", "llm", "serve", "--port", "0", "--latency", "1"]
    proc = subprocess.Popen(
        [*command, "--ready-file", str(ready)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        base_url = ready.read_text().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", base_url)
        yield base_url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_one_server_process_holds_hundreds_of_requests_in_flight(served):
    count = 300
    client = OpenAICompatibleClient(
        LLMSettings(base_url=served, api_key=CANARY, timeout_s=60, max_retries=0), rng=random.Random(1)
    )

    async def burst() -> list:
        calls = [
            client.acomplete(model=FREE if i % 3 == 0 else PAID, prompt=f"p{i}", max_tokens=50, temperature=0)
            for i in range(count)
        ]
        return await asyncio.gather(*calls)

    results = asyncio.run(burst())
    with urllib.request.urlopen(served.removesuffix("/v1") + "/stats", timeout=30) as response:
        stats = json.load(response)
    assert len(results) == count and all(r.text for r in results)
    assert stats["total_served"] == count and stats["in_flight"] == 0
    assert stats["peak_in_flight"] == count, stats["peak_in_flight"]  # every request overlapped every other
    assert stats["tiers"]["free"]["peak_in_flight"] == count // 3
    assert stats["models"][PAID]["peak_in_flight"] == count - count // 3
