"""Read a report's scope from the store once: every generation of a cohort (or every evaluation of
the store) with its identity, state and lineage parents, and the aggregated scores built from them.

The scope is a cohort's ``membership.csv`` or, for the cross-experiment views, every directory under
``gens/evaluation``. Identity columns (template, model, parent, combo, replicate) come from the
membership when it has them, else from ``metadata.json``. A generation is stale when the
``template_sha256`` recorded in its ``raw_metadata.json`` differs from the sha256 of its template's
current text; an evaluation row is stale when any generation of its lineage is. Nothing a store
holds stops the read: an id outside the grammar, a link, a corrupt file are flagged in their row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from daydream.catalogs import Catalogs, Template, read_template_text
from daydream.errors import CohortError, DayDreamError, located
from daydream.membership import read_membership
from daydream.paths import STAGES, DataLayout, Stage, id_problem
from daydream.rendering import template_sha256
from daydream.reports.lineage import build_scores
from daydream.reports.loader import list_gen_ids, read_gens
from daydream.reports.scores import DEFAULT_SCALE, SCORE_COLUMNS, STATUSES, usable

__all__ = [
    "DEFAULT_SCALE",
    "SCORE_COLUMNS",
    "STATUSES",
    "ScopeData",
    "TemplateInfo",
    "build_scores",
    "load_scope",
    "usable",
]

IDENTITY = ["template_id", "llm_model_id", "parent_gen_id", "combo_id", "replicate", "origin_cohort_id"]


class TemplateInfo:
    """Current template hashes, parsers and copy modes, each looked up once."""

    def __init__(self, layout: DataLayout, catalogs: Catalogs | None):
        self.layout = layout
        self.catalogs = catalogs
        self._sha: dict[tuple[str, str], str | None] = {}

    def current_sha(self, stage: Stage, template_id: str) -> str | None:
        key = (stage, template_id)
        if key not in self._sha:
            try:
                self._sha[key] = template_sha256(read_template_text(self.layout.template_file(stage, template_id)))
            except DayDreamError:  # no file (a copy-mode template, or one removed since), or no valid id
                self._sha[key] = None
        return self._sha[key]

    def _template(self, stage: Stage, template_id: str) -> Template | None:
        return self.catalogs.templates[stage].get(template_id) if self.catalogs else None

    def parser(self, template_id: str) -> str | None:
        template = self._template("evaluation", template_id)
        return template.parser if template is not None and template.parser else None

    def is_copy(self, stage: Stage, template_id: str) -> bool:
        template = self._template(stage, template_id)
        return bool(template is not None and template.is_copy)


@dataclass
class ScopeData:
    """Everything a report needs from the store, read once."""

    cohort_id: str | None
    gens: dict[str, pd.DataFrame]
    """Per stage: the records of every generation in scope plus lineage parents (``member`` tells)."""
    scores: pd.DataFrame
    templates: TemplateInfo
    catalogs: Catalogs | None = None
    membership: pd.DataFrame | None = field(default=None, repr=False)
    reparse_raw: bool = False


def _str_col(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), "").astype(str)


def _with_identity(records: pd.DataFrame, known: pd.DataFrame | None) -> pd.DataFrame:
    """Identity columns from the membership when known, else from ``metadata.json``."""
    frame = records.copy()
    if known is not None and not known.empty:
        ident = known.drop_duplicates("gen_id").set_index("gen_id")
        for col in IDENTITY:
            from_meta = frame[f"m_{col}"]
            if col not in ident.columns:
                frame[col] = from_meta
                continue
            from_member = frame["gen_id"].map(ident[col])
            frame[col] = from_member.where(from_member.notna() & (from_member != ""), from_meta)
        frame["member"] = frame["gen_id"].isin(ident.index)
    else:
        for col in IDENTITY:
            frame[col] = frame[f"m_{col}"]
        frame["member"] = False
    for col in IDENTITY:
        frame[col] = _str_col(frame[col])
    frame["replicate"] = pd.to_numeric(frame["replicate"].replace("", "1"), errors="coerce").fillna(1).astype(int)
    return frame


def _derive_state(frame: pd.DataFrame, stage: Stage, templates: TemplateInfo) -> pd.DataFrame:
    """``mode``, ``stale_self``, ``state`` (GensStore.state, vectorised) and ``unparsed``."""
    current = {t: templates.current_sha(stage, t) for t in frame["template_id"].unique()}
    current_sha = frame["template_id"].map(current)
    recorded = frame["rm_template_sha"]
    frame["stale_self"] = (recorded.notna() & current_sha.notna() & (recorded != current_sha)).astype(bool)
    copy = {t: templates.is_copy(stage, t) for t in frame["template_id"].unique()}
    is_copy = frame["template_id"].map(copy).astype(bool) | (frame["m_mode"] == "copy") | (frame["rm_mode"] == "copy")
    frame["mode"] = np.where(is_copy, "copy", "llm")
    has_parsed, has_raw = frame["has_parsed"].astype(bool), frame["has_raw"].astype(bool)
    refused = frame["refused"].notna()
    frame["state"] = np.select(
        [refused, has_parsed & frame["stale_self"], has_parsed, has_raw | frame["has_error"].astype(bool)],
        ["invalid", "stale", "done", "failed"],
        default="pending",
    )
    frame["unparsed"] = (
        has_raw
        & ~has_parsed
        & ~refused
        & ~frame["has_error"].astype(bool)
        & frame["pm_success"].ne(False)
        & frame["rm_truncated"].ne(True)
    )
    return frame


def _load(
    layout: DataLayout,
    stage: Stage,
    ids: list[str],
    templates: TemplateInfo,
    known: pd.DataFrame | None,
    member_file: Path | None,
) -> pd.DataFrame:
    """Records of ``ids`` with identity and state; ``metadata.json`` is read where the membership
    does not already say who a generation is, and for every evaluation (its ``origin_cohort_id``)."""
    known_ids = set(known["gen_id"].tolist()) if known is not None and not known.empty else set()
    every = stage == "evaluation"
    need_meta = ids if every else [i for i in ids if i not in known_ids]
    member_ids = [] if every else [i for i in ids if i in known_ids]
    parts = []
    if member_ids:
        parts.append(read_gens(layout, stage, member_ids, metadata=False))
    if need_meta or not parts:
        parts.append(read_gens(layout, stage, need_meta, metadata=True))
    records = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if known is not None and not known.empty and member_file is not None:
        records = _locate_invalid_ids(records, known, member_file)
    return _derive_state(_with_identity(records, known), stage, templates)


def _locate_invalid_ids(records: pd.DataFrame, known: pd.DataFrame, member_file: Path) -> pd.DataFrame:
    """Name the membership row of each id refused for its grammar (row 1 is the header)."""
    if not records["refused"].notna().any():
        return records
    rows = pd.Series(known.index + 2, index=known["gen_id"]).groupby(level=0).first()
    bad = records["refused"].astype(str).str.startswith("invalid gen id") & records["gen_id"].isin(rows.index)
    if not bad.any():
        return records
    where = records.loc[bad, "gen_id"].map(rows).astype(int).astype(str)
    records.loc[bad, "refused"] = f"{member_file}: row " + where + ", field 'gen_id': " + records.loc[bad, "refused"]
    return records


def _parent_stage(parent_ids: pd.Series, layout: DataLayout, essays: set[str], drafts: set[str]) -> pd.Series:
    """essay or draft: known generations first, then the directory on disk, then the id prefix."""

    def guess(pid: str) -> str:
        if pid in essays:
            return "essay"
        if pid in drafts:
            return "draft"
        if id_problem(pid) is not None:  # never a path: loading it flags the id
            return "draft" if pid.startswith("d_") else ("essay" if pid else "")
        if os.path.lexists(layout.gen_dir("essay", pid)):
            return "essay"
        if os.path.lexists(layout.gen_dir("draft", pid)) or pid.startswith("d_"):
            return "draft"
        return "essay"

    return parent_ids.map({pid: guess(pid) for pid in parent_ids.unique()}).astype(object)


def _check_cohort_paths(layout: DataLayout, cohort_id: str) -> None:
    """A cohort directory or membership that is a link out of the data root is refused before reading."""
    layout.inside(layout.cohort_dir(cohort_id))
    layout.inside(layout.membership(cohort_id))


def load_scope(
    layout: DataLayout, catalogs: Catalogs | None, *, cohort_id: str | None, reparse_raw: bool = False
) -> ScopeData:
    """Read a cohort (its membership) or, with ``cohort_id=None``, every evaluation in the store."""
    templates = TemplateInfo(layout, catalogs)
    membership, member_file = None, None
    if cohort_id is not None:
        _check_cohort_paths(layout, cohort_id)
        member_file = layout.membership(cohort_id)
        try:
            membership = read_membership(layout, cohort_id, strict_ids=False)
        except OSError as exc:  # unreadable (permissions): the cohort's problem, in one line
            raise CohortError(located(f"cannot read: {exc.strerror or type(exc).__name__}", file=member_file)) from None
    known: dict[str, pd.DataFrame | None] = {
        stage: membership[membership["stage"] == stage] if membership is not None else None for stage in STAGES
    }
    eval_known = known["evaluation"]
    eval_ids = eval_known["gen_id"].tolist() if eval_known is not None else list_gen_ids(layout, "evaluation")
    evals = _load(layout, "evaluation", eval_ids, templates, eval_known, member_file)
    # essays and drafts: the scope's own, plus any lineage parent outside it
    draft_known, essay_known = known["draft"], known["essay"]
    draft_ids = draft_known["gen_id"].tolist() if draft_known is not None else []
    essay_ids = essay_known["gen_id"].tolist() if essay_known is not None else []
    parent_stage = _parent_stage(evals["parent_gen_id"], layout, set(essay_ids), set(draft_ids))
    evals["document_stage"] = parent_stage
    essay_ids = list(dict.fromkeys([*essay_ids, *evals.loc[parent_stage == "essay", "parent_gen_id"].tolist()]))
    essays = _load(layout, "essay", essay_ids, templates, essay_known, member_file)
    more_drafts = [*essays["parent_gen_id"].tolist(), *evals.loc[parent_stage == "draft", "parent_gen_id"].tolist()]
    draft_ids = list(dict.fromkeys([*draft_ids, *(p for p in more_drafts if p)]))
    drafts = _load(layout, "draft", draft_ids, templates, draft_known, member_file)
    gens = {"draft": drafts, "essay": essays, "evaluation": evals}
    parser_of = {t: templates.parser(t) for t in evals["template_id"].unique()}
    scores = build_scores(layout, gens, parser_of, reparse_raw=reparse_raw)
    return ScopeData(
        cohort_id=cohort_id,
        gens=gens,
        scores=scores,
        templates=templates,
        catalogs=catalogs,
        membership=membership,
        reparse_raw=reparse_raw,
    )
