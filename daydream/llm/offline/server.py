"""The offline LLM's HTTP face: a FastAPI app served by uvicorn on one asyncio loop.

Endpoints (the ``/v1`` prefix is optional on each): ``POST /chat/completions`` (non-streaming),
``POST /embeddings`` (deterministic, ``embeddings``), ``GET /models``, ``GET /key`` (OpenRouter's key
check), ``GET /stats``, ``POST /admin/reset``,
``POST /admin/config`` (replace the config), ``GET /health``. ``require_api_key`` guards the
OpenAI endpoints and the admin ones alike; ``/health`` and ``/stats`` stay open (readiness probes
and ``daydream llm stats``; neither carries a secret).

Why async: a provider's latency is time a request spends waiting, not working, so each request
awaits ``asyncio.sleep`` and one process holds hundreds of requests in flight (issue 11's
benchmarks run 500 at 5 s) where a thread per connection would not. Why a background thread with its
own loop: tests and ``daydream llm serve`` drive the server from ordinary synchronous code.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from daydream.llm.offline import batch, batch_routes, replies
from daydream.llm.offline.config import STATUS_FAULTS, OfflineConfig, OfflineConfigError, load_config
from daydream.llm.offline.embeddings import embeddings_body, embeddings_response
from daydream.llm.offline.replies import Reply
from daydream.llm.offline.state import ServerState
from daydream.llm.offline_answers import prompt_sha256

KEEP_ALIVE_S = 120  # an idle client connection stays open this long (the client pools connections)
BACKLOG = 2048  # connections the kernel queues before the loop accepts them (bursts of hundreds)


def _check_auth(config: OfflineConfig, request: Request) -> None:
    if config.require_api_key is None:
        return
    given = request.headers.get("authorization", "")
    if given != f"Bearer {config.require_api_key}":
        raise replies.unauthorized(config, given)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise Reply(400, "request body is not valid JSON", code="invalid_request_error") from None


def _chat_request(body: Any) -> tuple[str, str]:
    """``(model, prompt)`` of a chat request, or a 400 like a provider's."""
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("model"), str)
        or not isinstance(body.get("messages"), list)
        or not body["messages"]
    ):
        raise Reply(
            400, "body must have 'model' (string) and 'messages' (non-empty list)", code="invalid_request_error"
        )
    prompt = "\n\n".join(
        str(m.get("content") or "") for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"
    )
    return body["model"], prompt


def build_app(state: ServerState) -> FastAPI:
    """The app over ``state``; every route is served with and without the ``/v1`` prefix."""
    app = FastAPI(title="DayDream offline LLM", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(Reply)
    async def _reply(request: Request, reply: Reply) -> Response:
        echo = replies.echo_text(state.config, request.headers.get("authorization", ""))
        reply = replies.with_echo(reply, state.config, echo)
        return JSONResponse(reply.payload(), status_code=reply.status, headers=reply.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _no_route(request: Request, exc: StarletteHTTPException) -> Response:
        reply = Reply(exc.status_code, f"no route {request.method} {request.url.path}", code="not_found")
        return JSONResponse(reply.payload(), status_code=reply.status)

    router = APIRouter()
    _openai_routes(router, state)
    batch_routes.register(router, state)
    _admin_routes(router, state)
    app.include_router(router)
    app.include_router(router, prefix="/v1")
    return app


def _openai_routes(router: APIRouter, state: ServerState) -> None:
    """What an OpenAI-compatible provider serves (and OpenRouter's ``/key``)."""

    def exists(name: str, request: Request) -> None:
        if name in state.config.missing_endpoints:
            raise Reply(404, f"no route {request.method} {request.url.path}", code="not_found")

    @router.get("/models")
    async def models(request: Request) -> dict[str, Any]:
        config = state.config
        exists("models", request)
        _check_auth(config, request)
        names = config.known_models or sorted(set(config.tiers) | set(state.models))
        return {"object": "list", "data": [{"id": n, "object": "model", "owned_by": "daydream-offline"} for n in names]}

    @router.get("/key")
    async def key(request: Request) -> dict[str, Any]:
        """OpenRouter's key check: 401 for a wrong key, else facts about the key (never the key)."""
        exists("key", request)
        _check_auth(state.config, request)
        return {"data": {"label": "offline", "usage": 0, "limit": None, "is_free_tier": False}}

    @router.post("/chat/completions")
    async def chat(request: Request) -> Response:
        model, prompt = _chat_request(body := await _json_body(request))
        return await _answer(state, request, body, model, prompt)

    @router.post("/embeddings")
    async def embeddings(request: Request) -> dict[str, Any]:
        exists("embeddings", request)
        _check_auth(state.config, request)
        parsed = embeddings_body(await _json_body(request))
        if isinstance(parsed, str):
            raise Reply(400, parsed, code="invalid_request_error")
        return embeddings_response(*parsed)


def _admin_routes(router: APIRouter, state: ServerState) -> None:
    """The test harness's endpoints: probes and statistics open, changes behind ``require_api_key``."""

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok"}

    @router.get("/stats")
    async def stats() -> dict[str, Any]:
        return {**state.snapshot(), "batches": batch.store_of(state).stats()}

    @router.post("/admin/reset")
    async def reset(request: Request) -> dict[str, Any]:
        _check_auth(state.config, request)
        state.reset()
        batch.store_of(state).reset()
        return {"status": "reset"}

    @router.post("/admin/config")
    async def configure(request: Request) -> dict[str, Any]:
        _check_auth(state.config, request)
        body = await _json_body(request)
        try:
            config = load_config(body if isinstance(body, dict) else {})
        except OfflineConfigError as exc:
            raise Reply(400, str(exc), code="invalid_config") from None
        state.replace_config(config)
        return {"status": "configured", "config": config.model_dump(mode="json")}


async def _answer(state: ServerState, request: Request, body: dict[str, Any], model: str, prompt: str) -> Response:
    """Wait the model's latency, then answer (or fail as the fault rule says), counting in flight."""
    sha = prompt_sha256(prompt)
    config = state.config
    state.remember(body, request.headers)
    echo = replies.echo_text(config, request.headers.get("authorization", ""))
    headers = {"x-echo-authorization": echo} if echo and "header" in config.echo_in else {}
    with state.in_flight(model) as stats:
        status = 500
        try:
            _check_auth(config, request)
            if config.known_models is not None and model not in config.known_models:
                raise Reply(404, f"model not found: '{model}' is not a valid model ID", code="model_not_found")
            cap = config.model_max_in_flight.get(model)
            if cap is not None and stats.in_flight > cap:
                raise Reply(
                    429,
                    f"Rate limit exceeded: at most {cap} concurrent requests for {model} (offline cap)",
                    code="rate_limit",
                    headers={"Retry-After": f"{config.max_in_flight_retry_after:g}"},
                )
            rule = state.pick_fault(model, prompt, sha)
            delay = rule.slow_s if rule is not None and rule.fault == "slow" else config.latency_for(model)
            if delay > 0:
                await asyncio.sleep(delay)
            if rule is not None and rule.fault in STATUS_FAULTS:
                raise replies.fault_reply(rule)
            if rule is not None and rule.fault == "not_json":
                status = rule.status or 200
                text = replies.not_json_body(rule, echo)
                return Response(text, status_code=status, media_type=rule.content_type, headers=headers)
            status = 200
            payload = replies.completion(config, body, model, prompt, rule)
            return Response(replies.dumps(payload), media_type="application/json", headers=headers)
        except Reply as reply:
            status = reply.status
            raise
        finally:
            state.record(stats, status, model, sha)


class _QuietCancellation(logging.Filter):
    """``stop()`` cancels requests still waiting out their latency: that is no application error."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, asyncio.CancelledError)


def _quiet_cancellations() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietCancellation) for f in logger.filters):
        logger.addFilter(_QuietCancellation())


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound now: the port is known (and a busy one fails) before serving starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class OfflineServer:
    """The offline LLM server; a context manager that serves from a background thread."""

    def __init__(
        self,
        config: OfflineConfig | dict[str, Any] | str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.state = ServerState(load_config(config))
        self._socket = _listen(host, port)
        _quiet_cancellations()
        self._server = uvicorn.Server(
            uvicorn.Config(
                build_app(self.state),
                loop="asyncio",
                lifespan="off",
                log_config=None,
                log_level="warning",
                access_log=False,
                timeout_keep_alive=KEEP_ALIVE_S,
                backlog=BACKLOG,
            )
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._socket.getsockname()[0])

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (``http://127.0.0.1:PORT/v1``)."""
        return f"{self.url}/v1"

    @property
    def config(self) -> OfflineConfig:
        return self.state.config

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        try:
            await self._server.serve(sockets=[self._socket])
        except asyncio.CancelledError:  # stop(): uvicorn's graceful shutdown would wait for its ticks
            pass

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop()`` is called from another thread."""
        asyncio.run(self._serve())

    def start(self, timeout_s: float = 30.0) -> OfflineServer:
        """Serve from a background thread; return once the server accepts requests."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.serve_forever, name=f"offline-llm-{self.port}", daemon=True)
            self._thread.start()
            for _ in range(int(timeout_s / 0.005)):
                if self._server.started or not self._thread.is_alive():
                    break
                time.sleep(0.005)
            if not self._server.started:
                raise RuntimeError(f"the offline LLM did not start on {self.url}")
        return self

    def stop(self) -> None:
        """Stop at once: requests still waiting out their latency are cancelled, connections closed."""
        self._server.should_exit = True
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._halt)
            except RuntimeError:  # the loop closed meanwhile: nothing left to halt
                pass
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._socket.close()

    def _halt(self) -> None:
        """On the server's loop: stop listening, drop every connection and request, end serving."""
        for server in getattr(self._server, "servers", []):
            server.close()
        for task in list(self._server.server_state.tasks):
            task.cancel()
        for connection in list(self._server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.close()
        if self._task is not None:
            self._task.cancel()

    def __enter__(self) -> OfflineServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        return {**self.state.snapshot(), "batches": batch.store_of(self.state).stats()}

    def reset(self) -> None:
        self.state.reset()
        batch.store_of(self.state).reset()

    def configure(
        self, config: OfflineConfig | dict[str, Any] | str | Path | None = None, **changes: Any
    ) -> OfflineConfig:
        """Replace the config (``config``), or change some fields of the current one (``changes``)."""
        base = load_config(config if config is not None else self.state.config)
        new = load_config({**base.model_dump(), **changes}) if changes else base
        self.state.replace_config(new)
        return new

    def __repr__(self) -> str:
        return f"OfflineServer(base_url={self.base_url!r})"


def start_offline_server(
    config: OfflineConfig | dict[str, Any] | str | Path | None = None, port: int = 0, host: str = "127.0.0.1"
) -> OfflineServer:
    """Start the offline server in a background thread; use as ``with start_offline_server() as s``."""
    return OfflineServer(config, host=host, port=port).start()
