"""The offline LLM's answer to a pairwise prompt (``PAIRWISE EVALUATION TASK``): which essay is better.

The answers must be consistent enough that a tournament recovers a planted quality order (tests pin
it), and noisy enough that the ratings need intervals. The planted quality of an essay is the one
the absolute judges already use: the number of distinct words of 5+ letters (``planted_quality``),
so a tournament and the 0-9 scores of the same essays agree up to noise. For a pair, with
``d = (quality_A - quality_B) / QUALITY_SCALE`` plus the judge's fixed position bias:

- a tie with probability ``TIE_PROBABILITY * exp(-d**2)`` (close pairs tie more often);
- otherwise A wins with probability ``1 / (1 + exp(-d))`` (a Bradley-Terry model in the planted
  quality, so BT is the right model for these answers).

The draw is seeded by the model and the prompt, like every offline answer, so the same pair shown in
the other order is an independent draw. The verdict is phrased in one of several free-form styles
(a ``Verdict:`` line, ``[[A]]``, ``**Winner: Essay B**``, "I prefer the first essay.") so the parser
meets more than one shape.
"""

from __future__ import annotations

import math
import random

from daydream.llm.offline_answers import _DELIMITER, _unit, distinct_long_words, topics_of

PAIRWISE_MARKER = "PAIRWISE EVALUATION TASK"
QUALITY_SCALE = 6.0
"""Distinct long words per logit: essays 6 words apart are preferred ~73% of the time."""
TIE_PROBABILITY = 0.15
POSITION_BIAS = 0.3
"""Logits towards essay A times the judge's bias in {-1, 0, +1}: position bias the checks can find."""

_STYLES = (
    "{reasoning}\n\nVerdict: {letter}",
    "{reasoning}\n\nOverall, [[{bracket}]]",
    "{reasoning}\n\n**Winner: {named}**",
    "<think>\nLet me compare them. Maybe Essay {other} is better at first sight.\n</think>\n{reasoning}\n\n"
    "Final answer: {letter}",
    "{reasoning}\n\nAll things considered, {phrase}",
)


def planted_quality(essay_text: str) -> int:
    """The hidden quality the offline judge compares: distinct words of 5+ letters."""
    return distinct_long_words(essay_text)


def essays_in(prompt: str) -> tuple[str, str] | None:
    """Essay A and essay B: the text between the first and second, and third and fourth delimiter lines."""
    marks = list(_DELIMITER.finditer(prompt))
    if len(marks) < 4:
        return None
    return prompt[marks[0].end() : marks[1].start()], prompt[marks[2].end() : marks[3].start()]


def pairwise_bias(model: str) -> int:
    """A judge model's fixed position preference: -1 (for B), 0 or +1 (for A)."""
    return int(_unit("position", model) * 3) - 1


def pairwise_verdict(model: str, essay_a: str, essay_b: str, rng: random.Random) -> str:
    """``A``, ``B`` or ``tie`` as the module docstring says."""
    d = (planted_quality(essay_a) - planted_quality(essay_b)) / QUALITY_SCALE + POSITION_BIAS * pairwise_bias(model)
    if rng.random() < TIE_PROBABILITY * math.exp(-(d**2)):
        return "tie"
    return "A" if rng.random() < 1.0 / (1.0 + math.exp(-d)) else "B"


def pairwise_answer(model: str, prompt: str, rng: random.Random) -> str:
    found = essays_in(prompt)
    if found is None:
        return "I was asked to compare two essays but could not find them in the prompt."
    essay_a, essay_b = found
    verdict = pairwise_verdict(model, essay_a, essay_b, rng)
    topics = topics_of(essay_a + "\n" + essay_b)
    reasoning = (
        f"Essay A argues about {topics[0]}; Essay B works with {topics[-1]}. "
        f"Essay A uses {planted_quality(essay_a)} distinct substantial words, Essay B {planted_quality(essay_b)}. "
        "I weigh the originality and specificity of each central idea."
    )
    style = rng.choice(_STYLES)
    if verdict == "tie":
        return f"{reasoning}\n\nBoth essays are equally strong here.\n\nVerdict: tie"
    other = "B" if verdict == "A" else "A"
    ordinal = "first" if verdict == "A" else "second"
    return style.format(
        reasoning=reasoning,
        letter=verdict,
        bracket=verdict,
        named=f"Essay {verdict}",
        other=other,
        phrase=f"I prefer the {ordinal} essay.",
    )
