"""The ``daydream_tournament`` DAG's shape: one round per run, one mapped comparison per task instance in
the judge tier's pool, a summary that always runs, and the next round's trigger behind it."""

from __future__ import annotations

import pytest
from airflow.dag_processing.dagbag import DagBag  # noqa: E402
from airflow_env import REPO  # noqa: I001 (sets AIRFLOW_HOME before Airflow is imported)

from daydream.airflow.config import POOLS  # noqa: E402
from daydream.airflow.tournament import TOURNAMENT_DAG_ID, NextRoundOperator  # noqa: E402


@pytest.fixture(scope="module")
def dag():
    bag = DagBag(dag_folder=str(REPO / "dags" / "daydream_tournament.py"), known_pools={*POOLS.values()})
    assert bag.import_errors == {}
    return bag.dags[TOURNAMENT_DAG_ID]


def test_one_round_per_run_with_mapped_comparisons_in_the_judge_pools(dag) -> None:
    assert set(dag.task_ids) == {
        "plan_round",
        "free_ids",
        "paid_ids",
        "compare_free",
        "compare_paid",
        "finish_round",
        "next_round",
    }
    assert dag.max_active_runs == 1 and dag.schedule is None and dag.is_paused_upon_creation is False
    assert dag.get_task("plan_round").retries >= 1, "planning is idempotent, so a lost worker is retried"
    for tier in ("free", "paid"):
        task = dag.get_task(f"compare_{tier}")
        assert task.is_mapped and task.pool == POOLS[tier] and task.retries >= 1
        assert task.map_index_template == "{{ task.op_kwargs['comparison_id'] }}"
        assert task.upstream_task_ids == {f"{tier}_ids"}
    finish = dag.get_task("finish_round")
    assert finish.trigger_rule == "all_done" and finish.upstream_task_ids == {"compare_free", "compare_paid"}
    trigger = dag.get_task("next_round")
    assert isinstance(trigger, NextRoundOperator)
    assert trigger.trigger_dag_id == TOURNAMENT_DAG_ID and not trigger.wait_for_completion
    assert trigger.upstream_task_ids == {"finish_round"} and trigger.trigger_rule == "all_success"
    assert set(dag.params.keys()) == {"cohort_id", "force", "max_cost_usd", "batch"}
