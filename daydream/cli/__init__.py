"""The ``daydream`` command.

Each command group lives in its own module exposing ``register(subparsers)``; every handler takes
the parsed args and returns an exit code. A ``DayDreamError`` becomes one line on stderr and exit
code 2, never a traceback, because it is the user's input that needs fixing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from daydream import __version__
from daydream.errors import DayDreamError

COMMAND_MODULES = (
    "daydream.cli.spec",
    "daydream.cli.cohort",
    "daydream.cli.store",
    "daydream.cli.score",
    "daydream.cli.llm",
    "daydream.cli.report",
    "daydream.cli.select",
    "daydream.cli.batch",
    "daydream.cli.tournament",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse already exits 2; keep it to one line
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-root",
        default=None,
        help="data directory or object-storage URL s3://[conn@]bucket/prefix (default: $DAYDREAM_DATA_ROOT or ./data)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="daydream", description="Combinatorial LLM creativity experiments.")
    parser.add_argument("--version", action="version", version=f"daydream {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except DayDreamError as exc:
        print(f"daydream: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("daydream: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
