"""Holm's step-down correction: which of many differences survive looking at all of them.

Holm (1979) controls the family-wise error rate (the chance of any false "significant") at ``alpha``
under any dependence between the tests, which matters here: the pairwise differences of one table
share groups and clusters. It is uniformly more powerful than Bonferroni.
"""

from __future__ import annotations

import numpy as np


def holm(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm-adjusted p-values: reject ``i`` at level ``alpha`` iff ``adjusted[i] <= alpha``.

    Sorted ascending, ``adjusted_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``. NaN p-values (a test
    that could not be made) stay NaN and do not count in ``m``.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out
