"""``StageStepTrigger``: a short task of a stage DAG (the list, a selector), run and ended in the triggerer.

Started from ``daydream.airflow.stage_tasks.StageStepOperator``. It pulls the XComs the step reads,
runs the step's body (``steps.stage_step``: pandas, file reads) in a worker thread, never on the event
loop, and pushes the value as a worker would (``XCom.aset``: the same serialization, so readers see a
dict, not the JSON text that ``TaskSuccessEvent`` XComs become in Airflow 3.3). A selector's value is
pushed with its length, the TaskMap row Airflow expands the mapped task behind it by (an empty list
skips it). A user error (bad params, a broken cohort) fails the task with its one line, as on a worker.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk.execution_time.xcom import XCom
from airflow.triggers.base import BaseTrigger, TaskFailedEvent, TaskSuccessEvent, TriggerEvent

from daydream.airflow.config import LIST_TASK_ID
from daydream.airflow.params import RunConf
from daydream.errors import DayDreamError
from daydream.paths import check_stage

__all__ = ["StageStepTrigger"]


def _body(stage: str, step: str, key: str | None, run: RunConf, work: Any) -> Any:
    steps = importlib.import_module("daydream.airflow.steps")  # pandas and the orchestration: off the loop
    return steps.stage_step(stage, step, key, run, work, [])


def _described(value: Any) -> str:
    """One log line for the task log: the list's sizes, a selector's length."""
    if isinstance(value, dict):
        return ", ".join(f"{len(ids)} {name}" for name, ids in value.items())
    return f"{len(value)} to map"


class StageStepTrigger(BaseTrigger):
    """Runs step ``step`` of stage ``stage`` for the task it started and ends that task."""

    def __init__(self, stage: str, step: str, key: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.stage, self.step, self.key = check_stage(stage), step, key
        self.seen: dict[str, Any] | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs = {"stage": self.stage, "step": self.step, "key": self.key}
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """The triggerer builds the task's template context just before ``run``: keep what we need."""
        super().render_template_fields(context, jinja_env)
        ti = context["ti"]
        self.seen = {"params": dict(context["params"]), "dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        seen = self.seen
        if seen is None:
            raise RuntimeError("the triggerer gave this trigger no task context: start it from the stage DAG")
        try:
            value = await self._value(RunConf.from_params(seen["params"]))
        except (AirflowFailException, DayDreamError) as exc:
            self.log.error("%s", exc)
            yield TaskFailedEvent()
            return
        self.log.info("%s %s%s: %s", self.stage, self.step, f" {self.key}" if self.key else "", _described(value))
        await XCom.aset(
            "return_value",
            value,
            dag_id=seen["dag_id"],
            task_id=seen["task_id"],
            run_id=seen["run_id"],
            _mapped_length=len(value) if self.step == "select" else None,
        )
        yield TaskSuccessEvent()

    async def _value(self, run: RunConf) -> Any:
        ti: Any = self.task_instance
        work = await ti.axcom_pull(task_ids=LIST_TASK_ID, map_indexes=-1) if self.step != "list" else None
        return await asyncio.to_thread(_body, self.stage, self.step, self.key, run, work)
