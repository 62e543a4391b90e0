"""The whole store on object storage: the demo cohort built, run, judged and reported with the data
root ``s3://bucket/prefix`` on a real SeaweedFS, the same code paths as a local root, nothing written
to the local disk, and the promises kept (write-once metadata, a generation's lock is a lease,
a rerun pays nothing, the spend ledger keeps every line of concurrent writers)."""

# ruff: noqa: F811  (the fixtures are imported from storage_harness and requested by name)
from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO_DATA, FakeLLM, copy_bundled_data, member_ids, run_members
from storage_harness import s3_env, s3_server  # noqa: F401  (fixtures)

from daydream import atomic, gen_index, locks
from daydream.cohorts import build_cohort
from daydream.orchestration.stage import write_stage_summary
from daydream.paths import STAGES, DataLayout
from daydream.reports import build_cohort_reports
from daydream.runner import RunOptions, StageRunner
from daydream.spend import SpendLedger
from daydream.status import cohort_status
from daydream.storage import open_storage
from daydream.storage.objpath import ObjectPath
from daydream.storage.seaweedfs import SeaweedServer
from daydream.store import GensStore

pytestmark = pytest.mark.objstore


def upload(storage_url: str, server: SeaweedServer, local: Path, prefix: str) -> None:
    storage = open_storage(storage_url, s3=server.settings)
    files = [p for p in local.rglob("*") if p.is_file()]
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda p: storage.write_bytes(f"{prefix}/{p.relative_to(local).as_posix()}", p.read_bytes()), files
            )
        )


@pytest.fixture
def s3_layout(
    s3_env: SeaweedServer, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DataLayout]:
    url = s3_env.url(f"dr-{tmp_path.name[-20:]}")
    bundled = copy_bundled_data(tmp_path_factory.mktemp("bundled") / "data")
    for part in ("1_raw", "cohorts"):
        upload(url, s3_env, bundled / part, part)
    monkeypatch.chdir(tmp_path)  # a stray local write would land here: the test looks for it
    yield DataLayout.at(url)
    assert list(tmp_path.iterdir()) == [], "something was written to the local disk"


def test_the_demo_cohort_runs_end_to_end_on_object_storage(s3_layout: DataLayout) -> None:
    layout = s3_layout
    assert isinstance(layout.root, ObjectPath) and str(layout.root).startswith("s3://")
    build = build_cohort(layout, "demo")
    assert build.seeded_metadata > 0
    llm = FakeLLM()
    outcomes = run_members(layout, "demo", llm)
    assert {o.state for o in outcomes} == {"done"}
    paid = len(llm.calls)
    assert paid == sum(o.called_llm for o in outcomes) > 0

    storage = layout.root.storage  # type: ignore[attr-defined]
    keys = {info.key for info in storage.list_prefix("gens/")}
    assert any(k.endswith("/parsed.txt") for k in keys) and not any(k.endswith(".tmp") for k in keys)

    def index_records() -> int:
        return sum(len(storage.ledger(gen_index.index_key(layout, stage)[1]).lines()) for stage in STAGES)

    assert index_records() == len(outcomes)  # one record per generation the runner wrote

    # a rerun pays nothing: every generation is found done through the object store
    again = run_members(layout, "demo", llm)
    assert {o.state for o in again} == {"skipped"} and len(llm.calls) == paid
    assert index_records() == len(outcomes)  # nothing written, nothing recorded
    for stage in STAGES:  # each stage summary compacts its index: the readers below read one segment
        write_stage_summary(layout, "demo", stage, [])
        index_objects = [i.key for i in storage.list_prefix(f"{gen_index.index_key(layout, stage)[1]}.d/")]
        assert len(index_objects) == 1 and "/segments/" in index_objects[0]
        _, _, listed = gen_index.stage_listing(layout, stage)
        index = gen_index.load(layout, stage)
        assert listed and all(index.fields(gen_id, files) is not None for gen_id, files in listed.items())

    status = cohort_status(layout, "demo")
    assert not status.unfinished and all(s.done == s.total > 0 for s in status.stages.values())
    assert SpendLedger(layout, "demo").totals()["calls"] == paid

    result = build_cohort_reports(layout, "demo")
    written = {info.key for info in storage.list_prefix("cohorts/demo/reports/")}
    assert written and result is not None
    # the diversity section read every done draft's and essay's text from the object store
    ideas = storage.read_text("cohorts/demo/reports/analysis/distinct_ideas.csv").splitlines()
    assert len(ideas) > 1 and "cohorts/demo/reports/analysis/near_duplicates.csv" in written

    # a forced rerun replaces the answer and keeps the previous one under attempts/ (copy, then move)
    gen_id = member_ids(layout, "draft", template_id="links-brainstorm-v2")[0]
    before = GensStore(layout).parsed_text("draft", gen_id)
    forced = StageRunner(
        layout, llm=FakeLLM({"DRAFT TASK": "new one\nnew two\nnew three"}), options=RunOptions(force=True)
    )
    outcome = forced.run("draft", gen_id)
    assert outcome.state == "done", outcome.message
    assert GensStore(layout).parsed_text("draft", gen_id) == "new one\nnew two\nnew three"
    kept = storage.read_many([i.key for i in storage.list_prefix(f"gens/draft/{gen_id}/attempts/")])
    assert before is not None and before.encode() in kept.values()
    assert not any("/incoming/" in key for key in kept)


def test_write_once_and_leases_hold_on_object_storage(s3_layout: DataLayout) -> None:
    store = GensStore(s3_layout)
    target = s3_layout.gen_dir("draft", "g1") / "metadata.json"
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda i: atomic.create_exclusive(target, f'{{"n": {i}}}'.encode()), range(8)))
    assert won.count(True) == 1
    assert store.read_json("draft", "g1", "metadata.json") == {"n": won.index(True)}

    lock = s3_layout.gen_dir("draft", "g1") / ".lock"
    with locks.try_lock(lock) as first:
        with locks.try_lock(lock) as second:
            assert first and not second
    with locks.try_lock(lock) as again:
        assert again  # released on exit

    # str() round-trips, and so does pickling (XComs, process pools)
    assert DataLayout.at(str(s3_layout.root)).root == s3_layout.root
    assert pickle.loads(pickle.dumps(target)) == target
    with pytest.raises(TypeError):
        os.stat(target)


def test_the_spend_ledger_keeps_every_line_of_concurrent_writers(s3_layout: DataLayout) -> None:
    ledger = SpendLedger(s3_layout, "demo")

    def record(i: int) -> None:
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        ledger.record(stage="draft", gen_id=f"g{i}", llm_model_id="m", cost_usd=0.5, estimated=False, usage=usage)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(record, range(64)))
    assert sorted(e["gen_id"] for e in ledger.entries()) == sorted(f"g{i}" for i in range(64))
    assert ledger.totals()["cost_usd"] == pytest.approx(32.0)
    assert json.loads(json.dumps(ledger.totals()))["calls"] == 64


def test_prepare_creates_the_bucket_and_seeds_it_once(s3_env: SeaweedServer, tmp_path: Path) -> None:
    from daydream.storage.prepare import main

    url = f"s3://fresh-{tmp_path.name[-12:].lower().replace('_', '-')}/lab"
    assert main([url, "--seed", str(REPO_DATA)]) == 0
    root = DataLayout.at(url).root
    assert (root / "1_raw" / "llm_models.csv").read_bytes() == (REPO_DATA / "1_raw" / "llm_models.csv").read_bytes()
    (root / "1_raw" / "llm_models.csv").write_text("edited\n")
    assert main([url, "--seed", str(REPO_DATA)]) == 0  # a root in use is never overwritten
    assert (root / "1_raw" / "llm_models.csv").read_text() == "edited\n"


def test_the_async_path_records_its_generation_in_the_index(s3_layout: DataLayout) -> None:
    """The triggerer's face (``StageRunner.arun``) records what it wrote before letting go, as ``run`` does."""
    import asyncio

    layout = s3_layout
    build_cohort(layout, "demo")
    gen_id = member_ids(layout, "draft")[0]
    llm = FakeLLM()
    runner = StageRunner(layout, cohort_id="demo")

    async def acall(plan: Any) -> Any:
        return llm.complete(**plan.request())

    outcome = asyncio.run(runner.arun("draft", gen_id, acall))
    assert outcome.state == "done", outcome.message
    listed = gen_index.stage_listing(layout, "draft")[2]
    fields = gen_index.load(layout, "draft").fields(gen_id, listed[gen_id])
    assert fields is not None and fields["raw_metadata.json"]["usage"]["completion_tokens"] > 0
    assert runner.store.changed == set()
