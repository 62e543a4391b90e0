"""``daydream report COHORT_ID [--include-stale] [--reparse-raw]`` and ``daydream report --all``."""

from __future__ import annotations

import argparse

from daydream.cli import add_data_root
from daydream.errors import DayDreamError
from daydream.paths import DataLayout, check_id
from daydream.reports import ReportResult, build_cohort_reports, build_cross_experiment


class ReportUsageError(DayDreamError):
    """``daydream report`` was called without a cohort or with both a cohort and ``--all``."""


def register(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser(
        "report",
        help="write a cohort's reports (tables, charts, index.html) or the cross-cohort views",
        description="Write cohorts/<COHORT_ID>/reports/ (or, with --all, 7_cross_experiment/ over every "
        "evaluation in the gens store).",
    )
    report.add_argument("cohort_id", nargs="?", metavar="COHORT_ID", help="the cohort to report on")
    report.add_argument("--all", action="store_true", help="cross-cohort views over the whole gens store")
    report.add_argument(
        "--include-stale",
        action="store_true",
        help="count stale generations (template changed since they ran) in the means",
    )
    report.add_argument(
        "--reparse-raw",
        action="store_true",
        help="also score evaluations whose raw answer was never validated (raw.txt, no parsed.txt) by parsing "
        "raw.txt here; such rows are marked 'reparsed' in every table (default: status 'unparsed', no score)",
    )
    add_data_root(report)
    report.set_defaults(handler=_report)


def _describe(result: ReportResult) -> str:
    h = result.headline
    mean = "n/a" if h.mean_score_normalized is None else f"{h.mean_score_normalized * 10:.2f}/10"
    cost = "unknown" if h.total_cost_usd is None else f"${h.total_cost_usd:.4f}"
    lines = [
        f"reports written to {result.output_dir}",
        f"  documents {h.documents}, evaluations {h.evaluations} (used in means {h.evaluations_used}), "
        f"mean score {mean}, parse failures {h.parse_failures}, other failures {h.failed}, "
        f"pending {h.missing}, stale {h.stale}, unparsed {h.unparsed}, invalid {h.invalid}",
    ]
    if result.cohort_id is not None:
        lines[1] += f", total cost {cost}"
        lines.append(f"  open {result.output_dir / 'index.html'}")
    if h.unparsed and not result.reparse_raw:
        lines.append(
            f"  {h.unparsed} evaluations have raw.txt but no parsed.txt (status unparsed, counted in no mean): "
            "rerun the evaluation stage to validate them without a new call, or add --reparse-raw"
        )
    if h.reparsed:
        lines.append(f"  {h.reparsed} scores come from re-parsing raw.txt (--reparse-raw), marked 'reparsed'")
    if h.invalid:
        lines.append(f"  {h.invalid} evaluations were refused (invalid id or a link): see status 'invalid'")
    lines += [f"  {p.relative_to(result.output_dir)}" for p in result.paths if p.suffix == ".csv"]
    return "\n".join(lines)


def _report(args: argparse.Namespace) -> int:
    if args.all == bool(args.cohort_id):
        raise ReportUsageError("give either a COHORT_ID or --all (daydream report COHORT_ID | daydream report --all)")
    if not args.all:
        check_id(args.cohort_id, kind="cohort id", field="COHORT_ID")  # it becomes a path: refused before any work
    layout = DataLayout.at(args.data_root)
    options = {"include_stale": args.include_stale, "reparse_raw": args.reparse_raw}
    if args.all:
        result = build_cross_experiment(layout, **options)
    else:
        result = build_cohort_reports(layout, args.cohort_id, **options)
    print(_describe(result))
    return 0
