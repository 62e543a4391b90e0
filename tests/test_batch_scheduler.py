"""The batch lane under the real scheduler (LocalExecutor on SQLite, the four Airflow services, two
triggerers: the Airflow the trigger-path tests share, ``trigger_stack``), against the offline LLM's three
batch APIs over HTTP, judges on OpenRouter's, OpenAI's and Anthropic's.

- a cohort's evaluations go by batch (one batch per judge model), the triggerer waits them out, the
  results land in the store, and the reports have the same shape as those of the same cohort run with
  direct calls (``batch: false``);
- errored and expired requests fail their generations cleanly (the run succeeds, ``error.json`` has the
  provider's reason), and the next run of the cohort sends only those, in new batches;
- the worker (the lane's task process) is killed while its create call is in flight, and the
  triggerers are killed while the batches run: the retried task re-attaches to the batch its dead
  attempt created, the restarted triggerers take the wait over, and the offline LLM's statistics show
  exactly one batch per judge model and every request answered once.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from airflow_env import (
    BATCH_JUDGES,
    POLL_S,
    RUN_TIMEOUT,
    TINY_SPEC,
    assert_store_intact,
    done_ids,
    task_pid,
    write_specs,
)

from daydream.batch import BatchManifests
from daydream.paths import STAGES, DataLayout

pytestmark = [pytest.mark.scheduler, pytest.mark.timeout(3000)]
BATCH_MODELS = {"claude-sonnet-4", "gpt-5", "google/gemini-2.5-flash"}  # as each batch API names them
COHORTS = {
    "direct": "scientific-taste, incubation-effect",
    "lane": "adjacent-possible, bisociation",
    "killed": "serendipity-engine, analogical-transfer",
    "faults": "exploration-exploitation, recombinant-innovation",
}
"""Each cohort gets concepts of its own (none of the other trigger-stack tests' pairs), so no two share a
generation."""


def spec(concepts: str) -> str:
    """The tiny cohort (2 drafts, 4 essays, 2 of them copies) judged by the three judges: 12 evaluations."""
    return TINY_SPEC.format(concepts=concepts).replace(
        "evaluation_llm: [sonnet-4]", f"evaluation_llm: [{', '.join(BATCH_JUDGES)}]"
    )


@pytest.fixture(scope="module")
def stack(trigger_stack):
    """The shared trigger stack (its judges on the three batch APIs) with this module's cohorts; batches
    end 2 s after they are created, requests are answered in 0.2 s."""
    local, data, server = trigger_stack
    write_specs(data, {cohort: spec(concepts) for cohort, concepts in COHORTS.items()})
    before = server.configure()
    server.configure(latency_s=0.2, batch={"completion_delay_s": 2})
    yield local, data, server
    server.configure(before)


def _stage_run(local, dag_id: str, cohort: str) -> dict:
    return next(r for r in local.client.dag_runs(dag_id) if (r.get("conf") or {}).get("cohort_id") == cohort)


def _report_shape(data: Path, cohort: str) -> dict[str, tuple]:
    reports = data / "cohorts" / cohort / "reports"
    shape: dict[str, tuple] = {}
    for path in sorted(p for p in reports.rglob("*") if p.is_file()):
        rel = str(path.relative_to(reports))
        if path.suffix == ".csv":
            lines = path.read_text().splitlines()
            shape[rel] = (lines[0] if lines else "", len(lines))
        else:
            shape[rel] = ()
    return shape


def test_evaluations_go_by_batch_and_report_like_direct_calls(stack) -> None:
    local, data, server = stack
    server.reset()
    plugins = local.client.request("GET", "/api/v2/plugins")["plugins"]
    assert any(p["name"] == "daydream_batch" and p["listeners"] for p in plugins), (
        f"the cancel listener is loaded: {[(p['name'], p['listeners']) for p in plugins]}"
    )
    runs = {
        "direct": local.client.trigger("daydream_cohort", {"cohort_id": "direct", "batch": False}),
        "lane": local.client.trigger("daydream_cohort", {"cohort_id": "lane"}),
    }
    for cohort, run_id in runs.items():
        assert local.client.wait_run("daydream_cohort", run_id, timeout=RUN_TIMEOUT, interval=POLL_S) == "success", (
            cohort
        )

    for cohort in runs:
        for stage in STAGES:
            assert len(done_ids(data, stage) & _members(data, cohort, stage)) == len(_members(data, cohort, stage))
    stats = server.stats()
    assert stats["batches"]["by_api"] == {"anthropic": 1, "openai": 1, "openrouter": 1}
    assert set(stats["batches"]["by_model"]) == BATCH_MODELS and set(stats["batches"]["by_model"].values()) == {1}
    assert stats["batches"]["requests"] == {"answered": 12} and stats["answered_twice"] == []

    lane = json.loads((data / "cohorts" / "lane" / "runs" / "evaluation_summary.json").read_text())
    direct = json.loads((data / "cohorts" / "direct" / "runs" / "evaluation_summary.json").read_text())
    assert lane["by_batch"] == 12 and "12 by batch" in lane["text"] and len(lane["batches"]) == 3
    assert direct["by_batch"] == 0 and direct["this_run"] == lane["this_run"] == {"done": 12}
    for gen_id in _members(data, "lane", "evaluation"):
        assert json.loads((data / "gens" / "evaluation" / gen_id / "raw_metadata.json").read_text())["batch_id"]
    for gen_id in _members(data, "direct", "evaluation"):
        assert "batch_id" not in json.loads((data / "gens" / "evaluation" / gen_id / "raw_metadata.json").read_text())
    assert _report_shape(data, "lane") == _report_shape(data, "direct"), "the reports do not see the lane"

    run = _stage_run(local, "daydream_evaluation", "lane")
    lanes = [
        t for t in local.client.task_instances("daydream_evaluation", run["dag_run_id"]) if t["task_id"] == "batch_lane"
    ]
    assert {t["rendered_map_index"] for t in lanes} == set(BATCH_JUDGES) and {t["state"] for t in lanes} == {"success"}
    # The wait ran on the triggerer: each lane task's trigger log (written by the triggerer) has the event.
    # A trigger a busy triggerer handed over to another job leaves a log per job: count the tasks.
    logs = local.home / "logs" / "dag_id=daydream_evaluation" / f"run_id={run['dag_run_id']}" / "task_id=batch_lane"
    fired = [p for p in logs.rglob("*.log.trigger.*") if "'status': 'ended'" in p.read_text(errors="replace")]
    tasks = {part for p in fired for part in p.relative_to(logs).parts if part.startswith("map_index=")}
    assert len(tasks) == 3, sorted(str(p) for p in logs.rglob("*"))
    assert_store_intact(data)


def _members(data: Path, cohort: str, stage: str) -> set[str]:
    return set(_models(data, cohort, stage))


def _models(data: Path, cohort: str, stage: str) -> dict[str, str]:
    """``gen_id -> llm_model_id`` of the cohort's generations of ``stage`` (membership.csv)."""
    lines = (data / "cohorts" / cohort / "membership.csv").read_text().splitlines()
    header = lines[0].split(",")
    gen, model = header.index("gen_id"), header.index("llm_model_id")
    return {r.split(",")[gen]: r.split(",")[model] for r in lines[1:] if r.startswith(stage + ",")}


def test_errored_and_expired_requests_fail_cleanly_and_a_rerun_sends_only_them(stack) -> None:
    local, data, server = stack
    server.reset()
    # Anthropic's batch errors each request once, OpenAI's lets each expire once; OpenRouter's answers.
    server.configure(
        batch={
            "completion_delay_s": 2,
            "faults": [
                {"fault": "errored", "model": "claude-sonnet-4", "first_n": 1, "message": "overloaded_error"},
                {"fault": "expired", "model": "gpt-5", "first_n": 1},
            ],
        }
    )
    first = local.client.trigger("daydream_cohort", {"cohort_id": "faults"})
    # A failed generation fails the cohort run (its summary says which), never the stage run.
    assert local.client.wait_run("daydream_cohort", first, timeout=RUN_TIMEOUT, interval=POLL_S) == "failed"
    assert _stage_run(local, "daydream_evaluation", "faults")["state"] == "success"
    models = _models(data, "faults", "evaluation")
    kinds = {"sonnet-4": "BatchItemErrored", "gpt_5": "BatchItemExpired"}
    for gen_id, model in models.items():
        gen = data / "gens" / "evaluation" / gen_id
        if model in kinds:
            error = json.loads((gen / "error.json").read_text())
            assert error["kind"] == kinds[model] and not (gen / "raw.txt").exists(), (gen_id, error)
            assert model != "sonnet-4" or "overloaded_error" in error["error"]
        else:
            assert (gen / "parsed.txt").exists() and not (gen / "error.json").exists()
    summary = json.loads((data / "cohorts" / "faults" / "runs" / "evaluation_summary.json").read_text())
    assert summary["by_batch"] == 12 and len(summary["failed"]) == 8, summary
    stats = server.stats()["batches"]
    assert stats["requests"] == {"answered": 4, "errored": 4, "expired": 4}, stats

    second = local.client.trigger("daydream_cohort", {"cohort_id": "faults"})
    assert local.client.wait_run("daydream_cohort", second, timeout=RUN_TIMEOUT, interval=POLL_S) == "success"
    stats = server.stats()
    assert stats["batches"]["by_model"] == {"claude-sonnet-4": 2, "gpt-5": 2, "google/gemini-2.5-flash": 1}, (
        "the rerun sent new batches for the two failed models only"
    )
    assert stats["batches"]["requests"] == {"answered": 12, "errored": 4, "expired": 4}
    assert stats["answered_twice"] == [], "no request answered in the first run was sent again"
    assert done_ids(data, "evaluation") >= set(models)
    assert not any((data / "gens" / "evaluation" / g / "error.json").exists() for g in models)
    assert_store_intact(data)


def _kill_the_stalled_submission(local, data: Path) -> str:
    """SIGKILL the lane task whose create call the offline LLM holds; returns its model id."""
    manifests = BatchManifests(DataLayout(data), "killed")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        submitting = [m for m in manifests.all() if m.state == "submitting"]
        runs = [
            r
            for r in local.client.dag_runs("daydream_evaluation")
            if (r.get("conf") or {}).get("cohort_id") == "killed"
        ]
        if submitting and runs:
            tis = local.client.task_instances("daydream_evaluation", runs[0]["dag_run_id"])
            running = [
                t
                for t in tis
                if t["task_id"] == "batch_lane"
                and t["state"] == "running"
                and t["rendered_map_index"] == submitting[0].llm_model_id
            ]
            pid = task_pid(running[0]["id"]) if running else None
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                return submitting[0].llm_model_id
        time.sleep(0.3)
    raise AssertionError("no lane task was caught with its create call in flight")


def _restart_the_triggerers(local, data: Path) -> None:
    """SIGKILL the triggerers (each one's whole session) once the other lanes wait on them; start new
    ones."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        waiting = [m for m in BatchManifests(DataLayout(data), "killed").all() if m.state == "submitted"]
        if len(waiting) >= 2:
            break
        time.sleep(0.5)
    for name in local.triggerer_names():
        old = local.services.procs[name]
        os.killpg(old.pid, signal.SIGKILL)
        old.wait(timeout=30)
    time.sleep(2)
    for name in local.triggerer_names():
        local.start_service(name)


def test_killed_worker_and_triggerer_reattach_and_nothing_is_paid_twice(stack) -> None:
    local, data, server = stack
    server.reset()
    # Batches take 45 s; the first create call is held 20 s after the batch exists.
    server.configure(batch={"completion_delay_s": 45, "submit_stall_s": 20, "stall_first_n": 1})
    run_id = local.client.trigger("daydream_cohort", {"cohort_id": "killed"})
    killed_model = _kill_the_stalled_submission(local, data)
    _restart_the_triggerers(local, data)
    assert local.client.wait_run("daydream_cohort", run_id, timeout=RUN_TIMEOUT, interval=POLL_S) == "success"

    stats = server.stats()
    assert set(stats["batches"]["by_model"]) == BATCH_MODELS and set(stats["batches"]["by_model"].values()) == {1}, (
        f"one batch per judge model: {stats['batches']}"
    )
    evaluations = _members(data, "killed", "evaluation")
    assert stats["batches"]["requests"] == {"answered": len(evaluations)} == {"answered": 12}
    assert stats["answered_twice"] == []
    assert done_ids(data, "evaluation") >= evaluations
    manifests = BatchManifests(DataLayout(data), "killed").all()
    assert len(manifests) == 3 and {m.state for m in manifests} == {"collected"}

    run = _stage_run(local, "daydream_evaluation", "killed")
    lanes = {
        t["rendered_map_index"]: t
        for t in local.client.task_instances("daydream_evaluation", run["dag_run_id"])
        if t["task_id"] == "batch_lane"
    }
    assert lanes[killed_model]["try_number"] >= 2 and lanes[killed_model]["state"] == "success", (
        "Airflow's retry re-attached"
    )
    assert_store_intact(data)
