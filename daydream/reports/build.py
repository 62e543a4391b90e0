"""Write a cohort's reports (``cohorts/<id>/reports/``) and the cross-experiment views."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from daydream import atomic
from daydream.analysis.blas import single_blas_thread
from daydream.catalogs import Catalogs
from daydream.paths import DataLayout, check_id
from daydream.reports import agreement, charts, cost, pivots, progress, uncertainty, variance
from daydream.reports import diversity as ideas
from daydream.reports.aggregate import ScopeData, load_scope
from daydream.reports.csvtext import frame_csv
from daydream.reports.evidence import Evidence, evidence
from daydream.reports.page import PageInput, index_html
from daydream.reports.scores import CROSS_SCORE_COLUMNS, SCORE_COLUMNS, usable


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
    unparsed: int = 0
    """Evaluations with a raw answer but no parsed.txt, never validated (counted in no mean)."""
    reparsed: int = 0
    """Scored evaluations whose score came from re-parsing raw.txt (``reparse_raw`` only)."""
    invalid: int = 0
    """Evaluations the report refused to read (an id outside the grammar, a link)."""


class ReportResult(BaseModel):
    cohort_id: str | None
    output_dir: Path
    paths: list[Path]
    headline: Headline
    include_stale: bool = False
    reparse_raw: bool = False


class _Writer:
    """Writes report files, each checked to stay inside the data root: a ``reports/`` (or any part of
    its path) that is a link out of the root is refused before anything is written."""

    def __init__(self, layout: DataLayout, out: Path):
        self.layout, self.out = layout, out
        layout.inside(out)
        self.paths: list[Path] = []

    def text(self, name: str, text: str, *, fsync: bool = False) -> Path:
        path = self.layout.inside(self.out / name)
        self.paths.append(atomic.write_text(path, text, fsync=fsync))
        return path

    def csv(self, name: str, frame: pd.DataFrame) -> Path:
        return self.text(name, frame_csv(frame))

    def png(self, name: str, data: bytes) -> Path:
        path = self.layout.inside(self.out / name)
        self.paths.append(atomic.write_bytes(path, data, fsync=False))
        return path


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
        unparsed=int((status == "unparsed").sum()),
        reparsed=int(((status == "ok") & scores["reparsed"].astype(bool)).sum()),
        invalid=int((status == "invalid").sum()),
    )


def scores_csv(scores: pd.DataFrame, columns: list[str] = SCORE_COLUMNS) -> pd.DataFrame:
    return scores.reindex(columns=columns)


def build_cohort_reports(
    layout: DataLayout,
    cohort_id: str,
    *,
    include_stale: bool = False,
    reparse_raw: bool = False,
    catalogs: Catalogs | None = None,
    embed: ideas.Embedder | None = None,
    comparisons: pd.DataFrame | None = None,
) -> ReportResult:
    """Every table, chart and the HTML page of one cohort. Works on an empty cohort too.

    ``reparse_raw`` also scores evaluations whose raw answer was never validated (no parsed.txt) by
    parsing ``raw.txt`` here; those rows are marked ``reparsed`` in every table. ``embed`` (texts ->
    vectors, ``diversity.embedder_for``) adds embedding clusters to the diversity tables;
    ``comparisons`` (pairwise verdicts, ``bias.PAIRWISE_COLUMNS``) feeds the position-bias check.
    """
    check_id(cohort_id, kind="cohort id")  # before any work: the id becomes a path
    with single_blas_thread():
        return _build_cohort_reports(layout, cohort_id, include_stale, reparse_raw, catalogs, embed, comparisons)


def _build_cohort_reports(
    layout: DataLayout,
    cohort_id: str,
    include_stale: bool,
    reparse_raw: bool,
    catalogs: Catalogs | None,
    embed: ideas.Embedder | None,
    comparisons: pd.DataFrame | None,
) -> ReportResult:
    from daydream.reports.tournament import is_tournament_cohort, write_tournament_report

    if is_tournament_cohort(layout, cohort_id):  # a tournament has verdicts, not scores: its own page
        paths = write_tournament_report(layout, cohort_id)
        return ReportResult(cohort_id=cohort_id, output_dir=layout.reports(cohort_id), paths=paths, headline=Headline())
    catalogs = catalogs or Catalogs.load(layout)
    data = load_scope(layout, catalogs, cohort_id=cohort_id, reparse_raw=reparse_raw)
    return write_cohort_reports(layout, data, include_stale=include_stale, embed=embed, comparisons=comparisons)


def _tables(data: ScopeData, include_stale: bool, extra: Evidence) -> dict[str, pd.DataFrame]:
    scores = data.scores
    used = extra.used
    return {
        "parsing/aggregated_scores.csv": scores_csv(scores),
        "summary/generation_scores_pivot.csv": uncertainty.pivot_with_intervals(
            pivots.generation_scores_pivot(scores, include_stale, extra.documents), extra.document_ci
        ),
        "summary/evaluation_model_template_pivot.csv": uncertainty.model_template_intervals(
            pivots.evaluation_model_template_pivot(scores, include_stale), used
        ),
        "summary/final_results.csv": uncertainty.final_results_intervals(
            pivots.final_results(scores, include_stale), used
        ),
        "summary/leaderboard.csv": extra.leaderboard,
        "summary/perfect_score_paths.csv": pivots.perfect_score_paths(scores),
        "summary/cost.csv": cost.cost_table(cost.calls_frame(data.gens, data.catalogs, members_only=True)),
        "summary/stage_summary.csv": progress.stage_summary(data),
        "analysis/evaluator_agreement.csv": uncertainty.alpha_with_intervals(
            agreement.evaluator_agreement(scores, include_stale), agreement.judge_means(scores, include_stale)
        ),
        "analysis/comparisons.csv": extra.comparisons,
        "analysis/variance_decomposition.csv": variance.variance_decomposition(scores, include_stale),
        "analysis/judge_reliability.csv": progress.judge_reliability(scores),
        "analysis/judge_calibration.csv": extra.calibration,
        "analysis/length_bias.csv": extra.length_bias,
        "analysis/length_controlled_means.csv": extra.length_controlled,
        "analysis/self_preference.csv": extra.self_preference,
        "analysis/position_bias.csv": extra.position_bias,
        "analysis/near_duplicates.csv": extra.diversity.clusters,
        "analysis/distinct_ideas.csv": extra.diversity.summary,
        "analysis/saturation_curve.csv": extra.diversity.curve,
    }


def write_cohort_reports(
    layout: DataLayout,
    data: ScopeData,
    *,
    include_stale: bool,
    embed: ideas.Embedder | None = None,
    comparisons: pd.DataFrame | None = None,
) -> ReportResult:
    cohort_id = data.cohort_id or ""
    write = _Writer(layout, layout.reports(cohort_id))
    scores = data.scores
    extra = evidence(layout, data, include_stale, embed, comparisons)
    tables = _tables(data, include_stale, extra)
    for name, frame in tables.items():
        write.csv(name, frame)
    used = scores[usable(scores, include_stale)]
    pngs = {
        "score_distribution": charts.score_distribution(used),
        "model_template_heatmap": charts.model_template_heatmap(used),
        "judge_agreement": charts.judge_agreement(agreement.judge_pairs(scores, include_stale)),
    }
    for name, png in pngs.items():
        write.png(f"charts/{name}.png", png)
    head = headline(scores, tables["summary/cost.csv"], include_stale)
    page = PageInput(
        cohort_id=cohort_id,
        headline=head.model_dump(),
        include_stale=include_stale,
        reparse_raw=data.reparse_raw,
        stage_summary=tables["summary/stage_summary.csv"],
        docs=extra.documents,
        evidence=extra,
        agreement=tables["analysis/evaluator_agreement.csv"],
        scores=scores,
        final=tables["summary/final_results.csv"],
        reliability=tables["analysis/judge_reliability.csv"],
        variance=tables["analysis/variance_decomposition.csv"],
        cost=tables["summary/cost.csv"],
        charts=pngs,
        tables=[*tables, *(f"charts/{n}.png" for n in pngs)],
    )
    write.text("index.html", index_html(layout, page), fsync=True)
    return ReportResult(
        cohort_id=cohort_id,
        output_dir=write.out,
        paths=write.paths,
        headline=head,
        include_stale=include_stale,
        reparse_raw=data.reparse_raw,
    )


def build_cross_experiment(
    layout: DataLayout, *, include_stale: bool = False, reparse_raw: bool = False, catalogs: Catalogs | None = None
) -> ReportResult:
    """``7_cross_experiment/``: every evaluation in the gens store, and template versions compared."""
    catalogs = catalogs or Catalogs.load(layout)
    data = load_scope(layout, catalogs, cohort_id=None, reparse_raw=reparse_raw)
    write = _Writer(layout, layout.cross_experiment)
    scores = data.scores
    write.csv("aggregated_scores.csv", scores_csv(scores, CROSS_SCORE_COLUMNS))
    write.csv(
        "template_version_comparison.csv",
        uncertainty.template_version_intervals(
            pivots.template_version_comparison(scores, include_stale), uncertainty.used_rows(scores, include_stale)
        ),
    )
    return ReportResult(
        cohort_id=None,
        output_dir=write.out,
        paths=write.paths,
        headline=headline(scores, None, include_stale),
        include_stale=include_stale,
        reparse_raw=reparse_raw,
    )
