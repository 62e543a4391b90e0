"""The worker path under the real scheduler (``DAYDREAM_GENERATION_PATH=worker``, the documented
fallback): LocalExecutor on SQLite, the Airflow services, the offline LLM over HTTP (in this process, with
latency, so requests overlap). The trigger path, the default, is tests/test_scheduler_e2e.py.

- a stage runs within the pools;
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

import pytest
from airflow_env import (
    POLL_S,
    RUN_TIMEOUT,
    THREE_CONCEPTS,
    TINY_SPEC,
    assert_store_intact,
    env_for,
    make_data_root,
    membership,
    offline_llm,
    run_cohort,
    running_airflow,
    task_pid,
    triggerer_jobs,
)

from daydream.airflow.config import RUN_DAG_IDS
from daydream.orchestration import build_cohort
from daydream.paths import DataLayout

pytestmark = [pytest.mark.scheduler, pytest.mark.timeout(1800)]
COHORT = "e2e"
KILLED = "e2e_kill"
PAID_DRAFT_MODEL = "google/gemini-2.5-pro"


@pytest.fixture(scope="class")
def worker_stack(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("e2e-worker")
    specs = {
        COHORT: TINY_SPEC.format(concepts=THREE_CONCEPTS),
        KILLED: TINY_SPEC.format(concepts="data-flywheel, economic-moat"),
    }
    data = make_data_root(root / "data", specs)
    server = offline_llm(data, latency_s=0.5)
    try:
        env = env_for(root / "airflow", data, server.base_url, DAYDREAM_GENERATION_PATH="worker")
        with running_airflow(env) as local:
            local.wait_dags(RUN_DAG_IDS)
            local.unpause()
            yield local, data, server
    finally:
        server.stop()


class TestWorkerPath:
    """On the worker stack."""

    def test_worker_path_runs_a_stage_within_the_pools(self, worker_stack) -> None:
        local, data, server = worker_stack
        server.reset()
        assert run_cohort(local, COHORT, RUN_TIMEOUT) == "success"
        stats = server.stats()
        assert stats["total_requests"] == 24 and stats["answered_twice"] == []
        assert stats["tiers"]["free"]["peak_in_flight"] == 1 and stats["tiers"]["paid"]["peak_in_flight"] <= 5
        assert triggerer_jobs(local, "daydream_draft") == {}, "no generation ran in the triggerer"

    def test_killed_task_leaves_no_partial_file_and_completes_on_retry(self, worker_stack) -> None:
        local, data, server = worker_stack
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
        assert local.client.wait_run("daydream_draft", run_id, timeout=RUN_TIMEOUT, interval=POLL_S) == "success"
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
