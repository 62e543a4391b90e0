"""``daydream tournament run|status|ratings COHORT_ID``: a pairwise tournament without Airflow.

``run`` plays the rounds in this process against the LLM endpoint of ``$DAYDREAM_LLM_BASE_URL`` (key
``$OPENROUTER_API_KEY``), exactly as the ``daydream_tournament`` DAG does one round per run; it stops
when the tournament is complete or after ``--rounds N`` rounds; ``--force`` first re-judges the last
planned round (as the DAG's ``force`` param). ``status`` prints where it stands;
``ratings`` the Bradley-Terry leaderboard (pooled and per judge, bootstrap 95% intervals).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from daydream.cli import add_data_root
from daydream.paths import DataLayout, check_id


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("tournament", help="pairwise tournaments (Swiss rounds, Bradley-Terry)")
    commands = parser.add_subparsers(dest="tournament_command", metavar="COMMAND")
    commands.required = True
    run = commands.add_parser("run", help="play the tournament's rounds here, without Airflow")
    run.add_argument("cohort_id")
    run.add_argument("--rounds", type=int, default=None, help="stop after this many rounds (default: all)")
    run.add_argument("--max-cost-usd", type=float, default=None, help="stop calling once the cohort spent this much")
    run.add_argument(
        "--force",
        action="store_true",
        help="judge the last planned round's comparisons again (pays again; a failed rerun keeps the old verdict)",
    )
    add_data_root(run)
    run.set_defaults(handler=_run)
    status = commands.add_parser("status", help="rounds and comparisons done, failed, pending")
    status.add_argument("cohort_id")
    add_data_root(status)
    status.set_defaults(handler=_status)
    ratings = commands.add_parser("ratings", help="the Bradley-Terry leaderboard (CSV on stdout)")
    ratings.add_argument("cohort_id")
    ratings.add_argument("--scope", default="pooled", help="'pooled' (default), a judge model id, or 'all'")
    add_data_root(ratings)
    ratings.set_defaults(handler=_ratings)


def _layout(args: argparse.Namespace) -> tuple[DataLayout, str]:
    return DataLayout.at(args.data_root), check_id(args.cohort_id, kind="cohort id", field="COHORT_ID")


def _run(args: argparse.Namespace) -> int:
    from daydream.llm.client import OpenAICompatibleClient
    from daydream.llm.settings import LLMSettings
    from daydream.tournament import load_tournament, run_tournament

    layout, cohort_id = _layout(args)
    load_tournament(layout, cohort_id)  # a bad spec fails before a client is made
    with OpenAICompatibleClient(LLMSettings.from_env()) as llm:
        for summary in run_tournament(
            layout, cohort_id, llm=llm, max_rounds=args.rounds, max_cost_usd=args.max_cost_usd, force=args.force
        ):
            print(summary["text"], flush=True)
    return 0


def _status(args: argparse.Namespace) -> int:
    from daydream.tournament import tournament_status

    layout, cohort_id = _layout(args)
    print(json.dumps(tournament_status(layout, cohort_id), indent=2))
    return 0


def _ratings(args: argparse.Namespace) -> int:
    from daydream.tournament.ratings import leaderboard

    layout, cohort_id = _layout(args)
    board = leaderboard(layout, cohort_id)
    if args.scope != "all":
        board = board[board["scope"] == args.scope]
    print(board.to_csv(index=False), end="")
    return 0
