"""One stage of one cohort: what is left to run, one generation, the stage's summary.

The stage DAGs map one task instance per generation over ``stage_work``; ``airflow dags test`` runs
the same steps one after another in one task (``run_stage_inline``), since no scheduler runs a
triggered DAG there. A generation that fails is recorded in the store and returned as state
``failed``, never raised, so one bad answer does not stop the stage.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from daydream import atomic, gen_index
from daydream.call_plan import RunOptions
from daydream.catalogs import Catalogs
from daydream.errors import DayDreamError
from daydream.llm.types import LLMClient
from daydream.outcome import GenerationOutcome
from daydream.paths import DataLayout, Stage, check_stage
from daydream.runner import run_generation as _run_generation
from daydream.store import GensStore, GenState, utc_now
from daydream.tiers import BATCH_LANE, LOCAL_TIER, TIERS, Work

log = logging.getLogger("daydream.orchestration")


def summary_file(layout: DataLayout, cohort_id: str, stage: str) -> Path:
    """``cohorts/<id>/runs/<stage>_summary.json``: what the stage's last run did."""
    return layout.runs_dir(cohort_id) / f"{check_stage(stage)}_summary.json"


def stage_work(
    layout: DataLayout, cohort_id: str, stage: str, *, force: bool = False, batch: bool | None = False
) -> Work:
    """The stage's generations still to run, split by tier; a generation whose parent is not done waits.

    Done ones are left out (they would be skipped anyway) so a rerun maps no task at all; with ``force``
    they are listed again. A model the catalog no longer knows counts as paid: the bigger pool's limit
    is the safe side for an unknown provider. ``batch`` is the run's switch (``daydream.batch``; False
    here, so callers that know no lane get none): the generations it sends by batch, and any an open
    batch holds whatever the switch (they are waited for, never paid again), go to ``BATCH_LANE``.
    """
    from daydream.cohorts import tier_of
    from daydream.membership import read_membership
    from daydream.status import member_states

    checked = check_stage(stage)
    catalogs = Catalogs.load(layout)
    membership = read_membership(layout, cohort_id)
    rows = membership[membership["stage"] == checked]
    store = GensStore(layout)
    work: Work = {tier: [] for tier in TIERS}
    states = member_states(layout, rows, catalogs)
    lane = _batch_lane(layout, cohort_id, checked, catalogs, batch)
    for row, state in zip(rows.itertuples(index=False), states, strict=False):
        if state in (GenState.DONE, GenState.STALE) and not force:
            continue
        if checked != "draft" and not _parent_done(store, checked, str(row.parent_gen_id)):
            continue
        template = catalogs.templates[checked].get(str(row.template_id))
        tier = LOCAL_TIER if template is not None and template.is_copy else tier_of(catalogs, str(row.llm_model_id))
        if tier != LOCAL_TIER and lane(str(row.gen_id), str(row.llm_model_id)):
            work.setdefault(BATCH_LANE, []).append(str(row.gen_id))
            continue
        work[tier if tier in TIERS else "paid"].append(str(row.gen_id))
    return work


def _batch_lane(
    layout: DataLayout, cohort_id: str, stage: Stage, catalogs: Catalogs, batch: bool | None
) -> Callable[[str, str], bool]:
    """Whether a generation ``(gen_id, llm_model_id)`` goes to the batch lane."""
    from daydream.batch import batch_api_for, open_gen_ids

    held = open_gen_ids(layout, cohort_id, stage)

    def goes(gen_id: str, model_id: str) -> bool:
        return gen_id in held or batch_api_for(catalogs.models.get(model_id), stage, batch) is not None

    return goes


def _parent_done(store: GensStore, stage: Stage, parent: str) -> bool:
    if stage == "essay":
        return store.is_done("draft", parent)
    return store.is_done("essay", parent) or store.is_done("draft", parent)


def check_map_length(n: int, *, stage: str, limit: int) -> None:
    if n > limit:
        raise DayDreamError(
            f"{stage} stage has {n} generations for one mapped task but [core] max_map_length is {limit}; raise it "
            f"(AIRFLOW__CORE__MAX_MAP_LENGTH={max(n, 2 * limit)}) or split the cohort"
        )


def list_work(
    layout: DataLayout, cohort_id: str, stage: str, *, force: bool, max_map_length: int, batch: bool | None = False
) -> Work:
    """``stage_work``, each tier checked against the mapped-task limit, and what it found logged."""
    work = stage_work(layout, cohort_id, stage, force=force, batch=batch)
    for tier in TIERS:
        check_map_length(len(work[tier]), stage=f"{stage} ({tier} tier)", limit=max_map_length)
    log.info(
        "cohort %s, stage %s: %s to run (parents done, not done yet%s)",
        cohort_id,
        stage,
        ", ".join(f"{len(work[t])} {t}" for t in (*TIERS, BATCH_LANE) if t in work),
        ", forced" if force else "",
    )
    return work


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
    """One generation, as the JSON-able outcome a task returns; a failure is an outcome, not raised."""
    options = (options or RunOptions()).model_copy(update={"force": force, "max_cost_usd": max_cost_usd})
    outcome: GenerationOutcome = _run_generation(
        layout, check_stage(stage), gen_id, llm=llm, cohort_id=cohort_id, options=options
    )
    log.info("%s %s: %s%s", stage, gen_id, outcome.state, f" ({outcome.message})" if outcome.message else "")
    return outcome.as_dict()


def crashed(stage: str, gen_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Outcomes for generations whose task instance ended without one (crash, error after retries)."""
    return [
        {
            "gen_id": gen_id,
            "stage": stage,
            "state": "failed",
            "message": "its task instance failed after all Airflow retries (worker crash or unexpected "
            "error); see the task log",
        }
        for gen_id in gen_ids
    ]


def summarize_stage(
    layout: DataLayout, cohort_id: str, stage: str, work: Mapping[str, list[str]], outcomes: Iterable[Any]
) -> dict[str, Any]:
    """``write_stage_summary`` with every listed generation that returned no outcome counted as failed."""
    returned = [o for o in map(_outcome_value, _flat(outcomes)) if o is not None]
    seen = {o.get("gen_id") for o in returned}
    missing = [g for tier in (*TIERS, BATCH_LANE) for g in work.get(tier, []) if g not in seen]
    summary = write_stage_summary(layout, cohort_id, stage, [*returned, *crashed(stage, missing)])
    log.info("%s", summary["text"])
    return summary


def _outcome_value(value: Any) -> dict[str, Any] | None:
    """An outcome XCom as a dict. A worker's arrives as one; a trigger's (``TaskSuccessEvent`` XComs) as
    its JSON text, since Airflow 3.3 serializes those once more when the triggerer stores them."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) and "gen_id" in value and "state" in value else None


def _flat(outcomes: Iterable[Any]) -> list[Any]:
    """A batch lane task returns the outcomes of all its generations as one list."""
    flat: list[Any] = []
    for item in outcomes:
        flat.extend(item if isinstance(item, list) else [item])
    return flat


def write_stage_summary(
    layout: DataLayout, cohort_id: str, stage: str, outcomes: list[dict[str, Any] | None]
) -> dict[str, Any]:
    """This run's outcomes next to the store's view of the stage, written to ``runs/<stage>_summary.json``."""
    from daydream.status import cohort_status

    checked = check_stage(stage)
    gen_index.compact(layout, checked)  # object storage: the status below and later reports read one segment
    ran = [o for o in outcomes if o]
    this_run: dict[str, int] = {}
    for outcome in ran:
        this_run[outcome["state"]] = this_run.get(outcome["state"], 0) + 1
    status = cohort_status(layout, cohort_id).stages[checked]
    failed = [{"gen_id": o["gen_id"], "message": o.get("message", "")} for o in ran if o["state"] == "failed"]
    budget = this_run.get("budget", 0)
    quota = this_run.get("quota", 0)
    by_batch = sum(1 for o in ran if o.get("batch_key"))
    cost = sum(float(o.get("cost_usd") or 0.0) for o in ran if o.get("called_llm"))
    text = (
        f"{checked} stage of cohort {cohort_id}: {status.done}/{status.total} done, {status.failed} failed, "
        f"{status.pending} pending, {status.stale} stale. This run: "
        + (", ".join(f"{n} {state}" for state, n in sorted(this_run.items())) or "nothing to do")
        + (f"; {budget} skipped because the budget (max_cost_usd) was reached" if budget else "")
        + (f"; {quota} wait for a model's daily quota to reset (daydream_resume runs them)" if quota else "")
        + (f"; {by_batch} by batch" if by_batch else "")
        + f"; ${cost:.4f} spent."
    )
    summary = {
        "cohort_id": cohort_id,
        "stage": checked,
        "at": utc_now(),
        "store": status.model_dump(),
        "this_run": this_run,
        "failed": failed,
        "budget": budget,
        "quota": quota,
        "by_batch": by_batch,
        "batches": sorted({o["batch_key"] for o in ran if o.get("batch_key")}),
        "cost_usd": cost,
        "text": text,
    }
    atomic.write_json(summary_file(layout, cohort_id, checked), summary)
    return summary


def run_stage_inline(
    layout: DataLayout,
    cohort_id: str,
    stage: str,
    *,
    force: bool,
    max_cost_usd: float | None,
    max_map_length: int,
    connect: Callable[[], LLMClient],
) -> dict[str, Any]:
    """The whole stage in this process, one generation after another, with one LLM client.

    The ``airflow dags test`` path: no scheduler runs a triggered stage DAG there. ``connect`` makes
    the client (and is not called when only copy-mode generations are left). No triggerer waits out a
    batch here either, so every generation is a direct call, but one an open batch holds: that one is
    left to the batch (the stage DAG, or ``daydream batch collect``), never paid again.
    """
    work = list_work(layout, cohort_id, stage, force=force, max_map_length=max_map_length)
    needs_llm = any(work[tier] for tier in TIERS if tier != LOCAL_TIER)
    llm = connect() if needs_llm else None
    outcomes: list[dict[str, Any]] = [
        {"gen_id": g, "stage": stage, "state": "busy", "message": "an open batch holds it (daydream batch list)"}
        for g in work.get(BATCH_LANE, [])
    ]
    try:
        for tier in TIERS:
            client = None if tier == LOCAL_TIER else llm
            for gen_id in work[tier]:
                outcomes.append(
                    run_generation(
                        layout, stage, gen_id, cohort_id=cohort_id, llm=client, force=force, max_cost_usd=max_cost_usd
                    )
                )
    finally:
        close = getattr(llm, "close", None)
        if close is not None:
            close()
    return summarize_stage(layout, cohort_id, stage, work, outcomes)
