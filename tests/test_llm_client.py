"""The OpenAI-compatible client and its retry policy, over real HTTP against the offline server."""

from __future__ import annotations

import random
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from llm_fixtures import FREE, PAID, RecordingSleep, call, make_client, no_env_key, offline_server, requests_for

from daydream.errors import LLMError
from daydream.llm.client import OpenAICompatibleClient
from daydream.llm.retry import AttemptFailure, RetryExhausted, RetryPolicy, call_with_retries, parse_retry_after, redact
from daydream.llm.settings import LLMSettings
from daydream.llm.types import LLMClient

__all__ = ["no_env_key", "offline_server"]  # fixtures used by name

EVAL_PROMPT = "EVALUATION TASK\n\n--- ESSAY ---\nAn essay about Tacit Knowledge.\n--- END ---\nEnd with SCORE: <n>."


# -- retry policy (pure) --------------------------------------------------------------------------


def test_parse_retry_after_seconds_date_and_garbage():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None


def test_backoff_is_exponential_with_full_jitter_and_capped():
    policy = RetryPolicy(max_retries=10, backoff_base_s=1.0, backoff_max_s=8.0, max_total_wait_s=1000)
    assert [policy.backoff_cap(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    rng = random.Random(1)
    failure = AttemptFailure("status", "busy", status=503)
    for n in range(1, 8):
        delay, _ = policy.next_delay(failure, retry_number=n, waited_s=0, rng=rng)
        assert 0 <= delay <= policy.backoff_cap(n)


def test_policy_decisions():
    policy = RetryPolicy(max_retries=2, backoff_base_s=1, backoff_max_s=4, max_total_wait_s=10)
    rng = random.Random(0)
    assert policy.next_delay(
        AttemptFailure("status", "bad", status=404, retryable=False), retry_number=1, waited_s=0, rng=rng
    ) == (None, "not retryable")
    assert policy.next_delay(
        AttemptFailure("status", "slow down", status=429, retry_after_s=3), retry_number=1, waited_s=0, rng=rng
    ) == (3, "")
    delay, reason = policy.next_delay(
        AttemptFailure("status", "x", status=429, retry_after_s=11), retry_number=1, waited_s=0, rng=rng
    )
    assert delay is None and "retry after 11s" in reason and "max_total_wait_s=10" in reason
    delay, reason = policy.next_delay(AttemptFailure("timeout", "t"), retry_number=3, waited_s=0, rng=rng)
    assert delay is None and "max_retries=2" in reason
    delay, _ = policy.next_delay(AttemptFailure("timeout", "t"), retry_number=2, waited_s=9.9, rng=rng)
    assert delay <= 0.1 + 1e-9


def test_call_with_retries_counts_attempts_and_sleeps():
    results = iter([AttemptFailure("status", "busy", status=500), AttemptFailure("timeout", "t"), "ok"])
    sleep = RecordingSleep()
    outcome = call_with_retries(
        lambda: next(results), RetryPolicy(backoff_base_s=0.5), sleep=sleep, rng=random.Random(3)
    )
    assert outcome.value == "ok" and outcome.attempts == 3 and len(sleep.calls) == 2
    with pytest.raises(RetryExhausted) as info:
        call_with_retries(
            lambda: AttemptFailure("status", "nope", status=400, retryable=False), RetryPolicy(), sleep=sleep
        )
    assert info.value.attempts == 1


def test_redact_masks_secrets_and_key_shapes():
    assert redact("key sk-or-v1-abcdef123456 here") == "key <redacted> here"
    assert redact("Authorization: Bearer abc.def") == "Authorization: <redacted>"
    assert redact("my secret is hunter2xyz", ["hunter2xyz"]) == "my secret is <redacted>"


# -- success -------------------------------------------------------------------------------------


def test_success_reports_text_usage_cost_and_timing(offline_server):
    client = make_client(offline_server)
    assert isinstance(client, LLMClient)
    result = call(client, "DRAFT TASK\n- Tacit Knowledge: skill\n- Economic Moat: defence\n")
    assert len([line for line in result.text.splitlines() if line.strip()]) >= 6
    assert result.finish_reason == "stop" and not result.truncated
    usage = result.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    expected = offline_server.config.cost(PAID, usage.prompt_tokens, usage.completion_tokens)
    assert result.cost_usd == pytest.approx(expected) and result.cost_usd > 0
    assert result.model == PAID and result.response_model == PAID
    assert result.response_id.startswith("gen-offline-") and result.provider == "DayDream Offline"
    assert result.attempts == 1 and result.duration_s > 0


def test_free_model_costs_zero_and_missing_cost_is_none(offline_server):
    client = make_client(offline_server)
    assert call(client, model=FREE).cost_usd == 0.0
    offline_server.configure(report_cost=False)
    assert call(client).cost_usd is None


def test_request_carries_usage_accounting_defaults_and_headers(offline_server):
    client = make_client(
        offline_server,
        request_defaults={"provider": {"sort": "price"}, "temperature": 2.0},
        extra_headers={"X-Title": "DayDream"},
    )
    call(client, temperature=0.3, max_tokens=123)
    last = offline_server.stats()["last_request"]
    body = last["body"]
    assert body["usage"] == {"include": True} and body["provider"] == {"sort": "price"}
    assert body["temperature"] == 0.3 and body["max_tokens"] == 123  # call arguments win
    assert body["messages"] == 1 and body["model"] == PAID
    assert last["headers"]["x-title"] == "DayDream"
    make_client(offline_server, usage_accounting=False).complete(model=PAID, prompt="x", max_tokens=10, temperature=0)
    assert "usage" not in offline_server.stats()["last_request"]["body"]


def test_same_prompt_same_text_and_models_differ(offline_server):
    client = make_client(offline_server)
    prompt = "ESSAY TASK\n\n--- DRAFT ---\nData Flywheel meets Tacit Knowledge.\n--- END OF DRAFT ---"
    first, second = call(client, prompt), call(client, prompt)
    assert first.text == second.text
    assert call(client, prompt, model=FREE).text != first.text


# -- faults --------------------------------------------------------------------------------------


def test_rate_limit_is_retried_honouring_retry_after(offline_server):
    offline_server.configure(fault={"fault": "rate_limit", "model": PAID, "first_n": 2, "retry_after": 1})
    sleep = RecordingSleep()
    result = call(make_client(offline_server, sleep=sleep))
    assert result.attempts == 3 and sleep.calls == [1.0, 1.0]
    stats = offline_server.stats()["models"][PAID]
    assert stats["requests"] == 3 and stats["errors"] == {"429": 2} and stats["served"] == 1


def test_retry_after_waits_in_real_time(offline_server):
    offline_server.configure(fault={"fault": "rate_limit", "first_n": 1, "retry_after": 1})
    client = OpenAICompatibleClient(LLMSettings(base_url=offline_server.base_url, api_key="k"))
    started = time.monotonic()
    result = call(client)
    assert result.attempts == 2 and time.monotonic() - started >= 1.0
    assert result.duration_s >= 1.0


def test_server_error_is_retried_with_jittered_backoff(offline_server):
    offline_server.configure(fault={"fault": "server_error", "first_n": 2})
    sleep = RecordingSleep()
    result = call(make_client(offline_server, sleep=sleep, backoff_base_s=0.5, backoff_max_s=0.75))
    assert result.attempts == 3 and len(sleep.calls) == 2
    assert 0 <= sleep.calls[0] <= 0.5 and 0 <= sleep.calls[1] <= 0.75


def test_upstream_error_in_a_200_body_is_retried(offline_server):
    offline_server.configure(fault={"fault": "upstream_error", "first_n": 1})
    assert call(make_client(offline_server)).attempts == 2


def test_slow_answer_times_out_then_succeeds(offline_server):
    offline_server.configure(fault={"fault": "slow", "first_n": 1, "slow_s": 2})
    result = call(make_client(offline_server, timeout_s=0.3))
    assert result.attempts == 2 and "<" not in result.text


def test_slow_answers_fail_within_bounded_attempts(offline_server):
    offline_server.configure(fault={"fault": "slow", "slow_s": 3})
    started = time.monotonic()
    with pytest.raises(LLMError) as info:
        call(make_client(offline_server, timeout_s=0.3, max_retries=2))
    assert time.monotonic() - started < 2.5
    message = str(info.value)
    assert "after 3 attempts" in message and "timed out after 0.3s" in message
    assert info.value.attempts == 3 and info.value.kind == "timeout"


def test_truncated_and_empty_answers(offline_server):
    client = make_client(offline_server)
    offline_server.configure(fault={"fault": "truncate", "first_n": 1})
    result = call(client, "a prompt")
    assert result.truncated and result.finish_reason == "length"
    offline_server.configure(faults=[])
    tight = call(client, "ESSAY TASK\nwrite a long essay", max_tokens=20)
    assert tight.truncated and tight.usage.completion_tokens == 20
    offline_server.configure(fault={"fault": "empty"})
    empty = call(client, "another prompt")
    assert empty.text == "" and empty.finish_reason == "stop" and not empty.truncated


def test_no_score_judge_answer(offline_server):
    client = make_client(offline_server)
    assert "SCORE:" in call(client, EVAL_PROMPT).text.splitlines()[-1]
    offline_server.configure(fault={"fault": "no_score"})
    answer = call(client, EVAL_PROMPT).text
    assert answer.strip() and "SCORE:" not in answer


@pytest.mark.parametrize(
    "config, status, words",
    [
        ({"fault": {"fault": "bad_request", "message": "max_tokens too large"}}, 400, "max_tokens too large"),
        ({"require_api_key": "sk-other-key-000000"}, 401, "Invalid API key"),
        ({"known_models": ["openai/gpt-5"]}, 404, "model not found"),
    ],
)
def test_client_errors_are_not_retried(offline_server, config, status, words):
    offline_server.configure(**config)
    sleep = RecordingSleep()
    with pytest.raises(LLMError) as info:
        call(make_client(offline_server, sleep=sleep))
    message = str(info.value)
    assert f"HTTP {status}" in message and words in message and "not retried" in message
    assert "after 1 attempt " in message and PAID in message
    assert requests_for(offline_server) == 1 and sleep.calls == []
    assert info.value.status == status and info.value.attempts == 1


def test_retries_exhausted_names_attempts_and_status(offline_server):
    offline_server.configure(fault={"fault": "server_error", "message": "upstream exploded"})
    with pytest.raises(LLMError) as info:
        call(make_client(offline_server, max_retries=2, backoff_base_s=0.01))
    message = str(info.value)
    assert "after 3 attempts" in message and "HTTP 500: upstream exploded" in message
    assert "max_retries=2" in message and requests_for(offline_server) == 3


def test_total_wait_is_bounded(offline_server):
    offline_server.configure(fault={"fault": "rate_limit", "retry_after": None})
    sleep = RecordingSleep()
    with pytest.raises(LLMError) as info:
        call(
            make_client(
                offline_server,
                sleep=sleep,
                max_retries=100,
                backoff_base_s=0.4,
                backoff_max_s=0.4,
                max_total_wait_s=1.0,
            )
        )
    assert sleep.total <= 1.0 + 1e-9 and "max_total_wait_s=1" in str(info.value)


def test_retry_after_beyond_the_budget_fails_at_once(offline_server):
    offline_server.configure(fault={"fault": "rate_limit", "retry_after": 3600})
    sleep = RecordingSleep()
    with pytest.raises(LLMError) as info:
        call(make_client(offline_server, sleep=sleep, max_total_wait_s=600))
    assert "asked to retry after 3600s" in str(info.value) and sleep.calls == []
    assert requests_for(offline_server) == 1


def test_connection_errors_are_retried():
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleep = RecordingSleep()
    client = OpenAICompatibleClient(
        LLMSettings(base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, backoff_base_s=0.01), sleep=sleep
    )
    with pytest.raises(LLMError) as info:
        call(client)
    assert "cannot connect to" in str(info.value) and len(sleep.calls) == 2


def test_missing_key_fails_clearly_except_on_loopback(offline_server, no_env_key):
    client = OpenAICompatibleClient(LLMSettings())
    assert "api_key_set=False" in repr(client)
    with pytest.raises(LLMError) as info:
        call(client)
    assert "llm_default" in str(info.value) and "OPENROUTER_API_KEY" in str(info.value)
    assert call(OpenAICompatibleClient(LLMSettings(base_url=offline_server.base_url))).text


# -- settings --------------------------------------------------------------------------------------


def test_stage_defaults_and_overrides(no_env_key):
    settings = LLMSettings()
    assert settings.stage_request("draft") == (8192, 0.8)
    assert settings.stage_request("essay") == (8192, 0.7)
    assert settings.stage_request("evaluation") == (4096, 0.2)
    custom = LLMSettings(stages={"evaluation": {"temperature": 0.0}})
    assert custom.stage_request("evaluation") == (4096, 0.0)
    assert custom.stage_request("draft") == (8192, 0.8)
    with pytest.raises(ValueError, match="unknown stage"):
        settings.stage_request("report")


def test_settings_key_from_env_and_defaults(monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-from-env-123456")
    monkeypatch.setenv("DAYDREAM_LLM_BASE_URL", "http://127.0.0.1:8765/v1/")
    settings = LLMSettings.from_env()
    assert settings.api_key.get_secret_value() == "sk-from-env-123456"
    assert settings.base_url == "http://127.0.0.1:8765/v1" and settings.is_loopback
    assert LLMSettings(api_key="given").api_key.get_secret_value() == "given"
    assert LLMSettings().base_url == "https://openrouter.ai/api/v1"
    with pytest.raises(ValueError):
        LLMSettings(base_url="ftp://example.org")


def test_concurrent_calls_share_one_client(offline_server):
    offline_server.configure(latency_s=0.2)
    client = make_client(offline_server)
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(call(client, f"p{i}"))) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 5
    assert offline_server.stats()["models"][PAID]["peak_in_flight"] >= 2
