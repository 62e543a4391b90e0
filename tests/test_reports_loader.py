"""The local reports loader learns which files a generation has without listing its directory
(``loader._GenReader``: the JSON files it reads are opened, the others ``lstat``-ed). Its presence
columns must say exactly what a listing says, for every kind of entry a hostile store can hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daydream.paths import DataLayout
from daydream.reports.loader import _PRESENCE, read_gens

SHAPES = {
    "v_full": {
        n: "{}" for n in ("metadata.json", "raw.txt", "raw_metadata.json", "parsed.txt", "parsed_metadata.json")
    },
    "v_empty": {},
    "v_links": {"metadata.json": "LINK", "raw.txt": "LINK", "parsed.txt": "LINK", "raw_metadata.json": "LINK"},
    "v_dirs": {"metadata.json": "DIR", "error.json": "DIR", "parsed.txt": "DIR", "parsed_metadata.json": "DIR"},
    "v_fifos": {"raw_metadata.json": "FIFO", "raw.txt": "FIFO", "error.json": "FIFO"},
    "v_error_only": {"error.json": '{"kind": "call", "error": "timeout"}'},
    "v_dangling": {"parsed_metadata.json": "DANGLING", "metadata.json": "DANGLING"},
}


def _make(directory: Path, files: dict[str, str], outside: Path) -> None:
    directory.mkdir(parents=True)
    for name, what in files.items():
        path = directory / name
        if what == "LINK":
            path.symlink_to(outside)
        elif what == "DANGLING":
            path.symlink_to(outside.parent / "nowhere")
        elif what == "DIR":
            path.mkdir()
        elif what == "FIFO":
            os.mkfifo(path)
        else:
            path.write_text(what)


@pytest.mark.parametrize("stage", ["evaluation", "essay"])
@pytest.mark.parametrize("metadata", [True, False])
def test_presence_columns_equal_a_listing(tmp_path: Path, stage: str, metadata: bool) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text('{"template_id": "stolen"}')
    layout = DataLayout(tmp_path / "data")
    for gen_id, files in SHAPES.items():
        _make(layout.gen_dir(stage, gen_id), files, outside)
    frame = read_gens(layout, stage, [*SHAPES, "v_missing"], metadata=metadata).set_index("gen_id")
    for gen_id in SHAPES:
        listed = set(os.listdir(layout.gen_dir(stage, gen_id)))
        for column, name in _PRESENCE:
            assert frame.loc[gen_id, column] == (name in listed), (gen_id, column)
    assert not frame.loc["v_missing", [c for c, _ in _PRESENCE]].any()
    assert "stolen" not in frame.astype(str).to_string()  # a link is present, never read
    assert "link" in str(frame.loc["v_links", "read_error"])
