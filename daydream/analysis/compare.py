"""Is the difference real? Pairwise comparisons of template/model means, and the leaderboard.

Both answer with a difference, its cluster-bootstrap interval and a Holm-corrected p-value, so a
table of twenty essays at 7.8 +- 0.3 no longer reads as a ranking when the scores are noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from daydream.analysis.bootstrap import bootstrap_se, difference_test, percentile_interval
from daydream.analysis.frames import (
    LEVEL,
    N_BOOT,
    SEED,
    AnalysisInputError,
    check_level,
    finite_values,
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
LEADERBOARD_COLUMNS = [
    "rank",
    "n",
    "n_clusters",
    "mean",
    "se",
    "ci_low",
    "ci_high",
    "diff_vs_top",
    "p_vs_top",
    "p_holm_vs_top",
    "differs_from_top",
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


def leaderboard(
    frame: pd.DataFrame,
    value: str,
    top_k: int = 20,
    *,
    document: str = "document_gen_id",
    judge: Sequence[str] = ("evaluation_llm", "evaluation_template"),
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """The ``top_k`` documents by mean ``value``, each with its interval and a test against rank 1.

    Ranking as ``daydream select top``: mean, then more evaluations, then the smaller id. A
    document's interval resamples its judges (``judge`` columns; a judge's replicates are one
    cluster) within the document. ``p_vs_top`` tests ``mean(rank 1) - mean(this)`` with the rule of
    ``bootstrap.difference_test``; ``p_holm_vs_top`` is Holm-adjusted over ranks 2..k and
    ``differs_from_top = p_holm_vs_top <= alpha``. Output: ``document`` then ``LEADERBOARD_COLUMNS``.
    The top document's mean is biased upwards (it was chosen as the largest of many); its interval
    does not correct that, which is one more reason to read the test rather than the order.
    """
    check_level(level)
    require_columns(frame, [document, value, *judge], "leaderboard input")
    y = finite_values(frame, value, "leaderboard input")
    stats = (
        pd.DataFrame({document: frame[document].astype(str).to_numpy(), "y": y})
        .groupby(document, sort=False)["y"]
        .agg(["mean", "size"])
        .reset_index()
        .sort_values(["mean", "size", document], ascending=[False, False, True], kind="stable")
    )
    top = stats.head(max(int(top_k), 0))[document].tolist()
    if not top:
        return pd.DataFrame(columns=[document, *LEADERBOARD_COLUMNS])
    sub = frame[frame[document].astype(str).isin(top)].assign(**{document: lambda f: f[document].astype(str)})
    reps = mean_replicates(sub, value, [document], [document, *judge], stratify=True, n_boot=n_boot, seed=seed)
    order = pd.Series(np.arange(len(reps.keys)), index=reps.keys[document]).loc[top].to_numpy()
    est, draws, n_cl = reps.estimate[order], reps.draws[:, order], reps.n_clusters[order]
    low, high = percentile_interval(draws, n_cl, level)
    test = difference_test(est[0] - est, draws[:, :1] - draws, np.minimum(n_cl[0], n_cl), level)
    p = test.p_value.copy()
    p[0] = np.nan
    adjusted = holm(p)
    return pd.DataFrame(
        {
            document: top,
            "rank": np.arange(1, len(top) + 1),
            "n": reps.n[order],
            "n_clusters": n_cl,
            "mean": est,
            "se": bootstrap_se(draws),
            "ci_low": low,
            "ci_high": high,
            "diff_vs_top": est[0] - est,
            "p_vs_top": p,
            "p_holm_vs_top": adjusted,
            "differs_from_top": adjusted <= alpha,
        }
    )
