"""The calls the Airflow DAGs make, with no Airflow import: each task is one line into here.

Modules that pull in pandas (cohorts, membership, status) are imported inside the functions that need
them: a mapped generation task only runs ``run_generation``, and every task instance is a new process,
so its imports are paid once per generation.
"""

from __future__ import annotations

from typing import Any

from daydream import atomic
from daydream.catalogs import Catalogs
from daydream.errors import DayDreamError
from daydream.llm.types import LLMClient
from daydream.paths import STAGES, DataLayout, Stage
from daydream.runner import GenerationOutcome, RunOptions
from daydream.runner import run_generation as _run_generation
from daydream.store import GensStore, GenState, utc_now

TIERS = ("free", "paid", "local")


def list_cohorts(layout: DataLayout) -> list[str]:
    from daydream.cohorts import list_cohorts as _list_cohorts

    return _list_cohorts(layout)


def build_cohort(layout: DataLayout, cohort_id: str, *, dry_run: bool = False) -> dict[str, Any]:
    from daydream.cohorts import build_cohort as _build_cohort

    result = _build_cohort(layout, cohort_id, dry_run=dry_run)
    return {**result.model_dump(mode="json"), "text": result.describe()}


def _check_stage(stage: str) -> Stage:
    if stage not in STAGES:
        raise DayDreamError(f"unknown stage {stage!r} (expected one of {', '.join(STAGES)})")
    return stage  # type: ignore[return-value]


def stage_work(layout: DataLayout, cohort_id: str, stage: str, *, force: bool = False) -> dict[str, list[str]]:
    """The stage's generations still to run, split by pool; a generation whose parent is not done waits.

    Done ones are left out (they would be skipped anyway) so a rerun maps no task at all; with ``force``
    they are listed again.
    """
    from daydream.cohorts import tier_of
    from daydream.membership import read_membership
    from daydream.status import member_states

    stage = _check_stage(stage)
    catalogs = Catalogs.load(layout)
    membership = read_membership(layout, cohort_id)
    rows = membership[membership["stage"] == stage]
    store = GensStore(layout)
    work: dict[str, list[str]] = {tier: [] for tier in TIERS}
    states = member_states(layout, rows, catalogs)
    for row, state in zip(rows.itertuples(index=False), states, strict=False):
        if state in (GenState.DONE, GenState.STALE) and not force:
            continue
        if stage != "draft" and not _parent_done(store, stage, row.parent_gen_id):
            continue
        template = catalogs.templates[stage].get(row.template_id)
        tier = "local" if template is not None and template.is_copy else tier_of(catalogs, row.llm_model_id)
        work["paid" if tier == "unknown" else tier].append(row.gen_id)
    return work


def _parent_done(store: GensStore, stage: Stage, parent: str) -> bool:
    if stage == "essay":
        return store.is_done("draft", parent)
    return store.is_done("essay", parent) or store.is_done("draft", parent)


def run_generation(
    layout: DataLayout,
    stage: str,
    gen_id: str,
    *,
    cohort_id: str,
    llm: LLMClient | None,
    force: bool = False,
    max_cost_usd: float | None = None,
    options: RunOptions | None = None,
) -> dict[str, Any]:
    options = (options or RunOptions()).model_copy(update={"force": force, "max_cost_usd": max_cost_usd})
    outcome: GenerationOutcome = _run_generation(
        layout, _check_stage(stage), gen_id, llm=llm, cohort_id=cohort_id, options=options
    )
    return outcome.as_dict()


def write_stage_summary(
    layout: DataLayout, cohort_id: str, stage: str, outcomes: list[dict[str, Any] | None]
) -> dict[str, Any]:
    """This run's outcomes next to the store's view of the stage, written to ``runs/<stage>_summary.json``."""
    from daydream.status import cohort_status

    stage = _check_stage(stage)
    ran = [o for o in outcomes if o]
    this_run: dict[str, int] = {}
    for outcome in ran:
        this_run[outcome["state"]] = this_run.get(outcome["state"], 0) + 1
    status = cohort_status(layout, cohort_id).stages[stage]
    failed = [{"gen_id": o["gen_id"], "message": o.get("message", "")} for o in ran if o["state"] == "failed"]
    budget = this_run.get("budget", 0)
    cost = sum(float(o.get("cost_usd") or 0.0) for o in ran if o.get("called_llm"))
    text = (
        f"{stage} stage of cohort {cohort_id}: {status.done}/{status.total} done, {status.failed} failed, "
        f"{status.pending} pending, {status.stale} stale. This run: "
        + (", ".join(f"{n} {state}" for state, n in sorted(this_run.items())) or "nothing to do")
        + (f"; {budget} skipped because the budget (max_cost_usd) was reached" if budget else "")
        + f"; ${cost:.4f} spent."
    )
    summary = {
        "cohort_id": cohort_id,
        "stage": stage,
        "at": utc_now(),
        "store": status.model_dump(),
        "this_run": this_run,
        "failed": failed,
        "budget": budget,
        "cost_usd": cost,
        "text": text,
    }
    atomic.write_json(layout.runs_dir(cohort_id) / f"{stage}_summary.json", summary)
    return summary


def cohort_failures(layout: DataLayout, cohort_id: str) -> list[str]:
    from daydream.membership import read_membership
    from daydream.status import member_states

    catalogs = Catalogs.load(layout)
    membership = read_membership(layout, cohort_id)
    states = member_states(layout, membership, catalogs)
    return [gen_id for gen_id, state in zip(membership["gen_id"], states, strict=False) if state == GenState.FAILED]


def unfinished_cohorts(layout: DataLayout) -> list[str]:
    from daydream.cohorts import list_cohorts as _list_cohorts
    from daydream.status import cohort_status

    out = []
    for cohort_id in _list_cohorts(layout):
        if not layout.membership(cohort_id).exists():
            continue
        try:
            if cohort_status(layout, cohort_id).unfinished:
                out.append(cohort_id)
        except DayDreamError:
            continue
    return out


def check_map_length(n: int, *, stage: str, limit: int) -> None:
    if n > limit:
        raise DayDreamError(
            f"{stage} stage has {n} generations for one mapped task but [core] max_map_length is {limit}; raise it "
            f"(AIRFLOW__CORE__MAX_MAP_LENGTH={max(n, 2 * limit)}) or split the cohort"
        )
