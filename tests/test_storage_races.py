"""Concurrency promises, proven with real processes against real storage (local disk and SeaweedFS S3)."""

# ruff: noqa: F811  (the fixtures are imported from storage_harness and requested by name)
from __future__ import annotations

import json
import time
import uuid

import pytest
from storage_harness import (  # noqa: F401  (fixtures)
    START,
    Spec,
    open_spec,
    payload,
    run_processes,
    s3_server,
    storage_spec,
    worker_create_once,
    worker_lease_loop,
    worker_ledger,
    worker_overwrite,
    worker_read_whole,
    worker_semaphore,
)

from daydream.storage import S3Storage
from daydream.storage.leases import LeaseBody

pytestmark = pytest.mark.timing  # make test keeps it from running beside a scheduler test

PROCESSES = 8


def overlaps(intervals: list[tuple[float, float, str]]) -> list[tuple]:
    ordered = sorted(intervals)
    return [(a, b) for a, b in zip(ordered, ordered[1:], strict=False) if b[0] < a[1] and a[2] != b[2]]


def test_create_exclusive_has_exactly_one_winner(storage_spec: Spec) -> None:
    for round_no in range(2):
        key = f"gens/draft/g{round_no}/metadata.json"
        results, _ = run_processes(worker_create_once, [(storage_spec, key, i, START) for i in range(PROCESSES)])
        assert results.count(True) == 1, results
        winner = results.index(True)
        assert open_spec(storage_spec).read_bytes(key) == f"writer-{winner}".encode()


def test_overwrites_are_atomic_for_concurrent_readers(storage_spec: Spec) -> None:
    size = 256 * 1024
    key = "gens/draft/g1/raw.txt"
    open_spec(storage_spec).write_bytes(key, payload(99, 0, size))
    writers = [("write", (storage_spec, key, i, 15, size, START)) for i in range(3)]
    readers = [("read", (storage_spec, key, size, START, 5.0))] * 3
    results, _ = run_processes(_dispatch, [(kind, *args) for kind, args in writers + readers])
    reads = [r for r in results if isinstance(r, tuple)]
    assert sum(n for n, _ in reads) > 10
    assert sum(torn for _, torn in reads) == 0


def _dispatch(kind: str, *args: object) -> object:
    return worker_overwrite(*args) if kind == "write" else worker_read_whole(*args)  # type: ignore[arg-type]


def test_lease_never_has_two_holders(storage_spec: Spec) -> None:
    """Processes grab, renew, release and abandon one lease for a while; no two believe they hold it at once."""
    ttl = 2.0 if storage_spec[0] == "s3" else 1.0
    results, _ = run_processes(
        worker_lease_loop, [(storage_spec, "locks/one", ttl, 10.0, START, seed) for seed in range(6)]
    )
    intervals = [iv for per_process in results for iv in per_process]
    assert len(intervals) >= 6, intervals
    assert len({iv[2].split("-")[0] for iv in intervals}) >= 2  # the lease really changed hands between processes
    assert overlaps(intervals) == []


@pytest.mark.objstore
def test_expired_lease_taken_over_by_exactly_one(s3_server) -> None:  # noqa: F811
    """An abandoned lease object: after its TTL (server clock) many racers CAS it, exactly one wins."""
    spec: Spec = ("s3", s3_server.url(f"t-{uuid.uuid4().hex[:12]}"), s3_server.settings)
    storage = open_spec(spec)
    assert isinstance(storage, S3Storage)
    dead = storage.acquire_lease("locks/expired", 1.0, owner="dead-worker")
    assert dead is not None
    assert storage.acquire_lease("locks/expired", 1.0) is None  # live: refused
    time.sleep(1.0 + 2.0 + 1.2)  # ttl, the one-second slack of both clocks, and a margin
    assert not dead.valid()
    results, _ = run_processes(_take_lease, [(spec, "locks/expired", START)] * PROCESSES)
    assert results.count(True) == 1, results
    body = LeaseBody.decode(storage.read_bytes("locks/expired"))
    assert body is not None and body.owner != "dead-worker"
    assert dead.renew() is False  # the old holder learns it lost the lease instead of clobbering it


def _take_lease(spec: Spec, key: str, at: float) -> bool:
    from storage_harness import wait_until

    storage = open_spec(spec)
    wait_until(at)
    lease = storage.acquire_lease(key, 60.0)
    return lease is not None


def test_semaphore_never_over_n(storage_spec: Spec) -> None:
    """Eight processes contend for a semaphore whose N goes 3 -> 5 -> 2 while they run."""
    schedule = [(0.0, 3), (3.5, 5), (7.0, 2)]
    results, at = run_processes(worker_semaphore, [(storage_spec, "pools/llm_api_paid", schedule, 10.0, START)] * 8)
    holds = [h for per_process in results for h in per_process]
    assert len(holds) >= 30
    assert all(slot < slots for _, _, slots, slot, _ in holds)
    events = sorted([(h[0], 1, h) for h in holds] + [(h[1], -1, h) for h in holds], key=lambda e: (e[0], e[1]))
    active: set = set()
    for _, step, hold in events:
        if step == -1:
            active.discard(hold)
            continue
        active.add(hold)
        # each slot has one holder, and a holder took a slot below the N it was given: so never more
        # holders than the largest N among them (a shrink lets holders of higher slots finish first)
        assert len({h[3] for h in active}) == len(active), active
        assert len(active) <= max(h[2] for h in active), active
    # asked after the shrink: granted only the two slots left, however long the acquire took
    after_shrink = [h for h in holds if h[4] >= at + 7.0 + 0.05]
    assert after_shrink and all(h[2] == 2 and h[3] < 2 for h in after_shrink)
    assert max(len({h[3] for h in holds if h[2] == n}) for n in (3, 5)) >= 3  # slots really were shared


def test_ledger_loses_nothing_under_concurrent_writers(storage_spec: Spec) -> None:
    count = 40 if storage_spec[0] == "s3" else 200
    argsets = [
        (storage_spec, "cohorts/demo/runs/spend.jsonl", i, count, START, 15 if i == 0 else 0) for i in range(PROCESSES)
    ]
    assert run_processes(worker_ledger, argsets)[0] == [count] * PROCESSES
    ledger = open_spec(storage_spec).ledger("cohorts/demo/runs/spend.jsonl")
    records = [json.loads(line) for line in ledger.lines()]
    assert len(records) == count * PROCESSES
    assert {(r["writer"], r["i"]) for r in records} == {(w, i) for w in range(PROCESSES) for i in range(count)}
    for writer in range(PROCESSES):  # each writer's own lines stay in its order
        assert [r["i"] for r in records if r["writer"] == writer] == list(range(count))
