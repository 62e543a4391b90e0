"""Pairwise tournaments (issue 14, section 1): which essay is better?

- ``spec``: the ``tournament:`` key of a cohort spec and the essays it ranks;
- ``store``: comparison generations (two parents) in ``gens/comparison/``;
- ``judge``: one comparison (prompt, call, raw answer, pairwise parser);
- ``rounds``: Swiss rounds planned from the verdicts so far, their state and summaries;
- ``local``: all rounds in one process (the CLI, the tests); the DAG is ``daydream.airflow.tournament``;
- ``ratings``: the Bradley-Terry leaderboard with the essays' absolute scores beside it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daydream.tournament.local import run_comparison, run_round, run_tournament
    from daydream.tournament.rounds import finish_round, plan_round, read_state, tournament_status, verdicts
    from daydream.tournament.spec import Tournament, TournamentSpec, load_tournament

_HOMES = {
    **dict.fromkeys(("run_comparison", "run_round", "run_tournament"), "local"),
    **dict.fromkeys(("finish_round", "plan_round", "read_state", "tournament_status", "verdicts"), "rounds"),
    **dict.fromkeys(("Tournament", "TournamentSpec", "load_tournament"), "spec"),
}


def __getattr__(name: str) -> Any:
    """Lazy: a report reads ``rounds`` and ``spec`` only, and must not pay for importing the judge's
    LLM side (``local``, ``judge``) with them."""
    if name not in _HOMES:
        raise AttributeError(name)
    return getattr(import_module(f"daydream.tournament.{_HOMES[name]}"), name)


__all__ = [
    "Tournament",
    "TournamentSpec",
    "finish_round",
    "load_tournament",
    "plan_round",
    "read_state",
    "run_comparison",
    "run_round",
    "run_tournament",
    "tournament_status",
    "verdicts",
]
