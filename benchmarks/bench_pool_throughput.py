"""Benchmark: throughput of the paid pool under the real scheduler, against a plain asyncio loop.

60 paid drafts, the offline LLM answering each request after 5 s, pool ``llm_api_paid`` at 5 slots:
the ideal is 12 waves of 5 s = 60 s. The same run times a plain asyncio loop with 5 concurrent
requests over the same server (the floor: no scheduler, no task processes), then the
``daydream_draft`` DAG run for the same 60 generations under a local Airflow (four services,
LocalExecutor on SQLite, as ``make airflow`` runs it). Target: DAG wall time <= 1.15 x asyncio.

The DAG time is measured from the trigger (REST call) to the run's end, so it includes
``list_generations``, the selectors, task start-up in each mapped instance and ``summary``.

Run: ``.venv/bin/python benchmarks/bench_pool_throughput.py [--latency 5] [--n 60]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from airflow_env import env_for, make_data_root, offline_llm, running_airflow  # noqa: E402

from daydream.orchestration import build_cohort  # noqa: E402
from daydream.paths import DataLayout  # noqa: E402

TARGET_RATIO = 1.15
SLOTS = 5
COHORT = "bench"
# C(6, 2) = 15 combos x 2 draft templates x 2 paid models = 60 paid drafts.
SPEC = """\
combos:
  k_max: 2
  description_level: paragraph
  concepts: [default-mode-network, generator-verifier-gap, combinatorial-creativity, data-flywheel,
             economic-moat, serendipity-engine]
axes:
  draft_template: [creative-synthesis-v10, links-brainstorm-v2]
  draft_llm: [gemini_25_pro, gemini_25_flash]
  essay_template: [draft-as-essay]
  essay_llm: [gemini_25_pro]
  evaluation_template: [novelty-rubric-v2]
  evaluation_llm: [sonnet-4]
"""


async def asyncio_loop(base_url: str, n: int, concurrency: int) -> float:
    """``n`` chat completions with ``concurrency`` in flight, over one HTTP client."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, i: int) -> None:
        async with semaphore:
            response = await client.post(f"{base_url}/chat/completions", json={
                "model": "google/gemini-2.5-pro", "max_tokens": 512,
                "messages": [{"role": "user", "content": f"asyncio baseline request {i}"}]})
            response.raise_for_status()

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=concurrency)) as client:
        await asyncio.gather(*(one(client, i) for i in range(n)))
    return time.perf_counter() - started


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=5.0, help="offline LLM latency per request (s)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="daydream-bench-pool-") as tmp:
        root = Path(tmp)
        data = make_data_root(root / "data", {COHORT: SPEC})
        layout = DataLayout(data)
        build_cohort(layout, COHORT)
        drafts = [line.split(",")[1] for line in layout.membership(COHORT).read_text().splitlines()[1:]
                  if line.startswith("draft,")]
        n = len(drafts)
        server = offline_llm(data, latency_s=args.latency)
        try:
            with running_airflow(env_for(root / "airflow", data, server.base_url)) as local:
                local.wait_dags(["daydream_draft"])
                local.unpause(["daydream_draft"])

                baseline = asyncio.run(asyncio_loop(server.base_url, n, SLOTS))
                server.reset()

                started = time.perf_counter()
                run_id = local.client.trigger("daydream_draft", {"cohort_id": COHORT})
                state = local.client.wait_run("daydream_draft", run_id, timeout=20 * args.latency * n / SLOTS,
                                              interval=0.5)
                dag_wall = time.perf_counter() - started
                run = local.client.dag_run("daydream_draft", run_id)
                stats = server.stats()
        finally:
            server.stop()
        done = sum((layout.gen_dir("draft", g) / "parsed.txt").exists() for g in drafts)

    ideal = args.latency * n / SLOTS
    ratio = dag_wall / baseline
    result = {
        "generations": n, "latency_s": args.latency, "paid_pool_slots": SLOTS, "ideal_s": round(ideal, 1),
        "asyncio_s": round(baseline, 1), "dag_wall_s": round(dag_wall, 1),
        "dag_run_start_to_end_s": round(seconds_between(run["start_date"], run["end_date"]), 1),
        "ratio": round(ratio, 3), "target_ratio": TARGET_RATIO, "run_state": state, "done": done,
        "paid_peak_in_flight": stats["tiers"].get("paid", {}).get("peak_in_flight"),
        "llm_requests": stats["total_requests"],
    }
    print(f"pool throughput: {n} paid generations at {args.latency:g} s latency, pool of {SLOTS} "
          f"(ideal {ideal:.0f} s)")
    print(f"  plain asyncio loop, {SLOTS} concurrent: {baseline:6.1f} s")
    print(f"  daydream_draft under the scheduler:  {dag_wall:6.1f} s  (run start to end "
          f"{result['dag_run_start_to_end_s']:.1f} s; peak {result['paid_peak_in_flight']} paid in flight)")
    ok = state == "success" and done == n and ratio <= TARGET_RATIO
    print(f"  ratio {ratio:.3f} (target <= {TARGET_RATIO}): {'OK' if ok else 'MISSED'}")
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
