"""The real S3 server and real worker processes for the storage tests.

``s3_server`` (session fixture) runs one SeaweedFS for the whole session and checks, when it stops,
that no process of it is left. ``storage_spec`` is parametrised over the two backends; a spec is a
plain tuple, so worker processes (spawned, not forked: s3fs runs an event-loop thread) reopen the
same storage. The worker functions live here because spawned children must import them by name.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import s3fs  # noqa: F401  (imported once by the forkserver, not by every worker)

from daydream.storage import S3Settings, Semaphore, Storage, open_storage
from daydream.storage.seaweedfs import SeaweedServer

Spec = tuple[str, str, S3Settings | None]
"""(backend name, root path or URL, S3 settings): everything a worker process needs to reopen a storage."""


def open_spec(spec: Spec) -> Storage:
    return open_storage(spec[1], s3=spec[2])


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    server = SeaweedServer(tmp_path_factory.mktemp("seaweedfs")).start()
    assert server.process is not None
    pid = server.process.pid
    try:
        yield server
    finally:
        server.stop()
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.fixture
def s3_env(s3_server: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> SeaweedServer:
    """Credentials the way a lab without Airflow gives them: the standard AWS variables."""
    settings = s3_server.settings
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", settings.access_key or "")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", settings.secret_key or "")
    monkeypatch.setenv("AWS_ENDPOINT_URL", settings.endpoint_url or "")
    return s3_server


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.objstore)])
def storage_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Spec:
    """A fresh, empty storage root on each backend (a new prefix in the shared bucket for S3)."""
    if request.param == "local":
        return ("local", str(tmp_path / "root"), None)
    server: SeaweedServer = request.getfixturevalue("s3_server")
    return ("s3", server.url(f"t-{uuid.uuid4().hex[:12]}"), server.settings)


@pytest.fixture
def storage(storage_spec: Spec) -> Storage:
    return open_spec(storage_spec)


START = "<start>"
"""Placeholder in a worker's arguments for the common start instant, fixed once every worker is ready."""


def _child(target: Callable[..., Any], args: tuple[Any, ...], barrier: Any, start: Any, queue: Any, index: int) -> None:
    barrier.wait()
    at = start.get(timeout=60)
    try:
        queue.put((index, True, target(*(at if arg == START else arg for arg in args))))
    except BaseException as exc:  # reported to the test, which fails with it
        queue.put((index, False, f"{type(exc).__name__}: {exc}"))


def worker_context() -> Any:
    """Forkserver: each worker forks from one server process that imported the storage stack once
    (fast, and safe: never a fork of the test process, whose threads may hold locks)."""
    context = multiprocessing.get_context("forkserver")
    # (Python 3.11's forkserver ignores sys.path, so tests/ modules cannot be preloaded; these can)
    context.set_forkserver_preload(["pytest", "psutil", "s3fs", "botocore.session", "daydream.storage"])
    return context


def run_processes(
    target: Callable[..., Any], argsets: list[tuple[Any, ...]], timeout_s: float = 240
) -> tuple[list[Any], float]:
    """Run ``target(*args)`` in one process per argset, released together once all are ready (a
    barrier), so they really race. Returns their results in order and the start instant that
    replaced ``START`` in their arguments."""
    context = worker_context()
    barrier = context.Barrier(len(argsets) + 1)
    start = context.Queue()
    queue = context.Queue()
    processes = [
        context.Process(target=_child, args=(target, args, barrier, start, queue, i)) for i, args in enumerate(argsets)
    ]
    for process in processes:
        process.start()
    try:
        barrier.wait(timeout=120)
        at = time.time() + 0.5
        for _ in processes:
            start.put(at)
        results: dict[int, Any] = {}
        for _ in processes:
            index, ok, value = queue.get(timeout=timeout_s)
            assert ok, f"worker {index} failed: {value}"
            results[index] = value
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
    return [results[i] for i in range(len(argsets))], at


def wait_until(instant: float) -> None:
    time.sleep(max(0.0, instant - time.time()))


# ---- workers (run in child processes) ----


def worker_create_once(spec: Spec, key: str, me: int, start_at: float) -> bool:
    storage = open_spec(spec)
    wait_until(start_at)
    return storage.create_exclusive(key, f"writer-{me}".encode())


def payload(writer: int, version: int, size: int) -> bytes:
    """Self-checking content: a header naming its writer and version, then a body only it would write."""
    head = f"{writer}:{version}:".encode()
    return head + bytes([65 + (writer * 7 + version) % 26]) * (size - len(head))


def payload_ok(data: bytes, size: int) -> bool:
    writer, version, _ = data.split(b":", 2)
    return data == payload(int(writer), int(version), size)


def worker_overwrite(spec: Spec, key: str, me: int, versions: int, size: int, start_at: float) -> int:
    storage = open_spec(spec)
    wait_until(start_at)
    for version in range(versions):
        storage.write_bytes(key, payload(me, version, size))
    return versions


def worker_read_whole(spec: Spec, key: str, size: int, start_at: float, run_s: float) -> tuple[int, int]:
    """Reads for ``run_s`` seconds from the start; returns (reads, torn reads)."""
    storage = open_spec(spec)
    reads = torn = 0
    while time.time() < start_at + run_s:
        try:
            data = storage.read_bytes(key)
        except FileNotFoundError:
            continue
        reads += 1
        torn += not payload_ok(data, size)
    return reads, torn


def worker_lease_loop(spec: Spec, key: str, ttl_s: float, run_s: float, start_at: float, seed: int) -> list[Any]:
    """Take the lease whenever possible and "work" under it; sometimes die holding it (stop renewing).

    Returns the intervals (wall clock) during which this process believed it held the lease, each
    checked with ``valid()`` at both ends, so the test can prove no two processes' intervals overlap.
    """
    rng = random.Random(seed)
    storage = open_spec(spec)
    wait_until(start_at)
    intervals: list[Any] = []
    end = start_at + run_s
    while time.time() < end:
        lease = storage.acquire_lease(key, ttl_s)
        if lease is None:
            time.sleep(rng.uniform(0.02, 0.1))
            continue
        began = last = time.time()
        for _ in range(rng.randint(1, 3)):  # work, renewing between steps
            time.sleep(rng.uniform(0.05, 0.3))
            if not lease.valid():
                break
            last = time.time()
            if not lease.renew():
                break
        intervals.append((began, last, f"{os.getpid()}-{uuid.uuid4().hex[:6]}"))
        if rng.random() < 0.2:
            # die holding it: never renew nor release; others must wait for the expiry
            abandoned = lease
            time.sleep(ttl_s * 0.2)
            del abandoned
            continue
        lease.release()
    return intervals


def worker_semaphore(
    spec: Spec, prefix: str, schedule: list[tuple[float, int]], run_s: float, start_at: float
) -> list[Any]:
    """Hold slots of the semaphore whenever allowed; N follows ``schedule`` [(seconds after the start, N)].

    Each hold is (began, ended, N asked for, slot, asked at): on a loaded object store an acquire can take
    most of a second, so what N a hold was granted under is known by when it asked, not when it began.
    """
    storage = open_spec(spec)
    semaphore = Semaphore(storage, prefix, ttl_s=30.0)
    wait_until(start_at)
    held: list[Any] = []
    end = start_at + run_s
    while time.time() < end:
        now = time.time() - start_at
        slots = [n for since, n in schedule if since <= now][-1]
        asked = time.time()
        lease = semaphore.try_acquire(slots)
        if lease is None:
            time.sleep(0.02)
            continue
        began = time.time()
        time.sleep(random.uniform(0.02, 0.15))
        held.append((began, time.time(), slots, semaphore.slot_of(lease), asked))
        lease.release()
    return held


def worker_ledger(spec: Spec, key: str, me: int, count: int, start_at: float, compact_every: int) -> int:
    storage = open_spec(spec)
    ledger = storage.ledger(key)
    wait_until(start_at)
    for i in range(count):
        ledger.append(json.dumps({"writer": me, "i": i}))
        if compact_every and i % compact_every == compact_every - 1:
            ledger.compact()
    return count
