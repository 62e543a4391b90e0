"""The stage runner's steps for a batch answer: the same ``record_answer`` and ``finish`` as a direct
call, with the batch's id in ``raw_metadata.json`` and the batch price when the provider reports no
cost.

A subclass, not a branch in the runner: the order of the writes (raw answer first, then the ledger,
then validation and parsing), the files and their fields stay the runner's, and a batch answer only
adds ``batch_id`` (and ``batch_api``) and prices an estimate at catalog price x (1 - batch discount).
"""

from __future__ import annotations

from typing import Any

from daydream.call_plan import CallPlan
from daydream.catalogs import LlmModel
from daydream.llm.types import LLMResult
from daydream.runner import StageRunner
from daydream.spend import estimate_cost


class BatchAnswer(LLMResult):
    """An ``LLMResult`` that came back in a batch."""

    batch_id: str
    batch_api: str


def batch_cost(model: LlmModel, prompt_tokens: int, completion_tokens: int) -> float | None:
    """The batch price of an answer: catalog price x (1 - the model's batch discount); None when unknown."""
    full = estimate_cost(model, prompt_tokens, completion_tokens)
    return None if full is None else full * model.batch_price_factor


class BatchRunner(StageRunner):
    """``StageRunner`` whose answers may be ``BatchAnswer``s (a direct ``LLMResult`` is filed as ever)."""

    def _cost(self, plan: CallPlan, result: LLMResult) -> tuple[float | None, bool]:
        if not isinstance(result, BatchAnswer) or result.cost_usd is not None:
            return super()._cost(plan, result)
        usage = result.usage
        cost = batch_cost(self.catalogs.model(plan.llm_model_id), usage.prompt_tokens, usage.completion_tokens)
        return cost, cost is not None

    def _raw_metadata(self, plan: CallPlan, result: LLMResult, cost: float | None, estimated: bool) -> dict[str, Any]:
        meta = super()._raw_metadata(plan, result, cost, estimated)
        if isinstance(result, BatchAnswer):
            meta.update(batch_id=result.batch_id, batch_api=result.batch_api, response_id=result.response_id)
        return meta
