"""A cohort run: build it, write its reports, say how the run ended, and find the cohorts to resume.

``daydream_cohort`` builds the cohort, runs the three stage DAGs and the report DAG, then asks
``cohort_outcome`` whether anything failed. ``daydream_resume`` asks ``resume_confs`` which cohorts
still have work, each with the budget its last run was given.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from daydream import atomic
from daydream.catalogs import Catalogs
from daydream.errors import CohortError, DayDreamError, first_problem, located
from daydream.orchestration.stage import summary_file
from daydream.paths import STAGES, DataLayout, id_problem
from daydream.store import GenState

log = logging.getLogger("daydream.orchestration")

Budget = Annotated[float, Field(ge=0, strict=True, allow_inf_nan=False)]
"""A cohort run's ``max_cost_usd`` in US dollars: a finite number >= 0 (numbers only: ``"2.5"`` or
``"null"`` as text are refused)."""

MAX_LISTED_FAILURES = 20
"""How many failed gen ids a cohort run's message lists by name (the rest are counted)."""


def cohort_choices(layout: DataLayout) -> list[str]:
    """The cohorts under ``cohorts/`` a run can name: a directory outside the id grammar is left out."""
    from daydream.cohorts import list_cohorts

    return [c for c in list_cohorts(layout) if id_problem(c) is None]


def build_cohort(layout: DataLayout, cohort_id: str, *, dry_run: bool = False) -> dict[str, Any]:
    from daydream.cohorts import build_cohort as _build_cohort

    result = _build_cohort(layout, cohort_id, dry_run=dry_run)
    return {**result.model_dump(mode="json"), "text": result.describe()}


def build_reports(layout: DataLayout, cohort_id: str, *, embed: Any = None) -> dict[str, Any]:
    """The cohort's reports (``cohorts/<id>/reports/``): tables, charts, ``index.html``; ``embed``
    (``reports.diversity.embedder_for``) adds embedding clusters of ideas."""
    from daydream.reports import build_cohort_reports

    result = build_cohort_reports(layout, cohort_id, embed=embed)
    headline = result.headline.model_dump(mode="json")
    index = layout.reports(cohort_id) / "index.html"
    log.info(
        "reports of cohort %s: %d files, %s; %s evaluations scored, mean score %s",
        cohort_id,
        len(result.paths),
        index,
        headline.get("scored"),
        headline.get("mean_score"),
    )
    return {"cohort_id": cohort_id, "index": str(index), "files": len(result.paths), "headline": headline}


# -- the budget a resume keeps ---------------------------------------------------------------------


class RunSettings(BaseModel):
    """``cohorts/<id>/runs/run_settings.json``: the budget of the cohort's last run.

    The scheduled resume reuses it, so a resumed cohort never spends past the budget its last run
    was given.
    """

    model_config = ConfigDict(extra="ignore")

    max_cost_usd: Budget | None = None


def run_settings_file(layout: DataLayout, cohort_id: str) -> Path:
    return layout.runs_dir(cohort_id) / "run_settings.json"


def save_run_settings(layout: DataLayout, cohort_id: str, max_cost_usd: float | None) -> None:
    atomic.write_json(run_settings_file(layout, cohort_id), RunSettings(max_cost_usd=max_cost_usd).model_dump())


def resumed_settings(layout: DataLayout, cohort_id: str) -> dict[str, Any]:
    """The conf a resume adds for this cohort: the budget its last run was given, if any.

    No file: the cohort was never run by a DAG, so no budget was given. A file that cannot be read is
    an error rather than "no budget": a resume must not spend what the researcher capped.
    """
    path = run_settings_file(layout, cohort_id)
    if not path.exists():
        return {}
    try:
        settings = RunSettings.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise CohortError(located(f"unreadable: {exc.strerror or exc}", file=path)) from None
    except ValidationError as exc:
        field, message = first_problem(exc)
        raise CohortError(located(message, file=path, field=field)) from None
    return {} if settings.max_cost_usd is None else {"max_cost_usd": settings.max_cost_usd}


def unfinished_cohorts(layout: DataLayout) -> list[str]:
    """Built cohorts with pending or failed generations; a cohort that cannot be read is left out."""
    from daydream.status import cohort_status

    out = []
    for cohort_id in cohort_choices(layout):
        try:
            if layout.membership(cohort_id).exists() and cohort_status(layout, cohort_id).unfinished:
                out.append(cohort_id)
        except DayDreamError as exc:
            log.warning("cohort %s is not resumed: %s", cohort_id, exc)
    return out


def resume_confs(layout: DataLayout) -> list[dict[str, Any]]:
    """The conf of one ``daydream_cohort`` run per unfinished cohort, each with its last budget."""
    confs = []
    for cohort_id in unfinished_cohorts(layout):
        try:
            confs.append({"cohort_id": cohort_id, **resumed_settings(layout, cohort_id)})
        except DayDreamError as exc:
            log.warning("cohort %s is not resumed: %s", cohort_id, exc)
    log.info("unfinished cohorts: %s", ", ".join(c["cohort_id"] for c in confs) or "none")
    return confs


# -- how a cohort run ended ------------------------------------------------------------------------


def read_stage_summaries(
    layout: DataLayout, cohort_id: str, stages: Iterable[str], *, since: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """The stage summaries written at or after ``since`` (older ones belong to earlier runs)."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    out = {}
    for stage in stages:
        try:
            summary = json.loads(summary_file(layout, cohort_id, stage).read_text(encoding="utf-8"))
            written = datetime.fromisoformat(str(summary["at"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if since is None or written >= since.replace(microsecond=0):
            out[stage] = summary
    return out


def cohort_failures(layout: DataLayout, cohort_id: str, stages: Iterable[str] | None = None) -> list[str]:
    """Gen ids of the cohort (of ``stages``, default all) whose generation failed."""
    from daydream.membership import read_membership
    from daydream.status import member_states

    wanted = set(STAGES if stages is None else stages)
    catalogs = Catalogs.load(layout)
    membership = read_membership(layout, cohort_id)
    membership = membership[membership["stage"].isin(wanted)]
    states = member_states(layout, membership, catalogs)
    return [gen_id for gen_id, state in zip(membership["gen_id"], states, strict=False) if state == GenState.FAILED]


class CohortOutcome(BaseModel):
    """What one ``daydream_cohort`` run did; ``ok`` is false when a generation or a step failed."""

    cohort_id: str
    stages: list[str]
    failed: list[str]
    broken_steps: list[str]
    text: str

    @property
    def ok(self) -> bool:
        return not self.failed and not self.broken_steps


def cohort_outcome(
    layout: DataLayout,
    cohort_id: str,
    *,
    ran: Sequence[str],
    broken_steps: Sequence[str],
    started: datetime | None,
) -> CohortOutcome:
    """The run's summary: the stages it ran, their summaries, the failed generations and steps."""
    summaries = read_stage_summaries(layout, cohort_id, ran, since=started)
    failed = {f["gen_id"] for v in summaries.values() for f in v.get("failed", [])}
    try:
        if ran:
            failed |= set(cohort_failures(layout, cohort_id, ran))
    except DayDreamError as exc:  # no membership when the build failed
        log.warning("cannot read the cohort's failures: %s", exc)
    skipped = [s for s in STAGES if s not in ran]
    lines = [
        f"cohort {cohort_id}: stages run: {', '.join(ran) or 'none'}"
        + (f" (skipped: {', '.join(skipped)})" if skipped else "")
    ]
    lines += [summaries[s]["text"] for s in STAGES if summaries.get(s, {}).get("text")]
    if failed:
        names = sorted(failed)
        more = len(names) - MAX_LISTED_FAILURES
        lines.append(
            f"{len(names)} generation(s) failed: {', '.join(names[:MAX_LISTED_FAILURES])}"
            + (f" and {more} more" if more > 0 else "")
            + " (messages in runs/<stage>_summary.json and each generation's task log; a rerun retries them)"
        )
    if broken_steps:
        lines.append(f"task(s) failed: {', '.join(sorted(broken_steps))} (see their logs)")
    reports = layout.reports(cohort_id) / "index.html"
    if reports.exists():
        lines.append(f"reports: {reports}")
    return CohortOutcome(
        cohort_id=cohort_id,
        stages=list(ran),
        failed=sorted(failed),
        broken_steps=sorted(broken_steps),
        text="\n".join(lines),
    )
