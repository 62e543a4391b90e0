"""Reading what defines a cohort: its id, its directory, a curated list of gen ids, its manifest.

Everything here comes from a user (a CLI argument, a directory name, a hand-written list) and may
become a path, so each id is checked against the one id grammar (``daydream.paths``) where it enters,
with the file and line, and each file problem (a directory where a file belongs, a permission) is a
one-line ``CohortError`` rather than a traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daydream.errors import CohortError, OutsideDataRootError, located
from daydream.paths import DataLayout, check_id, id_problem

SELECTED_ESSAYS = "selected_essays.txt"
SELECTED_DRAFTS = "selected_drafts.txt"
LISTED = 20
"""How many existing cohorts an error about an unknown one lists."""


@contextmanager
def os_errors_as_one_line(verb: str = "read") -> Iterator[None]:
    """An ``OSError`` (permission denied, a file where a directory belongs) as a one-line ``CohortError``.

    The specific checks name the common cases; this keeps the rare ones (a file made unreadable
    between two steps, a full disk) from reaching the user as a traceback.
    """
    try:
        yield
    except OSError as exc:
        where = Path(os.fsdecode(exc.filename)) if exc.filename is not None else None
        raise CohortError(located(f"cannot {verb}: {exc.strerror or exc}", file=where)) from None


@dataclass(frozen=True)
class CohortEntry:
    """A directory under ``cohorts/``; ``problem`` says why it cannot be used as a cohort, if it cannot."""

    cohort_id: str
    problem: str | None = None


def _entry(layout: DataLayout, path: Path) -> CohortEntry | None:
    try:
        if not path.is_dir() or path.name.startswith("."):
            return None
        layout.inside(path)
        looks_like_a_cohort = (path / "spec").is_dir() or (path / "membership.csv").exists()
    except OSError as exc:
        return CohortEntry(path.name, f"cannot read the directory: {exc.strerror}")
    except OutsideDataRootError:
        return CohortEntry(path.name, f"a link that leaves the data root (to {os.path.realpath(path)})")
    if not looks_like_a_cohort:
        return None
    problem = id_problem(path.name)
    return CohortEntry(path.name, None if problem is None else f"not a valid cohort id: {problem}")


def scan_cohorts(layout: DataLayout) -> list[CohortEntry]:
    """Every directory under ``cohorts/`` that holds a spec or a membership, usable or not."""
    if not layout.cohorts.exists():
        return []
    if not layout.cohorts.is_dir():
        raise CohortError(located("is not a directory", file=layout.cohorts))
    with os_errors_as_one_line("list"):
        children = sorted(layout.cohorts.iterdir())
    return [entry for entry in (_entry(layout, child) for child in children) if entry is not None]


def list_cohorts(layout: DataLayout) -> list[str]:
    """The cohorts that can be used: a valid id, a readable directory with a spec or a membership.

    Others are left out rather than raised, so one broken directory never hides the rest from the
    DAG form, the resume DAG or the UI; ``scan_cohorts`` reports them.
    """
    try:
        return [entry.cohort_id for entry in scan_cohorts(layout) if entry.problem is None]
    except CohortError:
        return []


def check_cohort_id(layout: DataLayout, cohort_id: str, *, no_code: bool) -> None:
    """A cohort must exist as a directory: a typo in an id must not plan (and pay for) the whole no-code cohort."""
    check_id(cohort_id, kind="cohort id", field="cohort_id")
    cohort_dir = layout.inside(layout.cohort_dir(cohort_id))
    with os_errors_as_one_line():
        layout.inside(layout.spec_dir(cohort_id))
        if cohort_dir.exists() and not cohort_dir.is_dir():
            raise CohortError(located("is not a directory (a cohort is a directory under cohorts/)", file=cohort_dir))
        spec_dir = layout.spec_dir(cohort_id)
        if spec_dir.exists() and not spec_dir.is_dir():
            raise CohortError(located("is not a directory (it holds config.yaml or a selected list)", file=spec_dir))
        if cohort_dir.is_dir() or no_code:
            return
    known = list_cohorts(layout)
    listed = ", ".join(known[:LISTED]) + (f" ... ({len(known)} in all)" if len(known) > LISTED else "")
    raise CohortError(
        located(
            f"cohort {cohort_id!r} not found (existing: {listed or 'none'}); create "
            f"cohorts/{cohort_id}/spec/config.yaml, or pass --no-code for every k-subset of the active concepts",
            file=cohort_dir,
        )
    )


def read_id_list(path: Path) -> list[str]:
    """One gen id per line, ``#`` comments and blank lines ignored, duplicates dropped."""
    return list(id_lines(path))


def id_lines(path: Path) -> dict[str, int]:
    """Each listed gen id -> the line it is first listed on; an id outside the grammar names its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CohortError(located(f"cannot read: not UTF-8 text ({exc.reason})", file=path)) from None
    except OSError as exc:
        raise CohortError(located(f"cannot read: {exc.strerror or exc}", file=path)) from None
    lines: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        gen_id = raw.split("#", 1)[0].strip()
        if gen_id and gen_id not in lines:
            lines[check_id(gen_id, kind="gen id", file=path, line=number, field="gen_id", error=CohortError)] = number
    return lines


def read_manifest(layout: DataLayout, cohort_id: str) -> dict[str, Any]:
    """The cohort's ``manifest.json``, or ``{}`` when it has not been built."""
    path = layout.manifest(cohort_id)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CohortError(located(f"unreadable JSON: {exc}", file=path)) from None
    except OSError as exc:
        raise CohortError(located(f"cannot read: {exc.strerror or exc}", file=path)) from None
    if not isinstance(data, dict):
        raise CohortError(located(f"expected a JSON object, got {type(data).__name__}", file=path))
    return data


def manifest_total(layout: DataLayout, cohort_id: str) -> int | None:
    """How many generations the manifest counts, None when unbuilt; a malformed count is an error."""
    manifest = read_manifest(layout, cohort_id)
    if not manifest:
        return None
    counts = manifest.get("counts")
    if not isinstance(counts, dict) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts.values()
    ):
        raise CohortError(
            located("expected a mapping of stage -> count", file=layout.manifest(cohort_id), field="counts")
        )
    return sum(counts.values())
