"""``daydream store check`` for ``gens/comparison/`` (docs/data-contract.md §12).

The same problem kinds as the three stages, read the same way (symlinks and names outside the id
grammar are reported, never followed): a missing or unreadable ``metadata.json``; a kept raw answer
without a verdict (``raw_without_parsed``) or an ``error.json`` (``failed``); a parent essay that
is not in the store (``broken_parent``); leftover temporary files and unexpected files.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from daydream.errors import StoreError, shown
from daydream.paths import id_problem
from daydream.store import KNOWN_FILES
from daydream.tournament.store import COMPARISON_STAGE, ComparisonStore

AddIssue = Callable[[str, str, str, str], None]
"""``add(kind, stage, gen_id, detail)`` of the store check."""


def _entries(store: ComparisonStore, add: AddIssue) -> list[str]:
    stage_dir = store.stage_dir
    try:
        if not stage_dir.exists() and not stage_dir.is_symlink():
            return []
    except OSError:  # gens/ itself cannot be read: the store check has said so already
        return []
    if stage_dir.is_symlink() or not stage_dir.is_dir():
        add("unreadable", COMPARISON_STAGE, "-", f"{stage_dir} is not a directory: comparisons were not checked")
        return []
    ids: list[str] = []
    try:
        with os.scandir(stage_dir) as scan:
            for entry in sorted(scan, key=lambda e: e.name):
                if entry.name.startswith("."):
                    continue
                if entry.is_symlink():
                    add("invalid_entry", COMPARISON_STAGE, "-", f"{shown(entry.name)} is a symlink (never followed)")
                elif not entry.is_dir(follow_symlinks=False):
                    add("outside_layout", COMPARISON_STAGE, "-", f"{shown(entry.name)} is a file, not a generation")
                elif (problem := id_problem(entry.name)) is not None:
                    add("invalid_entry", COMPARISON_STAGE, "-", f"{shown(entry.name)} is not a valid gen id: {problem}")
                else:
                    ids.append(entry.name)
    except OSError as exc:
        add("unreadable", COMPARISON_STAGE, "-", f"{stage_dir}: cannot list ({exc.strerror or exc})")
    return ids


def _check_one(store: ComparisonStore, gen_id: str, essays: set[str], add: AddIssue) -> None:
    try:
        names = sorted(os.listdir(store.dir(gen_id)))
    except OSError as exc:
        add("unreadable", COMPARISON_STAGE, gen_id, f"cannot list ({exc.strerror or exc})")
        return
    for name in names:
        if name.endswith(".tmp"):
            add("leftover_temp", COMPARISON_STAGE, gen_id, f"{name} (an interrupted write; safe to delete)")
        elif name not in KNOWN_FILES:
            add("outside_layout", COMPARISON_STAGE, gen_id, f"unexpected file {shown(name)}")
    try:
        meta = store.read_metadata(gen_id)
    except StoreError as exc:
        add("unreadable_metadata", COMPARISON_STAGE, gen_id, str(exc))
        return
    if meta is None:
        add("missing_metadata", COMPARISON_STAGE, gen_id, "no metadata.json")
        return
    state = store.state(gen_id)
    if state == "failed":
        kind = "raw_without_parsed" if "raw.txt" in names else "failed"
        error = (store.read_json(gen_id, "error.json") or {}).get("error") if "error.json" in names else None
        add(kind, COMPARISON_STAGE, gen_id, str(error or "raw.txt kept, no parsed.txt"))
    missing = [p for p in meta.parent_gen_ids if p not in essays]
    if missing:
        add("broken_parent", COMPARISON_STAGE, gen_id, f"parent essay(s) {', '.join(missing)} not in the store")


def check_comparisons(store: ComparisonStore, essays: set[str], add: AddIssue) -> int:
    """Check every comparison generation; returns how many there are."""
    ids = _entries(store, add)
    for gen_id in ids:
        try:
            _check_one(store, gen_id, essays, add)
        except StoreError as exc:
            add("unreadable", COMPARISON_STAGE, gen_id, str(exc))
    return len(ids)
