"""The statistics of issue 14 for one report, computed once for its tables and its page: intervals
and the leaderboard's test (``uncertainty``), the judge bias checks (``bias``), the diversity of ideas
(``diversity``). docs/reports.md describes each table."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from daydream.paths import DataLayout
from daydream.reports import bias, pivots, uncertainty
from daydream.reports import diversity as ideas
from daydream.reports.aggregate import ScopeData

LEADERBOARD_SIZE = 20
"""Documents in the leaderboard (its CSV and the report page)."""


@dataclass
class Evidence:
    used: pd.DataFrame
    """The usable evaluations with ``x10`` (every statistic's input)."""
    documents: pd.DataFrame
    """``pivots.document_table``: computed once here, for the leaderboard, the pivot and the page."""
    document_ci: pd.DataFrame
    leaderboard: pd.DataFrame
    comparisons: pd.DataFrame
    calibration: pd.DataFrame
    length_bias: pd.DataFrame
    length_controlled: pd.DataFrame
    self_preference: pd.DataFrame
    position_bias: pd.DataFrame
    diversity: ideas.Diversity


def evidence(
    layout: DataLayout,
    data: ScopeData,
    include_stale: bool,
    embed: ideas.Embedder | None = None,
    comparisons: pd.DataFrame | None = None,
    *,
    top_k: int = LEADERBOARD_SIZE,
) -> Evidence:
    used = uncertainty.used_rows(data.scores, include_stale)
    docs = pivots.document_table(data.scores, include_stale)
    document_ci = uncertainty.document_intervals(used)
    texts = ideas.load_texts(layout, data)
    sized = bias.with_length(used, texts.words_of())
    return Evidence(
        used=used,
        documents=docs,
        document_ci=document_ci,
        leaderboard=uncertainty.leaderboard(used, docs, document_ci, top_k),
        comparisons=uncertainty.comparisons(used),
        calibration=bias.calibration(used),
        length_bias=bias.length_bias(sized),
        length_controlled=bias.length_controlled(sized),
        self_preference=bias.self_preferences(used, data.catalogs),
        position_bias=bias.position_bias(comparisons),
        diversity=ideas.diversity(texts, embed),
    )
