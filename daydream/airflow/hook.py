"""``LLMHook``: the Airflow face of the OpenAI-compatible client, for workers and for the triggerer.

The connection (type ``daydream_llm``, default id ``llm_default``) maps to ``LLMSettings``:

- host: the base URL (blank: OpenRouter, ``https://openrouter.ai/api/v1``);
- password: the API key (blank: ``OPENROUTER_API_KEY`` from the environment);
- extra (JSON): the fields ``LLMSettings`` marks as connection extras (``timeout``, ``max_retries``,
  ``extra_headers``, ``request_defaults`` are the UI form's; ``max_total_wait_s``,
  ``backoff_base_s``, ``backoff_max_s``, ``usage_accounting``, ``stages`` may be typed into the JSON).

Without the connection the hook falls back to ``OPENROUTER_API_KEY`` (and ``DAYDREAM_LLM_BASE_URL``)
with default settings. The UI form itself is declared in ``daydream.airflow.provider``.

A worker calls ``get_settings``/``get_conn``/``complete``; a trigger on the triggerer's event loop
calls ``aget_settings``/``aget_client``/``acomplete``, which read the connection with
``BaseHook.aget_connection`` and ``Connection.aextra_dejson`` and register the key with
``amask_secret``: their synchronous twins would block the loop on the supervisor (Airflow raises
``DeadlockImminentError`` there).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.sdk.log import amask_secret, mask_secret
from pydantic import ValidationError

from daydream.airflow.provider import CONN_TYPE, HOOK_NAME
from daydream.errors import LLMError, first_problem
from daydream.llm.client import OpenAICompatibleClient
from daydream.llm.retry import AttemptObserver
from daydream.llm.settings import LLMSettings, connection_extra_keys, json_fields
from daydream.llm.types import LLMResult

_PREFIX = f"extra__{CONN_TYPE}__"  # how Airflow 2's form stored extras; such connections still exist


def settings_from_extras(extras: dict[str, Any], *, conn_id: str) -> dict[str, Any]:
    """LLMSettings fields from a connection's extra dict (blank form fields are skipped)."""
    keys = connection_extra_keys()
    fields: dict[str, Any] = {}
    for key, value in extras.items():
        name = keys.get(key.removeprefix(_PREFIX))
        if name is None or value is None or value == "":
            continue
        if name in json_fields() and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                label = key.removeprefix(_PREFIX)
                raise LLMError(f"connection '{conn_id}' extra '{label}': not valid JSON ({exc})") from None
        fields[name] = value
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

    # -- settings ------------------------------------------------------------------------------

    def _settings_from(self, conn: Any | None, extras: dict[str, Any]) -> LLMSettings:
        """Settings from a connection (None: the environment); one rule for both faces."""
        if conn is None:
            self.log.info("No Airflow connection '%s'; using OPENROUTER_API_KEY and defaults", self.llm_conn_id)
            return LLMSettings.from_env(**self._overrides)
        fields = settings_from_extras(extras, conn_id=self.llm_conn_id)
        if conn.host:
            fields["base_url"] = _base_url(conn)
        if conn.password:
            fields["api_key"] = conn.password
        fields.update(self._overrides)
        try:
            return LLMSettings(**fields)
        except ValidationError as exc:
            where, problem = first_problem(exc)
            raise LLMError(f"connection '{self.llm_conn_id}' field '{where or 'settings'}': {problem}") from None

    def get_settings(self) -> LLMSettings:
        """Settings from the connection, or from the environment when it does not exist."""
        if self._settings is None:
            try:
                conn = self.get_connection(self.llm_conn_id)
            except AirflowNotFoundException:
                settings = self._settings_from(None, {})
            else:
                settings = self._settings_from(conn, conn.extra_dejson)
            if settings.has_api_key:
                mask_secret(settings.api_key.get_secret_value())  # type: ignore[union-attr]
            self._settings = settings
        return self._settings

    async def aget_settings(self) -> LLMSettings:
        """``get_settings`` for a trigger: reads the connection without blocking the event loop."""
        if self._settings is None:
            try:
                conn = await self.aget_connection(self.llm_conn_id)
            except AirflowNotFoundException:
                settings = self._settings_from(None, {})
            else:
                settings = self._settings_from(conn, await conn.aextra_dejson())
            if settings.has_api_key:
                await amask_secret(settings.api_key.get_secret_value())  # type: ignore[union-attr]
            self._settings = settings
        return self._settings

    # -- the client ----------------------------------------------------------------------------

    def get_conn(self) -> OpenAICompatibleClient:
        if self._client is None:
            self._client = OpenAICompatibleClient(self.get_settings())
        return self._client

    async def aget_client(self) -> OpenAICompatibleClient:
        """The client (both faces) for a trigger; its settings read with ``aget_settings``."""
        if self._client is None:
            self._client = OpenAICompatibleClient(await self.aget_settings())
        return self._client

    def embed(self, texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
        """Vectors from ``/embeddings`` (the connection's extra ``embedding_model`` unless ``model``)."""
        return self.get_conn().embed(texts, model=model)

    def complete(self, *, model: str, prompt: str, max_tokens: int, temperature: float) -> LLMResult:
        return self.get_conn().complete(model=model, prompt=prompt, max_tokens=max_tokens, temperature=temperature)

    async def acomplete(
        self,
        *,
        model: str,
        prompt: str,
        max_tokens: int,
        temperature: float,
        on_attempt_failure: AttemptObserver | None = None,
    ) -> LLMResult:
        client = await self.aget_client()
        return await client.acomplete(
            model=model,
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            on_attempt_failure=on_attempt_failure,
        )

    def stage_request(self, stage: str) -> tuple[int, float]:
        return self.get_settings().stage_request(stage)

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button (when enabled): list the endpoint's models once; never raises."""
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
