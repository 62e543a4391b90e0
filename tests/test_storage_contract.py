"""The storage contract, the same on the local disk and on a real S3 server (SeaweedFS)."""

# ruff: noqa: F811  (the fixtures are imported from storage_harness and requested by name)
from __future__ import annotations

import json

import pytest
from storage_harness import open_spec, s3_server, storage, storage_spec  # noqa: F401  (fixtures)

from daydream.storage import Storage, StorageError


def test_write_read_overwrite(storage: Storage) -> None:
    storage.write_bytes("gens/draft/g1/raw.txt", b"first")
    assert storage.read_bytes("gens/draft/g1/raw.txt") == b"first"
    storage.write_bytes("gens/draft/g1/raw.txt", "second \u00e9".encode())
    assert storage.read_text("gens/draft/g1/raw.txt") == "second \u00e9"
    assert storage.exists("gens/draft/g1/raw.txt")
    assert not storage.exists("gens/draft/g1/parsed.txt")
    with pytest.raises(FileNotFoundError):
        storage.read_bytes("gens/draft/g1/parsed.txt")


def test_create_exclusive_never_replaces(storage: Storage) -> None:
    assert storage.create_exclusive("gens/draft/g1/metadata.json", b'{"a": 1}') is True
    assert storage.create_exclusive("gens/draft/g1/metadata.json", b'{"a": 2}') is False
    assert storage.read_bytes("gens/draft/g1/metadata.json") == b'{"a": 1}'


def test_delete_is_idempotent(storage: Storage) -> None:
    storage.write_bytes("x/error.json", b"{}")
    storage.delete("x/error.json")
    storage.delete("x/error.json")
    assert not storage.exists("x/error.json")


def test_list_prefix_names_and_sizes(storage: Storage) -> None:
    files = {f"gens/draft/g{i}/raw.txt": b"r" * i for i in range(1, 6)}
    files["gens/essay/e1/raw.txt"] = b"essay"
    files["gens/draftish.txt"] = b"not below gens/draft/"
    for key, data in files.items():
        storage.write_bytes(key, data)
    listed = storage.list_prefix("gens/draft/")
    assert [(i.key, i.size) for i in listed] == [(f"gens/draft/g{i}/raw.txt", i) for i in range(1, 6)]
    assert {i.key for i in storage.list_prefix("")} >= set(files)
    assert storage.list_prefix("nothing/here/") == []


def test_read_many_skips_missing(storage: Storage) -> None:
    keys = [f"gens/evaluation/v{i}/parsed.txt" for i in range(40)]
    for i, key in enumerate(keys):
        storage.write_bytes(key, str(i).encode())
    got = storage.read_many([*keys, "gens/evaluation/missing/parsed.txt"], concurrency=8)
    assert got == {key: str(i).encode() for i, key in enumerate(keys)}


@pytest.mark.parametrize("bad", ["", "/abs", "a/../b", "a//b", "./a", "a/", ".."])
def test_malformed_keys_are_refused(storage: Storage, bad: str) -> None:
    with pytest.raises(StorageError, match="invalid storage key"):
        storage.write_bytes(bad, b"x")


def test_lease_is_exclusive_until_released(storage: Storage) -> None:
    first = storage.acquire_lease("gens/draft/g1/.lease", 30)
    assert first is not None and first.valid()
    assert storage.acquire_lease("gens/draft/g1/.lease", 30) is None
    assert first.renew() and first.valid()
    first.release()
    assert not first.valid()
    second = storage.acquire_lease("gens/draft/g1/.lease", 30)
    assert second is not None and second.valid()
    second.release()


def test_ledger_keeps_every_line_in_order(storage: Storage) -> None:
    ledger = storage.ledger("cohorts/demo/runs/spend.jsonl")
    assert ledger.lines() == []
    for i in range(12):
        ledger.append(json.dumps({"i": i}))
    assert [json.loads(line)["i"] for line in ledger.lines()] == list(range(12))
    ledger.compact()
    ledger.append(json.dumps({"i": 12}))
    assert [json.loads(line)["i"] for line in ledger.lines()] == list(range(13))
    with pytest.raises(StorageError, match="newline"):
        ledger.append("two\nlines")


def test_ledger_spec_reopens_in_another_instance(storage_spec: tuple) -> None:
    """A second Storage object (another process would do the same) sees the first one's writes."""
    open_spec(storage_spec).ledger("l.jsonl").append("a")
    assert open_spec(storage_spec).ledger("l.jsonl").lines() == ["a"]
