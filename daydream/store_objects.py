"""Generation states of many members at once on object storage: a listing and concurrent reads.

``GensStore.state`` asks the disk a few questions per generation (is ``parsed.txt`` there, ``raw.txt``,
``error.json``; the recorded template hash of a done one): cheap locally, a round trip each on object
storage, where 100,000 members would cost 300,000 sequential requests. Here one paginated listing per
stage answers every "is it there", and the ``raw_metadata.json`` of the done generations whose
template has a hash are fetched concurrently (``Storage.read_many``). Same rules as ``GensStore.inspect``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from daydream.paths import DataLayout
from daydream.storage.objpath import split
from daydream.store import ERROR_FILE, GenState


def states(
    layout: DataLayout, members: Sequence[tuple[str, str, str]], sha_of: Callable[[str, str], str | None]
) -> list[GenState]:
    """The state of each ``(stage, gen_id, template_id)``, in order."""
    present: dict[str, dict[str, set[str]]] = {}
    for stage in {stage for stage, _, _ in members}:
        storage, key = split(layout.stage_dir(stage))  # type: ignore[arg-type]
        files: dict[str, set[str]] = {}
        for info in storage.list_prefix(key + "/"):
            gen_id, _, name = info.key[len(key) + 1 :].partition("/")
            files.setdefault(gen_id, set()).add(name)
        present[stage] = files
    storage = split(layout.root)[0]
    wanted = {
        f"{split(layout.gen_dir(stage, gen_id))[1]}/raw_metadata.json": (stage, gen_id, sha)  # type: ignore[arg-type]
        for stage, gen_id, template in members
        if "parsed.txt" in present[stage].get(gen_id, ()) and (sha := sha_of(stage, template))
    }
    recorded = storage.read_many(list(wanted))
    stale = set()
    for key, (stage, gen_id, sha) in wanted.items():
        try:
            found = json.loads(recorded.get(key, b"{}")).get("template_sha256")
        except (ValueError, AttributeError):
            found = None
        if found and found != sha:
            stale.add((stage, gen_id))
    out = []
    for stage, gen_id, _ in members:
        names = present[stage].get(gen_id, set())
        if "parsed.txt" in names:
            out.append(GenState.STALE if (stage, gen_id) in stale else GenState.DONE)
        elif "raw.txt" in names or ERROR_FILE in names:
            out.append(GenState.FAILED)
        else:
            out.append(GenState.PENDING)
    return out
