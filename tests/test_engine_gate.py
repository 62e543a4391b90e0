"""The gate of the trigger path: a pool's slots hold across processes, follow a resize within a poll,
and a stopped model admits nothing. Real storage (a local data root; SeaweedFS for object storage),
real processes, real asyncio; the calls are sleeps, the LLM side is tested in test_engine_generation."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
from storage_harness import Spec, s3_server, storage_spec  # noqa: F401  (fixtures)

from daydream.engine.gate import CallGate, FixedPoolSizes
from daydream.engine.quota import QuotaStop, QuotaStopped
from daydream.storage import LocalStorage

pytestmark = pytest.mark.timing  # make test keeps it from running beside a scheduler test

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import asyncio, json, sys, time
from daydream.engine.gate import CallGate, FixedPoolSizes
from daydream.storage import S3Settings, open_storage

spec = json.loads(sys.argv[1])
storage = open_storage(spec["root"], s3=S3Settings(**spec["s3"]) if spec["s3"] else None)

async def main():
    gate = CallGate(storage, FixedPoolSizes({"llm_api_paid": spec["slots"]}), poll_s=spec["poll_s"])
    intervals = []

    async def one(i):
        async with gate.slot("llm_api_paid", f"model-{i % 2}"):
            started = time.time()
            await asyncio.sleep(spec["hold_s"])
            intervals.append((started, time.time()))

    while time.time() < spec["start_at"]:
        await asyncio.sleep(0.01)
    await asyncio.gather(*(one(i) for i in range(spec["calls"])))
    print(json.dumps(intervals))

asyncio.run(main())
"""


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    peak = now = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def test_slots_hold_across_processes(storage_spec: Spec) -> None:  # noqa: F811
    """Three processes, 12 calls each, one pool of 4: never more than 4 in flight, and all 4 used."""
    backend, root, s3 = storage_spec
    spec = {
        "root": root,
        "s3": asdict(s3) if s3 else None,
        "slots": 4,
        "calls": 12,
        "hold_s": 0.3 if backend == "local" else 1.0,
        "poll_s": 0.05 if backend == "local" else 0.3,
        "start_at": time.time() + 4,
    }
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(spec)], stdout=subprocess.PIPE, cwd=REPO)
        for _ in range(3)
    ]
    results = [json.loads(child.communicate(timeout=180)[0]) for child in children]
    assert all(child.returncode == 0 for child in children)
    intervals = [tuple(i) for result in results for i in result]
    assert len(intervals) == 36
    assert peak_overlap(intervals) == 4
    assert all(len(result) == 12 for result in results)


def run(coro):
    return asyncio.run(coro)


def test_a_resized_pool_takes_effect_at_the_next_poll(tmp_path: Path) -> None:
    sizes = FixedPoolSizes({"pool": 4})
    in_flight: list[tuple[float, int]] = []

    async def main() -> None:
        gate = CallGate(LocalStorage(tmp_path), sizes, poll_s=0.05)
        running = 0

        async def one() -> None:
            nonlocal running
            async with gate.slot("pool", "m"):
                running += 1
                in_flight.append((time.monotonic(), running))
                await asyncio.sleep(0.2)
                running -= 1

        calls = [asyncio.ensure_future(one()) for _ in range(60)]
        await asyncio.sleep(0.5)
        sizes.sizes["pool"] = 1
        shrunk = time.monotonic()
        await asyncio.sleep(1.5)
        sizes.sizes["pool"] = 6
        grown = time.monotonic()
        await asyncio.gather(*calls)
        marks["shrunk"], marks["grown"] = shrunk, grown

    marks: dict[str, float] = {}
    run(main())
    before = [n for t, n in in_flight if t < marks["shrunk"]]
    drained = [n for t, n in in_flight if marks["shrunk"] + 0.3 < t < marks["grown"]]
    after = [n for t, n in in_flight if t > marks["grown"]]
    assert max(before) == 4
    assert drained and max(drained) == 1, "calls in flight at the shrink finish, then one at a time"
    assert max(after) == 6


def test_a_stopped_model_admits_nothing_and_its_waiters_end(tmp_path: Path) -> None:
    async def main() -> list[str]:
        gate = CallGate(LocalStorage(tmp_path), FixedPoolSizes({"pool": 1}), poll_s=0.05)
        held = await gate.acquire("pool", "free-model")
        waiting = [asyncio.ensure_future(gate.acquire("pool", "free-model")) for _ in range(3)]
        other = asyncio.ensure_future(gate.acquire("pool", "paid-model"))
        await asyncio.sleep(0.1)
        stop = QuotaStop("f", "free-model", time.time() + 3600, "HTTP 429: free-models-per-day")
        gate.stop_model("pool", "free-model", stop)
        results = await asyncio.gather(*waiting, return_exceptions=True)
        gate.release(held)
        slot = await asyncio.wait_for(other, 2)  # the other model gets the slot
        gate.release(slot)
        with pytest.raises(QuotaStopped):
            await gate.acquire("pool", "free-model")
        return [type(r).__name__ for r in results]

    assert run(main()) == ["QuotaStopped"] * 3


def test_a_cancelled_waiter_gives_its_place_and_slot_on(tmp_path: Path) -> None:
    async def main() -> dict:
        gate = CallGate(LocalStorage(tmp_path), FixedPoolSizes({"pool": 2}), poll_s=0.05)
        first = [await gate.acquire("pool", "m") for _ in range(2)]
        waiters = [asyncio.ensure_future(gate.acquire("pool", "m")) for _ in range(4)]
        await asyncio.sleep(0.05)
        waiters[0].cancel()
        for slot in first:
            gate.release(slot)
        got = await asyncio.wait_for(asyncio.gather(*waiters[1:3]), 2)
        for slot in got:
            gate.release(slot)
        last = await asyncio.wait_for(waiters[3], 2)
        gate.release(last)
        await asyncio.sleep(0.2)
        return gate.stats()["pool"]

    stats = run(main())
    assert stats["in_flight"] == 0 and stats["peak"] == 2 and stats["held"] == 0
