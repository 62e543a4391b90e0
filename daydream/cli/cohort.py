"""``daydream cohort build | list | status | estimate``."""

from __future__ import annotations

import argparse

from daydream.cli import add_data_root
from daydream.cohorts import build_cohort, list_cohorts, read_manifest
from daydream.estimate import estimate_cohort
from daydream.paths import DataLayout
from daydream.status import cohort_status


def register(subparsers: argparse._SubParsersAction) -> None:
    cohort = subparsers.add_parser("cohort", help="build and inspect cohorts")
    sub = cohort.add_subparsers(dest="cohort_command", metavar="COMMAND", required=True)

    build = sub.add_parser("build", help="write manifest, membership.csv and seed metadata.json")
    build.add_argument("cohort_id")
    build.add_argument("--dry-run", action="store_true", help="show the counts, write nothing")
    build.add_argument("--k-max", type=int, default=None, help="combo size (default: the spec's combos.k_max, or 2)")
    build.add_argument(
        "--level",
        default=None,
        choices=("sentence", "paragraph", "article"),
        help="concept description level (default: the spec's, or paragraph)",
    )
    build.add_argument(
        "--no-code",
        action="store_true",
        help="allow a cohort with no directory yet: every k-subset of the active concepts x active templates x models",
    )
    add_data_root(build)
    build.set_defaults(handler=_build)

    list_ = sub.add_parser("list", help="cohorts under cohorts/")
    add_data_root(list_)
    list_.set_defaults(handler=_list)

    status = sub.add_parser("status", help="per stage: pending, done, failed, stale; spend so far")
    status.add_argument("cohort_id")
    add_data_root(status)
    status.set_defaults(handler=_status)

    estimate = sub.add_parser("estimate", help="calls, tokens and cost still to spend, per stage and model")
    estimate.add_argument("cohort_id")
    add_data_root(estimate)
    estimate.set_defaults(handler=_estimate)


def _build(args: argparse.Namespace) -> int:
    result = build_cohort(
        DataLayout.at(args.data_root),
        args.cohort_id,
        dry_run=args.dry_run,
        k_max=args.k_max,
        level=args.level,
        no_code=args.no_code,
    )
    print(result.describe())
    return 0


def _list(args: argparse.Namespace) -> int:
    layout = DataLayout.at(args.data_root)
    cohorts = list_cohorts(layout)
    if not cohorts:
        print(f"no cohorts under {layout.cohorts}")
        return 0
    print(f"{'cohort':<28}{'built':<7}{'generations':>12}  source")
    for cohort_id in cohorts:
        manifest = read_manifest(layout, cohort_id)
        built = "yes" if layout.membership(cohort_id).exists() else "no"
        total = sum((manifest.get("counts") or {}).values()) if manifest else 0
        print(f"{cohort_id:<28}{built:<7}{total if manifest else '-':>12}  {manifest.get('source', '-')}")
    return 0


def _status(args: argparse.Namespace) -> int:
    print(cohort_status(DataLayout.at(args.data_root), args.cohort_id).table())
    return 0


def _estimate(args: argparse.Namespace) -> int:
    print(estimate_cohort(DataLayout.at(args.data_root), args.cohort_id).table())
    return 0
