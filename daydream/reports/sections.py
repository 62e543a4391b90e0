"""What the report page and the UI page print of issue 14's statistics: the leaderboard with its
intervals and verdict, the Holm-corrected comparisons, alpha with its interval, the judge bias checks
and the diversity of ideas. Tables here are ``html.Table``s of the frames ``evidence`` computed; the
markup is ``templates/macros.html``'s ``science`` block."""

from __future__ import annotations

from typing import Any

import pandas as pd

from daydream.analysis.text_similarity import NEAR_DUPLICATE
from daydream.reports import bias
from daydream.reports import html as h
from daydream.reports.diversity import headline
from daydream.reports.evidence import Evidence
from daydream.reports.uncertainty import leaderboard_verdict

BOARD_COLUMNS = [
    "rank",
    "document_gen_id",
    "combo_id",
    "draft_template",
    "essay_template",
    "generation_model",
    "n",
    "mean_x10",
    "interval",
    "vs_top",
    "mean_z",
]
BOARD_HEADERS = {
    **h.LEADERBOARD_HEADERS,
    "n": "evaluations",
    "mean_x10": "mean (0-10)",
    "interval": "95% interval",
    "vs_top": "vs rank 1 (Holm)",
    "mean_z": "mean z (judges equalised)",
}
COMPARISON_SHOWN = 40
"""Comparison rows on the page (significant ones first); all are in ``analysis/comparisons.csv``."""


def interval(low: Any, high: Any, digits: int = 2) -> str:
    """``[lo, hi]``, or empty when the interval is undefined (one cluster)."""
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return ""
    return f"[{float(low):.{digits}f}, {float(high):.{digits}f}]"


def board_frame(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard with its interval and the test against rank 1 as printable cells."""
    vs_top = [
        "rank 1" if r == 1 else ("lower" if bool(d) else "tied")
        for r, d in zip(board["rank"], board["differs_from_top"].fillna(False), strict=True)
    ]
    return board.assign(
        interval=[interval(lo, hi) for lo, hi in zip(board["ci_low_x10"], board["ci_high_x10"], strict=True)],
        vs_top=vs_top,
    )


def difference_context(comparisons: pd.DataFrame, agreement: pd.DataFrame | None = None) -> dict[str, Any]:
    """The context of ``science.html``'s ``difference`` block (the UI page uses it alone)."""
    significant = (
        comparisons["significant"].fillna(False).astype(bool) if len(comparisons) else pd.Series([], dtype=bool)
    )
    return {
        "n_significant": int(significant.sum()),
        "n_comparisons": len(comparisons),
        "comparisons": _comparisons(comparisons),
        "alpha": _alpha(agreement) if agreement is not None else None,
    }


def _comparisons(table: pd.DataFrame) -> h.Table:
    frame = table.assign(
        interval=[interval(lo, hi) for lo, hi in zip(table["ci_low"], table["ci_high"], strict=True)],
        survives=table["significant"].map(lambda s: "yes" if bool(s) else "no"),
    ).sort_values(["significant", "p_holm"], ascending=[False, True], kind="stable")
    return h.table(
        frame,
        ["factor", "level_a", "level_b", "mean_a", "mean_b", "diff", "interval", "p_value", "p_holm", "survives"],
        headers={"diff": "a - b (0-10)", "interval": "95% interval", "survives": "survives Holm"},
        max_rows=COMPARISON_SHOWN,
        empty="No factor has two levels to compare.",
    )


def _alpha(agreement: pd.DataFrame) -> h.Table:
    rows = agreement[agreement["level"] != "document"]
    frame = rows.assign(
        interval=[interval(lo, hi, 3) for lo, hi in zip(rows["alpha_ci_low"], rows["alpha_ci_high"], strict=True)]
    )
    return h.table(
        frame,
        ["level", "evaluation_template", "n_models", "alpha", "interval", "n_units", "n_values"],
        headers={"interval": "95% interval", "n_units": "documents"},
        empty="No document was scored by two judges.",
    )


def science(ev: Evidence | None, agreement: pd.DataFrame | None = None) -> dict[str, Any] | None:
    """The context of the ``science`` block (None without evidence: an older caller)."""
    if ev is None:
        return None
    div = ev.diversity
    summary = div.summary.sort_values(["stage", "distinct_share", "n_generated"], ascending=[True, True, False])
    return {
        "verdict": leaderboard_verdict(ev.leaderboard),
        "n_significant": int(ev.comparisons["significant"].fillna(False).astype(bool).sum())
        if len(ev.comparisons)
        else 0,
        "n_comparisons": len(ev.comparisons),
        "comparisons": _comparisons(ev.comparisons),
        "alpha": _alpha(agreement) if agreement is not None else None,
        "calibration": h.table(ev.calibration, empty="No usable evaluations."),
        "length_bias": h.table(ev.length_bias, empty="No document texts to measure."),
        "length_controlled": h.table(ev.length_controlled, max_rows=30, empty="No document texts to measure."),
        "self_preference": h.table(ev.self_preference, empty="No usable evaluations."),
        "position_bias": h.table(ev.position_bias, empty=bias.NO_PAIRWISE),
        "has_pairwise": not ev.position_bias.empty,
        "no_pairwise": bias.NO_PAIRWISE,
        "threshold": NEAR_DUPLICATE,
        "embeddings": div.embeddings,
        "diversity_problem": div.problem,
        "diversity_totals": [
            (stage, t["generated"], t["distinct"], t["groups"], t["groups_with_duplicates"])
            for stage, t in headline(div).items()
        ],
        "distinct": h.table(summary, max_rows=30, empty="No drafts or essays with text yet."),
    }
