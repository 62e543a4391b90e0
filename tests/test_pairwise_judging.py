"""The pairwise evaluation template type: the parser registered for catalogs and callers, realistic
free-form judge answers, the bundled template, and the offline LLM's pairwise answers (which must
parse, and must follow the planted quality order most of the time)."""

from __future__ import annotations

import random

import pytest
from helpers import REPO_DATA, write_csv

from daydream.catalogs import Catalogs, load_templates
from daydream.errors import CatalogError, ParseError
from daydream.llm.offline.pairwise import essays_in, pairwise_verdict, planted_quality
from daydream.llm.offline_answers import answer
from daydream.parsers import PAIRWISE_PARSER_NAMES, parse_evaluation, parse_pairwise_verdict
from daydream.paths import DataLayout
from daydream.rendering import render_text

# Written in the styles real judges use; each with the verdict a careful reader takes from it.
JUDGE_ANSWERS = [
    (
        "Essay A proposes that the default mode network acts as a generator for ideas, with a verifier "
        "downstream. Essay B restates the generator-verifier gap without adding a mechanism.\n\n"
        "Essay A is more specific and makes a testable claim.\n\nVerdict: A",
        "A",
    ),
    (
        "<think>\nEssay A is vivid. Maybe Essay A is better? Let me check B's argument again... B actually "
        "names the mechanism and a prediction.\n</think>\nAfter weighing both, Essay B offers the more "
        "original idea.\n\n**Winner: Essay B**",
        "B",
    ),
    (
        "Both essays circle the same familiar point about incubation, and neither adds an example a "
        "reader could act on. Both essays are equally unremarkable.\n\n[[C]]",
        "tie",
    ),
    (
        "## Comparison\nThe first essay is well written but derivative. The second essay takes a risk "
        "and it pays off.\n\n## Verdict\nEssay B - it is the only one with a falsifiable prediction.",
        "B",
    ),
    ("I initially leaned towards B. On reflection, I prefer the first essay.", "A"),
    ("I initially leaned towards B, but on reflection I prefer the first essay.", "A"),
    ("Essay B might seem stronger at first, but I prefer Essay A for its concrete prediction.", "A"),
    ("Overall, [[A]]", "A"),
    ("The comparison is close.\n\nFinal answer: tie", "tie"),
]


@pytest.mark.parametrize(("text", "expected"), JUDGE_ANSWERS)
def test_registered_parser_reads_realistic_judge_answers(text: str, expected: str) -> None:
    assert parse_pairwise_verdict("pairwise", text).verdict == expected


def test_registry_refuses_unknown_pairwise_parser_and_hedged_answers() -> None:
    assert PAIRWISE_PARSER_NAMES == ("pairwise",)
    with pytest.raises(ParseError, match="unknown pairwise parser 'complex'"):
        parse_pairwise_verdict("complex", "Verdict: A")
    with pytest.raises(ParseError, match="no verdict"):
        parse_pairwise_verdict("pairwise", "Maybe Essay A is better? I cannot decide yet.")
    with pytest.raises(ParseError):  # a pairwise template is not a score parser
        parse_evaluation("pairwise", "Verdict: A")


def test_catalog_accepts_pairwise_parser_and_no_code_cohorts_skip_it(tmp_path) -> None:
    layout = DataLayout.at(REPO_DATA)
    catalogs = Catalogs.load(layout)
    template = catalogs.templates["evaluation"]["pairwise-v1"]
    assert template.is_pairwise and template.active
    assert "pairwise-v1" not in catalogs.active_template_ids("evaluation")
    assert "novelty-rubric-v2" in catalogs.active_template_ids("evaluation")
    bad = write_csv(tmp_path / "evaluation_templates.csv", "template_id,parser\npair-x,pairwize\n")
    with pytest.raises(CatalogError, match="row 2, field 'parser': unknown parser 'pairwize'.*pairwise"):
        load_templates(bad, "evaluation")


def _prompt(essay_a: str, essay_b: str) -> str:
    layout = DataLayout.at(REPO_DATA)
    catalogs = Catalogs.load(layout)
    text = catalogs.template_text("evaluation", "pairwise-v1")
    path = catalogs.template_path("evaluation", "pairwise-v1")
    return render_text(text, {"essay_a": essay_a, "essay_b": essay_b}, path=path)


RICH = " ".join("lexeme" + "abcdefghij"[i // 10] + "abcdefghij"[i % 10] for i in range(60))
POOR = " ".join(["simple words repeated"] * 30)


def test_bundled_template_renders_both_essays_and_offline_answers_parse() -> None:
    prompt = _prompt(RICH, POOR)
    assert essays_in(prompt) is not None
    found_a, found_b = essays_in(prompt)  # type: ignore[misc]
    assert RICH in found_a and POOR in found_b
    verdicts = {parse_pairwise_verdict("pairwise", answer(f"judge-{i}", prompt)).verdict for i in range(40)}
    assert verdicts <= {"A", "B", "tie"} and "A" in verdicts


def test_offline_judge_prefers_planted_quality_in_either_order() -> None:
    assert planted_quality(RICH) == 60 and planted_quality(POOR) == 3
    rng = random.Random(3)
    first = [pairwise_verdict("judge", RICH, POOR, rng) for _ in range(300)]
    second = [pairwise_verdict("judge", POOR, RICH, rng) for _ in range(300)]
    assert first.count("A") > 290 and second.count("B") > 290  # 57 words apart: ~9.5 logits
    close = [pairwise_verdict("judge", RICH, RICH + " extraword", rng) for _ in range(400)]
    assert 0.25 < close.count("A") / len(close) < 0.75  # near-equal essays: a coin flip, with ties
    assert close.count("tie") > 0
