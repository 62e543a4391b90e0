"""``StageStepOperator``: the short tasks of a stage DAG around its generations.

``list_generations``, the selectors (``<tier>_ids``, ``batch_models``) and ``summary`` each take well
under a second of work, but on a worker each cost a worker process (about 2.5 s of CPU on start and a
few hundred MiB) plus the executor's latency: most of a stage run's fixed cost (issue 11). Where the
list and the selectors run follows the generations (``$DAYDREAM_GENERATION_PATH``,
``daydream.airflow.config``):

- ``triggerer`` (default): the task starts from ``daydream.airflow.stage_trigger.StageStepTrigger``,
  which runs the step's body in a thread of the triggerer and ends the task;
- ``worker``, and ``airflow dags test`` (which never defers a task at its start): ``execute``.

``summary`` always runs on a worker: it reads every mapped instance's outcome, and in Airflow 3.3 the
triggerer's channel has no request for a mapped task's XComs at once (``GetXComSequenceSlice`` is
refused), so a trigger would need one request per generation.

Both faces pull the same XComs and call the same body (``steps.stage_step``). Why selectors at all:
Airflow expands a mapped task by the length of one upstream task's whole return value (one TaskMap row
per task: mapping over a key of a ``multiple_outputs`` task expands by the number of keys), and a
mapped task's pool cannot vary per instance, so each mapped task needs a task returning its list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.triggers.base import StartTriggerArgs

from daydream.airflow import steps
from daydream.airflow.config import LIST_TASK_ID, OUTCOME_TASK_IDS

__all__ = ["StageStepOperator"]

TRIGGER_CLASS = "daydream.airflow.stage_trigger.StageStepTrigger"
TRIGGERED_STEPS = ("list", "select")
"""The steps that may start from the trigger (not ``summary``: see above)."""


class StageStepOperator(BaseOperator):
    """One short task of a stage DAG (``step``: list, select, summary); ``key`` names a selector's list."""

    template_fields: Sequence[str] = ()
    ui_color = "#eaf2f8"

    def __init__(self, *, stage: str, step: str, key: str | None = None, in_triggerer: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if step not in steps.STAGE_STEPS or (in_triggerer and step not in TRIGGERED_STEPS):
            raise ValueError(f"step {step!r} cannot run {'in the triggerer' if in_triggerer else 'here'}")
        self.stage, self.step, self.key = stage, step, key
        self.start_from_trigger = in_triggerer
        self.start_trigger_args = (
            StartTriggerArgs(
                trigger_cls=TRIGGER_CLASS,
                trigger_kwargs={"stage": stage, "step": step, "key": key},
                next_method="execute_complete",
                timeout=None,
            )
            if in_triggerer
            else None
        )

    def execute(self, context: Any) -> Any:
        """The worker face: pull what the step reads, run it in this process, return its value."""
        ti = context["ti"]
        work = ti.xcom_pull(task_ids=LIST_TASK_ID) if self.step != "list" else None
        outcomes = ti.xcom_pull(task_ids=list(OUTCOME_TASK_IDS)) if self.step == "summary" else []
        return steps.stage_step(self.stage, self.step, self.key, steps.run_conf(context), work, outcomes)

    def execute_complete(self, context: Any, event: Any = None) -> Any:
        """Not reached: the trigger ends the task itself; the resume point Airflow requires."""
        return event
