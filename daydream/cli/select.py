"""``daydream select top --cohort ID --top-n N [--by mean|max] [--new-cohort NEW ...]``."""

from __future__ import annotations

import argparse
import shlex
import sys

from daydream.cli import add_data_root
from daydream.paths import DataLayout, check_id
from daydream.reports.select import RANK_BY, select_top


def register(subparsers: argparse._SubParsersAction) -> None:
    select = subparsers.add_parser("select", help="select a cohort's best documents (optionally as a new cohort)")
    sub = select.add_subparsers(dest="select_command", metavar="COMMAND", required=True)
    top = sub.add_parser(
        "top",
        help="the top N documents by mean (or max) normalised score",
        description="Writes cohorts/<ID>/reports/selection/selected_essays.txt; with --new-cohort also "
        "cohorts/<NEW>/spec/selected_essays.txt and spec/config.yaml naming the judges, so that "
        "'daydream cohort build NEW' evaluates the selection with them.",
    )
    top.add_argument("--cohort", required=True, help="the cohort to select from")
    top.add_argument("--top-n", type=int, required=True, help="how many documents")
    top.add_argument("--by", choices=tuple(RANK_BY), default="mean", help="rank by mean or max score (default mean)")
    top.add_argument("--include-stale", action="store_true", help="count stale evaluations in the ranking")
    top.add_argument("--new-cohort", default=None, help="create this curated cohort (refused if it exists)")
    top.add_argument(
        "--evaluation-llm",
        action="append",
        default=[],
        metavar="MODEL_ID",
        help="judge model of the new cohort (repeatable; default: the active evaluation models)",
    )
    top.add_argument(
        "--evaluation-template",
        action="append",
        default=[],
        metavar="TEMPLATE_ID",
        help="evaluation template of the new cohort (repeatable; default: the active ones)",
    )
    add_data_root(top)
    top.set_defaults(handler=_top)


def _top(args: argparse.Namespace) -> int:
    check_id(args.cohort, kind="cohort id", field="--cohort")  # ids become paths: refused before any work
    if args.new_cohort is not None:
        check_id(args.new_cohort, kind="cohort id", field="--new-cohort")
    layout = DataLayout.at(args.data_root)
    command = "daydream " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["select"] else None
    result = select_top(
        layout,
        args.cohort,
        args.top_n,
        by=args.by,
        new_cohort=args.new_cohort,
        evaluation_llms=args.evaluation_llm,
        evaluation_templates=args.evaluation_template,
        include_stale=args.include_stale,
        command=command,
    )
    print(f"selected {len(result.gen_ids)} {result.stage}s of cohort {result.cohort_id} by {result.by} score:")
    for gen_id in result.gen_ids:
        print(f"  {gen_id}")
    for path in result.paths:
        print(f"wrote {path}")
    if result.new_cohort:
        print(f"next: daydream cohort build {result.new_cohort}")
    return 0
