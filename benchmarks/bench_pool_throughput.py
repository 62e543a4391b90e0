"""Benchmark: throughput of the paid pool under the real scheduler, against a plain asyncio loop.

60 paid drafts, the offline LLM answering each request after 5 s, pool ``llm_api_paid`` at 5 slots:
the ideal is 12 waves of 5 s = 60 s. The same run times a plain asyncio loop with 5 concurrent
requests over the same server (the floor: no scheduler, no task processes), then the
``daydream_draft`` DAG run for the same 60 generations under a local Airflow (four services,
LocalExecutor on SQLite, as ``make airflow`` runs it). Target: DAG wall time <= 1.15 x asyncio.

The DAG time is measured from the trigger (REST call) to the run's end, so it includes
``list_generations``, the selectors, task start-up in each mapped instance and ``summary``. One
small warm-up run first starts the executor's worker processes (as in any Airflow that has run a
task since it started): the figure is the pool's steady throughput, not Airflow's start-up.

For reference the same Airflow also runs ``bench_floor``, a DAG whose 60 mapped instances in the
same pool only sleep for the latency: Airflow's own cost per task on this machine, which no
DayDream code can go below.

Run: ``.venv/bin/python benchmarks/bench_pool_throughput.py [--latency 5] [--no-floor]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from airflow_env import env_for, make_data_root, offline_llm, running_airflow  # noqa: E402

from daydream.orchestration import build_cohort  # noqa: E402
from daydream.paths import DataLayout  # noqa: E402

TARGET_RATIO = 1.15
SLOTS = 5
COHORT = "bench"
WARMUP = "warmup"
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
# One paid draft, of concepts the bench cohort does not use: a first run that starts the executor's
# workers before anything is timed.
WARMUP_SPEC = """\
combos:
  k_max: 2
  description_level: paragraph
  concepts: [analogical-transfer, dearth-ai-discoveries]
axes:
  draft_template: [links-brainstorm-v2]
  draft_llm: [gemini_25_flash]
  essay_template: [draft-as-essay]
  essay_llm: [gemini_25_pro]
  evaluation_template: [novelty-rubric-v2]
  evaluation_llm: [sonnet-4]
"""


FLOOR_DAG = """\
# Airflow DAG bench_floor: mapped tasks in the paid pool that only sleep (the benchmark's floor).
import time

from airflow.sdk import dag, task


@dag(dag_id="bench_floor", schedule=None, is_paused_upon_creation=False, params={{"n": 60}})
def bench_floor():
    @task
    def items(**context):
        return list(range(context["params"]["n"]))

    @task(pool="llm_api_paid", map_index_template="{{{{ task.op_kwargs['i'] }}}}")
    def sleep(i, **context):
        time.sleep({latency})
        return {{"i": i}}

    sleep.expand(i=items())


bench_floor()
"""


def dags_folder(root: Path, latency: float) -> Path:
    """The project's DAG files and the floor DAG."""
    folder = root / "dags"
    folder.mkdir()
    for path in (REPO / "dags").glob("*.py"):
        shutil.copy(path, folder / path.name)
    (folder / "bench_floor.py").write_text(FLOOR_DAG.format(latency=latency))
    return folder


def timed_run(local, dag_id: str, conf: dict, timeout: float) -> tuple[float, dict]:
    """Trigger to end of one run, in seconds, and the run."""
    started = time.perf_counter()
    run_id = local.client.trigger(dag_id, conf)
    state = local.client.wait_run(dag_id, run_id, timeout=timeout, interval=0.5)
    wall = time.perf_counter() - started
    run = local.client.dag_run(dag_id, run_id)
    if state != "success":
        raise SystemExit(f"{dag_id} run {run_id} ended {state}")
    return wall, run


async def asyncio_loop(base_url: str, n: int, concurrency: int) -> float:
    """``n`` chat completions with ``concurrency`` in flight, over one HTTP client."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, i: int) -> None:
        async with semaphore:
            response = await client.post(
                f"{base_url}/chat/completions",
                json={
                    "model": "google/gemini-2.5-pro",
                    "max_tokens": 512,
                    "messages": [{"role": "user", "content": f"asyncio baseline request {i}"}],
                },
            )
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
    parser.add_argument("--no-floor", action="store_true", help="skip the sleep-only reference DAG")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="daydream-bench-pool-") as tmp:
        root = Path(tmp)
        data = make_data_root(root / "data", {COHORT: SPEC, WARMUP: WARMUP_SPEC})
        layout = DataLayout(data)
        build_cohort(layout, COHORT)
        build_cohort(layout, WARMUP)
        drafts = [
            line.split(",")[1]
            for line in layout.membership(COHORT).read_text().splitlines()[1:]
            if line.startswith("draft,")
        ]
        n = len(drafts)
        timeout = 20 * args.latency * n / SLOTS
        server = offline_llm(data, latency_s=args.latency)
        env = env_for(root / "airflow", data, server.base_url)
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder(root, args.latency))
        try:
            with running_airflow(env) as local:
                local.wait_dags(["daydream_draft", "bench_floor"])
                local.unpause(["daydream_draft", "bench_floor"])
                timed_run(local, "daydream_draft", {"cohort_id": WARMUP}, timeout)

                baseline = asyncio.run(asyncio_loop(server.base_url, n, SLOTS))
                floor = None if args.no_floor else timed_run(local, "bench_floor", {"n": n}, timeout)[0]
                server.reset()
                dag_wall, run = timed_run(local, "daydream_draft", {"cohort_id": COHORT}, timeout)
                stats = server.stats()
        finally:
            server.stop()
        done = sum((layout.gen_dir("draft", g) / "parsed.txt").exists() for g in drafts)

    ideal = args.latency * n / SLOTS
    ratio = dag_wall / baseline
    result = {
        "generations": n,
        "latency_s": args.latency,
        "paid_pool_slots": SLOTS,
        "ideal_s": round(ideal, 1),
        "asyncio_s": round(baseline, 1),
        "dag_wall_s": round(dag_wall, 1),
        "dag_run_start_to_end_s": round(seconds_between(run["start_date"], run["end_date"]), 1),
        "airflow_floor_s": None if floor is None else round(floor, 1),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "done": done,
        "paid_peak_in_flight": stats["tiers"].get("paid", {}).get("peak_in_flight"),
        "llm_requests": stats["total_requests"],
    }
    print(f"pool throughput: {n} paid generations at {args.latency:g} s latency, pool of {SLOTS} (ideal {ideal:.0f} s)")
    print(f"  plain asyncio loop, {SLOTS} concurrent:      {baseline:6.1f} s")
    if floor is not None:
        print(f"  Airflow floor (mapped tasks that sleep): {floor:6.1f} s  ({floor / baseline:.3f} x asyncio)")
    print(
        f"  daydream_draft under the scheduler:      {dag_wall:6.1f} s  (run start to end "
        f"{result['dag_run_start_to_end_s']:.1f} s; peak {result['paid_peak_in_flight']} paid in flight)"
    )
    ok = done == n and ratio <= TARGET_RATIO
    print(f"  ratio {ratio:.3f} (target <= {TARGET_RATIO}): {'OK' if ok else 'MISSED'}")
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
