"""What a run asks for (``RunOptions``) and the one call a generation needs (``CallPlan``).

They sit apart from the runner because every face of a generation passes them around: the worker,
the trigger, the batch lane and its collector build a plan with ``StageRunner.prepare`` and hand it
to their own way of calling the model, and none of them needs the runner's machinery to read one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from daydream.catalogs import Template
from daydream.paths import Stage
from daydream.validation import DEFAULT_MIN_DRAFT_LINES


class RunOptions(BaseModel):
    force: bool = False
    max_cost_usd: float | None = None
    # per-stage overrides; otherwise the LLM connection's stage settings (llm/settings.py) decide
    max_tokens: dict[str, int] = Field(default_factory=dict)
    temperature: dict[str, float] = Field(default_factory=dict)
    min_draft_lines: int = DEFAULT_MIN_DRAFT_LINES


@dataclass(frozen=True)
class CallPlan:
    """One LLM call to make and where its answer goes; the call itself touches no file."""

    stage: Stage
    gen_id: str
    llm_model_id: str
    model: str  # the provider's model string
    prompt: str
    max_tokens: int
    temperature: float
    parser: str
    template_sha256: str
    answer_dir: Path  # the generation directory, or attempts/incoming when a forced rerun protects a result
    protecting: bool

    def request(self) -> dict[str, Any]:
        """Keyword arguments of ``LLMClient.complete`` (and of an async client's equivalent)."""
        return {
            "model": self.model,
            "prompt": self.prompt,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }


def parser_name(stage: Stage, template: Template) -> str:
    """The template's parser; drafts and essays without one keep their answer as it is."""
    return template.parser or ("identity" if stage != "evaluation" else "")
