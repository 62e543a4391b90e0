"""Is the difference real? Intervals on every mean of the report, Holm-corrected comparisons, and the
leaderboard with its test against rank 1 (issue 14, section 3).

The statistics are ``daydream.analysis``'s (docs/analysis.md has the formulas and the references);
this module only chooses what they are applied to, so every table of one report uses the same rules:

- The resampling unit is the evaluated **document** (essay, or a draft judged directly): a
  document's replicates and its several judges move together, so judge replicates are never counted
  as independent evaluations. One document's own mean (the leaderboard, the per-document pivot) uses
  the residual bootstrap of ``analysis.documents`` (one cluster per judge of the document).
- Intervals are 95%, from ``analysis.frames.N_BOOT`` resamples with ``analysis.frames.SEED``: the same
  store gives the same intervals on every run, and every table of a report sees the same resamples
  (``analysis.bootstrap`` shares the count matrix).
- Differences between the levels of a factor (templates, models, judges) are tested pairwise with
  Holm's correction, one family per factor: ``significant`` says the difference survives it.

Columns are appended after a table's existing ones, so a notebook reading the older columns by name
keeps working.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from daydream.analysis import agreement as alpha_stats
from daydream.analysis import compare, documents, means
from daydream.analysis.bootstrap import cell_totals, percentile_interval, resample_global
from daydream.analysis.calibration import JUDGE, zscore_by_judge
from daydream.analysis.frames import LEVEL, N_BOOT, SEED, group_codes
from daydream.reports.pivots import DOCUMENT_KEYS, GROUPINGS, JUDGE_SEP, with_flags

X10 = "x10"
"""The score every comparison uses: ``score_normalized * 10`` (0..10), so scales compare."""
CI_COLUMNS = ["mean_ci_low", "mean_ci_high", "mean_normalized_ci_low", "mean_normalized_ci_high"]
COMPARISON_FACTORS = ("generation_model", "draft_template", "essay_template", "evaluation_llm", "evaluation_template")
"""The factors whose levels are compared pairwise (template x model cells are compared within the
factor's own table; ``combo_id`` has too many levels for a pairwise table)."""
COMPARISON_COLUMNS = ["factor", *compare.DIFFERENCE_COLUMNS, "n_documents_a", "n_documents_b"]
LEADERBOARD_COLUMNS = [
    "rank",
    "document_gen_id",
    "document_stage",
    "combo_id",
    "draft_template",
    "essay_template",
    "generation_model",
    "n",
    "n_judges",
    "mean_x10",
    "ci_low_x10",
    "ci_high_x10",
    "diff_vs_top",
    "p_holm_vs_top",
    "differs_from_top",
    "mean_z",
]


def used_rows(scores: pd.DataFrame, include_stale: bool) -> pd.DataFrame:
    """The usable evaluations with ``document_gen_id`` and ``x10``: the input of every interval."""
    frame = with_flags(scores, include_stale)
    used = frame[frame["use"]]
    return used.assign(**{X10: used["score_normalized"].astype(float) * 10.0, "score": used["score"].astype(float)})


def _grouping_draws(used: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Every group of every ``GROUPINGS`` grouping as one column of one document-cluster bootstrap.

    One resample for all groupings (instead of one per grouping and value): the groupings only
    relabel the same rows, so each row enters once per grouping with its group's column number.
    Returns the key table (``grouping``, ``key``) and, per column, ``n_documents`` and the intervals.
    """
    clusters, _ = group_codes(used, ["document_gen_id"])
    raw, norm = used["score"].to_numpy(dtype=float), used["score_normalized"].to_numpy(dtype=float)
    keys, cols, offset = [], [], 0
    for name, columns in GROUPINGS:
        codes, table = group_codes(used, columns) if columns else (np.zeros(len(used), dtype=np.int64), None)
        labels = (
            table[columns].astype(str).replace("", "(none)").agg(" | ".join, axis=1) if table is not None else ["all"]
        )
        keys.append(pd.DataFrame({"grouping": name, "key": list(labels)}))
        cols.append(codes + offset)
        offset += len(labels)
    column = np.concatenate(cols)
    rows = np.tile(clusters, len(GROUPINGS))
    ones = np.ones(column.size)
    _, mats = cell_totals(rows, column, offset, [np.tile(raw, len(GROUPINGS)), np.tile(norm, len(GROUPINGS)), ones])
    (s_raw, s_norm, n), (d_raw, d_norm, d_n) = resample_global(mats, N_BOOT, SEED)
    n_docs = np.diff(mats[2].tocsc().indptr)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw_ci = percentile_interval(d_raw / d_n, n_docs, LEVEL)
        norm_ci = percentile_interval(d_norm / d_n, n_docs, LEVEL)
    values = {
        "n_documents": n_docs.astype(float),
        "mean_ci_low": raw_ci[0],
        "mean_ci_high": raw_ci[1],
        "mean_normalized_ci_low": norm_ci[0],
        "mean_normalized_ci_high": norm_ci[1],
    }
    return pd.concat(keys, ignore_index=True), values


def final_results_intervals(final: pd.DataFrame, used: pd.DataFrame) -> pd.DataFrame:
    """``final_results`` with ``n_documents`` and the ``CI_COLUMNS`` of each group's mean (the same
    key spelling as ``pivots.final_results``: ``a | b``, ``(none)`` for an empty value)."""
    extra = ["n_documents", *CI_COLUMNS]
    out = final.copy()
    for column in extra:
        out[column] = np.nan
    if used.empty or out.empty:
        return out
    keys, values = _grouping_draws(used)
    position = pd.Series(np.arange(len(keys)), index=pd.MultiIndex.from_frame(keys))
    found = position.reindex(pd.MultiIndex.from_frame(out[["grouping", "key"]].astype(str))).to_numpy()
    hit = ~np.isnan(found)
    for column in extra:
        out.loc[hit, column] = values[column][found[hit].astype(np.int64)]
    return out


def document_intervals(used: pd.DataFrame) -> pd.DataFrame:
    """Per document: ``n_judges``, the residual-bootstrap interval of its raw and normalised mean and
    ``mean_z``, the mean of its z-scored evaluations (each judge on its own scale, ``calibration``)."""
    columns = ["document_gen_id", "n_judges", *CI_COLUMNS, "mean_z"]
    if used.empty:
        return pd.DataFrame(columns=columns)
    raw = documents.document_means(used, "score")
    norm = documents.document_means(used, "score_normalized").set_index("document_gen_id")
    z = zscore_by_judge(used, "score_normalized")
    mean_z = z.groupby(used["document_gen_id"].to_numpy()).mean()
    out = raw.rename(columns={"ci_low": "mean_ci_low", "ci_high": "mean_ci_high"}).set_index("document_gen_id")
    out["mean_normalized_ci_low"] = norm["ci_low"]
    out["mean_normalized_ci_high"] = norm["ci_high"]
    out["mean_z"] = mean_z
    return out.reset_index()[columns]


def pivot_with_intervals(pivot: pd.DataFrame, doc_ci: pd.DataFrame) -> pd.DataFrame:
    """``generation_scores_pivot`` plus ``n_judges``, the ``CI_COLUMNS`` and ``mean_z`` per document."""
    return pivot.merge(doc_ci, on="document_gen_id", how="left")


def model_template_intervals(pivot: pd.DataFrame, used: pd.DataFrame) -> pd.DataFrame:
    """``evaluation_model_template_pivot`` plus ``ci_low__<template>``/``ci_high__<template>`` (raw score)
    and ``mean_normalized_ci_low``/``_high`` per evaluation model."""
    out = pivot.copy()
    templates = [c[len(f"n{JUDGE_SEP}") :] for c in pivot.columns if c.startswith(f"n{JUDGE_SEP}")]
    for t in templates:
        out[f"ci_low{JUDGE_SEP}{t}"] = np.nan
        out[f"ci_high{JUDGE_SEP}{t}"] = np.nan
    out["mean_normalized_ci_low"] = np.nan
    out["mean_normalized_ci_high"] = np.nan
    if used.empty or out.empty:
        return out
    cells = means.bootstrap_means(used, "score", ["evaluation_llm", "evaluation_template"])
    index = {m: i for i, m in enumerate(out["evaluation_llm"].astype(str))}
    for cell in cells.to_dict("records"):
        row = index.get(str(cell["evaluation_llm"]))
        if row is not None:
            out.loc[out.index[row], f"ci_low{JUDGE_SEP}{cell['evaluation_template']}"] = cell["ci_low"]
            out.loc[out.index[row], f"ci_high{JUDGE_SEP}{cell['evaluation_template']}"] = cell["ci_high"]
    per_model = means.bootstrap_means(used, "score_normalized", ["evaluation_llm"]).set_index("evaluation_llm")
    keys = out["evaluation_llm"].astype(str)
    out["mean_normalized_ci_low"] = keys.map(per_model["ci_low"]).to_numpy()
    out["mean_normalized_ci_high"] = keys.map(per_model["ci_high"]).to_numpy()
    return out


def comparisons(used: pd.DataFrame) -> pd.DataFrame:
    """Every pair of levels of each ``COMPARISON_FACTORS`` factor, on the 0..10 scale, Holm per factor.

    A factor with one level has no pair; one with more than ``compare.MAX_PAIRS`` pairs is left out.
    """
    parts = []
    for factor in COMPARISON_FACTORS:
        if used.empty:
            break
        work = used.assign(**{factor: used[factor].astype(str).replace("", "(none)")})
        levels = work[factor].nunique()
        if levels < 2 or levels * (levels - 1) // 2 > compare.MAX_PAIRS:
            continue
        table = compare.pairwise_differences(work, X10, factor)
        docs = work.groupby(factor)["document_gen_id"].nunique()
        table["n_documents_a"] = table["level_a"].map(docs).to_numpy()
        table["n_documents_b"] = table["level_b"].map(docs).to_numpy()
        table.insert(0, "factor", factor)
        parts.append(table)
    if not parts:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    return pd.concat(parts, ignore_index=True)[COMPARISON_COLUMNS]


def leaderboard(used: pd.DataFrame, docs: pd.DataFrame, doc_ci: pd.DataFrame, top_k: int) -> pd.DataFrame:
    """The ``top_k`` documents on the 0..10 scale, each with its 95% interval and whether it differs
    from rank 1 after Holm's correction (``analysis.documents.leaderboard``); lineage from ``docs``."""
    if used.empty:
        return pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    board = documents.leaderboard(used, X10, top_k=top_k)
    lineage = docs[[c for c in DOCUMENT_KEYS if c in docs.columns]].drop_duplicates("document_gen_id")
    out = board.merge(lineage, on="document_gen_id", how="left")
    out = out.merge(doc_ci[["document_gen_id", "mean_z"]], on="document_gen_id", how="left")
    out = out.rename(columns={"mean": "mean_x10", "ci_low": "ci_low_x10", "ci_high": "ci_high_x10"})
    return out.reindex(columns=LEADERBOARD_COLUMNS)


def order_is_significant(board: pd.DataFrame) -> bool:
    """True when at least one document below rank 1 differs from it after Holm's correction."""
    return bool(len(board) > 1 and board["differs_from_top"].fillna(False).astype(bool).any())


def leaderboard_verdict(board: pd.DataFrame) -> str:
    """One sentence for the page: can the reader trust the leaderboard's order?"""
    if len(board) < 2:
        return ""
    distinct = int(board["differs_from_top"].fillna(False).astype(bool).sum())
    if distinct == 0:
        return (
            f"The order is not significant: none of the {len(board) - 1} documents below rank 1 differs from it "
            "after Holm's correction (95% intervals overlap). Treat these documents as tied."
        )
    return (
        f"{distinct} of the {len(board) - 1} documents below rank 1 score lower than it after Holm's correction; "
        "the others cannot be told apart from it."
    )


def alpha_with_intervals(agreement: pd.DataFrame, per_judge: pd.DataFrame) -> pd.DataFrame:
    """``evaluator_agreement`` plus ``alpha_ci_low``/``alpha_ci_high`` on its alpha rows (bootstrap of
    documents, ``analysis.agreement.alpha_intervals``: per template, and over all templates)."""
    out = agreement.assign(alpha_ci_low=np.nan, alpha_ci_high=np.nan)
    if per_judge.empty:
        return out
    work = per_judge.assign(evaluation_template=per_judge["evaluation_template"].astype(str))
    per_template = alpha_stats.alpha_intervals(work, X10, ["document_gen_id"], ["evaluation_template"])
    rows = out["level"] == "evaluation_template"
    keyed = per_template.set_index("evaluation_template")
    templates = out.loc[rows, "evaluation_template"].astype(str)
    out.loc[rows, "alpha_ci_low"] = templates.map(keyed["ci_low"]).to_numpy()
    out.loc[rows, "alpha_ci_high"] = templates.map(keyed["ci_high"]).to_numpy()
    pooled = alpha_stats.alpha_intervals(work, X10, ["document_gen_id", "evaluation_template"])
    every = out["level"] == "all"
    out.loc[every, "alpha_ci_low"] = float(pooled["ci_low"].iloc[0])
    out.loc[every, "alpha_ci_high"] = float(pooled["ci_high"].iloc[0])
    return out


__all__ = [
    "CI_COLUMNS",
    "COMPARISON_COLUMNS",
    "JUDGE",
    "LEADERBOARD_COLUMNS",
    "alpha_with_intervals",
    "comparisons",
    "document_intervals",
    "final_results_intervals",
    "leaderboard",
    "leaderboard_verdict",
    "model_template_intervals",
    "order_is_significant",
    "pivot_with_intervals",
    "used_rows",
]


def template_version_intervals(table: pd.DataFrame, used: pd.DataFrame) -> pd.DataFrame:
    """``template_version_comparison`` plus ``mean_normalized_ci_low``/``_high`` per template."""
    out = table.assign(mean_normalized_ci_low=np.nan, mean_normalized_ci_high=np.nan)
    for kind in out["template_kind"].unique() if not used.empty else ():
        sub = used[used[kind].astype(str) != ""]
        if sub.empty:
            continue
        ci = means.bootstrap_means(sub.assign(**{kind: sub[kind].astype(str)}), "score_normalized", [kind])
        keyed = ci.set_index(kind)
        rows = out["template_kind"] == kind
        ids = out.loc[rows, "template_id"].astype(str)
        out.loc[rows, "mean_normalized_ci_low"] = ids.map(keyed["ci_low"]).to_numpy()
        out.loc[rows, "mean_normalized_ci_high"] = ids.map(keyed["ci_high"]).to_numpy()
    return out
