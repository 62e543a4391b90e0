"""The stage index on object storage (``daydream.gen_index``) against a real SeaweedFS: the reports
loader and ``cohort status`` read records instead of files and produce exactly the frame and states
of the per-file path and of a local root, whatever the index holds (records missing, stale after a
rerun or a maintenance edit, hostile, oversized, a corrupt segment) and however many writers append."""

# ruff: noqa: F811  (the fixtures are imported from storage_harness and requested by name)
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from storage_harness import s3_env, s3_server  # noqa: F401  (fixtures)

from daydream import gen_index
from daydream.paths import DataLayout
from daydream.reports.loader import read_gens
from daydream.storage.seaweedfs import SeaweedServer
from daydream.store import GensStore, GenState
from daydream.store_objects import states

pytestmark = pytest.mark.objstore

STAGE = "evaluation"
SHA = "sha-now"


def evaluation(i: int, **raw: Any) -> dict[str, bytes]:
    meta = {"stage": STAGE, "gen_id": f"e{i:03d}", "template_id": "t", "llm_model_id": "m", "parent_gen_id": "p"}
    raw_meta = {"llm_model_id": "m", "model": "x/m", "template_sha256": SHA, "cost_usd": 0.001 * i, **raw}
    raw_meta.setdefault("usage", {"prompt_tokens": 100 + i, "completion_tokens": 7, "total_tokens": 107 + i})
    parsed = {"success": True, "score": i % 10, "parser": "in_last_line", "scale": 10}
    return {
        "metadata.json": json.dumps(meta).encode(),
        "raw.txt": b"SCORE: 3\n",
        "raw_metadata.json": json.dumps(raw_meta).encode(),
        "parsed.txt": f"{i % 10}\n".encode(),
        "parsed_metadata.json": json.dumps(parsed).encode(),
    }


def odd_store() -> dict[str, dict[str, bytes]]:
    """Generations of every shape the loader meets, DayDream's and older or damaged ones."""
    gens = {f"e{i:03d}": evaluation(i) for i in range(24)}
    gens["e100"] = {**evaluation(100), "parsed_metadata.json": b'{"success": true, "parser": "old"}'}  # no score
    gens["e101"] = {  # a failed parse: error and parsed_metadata without success
        **{k: v for k, v in evaluation(101).items() if k not in ("parsed.txt",)},
        "parsed_metadata.json": b'{"success": false, "error_kind": "parse", "error": "no score"}',
        "error.json": b'{"kind": "parse", "error": "no score", "at": "2026-01-01"}',
    }
    gens["e102"] = evaluation(102, usage="lots", cost_usd="1.5", truncated="yes", template_sha256="sha-old")
    gens["e102"]["metadata.json"] = b'{"evaluation_template": "old-t", "model_id": "old-m", "replicate": 2}'
    gens["e103"] = evaluation(103, model={"nested": True})  # not indexable: read from its files
    gens["e104"] = {**evaluation(104), "error.json": json.dumps({"kind": "x", "error": "e" * 40_000}).encode()}
    gens["e105"] = {**evaluation(105), "parsed_metadata.json": b"{not json"}
    gens["e106"] = evaluation(106, cost_usd=float("nan"))
    gens["e107"] = {"metadata.json": evaluation(107)["metadata.json"]}  # pending
    gens["e108"] = evaluation(108)  # never recorded
    return gens


class Twins:
    """The same store on the local disk and in the bucket, changed in step."""

    def __init__(self, local: DataLayout, remote: DataLayout):
        self.local, self.remote = local, remote
        self.storage = remote.root.storage  # type: ignore[attr-defined]

    def put(self, gen_id: str, name: str, data: bytes) -> None:
        path = self.local.gen_dir(STAGE, gen_id) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.storage.write_bytes(f"gens/{STAGE}/{gen_id}/{name}", data)

    def remove(self, gen_id: str, name: str) -> None:
        (self.local.gen_dir(STAGE, gen_id) / name).unlink()
        self.storage.delete(f"gens/{STAGE}/{gen_id}/{name}")

    def ledger_key(self) -> str:
        return gen_index.index_key(self.remote, STAGE)[1]


@pytest.fixture
def twins(s3_env: SeaweedServer, tmp_path: Path) -> Twins:
    pair = Twins(DataLayout(tmp_path / "local"), DataLayout.at(s3_env.url(f"ix-{tmp_path.name[-20:]}")))
    files = [(g, n, d) for g, named in odd_store().items() for n, d in named.items()]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda f: pair.put(*f), files))
    return pair


def counting_reads(twins: Twins, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every key the storage fetches from now on (the index's own segment included)."""
    fetched: list[str] = []
    original: Callable[..., dict[str, bytes]] = twins.storage.read_many

    def read_many(keys: Any, **kwargs: Any) -> dict[str, bytes]:
        keys = list(keys)
        fetched.extend(keys)
        return original(keys, **kwargs)

    monkeypatch.setattr(twins.storage, "read_many", read_many)
    return fetched


def views(twins: Twins) -> tuple[pd.DataFrame, list[GenState]]:
    ids = sorted(odd_store())
    members = [(STAGE, g, "t") for g in ids]
    return read_gens(twins.remote, STAGE, ids, metadata=True), states(twins.remote, members, lambda s, t: SHA)


def assert_same_as_files(twins: Twins, monkeypatch: pytest.MonkeyPatch) -> None:
    """The indexed read equals the per-file read on S3 and the local read, frame and states."""
    frame, got = views(twins)
    with monkeypatch.context() as without:
        without.setattr(gen_index, "load", lambda layout, stage: gen_index.EMPTY)
        per_file, per_file_states = views(twins)
    ids = sorted(odd_store())
    local = read_gens(twins.local, STAGE, ids, metadata=True)
    store = GensStore(twins.local)
    pd.testing.assert_frame_equal(frame, per_file)
    pd.testing.assert_frame_equal(frame, local)
    assert got == per_file_states == [store.state(STAGE, g, SHA) for g in ids]


def record_all(twins: Twins, ids: list[str]) -> dict[str, bool]:
    with ThreadPoolExecutor(8) as pool:  # concurrent writers, as workers finishing together
        done = list(pool.map(lambda g: gen_index.record_generation(twins.remote, STAGE, g), ids))
    return dict(zip(ids, done, strict=True))


def test_indexed_reads_equal_the_files_and_skip_their_gets(twins: Twins, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = sorted(g for g in odd_store() if g != "e108")
    recorded = record_all(twins, ids)
    assert {g for g, ok in recorded.items() if not ok} == {"e103", "e104", "e105"}
    assert len(twins.storage.ledger(twins.ledger_key()).lines()) == len(ids) - 3
    assert gen_index.compact(twins.remote, STAGE) == len(ids) - 3
    assert_same_as_files(twins, monkeypatch)

    fetched = counting_reads(twins, monkeypatch)
    frame, got = views(twins)
    gen_files = {key.split("/")[2] for key in fetched if key.startswith("gens/")}
    assert gen_files == {"e100", "e103", "e104", "e105", "e108"}  # the old score, unindexable, unrecorded
    assert sum(key.startswith(".daydream/") for key in fetched) == 2  # one segment, read by each reader
    assert got.count(GenState.STALE) == 1 and frame["read_error"].notna().sum() >= 3


def test_a_stale_record_is_never_used(twins: Twins, monkeypatch: pytest.MonkeyPatch) -> None:
    record_all(twins, sorted(odd_store()))
    # behind the index's back: a forced rerun's new score, an error added, a file removed by maintenance
    twins.put("e000", "parsed_metadata.json", b'{"success": true, "score": 9.5, "parser": "in_last_line"}')
    twins.put("e001", "error.json", b'{"kind": "validation", "error": "later"}')
    twins.remove("e002", "raw_metadata.json")
    twins.put("e003", "raw_metadata.json", evaluation(3, template_sha256="sha-old")["raw_metadata.json"])
    assert_same_as_files(twins, monkeypatch)
    frame = views(twins)[0].set_index("gen_id")
    assert frame.loc["e000", "parsed_value"] == 9.5 and frame.loc["e001", "error_kind"] == "validation"


def test_hostile_records_are_refused_by_name(
    twins: Twins, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    record_all(twins, sorted(odd_store()))
    ledger = twins.storage.ledger(twins.ledger_key())
    good = dict(line.split("\t", 1) for line in ledger.lines())
    forged = json.loads(good["e005"])
    forged["metadata.json"][2]["secret"] = "x"  # a field the loader never reads
    nested = json.loads(good["e006"])
    nested["raw_metadata.json"][2]["model"] = {"deep": [1, 2]}
    sized = json.loads(good["e007"])
    sized["metadata.json"][0] = -1
    for line in (
        f"e005\t{json.dumps(forged)}",
        f"e006\t{json.dumps(nested)}",
        f"e007\t{json.dumps(sized)}",
        "e008\t{not json",
        "e009\t" + json.dumps({"metadata.json": [1, "e", {"template_id": "x" * 40_000}]}),
        "no tab at all",
    ):
        ledger.append(line)
    caplog.set_level(logging.WARNING, logger="daydream.gen_index")
    assert_same_as_files(twins, monkeypatch)
    text = caplog.text
    for field in ("metadata.json.secret", "raw_metadata.json.model", "metadata.json.size", "record: not JSON"):
        assert field in text
    assert "larger than 32,768 bytes" in text and "no generation id" in text
    assert f"{twins.storage.url}{twins.ledger_key()}: record " in text


def test_a_corrupt_segment_means_no_index_not_a_wrong_report(
    twins: Twins, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    record_all(twins, sorted(odd_store()))
    gen_index.compact(twins.remote, STAGE)
    twins.storage.write_bytes(f"{twins.ledger_key()}.d/segments/99999999T000000.000000Z-x.jsonl", b"garbage\n")
    caplog.set_level(logging.WARNING, logger="daydream.gen_index")
    assert_same_as_files(twins, monkeypatch)
    assert "99999999T000000.000000Z-x.jsonl: line 1: not a ledger entry" in caplog.text
    assert "every generation is read from its files" in caplog.text


def test_writers_racing_a_compaction_lose_no_record(twins: Twins, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = sorted(odd_store())
    with ThreadPoolExecutor(10) as pool:
        writes = [pool.submit(gen_index.record_generation, twins.remote, STAGE, g) for g in ids * 2]
        compactions = [pool.submit(gen_index.compact, twins.remote, STAGE) for _ in range(4)]
        assert sum(w.result() for w in writes) == 2 * (len(ids) - 3)
        assert all(c.result() >= 0 for c in compactions)
    gen_index.compact(twins.remote, STAGE)
    index = gen_index.load(twins.remote, STAGE)
    listed = gen_index.stage_listing(twins.remote, STAGE)[2]
    assert {g for g in ids if index.fields(g, listed[g]) is None} == {"e103", "e104", "e105"}
    assert_same_as_files(twins, monkeypatch)


def test_a_local_root_has_no_index(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path)
    store = GensStore(layout)
    store.write_json(STAGE, "e1", "parsed_metadata.json", {"success": True})
    assert store.changed == set() and gen_index.compact(layout, STAGE) == 0
    assert gen_index.load(layout, STAGE) is gen_index.EMPTY and not (tmp_path / ".daydream").exists()


def test_store_reindex_indexes_a_store_copied_in(
    twins: Twins, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store the runner never indexed (copied in, or its index deleted): ``daydream store reindex``
    records what it can in one pass, a second pass adds nothing, and reads then skip the files."""
    from daydream.cli import main

    monkeypatch.setattr(gen_index, "REINDEX_CHUNK", 7)  # several chunks, as on a large store
    ids = sorted(odd_store())
    assert main(["store", "reindex", "--stage", STAGE, "--data-root", str(twins.remote.root)]) == 0
    out = capsys.readouterr().out
    assert f"{len(ids)} generation(s) listed, {len(ids) - 3} record(s) added, 3 not indexable" in out
    assert gen_index.reindex(twins.remote, STAGE) == (len(ids), 0, 3)  # nothing left to add
    assert_same_as_files(twins, monkeypatch)
    fetched = counting_reads(twins, monkeypatch)
    views(twins)
    assert {key.split("/")[2] for key in fetched if key.startswith("gens/")} == {"e100", "e103", "e104", "e105"}

    twins.put("e000", "parsed_metadata.json", b'{"success": true, "score": 9.5, "parser": "in_last_line"}')
    assert gen_index.reindex(twins.remote, STAGE) == (len(ids), 1, 3)  # only the changed one
    assert_same_as_files(twins, monkeypatch)


def test_store_reindex_on_a_local_root_says_there_is_nothing_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from daydream.cli import main

    assert main(["store", "reindex", "--data-root", str(tmp_path)]) == 0
    assert "local data root: it has no index" in capsys.readouterr().out
    assert not (tmp_path / ".daydream").exists()
