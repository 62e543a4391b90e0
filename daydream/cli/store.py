"""``daydream store check | cascade | purge-cohort | prune-empty | duplicates | unused-templates | reindex``.

``check``, ``duplicates`` and ``unused-templates`` exit 0 when there is nothing to report and 1 when
there is; the removing commands print their plan (``--dry-run`` stops there) and exit 0, or 1 when
a generation had to be left (busy, not a directory). Every id is checked before anything is read,
and every removal stays inside the data root.
"""

from __future__ import annotations

import argparse

from daydream import gen_index
from daydream.cli import add_data_root
from daydream.maintenance import (
    RemovalPlan,
    execute,
    find_duplicates,
    plan_cascade,
    plan_prune_empty,
    plan_purge_cohort,
    unused_templates,
)
from daydream.paths import STAGES, DataLayout, check_id
from daydream.storage.objpath import ObjectPath
from daydream.storecheck import check_store


def register(subparsers: argparse._SubParsersAction) -> None:
    store = subparsers.add_parser("store", help="the gens store: health, cleanup, surveys")
    sub = store.add_subparsers(dest="store_command", metavar="COMMAND", required=True)
    check = sub.add_parser("check", help="raw without parsed, bad metadata, broken parents, stale, stray files")
    check.add_argument("--limit", type=int, default=200, help="rows to print at most")
    _finish(check, _check)

    cascade = sub.add_parser("cascade", help="remove generations and everything that descends from them")
    cascade.add_argument(
        "gen_ids", nargs="*", metavar="GEN_ID", help="the generations to remove, with their descendants"
    )
    cascade.add_argument("--stage", choices=STAGES, help="the stage of GEN_ID (needed when it is ambiguous)")
    cascade.add_argument("--template-id", help="instead of ids: every generation of --stage made with this template")
    cascade.add_argument("--dry-run", action="store_true", help="show what would go, remove nothing")
    _finish(cascade, _cascade)

    purge = sub.add_parser("purge-cohort", help="remove a cohort's own generations, never one another cohort uses")
    purge.add_argument("cohort_id")
    purge.add_argument("--dry-run", action="store_true", help="show what would go, remove nothing")
    _finish(purge, _purge)

    prune = sub.add_parser("prune-empty", help="remove generation directories with no answer that no cohort lists")
    prune.add_argument("--dry-run", action="store_true", help="show what would go, remove nothing")
    _finish(prune, _prune)

    duplicates = sub.add_parser("duplicates", help="generations whose raw.txt is the same answer")
    duplicates.add_argument("--include-empty", action="store_true", help="also group empty answers")
    duplicates.add_argument("--limit", type=int, default=50, help="groups to print at most")
    _finish(duplicates, _duplicates)

    unused = sub.add_parser("unused-templates", help="catalog templates with no generation in the store")
    unused.add_argument("--active-only", action="store_true", help="only templates marked active")
    _finish(unused, _unused)

    reindex = sub.add_parser("reindex", help="object storage: index generations the stage index lacks (faster reads)")
    reindex.add_argument("--stage", choices=STAGES, action="append", help="only this stage (repeatable)")
    _finish(reindex, _reindex)


def _finish(parser: argparse.ArgumentParser, handler: object) -> None:
    add_data_root(parser)
    parser.set_defaults(handler=handler)


def _check(args: argparse.Namespace) -> int:
    report = check_store(DataLayout.at(args.data_root))
    print(report.table(limit=args.limit))
    return 0 if report.healthy else 1


def _removal(layout: DataLayout, plan: RemovalPlan, dry_run: bool) -> int:
    if not dry_run:
        execute(layout, plan)
    print(plan.describe(dry_run=dry_run))
    return 1 if plan.skipped else 0


def _cascade(args: argparse.Namespace) -> int:
    ids = [check_id(gen_id, kind="gen id", field="GEN_ID") for gen_id in args.gen_ids]
    layout = DataLayout.at(args.data_root)
    plan = plan_cascade(layout, ids, stage=args.stage, template_id=args.template_id)
    return _removal(layout, plan, args.dry_run)


def _purge(args: argparse.Namespace) -> int:
    cohort_id = check_id(args.cohort_id, kind="cohort id", field="COHORT_ID")
    layout = DataLayout.at(args.data_root)
    return _removal(layout, plan_purge_cohort(layout, cohort_id), args.dry_run)


def _prune(args: argparse.Namespace) -> int:
    layout = DataLayout.at(args.data_root)
    return _removal(layout, plan_prune_empty(layout), args.dry_run)


def _duplicates(args: argparse.Namespace) -> int:
    groups, problems = find_duplicates(DataLayout.at(args.data_root), include_empty=args.include_empty)
    extra = sum(len(g.members) - 1 for g in groups)
    print(f"{len(groups)} group(s) of identical raw.txt ({extra} generation(s) repeat an earlier answer)")
    for group in groups[: args.limit]:
        members = ", ".join(f"{stage}/{gen_id}" for stage, gen_id in group.members)
        print(f"  {len(group.members)} x sha256 {group.sha256[:16]}  {group.preview!r}\n    {members}")
    if len(groups) > args.limit:
        print(f"  ... {len(groups) - args.limit} more group(s)")
    for problem in problems[:10]:
        print(f"  not read: {problem}")
    return 1 if groups else 0


def _unused(args: argparse.Namespace) -> int:
    unused, used = unused_templates(DataLayout.at(args.data_root), active_only=args.active_only)
    total = sum(len(ids) for ids in unused.values())
    which = "active templates" if args.active_only else "templates"
    print(f"{total} {which} with no generation in the store ({len(used)} template(s) have generations)")
    for stage, ids in unused.items():
        for template_id in ids:
            print(f"  {stage:<11}{template_id}")
    return 1 if total else 0


def _reindex(args: argparse.Namespace) -> int:
    layout = DataLayout.at(args.data_root)
    if not isinstance(layout.root, ObjectPath):
        print(f"{layout.root} is a local data root: it has no index (local reads are fast without one)")
        return 0
    for stage in args.stage or STAGES:
        listed, added, left = gen_index.reindex(layout, stage)
        print(
            f"{stage:<11}{listed} generation(s) listed, {added} record(s) added, "
            f"{left} not indexable (read from their files)"
        )
    return 0
