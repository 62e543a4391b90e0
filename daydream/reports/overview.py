"""Every cohort of a data root with its progress, one row each, for the UI's overview page.

A data root is shared by many cohorts, and one of them being broken (a directory name outside the
id grammar, a corrupt ``membership.csv``, a link out of the data root, an unreadable file) must not
hide the others: each cohort is read on its own and a problem becomes that row's ``problem``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from daydream.errors import CohortError, DayDreamError, located, shown
from daydream.paths import DataLayout, id_problem
from daydream.reports.aggregate import ScopeData
from daydream.reports.build import headline
from daydream.reports.progress import stage_summary
from daydream.tournament.rounds import is_tournament, status_line, tournament_status

log = logging.getLogger(__name__)


class CohortRow(BaseModel):
    cohort_id: str
    built: bool = True
    """Has a membership to read (its own page exists, even when reading it fails)."""
    stages: list[dict[str, Any]] = []
    """``stage_summary`` records: stage, total, done, stale, failed, pending, invalid, unparsed."""
    headline: dict[str, Any] | None = None
    problem: str | None = None
    tournament: str | None = None
    """A tournament cohort's state (``tournament.rounds.status_line``): it has verdicts, not stages."""


def _kind(entry: os.DirEntry[str]) -> tuple[str, bool, bool]:
    """``(name, is a link, is or leads to a directory)``; a link whose target cannot be looked at is
    no directory."""
    try:
        return entry.name, entry.is_symlink(), entry.is_dir()
    except OSError:
        return entry.name, True, False


def cohort_entries(layout: DataLayout) -> list[tuple[str, str | None]]:
    """``(name, problem)`` of every entry of ``cohorts/`` that is (or claims to be) a cohort.

    Directories and links to them, hidden names skipped; a name outside the id grammar or a link
    leaving the data root is listed with its problem rather than dropped, so the page says why.
    """
    try:
        with os.scandir(layout.cohorts) as scan:
            entries = sorted(_kind(e) for e in scan if not e.name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:  # the whole cohorts/ unreadable: nothing to list, say why
        raise CohortError(located(f"cannot list the cohorts: {exc.strerror}", file=layout.cohorts)) from None
    out: list[tuple[str, str | None]] = []
    for name, is_link, is_dir in entries:
        if not (is_dir or is_link):
            continue
        problem = id_problem(name)
        if problem is not None:
            out.append((name, f"invalid cohort id {shown(name)}: {problem}"))
            continue
        try:
            layout.inside(layout.cohort_dir(name))
        except DayDreamError as exc:
            out.append((name, str(exc)))
            continue
        if not is_dir:
            out.append((name, "a link to nothing that is a directory"))
        elif os.path.lexists(layout.membership(name)) or is_tournament(layout, name):
            out.append((name, None))
        elif os.path.isdir(layout.spec_dir(name)):
            out.append((name, f"not built yet: run 'daydream cohort build {name}'"))
    return out


def cohort_row(layout: DataLayout, cohort_id: str, load: Callable[[str], ScopeData]) -> CohortRow:
    """One cohort's progress; any failure to read it is this row's problem, never the page's."""
    try:
        if is_tournament(layout, cohort_id):  # played, not built: its rounds and comparisons
            return CohortRow(cohort_id=cohort_id, tournament=status_line(tournament_status(layout, cohort_id)))
        data = load(cohort_id)
        return CohortRow(
            cohort_id=cohort_id,
            stages=stage_summary(data).to_dict("records"),
            headline=headline(data.scores, None, False).model_dump(),
        )
    except DayDreamError as exc:
        return CohortRow(cohort_id=cohort_id, problem=str(exc))
    except Exception as exc:  # one cohort's bug or unreadable file must not take down the overview
        log.exception("cannot read cohort %r", cohort_id)
        return CohortRow(
            cohort_id=cohort_id, problem=f"cannot read this cohort: {type(exc).__name__}: {shown(str(exc))}"
        )


def cohort_rows(layout: DataLayout, load: Callable[[str], ScopeData]) -> list[CohortRow]:
    rows = []
    for name, problem in cohort_entries(layout):
        if problem is not None:
            rows.append(CohortRow(cohort_id=name, built=False, problem=problem))
        else:
            rows.append(cohort_row(layout, name, load))
    return rows


def progress_text(stage: dict[str, Any]) -> str:
    """``8 done / 0 stale / 1 failed / 1 pending (of 10)``, plus the refused and unparsed when any."""
    text = (
        f"{stage['done']} done / {stage['stale']} stale / {stage['failed']} failed / "
        f"{stage['pending']} pending (of {stage['total']})"
    )
    extra = [f"{stage[k]} {k}" for k in ("invalid", "unparsed") if stage.get(k)]
    return text + (f"; {', '.join(extra)}" if extra else "")


def overview_record(row: CohortRow) -> dict[str, Any]:
    """The row as the overview table shows it."""
    record: dict[str, Any] = {"cohort": row.cohort_id}
    for stage in row.stages:
        record[stage["stage"]] = progress_text(stage)
    head = row.headline or {}
    record["scored"] = head.get("evaluations_used")
    mean = head.get("mean_score_normalized")
    record["mean (0-10)"] = None if mean is None else round(mean * 10, 2)
    if row.tournament:
        record["tournament"] = row.tournament
    record["problem"] = row.problem or ""
    return record
