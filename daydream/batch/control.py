"""Waiting for, cancelling and collecting open batches: the trigger's poll (async), the CLI's (sync).

One poll reads each open manifest, sends a cancellation someone asked for (``cancel_requested``:
``daydream batch cancel``, a cancelled cohort run), asks the provider for the batch's status and
records it in the manifest. A batch is waited for until the provider says it ended; then its results
are collected (``collect.collect_batch``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from daydream.batch.collect import collect_batch
from daydream.batch.lane import Connect
from daydream.batch.manifest import BatchManifest, BatchManifests
from daydream.call_plan import RunOptions
from daydream.errors import DayDreamError
from daydream.llm.batch import BatchAdapter, BatchStatus
from daydream.paths import DataLayout
from daydream.store import utc_now

log = logging.getLogger("daydream.batch")


def _record(manifests: BatchManifests, key: str, status: BatchStatus, cancelled: bool) -> BatchManifest:
    def change(m: BatchManifest) -> None:
        m.polled(status)
        if cancelled:
            m.cancel_sent = True

    return manifests.update(key, change)


def _waiting(manifest: BatchManifest) -> bool:
    return manifest.state == "submitted" and manifest.batch_id is not None


def poll(manifests: BatchManifests, keys: Iterable[str], adapter: BatchAdapter) -> list[str]:
    """One poll of these batches (cancellations sent first); the keys still running."""
    running = []
    for key in keys:
        manifest = manifests.read(key)
        if not _waiting(manifest):
            continue
        cancel = bool(manifest.cancel_requested) and not manifest.cancel_sent
        status = adapter.cancel(str(manifest.batch_id)) if cancel else adapter.status(str(manifest.batch_id))
        if not _record(manifests, key, status, cancel).state == "ended":
            running.append(key)
    return running


async def apoll(manifests: BatchManifests, keys: Iterable[str], adapter: BatchAdapter) -> list[str]:
    """``poll`` on the running loop (the triggerer): the files are read and written off the loop."""
    running = []
    for key in keys:
        manifest = await asyncio.to_thread(manifests.read, key)
        if not _waiting(manifest):
            continue
        cancel = bool(manifest.cancel_requested) and not manifest.cancel_sent
        batch_id = str(manifest.batch_id)
        status = await (adapter.acancel(batch_id) if cancel else adapter.astatus(batch_id))
        updated = await asyncio.to_thread(_record, manifests, key, status, cancel)
        if updated.state != "ended":
            running.append(key)
    return running


async def acancel_now(manifests: BatchManifests, keys: Iterable[str], adapter: BatchAdapter, reason: str) -> None:
    """Cancel these batches at once (the Airflow task was killed by a user): marked, then sent."""
    for key in keys:
        await asyncio.to_thread(request_cancel, manifests, [key], reason)
    await apoll(manifests, keys, adapter)


def request_cancel(manifests: BatchManifests, keys: Iterable[str] | None, reason: str) -> list[str]:
    """Mark open batches to be cancelled (the next poll, the trigger's or the CLI's, sends it)."""
    marked = []
    for manifest in manifests.all():
        if not manifest.is_open or (keys is not None and manifest.key not in keys) or manifest.cancel_requested:
            continue

        def mark(m: BatchManifest) -> None:
            m.cancel_requested = f"{reason} ({utc_now()})"

        manifests.update(manifest.key, mark)
        marked.append(manifest.key)
    return marked


def cancel_batches(
    layout: DataLayout, cohort_id: str, *, keys: Iterable[str] | None, reason: str, connect: Connect | None
) -> list[dict[str, Any]]:
    """``daydream batch cancel``: mark the cohort's open batches, then send each cancellation now when
    the provider can be reached (else the waiting Airflow task sends it on its next poll)."""
    manifests = BatchManifests(layout, cohort_id)
    wanted = set(keys) if keys is not None else None
    marked = set(request_cancel(manifests, wanted, reason))
    report = []
    for manifest in manifests.all():
        if not manifest.is_open or not manifest.cancel_requested or (wanted is not None and manifest.key not in wanted):
            continue
        entry: dict[str, Any] = {"key": manifest.key, "batch_id": manifest.batch_id, "marked": manifest.key in marked}
        if connect is not None and _waiting(manifest) and not manifest.cancel_sent:
            try:
                adapter = connect(manifest.api, manifest.conn_id)
                try:
                    check_endpoint(manifest, adapter)
                    poll(manifests, [manifest.key], adapter)
                    entry["sent"] = True
                finally:
                    adapter.close()
            except DayDreamError as exc:
                entry["sent"], entry["error"] = False, str(exc)
        report.append(entry)
    return report


def check_endpoint(manifest: BatchManifest, adapter: BatchAdapter) -> None:
    """A batch lives at the endpoint it was submitted to; refuse to ask another one about it."""
    if adapter.settings.base_url != manifest.base_url:
        raise DayDreamError(
            f"batch {manifest.key} was submitted to {manifest.base_url}, not {adapter.settings.base_url}: "
            f"point the {manifest.api} batch endpoint there (docs/llm.md, 'Batch lane')"
        )


def collect_open(
    layout: DataLayout,
    cohort_id: str,
    *,
    connect: Connect,
    options: RunOptions,
    keys: Iterable[str] | None = None,
    wait_s: float = 0.0,
    poll_s: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """Poll the cohort's open batches (until they end, for at most ``wait_s``) and collect the ended
    ones: the CLI's ``daydream batch collect``, and the lane when nothing else waits for it."""
    manifests = BatchManifests(layout, cohort_id)
    wanted = [m for m in manifests.all() if m.is_open and (keys is None or m.key in set(keys))]
    outcomes: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait_s
    for api in sorted({m.api for m in wanted}):
        group = [m for m in wanted if m.api == api]
        adapter = connect(api, group[0].conn_id)
        try:
            for manifest in group:
                check_endpoint(manifest, adapter)
            running = poll(manifests, [m.key for m in group], adapter)
            while running and time.monotonic() < deadline:
                sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
                running = poll(manifests, running, adapter)
            for manifest in group:
                current = manifests.read(manifest.key)
                if current.state == "ended":
                    outcomes += collect_batch(layout, current, adapter, options=options)
        finally:
            adapter.close()
    return outcomes
