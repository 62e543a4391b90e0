"""``reports/index.html``: the cohort's report on one self-contained page (``templates/report.html``).

This module gathers what the page shows (the tables are the report's own frames); the markup is the
template's. Texts are read with ``loader.read_gen_text``, which refuses links and ids outside the
grammar, so a hostile membership cannot make the page embed a file from outside the data root.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from daydream.paths import DataLayout, id_problem
from daydream.reports import html as h
from daydream.reports import sections
from daydream.reports.evidence import LEADERBOARD_SIZE, Evidence
from daydream.reports.safefs import read_gen_text

__all__ = ["LEADERBOARD_SIZE", "PageInput", "gen_href", "gen_text", "index_html", "judge_view"]
DETAILED_DOCUMENTS = 10
TEXT_LIMIT = 20000
ROOT_FROM_REPORTS = "../../../"
"""From ``cohorts/<id>/reports/`` back to the data root, for links into ``gens/``."""

CHART_TITLES = {
    "score_distribution": "Score distribution per evaluation template",
    "model_template_heatmap": "Generation model x evaluation template",
    "judge_agreement": "Judge agreement",
}
FACTOR_GROUPINGS = ("generation_model", "draft_template", "essay_template", "evaluation_llm", "evaluation_template")
FACTOR_COLUMNS = [
    "key",
    "count",
    "mean",
    "std",
    "min",
    "max",
    "mean_normalized",
    "high_share",
    "low_share",
    "n_stale",
    "n_errors",
    "n_reparsed",
]
COST_MONEY = ("cost_usd", "cost_estimated_usd", "cost_total_usd")


def gen_href(root_href: str, stage: str, gen_id: str, name: str) -> str | None:
    """A link into ``gens/``, only for an id in the grammar (never a crafted relative path)."""
    return None if id_problem(gen_id) is not None else f"{root_href}gens/{stage}/{gen_id}/{name}"


def gen_text(layout: DataLayout, stage: str, gen_id: str, name: str) -> tuple[str | None, str | None]:
    text, problem = read_gen_text(layout, stage, gen_id, name, limit=TEXT_LIMIT + 1)  # type: ignore[arg-type]
    return h.cut(text, TEXT_LIMIT), problem


def judge_view(layout: DataLayout, ev: Mapping[str, Any], root_href: str | None) -> dict[str, Any]:
    """One evaluation as ``macros.judge_label`` and the text blocks print it."""
    text, problem = gen_text(layout, "evaluation", str(ev["gen_id"]), "raw.txt")
    return {
        "gen_id": ev["gen_id"],
        "evaluation_llm": ev["evaluation_llm"],
        "evaluation_template": ev["evaluation_template"],
        "scored": not pd.isna(ev["score"]),
        "score": h.score_label(ev),
        "stale": bool(ev["stale"]),
        "reparsed": bool(ev["reparsed"]),
        "href": gen_href(root_href, "evaluation", str(ev["gen_id"]), "raw.txt") if root_href is not None else None,
        "text": text,
        "problem": problem,
    }


@dataclass
class PageInput:
    """The frames ``write_cohort_reports`` already built, for the page."""

    cohort_id: str
    headline: Mapping[str, Any]
    include_stale: bool
    reparse_raw: bool
    stage_summary: pd.DataFrame
    docs: pd.DataFrame
    scores: pd.DataFrame
    final: pd.DataFrame
    reliability: pd.DataFrame
    variance: pd.DataFrame
    cost: pd.DataFrame
    charts: Mapping[str, bytes]
    tables: list[str]
    evidence: Evidence | None = None
    agreement: pd.DataFrame | None = None


def _document_view(layout: DataLayout, doc: Mapping[str, Any], evaluations: pd.DataFrame) -> dict[str, Any]:
    stage, gen_id = str(doc["document_stage"] or "essay"), str(doc["document_gen_id"])
    text, problem = gen_text(layout, stage, gen_id, "parsed.txt")
    mean = doc.get("mean_normalized")
    draft = str(doc.get("draft_gen_id") or "") if stage == "essay" else ""
    return {
        "rank": doc.get("rank"),
        "gen_id": gen_id,
        "stage": stage,
        "mean": "" if mean is None or pd.isna(mean) else f"{float(mean) * 10:.2f} / 10",
        "combo_id": doc.get("combo_id"),
        "draft_template": doc.get("draft_template"),
        "essay_template": doc.get("essay_template"),
        "model": doc.get("generation_model"),
        "href": gen_href(ROOT_FROM_REPORTS, stage, gen_id, "parsed.txt"),
        "draft_gen_id": draft,
        "draft_href": gen_href(ROOT_FROM_REPORTS, "draft", draft, "parsed.txt") if draft else None,
        "text": text,
        "problem": problem,
        "evaluations": [judge_view(layout, ev, ROOT_FROM_REPORTS) for ev in evaluations.to_dict("records")],
    }


def _notices(page: PageInput) -> list[str]:
    head = page.headline
    notices = []
    if not head.get("evaluations"):
        notices.append(
            "No evaluations yet: this cohort has no evaluation in its membership. "
            "The tables are written with their headers and fill in after the evaluation stage runs."
        )
    elif not head.get("evaluations_used"):
        notices.append("No scored evaluations yet (pending, failed, unparsed or stale only).")
    if head.get("unparsed"):
        notices.append(
            f"{head['unparsed']:,} evaluations have a raw answer but no parsed.txt (status unparsed): they count "
            "in no mean. Rerun the evaluation stage to validate them without a new call, or run "
            "'daydream report --reparse-raw' to score them in this report only."
        )
    if page.reparse_raw and head.get("reparsed"):
        notices.append(
            f"{head['reparsed']:,} scores come from re-parsing raw.txt here (--reparse-raw), not from a "
            "parsed.txt; every table marks them (reparsed, n_reparsed)."
        )
    return notices


def _board(page: PageInput) -> pd.DataFrame:
    """The leaderboard with intervals (``evidence``) or, without it, the plain one by mean."""
    if page.evidence is None:
        return h.leaderboard_frame(page.docs, LEADERBOARD_SIZE)
    board = sections.board_frame(page.evidence.leaderboard)
    return board.assign(mean_normalized=board["mean_x10"] / 10.0)


def index_html(layout: DataLayout, page: PageInput) -> str:
    board = _board(page)
    by_doc = page.scores.groupby("parent_gen_id", sort=False)
    documents = [
        _document_view(
            layout,
            record,
            by_doc.get_group(record["document_gen_id"]).sort_values(["evaluation_template", "evaluation_llm"]),
        )
        for record in board.head(DETAILED_DOCUMENTS).to_dict("records")
    ]
    leaderboard = h.table(
        board,
        sections.BOARD_COLUMNS if page.evidence is not None else h.LEADERBOARD_COLUMNS,
        headers=sections.BOARD_HEADERS if page.evidence is not None else h.LEADERBOARD_HEADERS,
        links={
            "document_gen_id": lambda r: gen_href(
                ROOT_FROM_REPORTS, r["document_stage"], r["document_gen_id"], "parsed.txt"
            )
        },
        empty="No scored documents yet.",
    )
    factors = [
        (g, h.table(page.final[page.final["grouping"] == g], FACTOR_COLUMNS, headers={"key": g}))
        for g in FACTOR_GROUPINGS
        if (page.final["grouping"] == g).any()
    ]
    return h.render(
        "report.html",
        title=f"DayDream report: {page.cohort_id}",
        cohort_id=page.cohort_id,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        include_stale=page.include_stale,
        cards=h.headline_cards(page.headline),
        notices=_notices(page),
        progress=h.table(page.stage_summary),
        leaderboard=leaderboard,
        documents=documents,
        charts=[(CHART_TITLES.get(name, name), h.data_uri(png)) for name, png in page.charts.items()],
        factors=factors,
        variance=h.table(page.variance),
        reliability=h.table(page.reliability),
        cost=h.table(page.cost, money_columns=COST_MONEY),
        tables=page.tables,
        science=sections.science(page.evidence, page.agreement),
    )
