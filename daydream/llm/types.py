"""The LLM interface the stage runner depends on.

The runner knows only these Protocols, so unit tests can pass a double and production passes the
OpenAI-compatible client (``daydream.llm.client``) built directly or by the Airflow hook. A worker
uses ``LLMClient.complete``; code on an event loop (a trigger) uses ``AsyncLLMClient.acomplete``,
which has the same semantics.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class LLMResult(BaseModel):
    """What one chat completion returned; every field lands in ``raw_metadata.json``."""

    text: str
    finish_reason: str | None = None
    truncated: bool = False
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    duration_s: float = 0.0
    model: str = ""
    attempts: int = 1
    # Optional facts some providers report (OpenRouter does); absent from older results.
    response_model: str | None = None  # the model string the provider says answered
    response_id: str | None = None  # the provider's generation id (OpenRouter: look up cost later)
    provider: str | None = None  # the upstream provider OpenRouter routed to


@runtime_checkable
class LLMClient(Protocol):
    def complete(
        self,
        *,
        model: str,
        prompt: str,
        max_tokens: int,
        temperature: float,
    ) -> LLMResult:
        """Send ``prompt`` as one user message to ``model`` (the API model string)."""
        ...


@runtime_checkable
class AsyncLLMClient(Protocol):
    async def acomplete(
        self,
        *,
        model: str,
        prompt: str,
        max_tokens: int,
        temperature: float,
    ) -> LLMResult:
        """``LLMClient.complete`` as a coroutine: the same request, retries, errors and result."""
        ...
