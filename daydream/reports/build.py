"""Write a cohort's reports (``cohorts/<id>/reports/``) and the cross-experiment views."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from daydream import atomic
from daydream.catalogs import Catalogs
from daydream.paths import DataLayout
from daydream.reports import agreement, charts, cost, pivots, progress, variance
from daydream.reports.aggregate import SCORE_COLUMNS, ScopeData, load_scope, usable
from daydream.reports.page import index_html


class Headline(BaseModel):
    documents: int = 0
    """Documents (essays, or drafts judged directly) with at least one evaluation row."""
    evaluations: int = 0
    evaluations_used: int = 0
    """Evaluations counted in means (scored, and not stale unless included)."""
    scored: int = 0
    parse_failures: int = 0
    failed: int = 0
    missing: int = 0
    stale: int = 0
    """Scored evaluations with a stale lineage."""
    mean_score: float | None = None
    mean_score_normalized: float | None = None
    total_cost_usd: float | None = None
    reported_cost_usd: float | None = None
    estimated_cost_usd: float | None = None
    calls_cost_unknown: int = 0


class ReportResult(BaseModel):
    cohort_id: str | None
    output_dir: Path
    paths: list[Path]
    headline: Headline
    include_stale: bool = False


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    return atomic.write_text(path, frame.to_csv(index=False, lineterminator="\n"), fsync=False)


def _float(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


def headline(scores: pd.DataFrame, cost_table: pd.DataFrame | None, include_stale: bool) -> Headline:
    used = usable(scores, include_stale)
    status = scores["status"]
    total = cost_table[(cost_table["stage"] == cost.ALL)].iloc[0] if cost_table is not None else None
    return Headline(
        documents=int(scores["parent_gen_id"].nunique()),
        evaluations=len(scores),
        evaluations_used=int(used.sum()),
        scored=int((status == "ok").sum()),
        parse_failures=int((status == "parse_error").sum()),
        failed=int((status == "failed").sum()),
        missing=int((status == "missing").sum()),
        stale=int(((status == "ok") & scores["stale"].astype(bool)).sum()),
        mean_score=_float(scores.loc[used, "score"].mean()) if used.any() else None,
        mean_score_normalized=_float(scores.loc[used, "score_normalized"].mean()) if used.any() else None,
        total_cost_usd=_float(total["cost_total_usd"]) if total is not None else None,
        reported_cost_usd=_float(total["cost_usd"]) if total is not None else None,
        estimated_cost_usd=_float(total["cost_estimated_usd"]) if total is not None else None,
        calls_cost_unknown=int(total["calls_cost_unknown"]) if total is not None else 0,
    )


def scores_csv(scores: pd.DataFrame) -> pd.DataFrame:
    return scores.reindex(columns=SCORE_COLUMNS)


def build_cohort_reports(
    layout: DataLayout, cohort_id: str, *, include_stale: bool = False, catalogs: Catalogs | None = None
) -> ReportResult:
    """Every table, chart and the HTML page of one cohort. Works on an empty cohort too."""
    catalogs = catalogs or Catalogs.load(layout)
    data = load_scope(layout, catalogs, cohort_id=cohort_id)
    return write_cohort_reports(layout, data, include_stale=include_stale)


def write_cohort_reports(layout: DataLayout, data: ScopeData, *, include_stale: bool) -> ReportResult:
    cohort_id = data.cohort_id or ""
    out = layout.reports(cohort_id)
    scores = data.scores
    docs = pivots.document_table(scores, include_stale)
    cost_tab = cost.cost_table(cost.calls_frame(data.gens, data.catalogs, members_only=True))
    stage_summary = progress.stage_summary(data)
    final = pivots.final_results(scores, include_stale)
    reliability = progress.judge_reliability(scores)
    var = variance.variance_decomposition(scores, include_stale)
    tables: dict[str, pd.DataFrame] = {
        "parsing/aggregated_scores.csv": scores_csv(scores),
        "summary/generation_scores_pivot.csv": pivots.generation_scores_pivot(scores, include_stale),
        "summary/evaluation_model_template_pivot.csv": pivots.evaluation_model_template_pivot(scores, include_stale),
        "summary/final_results.csv": final,
        "summary/perfect_score_paths.csv": pivots.perfect_score_paths(scores),
        "summary/cost.csv": cost_tab,
        "summary/stage_summary.csv": stage_summary,
        "analysis/evaluator_agreement.csv": agreement.evaluator_agreement(scores, include_stale),
        "analysis/variance_decomposition.csv": var,
        "analysis/judge_reliability.csv": reliability,
    }
    paths = [write_csv(out / name, frame) for name, frame in tables.items()]
    used = scores[usable(scores, include_stale)]
    pngs = {
        "score_distribution": charts.score_distribution(used),
        "model_template_heatmap": charts.model_template_heatmap(used),
        "judge_agreement": charts.judge_agreement(agreement.judge_pairs(scores, include_stale)),
    }
    for name, png in pngs.items():
        paths.append(atomic.write_bytes(out / "charts" / f"{name}.png", png, fsync=False))
    head = headline(scores, cost_tab, include_stale)
    page = index_html(
        layout,
        cohort_id=cohort_id,
        headline=head.model_dump(),
        include_stale=include_stale,
        stage_summary=stage_summary,
        docs=docs,
        scores=scores,
        final=final,
        reliability=reliability,
        variance=var,
        cost=cost_tab,
        charts=pngs,
        tables=[*tables, *(f"charts/{n}.png" for n in pngs)],
    )
    paths.append(atomic.write_text(out / "index.html", page))
    return ReportResult(cohort_id=cohort_id, output_dir=out, paths=paths, headline=head, include_stale=include_stale)


def build_cross_experiment(
    layout: DataLayout, *, include_stale: bool = False, catalogs: Catalogs | None = None
) -> ReportResult:
    """``7_cross_experiment/``: every evaluation in the gens store, and template versions compared."""
    catalogs = catalogs or Catalogs.load(layout)
    data = load_scope(layout, catalogs, cohort_id=None)
    out = layout.cross_experiment
    scores = data.scores
    paths = [
        write_csv(out / "aggregated_scores.csv", scores_csv(scores)),
        write_csv(out / "template_version_comparison.csv", pivots.template_version_comparison(scores, include_stale)),
    ]
    return ReportResult(
        cohort_id=None,
        output_dir=out,
        paths=paths,
        headline=headline(scores, None, include_stale),
        include_stale=include_stale,
    )
