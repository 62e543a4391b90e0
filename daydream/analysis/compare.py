"""Is the difference real? Pairwise comparisons of the means of a factor's levels (templates, models,
judges), each with its cluster-bootstrap interval and a Holm-corrected p-value. The leaderboard's
document-vs-document tests are in ``documents``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from daydream.analysis.bootstrap import difference_test
from daydream.analysis.frames import (
    LEVEL,
    N_BOOT,
    SEED,
    AnalysisInputError,
    check_level,
    require_columns,
)
from daydream.analysis.means import mean_replicates
from daydream.analysis.multiple import holm

MAX_PAIRS = 5_000
"""Most pairwise differences one table may hold (100 levels); more is a factor like combo_id, whose
pairwise table nobody reads and whose Holm correction would leave nothing significant."""
ALPHA = 0.05
"""Family-wise error rate of the ``significant`` / ``differs_from_top`` columns."""

DIFFERENCE_COLUMNS = [
    "level_a",
    "level_b",
    "n_a",
    "n_b",
    "mean_a",
    "mean_b",
    "diff",
    "se",
    "ci_low",
    "ci_high",
    "p_value",
    "p_holm",
    "significant",
]


def pairwise_differences(
    frame: pd.DataFrame,
    value: str,
    factor: str,
    cluster: Sequence[str] = ("document_gen_id",),
    *,
    within: Sequence[str] = (),
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Every pair of levels of ``factor`` (within each ``within`` group): ``mean_a - mean_b``.

    Output: the ``within`` columns, then ``DIFFERENCE_COLUMNS``. Both means come from the same
    resamples of ``cluster`` (the document by default), so judges that rated the same documents are
    compared paired. ``p_value`` is the small-sample Wald test of ``bootstrap.difference_test``;
    ``p_holm`` is Holm-adjusted over the whole table (one family), ``significant = p_holm <= alpha``.
    """
    check_level(level)
    require_columns(frame, [factor, *within], "pairwise_differences input")
    reps = mean_replicates(frame, value, [*within, factor], cluster, n_boot=n_boot, seed=seed)
    keys = reps.keys
    stratum = keys[list(within)].astype(str).agg("|".join, axis=1) if within else pd.Series("", index=keys.index)
    left: list[int] = []
    right: list[int] = []
    for _, idx in stratum.groupby(stratum, sort=True).groups.items():
        members = sorted(idx, key=lambda i: str(keys.at[i, factor]))
        for a_pos, a in enumerate(members):
            left.extend([a] * (len(members) - a_pos - 1))
            right.extend(members[a_pos + 1 :])
            if len(left) > MAX_PAIRS:
                raise AnalysisInputError(
                    f"pairwise_differences: factor '{factor}' gives more than {MAX_PAIRS:,} pairs; "
                    "compare a factor with fewer levels"
                )
    a, b = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    m = np.minimum(reps.n_clusters[a], reps.n_clusters[b])
    test = difference_test(reps.estimate[a] - reps.estimate[b], reps.draws[:, a] - reps.draws[:, b], m, level)
    out = keys.iloc[a][list(within)].reset_index(drop=True)
    adjusted = holm(test.p_value)
    columns = {
        "level_a": keys[factor].to_numpy()[a],
        "level_b": keys[factor].to_numpy()[b],
        "n_a": reps.n[a],
        "n_b": reps.n[b],
        "mean_a": reps.estimate[a],
        "mean_b": reps.estimate[b],
        "diff": test.diff,
        "se": test.se,
        "ci_low": test.ci_low,
        "ci_high": test.ci_high,
        "p_value": test.p_value,
        "p_holm": adjusted,
        "significant": adjusted <= alpha,
    }
    for name, values in columns.items():
        out[name] = values
    return out.reindex(columns=[*within, *DIFFERENCE_COLUMNS])
