"""The trigger path without Airflow: ``GenerationEngine`` over real stores, real processes and the
real offline LLM over HTTP through the ``openai`` async client.

- the same store contract as the worker path (same files, same ledger), within the pools' slots;
- adaptive concurrency: a provider that allows fewer calls than the pool gets fewer, and sustained
  success brings the model back to the pool;
- a used-up daily quota stops the model (no retry loop), the generations stay pending, and run after
  the reset; the worker path honours the same stop;
- kill -9 mid-call: the restarted process re-sends only the calls whose answer never arrived;
- two processes on the same stage: the pool holds across them and nothing is paid twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from engine_harness import run_stage, settings
from helpers import FakeLLM, copy_bundled_data

from daydream.cohorts import build_cohort
from daydream.engine.aimd import AIMDSettings
from daydream.engine.driver import GenerationEngine
from daydream.engine.gate import FixedPoolSizes
from daydream.engine.quota import QuotaBook
from daydream.llm.client import OpenAICompatibleClient
from daydream.llm.offline import OfflineServer, catalog_pricing
from daydream.llm.retry import AttemptFailure
from daydream.paths import DataLayout
from daydream.runner import StageRunner
from daydream.storage import LocalStorage

pytestmark = pytest.mark.timing  # make test keeps it from running beside a scheduler test

REPO = Path(__file__).resolve().parents[1]
HARNESS = REPO / "tests" / "engine_harness.py"
PRO, FLASH, FREE = "google/gemini-2.5-pro", "google/gemini-2.5-flash", "deepseek/deepseek-r1:free"
POOLS = {"llm_api_free": 1, "llm_api_paid": 3}

MIXED = """\
combos:
  k_max: 2
  description_level: paragraph
  concepts: [default-mode-network, generator-verifier-gap, data-flywheel]
axes:
  draft_template: [creative-synthesis-v10, links-brainstorm-v2]
  draft_llm: [deepseek_r1_f, gemini_25_pro]
  essay_template: [draft-as-essay]
  essay_llm: [gemini_25_pro]
  evaluation_template: [novelty-rubric-v2]
  evaluation_llm: [sonnet-4]
"""
# 6 combos x 2 templates x 2 paid models = 24 paid drafts
PAID = MIXED.replace("data-flywheel]", "data-flywheel, economic-moat]").replace(
    "[deepseek_r1_f, gemini_25_pro]", "[gemini_25_pro, gemini_25_flash]"
)
# 10 combos x 4 templates x 1 model = 40 drafts of one model
ONE_MODEL = (
    PAID.replace("economic-moat]", "economic-moat, serendipity-engine]")
    .replace(
        "[creative-synthesis-v10, links-brainstorm-v2]",
        "[creative-synthesis-v10, creative-synthesis-v9, links-brainstorm-v2, problem-solution-v1]",
    )
    .replace("[gemini_25_pro, gemini_25_flash]", "[gemini_25_pro]")
)


@pytest.fixture
def store(tmp_path: Path) -> DataLayout:
    root = copy_bundled_data(tmp_path / "data")
    for cohort_id, spec in {"mixed": MIXED, "paid": PAID, "one": ONE_MODEL}.items():
        (root / "cohorts" / cohort_id / "spec").mkdir(parents=True)
        (root / "cohorts" / cohort_id / "spec" / "config.yaml").write_text(spec)
    layout = DataLayout(root)
    for cohort_id in ("mixed", "paid", "one"):
        build_cohort(layout, cohort_id)
    return layout


@pytest.fixture
def server(store: DataLayout):
    llm = OfflineServer({**catalog_pricing(store.models_csv), "latency_s": 0.3}).start()
    try:
        yield llm
    finally:
        llm.stop()


def run(layout: DataLayout, server: OfflineServer, cohort: str, pools: dict[str, int] = POOLS, **kw: Any) -> Any:
    async def go() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        engine = GenerationEngine(layout, settings(server.base_url, **kw), FixedPoolSizes(pools), poll_s=0.05)
        try:
            return await run_stage(engine, layout, cohort, "draft"), engine.gate.stats()
        finally:
            await engine.aclose()

    return asyncio.run(go())


def files_of(layout: DataLayout, gen_id: str) -> set[str]:
    return {p.name for p in layout.gen_dir("draft", gen_id).iterdir()}


def test_a_stage_runs_within_the_pools_with_the_worker_paths_store_contract(store, server, tmp_path) -> None:
    outcomes, _ = run(store, server, "mixed")
    assert len(outcomes) == 12 and {o["state"] for o in outcomes} == {"done"}
    stats = server.stats()
    assert stats["tiers"]["free"]["peak_in_flight"] == 1
    assert stats["tiers"]["paid"]["peak_in_flight"] == 3
    assert stats["total_requests"] == 12 and stats["answered_twice"] == []

    # the worker path on a copy of the same cohort writes the same files
    sync_root = copy_bundled_data(tmp_path / "sync")
    (sync_root / "cohorts" / "mixed" / "spec").mkdir(parents=True)
    (sync_root / "cohorts" / "mixed" / "spec" / "config.yaml").write_text(MIXED)
    sync = DataLayout(sync_root)
    build_cohort(sync, "mixed")
    runner = StageRunner(sync, llm=FakeLLM(), cohort_id="mixed")
    for o in outcomes:
        assert runner.run("draft", o["gen_id"]).state == "done"
        assert files_of(store, o["gen_id"]) == files_of(sync, o["gen_id"]) >= {"raw.txt", "parsed.txt"}
        raw_meta = json.loads((store.gen_dir("draft", o["gen_id"]) / "raw_metadata.json").read_text())
        assert raw_meta["attempts"] == 1 and raw_meta["cohort_id"] == "mixed"
    ledger = (store.runs_dir("mixed") / "spend.jsonl").read_text().splitlines()
    assert len(ledger) == 12

    again, _ = run(store, server, "mixed")
    assert again == [] and server.stats()["total_requests"] == 12, "a second run lists nothing and calls nothing"


def capped_stage(
    layout: DataLayout, server: OfflineServer, aimd: AIMDSettings
) -> tuple[list[dict[str, Any]], int, dict]:
    """The 40 drafts of cohort ``one`` (again) against a provider that allows 2 of the pool's 8: the
    outcomes, the 429s the provider sent, the gate's stats."""
    server.configure(model_max_in_flight={PRO: 2}, max_in_flight_retry_after=0.5, latency_s=0.5)
    server.reset()

    async def go() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        engine = GenerationEngine(
            layout,
            settings(server.base_url, max_retries=10, backoff_base_s=0.2),
            FixedPoolSizes({"llm_api_paid": 8}),
            poll_s=0.05,
        )
        engine.gate.aimd_settings = aimd
        try:
            return await run_stage(engine, layout, "one", "draft", force=True), engine.gate.stats()
        finally:
            await engine.aclose()

    outcomes, gate = asyncio.run(go())
    return outcomes, server.stats()["models"][PRO]["errors"].get("429", 0), gate


def test_a_provider_capped_below_the_pool_gets_fewer_calls_and_recovers_when_the_cap_goes(store, server) -> None:
    # the same stage with a limit that never decreases, measured in the same run (only Retry-After's
    # pauses hold it back): 37 429s for 40 calls on a quiet machine, more on a busy one
    outcomes, fixed, _ = capped_stage(store, server, AIMDSettings(decrease_factor=1.0))
    assert len(outcomes) == 40 and {o["state"] for o in outcomes} == {"done"}
    outcomes, rejected, gate = capped_stage(store, server, AIMDSettings())
    assert len(outcomes) == 40 and {o["state"] for o in outcomes} == {"done"}
    assert rejected < fixed, (rejected, fixed)  # a quiet machine: 25 against 37
    # AIMD is a sawtooth around the provider's 2: additive steps up after successes, halving on a 429;
    # when the stage ends the cap is somewhere on a tooth (2-4 seen), far below the pool's 8
    assert gate["llm_api_paid"]["models"][PRO]["cap"] <= 4

    server.configure(model_max_in_flight={}, latency_s=0.5)
    server.reset()

    async def recover() -> dict[str, Any]:
        engine = GenerationEngine(store, settings(server.base_url), FixedPoolSizes({"llm_api_paid": 8}), poll_s=0.05)
        limited = AttemptFailure("status", "Rate limit exceeded", status=429)
        engine.gate.pool("llm_api_paid").model(PRO).aimd.on_failure(limited, in_flight=4, ceiling=8)  # now 2
        try:
            # sustained success: the stage twice over (80 calls), so a slow machine's climb from 2 to 8
            # also ends at the pool, not on the way
            for _ in range(2):
                await run_stage(engine, store, "one", "draft", force=True)
            return engine.gate.stats()
        finally:
            await engine.aclose()

    gate = asyncio.run(recover())
    assert server.stats()["models"][PRO]["peak_in_flight"] == 8, "sustained success brings it back to the pool"
    assert gate["llm_api_paid"]["models"][PRO]["cap"] == 8


DAILY = {
    "fault": "rate_limit",
    "model": FREE,
    "message": "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day",
    "retry_after": None,
}


def test_a_used_up_daily_quota_stops_the_model_until_the_reset(store, server) -> None:
    reset = time.time() + 6 * 3600
    rule = {**DAILY, "headers": {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0",
                                 "X-RateLimit-Reset": str(int(reset * 1000))}}  # fmt: skip
    server.configure(faults=[rule])
    outcomes, _ = run(store, server, "mixed")
    states = {o["gen_id"]: o["state"] for o in outcomes}
    free = [o for o in outcomes if o["state"] == "quota"]
    assert len(free) == 6 and all("daily quota of model 'deepseek/deepseek-r1:free'" in o["message"] for o in free)
    assert sorted(states.values()).count("done") == 6
    assert server.stats()["models"][FREE]["requests"] == 1, "one 429, then no call and no retry"
    stop = QuotaBook(LocalStorage(store.root)).stopped("deepseek_r1_f")
    assert stop is not None and abs(stop.until - reset) < 2
    for o in free:
        assert not {"raw.txt", "error.json", "parsed.txt"} & files_of(store, o["gen_id"]), "pending, not failed"

    # the worker path sees the same stop and makes no call either
    fake = FakeLLM()
    assert StageRunner(store, llm=fake, cohort_id="mixed").run("draft", free[0]["gen_id"]).state == "quota"
    assert fake.calls == []

    # the next day: the stop has expired and the provider answers again
    QuotaBook(LocalStorage(store.root)).stop("deepseek_r1_f", FREE, time.time() - 1, "expired")
    server.configure(faults=[])
    outcomes, _ = run(store, server, "mixed")
    assert len(outcomes) == 6 and {o["state"] for o in outcomes} == {"done"}


def test_a_daily_quota_the_sync_face_meets_is_recorded_for_everyone(store, server) -> None:
    server.configure(faults=[DAILY])
    gen_id = next(g for g in (p.name for p in store.stage_dir("draft").iterdir()) if "deepseek" in
                  (store.gen_dir("draft", g) / "metadata.json").read_text())  # fmt: skip
    client = OpenAICompatibleClient(settings(server.base_url, max_retries=2, backoff_base_s=0.01))
    outcome = StageRunner(store, llm=client, cohort_id="mixed").run("draft", gen_id)
    assert outcome.state == "quota"
    assert QuotaBook(LocalStorage(store.root)).stopped("deepseek_r1_f") is not None
    assert not (store.gen_dir("draft", gen_id) / "error.json").exists()


def harness(layout: DataLayout, server: OfflineServer, cohort: str, pools: dict[str, int]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HARNESS), str(layout.root), cohort, "draft", server.base_url, json.dumps(pools)],
        stdout=subprocess.PIPE,
        cwd=REPO,
    )


def recorded(layout: DataLayout) -> set[tuple[str, str]]:
    """``(model, prompt sha256)`` of every draft whose answer reached the store."""
    found = set()
    for path in layout.stage_dir("draft").glob("*/raw_metadata.json"):
        meta = json.loads(path.read_text())
        found.add((meta["model"], meta["prompt_sha256"]))
    return found


def test_kill_9_mid_call_resends_only_the_calls_whose_answer_never_arrived(store, server) -> None:
    server.configure(latency_s=2.0)
    child = harness(store, server, "paid", {"llm_api_paid": 8})
    deadline = time.monotonic() + 120
    # Kill mid-call: the second wave in flight and every answer of the first one recorded and judged (on
    # a loaded machine that lags the answer; an answer not yet recorded would rightly be sent again, and
    # a kill inside an atomic write would leave its temporary file).
    while True:
        stats = server.stats()
        finished = len(list(store.stage_dir("draft").glob("*/parsed_metadata.json")))  # the last file written
        if stats["in_flight"] == 8 and finished >= max(8, stats["total_served"]):
            break
        assert time.monotonic() < deadline and child.poll() is None, "the first wave never completed"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    at_kill = server.stats()
    in_flight_at_kill = at_kill["in_flight"]
    kept = recorded(store)
    time.sleep(2.5)  # the server answers the orphaned requests meanwhile
    assert not [p for p in store.gens.rglob("*.tmp")], "no partial file"

    again = harness(store, server, "paid", {"llm_api_paid": 8})
    result = json.loads(again.communicate(timeout=120)[0])
    assert again.returncode == 0
    done = {p.parent.name for p in store.stage_dir("draft").glob("*/parsed.txt")}
    assert len(done) == 24, "every generation ends done"
    twice = server.stats()["answered_twice"]
    assert not {(m, s) for m, s, _ in twice} & kept, "an answer that reached the store is never asked for again"
    assert at_kill["total_served"] == len(kept) and len(twice) <= in_flight_at_kill, (twice, in_flight_at_kill)
    assert {o["state"] for o in result["outcomes"]} <= {"done"}


def test_two_processes_on_one_stage_share_the_pool_and_pay_once(store, server) -> None:
    server.configure(latency_s=0.5)
    children = [harness(store, server, "paid", {"llm_api_paid": 4}) for _ in range(2)]
    results = [json.loads(c.communicate(timeout=120)[0]) for c in children]
    assert all(c.returncode == 0 for c in children)
    stats = server.stats()
    assert stats["tiers"]["paid"]["peak_in_flight"] == 4
    assert stats["answered_twice"] == [] and stats["total_served"] == 24
    states = [o["state"] for r in results for o in r["outcomes"]]
    assert states.count("done") == 24 and set(states) <= {"done", "skipped"}
