"""``GenerationEngine``: what every generation on one event loop shares (the triggerer's face).

- the gate (``daydream.engine.gate``): pool slots across processes, per-model AIMD limits, quota stops;
- the LLM clients, one or more per model: ``openai``'s async client keeps a connection pool per client,
  and httpcore's pool costs grow quadratically with its open connections, so a model with hundreds of
  calls in flight gets a client per ``calls_per_client`` of them;
- the runners (catalogs read once per run and process), and a thread pool for the store's file I/O
  (``asyncio``'s default pool has ``cpu + 4`` threads, and each step's fsyncs wait on the disk).

A call holds its pool slot only while a request is in flight: the client's retry sleeps (a 429's
``Retry-After``, the backoff) give the slot back and take one again afterwards, so a model that is told
to wait does not keep the pool from the others. Every failed attempt is reported to the gate (AIMD); a
429 that says the model's daily quota is used up stops the model for the day, in this process at once
and for every process through the data root (``daydream.engine.quota``), and the call is not retried.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from daydream.call_plan import CallPlan, RunOptions
from daydream.catalogs import Catalogs
from daydream.engine.gate import CallGate, FixedPoolSizes, PoolSizes, Slot
from daydream.engine.quota import QuotaBook, QuotaStop, QuotaStopped, daily_quota_reset
from daydream.errors import LLMError
from daydream.llm.client import OpenAICompatibleClient
from daydream.llm.retry import AttemptFailure
from daydream.llm.settings import LLMSettings
from daydream.llm.types import LLMResult
from daydream.outcome import GenerationOutcome
from daydream.paths import DataLayout, Stage
from daydream.runner import StageRunner
from daydream.storage import LocalStorage, Storage

__all__ = ["FixedPoolSizes", "GenerationEngine"]

log = logging.getLogger("daydream.engine")
T = TypeVar("T")
RUNNER_IDLE_S = 600.0
"""A run's runner (its catalogs) is dropped when no generation used it for this long."""


@dataclass
class _CallState:
    pool: str
    model: str
    llm_model_id: str
    slot: Slot | None
    stop: QuotaStop | None = None


_CALL: ContextVar[_CallState | None] = ContextVar("daydream_call", default=None)


@dataclass
class _Client:
    client: OpenAICompatibleClient
    busy: int = 0


@dataclass
class _Runner:
    runner: StageRunner
    used: float = field(default_factory=time.monotonic)


class GenerationEngine:
    def __init__(
        self,
        layout: DataLayout,
        settings: LLMSettings,
        sizes: PoolSizes,
        *,
        storage: Storage | None = None,
        threads: int = 32,
        calls_per_client: int = 64,
        poll_s: float = 0.1,
    ) -> None:
        self.layout = layout
        self.settings = settings
        self.storage = storage or LocalStorage(layout.root)
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="daydream-io")
        self.gate = CallGate(self.storage, sizes, offload=self.offload, poll_s=poll_s)
        self.quota = QuotaBook(self.storage)
        self.calls_per_client = calls_per_client
        self.clients: dict[str, list[_Client]] = {}
        self.runners: dict[tuple[Any, ...], asyncio.Future[_Runner]] = {}

    def use_settings(self, settings: LLMSettings) -> None:
        """New calls use ``settings`` (a changed LLM connection); calls in flight keep their client."""
        if settings != self.settings:
            self.settings = settings
            self.clients = {}
            self.runners = {}

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the engine's worker threads, with this task's context (logging, the call)."""
        call = functools.partial(contextvars.copy_context().run, fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    # -- one generation --------------------------------------------------------------------------

    async def generate(
        self, stage: Stage, gen_id: str, *, pool: str | None, cohort_id: str, options: RunOptions, run_key: str
    ) -> GenerationOutcome:
        """Run one generation; ``pool`` is None for a generation that calls no model (copy mode)."""
        runner = await self.runner(cohort_id, options, run_key)

        async def acall(plan: CallPlan) -> LLMResult:
            if pool is None:
                raise LLMError(f"{plan.stage} {plan.gen_id}: no pool for a generation that calls model {plan.model}")
            return await self.call(pool, plan)

        return await runner.arun(stage, gen_id, acall, offload=self.offload)

    async def runner(self, cohort_id: str, options: RunOptions, run_key: str) -> StageRunner:
        """The runner of one DAG run (its catalogs read once, in a worker thread)."""
        key = (run_key, cohort_id, options.model_dump_json())
        found = self.runners.get(key)
        if found is None or (found.done() and found.exception() is not None):
            found = self.runners[key] = asyncio.ensure_future(self.offload(self._new_runner, cohort_id, options))
            self._forget_idle_runners()
        held = await asyncio.shield(found)
        held.used = time.monotonic()
        return held.runner

    def _new_runner(self, cohort_id: str, options: RunOptions) -> _Runner:
        catalogs = Catalogs.load(self.layout)
        llm = OpenAICompatibleClient(self.settings)  # answers stage_request; its sync face is never called here
        runner = StageRunner(
            self.layout, catalogs=catalogs, llm=llm, options=options, cohort_id=cohort_id, storage=self.storage
        )
        return _Runner(runner)

    def _forget_idle_runners(self) -> None:
        now = time.monotonic()
        for key, future in list(self.runners.items()):
            if future.done() and (future.exception() is not None or now - future.result().used > RUNNER_IDLE_S):
                del self.runners[key]

    # -- one call ----------------------------------------------------------------------------------

    def _client(self, model: str) -> _Client:
        """The least busy client of this model; a new one when all carry ``calls_per_client`` calls."""
        clients = self.clients.setdefault(model, [])
        best = min(clients, key=lambda c: c.busy, default=None)
        if best is None or best.busy >= self.calls_per_client:
            best = _Client(OpenAICompatibleClient(self.settings, asleep=self._retry_sleep))
            clients.append(best)
        return best

    async def call(self, pool: str, plan: CallPlan) -> LLMResult:
        """The call, inside a slot of ``pool`` and the model's limit; ``QuotaStopped`` for a used-up quota."""
        state = _CallState(pool, plan.model, plan.llm_model_id, await self.gate.acquire(pool, plan.model))
        token = _CALL.set(state)
        held = self._client(plan.model)
        held.busy += 1
        try:
            result = await held.client.acomplete(
                **plan.request(), on_attempt_failure=functools.partial(self._observe, state)
            )
            self.gate.succeeded(pool, plan.model)  # while its slot still counts: AIMD grows a limit that was full
        finally:
            held.busy -= 1
            _CALL.reset(token)
            if state.slot is not None:
                self.gate.release(state.slot)
        return result

    def _observe(self, state: _CallState, failure: AttemptFailure) -> None:
        """Every failed attempt: AIMD learns of it; a used-up daily quota stops the model everywhere."""
        self.gate.failed(state.pool, state.model, failure)
        until = daily_quota_reset(failure.status, failure.message, failure.headers)
        if until is None:
            return
        stop = self.gate.model_stop(state.pool, state.model)
        if stop is None:
            stop = QuotaStop(state.llm_model_id, state.model, until, failure.describe()[:300])
            self.gate.stop_model(state.pool, state.model, stop)
            self.gate.spawn(self._persist_stop(stop))
            log.warning("%s", stop.describe())
        state.stop = stop

    async def _persist_stop(self, stop: QuotaStop) -> None:
        try:
            await self.offload(self.quota.stop, stop.llm_model_id, stop.model, stop.until, stop.reason)
        except Exception:  # noqa: BLE001 (this process knows already; the others find out from their own 429)
            log.exception("could not record the quota stop of %s", stop.model)

    async def _retry_sleep(self, delay: float) -> None:
        """The clients' sleep between attempts: the slot goes back meanwhile; a quota stop ends the call."""
        state = _CALL.get()
        if state is None:
            await asyncio.sleep(delay)
            return
        if state.stop is not None:
            raise QuotaStopped(state.stop)
        if state.slot is not None:
            self.gate.release(state.slot)
            state.slot = None
        await asyncio.sleep(delay)
        state.slot = await self.gate.acquire(state.pool, state.model)

    async def aclose(self) -> None:
        for clients in self.clients.values():
            for held in clients:
                await held.client.aclose()
        self.clients.clear()
        self.executor.shutdown(wait=False)
