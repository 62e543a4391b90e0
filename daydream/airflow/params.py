"""The params of a DayDream run: the trigger form (``run_params``) and its validation (``RunConf``).

Every value of a run enters here: from the UI's trigger form, ``airflow dags trigger -c``, the REST
API, or the conf the cohort DAG passes to the stage DAGs. The form's JSON schema shapes the form (and
Airflow refuses a value of the wrong JSON type when it creates the run); ``RunConf`` is where every
value is accepted or refused, in the first task, before anything touches the data root. The cohort id
is checked by the one id grammar (``daydream.paths``), so ``../x``, ``/abs``, a space or an invisible
character never reach a path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk import Param
from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError, field_validator

from daydream.errors import DayDreamError, first_problem, located, shown
from daydream.orchestration import Budget, cohort_choices
from daydream.paths import STAGES, DataLayout, Stage, id_problem

log = logging.getLogger("daydream.airflow")


class RunConfError(DayDreamError):
    """A DAG param (trigger form or conf) is invalid; the one-line message names the param."""


class RunConf(BaseModel):
    """The validated params of one run (``context['params']``), shared by every DayDream DAG."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cohort_id: str
    force: StrictBool = False
    max_cost_usd: Budget | None = None
    stages: tuple[Stage, ...] = STAGES
    batch: StrictBool | None = None  # the batch lane: None = evaluations of paid models with a batch API

    @field_validator("cohort_id", mode="before")
    @classmethod
    def _cohort_id(cls, value: object) -> object:
        problem = id_problem(value)
        if problem is not None:
            raise ValueError(f"invalid cohort id {shown(value)}: {problem}")
        return value

    @field_validator("stages", mode="before")
    @classmethod
    def _stages(cls, value: object) -> tuple[str, ...]:
        """Any subset of the stages, in any order or repeated; they run in pipeline order."""
        if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
            raise ValueError(f"expected a list of stages ({', '.join(STAGES)}), got {shown(value)}")
        unknown = [s for s in value if s not in STAGES]
        if unknown:
            raise ValueError(f"unknown stage(s) {shown(unknown)}; expected some of {', '.join(STAGES)}")
        if not value:
            raise ValueError(
                f"no stage chosen; choose some of {', '.join(STAGES)} (`daydream cohort build` builds only)"
            )
        return tuple(s for s in STAGES if s in value)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RunConf:
        """The run's params validated, or ``RunConfError`` naming the first bad param."""
        values = {key: params[key] for key in params}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise RunConfError(_one_line(exc)) from None

    def stage_conf(self) -> dict[str, Any]:
        """The conf the cohort run passes to each stage run (``batch`` only when the run set it)."""
        conf: dict[str, Any] = {"cohort_id": self.cohort_id, "force": self.force, "max_cost_usd": self.max_cost_usd}
        if self.batch is not None:
            conf["batch"] = self.batch
        return conf

    def report_conf(self) -> dict[str, Any]:
        """The conf the cohort run passes to the report run."""
        return {"cohort_id": self.cohort_id}


def _one_line(exc: ValidationError) -> str:
    """``param <name>: <problem>``, quoting a bounded part of the value the run was given."""
    field, message = first_problem(exc)
    first = exc.errors()[0]
    kind = first["type"]
    if kind == "missing":
        return located(f'param {field} is required: trigger with conf {{"{field}": ...}}')
    if kind == "extra_forbidden":
        return located(f"param {field}: unknown param; DayDream's params are {', '.join(RunConf.model_fields)}")
    if kind not in ("value_error", "literal_error", "enum"):
        message = f"{message}, got {shown(first.get('input'))}"
    return located(f"param {field}: {message}")


# -- the trigger form ------------------------------------------------------------------------------


def cohort_suggestions(layout: DataLayout) -> list[str]:
    """Cohorts the form suggests, computed at parse time (never fails the parse)."""
    try:
        return cohort_choices(layout)
    except Exception as exc:  # noqa: BLE001 (a broken data root must not hide the DAGs)
        log.warning("cannot list cohorts under %s: %s", layout.cohorts, exc)
        return []


def run_params(layout: DataLayout, *, stages: bool = False, budget: bool = True) -> dict[str, Param]:
    """The trigger form: ``cohort_id`` (existing cohorts suggested), ``force``, ``max_cost_usd``, ``batch``,
    ``stages``.

    The schema stays loose on purpose (any text for the cohort id): a value it refused would make the
    API or ``dags test`` reject the run with a JSON-schema message, while ``RunConf`` fails the first
    task with a line that names the param.
    """
    choices = cohort_suggestions(layout)
    params: dict[str, Param] = {"cohort_id": _cohort_param(choices)}
    if budget:
        params["force"] = Param(
            False,
            type="boolean",
            title="Force",
            description="Run generations again even when they are done (pays again).",
        )
        params["max_cost_usd"] = Param(
            None,
            type=["null", "number"],
            minimum=0,
            title="Budget (USD)",
            description="Start no further LLM call once the cohort's recorded spend (all runs, "
            "cohorts/<id>/runs/spend.jsonl) has reached this; those generations end in state 'budget'. "
            "Empty means no limit.",
        )
        params["batch"] = Param(
            None,
            type=["null", "boolean"],
            title="Batch lane",
            description="Send generations of paid models that have a batch API (llm_models.csv, column 'batch') "
            "as provider batches, at the batch price, answered within hours: empty = evaluations only (the "
            "default), true = every stage, false = none (direct calls). Open batches are always waited for.",
        )
    if stages:
        params["stages"] = Param(
            list(STAGES),
            type="array",
            title="Stages",
            items={"type": "string", "enum": list(STAGES)},
            examples=list(STAGES),
            description="Stages to run, in pipeline order; the others are skipped.",
        )
    return params


def _cohort_param(choices: list[str]) -> Param:
    default = "demo" if "demo" in choices else (choices[0] if choices else "")
    schema: dict[str, Any] = {"examples": choices} if choices else {}
    return Param(
        default,
        type="string",
        minLength=1,
        title="Cohort",
        description="A directory under cohorts/ of the data root (the list shows the cohorts found when the DAG "
        "was parsed; any other cohort id may be typed).",
        **schema,
    )
