"""Which essay is better? Bradley-Terry ratings from pairwise verdicts, per judge and pooled.

Input: one row per comparison generation with ``document_a``, ``document_b`` (as presented),
``verdict`` (``A``, ``B`` or ``tie``; drop parse failures first), the judge column and the template
column. The model, the prior and the fit are in ``bt_fit``.

Intervals: a bootstrap that resamples *matches*, not single comparisons. A match is one judge and
template on one unordered pair: both presented orders and all replicates of it move together,
because they are one piece of evidence about the pair (and the two orders exist to cancel position
bias, which resampling them apart would undo). Up to ``EXACT_MAX_DOCUMENTS`` essays every resample
is refitted exactly; above, the linearised one-step bootstrap of ``bt_fit.linearised_draws`` keeps
1,000 resamples of 1,000 essays within a second. The adaptive design of a Swiss tournament (pairs
depend on earlier results) is ignored by the bootstrap, as in every published use of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from daydream.analysis import bt_fit
from daydream.analysis.bootstrap import bootstrap_se, column_intervals, count_chunks
from daydream.analysis.frames import (
    LEVEL,
    N_BOOT,
    SEED,
    AnalysisInputError,
    check_level,
    group_codes,
    require_columns,
)
from daydream.errors import located, shown

VERDICT_SCORE = {"A": 1.0, "B": 0.0, "tie": 0.5}
"""A verdict as the outcome for the essay presented first (a tie is half a win)."""
EXACT_MAX_DOCUMENTS = 80
"""Up to this many essays in a scope the bootstrap refits every resample exactly."""
POOLED = "pooled"
"""The ``scope`` of the fit over every judge at once."""
RATING_COLUMNS = [
    "scope",
    "document",
    "rating",
    "se",
    "ci_low",
    "ci_high",
    "rank",
    "n_comparisons",
    "wins",
    "losses",
    "ties",
    "component",
    "method",
]


def win_probability(rating_a: float | np.ndarray, rating_b: float | np.ndarray) -> np.ndarray:
    """``P(a beats b)`` under the model: ``1 / (1 + exp(rating_b - rating_a))``."""
    return 1.0 / (1.0 + np.exp(np.asarray(rating_b, dtype=float) - np.asarray(rating_a, dtype=float)))


def outcomes(comparisons: pd.DataFrame) -> np.ndarray:
    """The ``verdict`` column as outcomes for ``document_a``; anything but A/B/tie is refused."""
    verdict = comparisons["verdict"].astype(str)
    s = verdict.map(VERDICT_SCORE)
    if s.isna().any():
        row = int(np.flatnonzero(s.isna().to_numpy())[0])
        raise AnalysisInputError(
            located(
                f"expected A, B or tie, got {shown(verdict.iloc[row])} (drop unparsed comparisons first)",
                file="comparisons",
                row=row,
                field="verdict",
            )
        )
    return s.to_numpy(dtype=float)


def _scope_table(
    scope: str,
    comparisons: pd.DataFrame,
    match: Sequence[str],
    prior_sd: float,
    n_boot: int,
    seed: int,
    level: float,
    start: pd.Series | None = None,
) -> pd.DataFrame:
    a = comparisons["document_a"].astype(str).to_numpy()
    b = comparisons["document_b"].astype(str).to_numpy()
    if (a == b).any():
        row = int(np.flatnonzero(a == b)[0])
        raise AnalysisInputError(located("an essay compared with itself", file="comparisons", row=row))
    docs, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
    comp = bt_fit.Comparisons(codes[: a.size], codes[a.size :], outcomes(comparisons), docs.size)
    initial = None if start is None else start.reindex(docs).fillna(0.0).to_numpy(dtype=float)
    ratings = bt_fit.fit(comp, prior_sd=prior_sd, start=initial)
    pair = pd.DataFrame({"lo": np.minimum(a, b), "hi": np.maximum(a, b)})
    keyed = pd.concat([comparisons[list(match)].reset_index(drop=True), pair], axis=1)
    cluster, _ = group_codes(keyed, [*match, "lo", "hi"])
    exact = docs.size <= EXACT_MAX_DOCUMENTS
    linear = None if exact else bt_fit.Linearisation(comp, ratings, cluster, prior_sd)
    draws = np.empty((n_boot, docs.size))
    for first, counts in count_chunks(int(cluster.max()) + 1, n_boot, seed):
        part = linear.draws(counts) if linear is not None else bt_fit.exact_draws(comp, cluster, counts, prior_sd)
        draws[first : first + counts.shape[0]] = part
    tail = np.full(docs.size, (1.0 - level) / 2.0)
    graph = sparse.coo_matrix((np.ones(comp.i.size), (comp.i, comp.j)), shape=(docs.size, docs.size))
    _, component = connected_components(graph, directed=False)
    s = comp.s
    wins = np.bincount(comp.i, weights=s == 1.0, minlength=docs.size) + np.bincount(
        comp.j, weights=s == 0.0, minlength=docs.size
    )
    losses = np.bincount(comp.i, weights=s == 0.0, minlength=docs.size) + np.bincount(
        comp.j, weights=s == 1.0, minlength=docs.size
    )
    n_comp = np.bincount(comp.i, minlength=docs.size) + np.bincount(comp.j, minlength=docs.size)
    ci_low, ci_high = column_intervals(draws, tail, 1.0 - tail)
    out = pd.DataFrame(
        {
            "scope": scope,
            "document": docs.astype(object),
            "rating": ratings,
            "se": bootstrap_se(draws),
            "ci_low": ci_low,
            "ci_high": ci_high,
            "n_comparisons": n_comp,
            "wins": wins.astype(np.int64),
            "losses": losses.astype(np.int64),
            "ties": (n_comp - wins - losses).astype(np.int64),
            "component": component,
            "method": "exact" if exact else "linearised",
        }
    )
    out = out.sort_values(["rating", "document"], ascending=[False, True], kind="stable").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out[RATING_COLUMNS]


def bradley_terry(
    comparisons: pd.DataFrame,
    *,
    judge: str = "evaluation_llm",
    template: str = "evaluation_template",
    per_judge: bool = True,
    prior_sd: float = bt_fit.PRIOR_SD,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> pd.DataFrame:
    """Ratings with bootstrap intervals: ``scope = "pooled"`` over all judges, then one scope per judge.

    Output ``RATING_COLUMNS``, best first within each scope: ``rating`` in logits (sum zero within a
    scope; ``win_probability`` turns two into a probability), ``se`` and the percentile interval of
    the bootstrap, ``rank``, the essay's comparisons, wins, losses and ties in that scope,
    ``component`` (essays in different components were never linked by comparisons: only the prior
    relates their ratings) and ``method`` (``exact`` or ``linearised`` bootstrap).
    """
    check_level(level)
    if prior_sd <= 0:
        raise AnalysisInputError(f"prior_sd must be positive for the bootstrap, got {shown(prior_sd)}")
    require_columns(comparisons, ["document_a", "document_b", "verdict", judge, template], "comparisons")
    if comparisons.empty:
        return pd.DataFrame(columns=RATING_COLUMNS)
    match = [judge, template]
    tables = [_scope_table(POOLED, comparisons, match, prior_sd, n_boot, seed, level)]
    if per_judge:
        pooled = tables[0].set_index("document")["rating"]
        for name, sub in comparisons.groupby(comparisons[judge].astype(str), sort=True):
            tables.append(_scope_table(str(name), sub, match, prior_sd, n_boot, seed, level, start=pooled))
    return pd.concat(tables, ignore_index=True)
