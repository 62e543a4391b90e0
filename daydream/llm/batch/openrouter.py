"""OpenRouter's Batch API: requests inline in one JSON body, one model per batch.

Shapes from https://openrouter.ai/docs/batch-quickstart and the API reference
(https://openrouter.ai/docs/api/api-reference/batch/get-a-batch, .../get-batch-results):

- ``POST /batches`` with ``endpoint``, ``model`` (serialized before ``requests``: the API stream-parses
  the body) and ``requests: [{custom_id, body}]``, where ``body`` is a chat-completion body; answers
  202 with ``status: "validating"``;
- ``GET /batches/{id}``: ``status`` (``validating``, ``in_progress``, ``finalizing``, ``completed``,
  ``failed``, ``expired``, ``cancelling``, ``cancelled``), ``request_counts: {total, completed,
  failed}``, ``error.message`` when the batch failed;
- ``GET /batches/{id}/results``: cursor pages (``data``, ``has_more``, ``next_cursor``) of
  ``{custom_id, response: {status_code, body}, error: {message, type}}``.

Not in the pages we could read: a cancel endpoint (the status list has ``cancelling``/``cancelled``;
we send ``POST /batches/{id}/cancel`` as OpenAI's API does) and a size limit (we split at 50,000
requests and 200 MB, OpenAI's limits). docs/llm.md says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from daydream.llm.batch.base import OpenAIShapedBatches, chat_body, json_obj, reason_of
from daydream.llm.batch.types import BatchRequest, BatchStatus, ItemKind, ItemResult
from daydream.llm.settings import API_KEY_ENV

ENDPOINT = "/v1/chat/completions"
PAGE = 500


class OpenRouterBatches(OpenAIShapedBatches):
    api = "openrouter"
    max_requests: ClassVar[int] = 50_000
    max_bytes: ClassVar[int] = 200_000_000
    key_env = API_KEY_ENV

    def line(self, request: BatchRequest) -> dict[str, Any]:
        body = {k: v for k, v in chat_body(request).items() if k != "model"}  # the batch names the model
        return {"custom_id": request.custom_id, "body": {**self._defaults(), **body}}

    def _defaults(self) -> dict[str, Any]:
        """The connection's ``request_defaults`` (e.g. provider routing), as a direct call sends them."""
        from daydream.llm.client import OpenAICompatibleClient

        extra = OpenAICompatibleClient(self.settings).request_body()
        extra.pop("usage", None)  # usage accounting is a chat-call option; batch results carry usage
        return extra

    def submit(self, requests: list[BatchRequest], *, model: str, tag: str) -> BatchStatus:
        payload = {"endpoint": ENDPOINT, "model": model, "requests": [self.line(r) for r in requests]}
        return self.parse_status(self.http.request("POST", "batches", json=payload, retry=False))

    def list_path(self) -> str:
        return "batches"

    def parse_status(self, data: Any) -> BatchStatus:
        data = data if isinstance(data, dict) else {}
        error = data.get("error")
        return self.shaped_status(data, error=reason_of(error, str(data.get("status") or "unknown")) if error else None)

    def results(self, status: BatchStatus) -> Iterator[ItemResult]:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
            page = self.http.request("GET", f"batches/{status.batch_id}/results", params=params)
            page = page if isinstance(page, dict) else {}
            for row in page.get("data") or []:
                if isinstance(row, dict) and isinstance(row.get("custom_id"), str):
                    yield _item(row)
            cursor = page.get("next_cursor") if page.get("has_more") else None
            if not cursor:
                return


def _item(row: dict[str, Any]) -> ItemResult:
    custom_id = row["custom_id"]
    response = json_obj(row, "response")
    body = response.get("body") if isinstance(response.get("body"), dict) else None
    code = response.get("status_code")
    if row.get("error"):
        error = row["error"]
        word = str(error.get("type", "")) if isinstance(error, dict) else ""
        kind: ItemKind = "expired" if "expire" in word else "canceled" if "cancel" in word else "errored"
        return ItemResult(custom_id=custom_id, kind=kind, reason=reason_of(error, "failed"))
    if body is None or (isinstance(code, int) and code >= 400):
        reason = reason_of((body or {}).get("error"), f"HTTP {code}" if code else "no response body")
        return ItemResult(custom_id=custom_id, kind="errored", reason=reason)
    return ItemResult(custom_id=custom_id, kind="succeeded", body=body)
