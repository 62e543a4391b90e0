"""End to end under the real scheduler: LocalExecutor on SQLite, the four Airflow services, the
offline LLM over HTTP (in this process, with latency, so requests overlap).

- a cohort goes through build, draft, essay, evaluation and report; the offline LLM's statistics
  prove the pools hold (at most 5 paid and 1 free request in flight, and the paid pool really ran
  several at once);
- a second run of the cohort makes no LLM call;
- a task process killed (kill -9) while the LLM holds its answer leaves no partial file, the
  generation completes on Airflow's retry, and no generation whose raw.txt was written is ever
  requested again.
Every process started is stopped at the end (process groups and sessions; checked).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
from airflow_env import (
    THREE_CONCEPTS,
    TINY_SPEC,
    assert_store_intact,
    done_ids,
    env_for,
    make_data_root,
    offline_llm,
    running_airflow,
)

from daydream.airflow.config import RUN_DAG_IDS
from daydream.orchestration import build_cohort
from daydream.paths import STAGES, DataLayout

pytestmark = [pytest.mark.scheduler, pytest.mark.timeout(1200)]
COHORT = "e2e"
KILLED = "e2e_kill"
PAID_DRAFT_MODEL = "google/gemini-2.5-pro"
RUN_TIMEOUT = 600
"""A bound for a hung run, not a speed target (those are benchmarks/): the 30-generation cohort takes
about 1 min on a quiet 2-core machine and over 4 min when several test suites share it."""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("e2e")
    data = make_data_root(
        root / "data",
        {
            COHORT: TINY_SPEC.format(concepts=THREE_CONCEPTS),
            KILLED: TINY_SPEC.format(concepts="data-flywheel, economic-moat"),
        },
    )
    server = offline_llm(data, latency_s=0.5)
    try:
        with running_airflow(env_for(root / "airflow", data, server.base_url)) as local:
            local.wait_dags(RUN_DAG_IDS)
            local.unpause()
            yield local, data, server
    finally:
        server.stop()


def membership(data: Path, cohort: str) -> dict[str, set[str]]:
    rows = (data / "cohorts" / cohort / "membership.csv").read_text().splitlines()[1:]
    return {stage: {r.split(",")[1] for r in rows if r.startswith(stage + ",")} for stage in STAGES}


def run_cohort(local, cohort: str) -> str:
    run_id = local.client.trigger("daydream_cohort", {"cohort_id": cohort})
    return local.client.wait_run("daydream_cohort", run_id, timeout=RUN_TIMEOUT)


def test_cohort_runs_every_stage_within_the_pools(stack) -> None:
    local, data, server = stack
    server.reset()
    assert run_cohort(local, COHORT) == "success"

    expected = membership(data, COHORT)
    assert sum(map(len, expected.values())) == 30  # 6 drafts, 12 essays (6 copies), 12 evaluations
    for stage in STAGES:
        assert done_ids(data, stage) >= expected[stage], stage
    assert (data / "cohorts" / COHORT / "reports" / "index.html").exists()
    assert_store_intact(data)

    stats = server.stats()
    assert stats["total_requests"] == 24 and stats["answered_twice"] == []
    paid, free = stats["tiers"]["paid"], stats["tiers"]["free"]
    assert free["peak_in_flight"] == 1, "pool llm_api_free has 1 slot"
    assert 2 <= paid["peak_in_flight"] <= 5, f"pool llm_api_paid has 5 slots and must be used: {paid}"

    # One mapped instance per generation, labelled by its gen id.
    run = [r for r in local.client.dag_runs("daydream_draft") if r["state"] == "success"][-1]
    tis = local.client.task_instances("daydream_draft", run["dag_run_id"])
    labels = {ti["rendered_map_index"] for ti in tis if ti["task_id"].startswith("generate_") and ti["map_index"] >= 0}
    assert labels == expected["draft"]
    pools = {ti["task_id"]: ti["pool"] for ti in tis}
    assert pools["generate_free"] == "llm_api_free" and pools["generate_paid"] == "llm_api_paid"


def test_second_run_makes_no_llm_call(stack) -> None:
    local, data, server = stack
    before = server.stats()["total_requests"]
    assert run_cohort(local, COHORT) == "success"
    assert server.stats()["total_requests"] == before


def task_pid(ti_id: str) -> int | None:
    """The task process of a task instance (the task runner titles it ``airflow worker -- <ti id>``)."""
    for proc in psutil.process_iter(["cmdline"]):
        if " ".join(proc.info["cmdline"] or ()).strip() == f"airflow worker -- {ti_id}":
            return proc.pid
    return None


def test_killed_task_leaves_no_partial_file_and_completes_on_retry(stack) -> None:
    local, data, server = stack
    layout = DataLayout(data)
    build_cohort(layout, KILLED)
    paid_draft = next(
        g
        for g in membership(data, KILLED)["draft"]
        if json.loads((layout.gen_dir("draft", g) / "metadata.json").read_text())["llm_model_id"] == "gemini_25_pro"
    )
    # The first request of each paid draft stalls for a minute; the retry is answered at once.
    server.configure(faults=[{"fault": "slow", "model": PAID_DRAFT_MODEL, "first_n": 1, "slow_s": 60}])
    answered_before = Counter(map(tuple, server.stats()["answered"]))
    run_id = local.client.trigger("daydream_draft", {"cohort_id": KILLED})

    deadline = time.monotonic() + 90
    pid = None
    while pid is None:
        assert time.monotonic() < deadline, "the paid draft never reached the LLM"
        tis = local.client.task_instances("daydream_draft", run_id)
        running = [ti for ti in tis if ti["task_id"] == "generate_paid" and ti["state"] == "running"]
        in_flight = server.stats()["models"].get(PAID_DRAFT_MODEL, {}).get("in_flight", 0)
        if running and in_flight:
            pid = task_pid(running[0]["id"])
        time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    gen_dir = layout.gen_dir("draft", paid_draft)
    assert not (gen_dir / "raw.txt").exists()
    assert_store_intact(data)

    server.configure(faults=[])
    assert local.client.wait_run("daydream_draft", run_id, timeout=RUN_TIMEOUT) == "success"
    ti = next(t for t in local.client.task_instances("daydream_draft", run_id) if t["task_id"] == "generate_paid")
    assert ti["state"] == "success" and ti["try_number"] == 2, "completed by Airflow's retry"
    assert (gen_dir / "parsed.txt").exists()
    assert_store_intact(data)

    # "Answered twice" = a generation whose raw.txt was written is requested again. Only the killed
    # attempt of the paid draft was asked twice (its first answer never reached a raw.txt).
    sha = json.loads((gen_dir / "raw_metadata.json").read_text())["prompt_sha256"]
    answered = Counter(map(tuple, server.stats()["answered"])) - answered_before
    twice = {pair: n for pair, n in (answered + answered_before).items() if n > 1}
    assert set(twice) <= {(PAID_DRAFT_MODEL, sha)}, twice
    assert answered[(PAID_DRAFT_MODEL, sha)] >= 1
