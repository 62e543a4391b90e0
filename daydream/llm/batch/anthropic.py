"""Anthropic's Message Batches: Messages API requests inline, results streamed as JSONL.

Shapes from https://docs.claude.com/en/docs/build-with-claude/batch-processing and the API reference
(https://docs.claude.com/en/api/creating-message-batches, .../retrieving-message-batches,
.../retrieving-message-batch-results, .../canceling-message-batches):

- ``POST /messages/batches`` ``{requests: [{custom_id, params}]}`` with ``params`` a Messages API
  body; ``custom_id`` is 1-64 of ``[A-Za-z0-9_-]``; up to 100,000 requests or 256 MB per batch;
- ``GET /messages/batches/{id}``: ``processing_status`` (``in_progress``, ``canceling``, ``ended``),
  ``request_counts: {processing, succeeded, errored, canceled, expired}``, ``results_url``;
- ``GET {results_url}``: one line per request, ``{custom_id, result: {type: succeeded | errored |
  canceled | expired, message | error}}``, in no particular order;
- ``POST /messages/batches/{id}/cancel``; ``GET /messages/batches?limit=100``.

Auth is ``x-api-key`` with ``anthropic-version: 2023-06-01``, not a bearer token. Anthropic reports no
cost: the lane prices a batch answer at the catalog price times the model's batch discount.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from daydream.llm.batch.base import BatchAdapter, count, epoch, json_obj, reason_of
from daydream.llm.batch.http import jsonl
from daydream.llm.batch.types import BatchCounts, BatchRequest, BatchStatus, ItemResult
from daydream.llm.types import LLMResult, Usage

API_VERSION = "2023-06-01"
_STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


class AnthropicBatches(BatchAdapter):
    api = "anthropic"
    max_requests: ClassVar[int] = 100_000
    max_bytes: ClassVar[int] = 256_000_000
    key_env = "ANTHROPIC_API_KEY"
    custom_id_rule = re.compile(r"[A-Za-z0-9_-]{1,64}")

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"x-api-key": key, "anthropic-version": API_VERSION}

    def line(self, request: BatchRequest) -> dict[str, Any]:
        params = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "temperature": min(request.temperature, 1.0),  # the Messages API takes 0..1
            "messages": [{"role": "user", "content": request.prompt}],
        }
        return {"custom_id": request.custom_id, "params": params}

    def submit(self, requests: list[BatchRequest], *, model: str, tag: str) -> BatchStatus:
        payload = {"requests": [self.line(r) for r in requests]}
        return self.parse_status(self.http.request("POST", "messages/batches", json=payload, retry=False))

    def status_path(self, batch_id: str) -> str:
        return f"messages/batches/{batch_id}"

    def cancel_path(self, batch_id: str) -> str:
        return f"messages/batches/{batch_id}/cancel"

    def list_path(self) -> str:
        return "messages/batches?limit=100"

    def parse_status(self, data: Any) -> BatchStatus:
        data = data if isinstance(data, dict) else {}
        status = str(data.get("processing_status") or "unknown")
        raw = json_obj(data, "request_counts")
        counts = BatchCounts(
            succeeded=count(raw, "succeeded"),
            errored=count(raw, "errored"),
            expired=count(raw, "expired"),
            canceled=count(raw, "canceled"),
            pending=count(raw, "processing"),
        )
        url = data.get("results_url")
        return BatchStatus(
            batch_id=str(data.get("id") or ""),
            status=status,
            ended=status == "ended",
            counts=counts,
            created_at=epoch(data.get("created_at")),
            extra={"results_url": url} if isinstance(url, str) else {},
        )

    def results(self, status: BatchStatus) -> Iterator[ItemResult]:
        url = status.extra.get("results_url") or f"messages/batches/{status.batch_id}/results"
        for row in jsonl(self.http.request("GET", url, text=True)):
            if isinstance(row.get("custom_id"), str):
                yield _item(row)

    def answer(self, body: dict[str, Any], *, model: str, max_tokens: int) -> LLMResult | str:
        """A Messages API answer as a direct call's ``LLMResult`` (text blocks joined, usage mapped)."""
        content = body.get("content")
        if not isinstance(content, list):
            return "the answer has no content list"
        text = "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
        stop = body.get("stop_reason")
        finish = _STOP_REASONS.get(str(stop), str(stop) if stop else None)
        raw = json_obj(body, "usage")
        prompt_tokens, completion_tokens = count(raw, "input_tokens"), count(raw, "output_tokens")
        answered = body.get("model")
        return LLMResult(
            text=self.redactor.secrets(text if isinstance(text, str) else ""),
            finish_reason=finish,
            truncated=finish == "length" or completion_tokens >= max_tokens,
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            ),
            model=model,
            response_model=self.redactor.secrets(answered) if isinstance(answered, str) else None,
            response_id=self.redactor.secrets(body["id"]) if isinstance(body.get("id"), str) else None,
        )


def _item(row: dict[str, Any]) -> ItemResult:
    custom_id = row["custom_id"]
    result = json_obj(row, "result")
    kind = result.get("type")
    if kind == "succeeded" and isinstance(result.get("message"), dict):
        return ItemResult(custom_id=custom_id, kind="succeeded", body=result["message"])
    if kind in ("expired", "canceled"):
        return ItemResult(custom_id=custom_id, kind=kind, reason=f"the request {kind} before it was processed")
    return ItemResult(custom_id=custom_id, kind="errored", reason=reason_of(result.get("error"), f"result {kind}"))
