"""What DayDream records of a paid answer, wherever it was asked (the stage runner, the comparison
judge): its cost and its ``raw_metadata.json`` (docs/data-contract.md §5). One home, so a comparison's
answer reads like any generation's in the reports, the spend ledger and ``store check``."""

from __future__ import annotations

import hashlib
from typing import Any

from daydream.catalogs import LlmModel
from daydream.llm.types import LLMResult
from daydream.spend import estimate_cost
from daydream.store import utc_now
from daydream.validation import is_truncated


def answer_cost(model: LlmModel, result: LLMResult) -> tuple[float | None, bool]:
    """``(cost, estimated)``: the provider's cost, else the catalog estimate, else unknown (None, never 0)."""
    if result.cost_usd is not None:
        return result.cost_usd, False
    cost = estimate_cost(model, result.usage.prompt_tokens, result.usage.completion_tokens)
    return cost, cost is not None


def raw_metadata(
    *,
    stage: str,
    gen_id: str,
    llm_model_id: str,
    model: str,
    result: LLMResult,
    max_tokens: int,
    prompt: str,
    template_sha256: str,
    cost: float | None,
    estimated: bool,
    cohort_id: str | None,
) -> dict[str, Any]:
    return {
        "stage": stage,
        "gen_id": gen_id,
        "mode": "llm",
        "llm_model_id": llm_model_id,
        "model": model,
        "finish_reason": result.finish_reason,
        "truncated": result.truncated or is_truncated(result.finish_reason, result.usage.completion_tokens, max_tokens),
        "usage": result.usage.model_dump(),
        "cost_usd": result.cost_usd,
        "cost_estimated_usd": cost if estimated else None,
        "duration_s": result.duration_s,
        "attempts": result.attempts,
        "max_tokens": max_tokens,
        "prompt_sha256": hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
        "template_sha256": template_sha256,
        "cohort_id": cohort_id,
        "created_at": utc_now(),
    }
