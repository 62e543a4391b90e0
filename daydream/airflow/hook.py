"""``LLMHook``: the Airflow face of the OpenAI-compatible client.

The connection (type ``daydream_llm``, default id ``llm_default``) maps to ``LLMSettings``:

- host: the base URL (blank: OpenRouter, ``https://openrouter.ai/api/v1``);
- password: the API key (blank: ``OPENROUTER_API_KEY`` from the environment);
- extra (JSON): ``timeout``, ``max_retries``, ``extra_headers``, ``request_defaults`` (the UI form's
  fields), and optionally ``max_total_wait_s``, ``backoff_base_s``, ``backoff_max_s``,
  ``usage_accounting``, ``stages`` (per-stage ``max_tokens``/``temperature``).

Without the connection the hook falls back to ``OPENROUTER_API_KEY`` (and ``DAYDREAM_LLM_BASE_URL``)
with default settings. The UI form itself is declared in ``daydream.airflow.provider`` (Airflow 3.2+
reads ``conn-fields``/``ui-field-behaviour`` from the provider info, not from hook methods).
"""

from __future__ import annotations

import json
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from daydream.airflow.provider import CONN_TYPE, HOOK_NAME, UI_FIELD_BEHAVIOUR
from daydream.errors import LLMError
from daydream.llm.client import OpenAICompatibleClient
from daydream.llm.settings import LLMSettings
from daydream.llm.types import LLMResult

# connection extra key -> LLMSettings field
EXTRA_FIELDS = {
    "timeout": "timeout_s",
    "timeout_s": "timeout_s",
    "max_retries": "max_retries",
    "max_total_wait_s": "max_total_wait_s",
    "backoff_base_s": "backoff_base_s",
    "backoff_max_s": "backoff_max_s",
    "extra_headers": "extra_headers",
    "request_defaults": "request_defaults",
    "usage_accounting": "usage_accounting",
    "stages": "stages",
}
JSON_FIELDS = frozenset({"extra_headers", "request_defaults", "stages"})
_PREFIX = f"extra__{CONN_TYPE}__"


def _mask(secret: str) -> None:
    """Register the key with Airflow's log masker, so task logs print *** even if it leaks."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover (the SDK always has it)
        return
    try:
        mask_secret(secret)
    except Exception:  # noqa: BLE001 (masking is best effort outside a task)
        pass


def settings_from_extras(extras: dict[str, Any], *, conn_id: str) -> dict[str, Any]:
    """LLMSettings fields from a connection's extra dict (blank form fields are skipped)."""
    fields: dict[str, Any] = {}
    for key, value in extras.items():
        name = key.removeprefix(_PREFIX)
        if name not in EXTRA_FIELDS or value is None or value == "":
            continue
        if name in JSON_FIELDS and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise LLMError(f"connection '{conn_id}' extra '{name}': not valid JSON ({exc})") from None
        fields[EXTRA_FIELDS[name]] = value
    return fields


class LLMHook(BaseHook):
    """Builds ``OpenAICompatibleClient`` from an Airflow connection; also an ``LLMClient`` itself."""

    conn_name_attr = "llm_conn_id"
    default_conn_name = "llm_default"
    conn_type = CONN_TYPE
    hook_name = HOOK_NAME

    def __init__(self, llm_conn_id: str = default_conn_name, **overrides: Any) -> None:
        super().__init__()
        self.llm_conn_id = llm_conn_id
        self._overrides = overrides
        self._settings: LLMSettings | None = None
        self._client: OpenAICompatibleClient | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The form customisation, in the pre-3.2 hook-method shape (3.3 reads the provider info)."""
        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
        }

    def get_settings(self) -> LLMSettings:
        """Settings from the connection, or from the environment when it does not exist."""
        if self._settings is None:
            try:
                conn = self.get_connection(self.llm_conn_id)
            except AirflowNotFoundException:
                self.log.info("No Airflow connection '%s'; using OPENROUTER_API_KEY and defaults", self.llm_conn_id)
                self._settings = LLMSettings.from_env(**self._overrides)
            else:
                fields = settings_from_extras(conn.extra_dejson, conn_id=self.llm_conn_id)
                if conn.host:
                    fields["base_url"] = _base_url(conn)
                if conn.password:
                    fields["api_key"] = conn.password
                fields.update(self._overrides)
                self._settings = self._validated(fields)
            if self._settings.has_api_key:
                _mask(self._settings.api_key.get_secret_value())  # type: ignore[union-attr]
        return self._settings

    def _validated(self, fields: dict[str, Any]) -> LLMSettings:
        from pydantic import ValidationError

        try:
            return LLMSettings(**fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "settings"
            raise LLMError(f"connection '{self.llm_conn_id}' field '{where}': {first['msg']}") from None

    def get_conn(self) -> OpenAICompatibleClient:
        if self._client is None:
            self._client = OpenAICompatibleClient(self.get_settings())
        return self._client

    def complete(self, *, model: str, prompt: str, max_tokens: int, temperature: float) -> LLMResult:
        return self.get_conn().complete(model=model, prompt=prompt, max_tokens=max_tokens, temperature=temperature)

    def stage_request(self, stage: str) -> tuple[int, float]:
        return self.get_settings().stage_request(stage)

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button (when enabled): list the endpoint's models once."""
        try:
            return self.get_conn().check()
        except LLMError as exc:
            return False, str(exc)

    def __repr__(self) -> str:
        shown = self._settings.base_url if self._settings is not None else "(not loaded)"
        return f"LLMHook(llm_conn_id={self.llm_conn_id!r}, base_url={shown!r})"

    __str__ = __repr__


def _base_url(conn: Any) -> str:
    """The host field as a URL. A bare host (URI-form connections) gets a scheme, port and path."""
    host = conn.host.strip()
    if "://" not in host:
        scheme = "http" if host.split(":")[0] in ("localhost", "127.0.0.1") else "https"
        host = f"{scheme}://{host}"
        if conn.port and host.count(":") == 1:
            host = f"{host}:{conn.port}"
        if conn.schema:
            host = f"{host}/{conn.schema.strip('/')}"
    return host
