"""Position bias of pairwise judges: does the verdict follow the essay or the slot it was shown in?

Two measures per judge (model x template), from the comparisons frame (``document_a``,
``document_b`` as presented, ``verdict`` A/B/tie):

- over all comparisons, ``first_win_rate``: how often the first-shown essay wins among decisive
  verdicts, with a Wilson interval and an exact binomial test against 0.5. With presentation order
  balanced or random, a fair judge sits at 0.5 whatever the essays' quality.
- over pairs judged in *both* orders (same judge, template and unordered pair), ``follows_position``:
  how often the two verdicts name the same slot (A then A, or B then B), which a judge reading the
  essays never does; ``consistent``: how often they name the same essay (or are both ties); the rest
  (one tie, one decisive) is neither. With replicates, every verdict of one order is matched with
  every verdict of the other and a pair contributes the fraction of matches, so each pair weighs
  one. The Wilson interval treats the pairs as the trials; for fractional pairs it is conservative.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import bdtr, ndtri

from daydream.analysis.calibration import JUDGE
from daydream.analysis.frames import LEVEL, check_level, require_columns

POSITION_COLUMNS = [
    "n_comparisons",
    "n_decisive",
    "tie_rate",
    "first_win_rate",
    "first_ci_low",
    "first_ci_high",
    "first_p_value",
    "n_pairs_both_orders",
    "follows_position",
    "follows_ci_low",
    "follows_ci_high",
    "consistent",
    "consistent_ci_low",
    "consistent_ci_high",
]


def wilson_interval(successes: float, trials: float, level: float = LEVEL) -> tuple[float, float]:
    """Wilson (1927) score interval for a proportion; NaN without trials."""
    if trials <= 0:
        return (np.nan, np.nan)
    z = float(ndtri(0.5 + level / 2.0))
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return (float(centre - half), float(centre + half))


def binomial_test_half(successes: int, trials: int) -> float:
    """The exact two-sided binomial test against 1/2 (``scipy.stats.binomtest(k, n, 0.5).pvalue``,
    without importing ``scipy.stats``, which takes seconds): with p = 1/2 the distribution is
    symmetric, so the outcomes at most as likely as ``k`` are both tails beyond ``min(k, n - k)``."""
    low = min(successes, trials - successes)
    if 2 * low == trials:
        return 1.0
    return min(1.0, 2.0 * float(bdtr(low, trials, 0.5)))


def _pair_fractions(sub: pd.DataFrame) -> tuple[int, float, float]:
    """``(pairs, sum follows, sum consistent)`` over pairs judged in both orders."""
    a = sub["document_a"].astype(str).to_numpy()
    b = sub["document_b"].astype(str).to_numpy()
    forward = a < b  # order 1: the smaller id shown first
    counts = (
        pd.DataFrame(
            {
                "lo": np.where(forward, a, b),
                "hi": np.where(forward, b, a),
                "order": np.where(forward, 1, 2),
                "verdict": sub["verdict"].astype(str).to_numpy(),
            }
        )
        .groupby(["lo", "hi", "order", "verdict"])
        .size()
        .unstack(["order", "verdict"], fill_value=0)
    )
    if counts.empty:
        return 0, 0.0, 0.0

    def col(order: int, verdict: str) -> np.ndarray:
        key = (order, verdict)
        return counts[key].to_numpy(dtype=float) if key in counts.columns else np.zeros(len(counts))

    a1, b1, t1 = col(1, "A"), col(1, "B"), col(1, "tie")
    a2, b2, t2 = col(2, "A"), col(2, "B"), col(2, "tie")
    n1, n2 = a1 + b1 + t1, a2 + b2 + t2
    both = (n1 > 0) & (n2 > 0)
    denom = (n1 * n2)[both]
    follows = ((a1 * a2 + b1 * b2)[both] / denom).sum()
    consistent = ((a1 * b2 + b1 * a2 + t1 * t2)[both] / denom).sum()
    return int(both.sum()), float(follows), float(consistent)


def position_bias(comparisons: pd.DataFrame, judge: Sequence[str] = JUDGE, level: float = LEVEL) -> pd.DataFrame:
    """One row per judge: the ``judge`` columns then ``POSITION_COLUMNS``.

    Verdicts other than ``A``, ``B``, ``tie`` (parse failures) are left out of every count.
    """
    check_level(level)
    require_columns(comparisons, ["document_a", "document_b", "verdict", *judge], "position_bias input")
    usable = comparisons[comparisons["verdict"].astype(str).isin(["A", "B", "tie"])]
    rows = []
    for key, sub in usable.groupby([usable[c].astype(str) for c in judge], sort=True):
        keys = key if isinstance(key, tuple) else (key,)
        verdict = sub["verdict"].astype(str)
        first, second = int((verdict == "A").sum()), int((verdict == "B").sum())
        decisive = first + second
        f_low, f_high = wilson_interval(first, decisive, level)
        p_first = binomial_test_half(first, decisive) if decisive else np.nan
        pairs, follows, consistent = _pair_fractions(sub)
        fl, fh = wilson_interval(follows, pairs, level)
        cl, ch = wilson_interval(consistent, pairs, level)
        rows.append(
            [
                *keys,
                len(sub),
                decisive,
                1.0 - decisive / len(sub),
                first / decisive if decisive else np.nan,
                f_low,
                f_high,
                p_first,
                pairs,
                follows / pairs if pairs else np.nan,
                fl,
                fh,
                consistent / pairs if pairs else np.nan,
                cl,
                ch,
            ]
        )
    return pd.DataFrame(rows, columns=[*judge, *POSITION_COLUMNS])
