"""Settings of the OpenAI-compatible LLM client (no Airflow import).

``LLMSettings`` is what the client needs: endpoint, key, timeouts, retry budget, extra headers and
request-body defaults, plus per-stage ``max_tokens``/``temperature``. The Airflow hook builds it
from the ``llm_default`` connection; scripts and tests build it directly. The API key is a
``SecretStr``: ``repr``, ``str`` and ``model_dump`` show ``**********``, and ``public_dict()`` leaves
it out altogether.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
API_KEY_ENV = "OPENROUTER_API_KEY"
BASE_URL_ENV = "DAYDREAM_LLM_BASE_URL"
STAGES = ("draft", "essay", "evaluation")
SENSITIVE_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "proxy-authorization"})


class StageRequestDefaults(BaseModel):
    """``max_tokens`` and ``temperature`` sent for one stage's calls."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int = Field(gt=0)
    temperature: float = Field(ge=0.0, le=2.0)

    def as_tuple(self) -> tuple[int, float]:
        return (self.max_tokens, self.temperature)


DEFAULT_STAGE_REQUESTS: dict[str, StageRequestDefaults] = {
    "draft": StageRequestDefaults(max_tokens=8192, temperature=0.8),
    "essay": StageRequestDefaults(max_tokens=8192, temperature=0.7),
    "evaluation": StageRequestDefaults(max_tokens=4096, temperature=0.2),  # judges run cooler
}


def is_loopback_url(url: str) -> bool:
    """True for ``http://127.0.0.1:…``, ``http://localhost:…``, ``http://[::1]:…`` (the offline server)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LLMSettings(BaseModel):
    """Everything the client needs to reach one OpenAI-compatible endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = DEFAULT_BASE_URL
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=5, ge=0)
    max_total_wait_s: float = Field(default=600.0, ge=0)
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    extra_headers: dict[str, str] = Field(default_factory=dict)
    request_defaults: dict[str, Any] = Field(default_factory=dict)
    usage_accounting: bool = True
    stages: dict[str, StageRequestDefaults] = Field(default_factory=lambda: dict(DEFAULT_STAGE_REQUESTS))

    @model_validator(mode="before")
    @classmethod
    def _key_from_env(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("api_key"):
            env_key = os.environ.get(API_KEY_ENV, "").strip()
            data = {**data, "api_key": env_key or None}
        return data

    @field_validator("base_url")
    @classmethod
    def _clean_base_url(cls, value: str) -> str:
        value = (value or "").strip().rstrip("/") or DEFAULT_BASE_URL
        if urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"base URL must start with http:// or https://, got {value!r}")
        return value

    @field_validator("stages", mode="before")
    @classmethod
    def _merge_stage_defaults(cls, value: Any) -> Any:
        """A partial ``stages`` mapping overrides only the fields it names."""
        merged: dict[str, Any] = {k: v.model_dump() for k, v in DEFAULT_STAGE_REQUESTS.items()}
        for stage, override in (value or {}).items():
            if isinstance(override, StageRequestDefaults):
                override = override.model_dump()
            if not isinstance(override, dict):
                raise ValueError(f"stage {stage!r}: expected a mapping with max_tokens/temperature")
            merged[stage] = {**merged.get(stage, {}), **override}
        return merged

    @classmethod
    def from_env(cls, **overrides: Any) -> LLMSettings:
        """Defaults plus ``OPENROUTER_API_KEY`` and ``DAYDREAM_LLM_BASE_URL`` from the environment."""
        env_url = os.environ.get(BASE_URL_ENV, "").strip()
        if env_url and "base_url" not in overrides:
            overrides["base_url"] = env_url
        return cls(**overrides)

    @property
    def is_loopback(self) -> bool:
        return is_loopback_url(self.base_url)

    @property
    def has_api_key(self) -> bool:
        return self.api_key is not None and bool(self.api_key.get_secret_value())

    def stage_request(self, stage: str) -> tuple[int, float]:
        """``(max_tokens, temperature)`` for ``stage`` (``draft``, ``essay``, ``evaluation``)."""
        try:
            defaults = self.stages[stage]
        except KeyError:
            raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(sorted(self.stages))}") from None
        return defaults.max_tokens, defaults.temperature

    def public_dict(self) -> dict[str, Any]:
        """The settings as plain JSON data without the key (and with auth-like headers masked)."""
        data = self.model_dump(mode="json", exclude={"api_key"})
        data["api_key_set"] = self.has_api_key
        data["extra_headers"] = {
            name: ("<redacted>" if name.lower() in SENSITIVE_HEADERS else value)
            for name, value in self.extra_headers.items()
        }
        return data

    def __repr__(self) -> str:
        shown = self.public_dict()
        return (
            f"LLMSettings(base_url={shown['base_url']!r}, api_key_set={shown['api_key_set']}, "
            f"timeout_s={self.timeout_s}, max_retries={self.max_retries})"
        )

    __str__ = __repr__
