"""The generation lock: one process at a time runs a generation, whatever path it came by.

On a local data root it is the ``flock`` on ``gens/<stage>/<gen_id>/.lock`` that the worker path has
always taken (the kernel drops it when its holder dies), so a worker of the fallback path and a
triggerer exclude each other too. On object storage there is no ``flock``: the lock is the store's
lease on the same key (``Storage.acquire_lease``), renewed every third of its TTL while held, so a
holder that died lets go after the TTL.

The async face waits while another holder has the generation (a triggerer that Airflow still thinks
alive while a restarted one already runs its triggers): once it is free, ``prepare`` finds the work
done and makes no call.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from daydream import atomic
from daydream.locks import try_lock
from daydream.storage import Lease, LocalStorage, Storage

__all__ = ["LEASE_TTL_S", "ahold_generation", "hold_generation"]

LEASE_TTL_S = 300.0
"""Object storage: a generation lease lives 5 minutes unless renewed (a call lasts seconds to minutes)."""


class _Renewer:
    """Renews a lease every third of its TTL from a daemon thread until stopped."""

    def __init__(self, lease: Lease):
        self.lease = lease
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, name=f"renew {lease.key}", daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while not self.done.wait(self.lease.ttl_s / 3):
            if not self.lease.renew():
                return

    def stop(self) -> None:
        self.done.set()


def _take(storage: Storage, path: Path, key: str) -> tuple[bool, Callable[[], None]]:
    """Try the lock once: ``(acquired, release)``."""
    if isinstance(storage, LocalStorage):
        held = contextlib.ExitStack()
        try:
            acquired = held.enter_context(try_lock(path))
        except OSError as exc:
            held.close()
            raise atomic.WriteError(path, exc, "lock") from None
        if not acquired:
            held.close()
        return acquired, held.close
    lease = storage.acquire_lease(key, LEASE_TTL_S)
    if lease is None:
        return False, lambda: None
    renewer = _Renewer(lease)

    def release() -> None:
        renewer.stop()
        lease.release()

    return True, release


@contextlib.contextmanager
def hold_generation(storage: Storage, path: Path, key: str) -> Iterator[bool]:
    """Held for the block when this process got it; yields whether it did (no waiting)."""
    acquired, release = _take(storage, path, key)
    try:
        yield acquired
    finally:
        release()


@contextlib.asynccontextmanager
async def ahold_generation(
    storage: Storage,
    path: Path,
    key: str,
    *,
    offload: Callable[..., Awaitable[Any]] = asyncio.to_thread,
    wait_s: float = 0.0,
    poll_s: float = 1.0,
) -> AsyncIterator[bool]:
    """``hold_generation`` for the event loop, waiting up to ``wait_s`` while another holder has it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        acquired, release = await offload(_take, storage, path, key)
        if acquired or loop.time() >= deadline:
            break
        await asyncio.sleep(poll_s * random.uniform(0.5, 1.5))
    try:
        yield acquired
    finally:
        await offload(release)
