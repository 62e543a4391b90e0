"""``read_gens`` and ``list_gen_ids`` for a data root on object storage: batched, never a round trip
per file in a Python loop.

One paginated listing of ``gens/<stage>/`` gives every generation's file names and sizes (locally,
opening each file and ``lstat`` tell which exist); then the JSON files a report needs are fetched
concurrently in one ``read_many``, and ``parsed.txt`` only for evaluations whose
``parsed_metadata.json`` did not carry the score (a second ``read_many``). The rows are filled by the
same ``loader.fill_row`` as locally, so both backends produce the same frame. A generation whose record
in the stage's index (``daydream.gen_index``) matches the listing is read from that record instead:
no GET at all for it. Object storage has no
symlinks, FIFOs or devices: the only hostile cases left are sizes (refused before fetching) and
contents (the reader flags them as it does locally).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from daydream import gen_index
from daydream.paths import DataLayout, Stage
from daydream.reports import loader
from daydream.reports.safefs import TooLarge, invalid_id
from daydream.storage.base import ObjectInfo


class _FetchedReader(loader._GenReader):
    """``_GenReader`` over bytes already fetched instead of a directory descriptor."""

    def __init__(
        self,
        row: list[Any],
        entries: dict[str, ObjectInfo],
        fetched: dict[str, bytes],
        prefix: str,
        indexed: gen_index.Fields | None,
    ):
        super().__init__(row, -1)
        self.listed, self.fetched, self.prefix, self.indexed = entries, fetched, prefix, indexed

    def present(self, name: str) -> bool:
        return name in self.listed

    def bytes_of(self, name: str, limit: int) -> bytes:
        info = self.listed.get(name)
        if info is not None and info.size > limit:
            raise TooLarge(name)
        data = self.fetched.get(self.prefix + name)
        if data is None:  # deleted between the listing and the read
            raise FileNotFoundError(2, "vanished while being read")
        return data

    def json_if_present(self, name: str) -> dict[str, Any] | None:
        if name not in self.listed:
            return None
        if self.indexed is not None:  # the record matched the listing: it holds every listed JSON file
            return self.indexed[name]
        # listed, so gone since the listing is a problem, not an absence
        return self._json(name, lambda: self.bytes_of(name, loader.MAX_JSON_BYTES), absent=False)

    def needs_parsed_text(self) -> bool:
        row, index = self.row, loader._INDEX
        return self.present("parsed.txt") and not (
            row[index["pm_success"]] is True and row[index["pm_score"]] is not None
        )

    def score_from_fetched(self) -> None:
        if not self.present("parsed.txt"):
            return
        index = loader._INDEX
        if not self.needs_parsed_text():
            self.row[index["parsed_value"]] = self.row[index["pm_score"]]
            return
        try:
            data = self.bytes_of("parsed.txt", loader.MAX_PARSED_SCORE_BYTES)
        except TooLarge:
            self.row[index["parsed_error"]] = f"Invalid parsed.txt: larger than {loader.MAX_PARSED_SCORE_BYTES:,} bytes"
            return
        except OSError as exc:
            self.row[index["parsed_error"]] = f"Read error: {self._unreadable('parsed.txt', exc)}"
            return
        self.row[index["parsed_value"]], self.row[index["parsed_error"]] = loader.parsed_score(data)


def list_gen_ids(layout: DataLayout, stage: Stage) -> list[str]:
    return sorted(name for name in gen_index.stage_listing(layout, stage)[2] if not name.startswith("."))


def read_gens(layout: DataLayout, stage: Stage, gen_ids: Iterable[str], *, metadata: bool) -> pd.DataFrame:
    ids = list(dict.fromkeys(gen_ids))
    if not ids:
        return _frame([], stage)
    storage, prefix, files = gen_index.stage_listing(layout, stage)
    records = gen_index.load(layout, stage)
    indexed = {gid: records.fields(gid, files[gid]) for gid in ids if gid in files and invalid_id(gid) is None}
    wanted = [n for n in gen_index.INDEX_FILES if metadata or n != "metadata.json"]
    if stage != "evaluation":
        wanted = [n for n in wanted if n != "parsed_metadata.json"]
    keys = [
        f"{prefix}{gid}/{name}"
        for gid in ids
        if gid in files and indexed.get(gid) is None
        for name in wanted
        if name in files[gid]
    ]
    fetched = storage.read_many(keys) if keys else {}
    rows: list[list[Any]] = []
    readers: list[_FetchedReader] = []
    for gen_id in ids:
        invalid = invalid_id(gen_id)
        if invalid is not None or gen_id not in files:
            rows.append(loader._absent(gen_id, invalid))
            continue
        row: list[Any] = [None] * loader._WIDTH
        row[0], row[1] = gen_id, True
        reader = _FetchedReader(row, files[gen_id], fetched, f"{prefix}{gen_id}/", indexed.get(gen_id))
        loader.fill_row(reader, stage, metadata)
        rows.append(row)
        readers.append(reader)
    if stage == "evaluation":
        more = [r.prefix + "parsed.txt" for r in readers if r.needs_parsed_text()]
        fetched.update(storage.read_many(more) if more else {})
        for reader in readers:
            reader.score_from_fetched()
    for reader in readers:
        if reader.problems:
            reader.row[loader._INDEX["read_error"]] = "; ".join(reader.problems)
    return _frame(rows, stage)


def _frame(rows: list[list[Any]], stage: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(loader.RECORD_COLUMNS))
    frame = frame.astype({c: "object" for c in loader.RECORD_COLUMNS}) if frame.empty else frame
    frame.insert(1, "stage", stage)
    return frame


def read_texts(layout: DataLayout, stage: Stage, gen_ids: Iterable[str], limit: int) -> dict[str, bytes]:
    """``parsed.txt`` of each listed generation that has one, fetched concurrently and cut at ``limit``
    bytes (the diversity section's texts; locally ``diversity.read_texts`` opens them one by one)."""
    storage, prefix, files = gen_index.stage_listing(layout, stage)
    keys = {
        f"{prefix}{gid}/parsed.txt": gid
        for gid in gen_ids
        if invalid_id(gid) is None and "parsed.txt" in files.get(gid, {})
    }
    fetched = storage.read_many(keys) if keys else {}
    return {keys[key]: data[:limit] for key, data in fetched.items()}
