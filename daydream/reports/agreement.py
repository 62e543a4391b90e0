"""Do the judges agree? Per-document spread and Krippendorff's alpha (interval metric).

Scores are compared on ``score_normalized * 10`` (a 0..10 scale), so a judge scoring out of 9 and
one scoring out of 10 are comparable. A judge's repeated evaluations of one document (replicates)
are averaged first: the judge is the coder, the document the unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from daydream.reports.pivots import with_flags

BUCKETS = ((1.0, "high"), (2.0, "moderate"), (3.0, "low"))
"""Range of the judges' scores (0..10 scale) -> agreement bucket; above 3 is ``poor``."""
_EPS = 1e-9

AGREEMENT_COLUMNS = [
    "level",
    "evaluation_template",
    "document_gen_id",
    "combo_id",
    "generation_model",
    "n_models",
    "mean_x10",
    "min_x10",
    "max_x10",
    "range",
    "std",
    "bucket",
    "alpha",
    "n_units",
    "n_values",
    "n_reparsed",
]


def krippendorff_alpha_interval(units: np.ndarray, values: np.ndarray) -> float:
    """Krippendorff's alpha with the interval metric from (unit, value) pairs, one per coder's value.

    ``D_o = (1/n) sum_u sum_{i!=j in u} (v_i - v_j)^2 / (m_u - 1)`` and
    ``D_e = (1/(n(n-1))) sum_{i!=j} (v_i - v_j)^2`` over the pairable values (units with at least
    two values), ``alpha = 1 - D_o / D_e``. NaN when fewer than two pairable values or no variance.
    """
    values = np.asarray(values, dtype=float)
    keep = ~np.isnan(values)
    units, values = np.asarray(units)[keep], values[keep]
    if values.size < 2:
        return float("nan")
    _, codes = np.unique(units, return_inverse=True)
    m = np.bincount(codes).astype(float)
    s1 = np.bincount(codes, weights=values)
    s2 = np.bincount(codes, weights=values * values)
    pairable = m >= 2
    if not pairable.any():
        return float("nan")
    m, s1, s2 = m[pairable], s1[pairable], s2[pairable]
    n = m.sum()
    # sum over ordered pairs (i != j) of (v_i - v_j)^2 within a unit is 2 * (m * sum v^2 - (sum v)^2)
    observed = (2.0 * (m * s2 - s1 * s1) / (m - 1.0)).sum() / n
    expected = 2.0 * (n * s2.sum() - s1.sum() ** 2) / (n * (n - 1.0))
    if expected <= _EPS:
        return float("nan")
    return float(1.0 - observed / expected)


def krippendorff_alpha_matrix(data: np.ndarray | list[list[float]]) -> float:
    """Alpha from a coders x units matrix with NaN for missing values (the textbook layout)."""
    matrix = np.asarray(data, dtype=float)
    units = np.broadcast_to(np.arange(matrix.shape[1]), matrix.shape)
    return krippendorff_alpha_interval(units.ravel(), matrix.ravel())


def bucket(range_x10: pd.Series) -> pd.Series:
    out = pd.Series("poor", index=range_x10.index, dtype=object)
    for limit, name in reversed(BUCKETS):
        out[range_x10 <= limit + _EPS] = name
    out[range_x10.isna()] = "single judge"
    return out


def judge_means(scores: pd.DataFrame, include_stale: bool = False) -> pd.DataFrame:
    """One row per (document, evaluation template, evaluation model): mean score on the 0..10 scale."""
    frame = with_flags(scores, include_stale)
    used = frame[frame["use"]]
    keys = ["document_gen_id", "evaluation_template", "evaluation_llm"]
    if used.empty:
        return pd.DataFrame(columns=[*keys, "combo_id", "generation_model", "x10", "n_reparsed"])
    return (
        used.assign(x10=used["score_normalized"] * 10.0, reparsed_int=used["is_reparsed"].astype(int))
        .groupby(keys, sort=True)
        .agg(
            combo_id=("combo_id", "first"),
            generation_model=("generation_model", "first"),
            x10=("x10", "mean"),
            n_reparsed=("reparsed_int", "sum"),
        )
        .reset_index()
    )


def evaluator_agreement(scores: pd.DataFrame, include_stale: bool = False) -> pd.DataFrame:
    """Rows of level ``document`` (spread per document and template), ``evaluation_template`` (alpha
    per template across models) and ``all`` (alpha over all templates, unit = document x template)."""
    per_judge = judge_means(scores, include_stale)
    if per_judge.empty:
        return pd.DataFrame(columns=AGREEMENT_COLUMNS)
    docs = (
        per_judge.groupby(["evaluation_template", "document_gen_id"], sort=True)
        .agg(
            combo_id=("combo_id", "first"),
            generation_model=("generation_model", "first"),
            n_models=("x10", "size"),
            mean_x10=("x10", "mean"),
            min_x10=("x10", "min"),
            max_x10=("x10", "max"),
            std=("x10", "std"),
            n_reparsed=("n_reparsed", "sum"),
        )
        .reset_index()
    )
    docs["range"] = (docs["max_x10"] - docs["min_x10"]).where(docs["n_models"] >= 2)
    docs["bucket"] = bucket(docs["range"])
    docs.insert(0, "level", "document")
    rows = []
    for template, sub in per_judge.groupby("evaluation_template", sort=True):
        rows.append(_alpha_row("evaluation_template", template, sub["document_gen_id"].to_numpy(), sub))
    unit = (per_judge["document_gen_id"] + "|" + per_judge["evaluation_template"]).to_numpy()
    rows.append(_alpha_row("all", "", unit, per_judge))
    return pd.concat([docs, pd.DataFrame(rows)], ignore_index=True).reindex(columns=AGREEMENT_COLUMNS)


def _alpha_row(level: str, template: str, units: np.ndarray, sub: pd.DataFrame) -> dict:
    counts = pd.Series(units).value_counts()
    pairable = counts[counts >= 2]
    return {
        "level": level,
        "evaluation_template": template,
        "n_models": sub["evaluation_llm"].nunique(),
        "alpha": krippendorff_alpha_interval(units, sub["x10"].to_numpy()),
        "n_units": int(pairable.size),
        "n_values": int(pairable.sum()),
        "n_reparsed": int(sub["n_reparsed"].sum()),
    }


def judge_pairs(scores: pd.DataFrame, include_stale: bool = False) -> pd.DataFrame:
    """Long table of (template, model_a, model_b, document, x_a, x_b) on documents both judged."""
    per_judge = judge_means(scores, include_stale)
    cols = ["evaluation_template", "model_a", "model_b", "document_gen_id", "x_a", "x_b"]
    if per_judge.empty:
        return pd.DataFrame(columns=cols)
    left = per_judge[["evaluation_template", "document_gen_id", "evaluation_llm", "x10"]]
    pairs = left.merge(left, on=["evaluation_template", "document_gen_id"], suffixes=("_a", "_b"))
    pairs = pairs[pairs["evaluation_llm_a"] < pairs["evaluation_llm_b"]]
    return pairs.rename(
        columns={"evaluation_llm_a": "model_a", "evaluation_llm_b": "model_b", "x10_a": "x_a", "x10_b": "x_b"}
    )[cols].reset_index(drop=True)
