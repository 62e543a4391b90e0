"""HTTP for the batch APIs: one request, sync or async, with the LLM client's retry policy and redaction.

Reads (status, results, lists) and cancels are retried like a chat call (429, 5xx, timeouts;
``daydream.llm.retry``); creating a batch or uploading its file is sent **once**: a retried create
could start a second, paid batch, and the lane re-attaches by lookup instead (``daydream.batch``).
Every failure becomes an ``LLMCallError`` whose one line is free of the key, like a chat call's.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from daydream.errors import LLMError
from daydream.llm.client import OFFLINE_PLACEHOLDER_KEY
from daydream.llm.redaction import Redactor, clean, register_secret
from daydream.llm.responses import provider_message
from daydream.llm.retry import (
    AttemptFailure,
    RetryExhausted,
    RetryPolicy,
    acall_with_retries,
    call_with_retries,
    final_error,
    is_retryable_status,
    retry_after_from,
)
from daydream.llm.settings import LLMSettings

Body = Any
"""Decoded JSON, or the text of a JSONL file (``text=True``)."""


class BatchTransport:
    """Requests to one batch API; ``auth`` turns the key into that API's headers."""

    def __init__(self, settings: LLMSettings, *, auth: Callable[[str], dict[str, str]], label: str, no_key: str):
        self.settings = settings
        self.label = label
        self.no_key = no_key
        self.policy = RetryPolicy.from_settings(settings)
        self.once = RetryPolicy(max_retries=0)
        key = self._key()
        self._secrets = (key,) if settings.has_api_key else ()
        self.redactor = Redactor(self._secrets)
        for secret in self._secrets:
            register_secret(secret)
        self._headers = {**settings.extra_headers, **auth(key)}
        self._client: httpx.Client | None = None

    def _key(self) -> str:
        if self.settings.has_api_key:
            return self.settings.api_key.get_secret_value()  # type: ignore[union-attr]
        if self.settings.is_loopback:
            return OFFLINE_PLACEHOLDER_KEY
        raise LLMError(self.no_key)

    def _options(self) -> dict[str, Any]:
        return {"base_url": self.settings.base_url + "/", "headers": self._headers, "timeout": self.settings.timeout_s}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- one attempt ---------------------------------------------------------------------------

    def _failure(self, exc: Exception) -> AttemptFailure:
        if isinstance(exc, httpx.TimeoutException):
            return AttemptFailure("timeout", f"request timed out after {self.settings.timeout_s:g}s")
        if isinstance(exc, httpx.TransportError):
            detail = f"{type(exc).__name__}: {exc}"
            return AttemptFailure(
                "connection", clean(f"cannot connect to {self.settings.base_url} ({detail})", self.redactor)
            )
        return AttemptFailure(
            "response", clean(f"unexpected {type(exc).__name__}: {exc}", self.redactor), retryable=False
        )

    def _read(self, response: httpx.Response, text: bool) -> Body | AttemptFailure:
        if response.status_code >= 400:
            try:
                body: Any = response.json()
            except ValueError:
                body = response.text[:300]
            error = body.get("error", body) if isinstance(body, dict) else body
            message = provider_message(error, f"HTTP {response.status_code}")
            return AttemptFailure(
                "status",
                clean(message, self.redactor),
                status=response.status_code,
                retry_after_s=retry_after_from(response.headers),
                retryable=is_retryable_status(response.status_code),
            )
        if text:
            return response.text
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("content-type") or "no content type"
            snippet = clean(response.text[:200], self.redactor, 200)
            return AttemptFailure("response", f"answered with a body that is not JSON ({kind}): {snippet!r}")

    def _call_args(self, method: str, path: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        return {"method": method, "url": path, **{k: v for k, v in kwargs.items() if v is not None}}

    # -- sync and async faces --------------------------------------------------------------------

    def request(self, method: str, path: str, *, retry: bool = True, text: bool = False, **kwargs: Any) -> Body:
        """``kwargs``: httpx's ``json``, ``params``, ``files``, ``data``. Raises ``LLMCallError``."""
        if self._client is None:
            self._client = httpx.Client(**self._options())
        client, args = self._client, self._call_args(method, path, kwargs)

        def attempt() -> Body | AttemptFailure:
            try:
                return self._read(client.request(**args), text)
            except Exception as exc:  # noqa: BLE001 (reduced to key-free facts, as in the chat client)
                return self._failure(exc)

        error: LLMError | None = None
        try:
            outcome = call_with_retries(
                attempt, self.policy if retry else self.once, sleep=time.sleep, label=self._label(method, path)
            )
        except RetryExhausted as exc:
            error = final_error(exc, label=self._label(method, path), secrets=self._secrets)
        if error is not None:
            raise error
        return outcome.value

    async def arequest(self, method: str, path: str, *, retry: bool = True, text: bool = False, **kwargs: Any) -> Body:
        """``request`` on the running loop (the triggerer): one short-lived connection pool per call."""
        args = self._call_args(method, path, kwargs)
        async with httpx.AsyncClient(**self._options()) as client:

            async def attempt() -> Body | AttemptFailure:
                try:
                    return self._read(await client.request(**args), text)
                except Exception as exc:  # noqa: BLE001 (CancelledError is a BaseException and passes)
                    return self._failure(exc)

            error: LLMError | None = None
            try:
                outcome = await acall_with_retries(
                    attempt, self.policy if retry else self.once, asleep=asyncio.sleep, label=self._label(method, path)
                )
            except RetryExhausted as exc:
                error = final_error(exc, label=self._label(method, path), secrets=self._secrets)
        if error is not None:
            raise error
        return outcome.value

    def _label(self, method: str, path: str) -> str:
        return f"{self.label}: {method} {path.split('?')[0]}"


def jsonl(text: str) -> list[dict[str, Any]]:
    """The objects of a JSONL file; a line that is not a JSON object is skipped (its item then counts
    as missing, with the batch's reason)."""
    out = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out
