"""Atomic writes (docs/data-contract.md §6): a failed write leaves the old file and no temporary file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daydream import atomic


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "gens" / "draft" / "d_x" / "raw.txt"
    atomic.write_text(path, "old")
    return path


def _only(path: Path) -> list[str]:
    return sorted(os.listdir(path.parent))


def test_write_replaces_and_leaves_no_temp(target: Path) -> None:
    atomic.write_json(target.with_name("raw_metadata.json"), {"a": 1})
    atomic.write_text(target, "new")
    assert target.read_text() == "new"
    assert _only(target) == ["raw.txt", "raw_metadata.json"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_interrupted_rename_keeps_the_old_file(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(src: str, dst: str) -> None:
        raise KeyboardInterrupt  # a worker killed between write and rename

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_text(target, "new")
    assert target.read_text() == "old"
    assert _only(target) == ["raw.txt"]


def test_interrupted_write_keeps_the_old_file(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="No space"):
        atomic.write_text(target, "new")
    assert target.read_text() == "old"
    assert _only(target) == ["raw.txt"]


def test_create_exclusive_never_replaces(tmp_path: Path) -> None:
    path = tmp_path / "g" / "metadata.json"
    assert atomic.create_exclusive(path, b"first") is True
    assert atomic.create_exclusive(path, b"second") is False
    assert path.read_bytes() == b"first"
    assert _only(path) == ["metadata.json"]


def test_create_exclusive_loses_a_race_without_replacing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "metadata.json"
    real_link = os.link

    def racing_link(src: str, dst: str) -> None:
        Path(dst).write_bytes(b"the other writer")
        real_link(src, dst)

    monkeypatch.setattr(os, "link", racing_link)
    assert atomic.create_exclusive(path, b"mine") is False
    assert path.read_bytes() == b"the other writer"
    assert _only(path) == ["metadata.json"]
