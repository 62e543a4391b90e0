"""``daydream store check``: exit 0 when healthy, 1 when problems were found."""

from __future__ import annotations

import argparse

from daydream.cli import add_data_root
from daydream.paths import DataLayout
from daydream.storecheck import check_store


def register(subparsers: argparse._SubParsersAction) -> None:
    store = subparsers.add_parser("store", help="the gens store")
    sub = store.add_subparsers(dest="store_command", metavar="COMMAND", required=True)
    check = sub.add_parser("check", help="raw without parsed, bad metadata, broken parents, stale, stray files")
    check.add_argument("--limit", type=int, default=200, help="rows to print at most")
    add_data_root(check)
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    report = check_store(DataLayout.at(args.data_root))
    print(report.table(limit=args.limit))
    return 0 if report.healthy else 1
