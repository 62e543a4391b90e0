"""``combo_mappings.csv`` is append-only (data-contract section 3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write_csv

from daydream.combos import Combo, ComboCatalog, k_subsets
from daydream.errors import ComboError

HEADER = "combo_id,version,concept_id,description_level,k_max,created_at"
OLD = Combo.of(["b", "a", "c"], "paragraph", 3)


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    rows = "".join(f"{OLD.combo_id},v1,{c},paragraph,3,2024-05-01T00:00:00+00:00\n" for c in OLD.concept_ids)
    return write_csv(tmp_path / "combo_mappings.csv", HEADER + "\n" + rows)


def test_concept_order_is_row_order(catalog_file: Path) -> None:
    combo = ComboCatalog(catalog_file).get(OLD.combo_id)
    assert combo.concept_ids == ("b", "a", "c")
    assert (combo.level, combo.k_max) == ("paragraph", 3)


def test_append_keeps_existing_bytes_as_a_prefix(catalog_file: Path) -> None:
    before = catalog_file.read_bytes()
    new = Combo.of(["x", "y"], "sentence", 2)
    assert ComboCatalog(catalog_file).ensure([OLD, new]) == [new]
    after = catalog_file.read_bytes()
    assert after.startswith(before)
    added = after[len(before) :].decode().splitlines()
    assert [line.split(",")[:5] for line in added] == [
        [new.combo_id, "v1", "x", "sentence", "2"],
        [new.combo_id, "v1", "y", "sentence", "2"],
    ]
    assert ComboCatalog(catalog_file).get(new.combo_id).concept_ids == ("x", "y")


def test_append_to_a_file_without_final_newline(catalog_file: Path) -> None:
    catalog_file.write_bytes(catalog_file.read_bytes().rstrip(b"\n"))
    ComboCatalog(catalog_file).ensure([Combo.of(["x", "y"], "sentence", 2)])
    assert len(ComboCatalog(catalog_file).combos) == 2


def test_append_to_a_crlf_file_keeps_its_bytes_and_line_ending(catalog_file: Path) -> None:
    catalog_file.write_bytes(b"\xef\xbb\xbf" + catalog_file.read_bytes().replace(b"\n", b"\r\n"))
    before = catalog_file.read_bytes()
    ComboCatalog(catalog_file).ensure([Combo.of(["x", "y"], "sentence", 2)])
    after = catalog_file.read_bytes()
    assert after.startswith(before) and after.count(b"\r\n") == after.count(b"\n") == 6
    assert len(ComboCatalog(catalog_file).combos) == 2


def test_new_catalog_gets_the_header(tmp_path: Path) -> None:
    path = tmp_path / "combo_mappings.csv"
    ComboCatalog(path).ensure([OLD])
    assert path.read_text().splitlines()[0] == HEADER


def test_existing_combos_write_nothing(catalog_file: Path) -> None:
    stat = catalog_file.stat()
    assert ComboCatalog(catalog_file).ensure([Combo.of(["c", "b", "a"], "paragraph", 3)]) == []
    assert catalog_file.stat().st_mtime_ns == stat.st_mtime_ns


@pytest.mark.parametrize(
    "other",
    [
        Combo(OLD.combo_id, ("a", "b", "d"), "paragraph", 3),
        Combo(OLD.combo_id, ("a", "b", "c"), "sentence", 3),
        Combo(OLD.combo_id, ("a", "b", "c"), "paragraph", 4),
    ],
)
def test_redefining_an_id_is_an_error_and_changes_nothing(catalog_file: Path, other: Combo) -> None:
    before = catalog_file.read_bytes()
    with pytest.raises(ComboError, match=OLD.combo_id) as info:
        ComboCatalog(catalog_file).ensure([Combo.of(["p", "q"], "paragraph", 2), other])
    assert str(catalog_file) in str(info.value) and "\n" not in str(info.value)
    assert catalog_file.read_bytes() == before


def test_inconsistent_rows_in_the_file_are_an_error(catalog_file: Path) -> None:
    catalog_file.write_text(catalog_file.read_text() + f"{OLD.combo_id},v1,d,sentence,3,x\n")
    with pytest.raises(ComboError, match="row 5"):
        ComboCatalog(catalog_file)


def test_k_subsets() -> None:
    combos = k_subsets(["a", "b", "c", "d"], 3, "paragraph")
    assert [c.concept_ids for c in combos] == [("a", "b", "c"), ("a", "b", "d"), ("a", "c", "d"), ("b", "c", "d")]
    assert all(c.k_max == 3 for c in combos)
    with pytest.raises(ComboError, match="larger than the 4 active concepts"):
        k_subsets(["a", "b", "c", "d"], 5, "paragraph")


# Appends one combo of its own and one shared by every writer, many times, in a process of its own.
_APPEND_MANY = """
import sys
from pathlib import Path
from daydream.combos import Combo, append_combos
path, writer, times = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(times):
    append_combos(path, [Combo.of([f"w{writer}-{i}-a", f"w{writer}-{i}-b"], "paragraph", 2),
                         Combo.of(["shared-a", f"shared-{i}"], "paragraph", 2)])
"""


def test_concurrent_writers_lose_no_row_and_write_none_twice(catalog_file: Path) -> None:
    """Real processes appending at once: each keeps every row, a combo two of them add is written once,
    and the file stays append-only (its old bytes, CRLF line ends, a prefix of the new file)."""
    catalog_file.write_bytes(catalog_file.read_bytes().replace(b"\n", b"\r\n"))
    before = catalog_file.read_bytes()
    writers, times = 5, 20
    procs = [
        subprocess.Popen([sys.executable, "-c", _APPEND_MANY, str(catalog_file), str(w), str(times)])
        for w in range(writers)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0] * writers
    after = catalog_file.read_bytes()
    assert after.startswith(before) and after.count(b"\r\n") == after.count(b"\n")
    combos = ComboCatalog(catalog_file).combos
    assert len(combos) == 1 + writers * times + times
    for w in range(writers):
        for i in range(times):
            assert Combo.of([f"w{w}-{i}-a", f"w{w}-{i}-b"], "paragraph", 2).combo_id in combos
    lines = after.decode().splitlines()[1:]
    assert len(lines) == len(set(line.rsplit(",", 1)[0] for line in lines)) == 3 + 2 * (writers * times + times)
