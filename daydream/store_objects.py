"""Generation states of many members at once on object storage: a listing, the index, concurrent reads.

``GensStore.state`` asks the disk a few questions per generation (is ``parsed.txt`` there, ``raw.txt``,
``error.json``; the recorded template hash of a done one): cheap locally, a round trip each on object
storage, where 100,000 members would cost 300,000 sequential requests. Here one paginated listing per
stage answers every "is it there"; the recorded template hash of a done generation comes from the
stage's index (``daydream.gen_index``) when its record matches the listing, else from its
``raw_metadata.json``, fetched concurrently (``Storage.read_many``). Same rules as ``GensStore.inspect``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from daydream import gen_index
from daydream.paths import DataLayout
from daydream.storage.objpath import split
from daydream.store import ERROR_FILE, GenState

RAW_META = "raw_metadata.json"


def states(
    layout: DataLayout, members: Sequence[tuple[str, str, str]], sha_of: Callable[[str, str], str | None]
) -> list[GenState]:
    """The state of each ``(stage, gen_id, template_id)``, in order."""
    present: dict[str, gen_index.Listed] = {}
    indexes: dict[str, gen_index.GenIndex] = {}
    for stage in {stage for stage, _, _ in members}:
        present[stage] = gen_index.stage_listing(layout, stage)[2]  # type: ignore[arg-type]
        indexes[stage] = gen_index.load(layout, stage)  # type: ignore[arg-type]
    recorded: dict[tuple[str, str], Any] = {}
    wanted: dict[str, tuple[str, str]] = {}
    for stage, gen_id, template in members:
        listed = present[stage].get(gen_id, {})
        if "parsed.txt" not in listed or not (sha := sha_of(stage, template)):
            continue
        fields = indexes[stage].fields(gen_id, listed)
        if fields is not None:
            recorded[(stage, gen_id)] = (sha, fields.get(RAW_META, {}).get("template_sha256"))
        else:
            wanted[f"{split(layout.gen_dir(stage, gen_id))[1]}/{RAW_META}"] = (stage, gen_id)  # type: ignore[arg-type]
            recorded[(stage, gen_id)] = (sha, None)
    fetched = split(layout.root)[0].read_many(list(wanted))
    for key, (stage, gen_id) in wanted.items():
        try:
            found = json.loads(fetched.get(key, b"{}")).get("template_sha256")
        except (ValueError, AttributeError):
            found = None
        recorded[(stage, gen_id)] = (recorded[(stage, gen_id)][0], found)
    out = []
    for stage, gen_id, _ in members:
        names = present[stage].get(gen_id, {})
        sha, found = recorded.get((stage, gen_id), (None, None))
        if "parsed.txt" in names:
            out.append(GenState.STALE if found and found != sha else GenState.DONE)
        elif "raw.txt" in names or ERROR_FILE in names:
            out.append(GenState.FAILED)
        else:
            out.append(GenState.PENDING)
    return out
