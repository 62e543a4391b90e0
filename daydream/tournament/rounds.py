"""A tournament's rounds: plan the next round from the verdicts so far, list what is left, summarise.

State: ``cohorts/<id>/tournament/rounds.json`` (docs/data-contract.md §12), one entry per planned
round with its comparison ids, presented orders and the bye. Planning happens under the file's lock
and is idempotent: while the last round still has pending comparisons, "plan" returns that round
again (an Airflow retry or a second CLI run never opens a second round early); a round whose
comparisons are all done or failed is finished, and the next one is paired by the pooled
Bradley-Terry ratings of every verdict so far (``analysis.swiss``). The same functions serve the
Airflow DAG (one DAG run per round) and ``daydream tournament run`` (all rounds in one process).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError

from daydream import atomic
from daydream.analysis import bt_fit
from daydream.analysis.bradley_terry import outcomes
from daydream.analysis.swiss import swiss_round
from daydream.catalogs import Catalogs
from daydream.errors import CohortError, DayDreamError, first_problem, located
from daydream.locks import hold
from daydream.paths import DataLayout
from daydream.spec.load import load_spec
from daydream.store import read_json_file, utc_now
from daydream.tiers import TIERS, Work
from daydream.tournament.spec import TOURNAMENT_KEY, Tournament, load_tournament
from daydream.tournament.store import ComparisonStore, new_metadata

log = logging.getLogger("daydream.tournament")
STATE_DIR = "tournament"
STATE_FILE = "rounds.json"
SUMMARY_FILE = "tournament_summary.json"
VERDICT_COLUMNS = ["round", "comparison_id", "document_a", "document_b", "judge", "template", "replicate", "verdict"]
COMPARISON_COLUMNS = [*VERDICT_COLUMNS, "state"]


class PlannedComparison(BaseModel):
    comparison_id: str
    document_a: str
    document_b: str
    judge: str
    pair: int
    replicate: int = 1


class Round(BaseModel):
    round: int
    bye: str | None = None
    rematches: int = 0
    template: str
    planned_at: str
    comparisons: list[PlannedComparison]


class TournamentState(BaseModel):
    cohort_id: str
    rounds: list[Round] = []


class RoundPlan(BaseModel):
    round: int | None
    """The round to run now; None when the tournament is complete."""
    work: Work
    complete: bool


def state_path(layout: DataLayout, cohort_id: str) -> Path:
    return layout.inside(layout.cohort_dir(cohort_id) / STATE_DIR / STATE_FILE)


def read_state(layout: DataLayout, cohort_id: str) -> TournamentState:
    path = state_path(layout, cohort_id)
    data = read_json_file(path)
    if data is None:
        return TournamentState(cohort_id=cohort_id)
    try:
        return TournamentState.model_validate(data)
    except ValidationError as exc:
        field, message = first_problem(exc)
        raise CohortError(located(f"invalid tournament state: {message}", file=path, field=field)) from None


def round_finished(store: ComparisonStore, planned: Round) -> bool:
    return all(state != "pending" for state, _ in store.outcomes([c.comparison_id for c in planned.comparisons]))


def comparisons_frame(layout: DataLayout, state: TournamentState) -> pd.DataFrame:
    """Every planned comparison with its ``state`` and ``verdict`` (None unless done), each read once
    (``ComparisonStore.outcomes``): ``COMPARISON_COLUMNS``."""
    planned = [(r.round, r.template, c) for r in state.rounds for c in r.comparisons]
    read = ComparisonStore(layout).outcomes([c.comparison_id for _, _, c in planned])
    rows = [
        (n, c.comparison_id, c.document_a, c.document_b, c.judge, template, c.replicate, verdict, outcome)
        for (n, template, c), (outcome, verdict) in zip(planned, read, strict=True)
    ]
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def done_verdicts(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``comparisons_frame`` with a verdict, as ``VERDICT_COLUMNS``."""
    return frame.loc[frame["verdict"].notna(), VERDICT_COLUMNS].reset_index(drop=True)


def verdicts(layout: DataLayout, state: TournamentState) -> pd.DataFrame:
    """Every done comparison of the tournament as one row (``VERDICT_COLUMNS``)."""
    return done_verdicts(comparisons_frame(layout, state))


def current_ratings(frame: pd.DataFrame, essays: tuple[str, ...]) -> pd.Series:
    """Pooled Bradley-Terry ratings (MAP, no bootstrap: pairing needs the point estimate only); an essay
    without a verdict yet is NaN, which the Swiss pairing places at the prior mean."""
    ratings = pd.Series(np.nan, index=list(essays), dtype=float)
    if frame.empty:
        return ratings
    a = frame["document_a"].astype(str).to_numpy()
    b = frame["document_b"].astype(str).to_numpy()
    docs, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
    fitted = bt_fit.fit(bt_fit.Comparisons(codes[: a.size], codes[a.size :], outcomes(frame), docs.size))
    known = pd.Series(fitted, index=docs)
    return known.reindex(ratings.index)


def _tier_work(catalogs: Catalogs, planned: Round, store: ComparisonStore, *, force: bool = False) -> Work:
    """The round's comparisons still to judge (with ``force``, every one), by the judge's pool tier."""
    work: Work = {tier: [] for tier in TIERS}
    for c in planned.comparisons:
        if not force and store.state(c.comparison_id) == "done":
            continue
        model = catalogs.models.get(c.judge)
        tier = model.tier if model is not None else "paid"
        work[tier if tier in work else "paid"].append(c.comparison_id)
    return work


def _new_round(layout: DataLayout, tournament: Tournament, state: TournamentState) -> Round:
    number = len(state.rounds) + 1
    played = pd.DataFrame(
        [(c.document_a, c.document_b) for r in state.rounds for c in r.comparisons],
        columns=["document_a", "document_b"],
    )
    byes = [r.bye for r in state.rounds if r.bye]
    ratings = current_ratings(verdicts(layout, state), tournament.essays)
    spec = tournament.spec
    paired = swiss_round(ratings, played, byes=byes, both_orders=spec.both_orders, seed=spec.seed + number)
    store = ComparisonStore(layout)
    planned: list[PlannedComparison] = []
    for row in paired.pairs.itertuples(index=False):
        a, b = str(row.document_a), str(row.document_b)
        for judge in spec.judges:
            for replicate in range(1, spec.replicates + 1):
                meta = new_metadata(a, b, spec.template, judge, cohort_id=tournament.cohort_id, replicate=replicate)
                placed = store.place(meta)
                planned.append(
                    PlannedComparison(
                        comparison_id=placed.gen_id,
                        document_a=a,
                        document_b=b,
                        judge=judge,
                        pair=int(row.pair),
                        replicate=replicate,
                    )
                )
    return Round(
        round=number,
        bye=paired.bye,
        rematches=paired.rematches,
        template=spec.template,
        planned_at=utc_now(),
        comparisons=planned,
    )


def plan_round(layout: DataLayout, cohort_id: str, *, force: bool = False) -> RoundPlan:
    """The round to run now (the unfinished last one, else a new one), or ``complete``.

    ``force`` re-judges the last planned round, done comparisons included (each under the forced
    rerun rules of ``ComparisonRunner``); no round planned yet means nothing to re-judge, so a new
    round is planned as without it. The pairs of later rounds are not planned again.
    """
    catalogs = Catalogs.load(layout)
    tournament = load_tournament(layout, cohort_id, catalogs)
    path = state_path(layout, cohort_id)
    store = ComparisonStore(layout)
    with hold(path):
        state = read_state(layout, cohort_id)
        if state.rounds and (force or not round_finished(store, state.rounds[-1])):
            last = state.rounds[-1]
            return RoundPlan(round=last.round, work=_tier_work(catalogs, last, store, force=force), complete=False)
        if len(state.rounds) >= tournament.rounds:
            return RoundPlan(round=None, work={tier: [] for tier in TIERS}, complete=True)
        planned = _new_round(layout, tournament, state)
        state.rounds.append(planned)
        atomic.write_json(path, state.model_dump(mode="json"))
    log.info("tournament %s: round %d planned, %d comparisons", cohort_id, planned.round, len(planned.comparisons))
    return RoundPlan(round=planned.round, work=_tier_work(catalogs, planned, store), complete=False)


def tournament_status(
    layout: DataLayout,
    cohort_id: str,
    *,
    tournament: Tournament | None = None,
    frame: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Rounds planned of the total, and the comparisons by state. ``tournament`` and ``frame``
    (``comparisons_frame``) when the caller has them already: a report reads the store once."""
    tournament = tournament or load_tournament(layout, cohort_id)
    if frame is None:
        state = read_state(layout, cohort_id)
        frame = comparisons_frame(layout, state)
        planned = len(state.rounds)
    else:
        planned = int(frame["round"].nunique())
    counts = {"done": 0, "failed": 0, "pending": 0}
    counts.update({str(k): int(v) for k, v in frame["state"].value_counts().items()})
    pending = frame["state"].eq("pending").groupby(frame["round"]).any()
    finished = int((~pending).sum())
    return {
        "cohort_id": cohort_id,
        "essays": len(tournament.essays),
        "rounds_total": tournament.rounds,
        "rounds_planned": planned,
        "rounds_finished": finished,
        "comparisons": counts,
        "complete": finished >= tournament.rounds,
    }


def is_tournament(layout: DataLayout, cohort_id: str) -> bool:
    """A tournament cohort: it has planned a round, or its spec has the ``tournament:`` key. A spec
    that cannot be read is no tournament here (``daydream tournament run`` says what is wrong)."""
    try:
        if state_path(layout, cohort_id).is_file():
            return True
        spec = layout.inside(layout.spec_file(cohort_id))
        return spec.is_file() and TOURNAMENT_KEY in load_spec(spec)
    except (DayDreamError, OSError):
        return False


def status_line(status: dict[str, Any]) -> str:
    """A tournament's state in one line, for the cohort lists (``daydream cohort list``, the UI)."""
    c = status["comparisons"]
    state = "complete" if status["complete"] else ("playing" if status["rounds_planned"] else "not started")
    return (
        f"tournament {state}: {status['rounds_finished']} of {status['rounds_total']} rounds done, "
        f"{sum(c.values()):,} comparisons ({c['done']:,} done, {c['failed']:,} failed, {c['pending']:,} pending) "
        f"over {status['essays']:,} essays"
    )


def finish_round(layout: DataLayout, cohort_id: str, round_number: int | None, outcomes_: list[Any]) -> dict[str, Any]:
    """``runs/tournament_summary.json``: this round's outcomes and where the tournament stands."""
    status = tournament_status(layout, cohort_id)
    this_run: dict[str, int] = {}
    for o in outcomes_:
        if isinstance(o, dict):
            this_run[str(o.get("state"))] = this_run.get(str(o.get("state")), 0) + 1
    c = status["comparisons"]
    text = (
        f"tournament {cohort_id}: round {round_number or '-'} of {status['rounds_total']}; comparisons "
        f"{c['done']} done, {c['failed']} failed, {c['pending']} pending. This run: "
        + (", ".join(f"{n} {s}" for s, n in sorted(this_run.items())) or "nothing to do")
    )
    summary = {**status, "round": round_number, "this_run": this_run, "at": utc_now(), "text": text}
    # Another round only after one really ran and left nothing pending: a failed plan or a stuck
    # comparison must stop the chain of DAG runs, never loop it.
    summary["more"] = round_number is not None and not status["complete"] and c["pending"] == 0
    atomic.write_json(layout.runs_dir(cohort_id) / SUMMARY_FILE, summary)
    log.info("%s", text)
    return summary
