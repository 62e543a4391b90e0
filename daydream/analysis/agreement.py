"""Krippendorff's alpha (interval metric) with a bootstrap interval over units.

The point estimate is the formula of ``daydream.reports.agreement.krippendorff_alpha_interval``
(docs/reports.md), rewritten here on per-unit sufficient statistics so that a resample of units is a
weight vector: with ``m_u`` values in unit ``u``, ``s1_u = sum v``, ``s2_u = sum v^2`` and the
within-unit disagreement ``o_u = 2 (m_u s2_u - s1_u^2) / (m_u - 1)`` (units with ``m_u >= 2`` only),

    n = sum m_u,  D_o = sum o_u / n,  D_e = 2 (n sum s2_u - (sum s1_u)^2) / (n (n - 1)),
    alpha = 1 - D_o / D_e,

and a resample replaces every ``sum_u`` by ``sum_u w_u``. Not imported from the reports package:
analysis must not depend on reports (reports will import analysis), and that function takes raw
pairs, which would mean one call per resample. The tests check both agree.

The interval resamples units (documents), the usual unit bootstrap for alpha; Hayes & Krippendorff
(2007) resample pairs of values instead, which treats a unit's values as independent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from daydream.analysis.bootstrap import percentile_interval, resample_global
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

ALPHA_COLUMNS = ["alpha", "ci_low", "ci_high", "n_units", "n_values"]
_EPS = 1e-12


def unit_statistics(units: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``(U, 4)`` columns ``m, s1, s2, o`` of the pairable units (two or more values)."""
    _, codes = np.unique(np.asarray(units), return_inverse=True)
    codes = codes.ravel()
    m = np.bincount(codes).astype(float)
    s1 = np.bincount(codes, weights=values)
    s2 = np.bincount(codes, weights=values * values)
    keep = m >= 2
    m, s1, s2 = m[keep], s1[keep], s2[keep]
    o = 2.0 * (m * s2 - s1 * s1) / np.maximum(m - 1.0, 1.0)
    return np.column_stack([m, s1, s2, o])


def alpha_from_totals(totals: np.ndarray) -> np.ndarray:
    """Alpha from summed ``m, s1, s2, o`` (last axis); NaN when fewer than 2 values or no variance."""
    n, s1, s2, o = (totals[..., k] for k in range(4))
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = 2.0 * (n * s2 - s1 * s1) / (n * (n - 1.0))
        alpha = 1.0 - (o / n) / expected
    return np.where((n >= 2) & (expected > _EPS), alpha, np.nan)


def krippendorff_alpha(units: np.ndarray, values: np.ndarray) -> float:
    """Alpha from (unit, value) pairs, one per coder's value; NaN values are dropped."""
    values = np.asarray(values, dtype=float)
    keep = np.isfinite(values)
    stats = unit_statistics(np.asarray(units)[keep], values[keep])
    return float(alpha_from_totals(stats.sum(axis=0)))


def alpha_intervals(
    frame: pd.DataFrame,
    value: str,
    unit: Sequence[str],
    by: Sequence[str] = (),
    *,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> pd.DataFrame:
    """One row per ``by`` group: the ``by`` columns then ``ALPHA_COLUMNS``.

    ``frame`` has one row per (unit, coder) value: average a judge's replicates first (as the
    reports do, ``daydream.reports.agreement.judge_means``), so a judge is one coder. ``unit`` names
    the columns whose combination is a unit (``document_gen_id``; add ``evaluation_template`` to pool
    templates). ``n_units``/``n_values`` count pairable units and their values.
    """
    check_level(level)
    check_n_boot(n_boot)
    require_columns(frame, [value, *unit, *by], "alpha_intervals input")
    y = finite_values(frame, value, "alpha_intervals input")
    units, _ = group_codes(frame, list(unit))
    groups, keys = group_codes(frame, list(by))
    n_groups = len(keys)
    # per (unit, group) cell: m, s1, s2, o; one bootstrap over units for all groups at once
    cells, cell_index = np.unique(units * max(n_groups, 1) + groups, return_inverse=True)
    cell_index = cell_index.ravel()
    m = np.bincount(cell_index).astype(float)
    s1 = np.bincount(cell_index, weights=y)
    s2 = np.bincount(cell_index, weights=y * y)
    keep = m >= 2
    unit_of, group_of = cells[keep] // max(n_groups, 1), cells[keep] % max(n_groups, 1)
    o = 2.0 * (m[keep] * s2[keep] - s1[keep] ** 2) / (m[keep] - 1.0)
    stats = np.column_stack([m[keep], s1[keep], s2[keep], o])
    rows = np.unique(unit_of, return_inverse=True)[1].ravel()
    columns = (group_of[:, None] * 4 + np.arange(4)[None, :]).ravel()
    totals = sparse.csr_matrix(
        (stats.ravel(), (np.repeat(rows, 4), columns)), shape=(int(rows.max(initial=-1)) + 1, 4 * n_groups)
    )
    (point,), (draws,) = resample_global([totals], n_boot, seed)
    alpha = alpha_from_totals(point.reshape(n_groups, 4))
    n_units = np.bincount(group_of, minlength=n_groups)
    low, high = percentile_interval(alpha_from_totals(draws.reshape(n_boot, n_groups, 4)), n_units, level)
    defined = np.isfinite(alpha)
    out = keys.reset_index(drop=True)
    out["alpha"] = alpha
    out["ci_low"] = np.where(defined, low, np.nan)
    out["ci_high"] = np.where(defined, high, np.nan)
    out["n_units"] = n_units
    out["n_values"] = np.bincount(group_of, weights=stats[:, 0], minlength=n_groups).astype(np.int64)
    return out[[*by, *ALPHA_COLUMNS]]
