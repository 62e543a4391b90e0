"""``daydream score parse``: run an evaluation parser over judge outputs on disk.

Made for checking a parser against real raw outputs (``gens/evaluation/*/raw.txt``) before
changing a template's parser, so it reports every file, one JSON line each, and never stops at a
parse failure. Exit code: 0 when every file parsed, 1 when any had a parse error, 2 for a user
error (unknown parser, missing file), which is reported before any file is parsed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from daydream.cli import add_data_root
from daydream.errors import DayDreamError
from daydream.parsers import EVALUATION_PARSER_NAMES, evaluation_parser, parse_score_file


def register(subparsers: argparse._SubParsersAction) -> None:
    score = subparsers.add_parser("score", help="evaluation scores")
    commands = score.add_subparsers(dest="score_command", metavar="COMMAND")
    commands.required = True
    parse = commands.add_parser("parse", help="parse judge outputs with an evaluation parser, one JSON line per file")
    parse.add_argument("--parser", required=True, help=f"evaluation parser: {', '.join(EVALUATION_PARSER_NAMES)}")
    parse.add_argument("files", nargs="+", type=Path, metavar="FILE", help="judge output (raw.txt)")
    add_data_root(parse)  # unused: accepted so every command takes the same options
    parse.set_defaults(handler=run_parse)


def run_parse(args: argparse.Namespace) -> int:
    evaluation_parser(args.parser)  # an unknown name fails before any output
    for path in args.files:
        if not path.is_file():
            raise DayDreamError(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    failed = False
    for path in args.files:
        result = parse_score_file(args.parser, path)
        failed = failed or result["error"] is not None
        print(json.dumps(result), flush=True)
    return 1 if failed else 0
