"""Parsers turn a model's raw text into a stage output (docs/data-contract.md §7).

Names here are the values of the ``parser`` column of the template catalogs. Callers go through
``parse_draft`` / ``parse_evaluation`` by name, so a typo in a catalog fails with the list of names
that would have worked instead of a ``KeyError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from daydream.errors import DayDreamError, ParseError
from daydream.limits import MAX_JUDGE_OUTPUT_CHARS, over_limit
from daydream.parsers.draft import DRAFT_PARSERS, DraftParser
from daydream.parsers.evaluation import EVALUATION_PARSERS, EvaluationParser, Score
from daydream.parsers.pairwise import PAIRWISE_PARSERS, PairwiseVerdict

DRAFT_PARSER_NAMES = ("identity", "essay_idea_last", "essay_block", "essay_block_lenient")
EVALUATION_PARSER_NAMES = ("in_last_line", "complex")
PAIRWISE_PARSER_NAMES = ("pairwise",)
"""Parsers of pairwise evaluation templates (a judge sees essay A and essay B): accepted in the
``parser`` column of ``evaluation_templates.csv``; such a template is used by tournaments only."""
DEFAULT_DRAFT_PARSER = "identity"  # a blank draft_templates.csv parser cell

__all__ = [
    "DEFAULT_DRAFT_PARSER",
    "DRAFT_PARSER_NAMES",
    "EVALUATION_PARSER_NAMES",
    "PAIRWISE_PARSER_NAMES",
    "PairwiseVerdict",
    "Score",
    "draft_parser",
    "evaluation_parser",
    "parse_draft",
    "parse_evaluation",
    "parse_pairwise_verdict",
    "parse_score_file",
]

_Parser = TypeVar("_Parser")


def _lookup(kind: str, table: dict[str, _Parser], names: tuple[str, ...], parser: str) -> _Parser:
    try:
        return table[parser]
    except KeyError:
        raise ParseError(f"unknown {kind} parser '{parser}' (known: {', '.join(names)})") from None


def draft_parser(parser: str) -> DraftParser:
    """The draft parser called ``parser``; blank means ``identity`` as in the catalog."""
    name = parser.strip() or DEFAULT_DRAFT_PARSER
    return _lookup("draft", DRAFT_PARSERS, DRAFT_PARSER_NAMES, name)


def evaluation_parser(parser: str) -> EvaluationParser:
    """The evaluation parser called ``parser`` (no default: the catalog requires one)."""
    return _lookup("evaluation", EVALUATION_PARSERS, EVALUATION_PARSER_NAMES, parser.strip())


def _bounded(parser: str, text: str) -> str:
    """Every parser is linear (benchmarks/bench_parsers.py), and the input is capped too, so one
    runaway answer cannot hold a worker for minutes."""
    problem = over_limit(len(text), MAX_JUDGE_OUTPUT_CHARS)
    if problem:
        raise ParseError(f"{parser.strip() or DEFAULT_DRAFT_PARSER}: the text has {problem}")
    return text


def parse_draft(parser: str, text: str) -> str:
    parse = draft_parser(parser)
    return parse(_bounded(parser, text))


def parse_evaluation(parser: str, text: str) -> Score:
    parse = evaluation_parser(parser)
    return parse(_bounded(parser, text))


def parse_pairwise_verdict(parser: str, text: str) -> PairwiseVerdict:
    parse = _lookup("pairwise", PAIRWISE_PARSERS, PAIRWISE_PARSER_NAMES, parser.strip())
    return parse(_bounded(parser, text))


def parse_score_file(parser: str, path: Path) -> dict[str, Any]:
    """``{"file", "score", "scale", "error"}`` for one judge output on disk.

    A parse failure is data (the ``error`` field), because re-scoring a store should report every
    bad file; an unknown parser or an unreadable file is the caller's mistake and raises.
    """
    evaluation_parser(parser)
    limit = MAX_JUDGE_OUTPUT_CHARS.value
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(limit + 1)  # never more than the parser would accept
    except FileNotFoundError:
        raise DayDreamError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DayDreamError(f"{path}: is a directory, not a judge output") from None
    except OSError as exc:
        raise DayDreamError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        score = parse_evaluation(parser, text)
    except ParseError as exc:
        return {"file": str(path), "score": None, "scale": None, "error": str(exc)}
    return {"file": str(path), "score": score.score, "scale": score.scale, "error": None}
