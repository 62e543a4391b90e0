"""The per-stage index of generation outcomes on object storage: a report or ``cohort status`` reads a
few large objects instead of three small JSON files per generation.

On object storage every small file costs a request (about 2.5 ms of server CPU on SeaweedFS, tens of
ms of latency on a remote S3), so 100,000 evaluations would be 300,000 GETs. When the runner has
written a generation's outcome (``StageRunner`` on releasing the generation lock), one record of what
the reports loader and ``cohort status`` take from its JSON files is appended to the ledger
``.daydream/index/<stage>.jsonl`` (``Storage.ledger``: one create-only object per record, safe for
any number of writers on any number of machines); the stage summary compacts it into one segment.

A reader still lists the stage once. A record is used only when the JSON files it describes are
exactly the ones listed (same names, sizes and ETags): a forced rerun, ``store`` maintenance or a
store copied in changes the listing, and those generations are read from their files as before. A
record is data anyone who can write the bucket could forge, so each is checked (shape, file names,
field names, scalar values, size) before use; a bad one is a warning naming the object, the record
and the field, and its generation is read from its files. The index is derived and safe to delete.
A local data root has none (reading local files is already fast).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from functools import cache
from typing import Any

from daydream.paths import STAGES, DataLayout, Stage
from daydream.storage.base import ObjectInfo, Storage, StorageError
from daydream.storage.objpath import ObjectPath, split

log = logging.getLogger(__name__)

INDEX_FILES = ("metadata.json", "error.json", "raw_metadata.json", "parsed_metadata.json")
"""A generation's files whose fields a record carries; ``raw.txt``, ``parsed.txt`` and the others are
only ever asked whether they exist, which the listing answers."""
REINDEX_CHUNK = 5_000
"""Generations fetched and recorded at a time by ``reindex`` (about 15,000 small objects in memory)."""
MAX_RECORD_BYTES = 32 << 10
"""A record is a few hundred bytes; a generation whose record would be larger (a huge error message)
is not indexed, and a larger one found in the index is refused."""
USAGE = "usage"
SCALARS = (str, int, float, bool, type(None))

Listed = dict[str, dict[str, ObjectInfo]]
"""Generation id -> {file name directly in its directory: listing entry}."""
Fields = dict[str, dict[str, Any]]
"""File name -> the indexed fields of that JSON file (what the loader would read from it)."""


class IndexProblem(ValueError):
    """A record that cannot be trusted; ``field`` says where."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")


@cache
def indexed_keys() -> dict[str, frozenset[str]]:
    """The JSON keys each file contributes: exactly those the reports loader reads (its field tables),
    which include the ``template_sha256`` ``cohort status`` compares."""
    from daydream.reports import loader

    aliases = {a for stage in STAGES for name in ("template_id", "llm_model_id") for a in loader._aliases(name, stage)}
    return {
        "metadata.json": frozenset(key for _, key, _ in loader._META_COLUMNS) | aliases,
        "error.json": frozenset(key for _, key, _ in loader._ERROR_FIELDS),
        "raw_metadata.json": frozenset(key for _, key, _ in loader._RAW_FIELDS) | {USAGE},
        "parsed_metadata.json": frozenset(key for _, key, _ in loader._PARSED_FIELDS),
        USAGE: frozenset(key for _, key, _ in loader._USAGE_FIELDS),
    }


def index_key(layout: DataLayout, stage: Stage) -> tuple[Storage, str]:
    return split(layout.gens_index(stage))


def stage_listing(layout: DataLayout, stage: Stage) -> tuple[Storage, str, Listed]:
    """(storage, stage key prefix, files of each generation) from one paginated listing of the stage;
    a generation holding only subdirectories (``attempts/``) is listed with no files."""
    storage, stage_key = split(layout.stage_dir(stage))
    prefix = stage_key + "/"
    files: Listed = {}
    for info in storage.list_prefix(prefix):
        gen_id, _, name = info.key[len(prefix) :].partition("/")
        if name:  # an object named like a generation directory is not one
            entries = files.setdefault(gen_id, {})
            if "/" not in name:
                entries[name] = info
    return storage, prefix, files


# writing
def _trimmed(name: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """The indexed, non-null fields of one file; None when one is not a scalar (then no record)."""
    keys = indexed_keys()
    out: dict[str, Any] = {}
    for key in keys[name]:
        value = data.get(key)
        if value is None:
            continue
        if key == USAGE and name == "raw_metadata.json" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k in keys[USAGE] and v is not None}
            if not all(isinstance(v, SCALARS) for v in value.values()):
                return None
        elif not isinstance(value, SCALARS):
            return None
        out[key] = value
    return out


def _same_bytes(info: ObjectInfo, body: bytes) -> bool:
    """Whether ``body`` is the listed object: same size, and same MD5 where the ETag is one."""
    if len(body) != info.size or not info.etag:
        return False
    etag = info.etag.strip('"')
    is_md5 = len(etag) == 32 and all(c in "0123456789abcdef" for c in etag)
    return not is_md5 or hashlib.md5(body, usedforsecurity=False).hexdigest() == etag


def build_record(gen_id: str, listed: dict[str, ObjectInfo], bodies: dict[str, bytes]) -> str | None:
    """The index line of one generation from its listing and its JSON files' bytes; None when it
    cannot be indexed (a file changed or vanished meanwhile, is not a JSON object of scalars, or the
    record would be too large): readers then read that generation's files."""
    from daydream.reports.loader import MAX_JSON_BYTES

    files: dict[str, list[Any]] = {}
    for name in INDEX_FILES:
        info = listed.get(name)
        if info is None:
            continue
        body = bodies.get(name)
        if body is None or len(body) > MAX_JSON_BYTES or not _same_bytes(info, body):
            return None
        try:
            data = json.JSONDecoder().decode(body.decode("utf-8"))
        except (ValueError, RecursionError):
            return None
        kept = _trimmed(name, data) if isinstance(data, dict) else None
        if kept is None:
            return None
        files[name] = [info.size, info.etag, kept]
    line = f"{gen_id}\t{json.dumps(files, separators=(',', ':'))}"
    return line if len(line.encode("utf-8")) <= MAX_RECORD_BYTES else None


def record_generation(layout: DataLayout, stage: Stage, gen_id: str) -> bool:
    """Append the record of one generation as its files are now (the caller holds its lock so they
    do not change meanwhile): one listing of its directory, one concurrent fetch, one PUT."""
    storage, key = split(layout.gen_dir(stage, gen_id))
    listed = {
        info.key[len(key) + 1 :]: info for info in storage.list_prefix(key + "/") if "/" not in info.key[len(key) + 1 :]
    }
    got = storage.read_many([f"{key}/{name}" for name in INDEX_FILES if name in listed])
    line = build_record(gen_id, listed, {k[len(key) + 1 :]: v for k, v in got.items()})
    if line is None:
        return False
    storage.ledger(index_key(layout, stage)[1]).append(line)
    return True


def reindex(layout: DataLayout, stage: Stage) -> tuple[int, int, int]:
    """Record every generation of ``stage`` the index does not describe as its files are now, then
    compact: ``(generations listed, records added, generations not indexable)``.

    For a store the runner never indexed (a DayDreaming store copied in, a deleted index): one
    listing, one concurrent fetch of the missing generations' JSON files, one segment. No lock is
    needed: a generation that changes meanwhile gets a record that no longer matches its listing,
    which readers ignore. Object storage only."""
    if not isinstance(layout.root, ObjectPath):
        return 0, 0, 0
    storage, prefix, listing = stage_listing(layout, stage)
    index = load(layout, stage)
    todo = [(gen_id, files) for gen_id, files in listing.items() if files and index.fields(gen_id, files) is None]
    added = 0
    for start in range(0, len(todo), REINDEX_CHUNK):  # bounded memory: one segment per chunk
        chunk = todo[start : start + REINDEX_CHUNK]
        keys = [f"{prefix}{gen_id}/{name}" for gen_id, files in chunk for name in INDEX_FILES if name in files]
        bodies: dict[str, dict[str, bytes]] = {}
        for key, body in storage.read_many(keys).items():
            gen_id, _, name = key[len(prefix) :].partition("/")
            bodies.setdefault(gen_id, {})[name] = body
        lines = [line for gen_id, files in chunk if (line := build_record(gen_id, files, bodies.get(gen_id, {})))]
        storage.ledger(index_key(layout, stage)[1]).extend(lines)
        added += len(lines)
    compact(layout, stage)
    return len(listing), added, len(todo) - added


def compact(layout: DataLayout, stage: Stage) -> int:
    """Fold the stage's loose records into one segment (object storage; 0 locally or when another
    worker is compacting)."""
    if not isinstance(layout.root, ObjectPath):
        return 0
    storage, key = index_key(layout, stage)
    try:
        return storage.ledger(key).compact()
    except (StorageError, OSError, UnicodeDecodeError) as exc:  # the index only speeds reads up
        log.warning("%s%s: not compacted (%s)", storage.url, key, exc)
        return 0


# reading
def _check_value(value: Any, field: str) -> None:
    if not isinstance(value, SCALARS):
        raise IndexProblem(field, f"a {type(value).__name__}, expected a JSON scalar")


def _check_fields(name: str, data: Any) -> dict[str, Any]:
    keys = indexed_keys()
    if not isinstance(data, dict):
        raise IndexProblem(f"{name}.fields", "not a JSON object")
    for key, value in data.items():
        field = f"{name}.{key}"
        if key not in keys[name]:
            raise IndexProblem(field, "not an indexed field")
        if key == USAGE and isinstance(value, dict):
            for sub, number in value.items():
                if sub not in keys[USAGE]:
                    raise IndexProblem(f"{field}.{sub}", "not an indexed field")
                _check_value(number, f"{field}.{sub}")
        else:
            _check_value(value, field)
    return data


def parse_record(text: str) -> dict[str, tuple[int, str, dict[str, Any]]]:
    """The files of one record's JSON part, checked; ``IndexProblem`` names the field that is wrong."""
    if len(text) > MAX_RECORD_BYTES:
        raise IndexProblem("record", f"larger than {MAX_RECORD_BYTES:,} bytes")
    try:
        files = json.loads(text)
    except (ValueError, RecursionError):
        raise IndexProblem("record", "not JSON") from None
    if not isinstance(files, dict):
        raise IndexProblem("record", "not a JSON object")
    out: dict[str, tuple[int, str, dict[str, Any]]] = {}
    for name, entry in files.items():
        if name not in INDEX_FILES:
            raise IndexProblem(str(name)[:60], "not an indexed file")
        if not (isinstance(entry, list) and len(entry) == 3):
            raise IndexProblem(name, "expected [size, etag, fields]")
        size, etag, data = entry
        if type(size) is not int or size < 0:
            raise IndexProblem(f"{name}.size", "not a size")
        if not isinstance(etag, str) or not etag or len(etag) > 200:
            raise IndexProblem(f"{name}.etag", "not an ETag")
        out[name] = (size, etag, _check_fields(name, data))
    return out


class GenIndex:
    """The records of one stage, by generation; a record is parsed and checked only when asked for."""

    def __init__(self, where: str, entries: Iterable[tuple[str, str]]):
        self.where = where
        self.records: dict[str, list[tuple[str, str]]] = {}
        self.problems: list[str] = []
        for name, line in entries:
            gen_id, tab, rest = line.partition("\t")
            if not tab:
                self._problem(name, "?", IndexProblem("record", "no generation id"))
                continue
            self.records.setdefault(gen_id, []).insert(0, (name, rest))  # newest first

    def _problem(self, name: str, gen_id: str, exc: IndexProblem) -> None:
        message = f"{self.where}: record {name} (generation {gen_id[:80]!r}): {exc}; its files are read instead"
        self.problems.append(message)
        log.warning("%s", message)

    def fields(self, gen_id: str, listed: dict[str, ObjectInfo]) -> Fields | None:
        """The indexed fields of ``gen_id`` when one of its records describes exactly the JSON files
        listed now; None when none does (read its files)."""
        now = {name: (info.size, info.etag) for name, info in listed.items() if name in INDEX_FILES}
        for name, text in self.records.get(gen_id, ()):
            try:
                files = parse_record(text)
            except IndexProblem as exc:
                self._problem(name, gen_id, exc)
                continue
            if now == {file: (size, etag) for file, (size, etag, _) in files.items()}:
                return {file: data for file, (_, _, data) in files.items()}
        return None


EMPTY = GenIndex("", ())


def load(layout: DataLayout, stage: Stage) -> GenIndex:
    """The stage's index (one listing and one GET once compacted); an empty one locally, or when the
    index cannot be read (a warning says why: every generation is then read from its files)."""
    if not isinstance(layout.root, ObjectPath):
        return EMPTY
    storage, key = index_key(layout, stage)
    ledger = storage.ledger(key)
    where = f"{storage.url}{key}"
    try:
        return GenIndex(where, ledger.entries())
    except (StorageError, UnicodeDecodeError) as exc:
        log.warning("%s: the index cannot be read (%s); every generation is read from its files", where, exc)
        return EMPTY
