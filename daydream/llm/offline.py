"""The offline LLM: a small OpenAI-compatible HTTP server on loopback for the demo and the tests.

Endpoints: ``POST /v1/chat/completions`` (non-streaming), ``GET /v1/models``, ``GET /stats``,
``POST /admin/reset``, ``POST /admin/config`` (replace the config), ``GET /health``. The ``/v1``
prefix is optional. Answers come from ``daydream.llm.offline_answers`` (deterministic in model and
prompt). Latency and faults (429 with ``Retry-After``, 500, slow, truncated, empty, no score, 400,
401, 404) are configured by ``OfflineConfig``. ``/stats`` records, per model and per tier, how many
requests were in flight at once, so tests can prove that Airflow's pools hold.

Built on the standard library's ``ThreadingHTTPServer`` (one thread per connection, HTTP/1.1
keep-alive): no extra dependency, and blocking sleeps for latency are exactly what a slow provider
looks like to a client.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from daydream.errors import DayDreamError
from daydream.llm.offline_answers import answer, prompt_sha256

log = logging.getLogger("daydream.llm.offline")

FaultKind = Literal[
    "rate_limit",
    "server_error",
    "slow",
    "truncate",
    "empty",
    "no_score",
    "upstream_error",
    "bad_request",
    "unauthorized",
    "not_found",
]
Tier = Literal["free", "paid"]
STATUS_FAULTS: dict[str, int] = {
    "rate_limit": 429,
    "server_error": 500,
    "bad_request": 400,
    "unauthorized": 401,
    "not_found": 404,
}


class OfflineConfigError(DayDreamError):
    """The offline server's config file or ``/admin/config`` body is invalid."""


class FaultRule(BaseModel):
    """One fault. Applies to requests matching ``model`` (any when None) and ``prompt_contains``.

    ``first_n``: only the first N matching requests for each (model, prompt) fail, later ones
    succeed (deterministic retry tests). ``rate``: each matching request fails with this probability,
    drawn from a hash of (seed, rule, model, prompt, attempt number), so the same run repeats
    exactly. Neither: every matching request fails.
    """

    model_config = ConfigDict(extra="forbid")

    fault: FaultKind
    model: str | None = None
    prompt_contains: str | None = None
    first_n: int | None = Field(default=None, ge=0)
    rate: float | None = Field(default=None, ge=0.0, le=1.0)
    retry_after: float | None = 1.0  # rate_limit: the Retry-After header, seconds (None: no header)
    status: int | None = Field(default=None, ge=400, le=599)  # server_error 500, upstream_error 502
    slow_s: float = Field(default=30.0, ge=0)  # slow: how long to stall before answering
    message: str | None = None  # error faults: the provider message to send

    def matches(self, model: str, prompt: str) -> bool:
        return (self.model is None or self.model == model) and (
            self.prompt_contains is None or self.prompt_contains in prompt
        )


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: float = Field(default=0.0, ge=0)  # USD per million prompt tokens
    completion: float = Field(default=0.0, ge=0)  # USD per million completion tokens


class OfflineConfig(BaseModel):
    """The offline server's behaviour; a YAML/JSON file, CLI flags or ``POST /admin/config``."""

    model_config = ConfigDict(extra="forbid")

    latency_s: float = Field(default=0.05, ge=0)
    model_latency_s: dict[str, float] = Field(default_factory=dict)
    faults: list[FaultRule] = Field(default_factory=list)
    known_models: list[str] | None = None  # when set, other models get 404
    require_api_key: str | None = None  # when set, another bearer token gets 401
    echo_auth_in_errors: bool = False  # test aid: a hostile provider echoing the key in its 401
    tiers: dict[str, Tier] = Field(default_factory=dict)  # default: ":free" suffix = free
    prices: dict[str, Price] = Field(default_factory=dict)
    default_paid_price: Price = Field(default_factory=lambda: Price(prompt=1.0, completion=2.0))
    report_cost: bool = True  # false: no usage.cost, like a provider without usage accounting
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _single_fault(cls, data: Any) -> Any:
        """Accept ``fault: {...}`` as shorthand for ``faults: [{...}]``."""
        if isinstance(data, dict) and "fault" in data:
            data = dict(data)
            data["faults"] = [*data.get("faults", []), data.pop("fault")]
        return data

    def tier_of(self, model: str) -> Tier:
        return self.tiers.get(model) or ("free" if model.endswith(":free") else "paid")

    def latency_for(self, model: str) -> float:
        return self.model_latency_s.get(model, self.latency_s)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.prices.get(model)
        if price is None:
            price = Price() if self.tier_of(model) == "free" else self.default_paid_price
        return round((prompt_tokens * price.prompt + completion_tokens * price.completion) / 1e6, 10)


def load_config(source: str | Path | dict[str, Any] | OfflineConfig | None = None, **overrides: Any) -> OfflineConfig:
    """An ``OfflineConfig`` from a file path (.json/.yaml), a dict, a config, or None (defaults)."""
    if isinstance(source, OfflineConfig):
        data: dict[str, Any] = source.model_dump()
    elif isinstance(source, dict):
        data = dict(source)
    elif source is None:
        data = {}
    else:
        path = Path(source)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
        except (OSError, yaml.YAMLError) as exc:
            raise OfflineConfigError(f"{path}: cannot read the offline LLM config: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise OfflineConfigError(f"{path}: the offline LLM config must be a mapping")
        data = loaded or {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return OfflineConfig.model_validate(data)
    except ValidationError as exc:
        where = f"{source}: " if isinstance(source, (str, Path)) else ""
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise OfflineConfigError(
            f"{where}offline LLM config field '{loc}': {first['msg']} ({exc.error_count()} error(s))"
        ) from None


def catalog_pricing(models_csv: str | Path) -> dict[str, Any]:
    """``tiers`` and ``prices`` for the config from an ``llm_models.csv`` (price columns optional)."""
    tiers: dict[str, str] = {}
    prices: dict[str, dict[str, float]] = {}
    with open(models_csv, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            model = (row.get("model") or "").strip()
            if not model:
                continue
            tier = (row.get("tier") or "").strip().lower()
            if tier in ("free", "paid"):
                tiers[model] = tier
            try:
                prices[model] = {
                    "prompt": float(row["price_prompt_per_mtok"]),
                    "completion": float(row["price_completion_per_mtok"]),
                }
            except (KeyError, TypeError, ValueError):
                pass
    return {"tiers": tiers, "prices": prices}


# -- statistics ---------------------------------------------------------------------------------


@dataclass
class _Gauge:
    requests: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0

    def enter(self) -> None:
        self.requests += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1


@dataclass
class _ModelStats(_Gauge):
    served: int = 0
    errors: Counter = field(default_factory=Counter)


class ServerState:
    """Config, fault counters and statistics, shared by the handler threads under one lock."""

    def __init__(self, config: OfflineConfig):
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.config = config
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.total = _Gauge()
            self.models: dict[str, _ModelStats] = {}
            self.tiers: dict[str, _Gauge] = {}
            self.answered: list[tuple[str, str]] = []
            self.fault_hits: Counter = Counter()  # (rule index, model, prompt sha) -> matching count
            self.fault_counts: Counter = Counter()  # fault kind -> times injected
            self.last_request: dict[str, Any] = {}

    def replace_config(self, config: OfflineConfig) -> None:
        with self.lock:
            self.config = config
            self.fault_hits = Counter()

    @contextmanager
    def in_flight(self, model: str) -> Iterator[_ModelStats]:
        with self.lock:
            stats = self.models.setdefault(model, _ModelStats())
            gauges = (self.total, stats, self.tiers.setdefault(self.config.tier_of(model), _Gauge()))
            for gauge in gauges:
                gauge.enter()
        try:
            yield stats
        finally:
            with self.lock:
                for gauge in gauges:
                    gauge.leave()

    def pick_fault(self, model: str, prompt: str, sha: str) -> FaultRule | None:
        """The first rule that fires for this request (advancing the first_n/rate counters)."""
        with self.lock:
            for index, rule in enumerate(self.config.faults):
                if not rule.matches(model, prompt):
                    continue
                key = (index, model, sha)
                self.fault_hits[key] += 1
                seen = self.fault_hits[key]
                if rule.first_n is not None:
                    fires = seen <= rule.first_n
                elif rule.rate is not None:
                    draw = hashlib.sha256(f"{self.config.seed}|{index}|{model}|{sha}|{seen}".encode())
                    fires = int(draw.hexdigest()[:12], 16) / 16**12 < rule.rate
                else:
                    fires = True
                if fires:
                    self.fault_counts[rule.fault] += 1
                    return rule
        return None

    def remember(self, body: dict[str, Any], headers: Any) -> None:
        """Keep the last request's body (messages replaced by their count) and header names."""
        with self.lock:
            self.last_request = {
                "body": {k: (len(v) if k == "messages" else v) for k, v in body.items()},
                "headers": {
                    k.lower(): ("<redacted>" if k.lower() == "authorization" else v) for k, v in headers.items()
                },
            }

    def record(self, stats: _ModelStats, status: int, model: str, sha: str) -> None:
        with self.lock:
            if status == 200:
                stats.served += 1
                self.answered.append((model, sha))
            else:
                stats.errors[str(status)] += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            answered = Counter(self.answered)
            return {
                "total_requests": self.total.requests,
                "total_served": len(self.answered),
                "in_flight": self.total.in_flight,
                "peak_in_flight": self.total.peak_in_flight,
                "models": {
                    model: {
                        "tier": self.config.tier_of(model),
                        "requests": s.requests,
                        "served": s.served,
                        "errors": dict(s.errors),
                        "in_flight": s.in_flight,
                        "peak_in_flight": s.peak_in_flight,
                    }
                    for model, s in sorted(self.models.items())
                },
                "tiers": {
                    tier: {"requests": g.requests, "in_flight": g.in_flight, "peak_in_flight": g.peak_in_flight}
                    for tier, g in sorted(self.tiers.items())
                },
                "faults_injected": dict(self.fault_counts),
                "last_request": self.last_request,
                "answered": [list(pair) for pair in self.answered],
                "answered_twice": [[m, s, n] for (m, s), n in sorted(answered.items()) if n > 1],
            }


# -- HTTP ---------------------------------------------------------------------------------------


class _Reply(Exception):
    """Raised inside a handler to send an error response."""

    def __init__(self, status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "DayDreamOfflineLLM/1.0"
    timeout = 120  # an idle keep-alive connection frees its thread after this

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle plus delayed ACKs add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def state(self) -> ServerState:
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s " + format, self.address_string(), *args)

    # routing

    def _path(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/")
        return path[3:] if path.startswith("/v1/") else path

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        self._dispatch({"/health": self._health, "/models": self._models, "/key": self._key, "/stats": self._stats})

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch({"/chat/completions": self._chat, "/admin/reset": self._reset, "/admin/config": self._configure})

    def _dispatch(self, routes: dict[str, Any]) -> None:
        route = routes.get(self._path())
        try:
            body = self._read_body()
            if route is None:
                raise _Reply(404, f"no route {self.command} {self._path()}", code="not_found")
            self._send(200, route(body))
        except _Reply as reply:
            self._send(
                reply.status,
                {
                    "error": {
                        "message": reply.message,
                        "code": reply.status,
                        "type": reply.code or HTTPStatus(reply.status).phrase,
                    }
                },
                reply.headers,
            )
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return None
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except ValueError:
            raise _Reply(400, "request body is not valid JSON", code="invalid_request_error") from None

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    # endpoints

    def _health(self, _body: Any) -> dict[str, Any]:
        return {"status": "ok"}

    def _models(self, _body: Any) -> dict[str, Any]:
        config = self.state.config
        self._check_auth(config)
        names = config.known_models or sorted(set(config.tiers) | set(self.state.models))
        return {"object": "list", "data": [{"id": n, "object": "model", "owned_by": "daydream-offline"} for n in names]}

    def _key(self, _body: Any) -> dict[str, Any]:
        """OpenRouter's key check: 401 for a wrong key, else facts about the key (never the key)."""
        self._check_auth(self.state.config)
        return {"data": {"label": "offline", "usage": 0, "limit": None, "is_free_tier": False}}

    def _stats(self, _body: Any) -> dict[str, Any]:
        return self.state.snapshot()

    def _reset(self, _body: Any) -> dict[str, Any]:
        self.state.reset()
        return {"status": "reset"}

    def _configure(self, body: Any) -> dict[str, Any]:
        try:
            config = load_config(body if isinstance(body, dict) else {})
        except OfflineConfigError as exc:
            raise _Reply(400, str(exc), code="invalid_config") from None
        self.state.replace_config(config)
        return {"status": "configured", "config": config.model_dump(mode="json")}

    def _check_auth(self, config: OfflineConfig) -> None:
        if config.require_api_key is None:
            return
        given = self.headers.get("Authorization", "")
        if given != f"Bearer {config.require_api_key}":
            shown = given.removeprefix("Bearer ") if config.echo_auth_in_errors else "(hidden)"
            raise _Reply(401, f"Invalid API key provided: {shown}", code="invalid_api_key")

    def _chat(self, body: Any) -> dict[str, Any]:
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("model"), str)
            or not isinstance(body.get("messages"), list)
            or not body["messages"]
        ):
            raise _Reply(
                400, "body must have 'model' (string) and 'messages' (non-empty list)", code="invalid_request_error"
            )
        model = body["model"]
        prompt = "\n\n".join(
            str(m.get("content") or "") for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"
        )
        sha = prompt_sha256(prompt)
        config = self.state.config
        self.state.remember(body, self.headers)
        with self.state.in_flight(model) as stats:
            status = 500
            try:
                self._check_auth(config)
                if config.known_models is not None and model not in config.known_models:
                    raise _Reply(404, f"model not found: '{model}' is not a valid model ID", code="model_not_found")
                rule = self.state.pick_fault(model, prompt, sha)
                self._wait(config.latency_for(model) if rule is None or rule.fault != "slow" else rule.slow_s)
                if rule is not None and rule.fault in STATUS_FAULTS:
                    raise self._fault_reply(rule)
                result = self._completion(config, body, model, prompt, rule)
                status = 200
                return result
            except _Reply as reply:
                status = reply.status
                raise
            finally:
                self.state.record(stats, status, model, sha)

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.state.stopping.wait(seconds)  # wakes at once when the server stops

    @staticmethod
    def _fault_reply(rule: FaultRule) -> _Reply:
        status = rule.status if rule.fault == "server_error" and rule.status else STATUS_FAULTS[rule.fault]
        headers = {}
        if rule.fault == "rate_limit" and rule.retry_after is not None:
            headers["Retry-After"] = f"{rule.retry_after:g}"
        default = {
            429: "Rate limit exceeded: free-models-per-min (offline fault)",
            500: "Internal server error (offline fault)",
            400: "Bad request (offline fault)",
            401: "No auth credentials found (offline fault)",
            404: "Model not found (offline fault)",
        }
        return _Reply(status, rule.message or default.get(status, "offline fault"), code=rule.fault, headers=headers)

    def _completion(
        self, config: OfflineConfig, body: dict[str, Any], model: str, prompt: str, rule: FaultRule | None
    ) -> dict[str, Any]:
        fault = rule.fault if rule is not None else None
        text = answer(model, prompt, with_score=fault != "no_score")
        finish_reason = "stop"
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        limit = int(max_tokens) if isinstance(max_tokens, (int, float)) and max_tokens > 0 else None
        if fault == "upstream_error":  # OpenRouter: HTTP 200, an error object and no choices
            return {
                "id": f"gen-offline-{uuid.uuid4().hex[:20]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [],
                "error": {
                    "code": rule.status or 502,  # type: ignore[union-attr]
                    "message": rule.message or "Upstream provider error (offline fault)",
                },
            }
        if fault == "truncate":
            text = text[: max(1, len(text) // 2)]
            finish_reason = "length"
        elif fault == "empty":
            text = ""
        if limit is not None and _tokens(text) > limit:
            text = text[: limit * 4]
            finish_reason = "length"
        prompt_tokens = _tokens(prompt)
        completion_tokens = _tokens(text)
        if finish_reason == "length" and limit is not None:
            completion_tokens = limit
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if config.report_cost:
            usage["cost"] = config.cost(model, prompt_tokens, completion_tokens)
        return {
            "id": f"gen-offline-{uuid.uuid4().hex[:20]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "provider": "DayDream Offline",
            "choices": [
                {"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", "content": text}}
            ],
            "usage": usage,
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], state: ServerState):
        self.state = state
        self.open_sockets: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.state.lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.state.lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake the threads parked on idle keep-alive connections so they end now."""
        with self.state.lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# -- the Python handle ---------------------------------------------------------------------------


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
        self._httpd = _Server((host, port), self.state)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

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

    def start(self) -> OfflineServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"offline-llm-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop()`` is called from another thread."""
        self._httpd.serve_forever(poll_interval=0.1)

    def stop(self) -> None:
        self.state.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.close_connections()
        self._httpd.server_close()

    def __enter__(self) -> OfflineServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        return self.state.snapshot()

    def reset(self) -> None:
        self.state.reset()

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
