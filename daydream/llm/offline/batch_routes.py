"""The routes of the offline LLM's batch APIs (served with and without ``/v1`` like every route)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from daydream.llm.offline.batch import (
    Item,
    cancel_batch,
    check_auth,
    create_batch,
    find_batch,
    prompt_of,
    store_of,
)
from daydream.llm.offline.batch_wire import (
    anthropic_batch,
    anthropic_lines,
    openai_like,
    openai_lines,
    openrouter_rows,
)
from daydream.llm.offline.replies import Reply
from daydream.llm.offline.state import ServerState


def _meta(body: dict[str, Any]) -> dict[str, Any]:
    return body.get("metadata") or {}


def _inline_items(body: dict[str, Any], model: str) -> list[Item]:
    """OpenRouter's requests, inline in the create call, all for the batch's one model."""
    return [
        Item(str(r.get("custom_id")), model, prompt_of((r.get("body") or {}).get("messages")), r.get("body") or {})
        for r in body["requests"]
        if isinstance(r, dict)
    ]


def _file_items(state: ServerState, file_id: str) -> list[Item]:
    """OpenAI's requests, one JSONL line each in an uploaded file, each naming its model."""
    store = store_of(state)
    with store.lock:
        data = store.files.get(file_id)
    if data is None:
        raise Reply(400, f"no file {file_id!r}", code="invalid_request_error")
    lines = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    return [
        Item(str(x["custom_id"]), str(x["body"]["model"]), prompt_of(x["body"].get("messages")), x["body"])
        for x in lines
    ]


def _register_files(router: APIRouter, state: ServerState) -> None:
    """OpenAI's files: a batch's input is uploaded first; its results are read as files."""

    @router.post("/files")
    async def upload(request: Request) -> dict[str, Any]:
        check_auth(state.config, request)
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
        check_auth(state.config, request)
        kind, _, batch_id = file_id.removeprefix("file-").partition("-")
        if kind in ("out", "err") and batch_id:
            batch = find_batch(state, batch_id, "openai")
            return Response(openai_lines(batch, errors=kind == "err"), media_type="application/jsonl")
        store = store_of(state)
        with store.lock:
            data = store.files.get(file_id)
        if data is None:
            raise Reply(404, f"no file {file_id!r}", code="not_found")
        return Response(data, media_type="application/jsonl")


def _register_batches(router: APIRouter, state: ServerState) -> None:
    """OpenRouter's and OpenAI's ``/batches`` (one route set; the body says which API a create is for)."""

    @router.post("/batches", status_code=202)
    async def create(request: Request) -> JSONResponse:
        check_auth(state.config, request)
        body = json.loads(await request.body() or b"null")
        if isinstance(body, dict) and isinstance(body.get("requests"), list):
            model = str(body.get("model") or "")
            batch = await create_batch(state, "openrouter", model, _inline_items(body, model), metadata=_meta(body))
            return JSONResponse(openai_like(batch), status_code=202)
        if not isinstance(body, dict) or not isinstance(body.get("input_file_id"), str):
            raise Reply(
                400, "expected 'requests' (OpenRouter) or 'input_file_id' (OpenAI)", code="invalid_request_error"
            )
        items = _file_items(state, body["input_file_id"])
        model = items[0].model if items else ""
        batch = await create_batch(
            state, "openai", model, items, metadata=_meta(body), input_file_id=body["input_file_id"]
        )
        return JSONResponse(openai_like(batch), status_code=200)

    @router.get("/batches")
    async def listing(request: Request) -> dict[str, Any]:
        check_auth(state.config, request)
        store = store_of(state)
        with store.lock:
            found = [b for b in store.batches.values() if b.api != "anthropic"]
        return {"object": "list", "data": [openai_like(b) for b in reversed(found)], "has_more": False}

    @router.get("/batches/{batch_id}")
    async def retrieve(batch_id: str, request: Request) -> dict[str, Any]:
        check_auth(state.config, request)
        return openai_like(find_batch(state, batch_id, "openai"))

    @router.get("/batches/{batch_id}/results")
    async def results(batch_id: str, request: Request, cursor: int = 0, limit: int = 500) -> dict[str, Any]:
        check_auth(state.config, request)
        batch = find_batch(state, batch_id, "openrouter")
        if not batch.ended:
            raise Reply(409, "the batch has not finished", code="batch_not_finished")
        rows = openrouter_rows(batch)
        page, more = rows[cursor : cursor + limit], cursor + limit < len(rows)
        return {"object": "list", "data": page, "has_more": more, "next_cursor": str(cursor + limit) if more else None}

    @router.post("/batches/{batch_id}/cancel")
    async def cancel(batch_id: str, request: Request) -> dict[str, Any]:
        check_auth(state.config, request)
        batch = find_batch(state, batch_id, "openai")
        cancel_batch(state, batch)
        return openai_like(batch)


def _register_messages(router: APIRouter, state: ServerState) -> None:
    def base(request: Request) -> str:
        path = request.url.path
        return str(request.base_url) + ("v1/" if path.startswith("/v1/") else "")

    @router.post("/messages/batches")
    async def create(request: Request) -> dict[str, Any]:
        check_auth(state.config, request, anthropic=True)
        body = json.loads(await request.body() or b"null")
        if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
            raise Reply(400, "expected 'requests'", code="invalid_request_error")
        items = []
        for r in body["requests"]:
            params = r.get("params") if isinstance(r, dict) else None
            if not isinstance(params, dict):
                raise Reply(400, "each request needs 'params'", code="invalid_request_error")
            items.append(
                Item(str(r.get("custom_id")), str(params.get("model")), prompt_of(params.get("messages")), params)
            )
        batch = await create_batch(state, "anthropic", items[0].model if items else "", items)
        return anthropic_batch(batch, base(request))

    @router.get("/messages/batches")
    async def listing(request: Request) -> dict[str, Any]:
        check_auth(state.config, request, anthropic=True)
        store = store_of(state)
        with store.lock:
            found = [b for b in store.batches.values() if b.api == "anthropic"]
        return {"data": [anthropic_batch(b, base(request)) for b in reversed(found)], "has_more": False}

    @router.get("/messages/batches/{batch_id}")
    async def retrieve(batch_id: str, request: Request) -> dict[str, Any]:
        check_auth(state.config, request, anthropic=True)
        return anthropic_batch(find_batch(state, batch_id, "anthropic"), base(request))

    @router.get("/messages/batches/{batch_id}/results")
    async def results(batch_id: str, request: Request) -> Response:
        check_auth(state.config, request, anthropic=True)
        batch = find_batch(state, batch_id, "anthropic")
        if not batch.ended:
            raise Reply(400, "the batch is still processing", code="invalid_request_error")
        return Response(anthropic_lines(batch), media_type="application/x-jsonl")

    @router.post("/messages/batches/{batch_id}/cancel")
    async def cancel(batch_id: str, request: Request) -> dict[str, Any]:
        check_auth(state.config, request, anthropic=True)
        batch = find_batch(state, batch_id, "anthropic")
        cancel_batch(state, batch)
        return anthropic_batch(batch, base(request))


def register(router: APIRouter, state: ServerState) -> None:
    """The three batch APIs on ``router`` (served with and without ``/v1`` like every route)."""
    _register_files(router, state)
    _register_batches(router, state)
    _register_messages(router, state)
