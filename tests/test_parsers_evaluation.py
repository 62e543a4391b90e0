"""Evaluation parsers (docs/data-contract.md §7) on realistic judge outputs and on each rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daydream.errors import DayDreamError, ParseError
from daydream.parsers import (
    EVALUATION_PARSER_NAMES,
    Score,
    parse_evaluation,
    parse_score_file,
)
from daydream.parsers.evaluation import EVALUATION_PARSERS

FIXTURES = Path(__file__).parent / "fixtures" / "judge_outputs"
EXPECTED: dict[str, dict] = json.loads((FIXTURES / "expected.json").read_text())


def test_every_fixture_has_an_expectation_and_back() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in FIXTURES.glob("*.txt"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_is_a_realistic_judge_output(name: str) -> None:
    assert 20 <= len((FIXTURES / name).read_text().splitlines()) <= 120


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name: str) -> None:
    expected = EXPECTED[name]
    result = parse_score_file(expected["parser"], FIXTURES / name)
    assert result["file"] == str(FIXTURES / name)
    if expected["error"]:
        assert result["score"] is None and result["scale"] is None
        assert result["error"].startswith(expected["parser"] + ":")
        assert "\n" not in result["error"]
    else:
        assert result["error"] is None
        assert result["score"] == pytest.approx(expected["score"])
        assert result["scale"] == expected["scale"]


def test_names_match_the_registry() -> None:
    assert tuple(EVALUATION_PARSERS) == EVALUATION_PARSER_NAMES


@pytest.mark.parametrize("parser", ["", "essay_block", "Complex"])
def test_unknown_parser_names_it_and_lists_the_known_ones(parser: str) -> None:
    with pytest.raises(
        ParseError,
        match=rf"unknown evaluation parser '{parser}' "
        r"\(known: in_last_line, complex\)",
    ):
        parse_evaluation(parser, "SCORE: 7")


@pytest.mark.parametrize("parser", EVALUATION_PARSER_NAMES)
def test_empty_text_fails(parser: str) -> None:
    with pytest.raises(ParseError, match=f"^{parser}: the text is empty$"):
        parse_evaluation(parser, " \n\n")


# in_last_line


def in_last_line(text: str) -> Score:
    return parse_evaluation("in_last_line", text)


def test_in_last_line_score_model() -> None:
    score = in_last_line("reasoning\nSCORE: 6")
    assert score == Score(score=6.0, scale=None, implied_scale=9.0, score_normalized=6 / 9, parser="in_last_line")
    assert isinstance(score.score, float)


@pytest.mark.parametrize(
    "text, value",
    [
        ("SCORE: 7", 7.0),
        ("score:3.5", 3.5),
        ("  Score :  8  ", 8.0),
        ("**SCORE: 4**", 4.0),
        ("### SCORE: 5", 5.0),
        ("Final Score: 7.5", 7.5),
        ("Total Score - 6", 6.0),
        ("total score: 0", 0.0),
        ("My Score 8", 8.0),
        ("Score: 456", 5.0),
        ("Score: 4 5 6", 5.0),
        ("Score: 4, 5, 9", 6.0),
        ("SCORE: 999", 9.0),
        ("Final Score: 9", 9.0),
    ],
)
def test_in_last_line_accepts(text: str, value: float) -> None:
    assert in_last_line("The essay is fine.\n" + text).score == pytest.approx(value)


def test_an_exact_score_line_beats_a_later_labelled_one() -> None:
    assert in_last_line("SCORE: 3\nFinal Score: 8 after adjustment\nThanks").score == 3.0


def test_the_last_of_several_exact_lines_wins() -> None:
    assert in_last_line("SCORE: 3\nSCORE: 5").score == 5.0


def test_only_the_last_three_non_empty_lines_count() -> None:
    with pytest.raises(ParseError, match="no 'SCORE: <n>' or 'Score <n>' in the last 3 non-empty"):
        in_last_line("SCORE: 4\nb\nc\nd")
    assert in_last_line("SCORE: 4\n\nc\n\n\nd\n").score == 4.0


@pytest.mark.parametrize("text", ["SCORE: 10", "Score: 9.5", "Final Score: -1", "Score: 12"])
def test_in_last_line_out_of_range_fails(text: str) -> None:
    message = r"^in_last_line: score -?[\d.]+ in '.*' is outside 0\.\.9$"
    with pytest.raises(ParseError, match=message):
        in_last_line(text)


@pytest.mark.parametrize("text", ["SCORE: 7/10", "Originality 7", "7", "Score: high"])
def test_in_last_line_needs_a_labelled_bare_number(text: str) -> None:
    with pytest.raises(ParseError, match="^in_last_line: no 'SCORE"):
        in_last_line(text)


# complex


def complex_(text: str) -> Score:
    return parse_evaluation("complex", text)


def test_complex_fraction_keeps_its_scale() -> None:
    assert complex_("Good essay.\nSCORE: 7/10") == Score(
        score=7.0, scale=10.0, implied_scale=10.0, score_normalized=0.7, parser="complex"
    )


def test_complex_bare_verdict_is_read_out_of_ten() -> None:
    score = complex_("**SCORE:** 7")
    assert (score.score, score.scale, score.implied_scale, score.score_normalized) == (7.0, None, 10.0, 0.7)


@pytest.mark.parametrize(
    "text, value, scale",
    [
        ("SCORE: 7/10", 7, 10),
        ("**Total Score: 6.5/10**", 6.5, 10),
        ("**SCORE:** 7", 7, None),
        ("Final Score:\n8/10", 8, 10),
        ("Final Score:\n\n**8/10**\n\nThanks!", 8, 10),
        ("## Final Score\n7/10", 7, 10),
        ("### Verdict\n\n**7/10** - bold but unproven", 7, 10),
        ("## Score\n6.5", 6.5, None),
        ("**Overall Rating:** 9 out of 10", 9, 10),
        ("Final Score (1-10): 7", 7, None),
        ("I give this essay a final score of 8/10.", 8, 10),
        ("The final score is 6.", 6, None),
        ("Verdict: 4/5", 4, 5),
        ("Total: 11/15", 11, 15),
        ("**Overall:** 7.5/10", 7.5, 10),
        ("Score: 7/10", 7, 10),
        ("Rating: 8", 8, None),
        ("Total Score: 68/100", 68, 100),
        ("FINAL SCORE = 6.5 / 10", 6.5, 10),
        ("- **Final Score: 6/10**", 6, 10),
        ("> SCORE: 5/10", 5, 10),
        ("Final Score: 0/10", 0, 10),
        ("Final Score: 7/10. Is that fair? I think so.", 7, 10),
    ],
)
def test_complex_verdict_forms(text: str, value: float, scale: float | None) -> None:
    score = complex_(text)
    assert (score.score, score.scale) == (value, scale)


@pytest.mark.parametrize(
    "text",
    [
        "Connections: 2/5\nOriginality: 3/3\nClarity: 4/5",
        "- Score: 1/2\n- Score: 2/2",
        "Score: 1/2",
        "Score: 3/5",
        "* Score: 8/10",
        "1. Originality - Score: 7/10",
        "Originality Score: 8/10",
        "### Originality Score\n3/3",
        "so far that's 5/10",
        "running total: 4",
        "Running total score: 4/10",
        "Let me reconsider... maybe 6/10",
        "Maybe the final score should be 7/10?",
        "Tentative final score: 5/10",
        "Hmm, so the total score is 6/10",
        "Final score: 7/10?",
        "Total: 2 + 1 + 1 = 4",
        "Score: 6-7",
        "That is a total of 7 points.",
        "## Final Score\n\n7 reasons the essay works are listed below.",
        "The essay scores well on originality.",
        "- Score:\n  7/10",
    ],
)
def test_complex_ignores_sub_scores_and_thinking_aloud(text: str) -> None:
    with pytest.raises(ParseError, match=r"^complex: no final verdict"):
        complex_(text)


def test_strong_labels_beat_later_weak_ones() -> None:
    assert complex_("Final Score: 7/10\n\nScore: 9/10 for style alone").score == 7.0


def test_later_strong_label_wins() -> None:
    assert complex_("Total Score: 13/20 on the rubric\nFinal Score: 6.5/10").score == 6.5


def test_verdict_keeps_the_first_value_on_its_line() -> None:
    assert complex_("Final Score: 7/10 (up from an initial 5/10)").score == 7.0


def test_answer_after_reasoning_beats_verdicts_inside_it() -> None:
    text = "<think>\nFinal Score: 5/10\n</think>\nScore: 8/10\nThanks"
    assert complex_(text).score == 8.0


def test_reasoning_is_used_when_the_answer_has_no_verdict() -> None:
    assert complex_("<thinking>\nFinal Score: 5/10\n</thinking>\nNice essay.").score == 5.0


def test_chain_of_thought_totals_lose_to_the_verdict() -> None:
    text = (
        "so far that's 5/10\nrunning total: 4\nLet me reconsider... maybe 6/10\n"
        "Hmm, a total score of 6/10?\nSCORE: 7\nThat's my answer."
    )
    assert complex_(text).score == 7.0


@pytest.mark.parametrize(
    "text, message",
    [
        ("Final Score: 12/10", r"^complex: score 12 in 'Final Score: 12/10' is outside 0\.\.10$"),
        ("SCORE: 11", r"^complex: score 11 in 'SCORE: 11' is outside 0\.\.10$"),
        ("Final Score: -1/10", r"^complex: score -1 in .* is outside 0\.\.10$"),
        ("Total Score: 6/0", r"^complex: the scale in 'Total Score: 6/0' is not positive$"),
        ("## Final Score\n\n85", r"^complex: score 85 in 'Final Score 85' is outside 0\.\.10$"),
    ],
)
def test_complex_out_of_range_fails(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        complex_(text)


def test_long_source_lines_are_shortened_in_errors() -> None:
    with pytest.raises(ParseError) as info:
        complex_("Final Score: 15/10 " + "because " * 40)
    assert len(str(info.value)) < 140 and "..." in str(info.value)


# parse_score_file


def test_parse_score_file_success_and_failure(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("SCORE: 7/10\n")
    bad.write_text("no verdict here\n")
    assert parse_score_file("complex", good) == {"file": str(good), "score": 7.0, "scale": 10.0, "error": None}
    assert parse_score_file("complex", bad) == {
        "file": str(bad),
        "score": None,
        "scale": None,
        "error": "complex: no final verdict (SCORE:, Final/Total/Overall Score, or a verdict "
        "heading followed by its value)",
    }


def test_parse_score_file_user_errors_raise(tmp_path: Path) -> None:
    with pytest.raises(DayDreamError, match="missing.txt: no such file"):
        parse_score_file("complex", tmp_path / "missing.txt")
    with pytest.raises(ParseError, match="unknown evaluation parser 'nope'"):
        parse_score_file("nope", tmp_path / "missing.txt")


def test_parse_score_file_tolerates_bad_bytes(tmp_path: Path) -> None:
    path = tmp_path / "raw.txt"
    path.write_bytes(b"caf\xe9 \xff\nSCORE: 6\n")
    assert parse_score_file("in_last_line", path)["score"] == 6.0
