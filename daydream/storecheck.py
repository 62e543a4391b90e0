"""Health of the gens store: what a researcher must know before trusting or resuming it.

It never says healthy when it could not look: a ``gens/`` that is a file or unreadable, a stage
directory it cannot list, an unreadable or truncated ``combo_mappings.csv`` or catalog are problems
like any other (exit 1). Store entries that are symlinks or not valid ids are reported and never
followed. Answers kept under ``attempts/`` (docs/data-contract.md, "attempts") are listed as notes:
they are not problems, but a researcher should know they are there.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from daydream import atomic
from daydream.attempts import INCOMING, Attempts
from daydream.catalogs import Catalogs
from daydream.combos import ComboCatalog
from daydream.csvio import read_rows
from daydream.errors import ComboError, DayDreamError, StoreError, located, shown
from daydream.paths import STAGES, DataLayout, Stage
from daydream.status import TemplateShas
from daydream.store import ATTEMPTS_DIR, ERROR_FILE, KNOWN_FILES, GensStore, GenState

PROBLEM_KINDS = (
    "missing_metadata",
    "unreadable_metadata",
    "raw_without_parsed",
    "failed",
    "broken_parent",
    "unknown_combo",
    "stale",
    "outside_layout",
    "leftover_temp",
    "unreadable",
    "invalid_entry",
    "bad_catalog",
    "interrupted_attempt",
)
DETAIL_CHARS = 200
MAX_CATALOG_ROWS = 20
"""Row problems of ``combo_mappings.csv`` listed one by one; the rest are counted."""


_Loaded = TypeVar("_Loaded")


class StoreIssue(BaseModel):
    kind: str
    stage: str
    gen_id: str
    detail: str


class StoreReport(BaseModel):
    generations: dict[str, int]
    issues: list[StoreIssue]
    attempts: list[StoreIssue] = []  # kept answers: notes, not problems

    def counts(self) -> Counter[str]:
        return Counter(issue.kind for issue in self.issues)

    @property
    def healthy(self) -> bool:
        return not self.issues

    def table(self, limit: int = 200) -> str:
        gens = ", ".join(f"{stage} {n}" for stage, n in self.generations.items())
        lines = [f"gens store: {gens}"]
        if self.attempts:
            lines.append(f"kept attempts (answers beside the current outputs, not problems): {len(self.attempts)}")
            lines.extend(_rows(self.attempts, limit))
        if self.healthy:
            lines.append("no problems found")
            return "\n".join(lines)
        lines.extend(_rows(self.issues, limit))
        lines.append("summary: " + ", ".join(f"{kind} {n}" for kind, n in sorted(self.counts().items())))
        return "\n".join(lines)


def _rows(issues: list[StoreIssue], limit: int) -> list[str]:
    lines = [f"{'kind':<20}{'stage':<11}{'gen_id':<26}detail"]
    lines.extend(f"{i.kind:<20}{i.stage:<11}{i.gen_id:<26}{i.detail}" for i in issues[:limit])
    if len(issues) > limit:
        lines.append(f"... {len(issues) - limit} more")
    return lines


class _Check:
    def __init__(self, layout: DataLayout, catalogs: Catalogs | None):
        self.layout = layout
        self.store = GensStore(layout)
        self.issues: list[StoreIssue] = []
        self.attempts: list[StoreIssue] = []
        self.catalogs = catalogs or self._load(lambda: Catalogs.load(layout))
        self.shas = TemplateShas(self.catalogs) if self.catalogs else None
        self.combos = self._load(lambda: ComboCatalog(layout.combo_mappings))

    def add(self, kind: str, stage: str, gen_id: str, detail: str) -> None:
        self.issues.append(StoreIssue(kind=kind, stage=stage, gen_id=gen_id, detail=detail[:DETAIL_CHARS]))

    def _load(self, load: Callable[[], _Loaded]) -> _Loaded | None:
        try:
            return load()
        except DayDreamError as exc:
            self.add("bad_catalog", "-", "-", f"{exc} (checks that need it were skipped)")
            return None


def check_store(layout: DataLayout, catalogs: Catalogs | None = None) -> StoreReport:
    if not layout.root.is_dir():
        raise StoreError(located("data root not found (or not a directory)", file=layout.root))
    check = _Check(layout, catalogs)
    _check_combo_catalog(check)
    present = _scan_gens(check)
    for stage in STAGES:
        for gen_id in sorted(present[stage]):
            _check_generation(check, stage, gen_id, present)
    generations: dict[str, int] = {stage: len(present[stage]) for stage in STAGES}
    _check_comparisons(check, present, generations)
    return StoreReport(generations=generations, issues=check.issues, attempts=check.attempts)


def _check_comparisons(check: _Check, present: dict[Stage, set[str]], generations: dict[str, int]) -> None:
    """Comparison generations (two parents, ``gens/comparison/``): ``daydream.tournament.checks``."""
    from daydream.tournament.checks import check_comparisons
    from daydream.tournament.store import COMPARISON_STAGE, ComparisonStore

    count = check_comparisons(ComparisonStore(check.layout), present["essay"], check.add)
    if count:
        generations[COMPARISON_STAGE] = count


def _scan_gens(check: _Check) -> dict[Stage, set[str]]:
    """The generation directories of each stage; everything else in ``gens/`` is reported."""
    gens = check.layout.gens
    present: dict[Stage, set[str]] = {stage: set() for stage in STAGES}
    if not gens.exists() and not gens.is_symlink():
        return present
    try:
        if gens.is_symlink() or not gens.is_dir():
            check.add("unreadable", "-", "-", f"{gens} is not a directory: the store could not be checked")
            return present
        entries = sorted(os.listdir(gens))
    except OSError as exc:
        check.add("unreadable", "-", "-", f"{gens}: cannot list ({exc.strerror or exc}): the store was not checked")
        return present
    for entry in entries:
        if entry not in STAGES and entry != "comparison":  # comparisons: _check_comparisons
            check.add("outside_layout", "-", "-", f"gens/{shown(entry)} is not a stage directory")
    for stage in STAGES:
        try:
            ids, strays = check.store.scan(stage)
        except StoreError as exc:
            check.add("unreadable", stage, "-", f"{exc}: this stage was not checked")
            continue
        present[stage] = set(ids)
        for stray in strays:
            kind = "outside_layout" if stray.why.startswith("a file") else "invalid_entry"
            check.add(kind, stage, "-", f"gens/{stage}/{shown(stray.name)} is {stray.why}")
    return present


def _check_generation(check: _Check, stage: Stage, gen_id: str, present: dict[Stage, set[str]]) -> None:
    store = check.store
    gen_dir = store.dir(stage, gen_id)
    try:
        with os.scandir(gen_dir) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError as exc:
        check.add("unreadable", stage, gen_id, f"{gen_dir}: cannot list ({exc.strerror or exc})")
        return
    names = [entry.name for entry in entries]
    for entry in entries:
        if atomic.interrupted_target(entry.name) is not None:
            check.add("leftover_temp", stage, gen_id, f"{entry.name} (an interrupted write; safe to delete)")
        elif entry.name not in KNOWN_FILES:
            check.add("outside_layout", stage, gen_id, f"unexpected file {shown(entry.name)}")
        elif entry.name != ATTEMPTS_DIR and not entry.is_file(follow_symlinks=False):
            what = "a symlink (never followed)" if entry.is_symlink() else "not a regular file"
            check.add("unreadable", stage, gen_id, f"{entry.name} is {what}")
    if ATTEMPTS_DIR in names:
        _check_attempts(check, stage, gen_id)
    try:
        meta = store.read_metadata(stage, gen_id)
    except StoreError as exc:
        check.add("unreadable_metadata", stage, gen_id, str(exc))
        return
    if meta is None:
        check.add("missing_metadata", stage, gen_id, "no metadata.json")
        return
    sha = check.shas.get(stage, meta.template_id or "") if check.shas else None
    state, problem = store.inspect(stage, gen_id, sha)
    if state == GenState.BROKEN:
        _broken(check, stage, gen_id, problem)
    elif state == GenState.FAILED:
        _failed(check, stage, gen_id, "raw.txt" in names)
    elif state == GenState.STALE:
        check.add("stale", stage, gen_id, f"template {meta.template_id} changed since this ran")
    if stage == "draft":
        if check.combos is not None and meta.combo_id and meta.combo_id not in check.combos:
            check.add("unknown_combo", stage, gen_id, f"combo {meta.combo_id} not in combo_mappings.csv")
        return
    parent = meta.parent_gen_id or ""
    ok = parent in present["draft"] if stage == "essay" else (parent in present["essay"] or parent in present["draft"])
    if not ok:
        check.add("broken_parent", stage, gen_id, f"parent {parent or '(none)'} not in the store")


def _broken(check: _Check, stage: Stage, gen_id: str, problem: StoreError | None) -> None:
    try:
        check.store.read_json(stage, gen_id, "raw_metadata.json")
    except StoreError as exc:
        check.add("unreadable_metadata", stage, gen_id, str(exc))
        return
    check.add("unreadable", stage, gen_id, str(problem or "its files cannot be read"))


def _failed(check: _Check, stage: Stage, gen_id: str, has_raw: bool) -> None:
    try:
        detail = str((check.store.read_json(stage, gen_id, ERROR_FILE) or {}).get("error") or "")
    except StoreError as exc:
        detail = str(exc)
    check.add("raw_without_parsed" if has_raw else "failed", stage, gen_id, detail or "raw.txt kept, no parsed.txt")


def _check_attempts(check: _Check, stage: Stage, gen_id: str) -> None:
    attempts = Attempts(check.store, stage, gen_id)
    if attempts.incoming.exists():
        check.add(
            "interrupted_attempt",
            stage,
            gen_id,
            f"{ATTEMPTS_DIR}/{INCOMING} holds a forced rerun's answer that was never judged; "
            "the next forced rerun files it, or delete it",
        )
    for record in attempts.records():
        detail = f"{ATTEMPTS_DIR}/{record.attempt} {record.at}: {record.reason}"
        check.attempts.append(StoreIssue(kind=record.status, stage=stage, gen_id=gen_id, detail=detail[:DETAIL_CHARS]))


def _check_combo_catalog(check: _Check) -> None:
    """``combo_mappings.csv`` as written, not as its reader forgives it: a cut last line, rows with
    empty cells, concepts the catalog lacks, combos with fewer rows than their ``k_max``."""
    path = check.layout.combo_mappings
    if not path.exists() or check.combos is None:
        return
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell():
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    check.add("bad_catalog", "-", "-", f"{path}: the last line has no newline (a cut write?)")
    except OSError as exc:
        check.add("bad_catalog", "-", "-", f"{path}: cannot read ({exc.strerror or exc})")
        return
    problems = list(_combo_row_problems(path, check.catalogs))
    for problem in problems[:MAX_CATALOG_ROWS]:
        check.add("bad_catalog", "-", "-", problem)
    if len(problems) > MAX_CATALOG_ROWS:
        check.add("bad_catalog", "-", "-", f"{path}: {len(problems) - MAX_CATALOG_ROWS} more row problem(s)")


def _combo_row_problems(path: Path, catalogs: Catalogs | None) -> list[str]:
    problems: list[str] = []
    members: Counter[str] = Counter()
    k_max: dict[str, str] = {}
    try:
        for row_no, row in read_rows(path, ["combo_id", "concept_id"], error=ComboError):
            for field in ("combo_id", "concept_id"):
                if not row.get(field):
                    problems.append(located("empty cell (a truncated row?)", file=path, row=row_no, field=field))
            concept = row.get("concept_id", "")
            if concept and catalogs is not None and concept not in catalogs.concepts:
                problems.append(located(f"unknown concept {shown(concept)}", file=path, row=row_no, field="concept_id"))
            members[row.get("combo_id", "")] += 1
            k_max.setdefault(row.get("combo_id", ""), row.get("k_max", ""))
    except ComboError as exc:
        return [str(exc)]
    for combo, count in members.items():
        declared = k_max.get(combo, "")
        if combo and declared.isdigit() and int(declared) != count:
            problems.append(located(f"combo {combo} has {count} concept row(s) but k_max {declared}", file=path))
    return problems
