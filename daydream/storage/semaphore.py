"""A semaphore of N slots shared by processes on any number of machines, built from leases.

Slot ``i`` is the lease ``<prefix>/slot-<i>``; holding any one slot is holding a unit of the
semaphore, so the number of holders can never exceed N: each slot has at most one holder (the lease
guarantees it), and a caller only takes slots numbered below the N it is given. Issue 11 uses it for
the per-pool in-flight limit across several triggerers; locally the same code runs on ``flock``
leases, and on object storage on conditional-write leases.

N may change at run time (a pool resized in the UI): every ``try_acquire`` is told the current N.
When N shrinks, holders of slots at or above the new N keep them until they release (a call in
flight is not cancelled) but no new holder can take those slots; once they are released the count
never exceeds the new N again.
"""

from __future__ import annotations

import random

from daydream.storage.base import Lease, Storage, check_key


class Semaphore:
    def __init__(self, storage: Storage, prefix: str, *, ttl_s: float):
        self.storage, self.prefix, self.ttl_s = storage, check_key(prefix).rstrip("/") + "/", ttl_s

    def slot_key(self, index: int) -> str:
        return f"{self.prefix}slot-{index}"

    def try_acquire(self, slots: int, *, owner: str | None = None) -> Lease | None:
        """A slot's lease, or None when all ``slots`` are held.

        One listing first, so the cheap case (a slot that has no lease object at all) is tried before
        slots whose object must be read to see whether it expired; random order within each group
        spreads concurrent callers over different slots instead of all racing for slot 0.
        """
        present = {info.key for info in self.storage.list_prefix(self.prefix)}
        indices = list(range(max(0, slots)))
        random.shuffle(indices)
        indices.sort(key=lambda i: self.slot_key(i) in present)  # stable: absent first, random within
        for index in indices:
            lease = self.storage.acquire_lease(self.slot_key(index), self.ttl_s, owner=owner)
            if lease is not None:
                return lease
        return None

    def slot_of(self, lease: Lease) -> int:
        return int(lease.key.rsplit("slot-", 1)[1])
