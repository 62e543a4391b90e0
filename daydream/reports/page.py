"""``reports/index.html``: the cohort's report on one self-contained page."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from daydream.paths import DataLayout
from daydream.reports import html as h
from daydream.reports.loader import read_text_file

LEADERBOARD_SIZE = 20
DETAILED_DOCUMENTS = 10
TEXT_LIMIT = 20000
ROOT_FROM_REPORTS = "../../../"
"""From ``cohorts/<id>/reports/`` back to the data root, for links into ``gens/``."""

CHART_TITLES = {
    "score_distribution": "Score distribution per evaluation template",
    "model_template_heatmap": "Generation model x evaluation template",
    "judge_agreement": "Judge agreement",
}


def _text(layout: DataLayout, stage: str, gen_id: str, name: str) -> str | None:
    text = read_text_file(layout, stage, gen_id, name, limit=TEXT_LIMIT + 1)  # type: ignore[arg-type]
    if text is not None and len(text) > TEXT_LIMIT:
        text = text[:TEXT_LIMIT] + "\n[... cut; open the file for the rest]"
    return text


def document_details(
    layout: DataLayout, doc: Mapping[str, Any], evaluations: pd.DataFrame, *, rank: int | None, root_href: str
) -> str:
    """One document: its text and every judge's reasoning, linked and embedded."""
    stage, gen_id = str(doc["document_stage"] or "essay"), str(doc["document_gen_id"])
    parsed_href = f"{root_href}gens/{stage}/{gen_id}/parsed.txt"
    mean = doc.get("mean_normalized")
    title = (
        f"{'#' + str(rank) + ' ' if rank else ''}{h.esc(gen_id)} &mdash; "
        f"{'' if pd.isna(mean) else f'{mean * 10:.2f} / 10'} ({h.esc(doc.get('combo_id'))}, "
        f"{h.esc(doc.get('draft_template'))}, {h.esc(doc.get('essay_template') or 'no essay')}, "
        f"{h.esc(doc.get('generation_model'))})"
    )
    parts = [f"<p>{h.link(parsed_href, f'{stage} text: gens/{stage}/{gen_id}/parsed.txt')}"]
    if doc.get("draft_gen_id") and stage == "essay":
        draft = str(doc["draft_gen_id"])
        parts.append(" &middot; " + h.link(f"{root_href}gens/draft/{draft}/parsed.txt", f"draft {draft}"))
    parts.append("</p>")
    parts.append(h.text_block(f"{h.esc(stage)} text", _text(layout, stage, gen_id, "parsed.txt")))
    for ev in evaluations.to_dict("records"):
        score = "" if pd.isna(ev["score"]) else f"{ev['score']:g} / {ev['implied_scale']:g}"
        label = (
            f"{h.esc(ev['evaluation_llm'])} &middot; {h.esc(ev['evaluation_template'])}: "
            f"{h.esc(score) or '<span class=error>' + h.esc(ev['status']) + '</span>'}"
            f"{' <span class=stale>stale</span>' if ev['stale'] else ''}"
        )
        raw_href = f"{root_href}gens/evaluation/{ev['gen_id']}/raw.txt"
        parts.append(f"<div>{label} &middot; {h.link(raw_href, 'reasoning (raw.txt)')}</div>")
        parts.append(
            h.text_block(f"judge text {h.esc(ev['gen_id'])}", _text(layout, "evaluation", ev["gen_id"], "raw.txt"))
        )
    return f"<details><summary>{title}</summary>{''.join(parts)}</details>"


def index_html(
    layout: DataLayout,
    *,
    cohort_id: str,
    headline: Mapping[str, Any],
    include_stale: bool,
    stage_summary: pd.DataFrame,
    docs: pd.DataFrame,
    scores: pd.DataFrame,
    final: pd.DataFrame,
    reliability: pd.DataFrame,
    variance: pd.DataFrame,
    cost: pd.DataFrame,
    charts: Mapping[str, bytes],
    tables: list[str],
) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        f"<h1>DayDream report &mdash; cohort {h.esc(cohort_id)}</h1>",
        f'<p class="muted">Generated {h.esc(now)}. Stale generations are '
        f"{'included in' if include_stale else 'excluded from'} the means. "
        f"Scores are compared on their normalised value (score / scale) x 10.</p>",
        h.headline_cards(headline),
    ]
    if not headline.get("evaluations"):
        body.append(
            '<p class="notice">No evaluations yet: this cohort has no evaluation in its membership. '
            "The tables are written with their headers and fill in after the evaluation stage runs.</p>"
        )
    elif not headline.get("evaluations_used"):
        body.append('<p class="notice">No scored evaluations yet (pending, failed or stale only).</p>')
    body += ["<h2>Progress</h2>", h.table(stage_summary)]
    body.append("<h2>Leaderboard</h2>")
    board = h.leaderboard_frame(docs, LEADERBOARD_SIZE)
    body.append(
        h.table(
            board,
            h.LEADERBOARD_COLUMNS,
            headers=h.LEADERBOARD_HEADERS,
            cells={
                "document_gen_id": lambda r: h.link(
                    f"{ROOT_FROM_REPORTS}gens/{r['document_stage']}/{r['document_gen_id']}/parsed.txt",
                    r["document_gen_id"],
                )
            },
            empty="No scored documents yet.",
        )
    )
    if not board.empty:
        body.append("<h3>Top documents and their judges</h3>")
        by_doc = scores.groupby("parent_gen_id", sort=False)
        for record in board.head(DETAILED_DOCUMENTS).to_dict("records"):
            evals = by_doc.get_group(record["document_gen_id"]).sort_values(["evaluation_template", "evaluation_llm"])
            body.append(document_details(layout, record, evals, rank=record["rank"], root_href=ROOT_FROM_REPORTS))
    body.append("<h2>Charts</h2>")
    for name, png in charts.items():
        body.append(f"<h3>{h.esc(CHART_TITLES.get(name, name))}</h3>{h.image(png, CHART_TITLES.get(name, name))}")
    body.append("<h2>Results by factor</h2>")
    stat_cols = [
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
    ]
    for grouping in ("generation_model", "draft_template", "essay_template", "evaluation_llm", "evaluation_template"):
        sub = final[final["grouping"] == grouping]
        if not sub.empty:
            body.append(f"<h3>{h.esc(grouping)}</h3>" + h.table(sub, stat_cols, headers={"key": grouping}))
    body += [
        "<h2>What explains the scores</h2>",
        '<p class="muted">Sequential (type I) sums of squares of the score (normalised x10).</p>',
        h.table(variance),
        "<h2>Judge reliability</h2>",
        h.table(reliability),
        "<h2>Cost</h2>",
        h.table(
            cost,
            cells={
                c: (lambda col: lambda r: h.esc(h.money(r[col])))(c)
                for c in ("cost_usd", "cost_estimated_usd", "cost_total_usd")
            },
        ),
        "<h2>Tables</h2><ul>" + "".join(f"<li>{h.link(t, t)}</li>" for t in tables) + "</ul>",
    ]
    return h.page(f"DayDream report: {cohort_id}", "".join(body))
