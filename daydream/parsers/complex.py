"""The ``complex`` evaluation parser: find a free-form judge's final verdict among many numbers.

It reads untrusted text of any size, so every step is linear in the input (benchmarks/
bench_parsers.py): lines without a label word are never cleaned, and each line's questions (where
does this clause start, is there a hedge in it, where does this parenthesis close) are answered from
one scan of the line, never by rescanning the text before or after each label.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from functools import cached_property, lru_cache, partial
from itertools import accumulate
from typing import NamedTuple

from daydream.errors import ParseError
from daydream.parsers.score import NUMBER as _NUMBER
from daydream.parsers.score import Score
from daydream.parsers.score import make_score as _make_score

COMPLEX_DEFAULT_SCALE = 10.0  # a bare complex verdict ("SCORE: 7") is read as out of 10
SMALL_DENOMINATOR = 5.0  # rubric items are scored out of 2, 3 or 5; verdicts out of 10 or more

_STRONG, _WEAK = 2, 1

_REASONING_CLOSE = re.compile(r"</think(?:ing)?\s*>", re.IGNORECASE)
_HEADING = re.compile(r"^\s*#{1,6}\s*")
_LIST_MARKER = re.compile(r"^\s*(?:[-+\u2022]|\*(?!\*)|\d+[.)])\s+")
_QUOTE = re.compile(r"^\s*(?:>\s*)+")
_INLINE_MARKUP = "*_`#"
_DROP_MARKUP = str.maketrans("", "", _INLINE_MARKUP)

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
_BARE_LABEL = re.compile(
    r"^(?P<label>(?:(?:final|overall|total)\s+)?"
    r"(?:score|rating|grade|verdict|result|assessment|evaluation)|total|overall)\s*:?\s*$",
    re.IGNORECASE,
)
_VALUE_LINE = re.compile(rf"^{_VALUE}(?P<tail>.*)$", re.IGNORECASE)
_CLAUSE_END = re.compile(r"[.!?;](?:\s|$)")
# A verdict stated while still thinking ("so far that's a total of 5/10", "maybe a final
# score of 6") is not the judge's answer.
_HEDGE = re.compile(
    r"\b(?:maybe|perhaps|probably|might|so\s+far|let\s+me|reconsider\w*|initial(?:ly)?|"
    r"tentative(?:ly)?|provisional(?:ly)?|for\s+now|running|sub-?totals?|partial|interim|"
    r"preliminary|hmm+|wait|leaning)\b|\?",
    re.IGNORECASE,
)


# What may sit between a label and its value: "(1-10)", a colon or dash, "is", "of". The
# parenthesis is found with ``_LineIndex.closing_paren``, not by the pattern: ``\([^)]*\)`` rescans
# the rest of the line for every label when no ")" follows, which made a long line quadratic.
_PAREN_OPEN = re.compile(r"\s*\(")
_DIGIT = re.compile(r"\d")
_AFTER_PAREN = re.compile(r"\s*(?P<sep>[:=\-\u2013\u2014]|\bis\b\s*:?|\bof\b)?\s*" + _VALUE, re.IGNORECASE)
_ARTICLE_END = re.compile(r"\b(?:a|the|my|its|this|your)$", re.IGNORECASE)
_LONGEST_ARTICLE = 4
_CLAUSE_PUNCTUATION = ".!?;"
# Every label word, tolerant of inline markup inside it ("Sc**ore"), so lines that cannot hold a
# verdict are skipped without being cleaned: most lines of a long judge output have none.
_LABEL_WORDS = ("score", "rating", "grade", "mark", "verdict", "total", "overall", "result", "assessment", "evaluation")
_MAYBE_LABEL = re.compile(
    "|".join(f"[{re.escape(_INLINE_MARKUP)}]*".join(word) for word in _LABEL_WORDS), re.IGNORECASE
)


class _Line(NamedTuple):
    text: str  # markup removed
    heading: bool
    listed: bool
    offset: int  # where the line starts in the raw text


class _Candidate(NamedTuple):
    strength: int
    offset: int
    value: float
    scale: float | None
    source: str


_PREFIX_MARKS = frozenset("#>-+*\u2022")  # and digits: what a quote, heading or list marker starts with


def _clean(raw: str, offset: int) -> _Line:
    body = raw.lstrip()
    first = body[:1]
    if first in _PREFIX_MARKS or first.isdecimal():  # else no quote, heading or list marker can match
        body = _QUOTE.sub("", raw)
        heading = bool(_HEADING.match(body))
        listed = not heading and bool(_LIST_MARKER.match(body))
        body = _LIST_MARKER.sub("", _HEADING.sub("", body))
    else:
        heading = listed = False
    return _Line(" ".join(body.translate(_DROP_MARKUP).split()), heading, listed, offset)


class _Lines:
    """The text's lines, each cleaned only when asked for (and once)."""

    def __init__(self, text: str):
        self.raw = text.splitlines(keepends=True)
        self.offsets = list(accumulate((len(raw) for raw in self.raw), initial=0))
        self._cleaned: list[_Line | None] = [None] * len(self.raw)
        self._text = text

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, index: int) -> _Line:
        line = self._cleaned[index]
        if line is None:
            line = self._cleaned[index] = _clean(self.raw[index], self.offsets[index])
        return line

    def with_label_words(self) -> list[int]:
        """Indices of the lines that may hold a label, in order (a label never spans lines)."""
        found: list[int] = []
        for match in _MAYBE_LABEL.finditer(self._text):
            index = bisect_right(self.offsets, match.start()) - 1
            if not found or found[-1] != index:
                found.append(index)
        return found


@lru_cache(maxsize=256)  # a handful of spellings, asked about on every labelled line
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
    strength: int, listed: bool, offset: int, value: re.Match[str], hedged: Callable[[], bool], source: str
) -> _Candidate | None:
    """``value`` found at ``offset``, approximate within its line (markup removed), which is enough to
    order candidates and to tell the answer from the reasoning. ``hedged`` is asked last: it is the
    costly question."""
    value_text, scale_text = value.group("value", "scale")
    scale = float(scale_text) if scale_text else None
    if not _keeps(strength, scale, listed) or hedged():
        return None
    return _Candidate(strength, offset, float(value_text), scale, source)


class _LineIndex:
    """What ``_inline_candidates`` asks about every label of one line, answered without rescanning
    the line per label: a judge output may be one 1 MB line with a label every few characters, and
    every per-label slice or search of the text before it made the parser quadratic."""

    def __init__(self, text: str):
        self.text = text
        self._close_from, self._close_at = len(text) + 1, -1  # nothing scanned yet

    @cached_property
    def clause_ends(self) -> list[int]:
        return [m.end() for m in _CLAUSE_END.finditer(self.text)]

    @cached_property
    def hedges(self) -> tuple[list[int], list[int]]:
        """Starts of the line's hedge matches, and the smallest end of any match from each on."""
        spans = [(m.start(), m.end()) for m in _HEDGE.finditer(self.text)]
        min_end = [end for _, end in spans]
        for i in range(len(spans) - 2, -1, -1):
            min_end[i] = min(min_end[i], min_end[i + 1])
        return [start for start, _ in spans], min_end

    def clause_start(self, at: int) -> int:
        """Where the clause holding ``at`` starts: after the last ``.!?;`` ending a clause before it."""
        if at and self.text[at - 1] in _CLAUSE_PUNCTUATION:
            return at
        index = bisect_right(self.clause_ends, at) - 1
        return self.clause_ends[index] if index >= 0 else 0

    def hedged(self, start: int, end: int) -> bool:
        """Whether a hedge word or "?" lies within ``text[start:end]`` (``end`` follows a digit, which
        no hedge ends with, so the whole-line matches decide it exactly)."""
        starts, min_end = self.hedges
        index = bisect_left(starts, start)
        return index < len(starts) and min_end[index] <= end

    def ends_with_article(self, at: int) -> bool:
        """``a``/``the``/``my``... then spaces right before ``at``."""
        text, end = self.text, at
        while end and text[end - 1].isspace():
            end -= 1
        return end < at and bool(_ARTICLE_END.search(text[max(0, end - _LONGEST_ARTICLE - 2) : end]))

    def next_char(self, at: int) -> str:
        text = self.text
        while at < len(text) and text[at].isspace():
            at += 1
        return text[at : at + 1]

    def closing_paren(self, at: int) -> int:
        """The first ")" at or after ``at`` (-1: none). The last answer is remembered: labels are asked
        about in order (backwards), so each stretch of the line is searched once."""
        known_from, hit = self._close_from, self._close_at
        if known_from <= at and (hit == -1 or at <= hit):
            return hit  # the first ")" from known_from is hit, and at lies before it
        if at < known_from:
            found = self.text.find(")", at, known_from)
            hit = found if found >= 0 else hit
        else:
            hit = self.text.find(")", at)
        self._close_from, self._close_at = at, hit
        return hit

    def after_label(self, at: int) -> re.Match[str] | None:
        """``_AFTER_LABEL.match(text, at)``, with the parenthesis found by ``closing_paren``."""
        paren = _PAREN_OPEN.match(self.text, at)
        if paren is not None:
            close = self.closing_paren(paren.end())
            found = _AFTER_PAREN.match(self.text, close + 1) if close >= 0 else None
            if found is not None:
                return found
        return _AFTER_PAREN.match(self.text, at)


def _hedged_inline(index: _LineIndex, label_at: int, value_end: int) -> bool:
    """A hedge in the label's clause up to its value, or a "?" right after the value."""
    return index.next_char(value_end) == "?" or index.hedged(index.clause_start(label_at), value_end)


def _inline_candidates(line: _Line) -> Iterator[_Candidate]:
    """``Final Score: 7/10``, ``SCORE: 7``, ``I give it a final score of 8/10``; the last first.

    The cheap questions come first and the line's index is built only when one needs it: most
    labelled lines of a long judge output are rubric items that the first checks already drop.
    """
    text = line.text  # cleaned, so it never starts with a space: a label starts the line at 0 only
    index: _LineIndex | None = None
    for label in reversed(list(_LABEL.finditer(text))):
        name, start, end = label.group("label"), label.start(), label.end()
        strength = _label_strength(name, start == 0, heading=False)
        if strength is None:
            continue
        if strength == _WEAK and start:
            index = index or _LineIndex(text)
            if not index.ends_with_article(start):
                continue
        if _PAREN_OPEN.match(text, end):
            index = index or _LineIndex(text)
            after = index.after_label(end)
        else:
            after = _AFTER_PAREN.match(text, end)
        if after is None:
            continue
        if name.lower() in ("total", "overall") and after.group("sep") != ":":
            continue  # "total of 12 criteria" is arithmetic, "Total: 7/10" is a verdict
        value_text, scale_text = after.group("value", "scale")
        scale = float(scale_text) if scale_text else None
        if not _keeps(strength, scale, line.listed):
            continue
        index = index or _LineIndex(text)
        if not _hedged_inline(index, start, after.end()):
            yield _Candidate(strength, line.offset + end, float(value_text), scale, text)


def _next_non_empty(lines: _Lines, index: int) -> _Line | None:
    for following in range(index + 1, len(lines)):
        if not lines.raw[following].isspace() and lines[following].text:
            return lines[following]
    return None


def _block_candidate(lines: _Lines, index: int) -> _Candidate | None:
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
        following.offset + value.start(),
        value,
        partial(tail.startswith, "?"),
        f"{line.text} {following.text}",
    )


def _candidates_from_the_end(text: str) -> Iterator[_Candidate]:
    """Every candidate, the latest first. A block candidate sits where its value line starts, after
    everything on its label's line; a line's inline candidates come after that value line's start."""
    lines = _Lines(text)
    for index in reversed(lines.with_label_words()):
        block = _block_candidate(lines, index)
        if block:
            yield block
        line = lines[index]
        if _DIGIT.search(line.text):  # an inline verdict has its value on its own line
            yield from _inline_candidates(line)


def _best(candidates: Iterator[_Candidate], answer_start: int) -> _Candidate | None:
    """The latest strong candidate, else the latest weak one, among those after ``answer_start``
    when there are any, else among all. Candidates arrive latest first, so a judge's closing verdict
    ends the search: the text before it is never examined."""
    weak_in_answer: _Candidate | None = None
    weak_anywhere: _Candidate | None = None
    for candidate in candidates:
        if candidate.offset < answer_start and weak_in_answer is not None:
            return weak_in_answer
        if candidate.strength == _STRONG:
            return candidate
        if candidate.offset >= answer_start:
            weak_in_answer = weak_in_answer or candidate
        weak_anywhere = weak_anywhere or candidate
    return weak_in_answer or weak_anywhere


def parse_complex(text: str) -> Score:
    """Free-form judges: find the final verdict among many numbers.

    Precedence: candidates after the last closing </think> or </thinking> tag (the answer) beat
    those inside the reasoning; then strong labels beat weak ones; then the later one wins.
    """
    if not text.strip():
        raise ParseError("complex: the text is empty")
    closes = list(_REASONING_CLOSE.finditer(text))
    best = _best(_candidates_from_the_end(text), closes[-1].end() if closes else 0)
    if best is None:
        raise ParseError(
            "complex: no final verdict (SCORE:, Final/Total/Overall Score, or a verdict heading followed by its value)"
        )
    return _make_score("complex", best.value, best.scale, COMPLEX_DEFAULT_SCALE, best.source)
