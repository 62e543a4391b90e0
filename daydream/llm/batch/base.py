"""``BatchAdapter``: what the lane asks of any provider's batch API, and the parts the three share.

An adapter builds a provider's requests from ``BatchRequest`` rows, submits one batch, polls it
(sync on a worker, async in the triggerer), lists recent batches (to re-attach after a crash between
the provider's answer and the manifest write), fetches one result per request and cancels. Answers
become ``LLMResult`` through the same reader as a direct call (``daydream.llm.responses``) wherever
the provider answers in the chat-completion shape.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from daydream.llm.batch.http import BatchTransport
from daydream.llm.batch.types import BatchApiName, BatchCounts, BatchRequest, BatchStatus, ItemResult
from daydream.llm.redaction import Redactor
from daydream.llm.responses import parse_completion
from daydream.llm.retry import AttemptFailure
from daydream.llm.settings import LLMSettings
from daydream.llm.types import LLMResult

LOOKUP_SKEW_S = 120.0
"""A batch created this long before the manifest said "submitting" may still be ours (clock skew)."""


@dataclass
class _Raw:
    """A decoded answer dressed as the raw HTTP response ``parse_completion`` reads."""

    body: Any
    status_code: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content(self) -> bytes:
        return json.dumps(self.body).encode("utf-8")


def chat_body(request: BatchRequest) -> dict[str, Any]:
    """The chat-completion body of a direct call (``OpenAICompatibleClient._request``) for one row."""
    return {
        "model": request.model,
        "messages": [{"role": "user", "content": request.prompt}],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }


class BatchAdapter(ABC):
    """One provider's batch API at one endpoint (``LLMSettings``: base URL, key, timeout, headers)."""

    api: ClassVar[BatchApiName]
    max_requests: ClassVar[int]
    max_bytes: ClassVar[int]
    key_env: ClassVar[str]
    custom_id_rule: ClassVar[re.Pattern[str] | None] = None

    def __init__(self, settings: LLMSettings, *, conn_hint: str = "", conn_id: str | None = None):
        self.settings = settings
        self.conn_id = conn_id  # the Airflow connection it came from (recorded in the manifest)
        hint = conn_hint or f"the environment variable {self.key_env}"
        self.http = BatchTransport(
            settings,
            auth=self.auth,
            label=f"{self.api} batch API at {settings.base_url}",
            no_key=f"no API key for the {self.api} batch API at {settings.base_url}: set {hint}",
        )

    @property
    def redactor(self) -> Redactor:
        return self.http.redactor

    def close(self) -> None:
        self.http.close()

    # -- what each API spells differently --------------------------------------------------------

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    @abstractmethod
    def line(self, request: BatchRequest) -> dict[str, Any]:
        """One request as the API takes it (a JSON object or a JSONL line)."""

    @abstractmethod
    def submit(self, requests: list[BatchRequest], *, model: str, tag: str) -> BatchStatus:
        """Create one batch (sent once, never retried); ``tag`` names it where the API keeps metadata."""

    @abstractmethod
    def status_path(self, batch_id: str) -> str: ...

    @abstractmethod
    def cancel_path(self, batch_id: str) -> str: ...

    @abstractmethod
    def list_path(self) -> str: ...

    @abstractmethod
    def parse_status(self, data: Any) -> BatchStatus: ...

    @abstractmethod
    def results(self, status: BatchStatus) -> Iterator[ItemResult]:
        """Every result the ended batch lists (a request it does not list is missing)."""

    def answer(self, body: dict[str, Any], *, model: str, max_tokens: int) -> LLMResult | str:
        """A succeeded item's answer as a direct call's ``LLMResult``, or why it cannot be one."""
        parsed = parse_completion(_Raw(body), model=model, max_tokens=max_tokens, redactor=self.redactor)
        return parsed.describe() if isinstance(parsed, AttemptFailure) else parsed

    # -- shared ------------------------------------------------------------------------------------

    def custom_id(self, gen_id: str) -> str:
        """The gen id itself, unless the API's id rule refuses it (Anthropic: 64 of ``[A-Za-z0-9_-]``)."""
        if self.custom_id_rule is None or self.custom_id_rule.fullmatch(gen_id):
            return gen_id
        return "g-" + hashlib.sha256(gen_id.encode("utf-8")).hexdigest()[:40]

    def size(self, request: BatchRequest) -> int:
        """Bytes the request adds to the batch (its line plus a newline)."""
        return len(json.dumps(self.line(request)).encode("utf-8")) + 1

    def status(self, batch_id: str) -> BatchStatus:
        return self.parse_status(self.http.request("GET", self.status_path(batch_id)))

    async def astatus(self, batch_id: str) -> BatchStatus:
        return self.parse_status(await self.http.arequest("GET", self.status_path(batch_id)))

    def cancel(self, batch_id: str) -> BatchStatus:
        return self.parse_status(self.http.request("POST", self.cancel_path(batch_id)))

    async def acancel(self, batch_id: str) -> BatchStatus:
        return self.parse_status(await self.http.arequest("POST", self.cancel_path(batch_id)))

    def recent(self) -> list[BatchStatus]:
        data = self.http.request("GET", self.list_path())
        listed = data.get("data") if isinstance(data, dict) else data
        return [self.parse_status(item) for item in listed or [] if isinstance(item, dict)]

    def find(self, *, tag: str, model: str, count: int, since: float, taken: set[str]) -> str | None:
        """The batch a crashed submission created, if exactly one fits: tagged ``tag`` where the API keeps
        metadata, else created after ``since`` for ``model`` with ``count`` requests, not claimed."""
        candidates = [s for s in self.recent() if s.batch_id not in taken]
        tagged = [s for s in candidates if s.metadata.get("daydream") == tag]
        if tagged:
            return tagged[0].batch_id
        fits = [
            s
            for s in candidates
            if (s.created_at is None or s.created_at >= since - LOOKUP_SKEW_S)
            and s.counts.total == count
            and (s.model is None or s.model == model)
            and not s.metadata.get("daydream")
        ]
        return fits[0].batch_id if len(fits) == 1 else None


def epoch(value: Any) -> float | None:
    """Epoch seconds from a Unix time or an RFC 3339 string (Anthropic); None when neither."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value:
        from datetime import datetime

        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def count(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def json_obj(data: Any, key: str) -> dict[str, Any]:
    """``data[key]`` when both are JSON objects, else an empty one: provider JSON is read defensively."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def reason_of(error: Any, fallback: str) -> str:
    """The provider's words for a failed item: ``message`` (and ``type``/``code``) of its error object."""
    if isinstance(error, dict):
        inner = json_obj(error, "error") or error
        message = inner.get("message") or fallback
        kind = inner.get("code") or inner.get("type")
        return f"{kind}: {message}" if kind and kind not in str(message) else str(message)
    return str(error) if error else fallback


OPENAI_TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


class OpenAIShapedBatches(BatchAdapter):
    """OpenAI's batch object, which OpenRouter's follows: the same paths under ``batches/``, the same
    status names and ``request_counts``; only submitting, errors and results differ."""

    def status_path(self, batch_id: str) -> str:
        return f"batches/{batch_id}"

    def cancel_path(self, batch_id: str) -> str:
        return f"batches/{batch_id}/cancel"

    def shaped_status(self, data: dict[str, Any], *, error: str | None, **fields: Any) -> BatchStatus:
        """The ``BatchStatus`` of an OpenAI-shaped batch object; requests neither completed nor failed
        count as expired, cancelled or pending by the batch's status."""
        status = str(data.get("status") or "unknown")
        raw = json_obj(data, "request_counts")
        total, done, failed = count(raw, "total"), count(raw, "completed"), count(raw, "failed")
        rest = max(0, total - done - failed)
        ended = status in OPENAI_TERMINAL
        return BatchStatus(
            batch_id=str(data.get("id") or ""),
            status=status,
            ended=ended,
            counts=BatchCounts(
                succeeded=done,
                errored=failed,
                expired=rest if status == "expired" else 0,
                canceled=rest if status == "cancelled" else 0,
                pending=0 if ended else rest,
            ),
            model=data.get("model") if isinstance(data.get("model"), str) else None,
            created_at=epoch(data.get("created_at")),
            error=error,
            **fields,
        )
