"""The offline LLM's batch APIs: OpenRouter's inline batches, OpenAI's files + batches, Anthropic's
Message Batches, so the batch lane runs end to end without a provider.

A batch ends ``batch.completion_delay_s`` after it was created (checked whenever it is read); then
each request is answered like a chat request (``replies.completion``: the same deterministic text,
usage and cost) unless a ``batch.faults`` rule makes it ``errored``, ``expired`` or ``missing`` (left
out of the results). ``batch.submit_stall_s`` holds the answer to a create call after the batch
exists, so a test can kill the client in the window a re-attach must cover. Every answered request
counts in ``/stats`` like a chat answer (``total_requests``, ``models``, ``answered``); ``/stats``
``batches`` counts batches per model and API and what became of their requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from daydream.llm.offline import replies
from daydream.llm.offline.config import BatchFaultRule, OfflineConfig
from daydream.llm.offline.replies import Reply
from daydream.llm.offline.state import ServerState
from daydream.llm.offline_answers import prompt_sha256

_ENDED = {"openrouter": "completed", "openai": "completed", "anthropic": "ended"}


@dataclass
class _Item:
    custom_id: str
    model: str
    prompt: str
    body: dict[str, Any]


@dataclass
class _Batch:
    id: str
    api: str
    model: str
    items: list[_Item]
    ready_at: float
    created: int = field(default_factory=lambda: int(time.time()))
    metadata: dict[str, Any] = field(default_factory=dict)
    input_file_id: str | None = None
    cancelled: bool = False
    outcomes: dict[str, tuple[str, Any]] | None = None  # custom_id -> (kind, completion or reason)

    @property
    def ended(self) -> bool:
        return self.cancelled or self.outcomes is not None

    def tally(self) -> Counter:
        if self.cancelled and self.outcomes is None:
            return Counter({"canceled": len(self.items)})
        # a missing request is counted as the provider claims (succeeded) but left out of the results
        return Counter("succeeded" if k == "missing" else k for k, _ in (self.outcomes or {}).values())


class BatchStore:
    """The batches and files of one server, and their statistics."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.batches: dict[str, _Batch] = {}
        self.files: dict[str, bytes] = {}
        self.by_model: Counter = Counter()
        self.by_api: Counter = Counter()
        self.items: Counter = Counter()
        self.creates = 0
        self.cancels = 0
        self.fault_hits: Counter = Counter()
        self.faults_of: OfflineConfig | None = None  # the config the counters count for

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "submitted": sum(self.by_api.values()),
                "by_model": dict(self.by_model),
                "by_api": dict(self.by_api),
                "requests": dict(self.items),
                "cancel_requests": self.cancels,
                "open": sum(1 for b in self.batches.values() if not b.ended),
            }


def store_of(state: ServerState) -> BatchStore:
    """The batch store that lives with a server's state (created on first use)."""
    store = state.__dict__.get("_batch_store")
    if store is None:
        store = state.__dict__.setdefault("_batch_store", BatchStore())
    return store


def _fault(store: BatchStore, config: OfflineConfig, model: str, prompt: str) -> BatchFaultRule | None:
    if store.faults_of is not config:  # a new config restarts the first_n counts, as for chat faults
        store.fault_hits.clear()
        store.faults_of = config
    sha = prompt_sha256(prompt)
    for index, rule in enumerate(config.batch.faults):
        if not rule.matches(model, prompt):
            continue
        store.fault_hits[(index, model, sha)] += 1
        seen = store.fault_hits[(index, model, sha)]
        if rule.first_n is not None:
            fires = seen <= rule.first_n
        elif rule.rate is not None:
            draw = hashlib.sha256(f"{config.seed}|batch{index}|{model}|{sha}|{seen}".encode()).hexdigest()
            fires = int(draw[:12], 16) / 16**12 < rule.rate
        else:
            fires = True
        if fires:
            return rule
    return None


def _settle(state: ServerState, batch: _Batch) -> None:
    """Answer every request of a batch whose time has come (once); the caller holds the store lock."""
    if batch.ended or time.monotonic() < batch.ready_at:
        return
    config, store = state.config, store_of(state)
    outcomes: dict[str, tuple[str, Any]] = {}
    for item in batch.items:
        rule = _fault(store, config, item.model, item.prompt)
        if rule is not None:
            outcomes[item.custom_id] = (rule.fault, rule.message or f"request {rule.fault} (offline batch fault)")
            store.items[rule.fault] += 1
            continue
        completion = replies.completion(config, {**item.body, "model": item.model}, item.model, item.prompt, None)
        usage = completion["usage"]
        if "cost" in usage:
            usage["cost"] = round(usage["cost"] * (1 - config.batch.discount), 12)
        with state.in_flight(item.model) as stats:
            state.record(stats, 200, item.model, prompt_sha256(item.prompt))
        outcomes[item.custom_id] = ("succeeded", completion)
        store.items["answered"] += 1
    batch.outcomes = outcomes


def _prompt(messages: Any) -> str:
    if not isinstance(messages, list):
        raise Reply(400, "each request needs a non-empty 'messages' list", code="invalid_request_error")
    return "\n\n".join(str(m.get("content") or "") for m in messages if isinstance(m, dict) and m.get("role") == "user")


def _check_auth(config: OfflineConfig, request: Request, anthropic: bool = False) -> None:
    if config.require_api_key is None:
        return
    given = request.headers.get("x-api-key", "") if anthropic else request.headers.get("authorization", "")
    expected = config.require_api_key if anthropic else f"Bearer {config.require_api_key}"
    if given != expected:
        raise replies.unauthorized(config, given if not anthropic else f"Bearer {given}")


async def _create(state: ServerState, api: str, model: str, items: list[_Item], **facts: Any) -> _Batch:
    config, store = state.config, store_of(state)
    if not items:
        raise Reply(400, "a batch needs at least one request", code="invalid_request_error")
    if config.batch.max_requests is not None and len(items) > config.batch.max_requests:
        raise Reply(400, f"a batch holds at most {config.batch.max_requests} requests", code="batch_too_large")
    if len({i.custom_id for i in items}) != len(items):
        raise Reply(400, "custom_id values must be unique within a batch", code="invalid_request_error")
    prefix = {"openrouter": "batch_or_", "openai": "batch_", "anthropic": "msgbatch_"}[api]
    batch = _Batch(
        id=prefix + uuid.uuid4().hex[:24],
        api=api,
        model=model,
        items=items,
        ready_at=time.monotonic() + config.batch.completion_delay_s,
        **facts,
    )
    with store.lock:
        store.batches[batch.id] = batch
        store.by_model[model] += 1
        store.by_api[api] += 1
        store.creates += 1
        stall = config.batch.stall_first_n is None or store.creates <= config.batch.stall_first_n
    if stall and config.batch.submit_stall_s > 0:
        await asyncio.sleep(config.batch.submit_stall_s)
    return batch


def _get(state: ServerState, batch_id: str, api: str) -> _Batch:
    store = store_of(state)
    with store.lock:
        batch = store.batches.get(batch_id)
        if batch is None or (batch.api == "anthropic") != (api == "anthropic"):
            raise Reply(404, f"no batch {batch_id!r}", code="not_found")
        _settle(state, batch)
        return batch


def _cancel(state: ServerState, batch: _Batch) -> None:
    store = store_of(state)
    with store.lock:
        store.cancels += 1
        if not batch.ended:
            batch.cancelled = True
            store.items["canceled"] += len(batch.items)


# -- OpenRouter and OpenAI share /batches ----------------------------------------------------------


def _openai_like(batch: _Batch) -> dict[str, Any]:
    tally = batch.tally()
    status = "cancelled" if batch.cancelled else (_ENDED[batch.api] if batch.ended else "in_progress")
    data: dict[str, Any] = {
        "id": batch.id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "model": batch.model,
        "completion_window": "24h",
        "status": status,
        "created_at": batch.created,
        "request_counts": {
            "total": len(batch.items),
            "completed": tally["succeeded"],
            "failed": tally["errored"] + tally["expired"] + tally["canceled"],
        },
        "metadata": batch.metadata,
        "error": None,
    }
    if batch.api == "openai":
        data.update(input_file_id=batch.input_file_id, output_file_id=None, error_file_id=None, errors=None)
        if batch.ended:
            data["output_file_id"], data["error_file_id"] = f"file-out-{batch.id}", f"file-err-{batch.id}"
    return data


def _openai_lines(batch: _Batch, errors: bool) -> str:
    codes = {"errored": "server_error", "expired": "batch_expired", "canceled": "batch_cancelled"}
    outcomes = batch.outcomes or {i.custom_id: ("canceled", "cancelled") for i in batch.items}
    lines = []
    for custom_id, (kind, value) in outcomes.items():
        if kind == "succeeded" and not errors:
            value["usage"].pop("cost", None)  # OpenAI's batch output reports no cost
            lines.append(
                {
                    "id": f"batch_req_{custom_id}",
                    "custom_id": custom_id,
                    "error": None,
                    "response": {"status_code": 200, "request_id": value["id"], "body": value},
                }
            )
        elif kind in codes and errors:
            message = value if kind == "errored" else f"This request could not be executed ({codes[kind]})."
            lines.append(
                {
                    "id": f"batch_req_{custom_id}",
                    "custom_id": custom_id,
                    "response": None,
                    "error": {"code": codes[kind], "message": message},
                }
            )
    return "".join(json.dumps(line) + "\n" for line in lines)


def _openrouter_rows(batch: _Batch) -> list[dict[str, Any]]:
    outcomes = batch.outcomes or {i.custom_id: ("canceled", "cancelled") for i in batch.items}
    rows = []
    for custom_id, (kind, value) in outcomes.items():
        if kind == "succeeded":
            rows.append(
                {
                    "custom_id": custom_id,
                    "id": value["id"],
                    "error": None,
                    "response": {"status_code": 200, "request_id": value["id"], "body": value},
                }
            )
        elif kind != "missing":
            kinds = {"errored": "server_error", "expired": "expired", "canceled": "cancelled"}
            rows.append(
                {
                    "custom_id": custom_id,
                    "id": custom_id,
                    "response": None,
                    "error": {"message": value, "type": kinds[kind], "param": None},
                }
            )
    return rows


def _register_batches(router: APIRouter, state: ServerState) -> None:
    @router.post("/files")
    async def upload(request: Request) -> dict[str, Any]:
        _check_auth(state.config, request)
        form = await request.form()
        upload, purpose = form.get("file"), form.get("purpose")
        if purpose != "batch" or upload is None or isinstance(upload, str):
            raise Reply(400, "expected multipart fields 'file' and purpose=batch", code="invalid_request_error")
        content = await upload.read()
        file_id = "file-" + uuid.uuid4().hex[:24]
        store = store_of(state)
        with store.lock:
            store.files[file_id] = content
        return {"id": file_id, "object": "file", "bytes": len(content), "purpose": "batch", "filename": upload.filename}

    @router.get("/files/{file_id}/content")
    async def content(file_id: str, request: Request) -> Response:
        _check_auth(state.config, request)
        kind, _, batch_id = file_id.removeprefix("file-").partition("-")
        if kind in ("out", "err") and batch_id:
            batch = _get(state, batch_id, "openai")
            return Response(_openai_lines(batch, errors=kind == "err"), media_type="application/jsonl")
        store = store_of(state)
        with store.lock:
            data = store.files.get(file_id)
        if data is None:
            raise Reply(404, f"no file {file_id!r}", code="not_found")
        return Response(data, media_type="application/jsonl")

    @router.post("/batches", status_code=202)
    async def create(request: Request) -> JSONResponse:
        _check_auth(state.config, request)
        body = json.loads(await request.body() or b"null")
        if isinstance(body, dict) and isinstance(body.get("requests"), list):
            model = str(body.get("model") or "")
            items = [
                _Item(
                    str(r.get("custom_id")), model, _prompt((r.get("body") or {}).get("messages")), r.get("body") or {}
                )
                for r in body["requests"]
                if isinstance(r, dict)
            ]
            batch = await _create(state, "openrouter", model, items, metadata=body.get("metadata") or {})
            return JSONResponse(_openai_like(batch), status_code=202)
        if not isinstance(body, dict) or not isinstance(body.get("input_file_id"), str):
            raise Reply(
                400, "expected 'requests' (OpenRouter) or 'input_file_id' (OpenAI)", code="invalid_request_error"
            )
        store = store_of(state)
        with store.lock:
            data = store.files.get(body["input_file_id"])
        if data is None:
            raise Reply(400, f"no file {body['input_file_id']!r}", code="invalid_request_error")
        lines = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
        items = [
            _Item(str(x["custom_id"]), str(x["body"]["model"]), _prompt(x["body"].get("messages")), x["body"])
            for x in lines
        ]
        model = items[0].model if items else ""
        batch = await _create(
            state, "openai", model, items, metadata=body.get("metadata") or {}, input_file_id=body["input_file_id"]
        )
        return JSONResponse(_openai_like(batch), status_code=200)

    @router.get("/batches")
    async def listing(request: Request) -> dict[str, Any]:
        _check_auth(state.config, request)
        store = store_of(state)
        with store.lock:
            found = [b for b in store.batches.values() if b.api != "anthropic"]
        return {"object": "list", "data": [_openai_like(b) for b in reversed(found)], "has_more": False}

    @router.get("/batches/{batch_id}")
    async def retrieve(batch_id: str, request: Request) -> dict[str, Any]:
        _check_auth(state.config, request)
        return _openai_like(_get(state, batch_id, "openai"))

    @router.get("/batches/{batch_id}/results")
    async def results(batch_id: str, request: Request, cursor: int = 0, limit: int = 500) -> dict[str, Any]:
        _check_auth(state.config, request)
        batch = _get(state, batch_id, "openrouter")
        if not batch.ended:
            raise Reply(409, "the batch has not finished", code="batch_not_finished")
        rows = _openrouter_rows(batch)
        page, more = rows[cursor : cursor + limit], cursor + limit < len(rows)
        return {"object": "list", "data": page, "has_more": more, "next_cursor": str(cursor + limit) if more else None}

    @router.post("/batches/{batch_id}/cancel")
    async def cancel(batch_id: str, request: Request) -> dict[str, Any]:
        _check_auth(state.config, request)
        batch = _get(state, batch_id, "openai")
        _cancel(state, batch)
        return _openai_like(batch)


# -- Anthropic ---------------------------------------------------------------------------------------


def _message(completion: dict[str, Any]) -> dict[str, Any]:
    choice, usage = completion["choices"][0], completion["usage"]
    stop = "max_tokens" if choice["finish_reason"] == "length" else "end_turn"
    return {
        "id": "msg_" + completion["id"].removeprefix("gen-offline-"),
        "type": "message",
        "role": "assistant",
        "model": completion["model"],
        "content": [{"type": "text", "text": choice["message"]["content"]}],
        "stop_reason": stop,
        "usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]},
    }


def _anthropic(batch: _Batch, base: str) -> dict[str, Any]:
    tally = batch.tally()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(batch.created))
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": "ended" if batch.ended else "in_progress",
        "request_counts": {
            "processing": 0 if batch.ended else len(batch.items),
            "succeeded": tally["succeeded"],
            "errored": tally["errored"],
            "canceled": tally["canceled"],
            "expired": tally["expired"],
        },
        "created_at": created,
        "results_url": f"{base}messages/batches/{batch.id}/results" if batch.ended else None,
    }


def _anthropic_lines(batch: _Batch) -> str:
    outcomes = batch.outcomes or {i.custom_id: ("canceled", "") for i in batch.items}
    lines = []
    for custom_id, (kind, value) in outcomes.items():
        if kind == "succeeded":
            result: dict[str, Any] = {"type": "succeeded", "message": _message(value)}
        elif kind == "errored":
            result = {"type": "errored", "error": {"type": "error", "error": {"type": "api_error", "message": value}}}
        elif kind in ("expired", "canceled"):
            result = {"type": kind}
        else:
            continue
        lines.append(json.dumps({"custom_id": custom_id, "result": result}) + "\n")
    return "".join(lines)


def _register_messages(router: APIRouter, state: ServerState) -> None:
    def base(request: Request) -> str:
        path = request.url.path
        return str(request.base_url) + ("v1/" if path.startswith("/v1/") else "")

    @router.post("/messages/batches")
    async def create(request: Request) -> dict[str, Any]:
        _check_auth(state.config, request, anthropic=True)
        body = json.loads(await request.body() or b"null")
        if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
            raise Reply(400, "expected 'requests'", code="invalid_request_error")
        items = []
        for r in body["requests"]:
            params = r.get("params") if isinstance(r, dict) else None
            if not isinstance(params, dict):
                raise Reply(400, "each request needs 'params'", code="invalid_request_error")
            items.append(
                _Item(str(r.get("custom_id")), str(params.get("model")), _prompt(params.get("messages")), params)
            )
        batch = await _create(state, "anthropic", items[0].model if items else "", items)
        return _anthropic(batch, base(request))

    @router.get("/messages/batches")
    async def listing(request: Request) -> dict[str, Any]:
        _check_auth(state.config, request, anthropic=True)
        store = store_of(state)
        with store.lock:
            found = [b for b in store.batches.values() if b.api == "anthropic"]
        return {"data": [_anthropic(b, base(request)) for b in reversed(found)], "has_more": False}

    @router.get("/messages/batches/{batch_id}")
    async def retrieve(batch_id: str, request: Request) -> dict[str, Any]:
        _check_auth(state.config, request, anthropic=True)
        return _anthropic(_get(state, batch_id, "anthropic"), base(request))

    @router.get("/messages/batches/{batch_id}/results")
    async def results(batch_id: str, request: Request) -> Response:
        _check_auth(state.config, request, anthropic=True)
        batch = _get(state, batch_id, "anthropic")
        if not batch.ended:
            raise Reply(400, "the batch is still processing", code="invalid_request_error")
        return Response(_anthropic_lines(batch), media_type="application/x-jsonl")

    @router.post("/messages/batches/{batch_id}/cancel")
    async def cancel(batch_id: str, request: Request) -> dict[str, Any]:
        _check_auth(state.config, request, anthropic=True)
        batch = _get(state, batch_id, "anthropic")
        _cancel(state, batch)
        return _anthropic(batch, base(request))


def register(router: APIRouter, state: ServerState) -> None:
    """The three batch APIs on ``router`` (served with and without ``/v1`` like every route)."""
    _register_batches(router, state)
    _register_messages(router, state)
