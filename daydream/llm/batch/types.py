"""What every provider's batch API comes down to: requests in, a status, one result per request out.

The three adapters (``openrouter``, ``openai``, ``anthropic``) translate these to and from their
wire shapes, so the lane (``daydream.batch``) never sees a provider's JSON.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

BatchApiName = Literal["openrouter", "openai", "anthropic"]
ItemKind = Literal["succeeded", "errored", "expired", "canceled", "missing"]
"""How one request of a batch ended; ``missing``: the batch ended and listed no result for it."""


class BatchRequest(BaseModel):
    """One generation's call, exactly as a direct call would make it (``CallPlan.request()``)."""

    model_config = ConfigDict(frozen=True)

    custom_id: str
    model: str
    prompt: str
    max_tokens: int
    temperature: float


class BatchCounts(BaseModel):
    succeeded: int = 0
    errored: int = 0
    expired: int = 0
    canceled: int = 0
    pending: int = 0

    @property
    def total(self) -> int:
        return self.succeeded + self.errored + self.expired + self.canceled + self.pending


class BatchStatus(BaseModel):
    """A provider's batch as polled: its own status word, whether it has ended, the counts."""

    batch_id: str
    status: str
    ended: bool
    counts: BatchCounts = Field(default_factory=BatchCounts)
    model: str | None = None
    created_at: float | None = None  # epoch seconds, for re-attaching by creation time
    metadata: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None  # why the whole batch failed (validation), when it did
    extra: dict[str, str] = Field(default_factory=dict)  # e.g. OpenAI's output_file_id / error_file_id


class ItemResult(BaseModel):
    """One request's outcome; ``body`` is the provider's answer payload when it succeeded."""

    custom_id: str
    kind: ItemKind
    reason: str = ""
    body: dict[str, Any] | None = None
