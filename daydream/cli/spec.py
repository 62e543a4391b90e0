"""``daydream spec compile``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from daydream import atomic
from daydream.cli import add_data_root
from daydream.cohorts import compile_cohort_spec
from daydream.errors import SpecError, located
from daydream.paths import DataLayout


def register(subparsers: argparse._SubParsersAction) -> None:
    spec = subparsers.add_parser("spec", help="cohort spec DSL")
    spec_sub = spec.add_subparsers(dest="spec_command", metavar="COMMAND", required=True)
    compile_ = spec_sub.add_parser("compile", help="print the rows a spec compiles to")
    compile_.add_argument("spec", type=Path, help="path to config.yaml")
    compile_.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    compile_.add_argument("--out", type=Path, default=None, help="write here instead of stdout (atomically)")
    add_data_root(compile_)
    compile_.set_defaults(handler=_compile)


def _compile(args: argparse.Namespace) -> int:
    layout = DataLayout.at(args.data_root)
    if not args.spec.is_file():
        raise SpecError(located("spec file not found", file=args.spec))
    frame, _, _ = compile_cohort_spec(layout, args.spec)
    if args.format == "csv":
        text = frame.to_csv(index=False, lineterminator="\n")
    else:
        text = frame.to_json(orient="records", lines=True, force_ascii=False)
        text = text if text.endswith("\n") or not text else text + "\n"
    if args.out:
        atomic.write_text(args.out, text)
        print(f"wrote {len(frame)} rows to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
