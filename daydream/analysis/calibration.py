"""Per-judge calibration: where a judge's scores sit and how spread they are, and z-scores.

Two judges can agree on the order of essays and still disagree on the numbers (one gives 6-8, the
other 3-9). Averaging their raw scores then lets the wide judge decide the ranking. Z-scoring each
judge (``(score - judge mean) / judge sd``) puts them on one scale, so a pooled mean of z-scores
weighs every judge equally. This assumes the judges saw comparable sets of documents: a judge that
only saw the best essays gets z-scores relative to those.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from daydream.analysis.frames import finite_values, group_codes, require_columns

JUDGE = ("evaluation_llm", "evaluation_template")
"""A judge: one model with one evaluation template (a template is part of how it scores)."""
CALIBRATION_COLUMNS = ["n", "n_documents", "mean", "sd", "min", "q25", "median", "q75", "max"]


def judge_calibration(
    frame: pd.DataFrame, value: str, judge: Sequence[str] = JUDGE, document: str = "document_gen_id"
) -> pd.DataFrame:
    """One row per judge: the ``judge`` columns then ``CALIBRATION_COLUMNS`` (``sd`` with ddof 1).

    For an interval on a judge's mean, use ``means.bootstrap_means(frame, value, judge)``.
    """
    require_columns(frame, [value, document, *judge], "judge_calibration input")
    y = finite_values(frame, value, "judge_calibration input")
    codes, keys = group_codes(frame, list(judge))
    data = pd.DataFrame({"g": codes, "y": y, "d": frame[document].astype(str).to_numpy()})
    grouped = data.groupby("g", sort=True)
    stats = grouped["y"].agg(
        n="size",
        mean="mean",
        sd="std",
        min="min",
        q25=lambda s: s.quantile(0.25),
        median="median",
        q75=lambda s: s.quantile(0.75),
        max="max",
    )
    stats["n_documents"] = grouped["d"].nunique()
    out = pd.concat([keys.reset_index(drop=True), stats.reset_index(drop=True)], axis=1)
    return out[[*judge, *CALIBRATION_COLUMNS]]


def zscore_by_judge(frame: pd.DataFrame, value: str, judge: Sequence[str] = JUDGE) -> pd.Series:
    """``(value - judge mean) / judge sd`` per row (sd with ddof 1), aligned with ``frame``'s index.

    NaN for a judge with fewer than two scores or no spread: it carries no information on order.
    """
    require_columns(frame, [value, *judge], "zscore_by_judge input")
    y = finite_values(frame, value, "zscore_by_judge input")
    codes, keys = group_codes(frame, list(judge))
    n = np.bincount(codes, minlength=len(keys)).astype(float)
    total = np.bincount(codes, weights=y, minlength=len(keys))
    mean = np.divide(total, n, out=np.full(len(keys), np.nan), where=n > 0)
    dev = y - mean[codes]
    ss = np.bincount(codes, weights=dev * dev, minlength=len(keys))
    sd = np.sqrt(np.divide(ss, n - 1.0, out=np.full(len(keys), np.nan), where=n > 1))
    scale = sd[codes]
    z = np.divide(dev, scale, out=np.full(y.size, np.nan), where=np.isfinite(scale) & (scale > 0))
    return pd.Series(z, index=frame.index, name=f"{value}_z")
