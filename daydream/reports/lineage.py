"""One row per evaluation with its whole lineage: evaluation -> document (an essay, or a draft judged
directly) -> draft -> combo. Every evaluation of the scope is a row: one without a usable score
carries its ``status`` and why, instead of being dropped.

The older pipeline's columns keep their meanings (docs/reports.md): ``generation_template`` is the
essay's template, ``generation_model`` the essay's model (else the draft's), ``combo_id`` and
``draft_template`` the draft's, the two ``*_response_path`` columns absolute paths of ``parsed.txt``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from daydream.paths import DataLayout
from daydream.reports.scores import SCORE_COLUMNS, resolve_scores

_INPUT_MODE = {"llm": "prompt", "copy": "copy"}
"""``raw_metadata.json`` ``mode`` -> the older ``input_mode`` when a store does not record it."""


def _str_col(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), "").astype(str)


class _Parents:
    """Looks up columns of each evaluation's essay and draft (empty when not in the store)."""

    def __init__(self, evals: pd.DataFrame, gens: dict[str, pd.DataFrame]):
        self.essays = gens["essay"].drop_duplicates("gen_id").set_index("gen_id")
        self.drafts = gens["draft"].drop_duplicates("gen_id").set_index("gen_id")
        parent = evals["parent_gen_id"]
        is_essay = evals["document_stage"] == "essay"
        self.essay_id = parent.where(is_essay, "")
        self.found_essay = self.essay_id.isin(self.essays.index)
        draft_of_essay = self.essay_id.map(self.essays["parent_gen_id"])
        self.draft_id = pd.Series(np.where(is_essay, draft_of_essay, parent), index=evals.index).fillna("").astype(str)
        self.found_draft = self.draft_id.isin(self.drafts.index[self.drafts["found"].astype(bool)])

    def essay(self, col: str, default: object = "") -> pd.Series:
        return self.essay_id.map(self.essays[col]).where(self.found_essay, default)

    def draft(self, col: str, default: object = "") -> pd.Series:
        return self.draft_id.map(self.drafts[col]).where(self.found_draft, default)

    def lineage_error(self, evals: pd.DataFrame) -> pd.Series:
        """A broken lineage: a parent missing from the store, refused, or with unreadable files."""
        parent = evals["parent_gen_id"]
        is_essay = evals["document_stage"] == "essay"
        error = pd.Series("", index=evals.index, dtype=object)
        for stage, ids, frame, applies in (
            ("essay", self.essay_id, self.essays, is_essay),
            ("draft", self.draft_id, self.drafts, parent != ""),
        ):
            found = ids.map(frame["found"]).astype(object).fillna(False).astype(bool)
            refused = _str_col(ids.map(frame["refused"]))
            why = (": " + refused).where(refused != "", " not found in gens/" + stage)
            broken = applies & (error == "") & ~found
            error[broken] = stage + " " + ids[broken].replace("", "?") + why[broken]
            unreadable = _str_col(ids.map(frame["read_error"]))
            flawed = applies & (error == "") & found & (unreadable != "")
            error[flawed] = stage + " " + ids[flawed] + ": " + unreadable[flawed]
        error[parent == ""] = "evaluation has no parent_gen_id"
        return error


def _input_mode(evals: pd.DataFrame) -> pd.Series:
    recorded = evals["rm_input_mode"]
    derived = evals["rm_mode"].map(_INPUT_MODE).where(evals["has_raw_meta"].astype(bool))
    return recorded.where(recorded.notna() & (recorded != ""), derived)


def build_scores(
    layout: DataLayout, gens: dict[str, pd.DataFrame], parser_of: dict[str, str | None], *, reparse_raw: bool = False
) -> pd.DataFrame:
    """``aggregated_scores.csv`` as a frame, in ``SCORE_COLUMNS``."""
    evals = gens["evaluation"]
    scored = resolve_scores(evals, parser_of, layout, reparse_raw=reparse_raw)
    up = _Parents(evals, gens)
    parent, doc_stage = evals["parent_gen_id"], evals["document_stage"].astype(str)
    essay_llm, draft_llm = _str_col(up.essay("llm_model_id")), _str_col(up.draft("llm_model_id"))
    draft_combo = _str_col(up.draft("combo_id"))
    gens_dir = f"{layout.root}/gens/"
    has_parent = parent != ""
    out = pd.DataFrame(
        {
            "gen_id": evals["gen_id"],
            "parent_gen_id": parent,
            "evaluation_template": evals["template_id"],
            "evaluation_llm_model": evals["llm_model_id"],
            "error": scored["error"],
            "evaluation_response_path": gens_dir + "evaluation/" + evals["gen_id"] + "/parsed.txt",
            "combo_id": draft_combo.where(draft_combo != "", evals["combo_id"]),
            "draft_template": up.draft("template_id"),
            "generation_template": up.essay("template_id"),
            "generation_model": essay_llm.where(essay_llm != "", draft_llm),
            "origin_cohort_id": evals["origin_cohort_id"],
            "generation_response_path": np.where(has_parent, gens_dir + doc_stage + "/" + parent + "/parsed.txt", ""),
            "input_mode": _input_mode(evals),
            "copied_from": evals["rm_copied_from"],
            "template_id": evals["template_id"],
            "evaluation_model": evals["llm_model_id"],
            "stage": np.where(doc_stage == "draft", "draft", "essay2p"),
            "evaluation_llm": evals["llm_model_id"],
            **{c: scored[c] for c in ("score", "scale", "implied_scale", "score_normalized", "status")},
            **{c: scored[c] for c in ("error_detail", "hint", "reparsed", "evaluation_parser")},
            "draft_gen_id": up.draft_id,
            "draft_llm": draft_llm,
            "essay_gen_id": up.essay_id,
            "essay_template": up.essay("template_id"),
            "essay_llm": essay_llm,
            "replicate": evals["replicate"].astype(int),
            "draft_replicate": up.draft("replicate", np.nan),
            "essay_replicate": up.essay("replicate", np.nan),
            "document_stage": doc_stage,
            "document_stale": _document_stale(up),
            "evaluation_path": "gens/evaluation/" + evals["gen_id"],
            "document_path": np.where(has_parent, "gens/" + doc_stage + "/" + parent + "/parsed.txt", ""),
            "lineage_error": up.lineage_error(evals),
            "read_error": _str_col(evals["read_error"]),
        },
    )
    out["stale"] = evals["stale_self"].astype(bool) | out["document_stale"]
    out = out.reindex(columns=SCORE_COLUMNS)
    for col in ("draft_replicate", "essay_replicate"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
    for col in ("combo_id", "draft_template", "generation_template", "essay_template", "origin_cohort_id"):
        out[col] = _str_col(out[col])
    return out.reset_index(drop=True)


def _document_stale(up: _Parents) -> pd.Series:
    return up.essay("stale_self", False).astype(bool) | up.draft("stale_self", False).astype(bool)
