"""The providers' batch APIs, one adapter each: OpenRouter (inline), OpenAI (files), Anthropic (messages).

``adapter_for(api, settings)`` gives the adapter of a model's ``batch`` column; ``LLMSettings`` says
where and with which key. In Airflow the settings come from the connection ``llm_batch_<api>``, else
``llm_default`` (``daydream.airflow.batch``); outside Airflow (the CLI) from ``settings_from_env``.
No Airflow import here.
"""

from __future__ import annotations

import os

from daydream.errors import DayDreamError
from daydream.llm.batch.anthropic import AnthropicBatches
from daydream.llm.batch.base import BatchAdapter
from daydream.llm.batch.openai import OpenAIBatches
from daydream.llm.batch.openrouter import OpenRouterBatches
from daydream.llm.batch.types import BatchApiName, BatchCounts, BatchRequest, BatchStatus, ItemKind, ItemResult
from daydream.llm.settings import BASE_URL_ENV, DEFAULT_BASE_URL, LLMSettings, is_loopback_url

ADAPTERS: dict[str, type[BatchAdapter]] = {
    "openrouter": OpenRouterBatches,
    "openai": OpenAIBatches,
    "anthropic": AnthropicBatches,
}
DEFAULT_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
}
"""Where each vendor's own batch API lives; OpenRouter's is the LLM connection's base URL."""

__all__ = [
    "ADAPTERS",
    "AnthropicBatches",
    "BatchAdapter",
    "BatchApiName",
    "BatchCounts",
    "BatchRequest",
    "BatchStatus",
    "ItemKind",
    "ItemResult",
    "OpenAIBatches",
    "OpenRouterBatches",
    "adapter_for",
    "own_key_only",
    "settings_from_env",
    "url_env",
]


def adapter_for(api: str, settings: LLMSettings, *, conn_hint: str = "", conn_id: str | None = None) -> BatchAdapter:
    try:
        cls = ADAPTERS[api]
    except KeyError:
        raise DayDreamError(f"unknown batch API {api!r}; expected one of {', '.join(ADAPTERS)}") from None
    return cls(settings, conn_hint=conn_hint, conn_id=conn_id)


def url_env(api: str) -> str:
    return f"DAYDREAM_BATCH_{api.upper()}_URL"


def settings_from_env(api: str) -> LLMSettings:
    """An API's endpoint outside Airflow: ``$DAYDREAM_BATCH_<API>_URL``; else, when the LLM base URL
    (``$DAYDREAM_LLM_BASE_URL``) is the offline LLM on loopback, that one (it serves all three APIs);
    else the vendor's own URL (OpenRouter: the LLM base URL). The key: the API's variable
    (``OPENROUTER_API_KEY``, ``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``)."""
    cls = ADAPTERS.get(api)
    if cls is None:
        raise DayDreamError(f"unknown batch API {api!r}; expected one of {', '.join(ADAPTERS)}")
    llm_url = os.environ.get(BASE_URL_ENV, "").strip()
    url = os.environ.get(url_env(api), "").strip()
    if not url:
        url = llm_url if (llm_url and is_loopback_url(llm_url)) or api == "openrouter" else DEFAULT_URLS[api]
    key = os.environ.get(cls.key_env, "").strip() or None
    settings = LLMSettings.model_validate({"base_url": url or DEFAULT_BASE_URL, "api_key": key})
    return own_key_only(settings, api, key)


def own_key_only(settings: LLMSettings, api: str, key: str | None) -> LLMSettings:
    """``LLMSettings`` falls back to ``OPENROUTER_API_KEY`` when given no key; another vendor's batch
    API must never receive that key, so for them "no key" stays no key."""
    if api != "openrouter" and not key:
        return settings.model_copy(update={"api_key": None})
    return settings
