"""Evaluation parsers (docs/data-contract.md §7): a judge's raw text -> a ``Score``.

A wrong score is worse than a missing one: it flows silently into every report, whereas a
``ParseError`` leaves the raw text in the store for a researcher to look at. So both parsers refuse
rather than guess: no verdict, or a verdict outside its scale, is an error.
"""

from __future__ import annotations

import re

from daydream.errors import ParseError
from daydream.parsers.complex import COMPLEX_DEFAULT_SCALE, SMALL_DENOMINATOR, parse_complex
from daydream.parsers.score import NUMBER as _NUMBER
from daydream.parsers.score import EvaluationParser, Score
from daydream.parsers.score import make_score as _make_score

__all__ = [
    "COMPLEX_DEFAULT_SCALE",
    "EVALUATION_PARSERS",
    "IN_LAST_LINE_SCALE",
    "SMALL_DENOMINATOR",
    "EvaluationParser",
    "Score",
    "parse_complex",
    "parse_in_last_line",
]

IN_LAST_LINE_SCALE = 9.0  # the in_last_line templates ask for 0..9
LAST_LINES = 3


def _non_empty(parser: str, text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ParseError(f"{parser}: the text is empty")
    return lines


# --- in_last_line ---------------------------------------------------------------------------

_LAST_LINE_MARKUP = re.compile(r"[*#]")
# "Score: 456" is three sub-scores whose average is the score; a number followed by "/" is a
# fraction, which this parser does not read (templates using it ask for a bare 0..9 number).
_LAST_LINE_VALUE = (
    r"(?:(?P<d1>\d)(?:,\s?|\s)?(?P<d2>\d)(?:,\s?|\s)?(?P<d3>\d)"
    rf"|(?P<number>{_NUMBER}))(?![\d/]|\.\d)"
)
_EXACT_SCORE_LINE = re.compile(rf"^\s*SCORE\s*:\s*{_LAST_LINE_VALUE}\s*$", re.IGNORECASE)
_LABELLED_SCORE = re.compile(
    r"\b(?:final\s+|total\s+)?score(?:\s*[:=\-\u2013\u2014]\s*|\s+)" + _LAST_LINE_VALUE,
    re.IGNORECASE,
)


def _last_line_value(match: re.Match[str]) -> float:
    if match.group("number") is not None:
        return float(match.group("number"))
    return sum(float(match.group(g)) for g in ("d1", "d2", "d3")) / 3


def parse_in_last_line(text: str) -> Score:
    """Templates that end with the score: only the last lines count, so numbers in the reasoning
    above can never be mistaken for it. Lines are scanned from the last one up."""
    lines = [_LAST_LINE_MARKUP.sub("", line).strip() for line in _non_empty("in_last_line", text)[-LAST_LINES:]]
    for line in reversed(lines):
        exact = _EXACT_SCORE_LINE.match(line)
        if exact:
            return _make_score("in_last_line", _last_line_value(exact), None, IN_LAST_LINE_SCALE, line)
    for line in reversed(lines):
        matches = list(_LABELLED_SCORE.finditer(line))
        if matches:
            return _make_score("in_last_line", _last_line_value(matches[-1]), None, IN_LAST_LINE_SCALE, line)
    raise ParseError(f"in_last_line: no 'SCORE: <n>' or 'Score <n>' in the last {LAST_LINES} non-empty lines")


EVALUATION_PARSERS: dict[str, EvaluationParser] = {
    "in_last_line": parse_in_last_line,
    "complex": parse_complex,
}
