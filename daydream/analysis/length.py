"""Length bias: do judges reward longer essays, and what do the means look like without it?

Two numbers per judge (model x template):

- ``length_correlation``: Pearson's r (with the Fisher-z interval and the t-test p-value) and
  Spearman's rho between a document's length and the judge's mean score of it. One point per
  document: a judge's replicates are averaged first, so they do not count as independent.
- ``length_controlled_means``: per level of a factor (an essay template, a generation model), the
  mean score at the average length. As AlpacaEval's length-controlled win rate (Dubois et al. 2024)
  fits a length term and predicts with the length difference set to zero, this fits, per judge,
  ``score = mu_level + beta * z + e`` by least squares with ``z`` the standardized length (z-score
  over the judge's rows) and reports ``mu_level`` = the level's predicted mean at ``z = 0``. Solved
  in closed form from per-cluster sums (Frisch-Waugh-Lovell: ``beta`` is the within-level slope), so
  the document-cluster bootstrap is a matrix product like every other interval here. A level whose
  essays are long because the template asks for depth loses that credit too: read ``lc_mean``
  beside ``mean``, not instead of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtri, stdtr

from daydream.analysis.bootstrap import cell_totals, percentile_interval, resample_global
from daydream.analysis.calibration import JUDGE
from daydream.analysis.frames import (
    LEVEL,
    N_BOOT,
    SEED,
    check_level,
    finite_values,
    group_codes,
    require_columns,
)

CORRELATION_COLUMNS = ["n_documents", "pearson_r", "r_ci_low", "r_ci_high", "r_p_value", "spearman_rho"]
CONTROLLED_COLUMNS = [
    "n",
    "n_documents",
    "mean",
    "mean_length",
    "lc_mean",
    "lc_ci_low",
    "lc_ci_high",
    "slope_per_sd",
    "slope_ci_low",
    "slope_ci_high",
]


def pearson(x: np.ndarray, y: np.ndarray, level: float = LEVEL) -> tuple[float, float, float, float]:
    """``(r, ci_low, ci_high, p)``: Fisher-z interval ``tanh(atanh r +- z / sqrt(n - 3))``, two-sided
    p from ``t = r sqrt((n - 2) / (1 - r^2))`` with ``n - 2`` df. NaN below 3 points or without spread."""
    n = x.size
    if n < 3 or np.std(x) == 0 or np.std(y) == 0:
        return (np.nan, np.nan, np.nan, np.nan)
    r = float(np.clip(np.corrcoef(x, y)[0, 1], -1.0, 1.0))
    if abs(r) == 1.0:
        return (r, r, r, 0.0)
    half = float(ndtri(0.5 + level / 2.0)) / np.sqrt(n - 3) if n > 3 else np.inf
    low, high = np.tanh(np.arctanh(r) - half), np.tanh(np.arctanh(r) + half)
    stat = r * np.sqrt((n - 2) / (1.0 - r * r))
    return (r, float(low), float(high), float(2.0 * stdtr(n - 2, -abs(stat))))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r of the average ranks (ties share their mean rank)."""
    if x.size < 3:
        return np.nan
    rx = pd.Series(x).rank(method="average").to_numpy()
    ry = pd.Series(y).rank(method="average").to_numpy()
    if np.std(rx) == 0 or np.std(ry) == 0:
        return np.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def length_correlation(
    frame: pd.DataFrame,
    value: str,
    length: str = "length",
    judge: Sequence[str] = JUDGE,
    document: str = "document_gen_id",
    level: float = LEVEL,
) -> pd.DataFrame:
    """One row per judge: the ``judge`` columns then ``CORRELATION_COLUMNS``."""
    check_level(level)
    require_columns(frame, [value, length, document, *judge], "length_correlation input")
    data = (
        frame[[*judge, document]]
        .astype(str)
        .assign(
            _y=finite_values(frame, value, "length_correlation input"),
            _len=finite_values(frame, length, "length_correlation input"),
        )
    )
    per_doc = data.groupby([*judge, document], sort=True).agg(_y=("_y", "mean"), _len=("_len", "first")).reset_index()
    rows = []
    for key, sub in per_doc.groupby(list(judge), sort=True):
        x, y = sub["_len"].to_numpy(), sub["_y"].to_numpy()
        r, low, high, p = pearson(x, y, level)
        keys = key if isinstance(key, tuple) else (key,)
        rows.append([*keys, len(sub), r, low, high, p, spearman(x, y)])
    return pd.DataFrame(rows, columns=[*judge, *CORRELATION_COLUMNS])


def _controlled(totals: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(lc_means, slope)`` from per-level sums ``n, sy, sz, szy, szz`` (last axis = level)."""
    n, sy, sz, szy, szz = totals
    with np.errstate(invalid="ignore", divide="ignore"):
        sxy = np.nansum(np.where(n > 0, szy - sz * sy / n, 0.0), axis=-1)
        sxx = np.nansum(np.where(n > 0, szz - sz * sz / n, 0.0), axis=-1)
        slope = np.where(sxx > 0, sxy / sxx, 0.0)
        lc = (sy - slope[..., None] * sz) / n
    return lc, slope


def length_controlled_means(
    frame: pd.DataFrame,
    value: str,
    factor: str,
    length: str = "length",
    judge: Sequence[str] = JUDGE,
    cluster: Sequence[str] = ("document_gen_id",),
    *,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> pd.DataFrame:
    """One row per (judge, level of ``factor``): the ``judge`` columns, ``factor``, ``CONTROLLED_COLUMNS``.

    ``slope_per_sd`` is the judge's score change per standard deviation of length (the same on every
    row of a judge); ``lc_mean`` the length-controlled mean; intervals resample ``cluster``.
    """
    check_level(level)
    require_columns(frame, [value, factor, length, *judge, *cluster], "length_controlled_means input")
    y = finite_values(frame, value, "length_controlled_means input")
    raw_len = finite_values(frame, length, "length_controlled_means input")
    judges, judge_keys = group_codes(frame, list(judge))
    levels, level_keys = group_codes(frame, [factor])
    clusters, _ = group_codes(frame, list(cluster))
    n_j, n_l = len(judge_keys), len(level_keys)
    if n_j * n_l == 0:
        return pd.DataFrame(columns=[*judge, factor, *CONTROLLED_COLUMNS])
    # z = length standardised within each judge (mean 0, sd 1 over the judge's rows)
    count = np.bincount(judges, minlength=n_j).astype(float)
    mean = np.bincount(judges, weights=raw_len, minlength=n_j) / np.maximum(count, 1.0)
    dev = raw_len - mean[judges]
    sd = np.sqrt(np.bincount(judges, weights=dev * dev, minlength=n_j) / np.maximum(count - 1.0, 1.0))
    z = np.divide(dev, sd[judges], out=np.zeros_like(dev), where=sd[judges] > 0)
    # one bootstrap for every judge: columns are (judge, level) cells, resampling the same clusters
    cell = judges * n_l + levels
    _, mats = cell_totals(clusters, cell, n_j * n_l, [np.ones_like(y), y, z, z * y, z * z])
    points, draws = resample_global(mats, n_boot, seed)
    lc, slope = _controlled([p.reshape(n_j, n_l) for p in points])
    lc_draws, slope_draws = _controlled([d.reshape(-1, n_j, n_l) for d in draws])
    n_docs = np.diff(mats[0].tocsc().indptr)
    low, high = percentile_interval(lc_draws.reshape(-1, n_j * n_l), n_docs, level)
    docs_per_judge = np.bincount(np.arange(n_j * n_l) // n_l, weights=n_docs, minlength=n_j)
    s_low, s_high = percentile_interval(slope_draws, docs_per_judge, level)
    n = points[0]
    present = np.flatnonzero(n > 0)
    j_of, l_of = present // n_l, present % n_l
    table = pd.concat(
        [judge_keys.iloc[j_of].reset_index(drop=True), level_keys.iloc[l_of].reset_index(drop=True)], axis=1
    )
    table["n"] = n[present].astype(np.int64)
    table["n_documents"] = n_docs[present]
    table["mean"] = points[1][present] / n[present]
    table["mean_length"] = np.bincount(cell, weights=raw_len, minlength=n_j * n_l)[present] / n[present]
    table["lc_mean"] = lc.ravel()[present]
    table["lc_ci_low"], table["lc_ci_high"] = low[present], high[present]
    table["slope_per_sd"] = slope[j_of]
    table["slope_ci_low"], table["slope_ci_high"] = s_low[j_of], s_high[j_of]
    return table[[*judge, factor, *CONTROLLED_COLUMNS]]
