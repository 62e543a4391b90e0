"""``membership.csv``: which generations belong to a cohort (docs/data-contract.md, "Cohorts").

Written in the full eight-column form; the older pipeline's two-column ``stage,gen_id`` form is read
too (never rewritten: the older pipeline must still read it), with the other columns filled from each
generation's ``metadata.json``. Every id the file (or a metadata file behind it) gives is checked
against the id grammar as it is read, column by column with pandas, because each becomes a path.
"""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from daydream import atomic
from daydream.errors import CohortError, DayDreamError, located, shown
from daydream.paths import ID_MAX_LENGTH, ID_PATTERN, STAGES, DataLayout, check_id, id_problem
from daydream.storage.objpath import readable
from daydream.store import GenMetadata, metadata_from_json, read_json_file

MEMBERSHIP_COLUMNS = [
    "stage",
    "gen_id",
    "cohort_id",
    "parent_gen_id",
    "combo_id",
    "template_id",
    "llm_model_id",
    "replicate",
]
ID_COLUMNS = {
    "gen_id": "gen id",
    "cohort_id": "cohort id",
    "parent_gen_id": "parent gen id",
    "combo_id": "combo id",
    "template_id": "template id",
    "llm_model_id": "model id",
}
"""Every id column and what its ids are; all but ``gen_id`` may be blank."""
_FILLED_FROM_METADATA = ["parent_gen_id", "combo_id", "template_id", "llm_model_id", "replicate"]
REPLICATE_PATTERN = r"\d{1,9}(\.0*)?"
"""A replicate cell: a whole number (``2.0`` too, as a spreadsheet may save it); blank means 1."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a membership is read or a cohort planned.

    Both build a million small objects that form no reference cycle (plan rows, metadata models);
    every full collection would walk them all again, a fifth to a third of the time. CPython stops
    tracking an exact tuple of strings, but never a tuple subclass like ``PlanRow`` nor a model.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def write_membership(path: Path, frame: pd.DataFrame) -> None:
    out = frame.reindex(columns=MEMBERSHIP_COLUMNS)
    atomic.write_text(path, out.to_csv(index=False, lineterminator="\n"))


def read_membership(layout: DataLayout, cohort_id: str, *, strict_ids: bool = True) -> pd.DataFrame:
    """The cohort's membership as a frame with every column; strings, replicate as int.

    ``strict_ids=False`` is for reports: a row whose id is outside the grammar is kept, so the report
    flags that one row (its paths are never built) instead of refusing a cohort of paid results.
    Anything that runs or plans generations reads strictly.
    """
    path = layout.inside(layout.membership(cohort_id))
    frame = _read_csv(path, cohort_id)
    for column in ("stage", "gen_id"):
        if column not in frame.columns:
            raise CohortError(located("missing required column", file=path, row=1, field=column))
    bad_stage = ~frame["stage"].isin(STAGES)
    if bad_stage.any():
        raise CohortError(
            located(
                f"unknown stage {shown(frame.loc[bad_stage, 'stage'].iloc[0])} (expected one of {', '.join(STAGES)})",
                file=path,
                row=_first_row(bad_stage),
                field="stage",
            )
        )
    missing = [c for c in _FILLED_FROM_METADATA if c not in frame.columns]
    if strict_ids or missing:  # the older form's ids are paths to the metadata that fills it
        check_id_columns(frame, file=path)
    if "cohort_id" not in frame.columns:
        frame["cohort_id"] = cohort_id
    if missing:
        with gc_paused():
            frame = _fill_from_metadata(layout, frame, missing, path)
    frame = frame.reindex(columns=MEMBERSHIP_COLUMNS).fillna("")
    frame["replicate"] = _replicates(frame["replicate"], path)
    return frame


def _read_csv(path: Path, cohort_id: str) -> pd.DataFrame:
    if path.is_dir():
        raise CohortError(located("is a directory, expected a CSV file", file=path))
    if not path.is_file():
        raise CohortError(
            located(f"cohort {cohort_id!r} has no membership; run 'daydream cohort build {cohort_id}'", file=path)
        )
    try:
        return pd.read_csv(readable(path), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CohortError(located(f"unreadable CSV: {str(exc).splitlines()[0]}", file=path)) from None
    except OSError as exc:
        raise CohortError(located(f"cannot read: {exc.strerror or exc}", file=path)) from None


def _first_row(mask: pd.Series) -> int:
    """The spreadsheet row (header = 1) of the first true cell of ``mask``."""
    return int(mask.to_numpy().nonzero()[0][0]) + 2


def _bad_line(blank_ok: bool) -> re.Pattern[str]:
    """Finds a line that is not an id (or not blank, when blanks are allowed) in newline-joined values."""
    good = f"(?=[^\\n]{{1,{ID_MAX_LENGTH}}}$){ID_PATTERN}$"
    return re.compile(f"^(?!{good}){'(?!$)' if blank_ok else ''}", re.MULTILINE)


_BAD_LINE = {True: _bad_line(True), False: _bad_line(False)}


def invalid_ids(values: pd.Series, *, blank_ok: bool, repeats: bool = True) -> pd.Series:
    """Which cells are not ids of the grammar.

    A clean column, the usual case, costs one regular-expression scan of its cells joined by newlines
    (a million gen ids in a fraction of a second), over its distinct values when it ``repeats`` (most
    columns repeat a few ids; gen ids do not, and deduplicating them costs more than it saves). Only
    a column with a problem (or a value spanning lines) is checked value by value with
    ``str.fullmatch`` to find the offending cells.
    """
    cells = values.to_numpy(dtype=object)
    if repeats:
        cells = pd.unique(cells)
    joined = "\n".join(cells)
    if joined.count("\n") == len(cells) - 1 and not _BAD_LINE[blank_ok].search(joined):
        return pd.Series(False, index=values.index)
    distinct = pd.Series(cells, dtype=str)
    good = distinct.str.fullmatch(ID_PATTERN) & (distinct.str.len() <= ID_MAX_LENGTH)
    if blank_ok:
        good |= distinct == ""
    return values.isin(distinct[~good.astype(bool)])


def check_id_columns(frame: pd.DataFrame, *, file: Path) -> None:
    """Every id column of ``frame`` in the grammar; the first bad cell is an error naming its row and column."""
    for column, kind in ID_COLUMNS.items():
        if column not in frame.columns:
            continue
        bad = invalid_ids(frame[column].astype(str), blank_ok=column != "gen_id", repeats=column != "gen_id")
        if bad.any():
            value = frame.loc[bad, column].iloc[0]
            check_id(value, kind=kind, file=file, row=_first_row(bad), field=column, error=CohortError)


def check_metadata_ids(meta: GenMetadata, path: str | Path) -> None:
    """The ids a ``metadata.json`` gives that a cohort turns into paths, each in the grammar."""
    for column in ("parent_gen_id", "combo_id", "template_id", "llm_model_id"):
        value = getattr(meta, column)
        if value:
            check_id(value, kind=ID_COLUMNS[column], file=path, field=column, error=CohortError)


def _replicates(values: pd.Series, path: Path) -> pd.Series:
    """Replicate cells as ints (blank = 1); each distinct cell is checked once."""
    codes, cells = pd.factorize(values.to_numpy(dtype=object))
    numbers = []
    for cell in cells:
        text = str(cell).strip() or "1"
        if not re.fullmatch(REPLICATE_PATTERN, text):
            raise CohortError(
                located(
                    f"expected a whole number, got {shown(text, 40)}",
                    file=path,
                    row=_first_row(values == cell),
                    field="replicate",
                )
            )
        numbers.append(int(float(text)))
    return pd.Series(np.asarray(numbers, dtype=np.int64)[codes], index=values.index)


# -- the older two-column form ----------------------------------------------------------------------


READ_CHUNK = 1024
READ_THREADS = 4
FROM_DISK_S = 100e-6
"""How the older form's metadata files are read: the first ``READ_CHUNK`` files one after another, and
the rest the same way when that took less than ``FROM_DISK_S`` per file (their data is in the page
cache), else by ``READ_THREADS`` threads, ``READ_CHUNK`` files per task, so the disk serves several
reads at once. Measured with 106k files on the 2-core machine (benchmarks/bench_older_membership.py):
cached, 2.2-3.2 s one after another and 3-5 s with 4 threads (they contend for the GIL); from disk,
15-30 s one after another, 8-11 s with 4 threads, 10-14 s with 8."""


def _read_listed(layout: DataLayout, frame: pd.DataFrame, path: Path) -> list[GenMetadata]:
    """Each listed generation's metadata, in membership order.

    Read with ``read_json_file`` on strings rather than through ``GensStore`` (which builds and
    checks a ``Path`` per call): 100k files take seconds instead of tens of seconds. The ids were
    checked against the grammar already, so the string paths stay inside ``gens/``; parsing is the
    store's own (``metadata_from_json``), so every file reads exactly as ``GensStore.read_metadata``
    reads it. A problem is reported for the first row that has one, as a one-by-one reading would.
    """
    gens = str(layout.gens)
    listed = list(zip(frame["stage"].tolist(), frame["gen_id"].tolist(), strict=True))

    def read_chunk(start: int) -> list[GenMetadata]:
        metas = []
        for row_no, (stage, gen_id) in enumerate(listed[start : start + READ_CHUNK], start=start + 2):
            file = f"{gens}/{stage}/{gen_id}/metadata.json"
            try:
                data = read_json_file(file)
            except OSError as exc:
                raise CohortError(located(f"cannot read: {exc.strerror or exc}", file=file)) from None
            if data is None:
                raise CohortError(
                    located(
                        f"{stage} {gen_id} has no gens/{stage}/{gen_id}/metadata.json to fill the "
                        f"two-column membership from",
                        file=path,
                        row=row_no,
                        field="gen_id",
                    )
                )
            metas.append(metadata_from_json(stage, gen_id, data, path=file))
        return metas

    started = time.perf_counter()
    metas = read_chunk(0) if listed else []
    rest = range(READ_CHUNK, len(listed), READ_CHUNK)
    if not rest or time.perf_counter() - started < FROM_DISK_S * len(metas):
        return metas + [meta for start in rest for meta in read_chunk(start)]
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        return metas + [meta for chunk in pool.map(read_chunk, rest) for meta in chunk]


class _Combos:
    """An essay's or evaluation's combo is its parent draft's: looked up through the listed generations
    first, then ``gens/``; each parent is resolved once however many children it has."""

    def __init__(self, layout: DataLayout, listed: dict[str, GenMetadata]):
        self.gens = str(layout.gens)
        self.listed = listed
        self.memo: dict[tuple[str, str, int], str | None] = {}

    def _from_store(self, stage: str, gen_id: str) -> GenMetadata | None:
        if id_problem(gen_id) is not None:  # reported with its file by the id check of the filled columns
            return None
        file = f"{self.gens}/{stage}/{gen_id}/metadata.json"
        try:
            data = read_json_file(file)
            return metadata_from_json(stage, gen_id, data, path=file) if data is not None else None  # type: ignore[arg-type]
        except (DayDreamError, OSError):  # a broken parent leaves the combo unknown
            return None

    def of(self, meta: GenMetadata, depth: int = 0) -> str | None:
        """A draft's combo; else the parent's (from this membership, else gens/), at most two levels up."""
        if meta.stage == "draft" or meta.combo_id or not meta.parent_gen_id or depth > 2:
            return meta.combo_id
        key = (meta.stage, meta.parent_gen_id, depth)
        if key not in self.memo:
            parent = self.listed.get(meta.parent_gen_id)
            for stage in ("draft",) if meta.stage == "essay" else ("essay", "draft"):
                if parent is None:
                    parent = self._from_store(stage, meta.parent_gen_id)
            self.memo[key] = self.of(parent, depth + 1) if parent is not None else None
        return self.memo[key]


def _fill_from_metadata(layout: DataLayout, frame: pd.DataFrame, missing: list[str], path: Path) -> pd.DataFrame:
    """Columns from each generation's metadata; an essay's or evaluation's combo from its parent's."""
    metas = _read_listed(layout, frame, path)
    combos = _Combos(layout, {meta.gen_id: meta for meta in metas})
    filled: dict[str, list[str]] = {}
    for column in missing:
        if column == "combo_id":
            values = [combos.of(meta) for meta in metas]
        else:
            values = [getattr(meta, column) for meta in metas]
        filled[column] = ["" if value is None else str(value) for value in values]
    out = frame.assign(**filled)
    for column in missing:
        if column not in ID_COLUMNS:
            continue
        bad = invalid_ids(out[column], blank_ok=True)
        if bad.any():
            position = int(bad.to_numpy().nonzero()[0][0])
            stage, gen_id = out["stage"].iloc[position], out["gen_id"].iloc[position]
            check_id(
                out[column].iloc[position],
                kind=ID_COLUMNS[column],
                file=f"{layout.gens}/{stage}/{gen_id}/metadata.json",
                field=column,
                error=CohortError,
            )
    return out


def stage_rows(frame: pd.DataFrame, stage: str) -> pd.DataFrame:
    return frame[frame["stage"] == stage]
