"""The DAG files in dags/: they import, have the expected shape, and name only declared pools.

No database and no scheduler: ``DagBag`` parses the files in this process (``AIRFLOW_HOME`` is a
temporary directory, see tests/airflow_env.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag  # noqa: E402
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator  # noqa: E402
from airflow_env import REPO  # noqa: I001 (sets AIRFLOW_HOME before Airflow is imported)

from daydream.airflow import config  # noqa: E402
from daydream.airflow.config import POOLS, STAGE_DAG_IDS  # noqa: E402
from daydream.airflow.params import RunConf, RunConfError  # noqa: E402
from daydream.catalogs import MODEL_TIERS  # noqa: E402
from daydream.orchestration import TIERS  # noqa: E402

DAGS = REPO / "dags"
POOLS_FILE = REPO / "include" / "pools.json"
STAGE_TASKS = {
    "list_generations",
    "free_ids",
    "paid_ids",
    "local_ids",
    "generate_free",
    "generate_paid",
    "generate_local",
    "batch_models",
    "batch_lane",
    "summary",
}


@pytest.fixture(scope="module")
def declared_pools() -> dict[str, dict]:
    return json.loads(POOLS_FILE.read_text())


@pytest.fixture(scope="module")
def bag(declared_pools: dict[str, dict]) -> DagBag:
    return DagBag(dag_folder=str(DAGS), known_pools=set(declared_pools) | {"default_pool"})


def test_every_dag_file_imports(bag: DagBag) -> None:
    assert bag.import_errors == {}
    assert {Path(d.fileloc).name for d in bag.dags.values()} == {p.name for p in DAGS.glob("*.py")}


def test_expected_dags_and_tasks(bag: DagBag) -> None:
    assert set(bag.dag_ids) == {
        "daydream_cohort",
        *STAGE_DAG_IDS.values(),
        "daydream_report",
        "daydream_resume",
        "daydream_tournament",
    }
    for dag_id in STAGE_DAG_IDS.values():
        assert set(bag.dags[dag_id].task_ids) == STAGE_TASKS
    assert bag.dags["daydream_cohort"].task_ids == [
        "build_cohort",
        "run_draft",
        "run_essay",
        "run_evaluation",
        "run_report",
        "outcome",
    ]
    assert bag.dags["daydream_report"].task_ids == ["build_reports"]
    assert set(bag.dags["daydream_resume"].task_ids) == {"unfinished_cohorts", "resume_cohort"}


def test_pools_file_is_in_airflow_import_format(declared_pools: dict[str, dict]) -> None:
    # `airflow pools import` takes {name: {"slots", "description", "include_deferred"?}}
    assert declared_pools["llm_api_free"]["slots"] == 1
    assert declared_pools["llm_api_paid"]["slots"] == 5
    for pool in declared_pools.values():
        assert {"slots", "description"} <= set(pool) and isinstance(pool["slots"], int)
        assert pool.get("include_deferred", False) is False


def test_every_pool_a_task_names_is_declared(bag: DagBag, declared_pools: dict[str, dict]) -> None:
    used = {t.pool for d in bag.dags.values() for t in d.tasks}
    assert used <= set(declared_pools) | {"default_pool"}, "a task naming an unknown pool waits forever"
    assert not [w for w in bag.dag_warnings if "pool" in str(w.message)]


def test_mapped_generation_tasks(bag: DagBag) -> None:
    for dag_id in STAGE_DAG_IDS.values():
        dag = bag.dags[dag_id]
        for tier in TIERS:
            task = dag.get_task(f"generate_{tier}")
            assert task.is_mapped, f"{dag_id}.generate_{tier} must map one instance per generation"
            assert task.pool == POOLS[tier]
            assert task.map_index_template == "{{ task.op_kwargs['gen_id'] }}"
            assert task.retries >= 1, "Airflow retries cover crashed workers"
            assert task.upstream_task_ids == {f"{tier}_ids"}
        assert dag.get_task("generate_free").pool == "llm_api_free"
        assert dag.get_task("generate_paid").pool == "llm_api_paid"
        summary = dag.get_task("summary")
        assert summary.trigger_rule == "all_done"
        assert summary.upstream_task_ids == {*(f"generate_{t}" for t in TIERS), "batch_lane"}
        lane = dag.get_task("batch_lane")
        assert lane.is_mapped and lane.upstream_task_ids == {"batch_models"}, "one lane task per model"
        assert lane.retries >= 1, "a retried lane task re-attaches to its batches"
        assert dag.get_task("batch_models").upstream_task_ids == {"list_generations"}


def test_stage_dags_are_not_paused_upon_creation(bag: DagBag) -> None:
    for dag_id in (*STAGE_DAG_IDS.values(), "daydream_report"):
        assert bag.dags[dag_id].is_paused_upon_creation is False, f"{dag_id}: triggered runs would sit queued"
        assert bag.dags[dag_id].schedule is None


def test_cohort_dag_triggers_the_stages_in_order_deferred(bag: DagBag) -> None:
    dag = bag.dags["daydream_cohort"]
    previous = "build_cohort"
    for step, target in [*((s, f"daydream_{s}") for s in STAGE_DAG_IDS), ("report", "daydream_report")]:
        task = dag.get_task(f"run_{step}")
        assert isinstance(task, TriggerDagRunOperator)
        assert task.trigger_dag_id == target
        assert task.deferrable and task.wait_for_completion, "waiting must not hold a worker slot"
        assert task.trigger_rule == "none_failed", "a skipped stage lets the next one run"
        assert task.retries == 1, "recovers from Airflow's stale-event race on fast deferred tasks"
        assert task.upstream_task_ids == {previous}
        previous = task.task_id
    assert dag.get_task("outcome").trigger_rule == "all_done"


def test_trigger_form_params(bag: DagBag) -> None:
    params = bag.dags["daydream_cohort"].params
    assert set(params.keys()) == {"cohort_id", "force", "max_cost_usd", "batch", "stages"}
    cohort = params.get_param("cohort_id")
    assert cohort.schema.get("examples") == sorted(
        p.name
        for p in (REPO / "data" / "cohorts").iterdir()
        if (p / "spec").is_dir() or (p / "membership.csv").exists()
    )
    assert cohort.value == "demo"
    assert params["stages"] == ["draft", "essay", "evaluation"]
    assert params["force"] is False and params["max_cost_usd"] is None and params["batch"] is None
    for dag_id in STAGE_DAG_IDS.values():
        assert set(bag.dags[dag_id].params.keys()) == {"cohort_id", "force", "max_cost_usd", "batch"}


def test_run_conf_validation() -> None:
    run = RunConf.from_params(
        {"cohort_id": "demo", "force": True, "max_cost_usd": 2.5, "stages": ["evaluation", "draft"]}
    )
    assert (run.cohort_id, run.force, run.max_cost_usd, run.stages) == ("demo", True, 2.5, ("draft", "evaluation"))
    assert run.stage_conf() == {"cohort_id": "demo", "force": True, "max_cost_usd": 2.5}
    assert run.report_conf() == {"cohort_id": "demo"}
    assert RunConf.from_params({"cohort_id": "x", "max_cost_usd": None}).max_cost_usd is None
    assert RunConf.from_params({"cohort_id": "x", "max_cost_usd": 3}).max_cost_usd == 3.0
    assert RunConf.from_params({"cohort_id": "x"}).stages == ("draft", "essay", "evaluation")
    with pytest.raises(RunConfError, match="^param cohort_id is required"):
        RunConf.from_params({})
    with pytest.raises(RunConfError, match="^param cohort_id: invalid cohort id '': is empty"):
        RunConf.from_params({"cohort_id": ""})
    with pytest.raises(RunConfError, match=r"^param stages: unknown stage\(s\) \['drafts'\]"):
        RunConf.from_params({"cohort_id": "x", "stages": ["drafts"]})


def test_tiers_are_the_catalog_tiers_plus_local() -> None:
    assert TIERS == (*MODEL_TIERS, "local")
    assert set(POOLS) == set(TIERS)


def test_max_map_length_error_names_the_setting() -> None:
    from daydream.orchestration import check_map_length

    check_map_length(1024, stage="draft", limit=1024)
    with pytest.raises(Exception, match=r"\[core\] max_map_length"):
        check_map_length(1025, stage="draft", limit=1024)


def test_resume_dag_schedule_and_fan_out(bag: DagBag, monkeypatch: pytest.MonkeyPatch) -> None:
    dag = bag.dags["daydream_resume"]
    assert dag.catchup is False and dag.max_active_runs == 1
    resume = dag.get_task("resume_cohort")
    assert resume.is_mapped and resume.partial_kwargs.get("trigger_dag_id", None) in (None, "daydream_cohort")
    monkeypatch.delenv("DAYDREAM_RESUME_SCHEDULE", raising=False)
    assert config.resume_schedule() == "@daily"
    monkeypatch.setenv("DAYDREAM_RESUME_SCHEDULE", "0 */6 * * *")
    assert config.resume_schedule() == "0 */6 * * *"
    monkeypatch.setenv("DAYDREAM_RESUME_SCHEDULE", "none")
    assert config.resume_schedule() is None


def test_resume_schedule_env_reaches_the_parsed_dag() -> None:
    code = (
        "from airflow.dag_processing.dagbag import DagBag; import sys; "
        "print(DagBag(dag_folder=sys.argv[1]).dags['daydream_resume'].schedule)"
    )
    env = {**os.environ, "DAYDREAM_RESUME_SCHEDULE": "0 6 * * *"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(DAGS / "daydream_resume.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.strip().splitlines()[-1] == "0 6 * * *", out.stderr[-2000:]


def test_max_map_length_raised_in_every_shipped_configuration() -> None:
    env_script = (REPO / "include" / "scripts" / "airflow_env.sh").read_text()
    assert re.search(r"AIRFLOW__CORE__MAX_MAP_LENGTH=\"\$\{AIRFLOW__CORE__MAX_MAP_LENGTH:-100000\}\"", env_script)
    compose = (REPO / "docker-compose.yaml").read_text()
    assert re.search(r"AIRFLOW__CORE__MAX_MAP_LENGTH: '?100000'?", compose)


def test_dag_files_stay_thin() -> None:
    for path in DAGS.glob("*.py"):
        code = [line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
        assert len(code) <= 15, f"{path.name}: the logic belongs in daydream.airflow.factories"
