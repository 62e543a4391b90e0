"""Pairwise verdict parser: a judge saw essay A and essay B; which did it prefer, or was it a tie?

Judges answer in free form: reasoning traces, markdown, ``Verdict: A``, ``**Winner: Essay B**``,
MT-Bench's ``[[A]]`` (``[[C]]`` = tie), "I prefer the second essay", "Both are equally strong - tie",
a bare ``B`` on the last line, and they change their mind mid-trace. As with the score parsers, a
wrong verdict is worse than none (it flows into the ratings silently; a ``ParseError`` leaves the raw
text for a person to read), so the parser refuses rather than guesses.

Candidates, strongest first:

- strong: a verdict label with its value (``Verdict:``, ``Winner:``, ``Final answer:``,
  ``Preferred essay:``, ``The winner is``, a ``## Verdict`` heading over a line naming the essay),
  ``[[A]]``/``[[B]]``/``[[C]]``, a last line that is only the choice (``**B**``, ``Essay A``, ``Tie``);
  and a weak phrase that opens with a concluding cue ("Overall", "In the end", "Actually", "On
  reflection");
- weak: phrases ("I prefer the second essay", "Essay A is better.", "Essay B wins", "It's a tie",
  "Both essays are equally compelling", "Neither is better").

Dropped: a candidate in a hedged clause ("maybe", "initially", "leaning", "so far", "let me", a
question), one of the options the judge was offered ("[[A]] if Essay A is better", "'Verdict: A' or
'Verdict: B'"), a weak phrase in a negated clause ("I don't think Essay A is better"), a label whose value
is negated ("Winner: not A"), an aspect comparison ("Essay B is stronger in its imagery" is not
"Essay B is stronger."). Choice: candidates after the last closing reasoning tag (``</think>``,
``</thinking>``, ``</reasoning>``) beat those inside it; then strong beats weak; then the LAST one
wins, so a verdict revised mid-trace counts as revised.

Linear time: every pattern starts with a literal word or bracket and uses only bounded repeats
(``{0,n}``) between words, never nested unbounded quantifiers, so each match attempt costs O(1) and a
scan O(n). ``benchmarks/bench_analysis.py`` checks 1 MB against 64 KB (ratio ~16).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from daydream.errors import ParseError
from daydream.limits import MAX_JUDGE_OUTPUT_CHARS, over_limit

VerdictValue = Literal["A", "B", "tie"]
VERDICTS: tuple[str, ...] = get_args(VerdictValue)
PARSER_NAME = "pairwise"
_SOURCE_CHARS = 80
_LOOKBACK = 200
"""Characters before a candidate searched for its clause (hedges, negations, concluding cues)."""
_STRONG, _WEAK = 2, 1


class PairwiseVerdict(BaseModel):
    """A parsed verdict with where it was found: ``text[start:end]`` is the matched span."""

    model_config = ConfigDict(frozen=True)

    verdict: VerdictValue
    start: int
    end: int
    source: str  # the matched text, whitespace collapsed, at most 80 characters
    strength: Literal["strong", "weak"]
    parser: str = PARSER_NAME


PairwiseParser = Callable[[str], PairwiseVerdict]

# Every pattern runs on the lower-cased text (same offsets; see ``_lowered``) without IGNORECASE and
# starts with a literal word, so the regex engine skips ahead by first character: ~10x faster than
# case-insensitive patterns led by optional groups. What case decides (a verdict letter is upper
# case; "A bold essay" is an article) and word boundaries before a match are checked in Python.
_SP = r"[ \t]{1,3}"
_DOC = r"(?:essay|response|answer|option|text|candidate|submission|assistant|output|story|piece|draft|entry)"
_END_LETTER = r"(?![\w'\u2019])"
_REF = (
    rf"(?:the{_SP})?(?:{_DOC}{_SP}(?P<dl>[ab]){_END_LETTER}"
    rf"|{_DOC}[ \t]{{0,2}}\((?P<dp>[ab])\)"
    rf"|{_DOC}[ \t]{{0,2}}(?P<dn>[12])(?![\w.,/]\d?)"
    rf"|(?P<ord>first|second|former|latter)(?:{_SP}(?:{_DOC}|one))?\b"
    rf"|(?P<bl>[ab]){_END_LETTER})"
)
_TIE_VALUE = (
    rf"(?P<tie>(?:(?:a|an|it'?s{_SP}a){_SP})?(?:tie|draw|toss-?up)\b|tied\b|equal\b|even\b|neither\b"
    rf"|none\b|no{_SP}(?:clear{_SP})?(?:preference|winner)\b|both{_SP}(?:are{_SP})?equal(?:ly{_SP}good)?\b)"
)
_OPEN = r"[ \t*_`\"'\u201c\u2018(\[]{0,6}"
_LABEL = (
    rf"(?:verdict|decision|judg(?:e)?ment|winner|winning{_SP}{_DOC}|choice|answer|preference"
    rf"|preferred(?:{_SP}{_DOC})?|(?:better|stronger|best){_SP}{_DOC}|result|outcome|pick|selection)(?![\w-])"
)
_LABEL_RE = re.compile(_LABEL)
# After a label: its value on the same line ("Verdict: A", "The winner is Essay B") ...
_INLINE = re.compile(
    rf"[ \t*_`\"']{{0,4}}(?:(?:is|goes{_SP}to)\b[ \t*_`]{{0,4}}:?|[:=\-\u2013\u2014])"
    rf"{_OPEN}(?P<neg>not{_SP})?(?:{_TIE_VALUE}|{_REF})"
)
# ... or alone on its line with the value starting the next one ("## Verdict" / "**Essay B** - ...").
_BLOCK = re.compile(
    rf"[ \t*_`:]{{0,6}}\n[\s*_`#>\"'\u201c(\[]{{0,12}}(?:{_TIE_VALUE}|{_REF})"
    r"(?=[ \t*_`\"'\u201d\u2019)\].!]{0,6}(?:\n|$|[-\u2013\u2014:,;][ \t]))"
)
_BRACKET = re.compile(r"\[\[[ \t]{0,2}(?P<br>[abc]|tie)[ \t]{0,2}\]\]")
_ADVERB = r"(?:definitely|clearly|strongly|slightly|ultimately|still|now|therefore|thus|would|will|must|do)"
_PREFER = re.compile(
    rf"i(?:'d|\u2019d)?(?:{_SP}{_ADVERB}){{0,2}}{_SP}(?:prefer|choose|pick|select|favou?r|go{_SP}with"
    rf"|vote{_SP}for|side{_SP}with){_SP}{_REF}"
)
_SUBJECT = (
    rf"(?:{_DOC}{_SP}(?P<dl>[ab]){_END_LETTER}|{_DOC}[ \t]{{0,2}}\((?P<dp>[ab])\)"
    rf"|{_DOC}[ \t]{{0,2}}(?P<dn>[12])\b|(?P<ord>first|second|former|latter)(?:{_SP}(?:{_DOC}|one))\b)"
)
# "Essay B is better": found from the verb (its first character is a space, which the engine skips to
# quickly), then the subject is read backwards from it; led by the subject's many words, the same
# pattern cost ~4x more.
_VERB = re.compile(
    rf"[ \t]{{1,3}}(?:(?:is|was){_SP}(?:(?:clearly|slightly|much|far|definitely|marginally|somewhat|simply"
    rf"|overall|noticeably|significantly){_SP}){{0,2}}(?:better|stronger|superior|preferable"
    rf"|more{_SP}(?:compelling|original|creative|convincing|insightful|persuasive)"
    rf"|the{_SP}(?:winner|better(?:{_SP}(?:{_DOC}|one))?|stronger(?:{_SP}(?:{_DOC}|one))?))"
    rf"|wins|prevails|comes{_SP}out{_SP}(?:ahead|on{_SP}top)|edges{_SP}(?:it|out|ahead)"
    rf"|takes{_SP}it|is{_SP}my{_SP}(?:choice|pick|preference))"
)
_SUBJECT_BEFORE = re.compile(rf"{_SUBJECT}\Z")
_SUBJECT_CHARS = 40
"""The longest subject ("the second submission", "Submission (a)") fits in this many characters."""
_CLAUSE_END = re.compile(
    r"[ \t*_]{0,3}(?:[.!;,)\n]|$|overall\b|than\b|of the two\b|here\b|in (?:this|my|our) (?:comparison|view|judg)"
    r"|and (?:wins|is|should)\b|by (?:a|far)\b|on balance\b)"
)
_TIE_PHRASE = re.compile(
    rf"(?:it(?:'s|\u2019s|{_SP}is)|this{_SP}is|i{_SP}(?:call|declare|rate){_SP}(?:it|this)){_SP}"
    rf"(?:a{_SP})?(?:(?:genuine|true|clear|real){_SP})?(?:tie|draw|toss-?up)\b"
    rf"|(?:both|the{_SP}two)(?:{_SP}(?:essays|responses|texts|pieces|submissions))?{_SP}are{_SP}"
    rf"(?:equally{_SP}[a-z]{{3,20}}|(?:of{_SP})?(?:equal|the{_SP}same|comparable){_SP}(?:quality|strength|merit)"
    rf"|on{_SP}par|tied|indistinguishable|evenly{_SP}matched)"
    rf"|neither(?:{_SP}(?:{_DOC}|one))?{_SP}is{_SP}(?:clearly{_SP})?(?:better|stronger|superior)"
    rf"|no{_SP}(?:clear{_SP})?(?:winner|preference)\b"
)
_FINAL_LINE = re.compile(rf"[^\w\n]{{0,8}}(?:(?:{_DOC}{_SP})?(?P<fl>[ab])|(?P<ft>tie|draw))[^\w\n]{{0,8}}")
_REASONING_CLOSE = re.compile(r"</(?:think|thinking|reasoning)\s{0,3}>")
_CLAUSE_BOUNDARY = re.compile(r"[.!?;:](?:\s|$)|\n|,[ \t]{0,3}(?:but|however|though)[ \t]")
"""Where a clause starts: a sentence or line end, or a contrast ("I leaned to B, but on reflection I prefer
A": the hedge before "but" does not reach the verdict after it)."""
_HEDGE = re.compile(
    r"\b(?:maybe|perhaps|might|tentative(?:ly)?|initial(?:ly)?|at\s+first|so\s+far|for\s+now|leaning|lean"
    r"|preliminary|provisional(?:ly)?|whether|yet|hmm+|wait|let\s+me|suppose|assume|hypothetical(?:ly)?|unless)\b"
)
_NEGATION = re.compile(r"\b(?:not|never|no|nor|hardly|cannot)\b|n['\u2019]t\b")
_CONCLUDING = re.compile(
    r"\b(?:actually|on\s+reflection|on\s+second\s+thought|after\s+(?:all|reconsidering|further\s+thought)"
    r"|reconsidering|changing\s+my|i\s+now|in\s+the\s+end|ultimately|overall|all\s+things\s+considered"
    r"|on\s+balance|in\s+conclusion|finally|to\s+conclude|to\s+sum\s+up|in\s+summary|therefore|so\s+my)\b"
)
# A verdict letter followed by a lower-case word is the article ("Verdict: A bold essay"), unless the
# word continues a verdict ("A is better", "A wins").
_ARTICLE_NEXT = re.compile(r"[ \t]{1,3}(?P<word>[a-z]+)")
_VERDICT_WORDS = frozenset(
    "is wins was by because over with for as clearly slightly narrowly overall here and but since due edges "
    "takes comes prevails".split()
)
MAX_CANDIDATES = 1000
"""Per pattern, only the last this many matches are examined (a verdict sits near the end): this bounds
the Python work per text, whatever it repeats, while the regex scan itself stays linear."""
_ORDINAL = {"first": "A", "former": "A", "one": "A", "second": "B", "latter": "B", "two": "B"}
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class _Candidate:
    strength: int
    start: int
    end: int
    verdict: VerdictValue


def _lowered(text: str) -> str:
    """``text.lower()`` when it keeps every offset (it does not for a few characters such as 'İ'),
    else ASCII-only lower-casing, which always does."""
    low = text.lower()
    return low if len(low) == len(text) else text.translate(_ASCII_LOWER)


def _letter_ok(text: str, match: re.Match[str], group: str) -> bool:
    """A verdict letter must be upper case in the original; a bare one must not be an article."""
    at = match.start(group)
    if text[at] not in "AB":
        return False
    if group != "bl":
        return True
    following = _ARTICLE_NEXT.match(text, at + 1)
    return following is None or following.group("word") in _VERDICT_WORDS


def _choice(text: str, match: re.Match[str]) -> VerdictValue | None:
    groups = match.groupdict()
    if groups.get("tie") or groups.get("ft"):
        return "tie"
    for name in ("dl", "bl", "fl"):
        if groups.get(name):
            if not _letter_ok(text, match, name):
                return None
            return "A" if groups[name] == "a" else "B"
    if groups.get("dp"):
        return "A" if groups["dp"] == "a" else "B"
    if groups.get("dn"):
        return "A" if groups["dn"] == "1" else "B"
    if groups.get("ord"):
        return "A" if _ORDINAL[groups["ord"]] == "A" else "B"
    if groups.get("br"):
        value = groups["br"]
        return "tie" if value in ("c", "tie") else ("A" if value == "a" else "B")
    return None


def _word_start(low: str, start: int) -> bool:
    """No letter, digit, ``_`` or ``-`` right before ``start``: the match begins a word."""
    return start == 0 or not (low[start - 1].isalnum() or low[start - 1] in "_-")


def _clause(low: str, start: int) -> str:
    window = low[max(0, start - _LOOKBACK) : start]
    cut = 0
    for boundary in _CLAUSE_BOUNDARY.finditer(window):
        cut = boundary.end()
    return window[cut:]


_ALTERNATIVE_AFTER = re.compile(r"[ \t\"'*`)\]\u201d]{0,4}(?:or|if|when|/|\|)(?!\w)")
_ALTERNATIVE_BEFORE = re.compile(r"(?:\bor|\bif|\beither|/|\|)[ \t\"'*`(\[\u201c]{0,4}\Z")


def _not_an_answer(low: str, start: int, end: int) -> bool:
    """A question ("Is Essay A better?"), or one of the options the judge was given ("answer [[A]] if
    Essay A is better", "'Verdict: A' or 'Verdict: B'"), not a choice among them."""
    return (
        "?" in low[end : end + 3]
        or _ALTERNATIVE_AFTER.match(low, end) is not None
        or _ALTERNATIVE_BEFORE.search(low, max(0, start - 12), start) is not None
    )


def _better_matches(low: str) -> Iterator[tuple[re.Match[str], int, int]]:
    """``(subject match, start, end)`` of "<subject> is better"-style phrases."""
    for verb in _VERB.finditer(low):
        subject = _SUBJECT_BEFORE.search(low, max(0, verb.start() - _SUBJECT_CHARS), verb.start())
        if subject is not None:
            yield subject, subject.start(), verb.end()


def _strong_matches(low: str) -> Iterator[tuple[re.Match[str], int, int]]:
    """``(value match, start, end)`` of labelled verdicts and ``[[X]]``; one scan for the labels."""
    for label in _LABEL_RE.finditer(low):
        value = _INLINE.match(low, label.end()) or _BLOCK.match(low, label.end())
        if value is not None:
            yield value, label.start(), value.end()
    for m in _BRACKET.finditer(low):
        yield m, m.start(), m.end()


def _candidates(text: str, low: str) -> Iterator[_Candidate]:
    for m, start, end in list(_strong_matches(low))[-MAX_CANDIDATES:]:
        if not _word_start(low, start) or m.groupdict().get("neg"):
            continue
        verdict = _choice(text, m)
        if verdict and not _HEDGE.search(_clause(low, start) + low[start:end]) and not _not_an_answer(low, start, end):
            yield _Candidate(_STRONG, start, end, verdict)
    weak: list[tuple[re.Match[str], int, int, bool]] = []
    weak.extend((m, m.start(), m.end(), False) for m in list(_PREFER.finditer(low))[-MAX_CANDIDATES:])
    weak.extend((m, start, end, False) for m, start, end in list(_better_matches(low))[-MAX_CANDIDATES:])
    weak.extend((m, m.start(), m.end(), True) for m in list(_TIE_PHRASE.finditer(low))[-MAX_CANDIDATES:])
    for m, start, end, is_tie in weak:
        if not _word_start(low, start):
            continue
        if m.re is _SUBJECT_BEFORE and not _CLAUSE_END.match(low, end, end + 40):
            continue  # "Essay B is stronger in its imagery" compares an aspect, not the essays
        verdict = "tie" if is_tie else _choice(text, m)
        prefix = _clause(low, start)
        if verdict is None or _HEDGE.search(prefix + low[start:end]) or _NEGATION.search(prefix):
            continue
        if _not_an_answer(low, start, end):
            continue
        yield _Candidate(_STRONG if _CONCLUDING.search(prefix) else _WEAK, start, end, verdict)


def _final_line(text: str, low: str, answer_start: int) -> _Candidate | None:
    stripped = low.rstrip()
    line_start = stripped.rfind("\n") + 1
    if line_start < answer_start or len(stripped) - line_start > 60:
        return None
    m = _FINAL_LINE.fullmatch(stripped, line_start)
    if m is None:
        return None
    verdict = _choice(text, m)
    return _Candidate(_STRONG, line_start, len(stripped), verdict) if verdict else None


def _source(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SOURCE_CHARS else flat[: _SOURCE_CHARS - 3] + "..."


def parse_pairwise(text: str) -> PairwiseVerdict:
    """The judge's verdict, ``A``, ``B`` or ``tie``, with the span it was read from.

    Raises ``ParseError`` when the text is empty, over ``DAYDREAM_MAX_JUDGE_OUTPUT_CHARS``, or holds
    no verdict that survives the rules in the module docstring.
    """
    too_long = over_limit(len(text), MAX_JUDGE_OUTPUT_CHARS)
    if too_long:
        raise ParseError(f"{PARSER_NAME}: {too_long}")
    if not text.strip():
        raise ParseError(f"{PARSER_NAME}: the text is empty")
    low = _lowered(text)
    closes = list(_REASONING_CLOSE.finditer(low))
    answer_start = closes[-1].end() if closes else 0
    found = list(_candidates(text, low))
    final = _final_line(text, low, answer_start)
    if final:
        found.append(final)
    pool = [c for c in found if c.start >= answer_start] or found
    if not pool:
        raise ParseError(
            f"{PARSER_NAME}: no verdict (a 'Verdict:'/'Winner:' label, [[A]]/[[B]]/[[C]], 'I prefer Essay A', "
            "'Essay B is better', 'it's a tie', or a last line naming the essay)"
        )
    best = max(pool, key=lambda c: (c.strength, c.start))
    return PairwiseVerdict(
        verdict=best.verdict,
        start=best.start,
        end=best.end,
        source=_source(text[best.start : best.end]),
        strength="strong" if best.strength == _STRONG else "weak",
    )


PAIRWISE_PARSERS: dict[str, PairwiseParser] = {PARSER_NAME: parse_pairwise}
"""For the lead to register beside ``EVALUATION_PARSERS`` (``daydream/parsers/__init__.py``)."""
