"""One generation on an event loop: the runner's steps, each in a worker thread, around an async call.

The same steps as ``StageRunner.run`` (lock, ``prepare``, quota check, call, ``record_answer``,
``finish``), so the trigger path keeps every rule of the store: done work is skipped, a kept raw answer
is re-judged without a call, the raw answer is written before validation and the spend ledger right
after it. Only the call differs: an awaited coroutine (a slot of the pool, the model's limit, the async
client) instead of a blocking ``complete``.

File I/O never runs on the event loop: every step goes through ``offload`` (a worker thread). Once an
answer has arrived, recording it is shielded from cancellation: a triggerer that is shutting down
still writes the answer it paid for before the trigger ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from daydream.engine.genlock import ahold_generation
from daydream.engine.quota import QuotaStopped
from daydream.errors import DayDreamError
from daydream.llm.types import LLMResult
from daydream.outcome import GenerationOutcome, outcome
from daydream.paths import Stage

if TYPE_CHECKING:
    from daydream.call_plan import CallPlan
    from daydream.runner import StageRunner

__all__ = ["DEFAULT_BUSY_WAIT_S", "run_async"]

DEFAULT_BUSY_WAIT_S = 900.0
"""How long a generation waits for another holder of its lock before it ends ``busy``."""

Offload = Callable[..., Awaitable[Any]]


async def run_async(
    runner: StageRunner,
    stage: Stage,
    gen_id: str,
    acall: Callable[[CallPlan], Awaitable[LLMResult]],
    *,
    offload: Offload = asyncio.to_thread,
    busy_wait_s: float = DEFAULT_BUSY_WAIT_S,
) -> GenerationOutcome:
    """The generation's outcome; generation-level failures are outcomes (state ``failed``), not raised."""
    try:
        missing = await offload(runner.missing_outcome, stage, gen_id)
        if missing is not None:
            return missing
        path, key = await offload(runner.lock_target, stage, gen_id)
        async with ahold_generation(runner.storage, path, key, offload=offload, wait_s=busy_wait_s) as acquired:
            if not acquired:
                return outcome(stage, gen_id, "busy", f"another process held this generation for {busy_wait_s:g}s")
            try:
                step = await offload(runner.prepare, stage, gen_id)
                if isinstance(step, GenerationOutcome):
                    return step
                return await _call(runner, step, acall, offload)
            finally:
                await offload(runner.index_outcome, stage, gen_id)
    except DayDreamError as exc:  # the directory itself is unusable (a file, unreadable, a bad id)
        return outcome(stage, gen_id, "failed", str(exc))


async def _call(
    runner: StageRunner, plan: CallPlan, acall: Callable[[CallPlan], Awaitable[LLMResult]], offload: Offload
) -> GenerationOutcome:
    stopped = await offload(runner.quota_outcome, plan)
    if stopped is not None:
        return stopped
    started = time.monotonic()
    try:
        result = await acall(plan)
    except QuotaStopped as stop:
        return outcome(plan.stage, plan.gen_id, "quota", stop.stop.describe())
    except DayDreamError as exc:
        quota = await offload(runner.quota_outcome, plan, exc)
        return quota if quota is not None else await offload(runner.record_call_failure, plan, exc)
    if not result.duration_s:
        result.duration_s = round(time.monotonic() - started, 3)
    # Paid for: record it even if the trigger is cancelled meanwhile (the thread would finish anyway,
    # but the lock must stay held until it has).
    recording = asyncio.ensure_future(_record(runner, plan, result, offload))
    try:
        return await asyncio.shield(recording)
    except asyncio.CancelledError:
        await asyncio.wait({recording})
        raise


async def _record(runner: StageRunner, plan: CallPlan, result: LLMResult, offload: Offload) -> GenerationOutcome:
    try:
        await offload(runner.record_answer, plan, result)
    except DayDreamError as exc:
        return outcome(plan.stage, plan.gen_id, "failed", f"the answer could not be saved: {exc}", called_llm=True)
    return await offload(runner.finish, plan, result)
