"""Local disk: what DayDream does today, behind the storage interface.

Atomic writes are ``daydream.atomic`` (temporary file, fsync, rename; ``os.link`` for write-once),
leases are ``flock`` locks (the kernel drops them when the holder dies, so the TTL has nothing to
do here), and a ledger is one file appended with ``O_APPEND``. Nothing here costs more than the code
it replaces: a local data root keeps today's performance.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from daydream import atomic
from daydream.storage.base import Lease, Ledger, ObjectInfo, Storage, StorageError, check_key, check_line, default_owner


class FlockLease(Lease):
    """An ``flock`` on the lease file, held through an open descriptor for as long as the lease lives."""

    def __init__(self, key: str, owner: str, ttl_s: float, fd: int):
        self.key, self.owner, self.ttl_s = key, owner, ttl_s
        self._fd: int | None = fd

    def valid(self) -> bool:
        return self._fd is not None

    def renew(self) -> bool:
        """Nothing to extend: the kernel holds the lock until release or death."""
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __del__(self) -> None:  # a dropped lease must not hold its descriptor (and the lock) forever
        self.release()


class AppendLedger(Ledger):
    """One file, one line per record, each appended with a single ``O_APPEND`` write.

    POSIX makes an ``O_APPEND`` write land at the end atomically, and Linux serialises writes to one
    regular file, so concurrent writers on this machine never interleave or lose lines (today's
    spend-ledger design).
    """

    def __init__(self, path: Path, key: str):
        self.path, self.key = path, key

    def append(self, line: str) -> None:
        data = check_line(line) + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, data)
        finally:
            os.close(fd)
        if written != len(data):
            raise StorageError(f"{self.path}: short append ({written} of {len(data)} bytes); disk full?")

    def lines(self) -> list[str]:
        try:
            text = self.path.read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return []
        return [line for line in text.split("\n") if line]


class LocalStorage(Storage):
    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True):
        self.root = Path(root)
        self.fsync = fsync
        self.url = self.root.resolve().as_uri()

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def write_bytes(self, key: str, data: bytes) -> None:
        atomic.write_bytes(self.path(key), data, fsync=self.fsync)

    def create_exclusive(self, key: str, data: bytes) -> bool:
        return atomic.create_exclusive(self.path(key), data)

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def list_prefix(self, prefix: str) -> list[ObjectInfo]:
        check_key(prefix, allow_dir=True)
        top = self.root / prefix if prefix else self.root
        out: list[ObjectInfo] = []
        stack = [(top, prefix if not prefix or prefix.endswith("/") else prefix + "/")]
        while stack:
            directory, rel = stack.pop()
            try:
                entries = os.scandir(directory)
            except (FileNotFoundError, NotADirectoryError):
                continue
            with entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((Path(entry.path), f"{rel}{entry.name}/"))
                    elif entry.is_file(follow_symlinks=False):
                        out.append(ObjectInfo(rel + entry.name, entry.stat(follow_symlinks=False).st_size))
        out.sort(key=lambda info: info.key)
        return out

    def read_many(self, keys: Iterable[str], *, concurrency: int | None = None) -> dict[str, bytes]:
        """Sequential by default: on a local disk a thread pool only adds overhead (see the benchmark);
        ``concurrency`` > 1 uses threads, for network filesystems."""
        wanted = list(keys)

        def one(key: str) -> tuple[str, bytes | None]:
            try:
                return key, self.path(key).read_bytes()
            except FileNotFoundError:
                return key, None

        if concurrency and concurrency > 1:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                pairs = list(pool.map(one, wanted))
        else:
            pairs = [one(key) for key in wanted]
        return {key: data for key, data in pairs if data is not None}

    def delete(self, key: str) -> None:
        try:
            os.unlink(self.path(key))
        except FileNotFoundError:
            pass

    def acquire_lease(self, key: str, ttl_s: float, *, owner: str | None = None) -> Lease | None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        owner = owner or default_owner()
        os.ftruncate(fd, 0)  # who holds it, for a person looking; the lock itself is the flock
        os.pwrite(fd, json.dumps({"owner": owner}).encode() + b"\n", 0)
        return FlockLease(key, owner, ttl_s, fd)

    def ledger(self, key: str) -> Ledger:
        return AppendLedger(self.path(key), key)
