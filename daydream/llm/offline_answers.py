"""Deterministic, prompt-derived answers for the offline LLM server.

Every answer is a pure function of ``(model, prompt)``: the random generator is seeded with
``sha256(model + "\\n" + prompt)``. Answers are shaped by markers the bundled templates contain; the
earliest marker in the prompt wins:

- ``PAIRWISE EVALUATION TASK`` (found before ``EVALUATION TASK``): a verdict on essay A vs essay B
  (``daydream.llm.offline.pairwise``).
- ``EVALUATION TASK``: a judge answer. With ``Final Score:`` in the prompt, free-form reasoning, one
  ``Label: x/n`` line per criterion the template lists (default Originality/Insight/Rigor/
  Usefulness), then ``Final Score:`` and ``X/10`` on the next line; otherwise a few lines of
  reasoning ending in ``SCORE: n`` (0..9).
- ``ESSAY TASK``: a title line and 3-5 paragraphs about the concepts named in the draft; wrapped in
  ``<essay>`` tags when the prompt shows ``<essay>``.
- ``DRAFT TASK``: at least 6 non-empty lines about the concepts listed in the prompt; 2-3
  ``<essay-idea stage="N">`` blocks (tags on their own lines) when the prompt shows ``<essay-idea
  stage=``; a numbered list of links plus ``Most promising:`` when the prompt asks for it; wrapped in
  ``<essay>`` tags when the prompt shows ``<essay>``.
- anything else: one generic paragraph.

Scores are not noise. A judge's 0..9 score is ``3 + (D - 60) / 22`` rounded, where ``D`` is the number
of distinct words of 5+ letters in the evaluated text (the part between the template's ``ESSAY``
delimiter lines, else the whole prompt), plus a fixed per-judge bias in {-1, 0, +1} (from the judge
model's hash) plus a per-answer jitter in {-1, 0, 0, +1}, clamped to 0..9. Generator models have a
fixed "quality" in [0, 1) from their hash: better models write more paragraphs and sentences from a
larger vocabulary, so essays by better models score higher on average, and every judge agrees on the
ranking up to its bias and jitter. ``X/10`` verdicts are the same score rescaled to 0..10.
"""

from __future__ import annotations

import hashlib
import random
import re

MARKERS = ("PAIRWISE EVALUATION TASK", "EVALUATION TASK", "ESSAY TASK", "DRAFT TASK")

_CONCEPT_PATTERNS = (
    re.compile(r"^#{1,6}\s*\d+[.)]\s*(?P<name>.+?)\s*$", re.M),  # ### 1. Name
    re.compile(r"^\[\d+\]\s*(?P<name>.+?)\s*$", re.M),  # [1] Name
    re.compile(r"^[-*\u2022]\s+(?P<name>[^:\n\u2014\u2013]{2,80}?)\s*(?::|\u2014|\u2013| - )\s+\S", re.M),
)
_CAP = r"(?:[A-Z][a-z][a-zA-Z]*|AI)"
_TITLE_PHRASE = re.compile(rf"\b{_CAP}(?:[- ](?:of |the |and )?{_CAP})+\b")
_LEADING = frozenset(
    """If Why From Read Seen An A Nothing Consider Historically This That What It In Of
And But So For When Where How Parts Some Most""".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
_DELIMITER = re.compile(r"^\s*(?:={3,}|-{3,})\s*(?P<label>[^=\-].*?)\s*(?:={3,}|-{3,})\s*$", re.M)
_CRITERION = re.compile(r"^\s*(?P<label>[A-Z][A-Za-z ]{1,30}):\s*x\s*/\s*(?P<scale>\d+)\s*$", re.M)
_STAGE = re.compile(r'stage="(\d+)"')
_STOPWORDS = frozenset(
    """
about above after again against because before being below between could their there these
those through under until where which while would should other every first second third write
essay draft concepts concept below above think stage stages block blocks score answer words
""".split()
)

# -- seeds and hashes ---------------------------------------------------------------------------


def prompt_sha256(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def _unit(*parts: str) -> float:
    """A deterministic number in [0, 1) from ``parts``."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def rng_for(model: str, prompt: str) -> random.Random:
    return random.Random(hashlib.sha256(f"{model}\n{prompt}".encode()).hexdigest())


def model_quality(model: str) -> float:
    """A generator model's fixed quality in [0, 1)."""
    return _unit("quality", model)


def judge_bias(model: str) -> int:
    """A judge model's fixed bias: -1, 0 or +1."""
    return int(_unit("bias", model) * 3) - 1


# -- reading the prompt -------------------------------------------------------------------------


def task_of(prompt: str) -> str | None:
    """``evaluation``, ``essay``, ``draft`` or None, by the earliest marker in the prompt."""
    found = [(prompt.find(marker), marker) for marker in MARKERS if marker in prompt]
    if not found:
        return None
    return min(found)[1].split()[0].lower()


def _clean_name(name: str) -> str:
    return re.sub(r"[*_`#]+", "", name).strip(" .:;,\"'")


def find_concepts(prompt: str, limit: int = 8) -> list[str]:
    """Concept names listed in a draft prompt (``### 1. Name``, ``[1] Name``, ``- Name: ...``)."""
    for pattern in _CONCEPT_PATTERNS:
        names = _unique(_clean_name(m.group("name")) for m in pattern.finditer(prompt))
        names = [n for n in names if n and len(n.split()) <= 8]
        if names:
            return names[:limit]
    return topics_of(prompt, limit=limit)


def topics_of(text: str, limit: int = 6) -> list[str]:
    """Title-case phrases of a text (most frequent first), else its most frequent long words."""
    counts: dict[str, int] = {}
    for match in _TITLE_PHRASE.finditer(text):
        words = match.group(0).split(" ")
        while words and words[0] in _LEADING:
            words = words[1:]
        if len(words) >= 2 or (words and "-" in words[0]):
            phrase = " ".join(words)
            counts[phrase] = counts.get(phrase, 0) + 1
    ranked = sorted(counts, key=lambda p: (-counts[p], text.find(p)))
    phrases = [p for p in ranked if counts[p] >= 2] or ranked
    if len(phrases) < 2:
        frequency: dict[str, int] = {}
        for word in _WORD.findall(text):
            low = word.lower()
            if len(low) >= 7 and low not in _STOPWORDS:
                frequency[low] = frequency.get(low, 0) + 1
        phrases += [w for w in sorted(frequency, key=lambda w: (-frequency[w], w)) if w not in phrases]
    return phrases[:limit] or ["the idea"]


def evaluated_text(prompt: str) -> str:
    """The text a judge is asked to evaluate: between the first two delimiter lines, else all."""
    marks = list(_DELIMITER.finditer(prompt))
    if len(marks) >= 2:
        return prompt[marks[0].end() : marks[1].start()]
    return prompt


def distinct_long_words(text: str) -> int:
    return len({w.lower() for w in _WORD.findall(text) if len(w) >= 5})


def _unique(items) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


# -- prose banks ----------------------------------------------------------------------------------

_LINKS = (
    "{a} and {b} share a mechanism: both turn {x} into {y}.",
    "Read through {b}, {a} looks less like a metaphor and more like a testable claim about {x}.",
    "{a} explains why {b} stalls when {x} is scarce and speeds up once {y} accumulates.",
    "If {a} is right, then {b} predicts that {x} should precede every jump in {y}.",
    "The tension between {a} and {b} is a tension between {x} and {y}.",
    "{a} supplies the variation, {b} supplies the selection; {x} is where they meet.",
    "A design that couples {a} with {b} would measure {x} directly instead of guessing at {y}.",
    "{b} is the cost side of {a}: every gain in {x} is paid for in {y}.",
    "Seen together, {a} and {b} suggest that {y} is a by-product of {x}, not its cause.",
    "An odd link: {a} behaves like {b} run backwards, trading {y} for {x}.",
)
_SLOTS_X = (
    "idle recombination",
    "cheap verification",
    "accumulated tacit skill",
    "slow incubation",
    "exploratory search",
    "shared infrastructure",
    "accidental encounters",
    "feedback loops",
    "distant analogies",
    "taste for problems",
)
_SLOTS_Y = (
    "durable advantage",
    "surprising discovery",
    "reliable judgement",
    "compounding data",
    "fruitful recombination",
    "productive failure",
    "faster learning",
    "defensible insight",
    "adjacent opportunity",
    "sharper questioning",
)
_ESSAY = (
    "The claim is simple to state: {a} and {b} are two views of one process, {x} producing {y}.",
    "Consider how {a} works in practice; the mechanism depends on {x} far more than on talent.",
    "{b} adds the missing constraint, because without {y} the search has no way to stop.",
    "A concrete case makes this clear: a lab that rotates people between problems gets {x} for free.",
    "The strongest objection is that {a} is only an analogy here, and analogies prove nothing.",
    "The answer is that the link predicts something specific: more {x} should yield more {y}.",
    "That prediction could fail, and a careful study of {b} would show whether it does.",
    "What follows for practice is modest but real: budget for {x} as deliberately as for {y}.",
    "The open question is whether {a} scales, or whether {y} saturates once {x} is cheap.",
    "Nothing in {b} requires genius; it requires structures that let {x} happen repeatedly.",
    "Historically, the moments we call breakthroughs in {a} followed long stretches of {x}.",
    "This reframes {b}: the scarce input is not ideas but {y}, and that can be engineered.",
)
_FLOURISH = (
    "Counterfactual bookkeeping sharpens the argument considerably.",
    "Institutions rarely measure this, which is precisely why it remains underexploited.",
    "Ecological metaphors mislead here; the relevant dynamics are statistical, not organic.",
    "Heuristically, one should expect diminishing returns beyond a modest threshold.",
    "Practitioners already intuit this, though they seldom articulate the underlying mechanism.",
    "Quantitatively, even a small improvement compounds across many independent attempts.",
    "Philosophically, the position resembles pragmatism more than rationalism.",
    "Experimentally, randomized rotations between teams would isolate the causal pathway.",
)
_REASONING = (
    "The essay's central idea is that {a} and {b} interact through {x}.",
    "The closest existing ideas are familiar from writing on {a}; the essay adds {y}.",
    "The argument names a mechanism rather than a resemblance, which is to its credit.",
    "Some claims stay vague: it is not clear how {x} would be measured.",
    "The strongest objection is acknowledged but answered only in passing.",
    "The example is concrete enough that a reader could try it.",
    "Parts of the text restate well-known points about {b} without adding to them.",
    "It derives one non-obvious consequence, a prediction about {y}.",
)
_GENERIC = (
    "This is a deterministic answer from the DayDream offline LLM.",
    "It talks about {a} and {b} because the prompt did.",
    "The same prompt and model always produce this exact text.",
)
_TITLES = (
    "{a} as {y}",
    "Why {a} Needs {b}",
    "The Hidden Link Between {a} and {b}",
    "{b}, Reconsidered Through {a}",
    "From {x} to {y}",
)


def _fill(rng: random.Random, template: str, topics: list[str]) -> str:
    a, b = rng.sample(topics, 2) if len(topics) >= 2 else (topics[0], "its neighbours")
    return template.format(a=a, b=b, x=rng.choice(_SLOTS_X), y=rng.choice(_SLOTS_Y))


def _sentences(rng: random.Random, bank: tuple[str, ...], topics: list[str], n: int) -> list[str]:
    order = rng.sample(bank, min(n, len(bank))) + [rng.choice(bank) for _ in range(n - len(bank))]
    return [_fill(rng, t, topics) for t in order]


def _paragraph(rng: random.Random, topics: list[str], n: int, quality: float) -> str:
    lines = _sentences(rng, _ESSAY, topics, n)
    if rng.random() < quality:
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(_FLOURISH))
    return " ".join(lines)


def _wrap(tag_open: str, tag_close: str, body: str) -> str:
    return f"{tag_open}\n{body.strip()}\n{tag_close}"


# -- answers --------------------------------------------------------------------------------------


def draft_answer(model: str, prompt: str, rng: random.Random) -> str:
    topics = find_concepts(prompt)
    quality = model_quality(model)
    n_lines = 6 + int(quality * 4 + rng.random())
    preface = f"Thinking about {', '.join(topics[:-1]) or topics[0]} and {topics[-1]} together."
    if "Most promising:" in prompt:
        items = [
            f"{_link_prefix(item, topics)}{item}" for item in _sentences(rng, _LINKS, topics, 8 + int(quality * 4))
        ]
        items.append(
            f"{' + '.join(topics)}: all of them describe how {rng.choice(_SLOTS_X)} becomes {rng.choice(_SLOTS_Y)}."
        )
        body = "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))
        return (
            f"{body}\nMost promising: {rng.randint(1, len(items))}, because it makes a claim "
            "that could turn out to be false."
        )
    if "<essay-idea stage=" in prompt:
        stages = max([int(s) for s in _STAGE.findall(prompt)] or [2])
        blocks = [
            _wrap(
                f'<essay-idea stage="{stage}">',
                "</essay-idea>",
                "\n".join(_sentences(rng, _LINKS if stage == 1 else _ESSAY, topics, max(3, n_lines - 2))),
            )
            for stage in range(1, max(2, min(3, stages)) + 1)
        ]
        return preface + "\n\n" + "\n\n".join(blocks)
    if "<essay>" in prompt:
        paragraphs = [_paragraph(rng, topics, 2 + int(quality * 2), quality) for _ in range(4)]
        return preface + "\n\n" + _wrap("<essay>", "</essay>", "\n\n".join(paragraphs))
    return "\n".join([preface, *_sentences(rng, _LINKS, topics, n_lines - 1)])


def _link_prefix(item: str, topics: list[str]) -> str:
    named = [t for t in topics if t in item][:2]
    return f"{' + '.join(named)}: " if len(named) == 2 else ""


def essay_answer(model: str, prompt: str, rng: random.Random) -> str:
    topics = topics_of(prompt)
    quality = model_quality(model)
    n_paragraphs = min(5, 3 + int(quality * 2 + rng.random()))
    title = _fill(rng, rng.choice(_TITLES), topics)
    paragraphs = [
        _paragraph(rng, topics, 3 + int(quality * 3 + rng.random() * 2), quality) for _ in range(n_paragraphs)
    ]
    essay = title + "\n\n" + "\n\n".join(paragraphs)
    if "<essay>" in prompt:
        return "Plan: thesis, mechanism, example, objection, implication.\n\n" + _wrap("<essay>", "</essay>", essay)
    return essay


def judge_score(model: str, prompt: str, rng: random.Random) -> int:
    """The 0..9 score a judge gives (see the module docstring)."""
    richness = distinct_long_words(evaluated_text(prompt))
    raw = 3 + (richness - 60) / 22 + judge_bias(model) + rng.choice((-1, 0, 0, 1))
    return max(0, min(9, round(raw)))


def evaluation_answer(model: str, prompt: str, rng: random.Random, *, with_score: bool = True) -> str:
    topics = topics_of(evaluated_text(prompt))
    score = judge_score(model, prompt, rng)
    reasoning = _sentences(rng, _REASONING, topics, 3 + rng.randint(0, 2))
    if "Final Score:" in prompt:
        out_of_10 = round(score * 10 / 9)
        criteria = [(m.group("label").strip(), int(m.group("scale"))) for m in _CRITERION.finditer(prompt)] or [
            ("Originality", 3),
            ("Insight", 3),
            ("Rigor", 2),
            ("Usefulness", 2),
        ]
        total = sum(scale for _, scale in criteria)
        lines = (
            reasoning
            + [""]
            + [f"{label}: {round(scale * out_of_10 / 10) if total else 0}/{scale}" for label, scale in criteria]
        )
        if with_score:
            lines += ["", "Final Score:", f"{out_of_10}/10"]
        return "\n".join(lines)
    lines = reasoning
    if with_score:
        lines = lines + [f"SCORE: {score}"]
    return "\n".join(lines)


def generic_answer(model: str, prompt: str, rng: random.Random) -> str:
    return " ".join(_sentences(rng, _GENERIC, topics_of(prompt), len(_GENERIC)))


def answer(model: str, prompt: str, *, with_score: bool = True) -> str:
    """The offline model's answer to ``prompt`` (deterministic in ``model`` and ``prompt``)."""
    rng = rng_for(model, prompt)
    task = task_of(prompt)
    if task == "pairwise":  # two essays, one verdict (daydream/llm/offline/pairwise.py)
        from daydream.llm.offline.pairwise import pairwise_answer

        return pairwise_answer(model, prompt, rng)
    if task == "evaluation":
        return evaluation_answer(model, prompt, rng, with_score=with_score)
    if task == "essay":
        return essay_answer(model, prompt, rng)
    if task == "draft":
        return draft_answer(model, prompt, rng)
    return generic_answer(model, prompt, rng)
