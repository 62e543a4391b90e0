"""``TriggerStepOperator``: one step of a cohort run (a stage DAG or the report DAG), triggered and waited for."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk.exceptions import AirflowSkipException

from daydream.airflow import steps
from daydream.airflow.config import REPORT_DAG_ID, STAGE_DAG_IDS, step_task_id, trigger_poll_seconds
from daydream.paths import STAGES

log = logging.getLogger("daydream.airflow")


class TriggerStepOperator(TriggerDagRunOperator):
    """Triggers one step of a cohort run and waits for it, deferred (no worker slot is held).

    The conf comes from the cohort run's params. A stage left out of param ``stages`` is skipped.
    Under ``airflow dags test`` the step runs inline in this task instead, since no scheduler would
    ever run the triggered DAG there.
    """

    def __init__(self, *, step: str, **kwargs: Any):
        # One retry: Airflow 3.3 can fail a deferred task whose trigger fires before the scheduler
        # has seen the worker exit from the deferral (a triggered run that ends within seconds);
        # the retry triggers a new run, which finds the finished work and ends at once.
        super().__init__(
            task_id=step_task_id(step),
            trigger_dag_id=STAGE_DAG_IDS.get(step, REPORT_DAG_ID),
            deferrable=True,
            wait_for_completion=True,
            poke_interval=trigger_poll_seconds(),
            allowed_states=["success"],
            failed_states=["failed"],
            retries=1,
            retry_delay=timedelta(seconds=5),
            **kwargs,
        )
        self.step = step

    def execute(self, context: Any) -> Any:
        run = steps.run_conf(context)
        if self.step in STAGES and self.step not in run.stages:
            raise AirflowSkipException(f"stage {self.step} is not in param stages {list(run.stages)}")
        self.conf = run.stage_conf() if self.step in STAGES else run.report_conf()
        if steps.is_dag_test(context):
            log.info(
                "airflow dags test: no scheduler runs a triggered DAG here, so %s runs inline in this task "
                "(one generation after another, pools not applied) instead of triggering %s",
                self.step,
                self.trigger_dag_id,
            )
            return steps.run_step_inline(self.step, run)
        log.info("triggering %s with conf %s and waiting for it (deferred)", self.trigger_dag_id, self.conf)
        return super().execute(context)
