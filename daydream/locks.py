"""Locks between processes on one machine: ``flock`` on a lock file beside what it protects.

Two kinds, one home: ``try_lock`` (non-blocking) keeps two workers from running the same
generation, and ``hold`` (blocking, bounded) serialises every read-merge-write of a file that
several processes share (the combo catalog, the spend ledger), so no writer erases another's
lines. The kernel releases an ``flock`` when its process dies, so a killed worker never leaves a
lock behind.

On object storage (an ``ObjectPath``) there is no ``flock`` across machines: both kinds are a lease
object taken by a conditional create and renewed while held (``daydream.storage.objects.leased``), so
a worker that died releases it after the lease's TTL.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from daydream.errors import DayDreamError, located
from daydream.storage.objpath import ObjectPath

DEFAULT_WAIT_S = 120.0
"""How long ``hold`` waits for another writer; a shared file's writers hold the lock for milliseconds."""


class LockTimeout(DayDreamError):
    """Another process held a shared file's lock for longer than the wait allows."""


def lock_path_for(path: Path) -> Path:
    """The lock file of a shared file: hidden, beside it, never the file itself (which is replaced)."""
    return path.with_name(f".{path.name}.lock")


@contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Non-blocking exclusive lock on ``path``; yields whether this process got it."""
    if isinstance(path, ObjectPath):
        from daydream.storage.objects import leased

        with leased(path) as lease:
            yield lease is not None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def hold(shared: Path, *, wait_s: float = DEFAULT_WAIT_S) -> Iterator[None]:
    """Exclusive lock for a read-merge-write of ``shared``, waiting at most ``wait_s`` seconds."""
    lock = lock_path_for(shared)
    if isinstance(lock, ObjectPath):
        from daydream.storage.objects import leased

        with leased(lock, wait_s=wait_s) as lease:
            if lease is None:
                raise LockTimeout(located(f"another process has held {lock.name} for over {wait_s:g}s", file=shared))
            yield
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        located(f"another process has held {lock.name} for over {wait_s:g}s", file=shared)
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
