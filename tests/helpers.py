"""Helpers the tests import explicitly (``from helpers import ...``): a scripted LLM double, scratch
data roots, and small readers of the store. Fixtures live in ``conftest.py`` and build on these.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from daydream.llm.types import LLMClient, LLMResult, Usage
from daydream.membership import read_membership
from daydream.paths import STAGES, DataLayout
from daydream.runner import GenerationOutcome, RunOptions, StageRunner

REPO = Path(__file__).resolve().parents[1]
REPO_DATA = REPO / "data"

DRAFT_ANSWER = """Some thinking before the blocks.
<essay-idea stage="1">
A first rough link between the concepts.
</essay-idea>
<essay-idea stage="3">
Thesis: background search plus strict verification yields discovery.
Argument: the generator proposes, the verifier filters, the loop learns.
Example: a lab notebook that replays failed ideas overnight.
</essay-idea>
<essay>
A problem, an insight, a solution and the risks.
</essay>"""
ESSAY_ANSWER = """<essay>
Daydreaming machines
An essay in several lines.
It argues one thing and names its weakest step.
</essay>"""
IN_LAST_LINE_ANSWER = "The essay restates a known idea with one new angle.\n\nSCORE: 6"
COMPLEX_ANSWER = "Originality: 2/3\nInsight: 2/3\nRigor: 1/2\nUsefulness: 1/2\n\nFinal Score:\n7/10"


def _default_answer(prompt: str) -> str:
    if "DRAFT TASK" in prompt:
        return DRAFT_ANSWER
    if "ESSAY TASK" in prompt:
        return ESSAY_ANSWER
    if "EVALUATION TASK" in prompt:
        if "SCORE: <n>" in prompt:
            return IN_LAST_LINE_ANSWER
        if "Final Score:" in prompt:
            return COMPLEX_ANSWER
    return "Line one.\nLine two.\nLine three."


class FakeLLM(LLMClient):
    """Records every call and answers by markers in the prompt.

    ``overrides`` maps a marker (a substring of the prompt) to a text or an ``LLMResult``; the first
    marker found wins, else the bundled templates' markers pick a well-formed answer.
    """

    def __init__(
        self,
        overrides: dict[str, str | LLMResult] | None = None,
        *,
        cost_usd: float | None = None,
        prompt_tokens: int = 100,
        completion_tokens: int = 50,
    ):
        self.overrides = dict(overrides or {})
        self.cost_usd = cost_usd
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.calls: list[dict[str, Any]] = []

    def complete(self, *, model: str, prompt: str, max_tokens: int, temperature: float) -> LLMResult:
        self.calls.append({"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": temperature})
        answer: str | LLMResult = next((v for k, v in self.overrides.items() if k in prompt), _default_answer(prompt))
        if isinstance(answer, LLMResult):
            return answer.model_copy(deep=True)
        usage = Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            total_tokens=self.prompt_tokens + self.completion_tokens,
        )
        return LLMResult(text=answer, finish_reason="stop", usage=usage, cost_usd=self.cost_usd, model=model)

    def prompts_with(self, marker: str) -> list[str]:
        return [c["prompt"] for c in self.calls if marker in c["prompt"]]


def copy_bundled_data(root: Path) -> Path:
    """The repository's inputs only: a `make demo` in this checkout leaves the demo cohort's outputs
    (membership, manifest, spend, reports) beside its spec, and a test must not inherit them."""
    shutil.copytree(REPO_DATA / "1_raw", root / "1_raw")
    for spec in sorted((REPO_DATA / "cohorts").glob("*/spec")):
        shutil.copytree(spec, root / "cohorts" / spec.parent.name / "spec")
    return root


def run_members(
    layout: DataLayout, cohort_id: str, llm: LLMClient | None, *, stages: Iterable[str] = STAGES, **options: Any
) -> list[GenerationOutcome]:
    """Run every member of the cohort, stage after stage, as the DAGs would."""
    runner = StageRunner(layout, llm=llm, options=RunOptions(**options), cohort_id=cohort_id)
    membership = read_membership(layout, cohort_id)
    outcomes = []
    for stage in stages:
        for gen_id in membership.loc[membership["stage"] == stage, "gen_id"]:
            outcomes.append(runner.run(stage, gen_id))  # type: ignore[arg-type]
    return outcomes


def member_ids(layout: DataLayout, stage: str, cohort_id: str = "demo", **where: str) -> list[str]:
    """Gen ids of a cohort's stage, optionally where membership columns have the given values."""
    frame = read_membership(layout, cohort_id)
    frame = frame[frame["stage"] == stage]
    for column, value in where.items():
        frame = frame[frame[column] == value]
    return list(frame["gen_id"])


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root``: relative path -> (bytes, mtime_ns)."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()
    }


def tree(root: Path) -> set[str]:
    """Every path (files and directories) under ``root``."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.strip("\n") + "\n", encoding="utf-8")
    return path


def one_line_error(excinfo: pytest.ExceptionInfo[BaseException], *needles: str) -> str:
    """The error message, checked to be one line containing every needle."""
    message = str(excinfo.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)
    return message
