"""An append-safe ledger on object storage: one object per line, merged in order by the reader.

Objects cannot be appended to, and a read-modify-write of one shared object under compare-and-swap
makes every writer re-upload the whole ledger and retry under contention (many generations finishing
at once all record spend). So each ``append`` is one small create-only PUT of a fresh name,

    <key>.d/<UTC time>-<uuid>.rec

which can never conflict with another writer, and ``lines()`` is one listing plus concurrent reads,
ordered by name (writer clock, then uuid). ``compact()`` folds the loose records into one segment
``<key>.d/segments/<time>-<uuid>.jsonl`` whose lines carry each record's name; it writes the segment
*before* deleting what it folded, and readers de-duplicate by name, so a reader racing a compaction
sees every record exactly once. ``extend`` writes many lines as one segment at once (a bulk import).
A record deleted between a reader's listing and its read means a
compaction happened: the reader lists again. Compaction runs under a lease only to avoid wasted
work; two concurrent compactions would still lose nothing.

The ledger is generic over ``Storage`` (it needs listing, concurrent reads, write-once creates,
deletes and leases), so its logic is the same wherever it runs.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from daydream.storage.base import Ledger, Storage, StorageError, check_key, check_line

SEGMENTS = "segments/"
COMPACT_LEASE = "compact.lease"
RECORD_SUFFIX = ".rec"
READ_ATTEMPTS = 8
COMPACT_LEASE_TTL_S = 120.0


def record_name() -> str:
    """Sortable by time, unique by uuid: ``20261130T174812.123456Z-<32 hex>``."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}-{uuid.uuid4().hex}"


class ObjectLedger(Ledger):
    def __init__(self, storage: Storage, key: str):
        self.storage, self.key = storage, check_key(key)
        self.dir = f"{key}.d/"

    def append(self, line: str) -> None:
        data = check_line(line)
        for _ in range(3):  # a uuid collision is not going to happen; a create-only PUT makes sure
            if self.storage.create_exclusive(f"{self.dir}{record_name()}{RECORD_SUFFIX}", data):
                return
        raise StorageError(f"{self.storage.url}{self.dir}: could not create a ledger record")

    def _read(self) -> tuple[dict[str, str], list[str], list[str]]:
        """Every record by name, and the segment and loose keys it was read from (a consistent view)."""
        for _ in range(READ_ATTEMPTS):
            segments: list[str] = []
            loose: list[str] = []
            for info in self.storage.list_prefix(self.dir):
                rest = info.key[len(self.dir) :]
                if rest.startswith(SEGMENTS) and rest.endswith(".jsonl"):
                    segments.append(info.key)
                elif "/" not in rest and rest.endswith(RECORD_SUFFIX):
                    loose.append(info.key)
            got = self.storage.read_many(segments + loose)
            if len(got) < len(segments) + len(loose):
                continue  # folded and deleted by a compaction since the listing: list again
            merged: dict[str, str] = {}
            for key in segments:
                merged.update(self._segment(key, got[key]))
            for key in loose:
                merged[key[len(self.dir) : -len(RECORD_SUFFIX)]] = got[key].decode("utf-8")
            return merged, segments, loose
        raise StorageError(f"{self.storage.url}{self.dir}: the ledger kept changing while it was read")

    def _segment(self, key: str, data: bytes) -> dict[str, str]:
        """A segment's records by name; a line that is not one is an error naming the object and line."""
        out: dict[str, str] = {}
        for number, text in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
            if not text:
                continue
            try:
                entry = json.loads(text)
                name, record = entry["n"], entry["r"]
            except (ValueError, TypeError, KeyError, RecursionError):
                name = record = None
            if not (isinstance(name, str) and isinstance(record, str)):
                raise StorageError(f"{self.storage.url}{key}: line {number}: not a ledger entry (n, r)")
            out[name] = record
        return out

    def entries(self) -> list[tuple[str, str]]:
        """``(record name, line)`` of every line, oldest first: the name says which record a line is."""
        merged = self._read()[0]
        return [(name, merged[name]) for name in sorted(merged)]

    def lines(self) -> list[str]:
        return [line for _, line in self.entries()]

    def extend(self, lines: list[str]) -> None:
        """Many lines as one new segment (one create-only PUT), each named like a record of its own."""
        if not lines:
            return
        batch = record_name()
        body = "".join(
            json.dumps({"n": f"{batch}-{i:09d}", "r": check_line(line).decode("utf-8")}) + "\n"
            for i, line in enumerate(lines)
        )
        if not self.storage.create_exclusive(f"{self.dir}{SEGMENTS}{batch}.jsonl", body.encode("utf-8")):
            raise StorageError(f"{self.storage.url}{self.dir}: segment name collision")

    def compact(self) -> int:
        lease = self.storage.acquire_lease(self.dir + COMPACT_LEASE, COMPACT_LEASE_TTL_S)
        if lease is None:
            return 0  # another worker is compacting
        with lease:
            merged, segments, loose = self._read()
            if not loose and len(segments) <= 1:
                return 0
            body = "".join(json.dumps({"n": name, "r": merged[name]}) + "\n" for name in sorted(merged))
            if not self.storage.create_exclusive(f"{self.dir}{SEGMENTS}{record_name()}.jsonl", body.encode("utf-8")):
                raise StorageError(f"{self.storage.url}{self.dir}: segment name collision")
            for key in segments + loose:  # only after the segment holding them exists
                self.storage.delete(key)
            return len(loose)
