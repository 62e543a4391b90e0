"""The stage runner over real HTTP: the offline server, the real ``openai`` client, faults switched on.

This is how a researcher's cohort meets a flaky provider: every generation must end done or clearly
failed, spend and tokens must add up, a retry must never buy a second answer for a generation that
has one, and the API key must never reach the data root, the logs or an exception.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
from pathlib import Path

import pytest

from daydream.cohorts import build_cohort
from daydream.llm.client import OpenAICompatibleClient
from daydream.llm.offline import start_offline_server
from daydream.llm.settings import LLMSettings
from daydream.orchestration import run_generation, stage_work, write_stage_summary
from daydream.paths import STAGES, DataLayout
from daydream.spend import SpendLedger
from daydream.status import cohort_status
from daydream.store import GensStore

REPO = Path(__file__).resolve().parents[1]
CANARY = "sk-or-v1-CANARY-integration-7d41e0b9c2a8"
PAID_WRITER = "google/gemini-2.5-pro"
FREE_WRITER = "deepseek/deepseek-r1:free"
JUDGE = "anthropic/claude-sonnet-4"


@pytest.fixture
def layout(tmp_path: Path) -> DataLayout:
    shutil.copytree(REPO / "data" / "1_raw", tmp_path / "1_raw")
    shutil.copytree(REPO / "data" / "cohorts" / "demo" / "spec", tmp_path / "cohorts" / "demo" / "spec")
    return DataLayout(tmp_path)


def client_for(server, **settings) -> OpenAICompatibleClient:
    values = {
        "base_url": server.base_url,
        "api_key": CANARY,
        "timeout_s": 2.0,
        "max_retries": 3,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "max_total_wait_s": 10.0,
    }
    values.update(settings)
    return OpenAICompatibleClient(LLMSettings(**values), rng=random.Random(3))


def run_cohort(layout: DataLayout, llm, **kwargs) -> dict[str, dict]:
    summaries = {}
    for stage in STAGES:
        work = stage_work(layout, "demo", stage)
        outcomes = [
            run_generation(layout, stage, gen_id, cohort_id="demo", llm=llm, **kwargs)
            for tier in work
            for gen_id in work[tier]
        ]
        summaries[stage] = write_stage_summary(layout, "demo", stage, outcomes)
    return summaries


def test_faulty_provider_every_generation_ends_done_or_failed_and_spend_adds_up(layout, caplog):
    caplog.set_level(logging.DEBUG)
    faults = [
        {"fault": "rate_limit", "model": PAID_WRITER, "first_n": 1, "retry_after": 0.2},
        {"fault": "server_error", "model": JUDGE, "first_n": 1, "prompt_contains": "Final Score:"},
        {"fault": "truncate", "model": FREE_WRITER, "prompt_contains": "links"},
        {"fault": "empty", "model": JUDGE, "prompt_contains": "SCORE: <n>", "rate": 0.15},
        {"fault": "no_score", "model": JUDGE, "prompt_contains": "Final Score:", "rate": 0.15},
    ]
    build_cohort(layout, "demo")
    with start_offline_server({"latency_s": 0.0, "faults": faults}) as server:
        summaries = run_cohort(layout, client_for(server))
        stats = server.stats()
        store = GensStore(layout)
        status = cohort_status(layout, "demo")

        # the faults happened, and were retried where they should be
        assert stats["faults_injected"].get("rate_limit", 0) >= 1
        assert stats["faults_injected"].get("truncate", 0) >= 1
        # every generation is done or clearly failed; the only pending ones wait on a failed parent
        failed_ids = {f["gen_id"] for s in summaries.values() for f in s["failed"]}
        assert failed_ids, "the truncation fault must fail some drafts"
        for stage in STAGES:
            s = status.stages[stage]
            assert s.done + s.failed + s.pending == s.total
        assert status.stages["draft"].pending == 0
        for gen_id in failed_ids:
            stage = {"d": "draft", "e": "essay", "v": "evaluation"}[gen_id[0]]
            error = store.read_json(stage, gen_id, "error.json")
            assert error and error["error"], gen_id
        # truncated drafts kept their raw answer and say why they failed
        truncated = [g for g in failed_ids if g.startswith("d_")]
        for gen_id in truncated:
            assert store.read_text("draft", gen_id, "raw.txt")
            raw_meta = store.read_json("draft", gen_id, "raw_metadata.json")
            assert raw_meta["truncated"] is True and raw_meta["finish_reason"] == "length"
            assert not store.is_done("draft", gen_id)

        # spend and tokens add up: the ledger equals the sum over raw_metadata.json
        ledger = SpendLedger(layout, "demo").totals()
        raws = [json.loads(p.read_text()) for p in layout.gens.glob("*/*/raw_metadata.json")]
        assert ledger["calls"] == len(raws)
        assert ledger["prompt_tokens"] == sum(r["usage"]["prompt_tokens"] for r in raws)
        assert ledger["completion_tokens"] == sum(r["usage"]["completion_tokens"] for r in raws)
        assert ledger["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in raws))
        assert all(r["cost_usd"] is not None for r in raws), "the offline server reports cost"

        # a generation with an answer is never answered twice, even across a rerun
        assert stats["answered_twice"] == []
        before = stats["total_requests"]
        run_cohort(layout, client_for(server))
        after = server.stats()
        answered_prompts = {sha for _, sha in stats["answered"]}
        again = [sha for _, sha in after["answered"][len(stats["answered"]) :] if sha in answered_prompts]
        assert again == [], "a rerun re-bought an answer it already had"
        # the rerun only asks for generations that never got an answer (blocked children)
        assert after["total_requests"] - before <= status.stages["essay"].pending + status.stages["evaluation"].pending

    # the key is nowhere: files under the data root, logs, error records
    for path in layout.root.rglob("*"):
        if path.is_file():
            assert CANARY not in path.read_text(encoding="utf-8", errors="replace"), path
    assert CANARY not in caplog.text


def test_retry_after_is_honoured_and_answer_is_paid_once(layout):
    build_cohort(layout, "demo")
    faults = [{"fault": "rate_limit", "model": FREE_WRITER, "first_n": 2, "retry_after": 0.3}]
    with start_offline_server({"latency_s": 0.0, "faults": faults}) as server:
        slept: list[float] = []
        client = OpenAICompatibleClient(
            LLMSettings(base_url=server.base_url, api_key=CANARY, max_retries=4, backoff_base_s=0.01),
            sleep=slept.append,
            rng=random.Random(1),
        )
        work = stage_work(layout, "demo", "draft")
        gen_id = work["free"][0]
        outcome = run_generation(layout, "draft", gen_id, cohort_id="demo", llm=client)
        assert outcome["state"] == "done"
        assert slept == [pytest.approx(0.3), pytest.approx(0.3)]
        raw_meta = GensStore(layout).read_json("draft", gen_id, "raw_metadata.json")
        assert raw_meta["attempts"] == 3
        assert server.stats()["total_served"] == 1
        # running it again makes no request at all
        again = run_generation(layout, "draft", gen_id, cohort_id="demo", llm=client)
        assert again["state"] == "skipped"
        assert server.stats()["total_requests"] == 3


def test_non_retryable_error_fails_at_once_with_provider_message_and_no_key(layout):
    build_cohort(layout, "demo")
    with start_offline_server({"latency_s": 0.0, "known_models": [JUDGE]}) as server:
        outcome = run_generation(
            layout, "draft", stage_work(layout, "demo", "draft")["paid"][0], cohort_id="demo", llm=client_for(server)
        )
        assert outcome["state"] == "failed"
        assert "404" in outcome["message"]
        assert CANARY not in outcome["message"]
        assert server.stats()["total_requests"] == 1


def test_budget_stops_a_cohort_with_state_budget_not_failed(layout):
    build_cohort(layout, "demo")
    with start_offline_server({"latency_s": 0.0}) as server:
        llm = client_for(server)
        work = stage_work(layout, "demo", "draft")
        first = run_generation(layout, "draft", work["paid"][0], cohort_id="demo", llm=llm)
        assert first["state"] == "done" and first["cost_usd"] > 0
        limit = first["cost_usd"] * 1.5  # one more call fits under it, then the budget is reached
        outcomes = [
            run_generation(layout, "draft", g, cohort_id="demo", llm=llm, max_cost_usd=limit) for g in work["paid"][1:]
        ]
        states = [o["state"] for o in outcomes]
        assert states[0] == "done"
        assert set(states[1:]) == {"budget"}
        assert server.stats()["total_requests"] == 2
        summary = write_stage_summary(layout, "demo", "draft", [first, *outcomes])
        assert summary["budget"] == len(states) - 1
        assert "budget" in summary["text"]
        assert cohort_status(layout, "demo").stages["draft"].failed == 0
