"""OpenAI's Batch API: a JSONL file of requests, a batch over it, output and error files.

Shapes from https://platform.openai.com/docs/guides/batch and the API reference
(https://platform.openai.com/docs/api-reference/batch):

- ``POST /files`` (multipart, ``purpose=batch``) with one line per request:
  ``{custom_id, method: "POST", url: "/v1/chat/completions", body}``; up to 50,000 requests and
  200 MB per file;
- ``POST /batches`` ``{input_file_id, endpoint, completion_window: "24h", metadata}``;
- ``GET /batches/{id}``: ``status`` (``validating``, ``failed``, ``in_progress``, ``finalizing``,
  ``completed``, ``expired``, ``cancelling``, ``cancelled``), ``request_counts: {total, completed,
  failed}``, ``output_file_id``, ``error_file_id``, ``metadata``;
- ``GET /files/{id}/content``: the output file (``{custom_id, response: {status_code, body}}``) and the
  error file (``{custom_id, error: {code, message}}``; ``batch_expired`` / ``batch_cancelled`` for
  requests the batch did not reach);
- ``POST /batches/{id}/cancel``; ``GET /batches?limit=100``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from daydream.llm.batch.base import OpenAIShapedBatches, chat_body, json_obj, reason_of
from daydream.llm.batch.http import jsonl
from daydream.llm.batch.types import BatchRequest, BatchStatus, ItemKind, ItemResult

ENDPOINT = "/v1/chat/completions"
_ITEM_KINDS: dict[str, ItemKind] = {"batch_expired": "expired", "batch_cancelled": "canceled"}


class OpenAIBatches(OpenAIShapedBatches):
    api = "openai"
    max_requests: ClassVar[int] = 50_000
    max_bytes: ClassVar[int] = 200_000_000
    key_env = "OPENAI_API_KEY"

    def line(self, request: BatchRequest) -> dict[str, Any]:
        return {"custom_id": request.custom_id, "method": "POST", "url": ENDPOINT, "body": chat_body(request)}

    def submit(self, requests: list[BatchRequest], *, model: str, tag: str) -> BatchStatus:
        import json

        content = "".join(json.dumps(self.line(r)) + "\n" for r in requests).encode("utf-8")
        uploaded = self.http.request(
            "POST",
            "files",
            retry=False,
            files={"file": (f"{tag}.jsonl", content, "application/jsonl")},
            data={"purpose": "batch"},
        )
        file_id = uploaded.get("id") if isinstance(uploaded, dict) else None
        if not isinstance(file_id, str):
            from daydream.errors import LLMError

            raise LLMError(f"{self.http.label}: the file upload answered without a file id")
        body = {
            "input_file_id": file_id,
            "endpoint": ENDPOINT,
            "completion_window": "24h",
            "metadata": {"daydream": tag},
        }
        return self.parse_status(self.http.request("POST", "batches", json=body, retry=False))

    def list_path(self) -> str:
        return "batches?limit=100"

    def parse_status(self, data: Any) -> BatchStatus:
        data = data if isinstance(data, dict) else {}
        errors = data.get("errors")
        listed = errors.get("data") if isinstance(errors, dict) else None
        error = "; ".join(reason_of(e, "failed") for e in listed or []) or None
        files = {
            k: data[k] for k in ("input_file_id", "output_file_id", "error_file_id") if isinstance(data.get(k), str)
        }
        return self.shaped_status(
            data,
            error=error if data.get("status") == "failed" else None,
            metadata=data.get("metadata") if isinstance(data.get("metadata"), dict) else {},
            extra=files,
        )

    def results(self, status: BatchStatus) -> Iterator[ItemResult]:
        for key in ("output_file_id", "error_file_id"):
            file_id = status.extra.get(key)
            if not file_id:
                continue
            for row in jsonl(self.http.request("GET", f"files/{file_id}/content", text=True)):
                if isinstance(row.get("custom_id"), str):
                    yield _item(row)


def _item(row: dict[str, Any]) -> ItemResult:
    custom_id = row["custom_id"]
    error = row.get("error")
    if error:
        code = error.get("code") if isinstance(error, dict) else None
        kind: ItemKind = _ITEM_KINDS.get(str(code), "errored")
        return ItemResult(custom_id=custom_id, kind=kind, reason=reason_of(error, "failed"))
    response = json_obj(row, "response")
    body = response.get("body") if isinstance(response.get("body"), dict) else None
    code = response.get("status_code")
    if body is None or (isinstance(code, int) and code >= 400):
        reason = reason_of((body or {}).get("error"), f"HTTP {code}" if code else "no response body")
        return ItemResult(custom_id=custom_id, kind="errored", reason=reason)
    return ItemResult(custom_id=custom_id, kind="succeeded", body=body)
