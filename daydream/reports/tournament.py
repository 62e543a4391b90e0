"""The report of a tournament cohort: the Bradley-Terry leaderboard (rating, 95% interval, record),
pooled and per judge, with the essays' absolute scores beside the ratings.

Written by ``daydream report <cohort>`` for a cohort whose ``tournament/rounds.json`` exists (one
hook in ``reports/build.py``), and shown by the UI's cohort page (one hook in ``airflow/ui.py``):
``reports/tournament/leaderboard.csv``, ``reports/tournament/verdicts.csv`` and ``reports/index.html``
from ``templates/tournament.html`` (the block itself is ``templates/tournament_block.html``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from daydream import atomic
from daydream.paths import DataLayout, id_problem
from daydream.reports import bias
from daydream.reports import html as h
from daydream.reports.csvtext import frame_csv
from daydream.tournament.rounds import (
    STATE_DIR,
    STATE_FILE,
    comparisons_frame,
    done_verdicts,
    read_state,
    tournament_status,
)

LEADERBOARD_CSV = "tournament/leaderboard.csv"
VERDICTS_CSV = "tournament/verdicts.csv"
POSITION_CSV = "tournament/position_bias.csv"
BOARD_COLUMNS = [
    "rank",
    "document",
    "rating",
    "ci_low",
    "ci_high",
    "n_comparisons",
    "wins",
    "losses",
    "ties",
    "mean_score",
    "n_scores",
]
BOARD_HEADERS = {
    "document": "essay",
    "rating": "rating (logit)",
    "ci_low": "95% low",
    "ci_high": "95% high",
    "n_comparisons": "comparisons",
    "mean_score": "absolute mean score",
    "n_scores": "scores",
}


def is_tournament_cohort(layout: DataLayout, cohort_id: str) -> bool:
    """A cohort that has played (or planned) a tournament round."""
    return id_problem(cohort_id) is None and (layout.cohort_dir(cohort_id) / STATE_DIR / STATE_FILE).is_file()


def _boards(board: pd.DataFrame, root_href: str | None) -> list[tuple[str, h.Table]]:
    def link(record: dict[str, Any]) -> str | None:
        doc = str(record["document"])
        return None if root_href is None or id_problem(doc) else f"{root_href}gens/essay/{doc}/parsed.txt"

    return [
        (
            "all judges (pooled)" if scope == "pooled" else f"judge {scope}",
            h.table(sub, BOARD_COLUMNS, headers=BOARD_HEADERS, links={"document": link}, empty="No verdicts yet."),
        )
        for scope, sub in board.groupby("scope", sort=False)
    ]


def judge_position_bias(frame: pd.DataFrame) -> pd.DataFrame:
    """Position bias of each judge from the tournament's verdicts (both orders of a pair are two
    comparisons, so a judge that follows the slot shows here and nowhere else)."""
    named = frame.rename(columns={"judge": "evaluation_llm", "template": "evaluation_template"})
    return bias.position_bias(named)


def tournament_context(
    layout: DataLayout, cohort_id: str, *, root_href: str | None, n_boot: int | None = None
) -> dict[str, Any]:
    """What ``templates/tournament_block.html`` shows, and the leaderboard frame behind it."""
    from daydream.tournament.ratings import leaderboard
    from daydream.tournament.spec import load_tournament

    tournament = load_tournament(layout, cohort_id)
    frame = comparisons_frame(layout, read_state(layout, cohort_id))  # the store is read once, here
    done = done_verdicts(frame)
    boot = {} if n_boot is None else {"n_boot": n_boot}
    board = leaderboard(layout, cohort_id, tournament=tournament, frame=done, **boot)
    status = tournament_status(layout, cohort_id, tournament=tournament, frame=frame)
    c = status["comparisons"]
    cards = [
        ("essays", f"{status['essays']:,}"),
        ("rounds", f"{status['rounds_finished']} of {status['rounds_total']}"),
        ("comparisons done", f"{c['done']:,}"),
        ("failed / pending", f"{c['failed']:,} / {c['pending']:,}"),
    ]
    position = judge_position_bias(done)
    boards = _boards(board, root_href)
    boards.append(("position bias of each judge", h.table(position, list(position.columns), empty=bias.NO_PAIRWISE)))
    return {
        "position": position,
        "cohort_id": cohort_id,
        "tournament_cards": cards,
        "tournament_boards": boards,
        "board": board,
        "verdicts": done,
    }


def write_tournament_report(layout: DataLayout, cohort_id: str) -> list[Path]:
    """``reports/index.html`` and the two CSVs of a tournament cohort."""
    out = layout.inside(layout.reports(cohort_id))
    context = tournament_context(layout, cohort_id, root_href="../../../")
    frame = context.pop("verdicts")
    paths = [
        atomic.write_text(layout.inside(out / LEADERBOARD_CSV), frame_csv(context.pop("board"))),
        atomic.write_text(layout.inside(out / VERDICTS_CSV), frame_csv(frame)),
        atomic.write_text(layout.inside(out / POSITION_CSV), frame_csv(context.pop("position"))),
    ]
    page = h.render(
        "tournament.html",
        title=f"DayDream tournament: {cohort_id}",
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        tables=[LEADERBOARD_CSV, VERDICTS_CSV, POSITION_CSV],
        **context,
    )
    paths.append(atomic.write_text(layout.inside(out / "index.html"), page))
    return paths
