"""LLM access: the interface the stage runner calls, the OpenAI-compatible client, the offline server."""

from daydream.llm.types import AsyncLLMClient, LLMClient, LLMResult, Usage

__all__ = ["AsyncLLMClient", "LLMClient", "LLMResult", "Usage"]
