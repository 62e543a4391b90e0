"""Listings: one paginated listing for many objects, names and sizes exact, on both backends."""

# ruff: noqa: F811  (the fixtures are imported from storage_harness and requested by name)
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from storage_harness import s3_server, storage, storage_spec  # noqa: F401  (fixtures)

from daydream.storage import LocalStorage, S3Storage, Storage
from daydream.storage import s3 as s3_module


def test_listing_pages_through_every_object(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    """1,050 objects in pages of 100 on S3 (11 ListObjectsV2 calls: pagination really happens)."""
    monkeypatch.setattr(s3_module, "LIST_PAGE", 100)
    keys = [f"gens/draft/d{i:05d}/raw.txt" for i in range(1050)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: storage.write_bytes(k, k.encode()), keys))
    calls: list[str] = []
    if isinstance(storage, S3Storage):
        real_call = storage.call

        def counting(method: str, **kwargs: object) -> object:
            calls.append(method)
            return real_call(method, **kwargs)

        monkeypatch.setattr(storage, "call", counting)
    listed = storage.list_prefix("gens/")
    assert [(i.key, i.size) for i in listed] == [(k, len(k)) for k in keys]
    if isinstance(storage, S3Storage):
        assert calls == ["list_objects_v2"] * 11


def test_local_listing_of_100k_files(tmp_path: Path) -> None:
    """The local listing of a 100,000-generation store: every file, with sizes, in one walk."""
    root = tmp_path / "root"
    stage = root / "gens" / "evaluation"
    for i in range(100_000):
        gen = stage / f"v{i:06d}"
        gen.mkdir(parents=True)
        (gen / "parsed.txt").write_bytes(b"7" * (1 + i % 5))
    listed = LocalStorage(root).list_prefix("gens/")
    assert len(listed) == 100_000
    assert listed[0].key == "gens/evaluation/v000000/parsed.txt" and listed[0].size == 1
    assert sum(i.size for i in listed) == sum(1 + i % 5 for i in range(100_000))
