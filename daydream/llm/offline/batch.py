"""The offline LLM's batch APIs: OpenRouter's inline batches, OpenAI's files + batches, Anthropic's
Message Batches, so the batch lane runs end to end without a provider. This module holds the batches
and what becomes of them; ``batch_wire`` writes each API's JSON, ``batch_routes`` serves the routes.

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
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from daydream.llm.offline import replies
from daydream.llm.offline.config import BatchFaultRule, OfflineConfig
from daydream.llm.offline.replies import Reply
from daydream.llm.offline.state import ServerState
from daydream.llm.offline_answers import prompt_sha256


@dataclass
class Item:
    custom_id: str
    model: str
    prompt: str
    body: dict[str, Any]


@dataclass
class Batch:
    id: str
    api: str
    model: str
    items: list[Item]
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
        self.batches: dict[str, Batch] = {}
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


def _settle(state: ServerState, batch: Batch) -> None:
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


def prompt_of(messages: Any) -> str:
    if not isinstance(messages, list):
        raise Reply(400, "each request needs a non-empty 'messages' list", code="invalid_request_error")
    return "\n\n".join(str(m.get("content") or "") for m in messages if isinstance(m, dict) and m.get("role") == "user")


def check_auth(config: OfflineConfig, request: Request, anthropic: bool = False) -> None:
    if config.require_api_key is None:
        return
    given = request.headers.get("x-api-key", "") if anthropic else request.headers.get("authorization", "")
    expected = config.require_api_key if anthropic else f"Bearer {config.require_api_key}"
    if given != expected:
        raise replies.unauthorized(config, given if not anthropic else f"Bearer {given}")


async def create_batch(state: ServerState, api: str, model: str, items: list[Item], **facts: Any) -> Batch:
    config, store = state.config, store_of(state)
    if not items:
        raise Reply(400, "a batch needs at least one request", code="invalid_request_error")
    if config.batch.max_requests is not None and len(items) > config.batch.max_requests:
        raise Reply(400, f"a batch holds at most {config.batch.max_requests} requests", code="batch_too_large")
    if len({i.custom_id for i in items}) != len(items):
        raise Reply(400, "custom_id values must be unique within a batch", code="invalid_request_error")
    prefix = {"openrouter": "batch_or_", "openai": "batch_", "anthropic": "msgbatch_"}[api]
    batch = Batch(
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


def find_batch(state: ServerState, batch_id: str, api: str) -> Batch:
    store = store_of(state)
    with store.lock:
        batch = store.batches.get(batch_id)
        if batch is None or (batch.api == "anthropic") != (api == "anthropic"):
            raise Reply(404, f"no batch {batch_id!r}", code="not_found")
        _settle(state, batch)
        return batch


def cancel_batch(state: ServerState, batch: Batch) -> None:
    store = store_of(state)
    with store.lock:
        store.cancels += 1
        if not batch.ended:
            batch.cancelled = True
            store.items["canceled"] += len(batch.items)
