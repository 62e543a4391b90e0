"""The cluster bootstrap as a matrix product: one engine for every interval in ``daydream.analysis``.

Why clusters: a judge's replicates of one essay, or the six evaluations of one essay, are not
independent draws; resampling evaluations would count them as such and give intervals that are too
narrow. So the unit that is resampled is a *cluster* (the essay for template/model means, the judge
for one essay's mean, a match for Bradley-Terry), and every statistic is computed from per-cluster
totals.

Why a matrix product: a resample is a vector of counts (how often each cluster was drawn), so the
resampled totals of every group at once are ``counts @ totals``. ``B`` resamples are a ``B x C`` count
matrix times a sparse ``C x G`` totals matrix: no Python loop per resample. Counts are drawn in chunks
of at most ``CHUNK_CELLS`` cells so memory stays bounded for 100,000 clusters x 1,000 resamples.

Draws are the classical nonparametric bootstrap (each resample draws, within each stratum, as many
clusters as the stratum has, with replacement). ``strata`` all zero is the ordinary one-sample
bootstrap over clusters, which keeps the correlation between groups that share clusters (two judges
rating the same essays), so the difference of their means gets the right variance.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from scipy.special import ndtr, ndtri, stdtr, stdtrit

CHUNK_CELLS = 1_000_000
"""Most cells of one chunk of draws: small enough that the scatter of ``bincount`` stays in cache
(a 16M-cell chunk is ~3x slower than 1M-cell ones) and memory stays flat for any number of clusters."""

DENSE_GROUPS = 256
"""Totals with at most this many columns are multiplied as dense matrices (BLAS), wider ones sparse."""


CACHE_CELLS = 12_000_000
"""Count matrices up to this many cells are kept (as float64, 96 MB) for the next call with the same
clusters count, resamples and seed: a report bootstraps the same 11,000-17,000 documents a dozen
times, and drawing the matrix, then converting it for the products, was most of each bootstrap's
cost. Sharing it is also statistically tidy: every table of one report sees the same resamples."""
_CACHE_ENTRIES = 2
_cache: dict[tuple[int, int, int], np.ndarray] = {}
_cache_lock = threading.Lock()


def _draw_counts(n_clusters: int, n_boot: int, seed: int) -> Iterator[tuple[int, np.ndarray]]:
    rng = np.random.default_rng(seed)
    rows = max(1, min(n_boot, CHUNK_CELLS // max(n_clusters, 1)))
    for first in range(0, n_boot, rows):
        count = min(rows, n_boot - first)
        picks = rng.integers(0, n_clusters, size=(count, n_clusters), dtype=np.int64)
        picks += (np.arange(count, dtype=np.int64) * n_clusters)[:, None]
        yield first, np.bincount(picks.ravel(), minlength=count * n_clusters).reshape(count, n_clusters)


def count_chunks(n_clusters: int, n_boot: int, seed: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(first_resample, counts)`` chunks of the ``n_boot x n_clusters`` bootstrap count matrix.

    Row ``b`` says how often each cluster was drawn in resample ``b`` (``n_clusters`` draws with
    replacement, so each row sums to ``n_clusters``). The same arguments give the same matrix.
    """
    key = (n_clusters, n_boot, seed)
    if n_clusters * n_boot > CACHE_CELLS:
        for first, counts in _draw_counts(*key):
            yield first, counts.astype(float)
        return
    with _cache_lock:
        matrix = _cache.get(key)
    if matrix is None:
        matrix = np.empty((n_boot, n_clusters), dtype=float)
        for first, counts in _draw_counts(*key):
            matrix[first : first + counts.shape[0]] = counts
        matrix.flags.writeable = False  # shared by every caller: nobody may change a resample
        with _cache_lock:  # the UI's worker threads may bootstrap at the same time
            while len(_cache) >= _CACHE_ENTRIES:
                _cache.pop(next(iter(_cache)))
            _cache[key] = matrix
    rows = max(1, min(n_boot, CHUNK_CELLS // max(n_clusters, 1)))
    for first in range(0, n_boot, rows):
        yield first, matrix[first : first + rows]


def resample_global(totals: Sequence[Any], n_boot: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(point, draws)`` for matrices of per-cluster totals (``C x G_k``, row = cluster), one stratum.

    ``point[k]`` is the column sums (each cluster once), ``draws[k]`` is ``n_boot x G_k``: the column
    sums under each resample, ``counts @ totals``.
    """
    mats: list[np.ndarray | sparse.csc_matrix] = []
    for t in totals:
        if sparse.issparse(t) and t.shape[1] > DENSE_GROUPS:
            mats.append(sparse.csc_matrix(t))
        else:
            mats.append(np.asarray(t.toarray() if sparse.issparse(t) else t, dtype=float))
    point = [np.asarray(m.sum(axis=0)).ravel() for m in mats]
    draws = [np.full((n_boot, m.shape[1]), np.nan) for m in mats]
    n_clusters = mats[0].shape[0] if mats else 0
    if n_clusters == 0:
        return point, draws
    # the narrow (dense) totals side by side: one product per chunk reads the chunk once for all of them
    narrow = [k for k, m in enumerate(mats) if not sparse.issparse(m)]
    stacked = np.hstack([mats[k] for k in narrow]) if narrow else None
    edges = np.cumsum([0, *(mats[k].shape[1] for k in narrow)])
    for first, counts in count_chunks(n_clusters, n_boot, seed):
        rows = slice(first, first + counts.shape[0])
        if stacked is not None:
            product = counts @ stacked
            for k, lo, hi in zip(narrow, edges[:-1], edges[1:], strict=True):
                draws[k][rows] = product[:, lo:hi]
        for m, out in zip(mats, draws, strict=True):
            if sparse.issparse(m):
                out[rows] = (m.T @ counts.T).T
    return point, draws


def resample_within(
    values: Sequence[np.ndarray], strata: np.ndarray, n_strata: int, n_boot: int, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Stratified resampling: each stratum's clusters are drawn from that stratum only.

    ``values[k][c]`` is a per-cluster total, ``strata[c]`` the stratum (= the output column) of
    cluster ``c``. Returns ``(point, draws)`` per value: ``point`` ``(n_strata,)``, ``draws``
    ``n_boot x n_strata``, the resampled per-stratum sums (a gather and a segment sum per chunk).
    """
    strata = np.asarray(strata, dtype=np.int64)
    order = np.argsort(strata, kind="stable")
    sizes = np.bincount(strata, minlength=n_strata)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    stacked = np.column_stack([np.asarray(v, dtype=float) for v in values])[order] if values else np.empty((0, 0))
    point = [np.bincount(strata, weights=np.asarray(v, dtype=float), minlength=n_strata) for v in values]
    draws = [np.full((n_boot, n_strata), np.nan) for _ in values]
    present = np.flatnonzero(sizes > 0)
    n_clusters = strata.size
    if n_clusters == 0:
        return point, draws
    size_of = sizes[strata[order]].astype(np.float32 if sizes.max() <= 4096 else np.float64)
    start_of = starts[strata[order]]
    last_of = size_of.astype(np.int64) - 1
    # float32 uniforms halve the cost; exact enough while strata are small (2^24 values over <= 4096 slots)
    uniform_dtype = np.float32 if sizes.max() <= 4096 else np.float64
    rng = np.random.default_rng(seed)
    rows = max(1, min(n_boot, CHUNK_CELLS // n_clusters))
    for first in range(0, n_boot, rows):
        count = min(rows, n_boot - first)
        uniform = rng.random((count, n_clusters), dtype=uniform_dtype)
        picks = start_of + np.minimum((uniform * size_of).astype(np.int64), last_of)
        sums = np.add.reduceat(stacked[picks], starts[present], axis=1)  # count x strata x values
        for k, out in enumerate(draws):
            out[first : first + count, present] = sums[:, :, k]
    return point, draws


def cell_totals(
    cluster: np.ndarray, group: np.ndarray, n_groups: int, columns: Sequence[np.ndarray]
) -> tuple[np.ndarray, list[sparse.csr_matrix]]:
    """Per (cluster, group) sums of each of ``columns`` as sparse ``C x G`` matrices.

    ``cluster`` and ``group`` are integer codes per row. Returns the cluster codes' uniques (row ``i``
    of every matrix is cluster ``uniques[i]``) and one matrix per column.
    """
    uniques, rows = np.unique(cluster, return_inverse=True)
    shape = (uniques.size, n_groups)
    mats = [sparse.csr_matrix((np.asarray(col, dtype=float), (rows, group)), shape=shape) for col in columns]
    for m in mats:
        m.sum_duplicates()
    return uniques, mats


def expanded_alpha(n_clusters: np.ndarray, level: float) -> np.ndarray:
    """Tail probability per group for Hesterberg's expanded percentile interval.

    The plain percentile interval is too narrow for few clusters (it ignores the ``n/(n-1)`` variance
    bias and the t-vs-normal tails). Hesterberg (2015, "What teachers should know about the bootstrap",
    The American Statistician 69(4), sec. 4.1) widens it by taking the percentiles at
    ``Phi(-sqrt(n/(n-1)) t_{alpha/2, n-1})`` instead of ``alpha/2``. For 6 clusters that is 0.24% instead
    of 2.5%; for 1,000 clusters it is 2.49%. One cluster gives no interval (NaN).
    """
    n = np.asarray(n_clusters, dtype=float)
    tail = (1.0 - level) / 2.0
    out = np.full(n.shape, np.nan)
    ok = n >= 2
    t_quant = stdtrit(n[ok] - 1.0, tail)  # Student t quantile (scipy.special: no scipy.stats import)
    out[ok] = ndtr(np.sqrt(n[ok] / (n[ok] - 1.0)) * t_quant)
    return out


def column_intervals(draws: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles ``low[g]`` and ``high[g]`` of column ``g`` of ``draws``, ignoring NaN, numpy's default
    (linear) rule.

    One sort of the whole matrix for both, instead of ``nanquantile``'s per-column Python loop (which
    took 10 s for 16,668 columns).
    """
    ordered = np.sort(draws, axis=0)
    return _sorted_quantiles(ordered, low), _sorted_quantiles(ordered, high)


def _sorted_quantiles(ordered: np.ndarray, q: np.ndarray) -> np.ndarray:
    finite = np.isfinite(ordered).sum(axis=0)  # NaN sort last
    out = np.full(ordered.shape[1], np.nan)
    ok = (finite > 0) & np.isfinite(q)
    if not ok.any():
        return out
    position = q[ok] * (finite[ok] - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, finite[ok] - 1)
    cols = np.flatnonzero(ok)
    low_val, high_val = ordered[below, cols], ordered[above, cols]
    out[ok] = low_val + (position - below) * (high_val - low_val)
    return out


def percentile_interval(draws: np.ndarray, n_clusters: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Expanded percentile interval per column of ``draws`` (``B x G``; NaN draws are ignored)."""
    tails = expanded_alpha(n_clusters, level)
    if draws.shape[1] == 0:
        return np.empty(0), np.empty(0)
    return column_intervals(draws, tails, 1.0 - tails)


def bootstrap_se(draws: np.ndarray) -> np.ndarray:
    finite = np.isfinite(draws).sum(axis=0)
    if draws.shape[0] >= 2 and (finite == draws.shape[0]).all():  # no NaN: the plain std, ~3x faster
        return draws.std(axis=0, ddof=1)
    out = np.full(draws.shape[1], np.nan)
    ok = finite >= 2
    if ok.any():
        out[ok] = np.nanstd(draws[:, ok], axis=0, ddof=1)
    return out


@dataclass(frozen=True)
class DifferenceTest:
    """Difference of two estimates with its cluster-bootstrap standard error."""

    diff: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray


def difference_test(diff: np.ndarray, diff_draws: np.ndarray, n_clusters: np.ndarray, level: float) -> DifferenceTest:
    """Wald test of ``diff == 0`` with the bootstrap standard error, small-sample corrected.

    ``diff_draws`` (``B x K``) are the resampled differences, computed under the same resamples for
    both sides so a shared cluster's covariance is in them. The standard error is their standard
    deviation times ``sqrt(m/(m-1))`` and the reference distribution is Student's t with ``m - 1``
    degrees of freedom, ``m`` the smaller cluster count of the two sides: the same small-sample rule
    as ``expanded_alpha``, and the plain normal Wald test when ``m`` is large. A p-value from the
    standard error rather than from counting resamples is continuous, so it survives Holm's
    correction over many pairs (1,000 resamples cannot give a count-based p below 0.001).
    """
    diff = np.asarray(diff, dtype=float)
    m = np.asarray(n_clusters, dtype=float)
    se = bootstrap_se(diff_draws)
    with np.errstate(invalid="ignore", divide="ignore"):
        se_adj = np.where(m >= 2, se * np.sqrt(m / (m - 1.0)), np.nan)
        df = np.where(m >= 2, m - 1.0, np.nan)
        tq = stdtrit(df, 0.5 + level / 2.0)
        stat = np.abs(diff) / se_adj
        p = 2.0 * stdtr(df, -stat)
    p = np.where((se_adj == 0) & (diff == 0), 1.0, p)
    p = np.where((se_adj == 0) & (diff != 0), 0.0, p)
    return DifferenceTest(diff, se_adj, diff - tq * se_adj, diff + tq * se_adj, p)


def normal_quantile(level: float) -> float:
    """Two-sided normal critical value: 1.96 for 0.95."""
    return float(ndtri(0.5 + level / 2.0))
