"""What the DAGs refuse: every value that enters through DAG params or conf is checked where it enters.

A catalogue by class (issue 8, item 4), each with several variations: a cohort id outside the id
grammar, a ``force`` that is not a boolean, a budget that is not a number >= 0 or null, stages that
are not a subset of the pipeline's, an unknown param, a cohort directory that no run may name, a
tampered ``run_settings.json``. The params model is tried directly; one ``dag.test()`` process shows
the first task of each DAG failing with the one line that names the param, and nothing written
outside the data root (or inside it, for the refused id).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from airflow_env import dag_test, env_for, make_data_root, migrate, task_states  # noqa: I001 (sets AIRFLOW_HOME first)
from helpers import one_line_error

from daydream.airflow.params import RunConf, RunConfError
from daydream.errors import CohortError
from daydream.orchestration import cohort_choices, resume_confs, resumed_settings
from daydream.paths import DataLayout

ZERO_WIDTH_SPACE = "\u200b"
HOSTILE_COHORT_IDS = [
    "../../x",
    "../escaped",
    "..",
    "/abs/path",
    "a/b",
    "a b",
    "demo ",
    " demo",
    f"demo{ZERO_WIDTH_SPACE}",
    "demo\n",
    "démo",
    ".hidden",
    "-flag",
    "x" * 300,
    "",
]


def refused(params: dict[str, Any], *needles: str) -> str:
    with pytest.raises(RunConfError) as excinfo:
        RunConf.from_params(params)
    message = one_line_error(excinfo, *needles)
    assert len(message) < 400, "the message quotes a bounded part of the value"
    return message


@pytest.mark.parametrize("cohort_id", HOSTILE_COHORT_IDS)
def test_cohort_id_outside_the_id_grammar_is_refused(cohort_id: str) -> None:
    message = refused({"cohort_id": cohort_id}, "param cohort_id: invalid cohort id")
    assert ZERO_WIDTH_SPACE not in message, "an invisible character is shown escaped"


@pytest.mark.parametrize("cohort_id", [5, None, ["demo"], {"id": "demo"}, True])
def test_cohort_id_that_is_not_text_is_refused(cohort_id: object) -> None:
    refused({"cohort_id": cohort_id}, "param cohort_id:", "expected text")


@pytest.mark.parametrize("force", ["yes", "true", "True", "on", "1", 1, 0, None, "null", [True]])
def test_force_must_be_a_real_boolean(force: object) -> None:
    refused({"cohort_id": "demo", "force": force}, "param force:", "valid boolean")


@pytest.mark.parametrize("budget", ["null", "None", "", "2.5", -1, -0.01, math.nan, math.inf, True, [1], {"usd": 1}])
def test_budget_must_be_a_number_at_least_zero_or_null(budget: object) -> None:
    refused({"cohort_id": "demo", "max_cost_usd": budget}, "param max_cost_usd:")


@pytest.mark.parametrize(
    "stages", ["draft,essay", "all", ["drafts"], ["draft", "../x"], [1], [], None, {"draft": True}]
)
def test_stages_must_be_a_subset_of_the_pipeline(stages: object) -> None:
    refused({"cohort_id": "demo", "stages": stages}, "param stages:")


@pytest.mark.parametrize("key", ["forse", "cohort", "max_cost", "stage"])
def test_an_unknown_param_is_refused_not_ignored(key: str) -> None:
    refused({"cohort_id": "demo", key: True}, f"param {key}: unknown param", "cohort_id, force, max_cost_usd, stages")


def test_valid_params_pass_in_their_own_types() -> None:
    run = RunConf.from_params({"cohort_id": "d_x.v-1", "force": False, "max_cost_usd": 0, "stages": ["essay"] * 3})
    assert (run.cohort_id, run.force, run.max_cost_usd, run.stages) == ("d_x.v-1", False, 0.0, ("essay",))
    assert RunConf.from_params({"cohort_id": "x" * 128}).cohort_id == "x" * 128


def test_cohort_directories_outside_the_grammar_are_never_offered_nor_resumed(tmp_path: Path) -> None:
    layout = DataLayout(make_data_root(tmp_path / "data", {}))
    for name in ("ok-cohort", "a b", f"zw{ZERO_WIDTH_SPACE}", "trailing ", "-dash"):
        (layout.cohorts / name / "spec").mkdir(parents=True)
        (layout.cohorts / name / "membership.csv").write_text("stage,gen_id\n")
    assert cohort_choices(layout) == ["ok-cohort"]
    assert [c["cohort_id"] for c in resume_confs(layout)] == []  # ok-cohort has no member left to run


@pytest.mark.parametrize(
    "content", ['{"max_cost_usd": -1}', '{"max_cost_usd": "2.5"}', '{"max_cost_usd": "null"}', "not json", "[1]"]
)
def test_a_tampered_run_settings_file_never_lifts_the_budget(tmp_path: Path, content: str) -> None:
    layout = DataLayout(make_data_root(tmp_path / "data", {}))
    settings = layout.runs_dir("capped") / "run_settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(content)
    with pytest.raises(CohortError) as excinfo:
        resumed_settings(layout, "capped")
    one_line_error(excinfo, str(settings))
    settings.write_text(json.dumps({"max_cost_usd": 2.5}))
    assert resumed_settings(layout, "capped") == {"max_cost_usd": 2.5}


# -- the first task of a run fails with the param's line, and nothing is written -------------------


def tree(root: Path, *, skip: tuple[Path, ...]) -> set[Path]:
    return {p for p in root.rglob("*") if not any(p == s or s in p.parents for s in skip)}


@pytest.mark.airflow
def test_a_run_with_a_hostile_cohort_id_fails_its_first_task_and_writes_nothing(tmp_path: Path) -> None:
    data = make_data_root(tmp_path / "data", {})
    home = tmp_path / "airflow"
    env = env_for(home, data, "http://127.0.0.1:9/v1")
    migrate(env)
    outside = tmp_path / "outside-abs"
    runs: list[tuple[str, dict[str, Any]]] = [
        ("daydream_cohort", {"cohort_id": "../../escaped"}),
        ("daydream_draft", {"cohort_id": str(outside)}),
        ("daydream_report", {"cohort_id": f"demo{ZERO_WIDTH_SPACE}"}),
        ("daydream_cohort", {"cohort_id": "y" * 300, "stages": ["draft"]}),
    ]
    before = tree(tmp_path, skip=(home,))
    states, output = dag_test(env, *runs)
    assert states == ["failed"] * len(runs), output[-4000:]
    for (dag_id, conf), tasks in zip(runs, task_states(output), strict=True):
        first = {"daydream_cohort": "build_cohort", "daydream_draft": "list_generations"}.get(dag_id, "build_reports")
        assert tasks[first] == "failed", (dag_id, tasks)
        assert not {t for t, state in tasks.items() if state == "success"}, f"{dag_id}: nothing may run: {tasks}"
        with pytest.raises(RunConfError) as excinfo:
            RunConf.from_params(conf)
        assert f"[error    ] {excinfo.value}" in output, f"the task log must show {excinfo.value}"
    assert tree(tmp_path, skip=(home,)) == before, "nothing written, inside or outside the data root"
    assert not outside.exists() and not (tmp_path / "escaped").exists()
