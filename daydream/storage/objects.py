"""``daydream.atomic`` and ``daydream.locks`` for a data root on object storage (an ``ObjectPath``).

Why these are not emulations of the local code: a PUT replaces an object atomically, so a write is
one PUT (no temporary object, no rename); a write-once file is ``PUT If-None-Match: *``; a lock is a
lease object (``daydream.storage.leases``) renewed by a thread while held, so a worker that dies
loses it after ``LEASE_TTL_S`` instead of holding it forever, and a live one keeps it however long
its LLM call takes. What object storage cannot do atomically (moving a "directory": many objects)
is done copy-first, delete-after, so an interruption leaves two copies, never none.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from daydream.storage.base import Lease, StorageError
from daydream.storage.objpath import ObjectPath, split

LEASE_TTL_S = 30.0
"""How long a lease outlives its holder's last renewal: the time a dead worker's generation waits
before another worker may take it (Airflow's own zombie detection takes longer)."""
RENEW_EVERY_S = LEASE_TTL_S / 4


def _written(path: ObjectPath, exc: OSError, action: str = "write") -> OSError:
    from daydream.atomic import WriteError

    return WriteError(path, exc, action)


def write_bytes(path: ObjectPath, data: bytes) -> Path:
    storage, key = split(path)
    try:
        storage.write_bytes(key, data)
    except OSError as exc:
        raise _written(path, exc) from None
    return path


def create_exclusive(path: ObjectPath, data: bytes) -> bool:
    storage, key = split(path)
    try:
        return storage.create_exclusive(key, data)
    except OSError as exc:
        raise _written(path, exc) from None


def append_line(path: ObjectPath, line: str) -> None:
    """Read, append, PUT: the caller holds ``locks.hold(path)`` (a lease), so no writer is lost.

    Fine for files appended rarely (the combo catalog, once per cohort build); the spend ledger, which
    every paid call appends to, uses ``Storage.ledger`` (one object per line) instead.
    """
    storage, key = split(path)
    try:
        old = storage.read_bytes(key)
    except FileNotFoundError:
        old = b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    write_bytes(path, old + line.rstrip("\n").encode("utf-8") + b"\n")


def copy_file(source: str | Path, target: str | Path) -> Path:
    source = source if isinstance(source, Path) else Path(source)  # Path() would drop an ObjectPath's storage
    try:
        data = source.read_bytes()
    except OSError as exc:
        from daydream.atomic import WriteError

        raise WriteError(source, exc, "copy") from None
    if isinstance(target, ObjectPath):
        return write_bytes(target, data)
    from daydream.atomic import write_bytes as local_write

    return local_write(target, data)


def rename_new(source: str | Path, target: str | Path) -> Path:
    """Copy every object below ``source`` to ``target``, then delete the originals."""
    if not (isinstance(source, ObjectPath) and isinstance(target, ObjectPath)):
        raise StorageError(f"cannot move {source} to {target}: both must be on the same object storage")
    storage, src = split(source)
    _, dst = split(target)
    if target.exists():
        raise _written(target, FileExistsError(17, "already exists"), "move")
    infos = storage.list_prefix(src + "/") if not storage.exists(src) else []
    pairs = [(info.key, dst + info.key[len(src) :]) for info in infos] or [(src, dst)]
    for old, new in pairs:
        storage.write_bytes(new, storage.read_bytes(old))
    for old, _new in pairs:
        storage.delete(old)
    return target


def remove_file(path: ObjectPath) -> bool:
    storage, key = split(path)
    if not storage.exists(key):
        return False
    storage.delete(key)
    return True


def remove_tree(path: ObjectPath) -> bool:
    storage, key = split(path)
    infos = storage.list_prefix(key + "/")
    single = storage.exists(key)
    for info in infos:
        storage.delete(info.key)
    if single:
        storage.delete(key)
    return bool(infos) or single


class Renewer:
    """Renews a lease every ``RENEW_EVERY_S`` from a daemon thread until stopped or the lease is lost."""

    def __init__(self, lease: Lease):
        self.lease = lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease:{lease.key}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(RENEW_EVERY_S):
            try:
                if not self.lease.renew():
                    return
            except OSError:
                continue  # a network blip: the next renewal (well inside the TTL) tries again

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@contextmanager
def leased(path: ObjectPath, *, wait_s: float = 0.0) -> Iterator[Lease | None]:
    """The lease on ``path`` (renewed while held, released on exit), waiting up to ``wait_s`` for it;
    yields None when it stayed taken."""
    storage, key = split(path)
    deadline = time.monotonic() + wait_s
    delay = 0.02
    lease = storage.acquire_lease(key, LEASE_TTL_S)
    while lease is None and time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
        lease = storage.acquire_lease(key, LEASE_TTL_S)
    if lease is None:
        yield None
        return
    renewer = Renewer(lease)
    try:
        yield lease
    finally:
        renewer.stop()
        lease.release()
