"""The tournament leaderboard: Bradley-Terry ratings with bootstrap 95% intervals, pooled and per
judge (``analysis.bradley_terry``), with each essay's absolute scores beside them.

The absolute scores are the evaluations of the same essays in the cohort the tournament is over
(``tournament.over``), so a reader sees where pairwise ratings and 0-9 scores agree and where the
scores saturate. A tournament over a selection file has no such cohort: the columns stay empty.
"""

from __future__ import annotations

import math

import pandas as pd

from daydream.analysis.bradley_terry import RATING_COLUMNS, bradley_terry
from daydream.analysis.frames import N_BOOT
from daydream.paths import DataLayout
from daydream.reports.safefs import read_gen_texts
from daydream.tournament.rounds import read_state, verdicts
from daydream.tournament.spec import SELECTION_SUFFIX, Tournament, load_tournament

SCORE_COLUMNS = ["mean_score", "n_scores"]
LEADERBOARD_COLUMNS = [*RATING_COLUMNS, *SCORE_COLUMNS]


def absolute_scores(layout: DataLayout, tournament: Tournament) -> pd.DataFrame:
    """``mean_score`` and ``n_scores`` per essay from the done evaluations of the ``over`` cohort."""
    empty = pd.DataFrame(columns=SCORE_COLUMNS, index=pd.Index([], name="document"))
    over = tournament.spec.over
    if over.endswith(SELECTION_SUFFIX) or not layout.membership(over).exists():
        return empty
    from daydream.membership import read_membership

    frame = read_membership(layout, over)
    wanted = set(tournament.essays)
    evaluations = frame[(frame["stage"] == "evaluation") & frame["parent_gen_id"].isin(wanted)]
    texts = read_gen_texts(layout, "evaluation", [str(g) for g in evaluations["gen_id"]], "parsed.txt", limit=64)
    rows = []
    for (text, _), parent in zip(texts, evaluations["parent_gen_id"], strict=True):
        try:
            score = float((text or "").strip())
        except ValueError:
            continue
        if math.isfinite(score):
            rows.append((str(parent), score))
    if not rows:
        return empty
    scores = pd.DataFrame(rows, columns=["document", "score"]).groupby("document")["score"]
    return pd.DataFrame({"mean_score": scores.mean(), "n_scores": scores.size()})


def leaderboard(
    layout: DataLayout,
    cohort_id: str,
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    tournament: Tournament | None = None,
    frame: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``LEADERBOARD_COLUMNS``, best first within each scope (``pooled`` first, then each judge).
    ``tournament`` and ``frame`` (its ``verdicts``) when the caller has read them already."""
    tournament = tournament or load_tournament(layout, cohort_id)
    frame = verdicts(layout, read_state(layout, cohort_id)) if frame is None else frame
    if frame.empty:
        return pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    ratings = bradley_terry(frame, judge="judge", template="template", n_boot=n_boot, seed=seed)
    scores = absolute_scores(layout, tournament)
    out = ratings.join(scores, on="document")
    out["n_scores"] = out["n_scores"].fillna(0).astype(int)
    return out[LEADERBOARD_COLUMNS]
