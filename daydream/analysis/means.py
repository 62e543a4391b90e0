"""Group means with cluster-bootstrap 95% intervals: the numbers in the pivots and the leaderboard.

The mean is the plain mean over rows (the same number the reports show today); its interval
resamples clusters, not rows. For template/model/judge tables the cluster is the evaluated document
(``document_gen_id``), so a document's replicates and its several judges move together; for one
document's own mean (the leaderboard) the cluster is the judge (``evaluation_llm`` x
``evaluation_template``) and resampling is stratified within the document (``stratify=True``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from daydream.analysis.bootstrap import (
    bootstrap_se,
    cell_totals,
    percentile_interval,
    resample_global,
    resample_within,
)
from daydream.analysis.frames import (
    LEVEL,
    N_BOOT,
    SEED,
    AnalysisInputError,
    check_level,
    check_n_boot,
    finite_values,
    group_codes,
    require_columns,
)

MEAN_COLUMNS = ["n", "n_clusters", "mean", "se", "ci_low", "ci_high"]
"""Columns ``bootstrap_means`` adds after the group columns."""


@dataclass(frozen=True)
class GroupReplicates:
    """Per-group estimates and their bootstrap draws, for callers that combine groups (differences)."""

    keys: pd.DataFrame
    """One row per group, the ``by`` columns."""
    n: np.ndarray
    n_clusters: np.ndarray
    estimate: np.ndarray
    draws: np.ndarray
    """``n_boot x groups``; NaN where a resample drew no cluster of the group."""


def cluster_codes(frame: pd.DataFrame, cluster: Sequence[str]) -> np.ndarray:
    codes, _ = group_codes(frame, list(cluster))
    return codes


def mean_replicates(
    frame: pd.DataFrame,
    value: str,
    by: Sequence[str],
    cluster: Sequence[str],
    *,
    stratify: bool = False,
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> GroupReplicates:
    """Means of ``value`` per ``by`` group and their cluster-bootstrap draws (see ``bootstrap_means``)."""
    require_columns(frame, [value, *by, *cluster], "bootstrap_means input")
    check_n_boot(n_boot)
    y = finite_values(frame, value, "bootstrap_means input")
    group, keys = group_codes(frame, list(by))
    clusters = cluster_codes(frame, cluster)
    uniques, (sums, counts) = cell_totals(clusters, group, len(keys), [y, np.ones_like(y)])
    if stratify:
        strata = _stratum_per_cluster(counts, "stratify=True needs each cluster inside one group")
        per_cluster = [np.asarray(m.sum(axis=1)).ravel() for m in (sums, counts)]
        points, draws_ = resample_within(per_cluster, strata, len(keys), n_boot, seed)
    else:
        points, draws_ = resample_global([sums, counts], n_boot, seed)
    (sum_point, count_point), (sum_draws, count_draws) = points, draws_
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = sum_point / count_point
        draws = sum_draws / count_draws
    n_clusters = np.diff(counts.tocsc().indptr)
    return GroupReplicates(keys, count_point.astype(np.int64), n_clusters.astype(np.int64), estimate, draws)


def _stratum_per_cluster(counts, message: str) -> np.ndarray:
    """The one group each cluster belongs to; refused when a cluster spans groups."""
    csr = counts.tocsr()
    per_row = np.diff(csr.indptr)
    if (per_row != 1).any():
        raise AnalysisInputError(message)
    return csr.indices.astype(np.int64)


def bootstrap_means(
    frame: pd.DataFrame,
    value: str,
    by: Sequence[str],
    cluster: Sequence[str] = ("document_gen_id",),
    *,
    stratify: bool = False,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> pd.DataFrame:
    """One row per ``by`` group: ``n`` rows, ``n_clusters``, ``mean``, ``se``, ``ci_low``, ``ci_high``.

    ``frame`` holds the usable evaluations (``value`` finite; drop failed and stale rows first).
    ``cluster`` names the columns whose combination is the resampling unit. Without ``stratify`` one
    resample draws clusters from all of them (groups sharing a cluster stay correlated); with it,
    each group's clusters are resampled within the group (each cluster must lie in one group).
    The interval is Hesterberg's expanded percentile interval (``bootstrap.expanded_alpha``); a group
    with one cluster has none. Deterministic for a given ``seed``.
    """
    check_level(level)
    reps = mean_replicates(frame, value, by, cluster, stratify=stratify, n_boot=n_boot, seed=seed)
    low, high = percentile_interval(reps.draws, reps.n_clusters, level)
    out = reps.keys.copy()
    out["n"] = reps.n
    out["n_clusters"] = reps.n_clusters
    out["mean"] = reps.estimate
    out["se"] = bootstrap_se(reps.draws)
    out["ci_low"] = low
    out["ci_high"] = high
    return out.reset_index(drop=True)
