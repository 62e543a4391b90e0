"""Which factor moves the score? A sequential (type I) sum-of-squares ANOVA.

The response is ``score_normalized * 10``. Factors enter one at a time in ``FACTORS`` order; each
one's sum of squares is how much the fitted sum of squares grows when its one-hot columns join the
model (``SS_k = ||fit_k||^2 - ||fit_{k-1}||^2``, least squares with numpy); its share is
``SS_k / SS_total``. What no factor explains, replicates and interactions, is the residual. In a
balanced design the order does not matter and each share equals the factor's eta-squared; in an
unbalanced one an earlier factor takes the variance it shares with later ones.

The first factor (combo, which may have thousands of levels) is absorbed instead of one-hot encoded
(Frisch-Waugh-Lovell): its sum of squares is the between-group sum of squares, and the later factors
are fitted on values and one-hot columns centred within each combo. So the least-squares problem
stays ``n x (levels of the other factors)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from daydream.reports.pivots import with_flags

FACTORS: list[tuple[str, str]] = [
    ("combo", "combo_id"),
    ("draft_template", "draft_template"),
    ("essay_template", "essay_template"),
    ("generation_model", "generation_model"),
    ("evaluation_template", "evaluation_template"),
    ("evaluation_model", "evaluation_llm"),
]
VARIANCE_COLUMNS = ["factor", "column", "levels", "df", "sum_sq", "share", "n"]


def _group_center(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Subtract each group's mean (rows of ``values``; 1-D or 2-D)."""
    counts = np.bincount(codes, minlength=n_groups).astype(float)
    if values.ndim == 1:
        means = np.bincount(codes, weights=values, minlength=n_groups) / counts
        return values - means[codes]
    sums = np.zeros((n_groups, values.shape[1]))
    np.add.at(sums, codes, values)
    return values - (sums / counts[:, None])[codes]


def _no_data(factors: list[tuple[str, str]]) -> pd.DataFrame:
    """The table's rows with nothing to decompose (no usable evaluation yet)."""
    empty = {"df": 0, "sum_sq": np.nan, "share": np.nan, "n": 0}
    rows = [{"factor": name, "column": col, "levels": 0, **empty} for name, col in factors]
    rows += [{"factor": name, "column": "", "levels": np.nan, **empty} for name in ("residual", "total")]
    return pd.DataFrame(rows, columns=VARIANCE_COLUMNS)


def sequential_anova(frame: pd.DataFrame, y: np.ndarray, factors: list[tuple[str, str]]) -> pd.DataFrame:
    """Type I sums of squares of ``y`` for ``factors`` (name, column of ``frame``) in order."""
    y = np.asarray(y, dtype=float)
    n = y.size
    if n == 0:
        return _no_data(factors)
    total = float(((y - y.mean()) ** 2).sum())
    codes = [pd.factorize(frame[col].astype(str))[0] for _, col in factors]
    levels = [int(c.max()) + 1 if c.size else 0 for c in codes]
    first, n_first = codes[0], levels[0]
    y_within = _group_center(y, first, n_first)
    ss = [total - float((y_within**2).sum())]
    df = [n_first - 1]
    blocks = []
    for c, n_levels in zip(codes[1:], levels[1:], strict=False):
        block = np.zeros((n, n_levels))
        block[np.arange(n), c] = 1.0
        blocks.append(_group_center(block, first, n_first))
    fitted_prev, rank_prev = 0.0, 0
    for k in range(1, len(blocks) + 1):
        design = np.hstack(blocks[:k])
        coef, _, rank, _ = np.linalg.lstsq(design, y_within, rcond=None)
        fitted = float(((design @ coef) ** 2).sum())
        ss.append(max(fitted - fitted_prev, 0.0))
        df.append(int(rank) - rank_prev)
        fitted_prev, rank_prev = fitted, int(rank)
    return _table(factors, levels, ss, df, total, n)


def _table(
    factors: list[tuple[str, str]], levels: list[int], ss: list[float], df: list[int], total: float, n: int
) -> pd.DataFrame:
    def share(value: float) -> float:
        return value / total if total > 0 else np.nan

    rows = [
        {"factor": name, "column": col, "levels": n_levels, "df": d, "sum_sq": s, "share": share(s), "n": n}
        for (name, col), n_levels, s, d in zip(factors, levels, ss, df, strict=False)
    ]
    residual = max(total - sum(ss), 0.0)
    rows.append(
        {
            "factor": "residual",
            "column": "replicate + interactions",
            "levels": np.nan,
            "df": n - 1 - sum(df),
            "sum_sq": residual,
            "share": share(residual),
            "n": n,
        }
    )
    rows.append(
        {"factor": "total", "column": "", "levels": np.nan, "df": n - 1, "sum_sq": total, "share": share(total), "n": n}
    )
    return pd.DataFrame(rows, columns=VARIANCE_COLUMNS)


def variance_decomposition(scores: pd.DataFrame, include_stale: bool = False) -> pd.DataFrame:
    """The ANOVA over the usable rows; ``n_reparsed`` (every row) says how many of them were scored by
    re-parsing ``raw.txt`` (``--reparse-raw``)."""
    frame = with_flags(scores, include_stale)
    used = frame[frame["use"]]
    table = sequential_anova(used, used["score_normalized"].to_numpy(dtype=float) * 10.0, FACTORS)
    return table.assign(n_reparsed=int(used["is_reparsed"].sum()))
