"""A tournament over the demo cohort's essays under the real scheduler (LocalExecutor on SQLite, the
four Airflow services: the Airflow the trigger-path tests share, ``trigger_stack``) against the offline
LLM over HTTP, with latency so requests overlap.

The demo cohort is built and run in this process first (the stage DAGs have their own scheduler
test); the tournament is what runs under Airflow: ``daydream_tournament`` is triggered once, and
each run plays one Swiss round (one mapped task per comparison, labelled by its id, in the judge's
pool) and triggers the run of the next round. Checked: every round ran as one successful DAG run,
every comparison is done and was asked once, the paid pool held and was used, the store is intact,
and the ratings recover the order the offline judge follows (the demo essays' planted quality).
"""

from __future__ import annotations

import shutil
import time

import pytest
from airflow_env import POLL_S, REPO, RUN_TIMEOUT, assert_store_intact, write_specs
from helpers import run_members
from scipy.stats import spearmanr

from daydream.airflow.tournament import TOURNAMENT_DAG_ID, compare_task_id
from daydream.cohorts import build_cohort
from daydream.llm.client import OpenAICompatibleClient
from daydream.llm.offline.pairwise import planted_quality
from daydream.llm.settings import LLMSettings
from daydream.paths import DataLayout
from daydream.store import GensStore
from daydream.tournament import read_state, tournament_status
from daydream.tournament.ratings import leaderboard

pytestmark = [pytest.mark.scheduler, pytest.mark.timeout(1800)]
COHORT = "tdemo"
ROUNDS = 2
LATENCY_S = 0.3
"""The comparisons' latency under Airflow, so the paid pool's requests overlap."""
SPEC = f"tournament:\n  over: demo\n  judges: [sonnet-4]\n  template: pairwise-v1\n  rounds: {ROUNDS}\n"


def test_tournament_rounds_run_as_dag_runs_under_the_scheduler(trigger_stack) -> None:
    local, data, server = trigger_stack
    write_specs(data, {COHORT: SPEC})
    shutil.copytree(REPO / "data" / "cohorts" / "demo", data / "cohorts" / "demo")
    layout = DataLayout(data)
    before = server.configure()
    server.configure(latency_s=0.0)  # the demo's 60 calls one after another: no overlap to make
    try:
        build_cohort(layout, "demo")
        with OpenAICompatibleClient(LLMSettings(base_url=server.base_url, api_key="offline")) as llm:
            assert {o.state for o in run_members(layout, "demo", llm)} == {"done"}
        server.configure(latency_s=LATENCY_S)
        server.reset()
        local.wait_dags([TOURNAMENT_DAG_ID])
        local.unpause([TOURNAMENT_DAG_ID])
        first = local.client.trigger(TOURNAMENT_DAG_ID, {"cohort_id": COHORT})
        assert local.client.wait_run(TOURNAMENT_DAG_ID, first, timeout=RUN_TIMEOUT, interval=POLL_S) == "success"
        deadline = time.monotonic() + RUN_TIMEOUT * ROUNDS
        runs = local.client.dag_runs(TOURNAMENT_DAG_ID)
        while len(runs) < ROUNDS or any(r["state"] not in ("success", "failed") for r in runs):
            assert time.monotonic() < deadline, f"rounds did not finish: {[r['state'] for r in runs]}"
            time.sleep(POLL_S)
            runs = local.client.dag_runs(TOURNAMENT_DAG_ID)
        time.sleep(5)  # the last run's next_round is skipped: no further run may appear
        runs = local.client.dag_runs(TOURNAMENT_DAG_ID)
        assert [r["state"] for r in runs] == ["success"] * ROUNDS
        first_round = read_state(layout, COHORT).rounds[0]
        tis = local.client.task_instances(TOURNAMENT_DAG_ID, first)
        mapped = [ti for ti in tis if ti["task_id"] == compare_task_id("paid") and ti["map_index"] >= 0]
        assert {ti["rendered_map_index"] for ti in mapped} == {c.comparison_id for c in first_round.comparisons}
        assert {ti["pool"] for ti in mapped} == {"llm_api_paid"}
        last = local.client.task_instances(TOURNAMENT_DAG_ID, runs[-1]["dag_run_id"])
        assert {ti["task_id"]: ti["state"] for ti in last}["next_round"] == "skipped"
        stats = server.stats()
    finally:
        server.configure(before)

    status = tournament_status(layout, COHORT)
    assert status["complete"] and status["comparisons"] == {"done": ROUNDS * 9 * 2, "failed": 0, "pending": 0}
    assert stats["total_requests"] == ROUNDS * 9 * 2 and stats["answered_twice"] == []
    assert 2 <= stats["tiers"]["paid"]["peak_in_flight"] <= 5
    assert_store_intact(data)
    pooled = leaderboard(layout, COHORT, n_boot=200).query("scope == 'pooled'")
    store = GensStore(layout)
    planted = [planted_quality(store.parsed_text("essay", doc) or "") for doc in pooled["document"]]
    assert spearmanr(pooled["rating"], planted).statistic > 0.5
