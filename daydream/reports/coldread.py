"""Reading a local store on threads while, and only while, its files come from the disk.

The reports loader (``loader.read_gens``) reads generation directories in chunks of ids. A chunk
served from the page cache is CPU-bound Python and short syscalls: threads only trade the GIL (2x
slower, measured below). A chunk that waited on the disk leaves the GIL free while it waits: there a
pool overlaps the waits (1.5-2.2x faster). Which one a chunk was is told by the bytes the thread had
fetched from the storage layer meanwhile (Linux's ``/proc/thread-self/io``; elsewhere, one thread).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Row = TypeVar("Row")

READ_THREADS = 4
"""Threads a local store is read on once its reads come from the disk (``read_in_chunks``).

Measured on 2 cores (the report benchmark's store, half of a stage's ids on the pool,
the other half on one thread): a store not in the page cache reads 1.5-2.2x faster, with no more
CPU (50,000 evaluations 41.2 s -> 27.9 s wall on 4 threads, 21.0 s CPU both; 8,334 essays 6.3 s ->
3.9 s on 2; 4,167 drafts 2.8 s -> 1.3 s on 4). A store in the cache reads 1.9-2.4x *slower* on
threads (100,000 evaluations, best of 3: 1 thread 6.8 s wall / 6.5 s CPU, 2 threads 12.8 s / 15.9 s,
4 threads 16.5 s / 24.5 s): a generation is some 20 short syscalls, each hands the GIL over, and
the handovers cost more than the overlap saves (a bare loop of those syscalls on 2 threads gains no
wall time either, while 2 processes halve it). Hence threads only for the chunks of ids that follow
one read from the disk (``COLD_CHUNK_BYTES``), as long as they come from the disk.
"""
CHUNK_IDS = 500
"""Ids read as one piece of work, each a probe of whether the reads come from the disk."""
COLD_CHUNK_BYTES = 2 << 20
"""Bytes a chunk fetched from the disk (not the page cache) for the next ones to go to the pool.

Measured 2-23 MiB for 500 generations out of the cache, 0 for 500 in it; 2 MiB is some 500 pages of
the 3,000 a chunk of evaluations reads, about where the pool starts to pay (estimated from the
figures above: a cold generation costs ~10x a cached one, the pool saves ~40% of the first and adds
~100% to the second). The disk's bytes, not the time waited, tell cold from cached: a chunk also
waits when other processes have the cores, and threads then cost the most (1.5-3x the wall time
measured with the machine busy)."""


def disk_reads() -> int | None:
    """Bytes the calling thread has had fetched from the storage layer so far; None where the system
    does not tell (``/proc/thread-self/io`` is Linux's)."""
    try:
        with open("/proc/thread-self/io", "rb") as counters:
            for line in counters:
                if line.startswith(b"read_bytes:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _counted(read: Callable[[list[str]], list[Row]], ids: list[str]) -> tuple[list[Row], bool]:
    """The rows of ``ids``, and whether reading them fetched ``COLD_CHUNK_BYTES`` from the disk."""
    before = disk_reads()
    rows = read(ids)
    after = disk_reads()
    return rows, before is not None and after is not None and after - before >= COLD_CHUNK_BYTES


def read_in_chunks(ids: list[str], read: Callable[[list[str]], list[Row]]) -> list[Row]:
    """``read`` of each chunk of ``ids``, the rows in the order of ``ids``: one chunk at a time on the
    calling thread while they come from the page cache, ``2 * READ_THREADS`` at a time on a pool after
    a chunk that came from the disk, back to the calling thread after a round that all came from the
    cache. ``read`` must be safe to call from several threads at once."""
    chunks = [ids[start : start + CHUNK_IDS] for start in range(0, len(ids), CHUNK_IDS)]
    rows: list[Row] = []
    pool: ThreadPoolExecutor | None = None
    done, cold = 0, False
    try:
        while done < len(chunks):
            if cold and READ_THREADS > 1:
                pool = pool or ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="read_gens")
                batch = chunks[done : done + 2 * READ_THREADS]
                parts = list(pool.map(lambda chunk: _counted(read, chunk), batch))
            else:
                batch = chunks[done : done + 1]
                parts = [_counted(read, batch[0])]
            done += len(batch)
            for part, _ in parts:
                rows += part
            cold = any(from_disk for _, from_disk in parts)
    finally:  # on an error, no chunk may start or go on reading once the caller closes its descriptors
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return rows
