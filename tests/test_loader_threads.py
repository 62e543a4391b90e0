"""``read_gens`` on a pool of threads (a store out of the page cache) reads exactly what one thread
reads: the same frame, rows in the order of the ids asked for, the same refusals of hostile entries
mixed in among good ones."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from daydream.paths import DataLayout
from daydream.reports import coldread, loader

STAGE = "evaluation"


def _evaluation(i: int) -> dict[str, bytes]:
    meta = {"template_id": f"t{i % 3}", "llm_model_id": "m", "parent_gen_id": f"e{i:03d}", "replicate": i % 2}
    raw = {"model": "x/m", "cost_usd": 0.001 * i, "usage": {"prompt_tokens": 100 + i, "total_tokens": 107 + i}}
    return {
        "metadata.json": json.dumps(meta).encode(),
        "raw.txt": b"SCORE: 3\n",
        "raw_metadata.json": json.dumps(raw).encode(),
        "parsed.txt": f"{i % 10}\n".encode(),
        "parsed_metadata.json": json.dumps({"success": True, "score": i % 10}).encode(),
    }


def hostile_store(root: Path) -> tuple[DataLayout, list[str]]:
    """Good evaluations with, among them, every kind of entry the loader must refuse or flag."""
    layout = DataLayout(root)
    stage_dir = layout.stage_dir(STAGE)
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "metadata.json").write_text('{"template_id": "SECRET"}')
    for i in range(60):
        gen_dir = stage_dir / f"v{i:03d}"
        gen_dir.mkdir(parents=True)
        for name, data in _evaluation(i).items():
            (gen_dir / name).write_bytes(data)
    (stage_dir / "v005" / "parsed.txt").unlink()
    os.mkfifo(stage_dir / "v005" / "parsed.txt")  # a FIFO as the done marker
    (stage_dir / "v011" / "raw_metadata.json").unlink()
    os.mkfifo(stage_dir / "v011" / "raw_metadata.json")
    (stage_dir / "v017" / "metadata.json").unlink()
    (stage_dir / "v017" / "metadata.json").symlink_to(outside / "metadata.json")
    (stage_dir / "v023" / "raw_metadata.json").write_bytes(b'{"usage": {"prompt_tokens": 5,')
    (stage_dir / "v029" / "parsed_metadata.json").write_bytes(b'{"success": true, "score": "high"}')
    (stage_dir / "v031" / "metadata.json").write_bytes(b"\xff\xfe not UTF-8")
    (stage_dir / "v037" / "parsed.txt").unlink()
    (stage_dir / "v037" / "parsed.txt").mkdir()
    (stage_dir / "v060").symlink_to(outside)  # a generation that is a link
    (stage_dir / "v061").write_text("a file, not a directory")
    ids = sorted(os.listdir(stage_dir)) + ["../outside", "a b", "v999"]  # invalid ids, a missing one
    random.Random(7).shuffle(ids)
    return layout, ids + ids[:5]  # duplicates are read once, at their first place


class Disk:
    """``_disk_reads`` for the loader: each chunk seems to fetch ``per_chunk`` bytes from the disk, the
    first ``cold_calls`` calls only when given (the real counter depends on the page cache)."""

    def __init__(self, per_chunk: int, cold_calls: int | None = None):
        self.per_chunk, self.cold_calls, self.calls, self.total = per_chunk, cold_calls, 0, 0
        self.lock = threading.Lock()

    def __call__(self) -> int:
        with self.lock:
            self.calls += 1
            if self.cold_calls is None or self.calls <= self.cold_calls:
                self.total += self.per_chunk
            return self.total


@pytest.fixture
def small_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 3 ids out of the page cache: after the first chunk the pool reads the rest, its
    threads interleaving over the hostile entries."""
    monkeypatch.setattr(coldread, "disk_reads", Disk(coldread.COLD_CHUNK_BYTES))
    monkeypatch.setattr(coldread, "CHUNK_IDS", 3)


def _reading_threads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """``(gen id, thread name)`` of each ``read_one`` from now on, in the order they start."""
    seen: list[tuple[str, str]] = []
    read_one = loader.read_one

    def noting_thread(stage_fd, gen_id, **kwargs):
        seen.append((gen_id, threading.current_thread().name))
        return read_one(stage_fd, gen_id, **kwargs)

    monkeypatch.setattr(loader, "read_one", noting_thread)
    return seen


@pytest.mark.timeout(60)  # a FIFO opened for reading without O_NONBLOCK would hang here
def test_threads_read_the_same_frame_as_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_pool: None):
    layout, ids = hostile_store(tmp_path / "root")
    monkeypatch.setattr(coldread, "READ_THREADS", 1)
    alone = loader.read_gens(layout, STAGE, ids, metadata=True)
    monkeypatch.setattr(coldread, "READ_THREADS", 4)
    threads_seen = _reading_threads(monkeypatch)
    pooled = loader.read_gens(layout, STAGE, ids, metadata=True)

    names = {name for _, name in threads_seen}
    assert threading.current_thread().name in names  # the first chunk, the probe
    assert len([name for name in names if name.startswith("read_gens")]) > 1
    pd.testing.assert_frame_equal(pooled, alone)
    assert list(pooled["gen_id"]) == list(dict.fromkeys(ids))  # the order asked for
    rows = pooled.set_index("gen_id")
    assert rows.loc["v060", "refused"] == "a symlink, not followed"
    assert rows.loc["v061", "refused"] == "not a directory"
    assert rows.loc["a b", "refused"].startswith("invalid gen id")
    assert "a symlink, not followed" in rows.loc["v017", "read_error"]
    assert "SECRET" not in pooled.to_csv()
    assert rows.loc["v005", "parsed_error"].startswith("Read error: parsed.txt: not a regular file")
    assert rows.loc["v037", "parsed_error"].startswith("Read error: parsed.txt: not a regular file")
    assert rows.loc["v011", "read_error"] == "raw_metadata.json: JSONDecodeError"  # a FIFO reads as empty
    assert rows.loc["v023", "read_error"] == "raw_metadata.json: JSONDecodeError"
    assert rows.loc["v029", "read_error"] == "parsed_metadata.json: unusable value of score"
    assert rows.loc["v031", "read_error"] == "metadata.json: UnicodeDecodeError"
    assert not rows.loc["v999", "found"] and pd.isna(rows.loc["v999", "refused"])
    assert rows.loc["v010", "parsed_value"] == 0.0 and rows.loc["v012", "m_replicate"] == "0"


def test_a_store_in_the_page_cache_is_read_on_the_calling_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    layout, ids = hostile_store(tmp_path / "root")
    monkeypatch.setattr(coldread, "CHUNK_IDS", 3)
    monkeypatch.setattr(coldread, "disk_reads", Disk(coldread.COLD_CHUNK_BYTES - 1))  # a few stray blocks
    threads_seen = _reading_threads(monkeypatch)
    frame = loader.read_gens(layout, STAGE, ids, metadata=True)
    assert {name for _, name in threads_seen} == {threading.current_thread().name}
    assert list(frame["gen_id"]) == list(dict.fromkeys(ids))


def test_back_on_the_calling_thread_once_the_chunks_come_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    layout, ids = hostile_store(tmp_path / "root")
    monkeypatch.setattr(coldread, "CHUNK_IDS", 3)
    monkeypatch.setattr(coldread, "disk_reads", Disk(coldread.COLD_CHUNK_BYTES, cold_calls=4))  # 2 cold chunks
    threads_seen = _reading_threads(monkeypatch)
    frame = loader.read_gens(layout, STAGE, ids, metadata=True)
    caller = threading.current_thread().name
    on_pool = [i for i, (_, name) in enumerate(threads_seen) if name != caller]
    assert on_pool and on_pool[-1] < len(threads_seen) - 3  # a round on the pool, then the caller again
    assert all(name == caller for _, name in threads_seen[on_pool[-1] + 1 :])
    assert list(frame["gen_id"]) == list(dict.fromkeys(ids))


def test_the_disk_counter_is_this_threads_bytes_from_the_storage_layer(tmp_path: Path):
    counted = coldread.disk_reads()
    if not Path("/proc/thread-self/io").exists():
        assert counted is None  # then the loader stays on one thread
        return
    assert counted is not None and counted >= 0
    (tmp_path / "f").write_bytes(b"x" * 100_000)
    (tmp_path / "f").read_bytes()  # from the page cache: it was just written
    assert coldread.disk_reads() == counted


def test_an_error_in_one_chunk_stops_the_pool_before_read_gens_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_pool: None
):
    """The stage directory is closed when ``read_gens`` returns: no thread may still be reading in it."""
    layout, ids = hostile_store(tmp_path / "root")
    read_one, calls, running = loader.read_one, [], []

    def failing(stage_fd, gen_id, **kwargs):
        calls.append(gen_id)
        running.append(gen_id)
        try:
            if gen_id == "v020":
                raise RuntimeError("boom")
            time.sleep(0.002)
            return read_one(stage_fd, gen_id, **kwargs)
        finally:
            running.remove(gen_id)

    monkeypatch.setattr(coldread, "READ_THREADS", 2)
    monkeypatch.setattr(loader, "read_one", failing)
    with pytest.raises(RuntimeError, match="boom"):
        loader.read_gens(layout, STAGE, ids, metadata=True)
    done = len(calls)
    time.sleep(0.1)
    assert running == [] and len(calls) == done < len(set(ids))  # stopped, and the rest never started
