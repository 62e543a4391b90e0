"""What running one generation came to: the record every caller (CLI, DAG task, trigger) gets back."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from daydream.paths import Stage

OutcomeState = Literal["done", "skipped", "failed", "budget", "blocked", "busy", "quota"]
"""``quota``: no call was made because the model's daily quota is used up; the generation stays pending
(``daydream.engine.quota``), like ``budget`` it is not a failure."""


class GenerationOutcome(BaseModel):
    stage: Stage
    gen_id: str
    state: OutcomeState
    message: str = ""
    called_llm: bool = False
    cost_usd: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempt: int | None = None
    """``attempts/<n>`` holding this run's answer when a forced rerun kept the previous output."""

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def outcome(stage: Stage, gen_id: str, state: OutcomeState, message: str, **facts: Any) -> GenerationOutcome:
    return GenerationOutcome(stage=stage, gen_id=gen_id, state=state, message=message, **facts)
