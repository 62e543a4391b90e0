"""End to end under the real scheduler: LocalExecutor on SQLite, the Airflow services, the offline LLM
over HTTP (in this process, with latency, so requests overlap).

The trigger path (the default; two triggerer processes here, so the generations are spread over both;
the Airflow is the one the batch and tournament scheduler tests share, ``trigger_stack``):

- a cohort goes through build, draft, essay, evaluation and report; the offline LLM's statistics
  prove the pools hold across both triggerers (at most 5 paid and 1 free request in flight, and the
  paid pool really ran several at once); each generation is one task instance labelled by its gen id;
- a second run of the cohort makes no LLM call;
- a pool resized through the REST API mid-run is followed within seconds (in flight drops to the new
  size, then rises to a larger one), and the pool page shows the generations as deferred;
- both triggerers killed (kill -9) mid-call leave no partial file; restarted, they re-send only the
  calls whose answer never arrived, and every generation ends done.

The worker path is tests/test_scheduler_worker_path.py. Every process started is stopped at the end
(process groups and sessions; checked).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from airflow_env import (
    POLL_S,
    RUN_TIMEOUT,
    TINY_SPEC,
    assert_store_intact,
    done_ids,
    membership,
    run_cohort,
    triggerer_jobs,
    write_specs,
)

from daydream.orchestration import build_cohort
from daydream.paths import STAGES, DataLayout

pytestmark = [pytest.mark.scheduler, pytest.mark.timeout(1800)]
COHORT = "e2e"
RESIZED = "e2e_resize"
TRIGGERER_KILLED = "e2e_tkill"
# 10 combos x 2 templates x 2 paid models = 40 paid drafts
PAID_SPEC = """\
combos:
  k_max: 2
  description_level: paragraph
  concepts: [{concepts}]
axes:
  draft_template: [creative-synthesis-v10, links-brainstorm-v2]
  draft_llm: [gemini_25_pro, gemini_25_flash]
  essay_template: [draft-as-essay]
  essay_llm: [gemini_25_pro]
  evaluation_template: [novelty-rubric-v2]
  evaluation_llm: [sonnet-4]
"""
STAGE_DAGS = ("daydream_draft", "daydream_essay", "daydream_evaluation")
LATENCY_S = 0.5


@pytest.fixture(scope="module")
def stack(trigger_stack):
    """The shared trigger stack with this module's cohorts (the first cohort's concepts are none of the
    demo's: the tournament test runs the demo cohort on this Airflow first)."""
    local, data, server = trigger_stack
    write_specs(
        data,
        {
            COHORT: TINY_SPEC.format(concepts="eureka-moment, economic-innovation-models, tacit-knowledge"),
            RESIZED: PAID_SPEC.format(concepts="data-flywheel, economic-moat, serendipity-engine, tacit-knowledge, "
                                      "default-mode-network"),
            TRIGGERER_KILLED: PAID_SPEC.format(concepts="analogical-transfer, combinatorial-creativity, "
                                               "generator-verifier-gap, dearth-ai-discoveries, data-flywheel"),
        },
    )  # fmt: skip
    before = server.configure()
    server.configure(latency_s=LATENCY_S)
    yield local, data, server
    server.configure(before)


def set_slots(local, pool: str, slots: int) -> None:
    body = {"pool": pool, "slots": slots, "include_deferred": False}
    local.client.request("PATCH", f"/api/v2/pools/{pool}", params={"update_mask": "slots"}, json=body)


def sample_in_flight(server, seconds: float, tier: str = "paid") -> list[int]:
    seen, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(server.stats()["tiers"].get(tier, {}).get("in_flight", 0))
        time.sleep(0.1)
    return seen


def recorded(data: Path, gen_ids: set[str]) -> set[tuple[str, str]]:
    """``(model, prompt sha256)`` of the generations among ``gen_ids`` whose answer reached the store."""
    found = set()
    for gen_id in gen_ids:
        path = data / "gens" / "draft" / gen_id / "raw_metadata.json"
        if path.exists():
            meta = json.loads(path.read_text())
            found.add((meta["model"], meta["prompt_sha256"]))
    return found


class TestTriggerPath:
    """On the shared trigger stack."""

    def test_cohort_runs_every_stage_within_the_pools(self, stack) -> None:
        local, data, server = stack
        server.reset()
        assert run_cohort(local, COHORT, RUN_TIMEOUT) == "success"

        expected = membership(data, COHORT)
        assert sum(map(len, expected.values())) == 30  # 6 drafts, 12 essays (6 copies), 12 evaluations
        for stage in STAGES:
            assert done_ids(data, stage) >= expected[stage], stage
        assert (data / "cohorts" / COHORT / "reports" / "index.html").exists()
        assert_store_intact(data)

        stats = server.stats()
        assert stats["total_requests"] == 24 and stats["answered_twice"] == [], (
            stats["models"],
            stats["answered_twice"],
        )
        paid, free = stats["tiers"]["paid"], stats["tiers"]["free"]
        assert free["peak_in_flight"] == 1, "pool llm_api_free has 1 slot"
        assert 2 <= paid["peak_in_flight"] <= 5, f"pool llm_api_paid has 5 slots and must be used: {paid}"

        # One mapped instance per generation, labelled by its gen id.
        run = [r for r in local.client.dag_runs("daydream_draft") if r["state"] == "success"][-1]
        tis = local.client.task_instances("daydream_draft", run["dag_run_id"])
        labels = {
            ti["rendered_map_index"] for ti in tis if ti["task_id"].startswith("generate_") and ti["map_index"] >= 0
        }
        assert labels == expected["draft"]
        pools = {ti["task_id"]: ti["pool"] for ti in tis}
        assert pools["generate_free"] == "llm_api_free" and pools["generate_paid"] == "llm_api_paid"
        # The generations ran in the triggerers (no worker process), spread over both of them.
        # (the list and selector tasks run in the triggerer too: count the generations' instances only)
        ran = {
            ti: jobs
            for dag in STAGE_DAGS
            for ti, jobs in triggerer_jobs(local, dag).items()
            if "task_id=generate_" in str(ti)
        }
        assert len(ran) == 30, f"every generation ran in a triggerer: {len(ran)} of 30"
        assert len(set().union(*ran.values())) == 2, f"both triggerers ran generations: {ran}"
        summary = json.loads((data / "cohorts" / COHORT / "runs" / "evaluation_summary.json").read_text())
        assert summary["this_run"] == {"done": 12}, "the outcomes the triggers returned reach the summary"

    def test_second_run_makes_no_llm_call(self, stack) -> None:
        local, data, server = stack
        before = server.stats()["total_requests"]
        assert run_cohort(local, COHORT, RUN_TIMEOUT) == "success"
        assert server.stats()["total_requests"] == before

    def test_a_pool_resized_mid_run_is_followed_within_seconds(self, stack) -> None:
        local, data, server = stack
        build_cohort(DataLayout(data), RESIZED)
        server.configure(latency_s=2.0)
        try:
            run_id = local.client.trigger("daydream_draft", {"cohort_id": RESIZED})
            deadline = time.monotonic() + 120
            while server.stats()["tiers"].get("paid", {}).get("in_flight", 0) < 5:
                assert time.monotonic() < deadline, "the paid pool never filled"
                time.sleep(0.1)
            page = local.client.request("GET", "/api/v2/pools/llm_api_paid")
            assert page["running_slots"] == 0 and page["deferred_slots"] >= 5 and page["open_slots"] == 5, page

            set_slots(local, "llm_api_paid", 2)
            sample_in_flight(server, 5)  # the pool's size is read every 2 s; the calls in flight finish (2 s)
            shrunk = sample_in_flight(server, 6)
            assert max(shrunk) <= 2 and 2 in shrunk, shrunk

            set_slots(local, "llm_api_paid", 8)
            grown = sample_in_flight(server, 6)
            assert max(grown) == 8, grown
            assert local.client.wait_run("daydream_draft", run_id, timeout=RUN_TIMEOUT, interval=POLL_S) == "success"
        finally:
            set_slots(local, "llm_api_paid", 5)
            server.configure(latency_s=LATENCY_S)
        assert len(done_ids(data, "draft") & membership(data, RESIZED)["draft"]) == 40
        assert server.stats()["answered_twice"] == []

    def test_killed_triggerers_resend_only_the_calls_whose_answer_never_arrived(self, stack) -> None:
        local, data, server = stack
        build_cohort(DataLayout(data), TRIGGERER_KILLED)
        drafts = membership(data, TRIGGERER_KILLED)["draft"]
        done_before = recorded(data, drafts)  # a combo shared with the first cohort is done already
        server.configure(latency_s=3.0)
        server.reset()
        try:
            run_id = local.client.trigger("daydream_draft", {"cohort_id": TRIGGERER_KILLED})
            deadline = time.monotonic() + 180
            # Kill mid-call: the first wave answered, a second one in flight. Answers reach the store a
            # little after the LLM sends them (more so on a loaded machine): those not yet recorded at the
            # kill are rightly sent again; one that was recorded must never be.
            while not (server.stats()["total_served"] >= 5 and server.stats()["in_flight"] >= 3):
                assert time.monotonic() < deadline, "no second wave of calls"
                time.sleep(0.05)
            for name in local.triggerer_names():  # the whole process group: supervisor and trigger runner
                os.killpg(local.services.procs[name].pid, signal.SIGKILL)
            at_kill = server.stats()
            in_flight_at_kill = at_kill["in_flight"]
            kept = recorded(data, drafts)
            unrecorded_at_kill = at_kill["total_served"] - len(kept - done_before)
            time.sleep(3.5)  # the LLM answers the orphaned calls meanwhile; nobody is left to record them
            assert_store_intact(data, just_killed=True)

            for name in local.triggerer_names():
                local.start_service(name)
            assert local.client.wait_run("daydream_draft", run_id, timeout=RUN_TIMEOUT, interval=POLL_S) == "success"
        finally:
            server.configure(latency_s=LATENCY_S)
        assert done_ids(data, "draft") >= drafts, "every generation ends done"
        assert_store_intact(data)
        twice = server.stats()["answered_twice"]
        assert not {(m, s) for m, s, _ in twice} & kept, "an answer that reached the store is never asked for again"
        assert len(twice) <= in_flight_at_kill + unrecorded_at_kill, (twice, in_flight_at_kill, unrecorded_at_kill)
        tis = local.client.task_instances("daydream_draft", run_id)
        assert {ti["state"] for ti in tis if ti["task_id"] == "generate_paid"} == {"success"}
