"""The DayDream DAGs, built here and declared by the thin files in ``dags/``.

Each task is one call into ``daydream.airflow.steps``, which makes one call into
``daydream.orchestration``; this module only knows the shape of the work:

- ``daydream_<stage>``: ``list_generations`` lists what the stage still has to do; a selector task
  per tier hands its gen ids to ``generate_<tier>`` (``GenerateOperator``: one generation per mapped
  instance, labelled by gen id, in the tier's pool; run in the triggerer, or on a worker with
  ``DAYDREAM_GENERATION_PATH=worker``); ``summary`` (runs whatever happened upstream) writes the
  summary. Models sent by batch go through the batch lane instead (``daydream.airflow.batch``: per model,
  submit, wait deferred, collect). A failed generation is an outcome, not a task failure: Airflow's retries
  are for crashes.
- ``daydream_cohort``: ``build_cohort``, then one ``run_<step>`` per stage and the report (each
  triggers that DAG and waits, deferred), then ``outcome`` fails the run when anything failed.
- ``daydream_report``: the cohort's reports.
- ``daydream_resume``: on a schedule, one ``daydream_cohort`` run per unfinished cohort.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, chain, dag, task

from daydream.airflow import steps
from daydream.airflow.batch import add_batch_lane
from daydream.airflow.config import (
    BUILD_TASK_ID,
    COHORT_DAG_ID,
    COHORT_STEPS,
    DEFAULT_RESUME_SCHEDULE,
    GENERATION_RETRIES,
    LIST_TASK_ID,
    POOLS,
    REPORT_DAG_ID,
    RESUME_DAG_ID,
    RESUME_SCHEDULE_ENV,
    STAGE_DAG_IDS,
    TAGS,
    generate_task_id,
    generation_path,
    layout,
    resume_schedule,
)
from daydream.airflow.generation import GenerateOperator, start_args
from daydream.airflow.operators import TriggerStepOperator
from daydream.airflow.params import run_params
from daydream.orchestration import TIERS, Work


def stage_dag(stage: str) -> DAG:
    """``daydream_<stage>``: one generation per mapped task instance, one mapped task per tier."""

    @task(task_id=LIST_TASK_ID)
    def list_generations() -> Work:
        return steps.list_generations(stage)

    @task
    def gen_ids(work: Work, tier: str) -> list[str]:
        return work[tier]

    in_triggerer = generation_path() == "triggerer"

    @task(task_id="summary", trigger_rule="all_done")
    def summary() -> dict[str, Any]:
        return steps.summary(stage)

    @dag(
        dag_id=STAGE_DAG_IDS[stage],
        schedule=None,
        is_paused_upon_creation=False,
        catchup=False,
        params=run_params(layout()),
        tags=[*TAGS, "stage"],
        doc_md=f"DayDream **{stage}** stage of one cohort: one mapped task instance per generation, free-tier "
        f"models in pool `{POOLS['free']}`, paid ones in `{POOLS['paid']}`, copy mode without a call. Done "
        f"generations are not listed again (param `force` lists them).",
    )
    def stage_pipeline() -> None:
        work = list_generations()
        generated = []
        for tier in TIERS:
            # A mapped task maps over a whole return value, and its pool cannot vary per instance: one
            # selector and one mapped task per tier. (The decorator's typing does not know XComArg.)
            ids = gen_ids.override(task_id=f"{tier}_ids")(work, tier)  # type: ignore[arg-type]
            generate = GenerateOperator.partial(
                task_id=generate_task_id(tier),
                pool=POOLS[tier],
                stage=stage,
                tier=tier,
                retries=GENERATION_RETRIES,
                retry_delay=timedelta(seconds=5),
                map_index_template="{{ task.op_kwargs['gen_id'] }}",
                start_from_trigger=in_triggerer,
                start_trigger_args=start_args(stage, tier, f"{tier}_ids") if in_triggerer else None,
            )
            generated.append(generate.expand(gen_id=ids))
        generated.append(add_batch_lane(stage, work))  # per model: submit, wait deferred, collect
        generated >> summary()

    return stage_pipeline()


def cohort_dag() -> DAG:
    """``daydream_cohort``: build, the three stages in order, the report, the outcome."""

    @task(task_id=BUILD_TASK_ID)
    def build_cohort() -> dict[str, Any]:
        return steps.build_cohort()

    @task(task_id="outcome", trigger_rule="all_done")
    def outcome() -> dict[str, Any]:
        return steps.cohort_outcome()

    @dag(
        dag_id=COHORT_DAG_ID,
        schedule=None,
        catchup=False,
        params=run_params(layout(), stages=True),
        tags=TAGS,
        doc_md="Builds a DayDream cohort, then runs `daydream_draft`, `daydream_essay`, `daydream_evaluation` "
        "and `daydream_report` for it, in order. Generations whose parents failed wait; the run fails, with "
        "a summary, when any generation failed.",
    )
    def cohort_pipeline() -> None:
        build = build_cohort()
        # none_failed: a skipped stage (param stages) lets the next one run.
        run_steps = [TriggerStepOperator(step=step, trigger_rule="none_failed") for step in COHORT_STEPS]
        chain(build, *run_steps, outcome())

    return cohort_pipeline()


def report_dag() -> DAG:
    """``daydream_report``: aggregate scores, charts, HTML page of one cohort."""

    @task(task_id="build_reports")
    def reports() -> dict[str, Any]:
        return steps.report()

    @dag(
        dag_id=REPORT_DAG_ID,
        schedule=None,
        is_paused_upon_creation=False,
        catchup=False,
        params=run_params(layout(), budget=False),
        tags=TAGS,
        doc_md="Writes the reports of one DayDream cohort to `cohorts/<cohort_id>/reports/`.",
    )
    def report_pipeline() -> None:
        reports()

    return report_pipeline()


def resume_dag() -> DAG:
    """``daydream_resume``: triggers ``daydream_cohort`` for every cohort with unfinished generations."""

    @task(task_id="unfinished_cohorts")
    def unfinished() -> list[dict[str, Any]]:
        return steps.cohorts_to_resume()

    @dag(
        dag_id=RESUME_DAG_ID,
        schedule=resume_schedule(),
        start_date=datetime(2025, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=TAGS,
        doc_md=f"Resumes every cohort with pending or failed generations by triggering `{COHORT_DAG_ID}` for "
        f"it, so free-tier models whose providers cap requests per day finish over several days. Schedule: "
        f"`${RESUME_SCHEDULE_ENV}` (default `{DEFAULT_RESUME_SCHEDULE}`). Starts paused: unpause it to enable.",
    )
    def resume_pipeline() -> None:
        TriggerDagRunOperator.partial(
            task_id="resume_cohort",
            trigger_dag_id=COHORT_DAG_ID,
            wait_for_completion=False,
            map_index_template="{{ task.conf['cohort_id'] }}",
        ).expand(conf=unfinished())

    return resume_pipeline()
