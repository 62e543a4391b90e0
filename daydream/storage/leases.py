"""Leases on object storage: a small JSON object taken by a conditional create, handed over by CAS.

Why this is safe without a lock server:

- Taking a free lease is ``PUT If-None-Match: *``: the store lets exactly one create win.
- Taking over an expired lease is ``PUT If-Match: <etag it had>``: of all the workers that saw the
  same expired holder, exactly one swap succeeds; the others get 412 and walk away.
- Expiry is judged on the **server's clock** (its ``Last-Modified`` for the lease object against the
  ``Date`` of the response that read it), never by comparing two machines' clocks; both have one
  second resolution, hence ``CLOCK_SLACK_S``.
- The holder counts its own validity from a monotonic clock read *before* it sent the PUT, so it
  stops believing it holds the lease no later than the server starts letting others take it.
- A renewal is again ``If-Match`` on the holder's ETag, so a holder that was taken over learns it
  (412) instead of clobbering the new holder; a release is a conditional DELETE (or, where the store
  refuses conditional deletes, a CAS to a ``released`` body), so it never removes someone else's lease.

Every body carries a fresh random token, so ETags (content hashes) never repeat between holders, and
a create or swap whose answer was lost and retried (412 on the retry) is recognised as ours by token.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from daydream.storage.base import Lease, default_owner

if TYPE_CHECKING:
    from daydream.storage.s3 import Fetched, S3Storage

CLOCK_SLACK_S = 2.0
"""``Last-Modified`` and ``Date`` are whole seconds: each truncation can hide up to a second."""


@dataclass(frozen=True)
class LeaseBody:
    owner: str
    token: str
    ttl_s: float
    renewals: int = 0
    released: bool = False

    def encode(self) -> bytes:
        data: dict[str, Any] = {
            "owner": self.owner,
            "token": self.token,
            "ttl_s": self.ttl_s,
            "renewals": self.renewals,
            "released": self.released,
            "written_at": datetime.now(UTC).isoformat(timespec="milliseconds"),  # for people; not trusted
        }
        return json.dumps(data).encode()

    @classmethod
    def decode(cls, data: bytes) -> LeaseBody | None:
        try:
            raw = json.loads(data)
            return cls(
                str(raw["owner"]), str(raw["token"]), float(raw["ttl_s"]), int(raw["renewals"]), bool(raw["released"])
            )
        except (ValueError, KeyError, TypeError):
            return None


def is_free(current: Fetched, fallback_ttl_s: float) -> bool:
    """Whether the lease object ``current`` may be taken: released, unreadable, or expired by the server."""
    body = LeaseBody.decode(current.data)
    if body is None:  # not a lease we wrote: do not let garbage block the key forever
        return current.server_now >= current.modified + fallback_ttl_s + CLOCK_SLACK_S
    return body.released or current.server_now >= current.modified + body.ttl_s + CLOCK_SLACK_S


class ObjectLease(Lease):
    def __init__(self, storage: S3Storage, key: str, body: LeaseBody, etag: str, started: float):
        self.storage, self.key, self.owner, self.ttl_s = storage, key, body.owner, body.ttl_s
        self.body, self.etag = body, etag
        self.valid_until = started + body.ttl_s
        self._done = False

    def valid(self) -> bool:
        return not self._done and time.monotonic() < self.valid_until

    def remaining_s(self) -> float:
        return max(0.0, self.valid_until - time.monotonic()) if not self._done else 0.0

    def renew(self) -> bool:
        if self._done:
            return False
        body = LeaseBody(self.owner, self.body.token, self.ttl_s, self.body.renewals + 1)
        started = time.monotonic()
        etag = swap(self.storage, self.key, body, self.etag)
        if etag is None:
            self._done = True
            return False
        self.body, self.etag, self.valid_until = body, etag, started + self.ttl_s
        return True

    def release(self) -> None:
        if self._done:
            return
        self._done = True
        if self.storage.delete_if(self.key, self.etag):
            return
        # The store refused a conditional delete, or we were taken over: mark it released only if it is ours.
        swap(self.storage, self.key, LeaseBody(self.owner, self.body.token, self.ttl_s, released=True), self.etag)


def ours(storage: S3Storage, key: str, body: LeaseBody) -> str | None:
    """The ETag of ``key`` when it holds exactly ``body`` (a write whose answer was lost), else None."""
    current = storage.fetch(key)
    if current is None:
        return None
    found = LeaseBody.decode(current.data)
    if found is not None and (found.token, found.renewals) == (body.token, body.renewals):
        return current.etag
    return None


def swap(storage: S3Storage, key: str, body: LeaseBody, etag: str) -> str | None:
    """Replace the lease object if it still has ``etag``; the new ETag, or None when someone else won."""
    from daydream.storage.s3 import precondition_failed

    try:
        return storage.put(key, body.encode(), IfMatch=etag)
    except OSError as exc:
        if precondition_failed(exc):
            return ours(storage, key, body)
        raise


def acquire_object_lease(storage: S3Storage, key: str, ttl_s: float, *, owner: str | None = None) -> Lease | None:
    from daydream.storage.s3 import precondition_failed

    body = LeaseBody(owner or default_owner(), uuid.uuid4().hex, float(ttl_s))
    for _ in range(3):  # a lease released between our create and our read: try the create again
        started = time.monotonic()
        try:
            return ObjectLease(storage, key, body, storage.put(key, body.encode(), IfNoneMatch="*"), started)
        except OSError as exc:
            if not (isinstance(exc, FileExistsError) or precondition_failed(exc)):
                raise
        current = storage.fetch(key)
        if current is None:
            continue
        found = LeaseBody.decode(current.data)
        if found is not None and found.token == body.token:  # our create succeeded; its answer was lost
            return ObjectLease(storage, key, body, current.etag, started)
        if not is_free(current, ttl_s):
            return None
        started = time.monotonic()
        etag = swap(storage, key, body, current.etag)
        return ObjectLease(storage, key, body, etag, started) if etag is not None else None
    return None
