"""A parsed verdict (``Score``) and the one rule that turns a number into one, shared by every
evaluation parser (docs/data-contract.md, "parsers")."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from daydream.errors import ParseError

_SOURCE_CHARS = 80
NUMBER = r"-?\d+(?:\.\d+)?"


class Score(BaseModel):
    """A parsed verdict: the number as written plus what is needed to compare across scales."""

    model_config = ConfigDict(frozen=True)

    score: float
    scale: float | None  # the denominator the judge wrote (7/10 -> 10), else None
    implied_scale: float  # scale, else the parser's default: 9 for in_last_line, 10 for complex
    score_normalized: float  # score / implied_scale, on 0..1
    parser: str


EvaluationParser = Callable[[str], Score]


def source(line: str) -> str:
    text = " ".join(line.split())
    return text if len(text) <= _SOURCE_CHARS else text[: _SOURCE_CHARS - 3] + "..."


def make_score(parser: str, value: float, scale: float | None, default_scale: float, line: str) -> Score:
    """The one place a number becomes a Score, so the range rule is the same for every parser."""
    implied = scale if scale is not None else default_scale
    if implied <= 0:
        raise ParseError(f"{parser}: the scale in '{source(line)}' is not positive")
    if not 0 <= value <= implied:
        raise ParseError(f"{parser}: score {value:g} in '{source(line)}' is outside 0..{implied:g}")
    return Score(score=value, scale=scale, implied_scale=implied, score_normalized=value / implied, parser=parser)
