"""Settings of the OpenAI-compatible LLM client (no Airflow import).

``LLMSettings`` is what the client needs: endpoint, key, timeouts, retry budget, extra headers and
request-body defaults, plus per-stage ``max_tokens``/``temperature``. The Airflow hook builds it
from the ``llm_default`` connection; scripts and tests build it directly. The API key is a
``SecretStr``: ``repr``, ``str`` and ``model_dump`` show ``**********``, and ``public_dict()`` leaves
it out altogether.

The model is also the one declaration of the connection's extra JSON: a field marked ``IN_EXTRA`` or
``IN_FORM`` may be set there, under its name or its ``validation_alias`` (``timeout`` for
``timeout_s``), and an ``IN_FORM`` field is a field of the Airflow connection form, labelled by its
``title`` and ``description``. The hook's extras mapping (``connection_extra_keys``) and the
provider's ``conn-fields`` (``connection_form_fields``) are derived from it, never retyped.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from daydream.paths import STAGES

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
API_KEY_ENV = "OPENROUTER_API_KEY"
BASE_URL_ENV = "DAYDREAM_LLM_BASE_URL"
SENSITIVE_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "proxy-authorization"})


@dataclass(frozen=True)
class ConnectionExtra:
    """Field metadata: the connection's extra JSON may set this field; ``form``: the UI form shows it."""

    form: bool = False


IN_EXTRA = ConnectionExtra()
IN_FORM = ConnectionExtra(form=True)


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

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True)

    base_url: str = DEFAULT_BASE_URL  # the connection's host
    api_key: SecretStr | None = None  # the connection's password
    timeout_s: Annotated[float, IN_FORM] = Field(
        default=120.0,
        gt=0,
        validation_alias="timeout",
        title="Timeout (seconds)",
        description="Per-request timeout in seconds.",
    )
    max_retries: Annotated[int, IN_FORM] = Field(
        default=5,
        ge=0,
        title="Max retries",
        description="Retries on 429, 5xx, timeouts and connection errors (0 = no retry).",
    )
    max_total_wait_s: Annotated[float, IN_EXTRA] = Field(default=600.0, ge=0)
    backoff_base_s: Annotated[float, IN_EXTRA] = Field(default=1.0, ge=0)
    backoff_max_s: Annotated[float, IN_EXTRA] = Field(default=60.0, ge=0)
    extra_headers: Annotated[dict[str, str], IN_FORM] = Field(
        default_factory=dict,
        title="Extra headers (JSON)",
        description='Sent with every request, e.g. {"HTTP-Referer": "https://example.org", "X-Title": "DayDream"}.',
    )
    request_defaults: Annotated[dict[str, Any], IN_FORM] = Field(
        default_factory=dict,
        title="Request defaults (JSON)",
        description='Merged into every request body, e.g. {"provider": {"sort": "price"}}.',
    )
    usage_accounting: Annotated[bool, IN_EXTRA] = True
    embedding_model: Annotated[str | None, IN_EXTRA] = Field(
        default=None,
        title="Embedding model",
        description="The /embeddings model for the reports' embedding clusters of ideas (none: TF-IDF only).",
    )
    stages: Annotated[dict[str, StageRequestDefaults], IN_EXTRA] = Field(
        default_factory=lambda: dict(DEFAULT_STAGE_REQUESTS)
    )

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
            if stage not in STAGES:
                raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
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


def _connection_fields() -> dict[str, tuple[str, ConnectionExtra]]:
    """``field name -> (extra key, marker)`` for every field the connection's extra may set."""
    out = {}
    for name, info in LLMSettings.model_fields.items():
        marker = next((m for m in info.metadata if isinstance(m, ConnectionExtra)), None)
        if marker is not None:
            alias = info.validation_alias
            out[name] = (alias if isinstance(alias, str) else name, marker)
    return out


@cache
def connection_extra_keys() -> dict[str, str]:
    """``extra key -> LLMSettings field``: each settable field under its name and its alias."""
    keys = {}
    for name, (key, _) in _connection_fields().items():
        keys[name] = name
        keys[key] = name
    return keys


@cache
def json_fields() -> frozenset[str]:
    """Fields holding a mapping: the connection form stores them as JSON text."""
    schema = LLMSettings.model_json_schema(by_alias=False)["properties"]
    return frozenset(name for name in _connection_fields() if schema[name].get("type") == "object")


def connection_form_fields() -> dict[str, dict[str, Any]]:
    """The provider info's ``conn-fields``: every ``IN_FORM`` field, blank meaning the default."""
    schema = LLMSettings.model_json_schema(by_alias=False)["properties"]
    form: dict[str, dict[str, Any]] = {}
    for name, (key, marker) in _connection_fields().items():
        if not marker.form:
            continue
        prop = schema[name]
        field_schema: dict[str, Any] = {"type": [prop["type"], "null"]}
        if name in json_fields():
            field_schema["format"] = "json"
        elif "default" in prop:
            field_schema["default"] = prop["default"]
        for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if bound in prop:
                field_schema[bound] = prop[bound]
        info = LLMSettings.model_fields[name]
        form[key] = {"label": info.title, "description": info.description, "schema": field_schema}
    return form
