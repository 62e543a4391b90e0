"""The gate every LLM call of the trigger path passes: a slot of its pool, within its model's limit.

Airflow does not apply pools to tasks started from the triggerer (every mapped instance becomes a
trigger at once), so the pool's slots are enforced here, across every triggerer process: a call in
flight holds one slot of ``daydream.storage.Semaphore`` (``llm_limits/pool-slots/<pool>/slot-<i>``:
``flock`` files on a local data root, lease objects on object storage), and a process only takes
slots numbered below the pool's current size. The size is read again every few seconds
(``PoolSizes``), so a pool resized in the UI takes effect within seconds: a smaller pool admits no
new call until the calls in flight are below it; a larger one admits more at once.

Within the pool each model has its own limit (``daydream.engine.aimd``), lowered by the provider's
429s and raised back by sustained success, and a model whose daily quota is used up admits nothing.

One dispatcher coroutine per pool and process hands slots out in arrival order (per model, so a
model held back by its own limit does not hold back the others). A finished call hands its slot
straight to the next waiter of this process, without touching the storage; slots freed by other
processes are found by polling the semaphore while calls wait (every ``poll_s``). Storage calls run in
worker threads: the event loop never waits for a file or a network round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from daydream.engine.aimd import AIMD, AIMDSettings
from daydream.engine.quota import QuotaStop, QuotaStopped
from daydream.llm.retry import AttemptFailure
from daydream.paths import check_id
from daydream.storage import Lease, Semaphore, Storage

__all__ = ["POOL_SLOTS_PREFIX", "CallGate", "FixedPoolSizes", "PoolSizes", "Slot"]

log = logging.getLogger("daydream.engine")

POOL_SLOTS_PREFIX = "llm_limits/pool-slots"
DEFAULT_LEASE_TTL_S = 120.0
"""Lease lifetime of a slot on object storage (renewed every third of it while held; flock ignores it)."""

Offload = Callable[..., Awaitable[Any]]
"""Runs a blocking function in a worker thread: ``await offload(fn, *args)``."""


class PoolSizes(Protocol):
    async def slots(self, pool: str) -> int:
        """The pool's current number of slots (cached by the implementation for a few seconds)."""
        ...


class FixedPoolSizes:
    """Pool sizes held in memory (tests, scripts; ``sizes`` may be changed); the Airflow face reads the
    pools' own sizes (``daydream.airflow.pools``)."""

    def __init__(self, sizes: dict[str, int]):
        self.sizes = dict(sizes)

    async def slots(self, pool: str) -> int:
        return self.sizes.get(pool, 0)


@dataclass(eq=False)
class Slot:
    """One call's hold on its pool: a semaphore lease, while the call is in flight."""

    pool: str
    model: str
    lease: Lease

    @property
    def index(self) -> int:
        return int(self.lease.key.rsplit("slot-", 1)[1])


@dataclass(eq=False)
class _Waiter:
    model: str
    seq: int
    future: asyncio.Future[Slot]


@dataclass
class _Model:
    aimd: AIMD
    in_flight: int = 0
    stop: QuotaStop | None = None
    waiters: deque[_Waiter] = field(default_factory=deque)


class _Pool:
    def __init__(self, gate: CallGate, name: str):
        self.gate = gate
        self.name = check_id(name, kind="pool name")
        self.semaphore = Semaphore(gate.storage, f"{POOL_SLOTS_PREFIX}/{self.name}", ttl_s=gate.lease_ttl_s)
        self.size = 0
        self.models: dict[str, _Model] = {}
        self.free: list[Lease] = []  # released by a call of this process, not yet handed on
        self.held: set[Lease] = set()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.peak = 0

    def model(self, name: str) -> _Model:
        found = self.models.get(name)
        if found is None:
            found = self.models[name] = _Model(AIMD(self.gate.aimd_settings))
        return found

    def in_flight(self) -> int:
        return sum(m.in_flight for m in self.models.values())

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.dispatch(), name=f"daydream-gate-{self.name}")

    # -- the dispatcher ----------------------------------------------------------------------

    async def dispatch(self) -> None:
        renewed = time.monotonic()
        while True:
            waiting = any(m.waiters for m in self.models.values())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.gate.poll_s if waiting else self.gate.idle_s)
            self.wake.clear()
            try:
                self.size = await self.gate.sizes.slots(self.name)
                await self.hand_out()
                await self.release_spare()
                if time.monotonic() - renewed > self.gate.lease_ttl_s / 3:
                    renewed = time.monotonic()
                    await self.renew()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 (a storage hiccup must not end the dispatcher; the next round retries)
                log.exception("pool %s: handing out slots failed; retrying", self.name)
                await asyncio.sleep(self.gate.poll_s)
            if not self.models_busy():
                self.task = None
                return

    def models_busy(self) -> bool:
        return any(m.waiters or m.in_flight for m in self.models.values()) or bool(self.free)

    def next_waiter(self) -> _Waiter | None:
        """The earliest waiter whose model may start a call now."""
        best: _Waiter | None = None
        for model in self.models.values():
            while model.waiters and model.waiters[0].future.done():  # cancelled meanwhile
                model.waiters.popleft()
            if not model.waiters:
                continue
            if model.stop is not None:
                self.fail_waiters(model)
                continue
            if model.aimd.paused_for() > 0 or model.in_flight >= model.aimd.cap(self.size):
                continue
            if best is None or model.waiters[0].seq < best.seq:
                best = model.waiters[0]
        return best

    def fail_waiters(self, model: _Model) -> None:
        assert model.stop is not None
        while model.waiters:
            waiter = model.waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_exception(QuotaStopped(model.stop))

    async def hand_out(self) -> None:
        while (waiter := self.next_waiter()) is not None:
            lease = self.take_free()
            if lease is None:
                if len(self.held) >= self.size:
                    return  # this process holds every slot: only its own releases can help
                lease = await self.gate.offload(self.semaphore.try_acquire, self.size)
                if lease is None:
                    return  # the pool is full across all processes: poll again later
                self.held.add(lease)
            model = self.models[waiter.model]
            if waiter.future.done() or not model.waiters or model.waiters[0] is not waiter:
                self.free.append(lease)  # cancelled or stopped while we took the slot: keep it for the next one
                continue
            model.waiters.popleft()
            model.in_flight += 1
            waiter.future.set_result(Slot(self.name, waiter.model, lease))
            self.peak = max(self.peak, self.in_flight())

    def take_free(self) -> Lease | None:
        while self.free:
            lease = self.free.pop()
            if self.semaphore.slot_of(lease) < self.size and lease.valid():
                return lease
            self.held.discard(lease)
            self.gate.spawn(self.gate.offload(lease.release))
        return None

    async def release_spare(self) -> None:
        """Slots no waiter of this process can use now go back, so other processes can take them."""
        spare, self.free = self.free, []
        for lease in spare:
            self.held.discard(lease)
            await self.gate.offload(lease.release)

    async def renew(self) -> None:
        for lease in list(self.held):
            if not await self.gate.offload(lease.renew):
                log.warning("pool %s: lost the lease of %s (its call goes on)", self.name, lease.key)


class CallGate:
    """Per-pool slots across processes, per-model AIMD limits and quota stops; one per event loop."""

    def __init__(
        self,
        storage: Storage,
        sizes: PoolSizes,
        *,
        offload: Offload = asyncio.to_thread,
        poll_s: float = 0.1,
        idle_s: float = 5.0,
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
        aimd: AIMDSettings | None = None,
    ) -> None:
        self.storage = storage
        self.sizes = sizes
        self.offload = offload
        self.poll_s = poll_s
        self.idle_s = idle_s
        self.lease_ttl_s = lease_ttl_s
        self.aimd_settings = aimd or AIMDSettings()
        self.pools: dict[str, _Pool] = {}
        self._seq = itertools.count()
        self._background: set[asyncio.Task[Any]] = set()

    def pool(self, name: str) -> _Pool:
        found = self.pools.get(name)
        if found is None:
            found = self.pools[name] = _Pool(self, name)
        return found

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def acquire(self, pool_name: str, model_name: str) -> Slot:
        """Wait for a slot of ``pool_name`` within ``model_name``'s limit; ``QuotaStopped`` when it has none."""
        pool = self.pool(pool_name)
        model = pool.model(model_name)
        if model.stop is not None and model.stop.until <= time.time():
            model.stop = None  # the quota has reset (a triggerer lives for days)
        if model.stop is not None:
            raise QuotaStopped(model.stop)
        future: asyncio.Future[Slot] = asyncio.get_running_loop().create_future()
        model.waiters.append(_Waiter(model_name, next(self._seq), future))
        pool.wake.set()
        pool.start()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release(future.result())  # handed a slot as we were cancelled: give it back
            raise

    def release(self, slot: Slot) -> None:
        """The call is over (answered or not): its slot goes to the next waiter, or back to the pool."""
        pool = self.pool(slot.pool)
        model = pool.model(slot.model)
        model.in_flight = max(0, model.in_flight - 1)
        pool.free.append(slot.lease)
        pool.wake.set()
        pool.start()

    @contextlib.asynccontextmanager
    async def slot(self, pool_name: str, model_name: str) -> AsyncIterator[Slot]:
        held = await self.acquire(pool_name, model_name)
        try:
            yield held
        finally:
            self.release(held)

    # -- what the calls report -----------------------------------------------------------------

    def succeeded(self, pool_name: str, model_name: str) -> None:
        pool = self.pool(pool_name)
        model = pool.model(model_name)
        model.aimd.on_success(in_flight=model.in_flight, ceiling=pool.size, waiting=len(model.waiters))
        pool.wake.set()

    def failed(self, pool_name: str, model_name: str, failure: AttemptFailure) -> None:
        pool = self.pool(pool_name)
        model = pool.model(model_name)
        before = model.aimd.limit
        model.aimd.on_failure(failure, in_flight=model.in_flight, ceiling=pool.size)
        if failure.rate_limited and model.aimd.limit != before:
            log.warning(
                "model %s: rate limited (HTTP 429); its concurrency is now %d of pool %s's %d slots%s",
                model_name,
                model.aimd.cap(pool.size),
                pool_name,
                pool.size,
                f", paused {model.aimd.paused_for():.1f}s" if model.aimd.paused_for() > 0 else "",
            )

    def stop_model(self, pool_name: str, model_name: str, stop: QuotaStop) -> None:
        """No more calls to this model (its daily quota is used up): its waiters end at once."""
        pool = self.pool(pool_name)
        model = pool.model(model_name)
        model.stop = stop
        pool.fail_waiters(model)

    def model_stop(self, pool_name: str, model_name: str) -> QuotaStop | None:
        return self.pool(pool_name).model(model_name).stop

    def stats(self) -> dict[str, Any]:
        """What each pool and model of this process is doing (for logs and tests)."""
        return {
            name: {
                "size": pool.size,
                "in_flight": pool.in_flight(),
                "peak": pool.peak,
                "held": len(pool.held),
                "models": {
                    m: {"in_flight": s.in_flight, "waiting": len(s.waiters), "cap": s.aimd.cap(pool.size)}
                    for m, s in pool.models.items()
                },
            }
            for name, pool in self.pools.items()
        }
