"""``daydream spec compile``: the DSL alone, or checked against a data root's catalogs.

Without ``--check`` it needs no data root, as the older pipeline's compile tool did, so a design
can be previewed before its catalogs exist; a ``combos`` section that lists its concepts still
yields its ``combo_id`` axis (the ids are a hash of the concepts). ``--check`` compiles exactly as
``cohort build`` does, every id checked against the catalogs, all missing ones listed at once.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from daydream import atomic
from daydream.catalogs import Catalogs
from daydream.cli import add_data_root
from daydream.cohorts import _settings_from, compile_cohort_spec
from daydream.cohorts.settings import bounded_k_subsets
from daydream.errors import DayDreamError, SpecError, located
from daydream.paths import DATA_ROOT_ENV, DataLayout, check_id, resolve_data_root
from daydream.spec import compile_spec, load_spec


def register(subparsers: argparse._SubParsersAction) -> None:
    spec = subparsers.add_parser("spec", help="cohort spec DSL")
    spec_sub = spec.add_subparsers(dest="spec_command", metavar="COMMAND", required=True)
    compile_ = spec_sub.add_parser(
        "compile", help="print the rows a spec compiles to (no data root needed; --check validates ids)"
    )
    compile_.add_argument("spec", type=Path, help="path to config.yaml")
    compile_.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    compile_.add_argument("--out", type=Path, default=None, help="write here instead of stdout (atomically)")
    compile_.add_argument(
        "--check", action="store_true", help="check every id against the data root's catalogs, as cohort build does"
    )
    compile_.add_argument("--seed", type=int, default=None, help="shuffle the rows as the older compile tool did")
    compile_.add_argument("--limit", type=int, default=None, help="print at most this many rows (not with --out)")
    add_data_root(compile_)
    compile_.set_defaults(handler=_compile)


def _compile(args: argparse.Namespace) -> int:
    if args.out is not None:
        _check_out(args.out)
    if args.limit is not None and args.limit < 0:
        raise DayDreamError(f"--limit must be at least 0, got {args.limit}")
    if args.check:
        frame = _checked(args.spec, DataLayout.at(args.data_root))
    else:
        frame = _preview(args.spec, args.data_root)
    if args.seed is not None:
        frame = _shuffled(frame, args.seed)
    if args.limit is not None and args.out is None:
        frame = frame.head(args.limit)
    text = _render(frame, args.format)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        atomic.write_text(args.out, text)
    except OSError as exc:
        raise DayDreamError(located(f"cannot write --out: {exc.strerror or exc}", file=args.out)) from None
    print(f"wrote {len(frame)} rows to {args.out}", file=sys.stderr)
    return 0


def _check_out(out: Path) -> None:
    """Refuse an --out that cannot be written before any work is done."""
    if out.is_dir():
        raise DayDreamError(located("--out is a directory; give a file path", file=out))
    parent = out.parent if str(out.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise DayDreamError(located(f"--out: {parent} is not a directory", file=out))
    if not parent.is_dir():
        raise DayDreamError(located(f"--out: directory {parent} does not exist", file=out))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DayDreamError(located(f"--out: directory {parent} is not writable", file=out))


def _checked(spec: Path, layout: DataLayout) -> pd.DataFrame:
    """The spec compiled as ``cohort build`` compiles it: combos formed, every id checked."""
    load_spec(spec)  # a broken spec is reported before the catalogs are looked at
    if not layout.raw.is_dir():
        raise DayDreamError(
            located(
                "--check needs the data root's catalogs and there is no 1_raw/ here (pass --data-root)", file=layout.raw
            )
        )
    frame, _, _ = compile_cohort_spec(layout, spec)
    return frame


def _preview(spec: Path, data_root: str | None) -> pd.DataFrame:
    """The spec compiled without catalogs; the data root is used only when named and needed."""
    doc = load_spec(spec)
    injected: dict[str, list[str]] = {}
    if "combos" in doc:
        injected["combo_id"] = _combo_ids(doc, spec, data_root)
    named_root = data_root or os.environ.get(DATA_ROOT_ENV)
    return compile_spec(spec, injected_axes=injected, data_root=resolve_data_root(named_root) if named_root else None)


def _combo_ids(doc: dict[str, Any], spec: Path, data_root: str | None) -> list[str]:
    """The ``combo_id`` levels a ``combos`` section forms, from its own concepts or the catalog's active ones."""
    settings = _settings_from(doc, spec, k_max=None, level=None)
    if settings.concepts is not None:
        concepts = list(dict.fromkeys(settings.concepts))
        for concept in concepts:
            check_id(concept, kind="concept id", file=spec, field="combos.concepts", error=SpecError)
    else:
        layout = DataLayout.at(data_root)
        if not layout.concepts_csv.is_file():
            raise SpecError(
                located(
                    f"lists no concepts, so its combos are the active concepts of {layout.concepts_csv}, which "
                    "does not exist: list them under combos.concepts, or pass --data-root",
                    file=spec,
                    field="combos",
                )
            )
        concepts = Catalogs.load(layout).active_concept_ids
    combos = bounded_k_subsets(concepts, settings.k_max, settings.description_level, file=spec, field="combos.k_max")
    return [combo.combo_id for combo in combos]


def _shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The rows in the order ``random.Random(seed).shuffle`` puts a list of them, as the older tool did."""
    order = list(range(len(frame)))
    random.Random(seed).shuffle(order)
    return frame.iloc[order].reset_index(drop=True)


def _render(frame: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return frame.to_csv(index=False, lineterminator="\n")
    text = frame.to_json(orient="records", lines=True, force_ascii=False)
    return text if text.endswith("\n") or not text else text + "\n"
