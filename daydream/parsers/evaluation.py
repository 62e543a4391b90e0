"""Evaluation parsers (data-contract section 7): a judge's raw text -> a ``Score``.

A wrong score is worse than a missing one: it flows silently into every report, whereas a
``ParseError`` leaves the raw text in the store for a researcher to look at. So both parsers refuse
rather than guess: no verdict, or a verdict outside its scale, is an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from daydream.errors import ParseError

IN_LAST_LINE_SCALE = 9.0  # the in_last_line templates ask for 0..9
COMPLEX_DEFAULT_SCALE = 10.0  # a bare complex verdict ("SCORE: 7") is read as out of 10
LAST_LINES = 3
SMALL_DENOMINATOR = 5.0  # rubric items are scored out of 2, 3 or 5; verdicts out of 10 or more
_SOURCE_CHARS = 80


class Score(BaseModel):
    """A parsed verdict: the number as written plus what is needed to compare across scales."""

    model_config = ConfigDict(frozen=True)

    score: float
    scale: float | None  # the denominator the judge wrote (7/10 -> 10), else None
    implied_scale: float  # scale, else the parser's default: 9 for in_last_line, 10 for complex
    score_normalized: float  # score / implied_scale, on 0..1
    parser: str


EvaluationParser = Callable[[str], Score]

_NUMBER = r"-?\d+(?:\.\d+)?"


def _source(line: str) -> str:
    text = " ".join(line.split())
    return text if len(text) <= _SOURCE_CHARS else text[: _SOURCE_CHARS - 3] + "..."


def _make_score(parser: str, value: float, scale: float | None, default_scale: float, line: str) -> Score:
    """The one place a number becomes a Score, so the range rule is the same for every parser."""
    implied = scale if scale is not None else default_scale
    if implied <= 0:
        raise ParseError(f"{parser}: the scale in '{_source(line)}' is not positive")
    if not 0 <= value <= implied:
        raise ParseError(f"{parser}: score {value:g} in '{_source(line)}' is outside 0..{implied:g}")
    return Score(score=value, scale=scale, implied_scale=implied, score_normalized=value / implied, parser=parser)


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


# --- complex --------------------------------------------------------------------------------

_STRONG, _WEAK = 2, 1

_REASONING_CLOSE = re.compile(r"</think(?:ing)?\s*>", re.IGNORECASE)
_HEADING = re.compile(r"^\s*#{1,6}\s*")
_LIST_MARKER = re.compile(r"^\s*(?:[-+\u2022]|\*(?!\*)|\d+[.)])\s+")
_QUOTE = re.compile(r"^\s*(?:>\s*)+")
_INLINE_MARKUP = re.compile(r"[*_`#]")

# "Total: 2 + 1 + 1 = 4" and "Score: 6-7" are arithmetic or ranges, not a value.
_VALUE = (
    rf"(?P<value>{_NUMBER})"
    r"(?:\s*(?:/|out\s+of)\s*(?P<scale>\d+(?:\.\d+)?))?(?!\d|\s*[-+*=\u00d7]\s*\d)"
)
_LABEL = re.compile(
    r"(?<![\w-])(?P<label>(?:final|overall|total)\s+(?:score|rating|grade|mark|verdict)"
    r"|verdict|score|rating|total|overall)(?![\w-])",
    re.IGNORECASE,
)
# What may sit between a label and its value: "(1-10)", a colon or dash, "is", "of".
_AFTER_LABEL = re.compile(
    r"\s*(?:\([^)\n]*\))?\s*(?P<sep>[:=\-\u2013\u2014]|\bis\b\s*:?|\bof\b)?\s*" + _VALUE,
    re.IGNORECASE,
)
_BARE_LABEL = re.compile(
    r"^(?P<label>(?:(?:final|overall|total)\s+)?"
    r"(?:score|rating|grade|verdict|result|assessment|evaluation)|total|overall)\s*:?\s*$",
    re.IGNORECASE,
)
_VALUE_LINE = re.compile(rf"^{_VALUE}(?P<tail>.*)$", re.IGNORECASE)
_ARTICLE_BEFORE = re.compile(r"\b(?:a|the|my|its|this|your)\s+$", re.IGNORECASE)
_CLAUSE_END = re.compile(r"[.!?;](?:\s|$)")
# A verdict stated while still thinking ("so far that's a total of 5/10", "maybe a final
# score of 6") is not the judge's answer.
_HEDGE = re.compile(
    r"\b(?:maybe|perhaps|probably|might|so\s+far|let\s+me|reconsider\w*|initial(?:ly)?|"
    r"tentative(?:ly)?|provisional(?:ly)?|for\s+now|running|sub-?totals?|partial|interim|"
    r"preliminary|hmm+|wait|leaning)\b|\?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Line:
    text: str  # markup removed
    heading: bool
    listed: bool
    offset: int  # where the line starts in the raw text


@dataclass(frozen=True)
class _Candidate:
    strength: int
    offset: int
    value: float
    scale: float | None
    source: str


def _lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    offset = 0
    for raw in text.splitlines(keepends=True):
        body = _QUOTE.sub("", raw)
        heading = bool(_HEADING.match(body))
        listed = not heading and bool(_LIST_MARKER.match(body))
        body = _LIST_MARKER.sub("", _HEADING.sub("", body))
        lines.append(_Line(" ".join(_INLINE_MARKUP.sub("", body).split()), heading, listed, offset))
        offset += len(raw)
    return lines


def _label_strength(label: str, at_line_start: bool, heading: bool) -> int | None:
    """How much a label says "this is the verdict"; None when it says nothing on its own.

    Final/overall/total scores, verdicts and an all-caps SCORE are the judge's answer; a plain
    "Score"/"Rating" may as well be a rubric item, so it is weak and must start the line; a lone
    "Total"/"Overall" only counts as a line's own label ("Total: 7/10"), never mid-sentence.
    """
    words = label.lower().split()
    if words in (["total"], ["overall"]):
        return _STRONG if at_line_start else None
    if len(words) == 2 or words[0] == "verdict" or label.isupper() or heading:
        return _STRONG
    return _WEAK


def _keeps(strength: int, scale: float | None, listed: bool) -> bool:
    """Weak labels in rubric lists, or over small denominators, are sub-scores ("Score: 1/2")."""
    if strength == _STRONG:
        return True
    return not listed and (scale is None or scale > SMALL_DENOMINATOR)


def _candidate(
    strength: int, listed: bool, line: _Line, value: re.Match[str], hedge_text: str, source: str
) -> _Candidate | None:
    """``value`` matched in ``line``; its offset is approximate within the line (markup removed),
    which is enough to order candidates and to tell the answer from the reasoning."""
    scale = float(value.group("scale")) if value.group("scale") else None
    if _HEDGE.search(hedge_text) or not _keeps(strength, scale, listed):
        return None
    return _Candidate(strength, line.offset + value.start(), float(value.group("value")), scale, source)


def _inline_candidates(line: _Line) -> Iterator[_Candidate]:
    """``Final Score: 7/10``, ``SCORE: 7``, ``I give it a final score of 8/10``."""
    for label in _LABEL.finditer(line.text):
        prefix = line.text[: label.start()]
        at_start = not prefix.strip()
        strength = _label_strength(label.group("label"), at_start, heading=False)
        if strength is None or (strength == _WEAK and not at_start and not _ARTICLE_BEFORE.search(prefix)):
            continue
        after = _AFTER_LABEL.match(line.text, label.end())
        if after is None:
            continue
        if label.group("label").lower() in ("total", "overall") and after.group("sep") != ":":
            continue  # "total of 12 criteria" is arithmetic, "Total: 7/10" is a verdict
        rest = line.text[after.end() :].lstrip()
        clause_start = max((end.end() for end in _CLAUSE_END.finditer(prefix)), default=0)
        hedge_text = line.text[clause_start : after.end()] + ("?" if rest.startswith("?") else "")
        found = _candidate(strength, line.listed, line, after, hedge_text, line.text)
        if found:
            yield found


def _next_non_empty(lines: list[_Line], index: int) -> _Line | None:
    return next((line for line in lines[index + 1 :] if line.text), None)


def _block_candidate(lines: list[_Line], index: int) -> _Candidate | None:
    """A label alone on its line (``## Final Score``, ``Final Score:``) with the value starting the
    next non-empty line (``**8/10**``, ``7/10 - a bold synthesis``)."""
    line = lines[index]
    bare = _BARE_LABEL.match(line.text)
    following = _next_non_empty(lines, index) if bare else None
    if bare is None or following is None:
        return None
    strength = _label_strength(bare.group("label"), True, line.heading)
    value = _VALUE_LINE.match(following.text)
    if strength is None or value is None:
        return None
    tail = value.group("tail").lstrip()
    if value.group("scale") is None and tail and (tail[0].isalnum() or tail.startswith("?")):
        return None  # "7 reasons why..." is prose that happens to start with a number
    return _candidate(
        strength,
        line.listed or following.listed,
        following,
        value,
        "?" if tail.startswith("?") else "",
        f"{line.text} {following.text}",
    )


def _candidates(text: str) -> list[_Candidate]:
    lines = _lines(text)
    found: list[_Candidate] = []
    for index, line in enumerate(lines):
        found.extend(_inline_candidates(line))
        block = _block_candidate(lines, index)
        if block:
            found.append(block)
    return found


def parse_complex(text: str) -> Score:
    """Free-form judges: find the final verdict among many numbers.

    Precedence: candidates after the last closing </think> or </thinking> tag (the answer) beat
    those inside the reasoning; then strong labels beat weak ones; then the later one wins.
    """
    _non_empty("complex", text)
    candidates = _candidates(text)
    closes = list(_REASONING_CLOSE.finditer(text))
    answer_start = closes[-1].end() if closes else 0
    pool = [c for c in candidates if c.offset >= answer_start] or candidates
    if not pool:
        raise ParseError(
            "complex: no final verdict (SCORE:, Final/Total/Overall Score, or a verdict heading followed by its value)"
        )
    best = max(pool, key=lambda c: (c.strength, c.offset))
    return _make_score("complex", best.value, best.scale, COMPLEX_DEFAULT_SCALE, best.source)


EVALUATION_PARSERS: dict[str, EvaluationParser] = {
    "in_last_line": parse_in_last_line,
    "complex": parse_complex,
}
