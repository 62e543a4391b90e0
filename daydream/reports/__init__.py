"""Reports: scores with their lineage, summaries, agreement, variance, cost, charts and an HTML page.

``build_cohort_reports`` writes ``cohorts/<id>/reports/`` (run by the report DAG after every cohort
run, and by ``daydream report``); ``build_cross_experiment`` writes ``7_cross_experiment/`` over every
evaluation in the gens store. See docs/reports.md for every table and method.
"""

from daydream.reports.build import Headline, ReportResult, build_cohort_reports, build_cross_experiment

__all__ = ["Headline", "ReportResult", "build_cohort_reports", "build_cross_experiment"]
