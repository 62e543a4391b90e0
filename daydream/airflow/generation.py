"""``GenerateOperator``: one generation of a stage DAG, in the triggerer or on a worker.

Mapped over a tier's gen ids (one task instance per generation, labelled by its gen id). Where it runs
is chosen when the DAG file is parsed (``$DAYDREAM_GENERATION_PATH``, ``daydream.airflow.config``):

- ``triggerer`` (default): the task starts from its trigger (``start_from_trigger``), so the scheduler
  defers every instance straight to the triggerer, no worker process is started, and
  ``daydream.airflow.triggers.GenerationTrigger`` runs the generation and ends the task;
- ``worker``: ``execute`` runs it in a worker process (the path of every DayDream release before; Airflow's
  pools limit the calls directly there).

``airflow dags test`` / ``dag.test()`` always run ``execute`` (they run tasks in process and never
defer a task at its start), so a DAG test makes its calls one after another as before. Both faces
call the same runner (``daydream.runner.StageRunner``: ``run`` and ``arun``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.triggers.base import StartTriggerArgs

from daydream.airflow import steps
from daydream.airflow.config import POOLS
from daydream.orchestration import LOCAL_TIER

__all__ = ["GenerateOperator", "start_args"]

TRIGGER_CLASS = "daydream.airflow.triggers.GenerationTrigger"


def start_args(stage: str, tier: str, ids_task_id: str) -> StartTriggerArgs:
    """The trigger every instance of ``generate_<tier>`` starts from (the same kwargs for all of them)."""
    return StartTriggerArgs(
        trigger_cls=TRIGGER_CLASS,
        trigger_kwargs={
            "stage": stage,
            "tier": tier,
            "pool": None if tier == LOCAL_TIER else POOLS[tier],
            "ids_task_id": ids_task_id,
        },
        next_method="execute_complete",
        timeout=None,
    )


class GenerateOperator(BaseOperator):
    """One generation; ``start_from_trigger`` says whether it runs in the triggerer."""

    template_fields: Sequence[str] = ()
    ui_color = "#d6eaf8"

    def __init__(
        self,
        *,
        stage: str,
        tier: str,
        gen_id: str,
        start_from_trigger: bool = False,
        start_trigger_args: StartTriggerArgs | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.stage = stage
        self.tier = tier
        self.gen_id = gen_id
        self.start_from_trigger = start_from_trigger
        self.start_trigger_args = start_trigger_args

    @property
    def op_kwargs(self) -> dict[str, str]:
        """The generation's arguments under the name the ``@task`` this operator replaced gave them, so the
        label template (``{{ task.op_kwargs['gen_id'] }}``) and anything reading it stay as they were."""
        return {"stage": self.stage, "tier": self.tier, "gen_id": self.gen_id}

    def execute(self, context: Any) -> dict[str, Any]:
        """The worker face: the generation in this process; a failed generation is returned, not raised."""
        return steps.generate(self.stage, self.tier, self.gen_id)

    def execute_complete(self, context: Any, event: Any = None) -> Any:
        """Not reached: the trigger ends the task itself (``TaskSuccessEvent``); kept as the resume point
        Airflow requires of a task that starts from a trigger."""
        return event
