"""``daydream cohort build | list | status | estimate``."""

from __future__ import annotations

import argparse

from daydream.cli import add_data_root
from daydream.cohorts import build_cohort, manifest_total, read_manifest, scan_cohorts
from daydream.errors import CohortError, DayDreamError, located, shown
from daydream.estimate import estimate_cohort
from daydream.paths import DataLayout, check_id
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


def _cell(value: object, width: int) -> str:
    """A value from the disk as one table cell: as it is when short and printable, else quoted and cut."""
    if isinstance(value, str) and value.isprintable() and len(value) <= width:
        return value
    return shown(value, width)


def _list(args: argparse.Namespace) -> int:
    """One row per cohort directory; a cohort that cannot be read says why in its row, the others still show."""
    layout = DataLayout.at(args.data_root)
    entries = scan_cohorts(layout)
    if not entries:
        print(f"no cohorts under {layout.cohorts}")
        return 0
    print(f"{'cohort':<28}{'built':<7}{'generations':>12}  source")
    for entry in entries:
        name = _cell(entry.cohort_id, 27)
        if entry.problem:
            print(f"{name:<28}{'?':<7}{'-':>12}  unusable: {entry.problem}")
            continue
        try:
            if _tournament_row(layout, entry.cohort_id, name):
                continue
            membership = layout.membership(entry.cohort_id)
            if membership.is_dir():
                raise CohortError(located("is a directory, expected a CSV file", file=membership))
            built = "yes" if membership.is_file() else "no"
            total = manifest_total(layout, entry.cohort_id)
            source = _cell(read_manifest(layout, entry.cohort_id).get("source", "-"), 60)
        except (DayDreamError, OSError) as exc:
            print(f"{name:<28}{'?':<7}{'-':>12}  unreadable: {exc}")
            continue
        print(f"{name:<28}{built:<7}{'-' if total is None else total:>12}  {source}")
    return 0


def _tournament_row(layout: DataLayout, cohort_id: str, name: str) -> bool:
    """A tournament cohort's row (it is played, not built): comparisons planned and its state."""
    from daydream.tournament.rounds import is_tournament, status_line, tournament_status

    if not is_tournament(layout, cohort_id):
        return False
    status = tournament_status(layout, cohort_id)
    print(f"{name:<28}{'-':<7}{sum(status['comparisons'].values()):>12}  {status_line(status)}")
    return True


def _status(args: argparse.Namespace) -> int:
    print(cohort_status(DataLayout.at(args.data_root), _cohort_arg(args)).table())
    return 0


def _estimate(args: argparse.Namespace) -> int:
    print(estimate_cohort(DataLayout.at(args.data_root), _cohort_arg(args)).table())
    return 0


def _cohort_arg(args: argparse.Namespace) -> str:
    """The COHORT_ID argument, refused (naming it) before it becomes a path."""
    return check_id(args.cohort_id, kind="cohort id", field="COHORT_ID")
