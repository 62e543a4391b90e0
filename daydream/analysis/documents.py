"""One document's mean score, with an interval, for the per-document pivot and the leaderboard.

A document has few judges (3 models x 2 templates = 6 in the demo), too few for a bootstrap of its
own scores: six equal scores would get a zero-width interval, and the percentile interval of six
values covers ~85%, not 95%. So the noise around a document's mean is learnt from all documents: a
*residual bootstrap* (Davison & Hinkley 1997, "Bootstrap methods and their application", sec. 6.2).

- A judge is one cluster (``evaluation_llm`` x ``evaluation_template``): its replicates of the
  document are averaged first, so they are not counted as independent.
- Residual of judge ``c`` on document ``d``: its mean minus the mean of the document's judges, times
  ``sqrt(m_d / (m_d - 1))`` (``m_d`` judges; the factor undoes the shrinkage of residuals about an
  estimated mean). The residuals of all documents form one pool.
- A resample of document ``d``: its mean plus the mean of ``m_d`` residuals drawn from the pool.
  The interval is the percentile interval of those draws. Documents with the same ``m`` share the
  distribution of the added noise, so it is drawn once per ``m``: cheap for 100,000 documents.

Assumption: judges disagree about every document about equally (homoscedastic noise). A document the
judges disagree on more gets the common interval; ``means.bootstrap_means(..., stratify=True)`` with
``cluster=[document, *judge]`` is the per-document alternative when documents have many judges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from daydream.analysis.bootstrap import column_intervals, difference_test
from daydream.analysis.calibration import JUDGE
from daydream.analysis.frames import (
    LEVEL,
    N_BOOT,
    SEED,
    check_level,
    check_n_boot,
    finite_values,
    group_codes,
    require_columns,
)
from daydream.analysis.multiple import holm

DOCUMENT_COLUMNS = ["n", "n_judges", "mean", "se", "ci_low", "ci_high"]
LEADERBOARD_COLUMNS = [
    "rank",
    *DOCUMENT_COLUMNS,
    "diff_vs_top",
    "p_vs_top",
    "p_holm_vs_top",
    "differs_from_top",
]
ALPHA = 0.05
"""Family-wise error rate of ``differs_from_top``."""


@dataclass(frozen=True)
class _Documents:
    ids: np.ndarray
    n: np.ndarray
    n_judges: np.ndarray
    mean: np.ndarray
    pool: np.ndarray
    """Scaled residuals of every judge on every document with two judges or more."""


def _documents(frame: pd.DataFrame, value: str, document: str, judge: Sequence[str]) -> _Documents:
    require_columns(frame, [value, document, *judge], "document_means input")
    y = finite_values(frame, value, "document_means input")
    docs, keys = group_codes(frame, [document])
    judges, _ = group_codes(frame, list(judge))
    width = int(judges.max()) + 1 if judges.size else 1
    cell, cell_index = np.unique(docs * width + judges, return_inverse=True)
    cell_index = cell_index.ravel()
    cell_sum = np.bincount(cell_index, weights=y)
    cell_n = np.bincount(cell_index)
    cell_doc = cell // width
    cell_mean = cell_sum / cell_n
    n_docs = len(keys)
    n = np.bincount(docs, minlength=n_docs)
    m = np.bincount(cell_doc, minlength=n_docs)
    judge_average = np.bincount(cell_doc, weights=cell_mean, minlength=n_docs) / np.maximum(m, 1)
    scale = np.sqrt(np.divide(m, m - 1.0, out=np.zeros(n_docs), where=m > 1))
    residual = (cell_mean - judge_average[cell_doc]) * scale[cell_doc]
    return _Documents(
        ids=keys[document].to_numpy(dtype=object),
        n=n,
        n_judges=m,
        mean=np.bincount(docs, weights=y, minlength=n_docs) / np.maximum(n, 1),
        pool=residual[m[cell_doc] > 1],
    )


def _noise_draws(pool: np.ndarray, m: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` means of ``m`` residuals drawn from ``pool`` with replacement."""
    if pool.size == 0:
        return np.full(n_boot, np.nan)
    return pool[rng.integers(0, pool.size, size=(n_boot, m))].mean(axis=1)


def document_means(
    frame: pd.DataFrame,
    value: str,
    document: str = "document_gen_id",
    judge: Sequence[str] = JUDGE,
    *,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> pd.DataFrame:
    """One row per document: ``document`` then ``DOCUMENT_COLUMNS`` (``mean`` over its usable
    evaluations; ``n_judges`` judge clusters; interval from the residual bootstrap)."""
    check_level(level)
    check_n_boot(n_boot)
    docs = _documents(frame, value, document, judge)
    rng = np.random.default_rng(seed)
    tail = (1.0 - level) / 2.0
    low = np.full(docs.ids.size, np.nan)
    high = np.full(docs.ids.size, np.nan)
    se = np.full(docs.ids.size, np.nan)
    for m in np.unique(docs.n_judges[docs.n_judges > 0]):
        noise = _noise_draws(docs.pool, int(m), n_boot, rng)
        rows = docs.n_judges == m
        q_low, q_high = column_intervals(noise[:, None], np.array([tail]), np.array([1 - tail]))
        low[rows], high[rows] = docs.mean[rows] + q_low[0], docs.mean[rows] + q_high[0]
        se[rows] = np.std(noise, ddof=1)
    return pd.DataFrame(
        {document: docs.ids, "n": docs.n, "n_judges": docs.n_judges, "mean": docs.mean, "se": se}
    ).assign(ci_low=low, ci_high=high)


def leaderboard(
    frame: pd.DataFrame,
    value: str,
    top_k: int = 20,
    *,
    document: str = "document_gen_id",
    judge: Sequence[str] = JUDGE,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """The ``top_k`` documents by mean ``value``, each with its interval and a test against rank 1.

    Ranking as ``daydream select top``: mean, then more evaluations, then the smaller id. Output:
    ``document`` then ``LEADERBOARD_COLUMNS``. ``p_vs_top`` tests ``mean(rank 1) - mean(this)`` with
    the resampled differences (independent residual draws for the two documents; a Wald test with
    their standard deviation, ``bootstrap.difference_test``); ``p_holm_vs_top`` is Holm-adjusted over
    ranks 2..k and ``differs_from_top = p_holm_vs_top <= alpha``. The top document's mean is biased
    upwards (it is the largest of many); the interval does not correct that, one more reason to read
    the test rather than the order.
    """
    check_level(level)
    check_n_boot(n_boot)
    docs = _documents(frame, value, document, judge)
    order = np.lexsort((docs.ids.astype(str), -docs.n, -docs.mean))[: max(int(top_k), 0)]
    if order.size == 0:
        return pd.DataFrame(columns=[document, *LEADERBOARD_COLUMNS])
    rng = np.random.default_rng(seed)
    draws = np.column_stack([docs.mean[d] + _noise_draws(docs.pool, int(docs.n_judges[d]), n_boot, rng) for d in order])
    tail = np.full(order.size, (1.0 - level) / 2.0)
    est = docs.mean[order]
    test = difference_test(est[0] - est, draws[:, :1] - draws, np.full(order.size, max(docs.pool.size, 2)), level)
    p = test.p_value.copy()
    p[0] = np.nan
    adjusted = holm(p)
    ci_low, ci_high = column_intervals(draws, tail, 1.0 - tail)
    return pd.DataFrame(
        {
            document: docs.ids[order],
            "rank": np.arange(1, order.size + 1),
            "n": docs.n[order],
            "n_judges": docs.n_judges[order],
            "mean": est,
            "se": np.std(draws, axis=0, ddof=1),
            "ci_low": ci_low,
            "ci_high": ci_high,
            "diff_vs_top": est[0] - est,
            "p_vs_top": p,
            "p_holm_vs_top": adjusted,
            "differs_from_top": adjusted <= alpha,
        }
    )
