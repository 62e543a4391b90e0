"""All rounds of a tournament in this process, without Airflow: ``daydream tournament run`` and the
fast tests. Each round is exactly what one ``daydream_tournament`` DAG run does (plan, one
comparison after another instead of mapped tasks, summary), so both paths share every rule."""

from __future__ import annotations

from typing import Any

from daydream.catalogs import Catalogs
from daydream.llm.types import LLMClient
from daydream.paths import DataLayout
from daydream.tiers import TIERS
from daydream.tournament.judge import ComparisonRunner
from daydream.tournament.rounds import finish_round, plan_round


def run_comparison(
    layout: DataLayout,
    cohort_id: str,
    comparison_id: str,
    *,
    llm: LLMClient | None,
    max_cost_usd: float | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """One comparison as the JSON-able outcome a mapped task returns; failures are outcomes, not raised."""
    return ComparisonRunner(Catalogs.load(layout), llm, cohort_id, max_cost_usd, force).run(comparison_id)


def run_round(
    layout: DataLayout,
    cohort_id: str,
    *,
    llm: LLMClient | None,
    max_cost_usd: float | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Plan (or resume) one round, run its comparisons, write the summary; ``summary["more"]`` says
    whether another round is due. ``force`` re-judges the last planned round (``plan_round``)."""
    plan = plan_round(layout, cohort_id, force=force)
    outcomes: list[Any] = []
    if not plan.complete:
        runner = ComparisonRunner(Catalogs.load(layout), llm, cohort_id, max_cost_usd, force)
        outcomes = [runner.run(gen_id) for tier in TIERS for gen_id in plan.work[tier]]
    return finish_round(layout, cohort_id, plan.round, outcomes)


def run_tournament(
    layout: DataLayout,
    cohort_id: str,
    *,
    llm: LLMClient | None,
    max_rounds: int | None = None,
    max_cost_usd: float | None = None,
    force: bool = False,
) -> list[dict[str, Any]]:
    """Rounds until the tournament is complete (or ``max_rounds`` rounds ran, or one made no progress).
    ``force`` re-judges the last planned round first, as one forced ``daydream_tournament`` run does;
    the rounds after it are played as usual."""
    summaries: list[dict[str, Any]] = []
    while max_rounds is None or len(summaries) < max_rounds:
        summary = run_round(layout, cohort_id, llm=llm, max_cost_usd=max_cost_usd, force=force and not summaries)
        summaries.append(summary)
        if not summary["more"]:
            break
    return summaries
