"""``membership.csv``: which generations belong to a cohort (data-contract section 5).

Written in the full eight-column form; the older pipeline's two-column ``stage,gen_id`` form is read
too, with the other columns filled from each generation's ``metadata.json``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd

from daydream import atomic
from daydream.errors import CohortError, DayDreamError, located
from daydream.paths import STAGES, DataLayout
from daydream.store import GenMetadata, GensStore

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
_FILLED_FROM_METADATA = ["parent_gen_id", "combo_id", "template_id", "llm_model_id", "replicate"]


def write_membership(path: Path, frame: pd.DataFrame) -> None:
    out = frame.reindex(columns=MEMBERSHIP_COLUMNS)
    atomic.write_text(path, out.to_csv(index=False, lineterminator="\n"))


def read_membership(layout: DataLayout, cohort_id: str) -> pd.DataFrame:
    """The cohort's membership as a frame with every column; strings, replicate as int."""
    path = layout.membership(cohort_id)
    if not path.is_file():
        raise CohortError(
            located(f"cohort {cohort_id!r} has no membership; run 'daydream cohort build {cohort_id}'", file=path)
        )
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CohortError(located(f"unreadable CSV: {str(exc).splitlines()[0]}", file=path)) from None
    for column in ("stage", "gen_id"):
        if column not in frame.columns:
            raise CohortError(located("missing required column", file=path, row=1, field=column))
    bad_stage = ~frame["stage"].isin(STAGES)
    if bad_stage.any():
        row = int(bad_stage.to_numpy().nonzero()[0][0]) + 2
        raise CohortError(
            located(
                f"unknown stage {frame.loc[bad_stage, 'stage'].iloc[0]!r} (expected one of {', '.join(STAGES)})",
                file=path,
                row=row,
                field="stage",
            )
        )
    if "cohort_id" not in frame.columns:
        frame["cohort_id"] = cohort_id
    missing = [c for c in _FILLED_FROM_METADATA if c not in frame.columns]
    if missing:
        frame = _fill_from_metadata(layout, frame, missing, path)
    frame = frame.reindex(columns=MEMBERSHIP_COLUMNS).fillna("")
    frame["replicate"] = pd.to_numeric(frame["replicate"].replace("", "1"), errors="coerce").fillna(1).astype(int)
    return frame


def _fill_from_metadata(layout: DataLayout, frame: pd.DataFrame, missing: list[str], path: Path) -> pd.DataFrame:
    """Columns from each generation's metadata; an essay's or evaluation's combo from its parent's."""
    store = GensStore(layout)
    filled: dict[str, list[str]] = {column: [] for column in missing}
    metas: dict[str, GenMetadata] = {}
    for row_no, (stage, gen_id) in enumerate(zip(frame["stage"], frame["gen_id"], strict=False), start=2):
        meta = store.read_metadata(stage, gen_id)
        if meta is None:
            raise CohortError(
                located(
                    f"{stage} {gen_id} has no gens/{stage}/{gen_id}/metadata.json to fill the "
                    f"two-column membership from",
                    file=path,
                    row=row_no,
                    field="gen_id",
                )
            )
        metas[gen_id] = meta
        for column in missing:
            value = _combo_of(store, meta, metas) if column == "combo_id" else getattr(meta, column, None)
            filled[column].append("" if value is None else str(value))
    return frame.assign(**filled)


def _combo_of(store: GensStore, meta: GenMetadata, seen: dict[str, GenMetadata], depth: int = 0) -> str | None:
    """A draft's combo; an essay's or evaluation's is its parent's (from this membership, else gens/)."""
    if meta.stage == "draft" or meta.combo_id or not meta.parent_gen_id or depth > 2:
        return meta.combo_id
    parent = seen.get(meta.parent_gen_id)
    for stage in ("draft",) if meta.stage == "essay" else ("essay", "draft"):
        if parent is None:
            with contextlib.suppress(DayDreamError):
                parent = store.read_metadata(stage, meta.parent_gen_id)  # type: ignore[arg-type]
    return _combo_of(store, parent, seen, depth + 1) if parent is not None else None


def stage_rows(frame: pd.DataFrame, stage: str) -> pd.DataFrame:
    return frame[frame["stage"] == stage]
