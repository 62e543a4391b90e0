"""The storage interface every DayDream write path goes through: local disk or object storage.

Why an interface of its own rather than a filesystem API: the operations DayDream needs are the ones
object stores do natively (a PUT is atomic, a conditional PUT is a compare-and-swap, one paginated
LIST returns thousands of names and sizes). Expressing them directly keeps the object-storage path
fast and correct instead of emulating POSIX (rename, ``flock``, ``O_APPEND``) on top of it, while the
local implementation keeps exactly today's behaviour and speed.

Keys are ``/``-separated paths relative to the storage root (``gens/draft/<gen_id>/raw.txt``); the
same key names the same thing on every backend.
"""

from __future__ import annotations

import os
import socket
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

from daydream.errors import DayDreamError, shown


class StorageError(DayDreamError):
    """The storage refused an operation, or a key is malformed."""


class UnsupportedStorage(StorageError):
    """A data root URL or store lacks what DayDream needs (a scheme, conditional writes)."""


class LeaseLost(StorageError):
    """A lease was taken over (it expired before its holder renewed it): stop the protected work."""


@dataclass(frozen=True)
class ObjectInfo:
    """One entry of a listing: the key relative to the storage root, its size in bytes, and the ETag
    object storage lists with it (``""`` locally): what tells a reader an object changed."""

    key: str
    size: int
    etag: str = ""


def check_key(key: str, *, allow_dir: bool = False) -> str:
    """``key`` when it is a relative path without empty, ``.`` or ``..`` components.

    Object stores accept almost any key, so the rule lives here, once, for every backend: a key that
    could climb out of the root locally (``..``) or name a different object remotely (``a//b``) is
    refused. ``allow_dir`` admits the empty key and a trailing ``/`` (listing prefixes).
    """
    body = key
    if allow_dir:
        if body == "":
            return key
        body = body[:-1] if body.endswith("/") else body
    parts = body.split("/")
    if not body or body.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in body:
        raise StorageError(f"invalid storage key {shown(key)}: expected a relative path like 'gens/draft/x/raw.txt'")
    return key


def default_owner() -> str:
    """Who holds a lease, for people reading the lease object: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease(ABC):
    """Exclusive hold on a key until released, renewed, or (object storage) expired.

    A holder checks ``valid()`` before protected work and renews well before ``ttl_s`` passes; once
    ``valid()`` is false another worker may hold the key, so the holder must stop.
    """

    key: str
    owner: str
    ttl_s: float

    @abstractmethod
    def valid(self) -> bool:
        """Whether this holder may still act: held, not released, not past its expiry."""

    def ensure_valid(self) -> None:
        """Raise ``LeaseLost`` unless this holder may still act: call it right before protected work."""
        if not self.valid():
            raise LeaseLost(f"lost the lease {shown(self.key)} (owner {shown(self.owner)}): another worker may hold it")

    @abstractmethod
    def renew(self) -> bool:
        """Extend the hold by ``ttl_s`` from now; False (and ``valid()`` false) when it was lost."""

    @abstractmethod
    def release(self) -> None:
        """Give the key up at once (idempotent); a lost lease is left to its new holder."""

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Ledger(ABC):
    """A log several writers on several machines append lines to; no line is ever lost.

    Locally it is one file appended with ``O_APPEND``; on object storage one object per line (see
    ``daydream.storage.ledger``), since objects cannot be appended to.
    """

    key: str

    @abstractmethod
    def append(self, line: str) -> None:
        """Add one line (no newline inside it)."""

    @abstractmethod
    def lines(self) -> list[str]:
        """Every line appended so far, oldest first (by writer clock on object storage)."""

    def entries(self) -> list[tuple[str, str]]:
        """``(name, line)`` of every line, oldest first; the name says which record a line is (locally
        its line number)."""
        return [(f"line {number}", line) for number, line in enumerate(self.lines(), start=1)]

    def compact(self) -> int:
        """Fold many small records into one (object storage); returns how many records were folded."""
        return 0

    def extend(self, lines: list[str]) -> None:
        """Add many lines at once (object storage: one object for all of them)."""
        for line in lines:
            self.append(line)


def check_line(line: str) -> bytes:
    if "\n" in line or "\r" in line:
        raise StorageError("a ledger line must not contain a newline")
    return line.encode("utf-8")


class Storage(ABC):
    """Where DayDream's data lives. Every write is atomic: a reader sees the old bytes or the new ones."""

    url: str

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Replace ``key`` with ``data`` atomically."""

    @abstractmethod
    def create_exclusive(self, key: str, data: bytes) -> bool:
        """Create ``key`` with ``data`` unless it exists; True when this call created it (write-once)."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The bytes of ``key``; ``FileNotFoundError`` when it does not exist."""

    def read_text(self, key: str) -> str:
        return self.read_bytes(key).decode("utf-8")

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list_prefix(self, prefix: str) -> list[ObjectInfo]:
        """Every object below the directory ``prefix`` (``""`` or ending in ``/``), sorted by key.

        One paginated listing on object storage: names and sizes of thousands of files for the price
        of a few requests, instead of a request per file.
        """

    def any_below(self, prefix: str) -> bool:
        """Whether some object lies below the directory ``prefix`` (one short listing remotely)."""
        return bool(self.list_prefix(prefix))

    def list_children(self, prefix: str) -> tuple[list[str], list[str]]:
        """``(subdirectory names, file names)`` directly below the directory ``prefix``."""
        dirs: set[str] = set()
        files: list[str] = []
        for info in self.list_prefix(prefix):
            name, sep, _ = info.key[len(prefix) :].partition("/")
            (dirs.add(name) if sep else files.append(name))
        return sorted(dirs), files

    def head(self, key: str) -> tuple[int, float] | None:
        """``(size, modified time)`` of ``key``, or None when it does not exist."""
        try:
            return len(self.read_bytes(key)), 0.0
        except FileNotFoundError:
            return None

    @abstractmethod
    def read_many(self, keys: Iterable[str], *, concurrency: int | None = None) -> dict[str, bytes]:
        """The bytes of every key that exists (missing keys are left out), fetched concurrently."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; no error when it is already gone."""

    @abstractmethod
    def acquire_lease(self, key: str, ttl_s: float, *, owner: str | None = None) -> Lease | None:
        """Take the lease ``key`` for ``ttl_s`` seconds, or None when a live holder has it."""

    @abstractmethod
    def ledger(self, key: str) -> Ledger:
        """The append-safe log stored at ``key``."""
