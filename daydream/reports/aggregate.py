"""One row per evaluation, with its whole lineage: ``parsing/aggregated_scores.csv``.

evaluation -> parent document (an essay, or a draft evaluated directly) -> draft -> combo. Every
evaluation of the scope is a row: an evaluation without a usable score carries its ``status`` and
``error`` instead of being dropped. A generation is stale when the ``template_sha256`` recorded in
its ``raw_metadata.json`` differs from the sha256 of its template's current text; an evaluation row
is stale when any generation of its lineage is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from daydream.catalogs import Catalogs, read_template_text
from daydream.errors import DayDreamError, ParseError
from daydream.membership import read_membership
from daydream.parsers import parse_evaluation
from daydream.paths import STAGES, DataLayout, Stage
from daydream.rendering import template_sha256
from daydream.reports.loader import list_gen_ids, read_gens, read_text_file

DEFAULT_SCALE = {"in_last_line": 9.0, "complex": 10.0}
"""The scale a score is on when the judge wrote none (the parsers' ``implied_scale``)."""

IDENTITY = ["template_id", "llm_model_id", "parent_gen_id", "combo_id", "replicate", "origin_cohort_id"]

SCORE_COLUMNS = [
    "gen_id",
    "parent_gen_id",
    "evaluation_template",
    "evaluation_llm",
    "score",
    "scale",
    "implied_scale",
    "score_normalized",
    "error",
    "status",
    "combo_id",
    "draft_gen_id",
    "draft_template",
    "essay_gen_id",
    "essay_template",
    "generation_model",
    "essay_llm",
    "replicate",
    "draft_replicate",
    "essay_replicate",
    "document_stage",
    "stale",
    "document_stale",
    "evaluation_path",
    "document_path",
    "evaluation_parser",
    "lineage_error",
    "origin_cohort_id",
]
"""Columns of ``aggregated_scores.csv`` in order (see docs/reports.md for each)."""

STATUSES = ("ok", "parse_error", "failed", "missing")


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
            except DayDreamError:  # no file: a copy-mode template, or one removed since
                self._sha[key] = None
        return self._sha[key]

    def _template(self, stage: Stage, template_id: str):
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


def _str_col(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), "").astype(str)


def _with_identity(records: pd.DataFrame, known: pd.DataFrame | None) -> pd.DataFrame:
    """Identity columns from the membership when known, else from ``metadata.json``."""
    frame = records.copy()
    if known is not None and not known.empty:
        ident = known.drop_duplicates("gen_id").set_index("gen_id")
        for col in IDENTITY:
            from_member = frame["gen_id"].map(ident[col]) if col in ident.columns else None
            from_meta = frame[f"m_{col}"]
            frame[col] = (
                from_meta
                if from_member is None
                else from_member.where(from_member.notna() & (from_member != ""), from_meta)
            )
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
    """``mode``, ``stale_self`` and ``state`` (GensStore.state semantics, vectorised)."""
    current = {t: templates.current_sha(stage, t) for t in frame["template_id"].unique()}
    current_sha = frame["template_id"].map(current)
    recorded = frame["rm_template_sha"]
    frame["stale_self"] = (recorded.notna() & current_sha.notna() & (recorded != current_sha)).astype(bool)
    copy = {t: templates.is_copy(stage, t) for t in frame["template_id"].unique()}
    is_copy = frame["template_id"].map(copy).astype(bool) | (frame["m_mode"] == "copy") | (frame["rm_mode"] == "copy")
    frame["mode"] = np.where(is_copy, "copy", "llm")
    has_parsed = frame["has_parsed"].astype(bool)
    failed = frame["has_raw"].astype(bool) | frame["has_error"].astype(bool)
    frame["state"] = np.select(
        [has_parsed & frame["stale_self"], has_parsed, failed], ["stale", "done", "failed"], default="pending"
    )
    return frame


def _load(
    layout: DataLayout, stage: Stage, ids: list[str], templates: TemplateInfo, known: pd.DataFrame | None
) -> pd.DataFrame:
    known_ids = set(known["gen_id"]) if known is not None and not known.empty else set()
    need_meta = [i for i in ids if i not in known_ids]
    member_ids = [i for i in ids if i in known_ids]
    parts = []
    if member_ids:
        parts.append(read_gens(layout, stage, member_ids, metadata=False))
    if need_meta or not parts:
        parts.append(read_gens(layout, stage, need_meta, metadata=True))
    records = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return _derive_state(_with_identity(records, known), stage, templates)


def _parent_stage(parent_ids: pd.Series, layout: DataLayout, essays: set[str], drafts: set[str]) -> pd.Series:
    """essay or draft: known generations first, then the directory on disk, then the id prefix."""

    def guess(pid: str) -> str:
        if pid in essays:
            return "essay"
        if pid in drafts:
            return "draft"
        if os.path.isdir(layout.gen_dir("essay", pid)):
            return "essay"
        if os.path.isdir(layout.gen_dir("draft", pid)) or pid.startswith("d_"):
            return "draft"
        return "essay" if pid else ""

    return parent_ids.map({pid: guess(pid) for pid in parent_ids.unique()}).astype(object)


def load_scope(layout: DataLayout, catalogs: Catalogs | None, *, cohort_id: str | None) -> ScopeData:
    """Read a cohort (its membership) or, with ``cohort_id=None``, every evaluation in the store."""
    templates = TemplateInfo(layout, catalogs)
    membership = read_membership(layout, cohort_id) if cohort_id is not None else None
    known: dict[str, pd.DataFrame | None] = {}
    gens: dict[str, pd.DataFrame] = {}
    for stage in STAGES:
        if membership is not None:
            known[stage] = membership[membership["stage"] == stage]
            ids = list(known[stage]["gen_id"])
        else:
            known[stage] = None
            ids = list_gen_ids(layout, "evaluation") if stage == "evaluation" else []
        gens[stage] = _load(layout, stage, ids, templates, known[stage]) if stage == "evaluation" else None
    evals = gens["evaluation"]
    # essays and drafts: the scope's own, plus any lineage parent outside it
    draft_ids = list(known["draft"]["gen_id"]) if known["draft"] is not None else []
    essay_ids = list(known["essay"]["gen_id"]) if known["essay"] is not None else []
    parent_stage = _parent_stage(evals["parent_gen_id"], layout, set(essay_ids), set(draft_ids))
    evals["document_stage"] = parent_stage
    essay_ids = list(dict.fromkeys([*essay_ids, *evals.loc[parent_stage == "essay", "parent_gen_id"]]))
    gens["essay"] = _load(layout, "essay", essay_ids, templates, known["essay"])
    more_drafts = [*gens["essay"]["parent_gen_id"], *evals.loc[parent_stage == "draft", "parent_gen_id"]]
    draft_ids = list(dict.fromkeys([*draft_ids, *(p for p in more_drafts if p)]))
    gens["draft"] = _load(layout, "draft", draft_ids, templates, known["draft"])
    scores = build_scores(layout, gens, templates)
    return ScopeData(
        cohort_id=cohort_id, gens=gens, scores=scores, templates=templates, catalogs=catalogs, membership=membership
    )


# -- scores ---------------------------------------------------------------------------------------


def _resolve_scores(evals: pd.DataFrame, layout: DataLayout, templates: TemplateInfo) -> pd.DataFrame:
    parser_of = {t: templates.parser(t) for t in evals["template_id"].unique()}
    catalog_parser = evals["template_id"].map(parser_of)
    parser = evals["pm_parser"].where(evals["pm_parser"].notna() & (evals["pm_parser"] != ""), catalog_parser)
    pm_ok = evals["pm_success"].ne(False) & evals["pm_score"].notna()
    score = evals["pm_score"].where(pm_ok, evals["parsed_value"]).astype(float)
    scale = evals["pm_scale"].where(pm_ok).astype(float)
    implied = evals["pm_implied_scale"].where(pm_ok).astype(float)
    implied = implied.fillna(scale).fillna(parser.map(DEFAULT_SCALE).astype(float))
    normalized = evals["pm_score_normalized"].where(pm_ok).astype(float).fillna(score / implied)
    error = pd.Series("", index=evals.index, dtype=object)
    status = pd.Series("ok", index=evals.index, dtype=object)

    # an older store: raw.txt only, parsed here with the template's parser
    legacy = (
        score.isna()
        & evals["has_raw"].astype(bool)
        & ~evals["has_parsed"].astype(bool)
        & evals["pm_success"].isna()
        & ~evals["has_error"].astype(bool)
        & evals["rm_truncated"].ne(True)
    )
    for idx in evals.index[legacy]:
        gen_id = evals.at[idx, "gen_id"]
        name = parser[idx]
        if not isinstance(name, str) or not name:
            status[idx], error[idx] = (
                "parse_error",
                (f"no parser for evaluation template '{evals.at[idx, 'template_id']}' in evaluation_templates.csv"),
            )
            continue
        try:
            parsed = parse_evaluation(name, read_text_file(layout, "evaluation", gen_id, "raw.txt") or "")
        except ParseError as exc:
            status[idx], error[idx] = "parse_error", str(exc)
            continue
        score[idx], scale[idx], implied[idx] = (
            parsed.score,
            np.nan if parsed.scale is None else parsed.scale,
            parsed.implied_scale,
        )
        normalized[idx], parser[idx] = parsed.score_normalized, parsed.parser

    no_score = score.isna() & (status == "ok")
    pm_failed = no_score & evals["pm_success"].eq(False)
    pm_kind = _str_col(evals["pm_error_kind"]).str.lower()
    status[pm_failed] = np.where(pm_kind[pm_failed].isin(["parse", "parseerror", ""]), "parse_error", "failed")
    error[pm_failed] = _str_col(evals["pm_error"])[pm_failed]
    err_file = no_score & ~pm_failed & evals["has_error"].astype(bool)
    kind = _str_col(evals["error_kind"])
    status[err_file] = np.where(kind[err_file].str.lower().isin(["parse", "parseerror"]), "parse_error", "failed")
    error[err_file] = (kind + ": " + _str_col(evals["error_message"]))[err_file]
    rest = no_score & ~pm_failed & ~err_file
    truncated = rest & evals["has_raw"].astype(bool) & evals["rm_truncated"].eq(True)
    status[truncated], error[truncated] = "failed", "truncated output (finish_reason length)"
    rest &= ~truncated
    unreadable = rest & evals["read_error"].notna()
    status[unreadable] = "failed"
    error[unreadable] = "unreadable files: " + _str_col(evals["read_error"])[unreadable]
    rest &= ~unreadable
    no_dir = rest & ~evals["found"].astype(bool)
    status[rest] = "missing"
    error[rest] = "not evaluated yet (pending)"
    error[no_dir] = "no generation directory (pending)"
    unscaled = (status == "ok") & score.notna() & implied.isna()
    status[unscaled] = "failed"
    error[unscaled] = "unknown scale: evaluation template not in evaluation_templates.csv"
    bad = status != "ok"
    for series in (score, scale, implied, normalized):
        series[bad] = np.nan
    return evals.assign(
        score=score,
        scale=scale,
        implied_scale=implied,
        score_normalized=normalized,
        error=error,
        status=status,
        evaluation_parser=_str_col(parser),
    )


def build_scores(layout: DataLayout, gens: dict[str, pd.DataFrame], templates: TemplateInfo) -> pd.DataFrame:
    evals = _resolve_scores(gens["evaluation"], layout, templates)
    essays = gens["essay"].set_index("gen_id")
    drafts = gens["draft"].set_index("gen_id")
    parent = evals["parent_gen_id"]
    is_essay_doc = evals["document_stage"] == "essay"
    essay_id = parent.where(is_essay_doc, "")
    found_essay = essay_id.isin(essays.index)
    draft_id = (
        pd.Series(np.where(is_essay_doc, essay_id.map(essays["parent_gen_id"]), parent), index=evals.index)
        .fillna("")
        .astype(str)
    )
    found_draft = draft_id.isin(drafts.index[drafts["found"].astype(bool)])

    def from_essay(col: str, default: object = "") -> pd.Series:
        return essay_id.map(essays[col]).where(found_essay, default)

    def from_draft(col: str, default: object = "") -> pd.Series:
        return draft_id.map(drafts[col]).where(found_draft, default)

    lineage_error = pd.Series("", index=evals.index, dtype=object)
    missing_essay = is_essay_doc & ~essay_id.map(essays["found"]).fillna(False).astype(bool)
    lineage_error[missing_essay] = "essay " + essay_id[missing_essay] + " not found in gens/essay"
    missing_draft = (lineage_error == "") & ~found_draft & (parent != "")
    lineage_error[missing_draft] = "draft " + draft_id[missing_draft].replace("", "?") + " not found in gens/draft"
    lineage_error[parent == ""] = "evaluation has no parent_gen_id"

    document_stale = from_essay("stale_self", False).astype(bool) | from_draft("stale_self", False).astype(bool)
    stale = evals["stale_self"].astype(bool) | document_stale
    doc_stage = evals["document_stage"].astype(str)
    out = pd.DataFrame(
        {
            "gen_id": evals["gen_id"],
            "parent_gen_id": parent,
            "evaluation_template": evals["template_id"],
            "evaluation_llm": evals["llm_model_id"],
            "score": evals["score"],
            "scale": evals["scale"],
            "implied_scale": evals["implied_scale"],
            "score_normalized": evals["score_normalized"],
            "error": evals["error"],
            "status": evals["status"],
            "combo_id": from_draft("combo_id"),
            "draft_gen_id": draft_id.where(draft_id != "", ""),
            "draft_template": from_draft("template_id"),
            "essay_gen_id": essay_id,
            "essay_template": from_essay("template_id"),
            "generation_model": from_draft("llm_model_id"),
            "essay_llm": from_essay("llm_model_id"),
            "replicate": evals["replicate"].astype(int),
            "draft_replicate": from_draft("replicate", np.nan),
            "essay_replicate": from_essay("replicate", np.nan),
            "document_stage": doc_stage,
            "stale": stale.astype(bool),
            "document_stale": document_stale.astype(bool),
            "evaluation_path": "gens/evaluation/" + evals["gen_id"],
            "document_path": np.where(parent != "", "gens/" + doc_stage + "/" + parent + "/parsed.txt", ""),
            "evaluation_parser": evals["evaluation_parser"],
            "lineage_error": lineage_error,
            "origin_cohort_id": evals["origin_cohort_id"],
        },
        columns=SCORE_COLUMNS,
    )
    for col in ("draft_replicate", "essay_replicate"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
    for col in ("combo_id", "draft_template", "essay_template", "generation_model", "essay_llm"):
        out[col] = _str_col(out[col])
    return out.reset_index(drop=True)


def usable(scores: pd.DataFrame, include_stale: bool = False) -> pd.Series:
    """Rows that count in means: a score, and not stale unless ``include_stale``."""
    mask = (scores["status"] == "ok") & scores["score"].notna()
    if not include_stale:
        mask &= ~scores["stale"].astype(bool)
    return mask
