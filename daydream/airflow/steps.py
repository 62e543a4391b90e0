"""The body of every DayDream task: read the run's params, make one call into ``daydream.orchestration``.

A ``DayDreamError`` (a bad param, a cohort that cannot be built, a broken catalog) is the user's to
fix and fails the same way on every try: the task fails at once, without Airflow's retries, and its
log ends with the error's one line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException

from daydream import orchestration
from daydream.airflow.config import (
    BATCH_TASK_ID,
    BUILD_TASK_ID,
    COHORT_DAG_ID,
    COHORT_STEPS,
    DAG_TEST_USER,
    LIST_TASK_ID,
    generate_task_id,
    layout,
    llm_conn_id,
    step_task_id,
)
from daydream.airflow.params import RunConf
from daydream.errors import DayDreamError
from daydream.orchestration import LOCAL_TIER, TIERS, Work
from daydream.paths import STAGES

if TYPE_CHECKING:  # the client imports openai: only generation tasks pay for it
    from daydream.llm.client import OpenAICompatibleClient

log = logging.getLogger("daydream.airflow")

NOT_RUN_STATES = ("skipped", "upstream_failed")
FAILED_STATES = ("failed", "upstream_failed")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a ``DayDreamError`` into a task failure that Airflow does not retry, with its one line."""
    try:
        yield
    except DayDreamError as exc:
        log.error("%s", exc)
        raise AirflowFailException(str(exc)) from None


def run_conf(context: Mapping[str, Any]) -> RunConf:
    with user_errors():
        return RunConf.from_params(context["params"])


def current_run() -> RunConf:
    return run_conf(get_current_context())


def is_dag_test(context: Mapping[str, Any]) -> bool:
    """True inside ``dag.test()`` / ``airflow dags test``, where no scheduler runs triggered DAGs."""
    return context["dag_run"].triggering_user_name == DAG_TEST_USER


def max_map_length() -> int:
    from airflow.sdk import conf

    return conf.getint("core", "max_map_length")


def llm_client() -> OpenAICompatibleClient:
    """The LLM client of connection ``llm_default`` (or ``$DAYDREAM_LLM_CONN_ID``)."""
    from daydream.airflow.hook import LLMHook

    return LLMHook(llm_conn_id=llm_conn_id()).get_conn()


# -- a stage DAG -----------------------------------------------------------------------------------


def list_generations(stage: str) -> Work:
    run = current_run()
    with user_errors():
        return orchestration.list_work(
            layout(), run.cohort_id, stage, force=run.force, max_map_length=max_map_length(), batch=run.batch
        )


def generate(stage: str, tier: str, gen_id: str) -> dict[str, Any]:
    """One generation; a generation-level failure comes back as state ``failed``, never raised."""
    run = current_run()
    llm = None if tier == LOCAL_TIER else llm_client()
    try:
        with user_errors():
            return orchestration.run_generation(
                layout(),
                stage,
                gen_id,
                cohort_id=run.cohort_id,
                llm=llm,
                force=run.force,
                max_cost_usd=run.max_cost_usd,
            )
    finally:
        if llm is not None:
            llm.close()


def summary(stage: str) -> dict[str, Any]:
    """The stage summary; a listed generation whose task returned nothing counts as failed."""
    ti = get_current_context()["ti"]
    work = ti.xcom_pull(task_ids=LIST_TASK_ID)
    if work is None:
        raise AirflowFailException(f"{LIST_TASK_ID} failed, nothing ran: see its log")
    outcomes = ti.xcom_pull(task_ids=[*(generate_task_id(tier) for tier in TIERS), BATCH_TASK_ID])
    run = current_run()
    with user_errors():
        return orchestration.summarize_stage(layout(), run.cohort_id, stage, work, outcomes)


def run_step_inline(step: str, run: RunConf) -> dict[str, Any]:
    """A stage (or the report) in the calling task: the ``airflow dags test`` path of ``run_<step>``."""
    with user_errors():
        if step in STAGES:
            return orchestration.run_stage_inline(
                layout(),
                run.cohort_id,
                step,
                force=run.force,
                max_cost_usd=run.max_cost_usd,
                max_map_length=max_map_length(),
                connect=llm_client,
            )
        return orchestration.build_reports(layout(), run.cohort_id)


# -- the cohort, report and resume DAGs ------------------------------------------------------------


def build_cohort() -> dict[str, Any]:
    """The cohort built, and its budget kept for the scheduled resume."""
    run = current_run()
    with user_errors():
        result = orchestration.build_cohort(layout(), run.cohort_id)
        orchestration.save_run_settings(layout(), run.cohort_id, run.max_cost_usd)
    log.info("%s", result["text"])
    return result


def cohort_outcome() -> dict[str, Any]:
    """How the cohort run ended; fails the run, with that summary as its message, when anything failed."""
    context = get_current_context()
    ti, dag_run = context["ti"], context["dag_run"]
    run = run_conf(context)
    steps = [BUILD_TASK_ID, *(step_task_id(step) for step in COHORT_STEPS)]
    try:
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=steps, run_ids=[ti.run_id]).get(ti.run_id, {})
    except Exception as exc:  # noqa: BLE001 (the summary is still worth writing without the states)
        log.warning("cannot read the task states of this run: %s", exc)
        states = {}
    step_states = {task: (str(state) if state else None) for task, state in states.items()}
    ran = [s for s in run.stages if step_states.get(step_task_id(s)) not in NOT_RUN_STATES]
    broken = [task for task, state in step_states.items() if state in FAILED_STATES]
    with user_errors():
        outcome = orchestration.cohort_outcome(
            layout(), run.cohort_id, ran=ran, broken_steps=broken, started=dag_run.start_date
        )
    if not outcome.ok:
        raise AirflowFailException("cohort run failed:\n" + outcome.text)
    log.info("%s", outcome.text)
    return outcome.model_dump()


def report() -> dict[str, Any]:
    from daydream.reports.diversity import embedder_for

    run = current_run()
    with user_errors():
        # embedding clusters only when the connection's extras name an embedding_model
        return orchestration.build_reports(layout(), run.cohort_id, embed=embedder_for(llm_client()))


def cohorts_to_resume() -> list[dict[str, Any]]:
    """The conf of one cohort run per unfinished cohort; none while a cohort run is active."""
    ti = get_current_context()["ti"]
    active = ti.get_dr_count(dag_id=COHORT_DAG_ID, states=["queued", "running"])
    if active:
        log.info("%d %s run(s) are active; resuming next time to avoid running a cohort twice", active, COHORT_DAG_ID)
        return []
    with user_errors():
        return orchestration.resume_confs(layout())
