"""Pairwise verdict parser: realistic judge outputs (tests/fixtures/pairwise, expected.json) and rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daydream.errors import ParseError
from daydream.parsers.pairwise import PAIRWISE_PARSERS, parse_pairwise

FIXTURES = Path(__file__).parent / "fixtures" / "pairwise"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))


def test_there_are_at_least_fifteen_fixtures_and_each_has_an_expectation() -> None:
    files = sorted(p.name for p in FIXTURES.glob("*.txt"))
    assert len(files) >= 15
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_verdicts(name: str) -> None:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    expected = EXPECTED[name]
    if expected["verdict"] is None:
        with pytest.raises(ParseError, match="pairwise: no verdict"):
            parse_pairwise(text)
        return
    got = parse_pairwise(text)
    assert got.verdict == expected["verdict"]
    assert expected["span"] in text[got.start : got.end]  # the span points into the raw text


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("Verdict: A", "A"),
        ("**Verdict:** B", "B"),
        ("Final answer: [[A]]", "A"),
        ("[[C]]", "tie"),
        ("The winner is Essay B.", "B"),
        ("Winner: the second essay", "B"),
        ("Preferred essay: Essay 1", "A"),
        ("Decision - tie", "tie"),
        ("My verdict: a tie.", "tie"),
        ("I'd go with the former.", "A"),
        ("Essay A wins.", "A"),
        ("It's a draw.", "tie"),
        ("Both essays are on par.", "tie"),
        ("Response B is clearly better than Response A.", "B"),
        ("Some analysis.\n\n**B**", "B"),
        ("Some analysis.\n\nTie.", "tie"),
    ],
)
def test_phrasings(text: str, verdict: str) -> None:
    assert parse_pairwise(text).verdict == verdict


def test_the_last_verdict_counts_and_strong_beats_weak() -> None:
    assert parse_pairwise("Verdict: A\n...\nOn reflection, verdict: B").verdict == "B"
    # a weak phrase after a labelled verdict does not override it ...
    assert parse_pairwise("Verdict: A\n\nEssay B is better.").verdict == "A"
    # ... unless it opens with a concluding cue
    assert parse_pairwise("Verdict: A\n\nActually, Essay B is better.").verdict == "B"


def test_answer_after_reasoning_beats_the_trace() -> None:
    text = "<think>Verdict: A. Definitely A.</think>\nI prefer Essay B."
    got = parse_pairwise(text)
    assert got.verdict == "B" and got.strength == "weak"


@pytest.mark.parametrize(
    "text",
    [
        "The winner is not A.",
        "Verdict: not B",
        "I don't think Essay A is better.",
        "I do not prefer Essay B.",
        "Maybe Essay A is better.",
        "Initially, verdict: A",
        "Is Essay A better? Hard to say.",
        "Verdict: A bold essay about dreams wins over a timid one.",  # the article, not a verdict
        "Essay B is stronger in its imagery.",  # an aspect, not the essays
        "Plan A is better than plan C.",
        'Reply "[[A]]" if Essay A is better, "[[B]]" if Essay B is better.',
        "The format is 'Verdict: A' or 'Verdict: B'.",
        "",
        "   \n ",
    ],
)
def test_refuses_rather_than_guesses(text: str) -> None:
    with pytest.raises(ParseError):
        parse_pairwise(text)


def test_offsets_survive_unicode_that_lowercases_to_two_characters() -> None:
    text = "İİİ notes. Verdict: B"
    got = parse_pairwise(text)
    assert got.verdict == "B" and text[got.start : got.end] == "Verdict: B"


def test_registered_name_and_bounded_input(monkeypatch: pytest.MonkeyPatch) -> None:
    assert PAIRWISE_PARSERS["pairwise"] is parse_pairwise
    monkeypatch.setenv("DAYDREAM_MAX_JUDGE_OUTPUT_CHARS", "100")
    with pytest.raises(ParseError, match="over the limit of 100"):
        parse_pairwise("x" * 101 + "\nVerdict: A")


def test_source_is_short_and_one_line() -> None:
    got = parse_pairwise("Verdict:\n\n   Essay A - " + "long explanation " * 20)
    assert got.verdict == "A" and "\n" not in got.source and len(got.source) <= 80
