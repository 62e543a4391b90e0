"""``daydream_tournament``: one Swiss round of a tournament cohort per DAG run, then the next run.

Why one round per run: a round's pairs depend on the verdicts of the rounds before it, and a DAG's
shape is fixed when it is parsed, while the number of rounds is the cohort's (``tournament.rounds``).
So each run is one stage run, like ``daydream_<stage>``: ``plan_round`` (the unfinished round, else
the next one paired by the ratings so far), one mapped task per comparison in the judge tier's pool
(labelled by comparison id), ``finish_round`` (always runs; writes ``runs/tournament_summary.json``),
then ``next_round`` triggers the next run of this DAG for the same cohort while rounds remain.
``max_active_runs=1`` queues that run until this one has ended. The ``force`` param re-judges the
last planned round (``plan_round(force=True)``, a failed rerun keeping the old verdict); the runs it
chains to are not forced. Every body is one call into
``daydream.tournament``; the CLI ``daydream tournament run`` plays the same rounds without Airflow.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from daydream.airflow import steps
from daydream.airflow.config import GENERATION_RETRIES, POOLS, TAGS, layout
from daydream.airflow.params import run_params
from daydream.orchestration.stage import LOCAL_TIER, TIERS, check_map_length

TOURNAMENT_DAG_ID = "daydream_tournament"
PLAN_TASK_ID = "plan_round"
FINISH_TASK_ID = "finish_round"
LLM_TIERS = tuple(tier for tier in TIERS if tier != LOCAL_TIER)


def compare_task_id(tier: str) -> str:
    return f"compare_{tier}"


def plan() -> dict[str, Any]:
    from daydream.tournament import plan_round

    run = steps.current_run()
    with steps.user_errors():
        planned = plan_round(layout(), run.cohort_id, force=run.force)
        for tier in LLM_TIERS:
            check_map_length(len(planned.work[tier]), stage=f"tournament ({tier} tier)", limit=steps.max_map_length())
    return planned.model_dump(mode="json")


def compare(comparison_id: str) -> dict[str, Any]:
    """One comparison; a failed one comes back as an outcome, never raised (as for generations)."""
    from daydream.tournament import run_comparison

    run = steps.current_run()
    llm = steps.llm_client()
    try:
        with steps.user_errors():
            return run_comparison(
                layout(), run.cohort_id, comparison_id, llm=llm, max_cost_usd=run.max_cost_usd, force=run.force
            )
    finally:
        llm.close()


def finish() -> dict[str, Any]:
    from daydream.tournament import finish_round

    ti = get_current_context()["ti"]
    planned = ti.xcom_pull(task_ids=PLAN_TASK_ID)
    if planned is None:  # no round ran: fail the run, and never trigger the next one from here
        raise AirflowFailException(f"{PLAN_TASK_ID} failed, no round ran: see its log")
    outcomes = ti.xcom_pull(task_ids=[compare_task_id(tier) for tier in LLM_TIERS]) or []
    flat = [o for item in outcomes for o in (item if isinstance(item, list) else [item])]
    run = steps.current_run()
    with steps.user_errors():
        return finish_round(layout(), run.cohort_id, planned.get("round"), flat)


class NextRoundOperator(TriggerDagRunOperator):
    """Triggers this DAG again for the same cohort when ``finish_round`` says another round is due."""

    def __init__(self, **kwargs: Any):
        super().__init__(
            task_id="next_round",
            trigger_dag_id=TOURNAMENT_DAG_ID,
            wait_for_completion=False,
            trigger_rule="all_success",
            **kwargs,
        )

    def execute(self, context: Any) -> Any:
        summary = context["ti"].xcom_pull(task_ids=FINISH_TASK_ID) or {}
        if not summary.get("more"):
            raise AirflowSkipException(f"no round to start: {summary.get('text', 'the tournament is complete')}")
        run = steps.run_conf(context)
        if steps.is_dag_test(context):
            raise AirflowSkipException("airflow dags test: the next round is another test run of this DAG")
        self.conf = {"cohort_id": run.cohort_id, "force": False, "max_cost_usd": run.max_cost_usd}
        return super().execute(context)


def tournament_dag() -> DAG:
    # Retried like a generation: planning is idempotent (an unfinished round is returned again), and a
    # task process that never started on a loaded machine must not end the tournament.
    @task(task_id=PLAN_TASK_ID, retries=GENERATION_RETRIES, retry_delay=timedelta(seconds=5))
    def plan_round() -> dict[str, Any]:
        return plan()

    @task
    def comparison_ids(planned: dict[str, Any], tier: str) -> list[str]:
        return list(planned["work"][tier])

    @task(
        retries=GENERATION_RETRIES,
        retry_delay=timedelta(seconds=5),
        map_index_template="{{ task.op_kwargs['comparison_id'] }}",
    )
    def compare_one(comparison_id: str) -> dict[str, Any]:
        return compare(comparison_id)

    @task(task_id=FINISH_TASK_ID, trigger_rule="all_done")
    def finish_round() -> dict[str, Any]:
        return finish()

    @dag(
        dag_id=TOURNAMENT_DAG_ID,
        schedule=None,
        is_paused_upon_creation=False,
        catchup=False,
        max_active_runs=1,
        params=run_params(layout()),
        tags=[*TAGS, "tournament"],
        doc_md="One Swiss round of a DayDream tournament cohort (spec key `tournament:`) per run: plan the "
        "round from the verdicts so far, one mapped task per comparison in the judge's pool, a summary, then "
        "a run of this DAG for the next round while rounds remain. See docs/analysis.md, Tournaments.",
    )
    def tournament_pipeline() -> None:
        planned = plan_round()
        compared = []
        for tier in LLM_TIERS:
            ids = comparison_ids.override(task_id=f"{tier}_ids")(planned, tier)  # type: ignore[arg-type]
            mapped = compare_one.override(task_id=compare_task_id(tier), pool=POOLS[tier])
            compared.append(mapped.expand(comparison_id=ids))
        summary = finish_round()
        compared >> summary
        summary >> NextRoundOperator()

    return tournament_pipeline()
