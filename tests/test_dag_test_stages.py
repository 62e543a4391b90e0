"""``dag.test()`` of each stage DAG, and ``airflow dags test daydream_cohort``, against the offline LLM.

A migrated SQLite metadata DB in a temporary AIRFLOW_HOME (once per module), a tiny cohort in a
temporary data root, the offline LLM over HTTP in this process, the real hook. Each ``dag.test()``
runs in a child process with the shipped environment (include/scripts/airflow_env.sh).
"""

from __future__ import annotations

import json
import re

import pytest
from airflow_env import (
    TINY_SPEC,
    TWO_CONCEPTS,
    airflow,
    assert_store_intact,
    dag_test,
    done_ids,
    env_for,
    make_data_root,
    migrate,
    offline_llm,
)

from daydream.orchestration import build_cohort
from daydream.paths import STAGES, DataLayout

pytestmark = pytest.mark.airflow
COHORT = "tiny"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("dagtest")
    data = make_data_root(root / "data", {COHORT: TINY_SPEC.format(concepts=TWO_CONCEPTS)})
    build_cohort(DataLayout(data), COHORT)
    server = offline_llm(data, latency_s=0.0)
    env = env_for(root / "airflow", data, server.base_url)
    migrate(env)
    try:
        yield env, data, server
    finally:
        server.stop()


def test_each_stage_dag_runs_under_dag_test_then_makes_no_call(setup) -> None:
    env, data, server = setup
    membership = (data / "cohorts" / COHORT / "membership.csv").read_text().splitlines()[1:]
    expected = {stage: {line.split(",")[1] for line in membership if line.startswith(stage + ",")} for stage in STAGES}
    states, output = dag_test(env, *((f"daydream_{stage}", {"cohort_id": COHORT}) for stage in STAGES))
    assert states == ["success"] * 3, output[-4000:]
    for stage in STAGES:
        assert done_ids(data, stage) == expected[stage], f"{stage}: generations missing from the gens store"
        summary = json.loads((data / "cohorts" / COHORT / "runs" / f"{stage}_summary.json").read_text())
        assert summary["failed"] == [] and summary["store"]["done"] == len(expected[stage])
    calls = server.stats()["total_requests"]
    assert calls == 8, "2 drafts + 2 LLM essays (2 are copies) + 4 evaluations"
    assert server.stats()["answered_twice"] == []
    assert_store_intact(data)

    # Everything is done: no mapped instance, no call.
    states, output = dag_test(env, *((f"daydream_{stage}", {"cohort_id": COHORT}) for stage in STAGES))
    assert states == ["success"] * 3, output[-4000:]
    assert output.count("0 free, 0 paid, 0 local to run") == 3
    assert server.stats()["total_requests"] == calls, "a second dag.test() must not call the LLM"


def test_airflow_dags_test_cohort_terminates_and_says_what_it_did(setup) -> None:
    env, data, server = setup
    before = server.stats()["total_requests"]
    result = airflow(env, "dags", "test", "daydream_cohort", "-c", json.dumps({"cohort_id": COHORT}))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    for step in ("draft", "essay", "evaluation", "report"):
        assert f"so {step} runs inline in this task" in output
    assert "stage of cohort tiny: 2/2 done" in output
    assert re.search(r"DagRun Finished: dag_id=daydream_cohort, .*state=success", output)
    assert server.stats()["total_requests"] == before
    assert (data / "cohorts" / COHORT / "reports" / "index.html").exists()


def test_a_failed_generation_does_not_fail_the_stage_run(setup) -> None:
    """Generation-level failures are recorded and returned; the stage run still ends success."""
    env, data, server = setup
    layout = DataLayout(data)
    drafts = sorted(done_ids(data, "draft"))
    server.configure(faults=[{"fault": "bad_request", "message": "offline: rejected"}])
    try:
        states, output = dag_test(env, ("daydream_draft", {"cohort_id": COHORT, "force": True}))
    finally:
        server.configure(faults=[])
    assert states == ["success"], output[-4000:]
    summary = json.loads((layout.runs_dir(COHORT) / "draft_summary.json").read_text())
    assert sorted(f["gen_id"] for f in summary["failed"]) == drafts
    assert "2 failed" in summary["text"]


def test_resume_triggers_the_unfinished_cohort_with_its_last_budget(setup) -> None:
    """A built cohort with pending generations is resumed, with the budget its last run was given."""
    env, data, server = setup
    layout = DataLayout(data)
    spec = layout.spec_file("pending")
    spec.parent.mkdir(parents=True)
    spec.write_text(TINY_SPEC.format(concepts="data-flywheel, economic-moat"))
    build_cohort(layout, "pending")
    layout.runs_dir("pending").mkdir(parents=True, exist_ok=True)
    (layout.runs_dir("pending") / "run_settings.json").write_text(json.dumps({"max_cost_usd": 2.5}))
    states, output = dag_test(env, ("daydream_resume", {}))
    assert states == ["success"], output[-4000:]
    assert "unfinished cohorts: pending" in output
    assert "Dag Run triggered successfully" in output
    assert "'max_cost_usd': 2.5" in output
