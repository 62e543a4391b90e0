"""Benchmark: generations in the triggerer against a plain asyncio loop, on the same offline LLM.

For each ``N:LATENCY:POOL`` (default 60:5:5, 250:5:25, 500:5:50): N paid drafts, the offline LLM
answering each request after LATENCY seconds, pool ``llm_api_paid`` at POOL slots. In one run it times
a plain asyncio loop with POOL requests in flight over the same server (the floor), then the
``daydream_draft`` DAG run for the N generations under a local Airflow (scheduler, dag-processor,
triggerer, api-server; LocalExecutor on SQLite, as ``make airflow`` runs it), trigger to end. It
records the peak of paid calls in flight (the offline LLM's ``/stats``), calls answered twice, and the
peak RSS of all Airflow processes (every process of the services' sessions, sampled every 0.5 s).

Targets (issue 11): ratio <= 1.15 (60), <= 1.25 with exactly 25 in flight (250), <= 1.3 with exactly
50 in flight (500); peak RSS < 4 GiB. ``--big 5000:1:100`` also runs a 5,000-generation stage and
reports its wall time, the scheduler's CPU seconds during the run, and how long the grid takes to load
that run (the UI's grid requests, timed). ``--worker`` runs the first size on the worker path too
(``DAYDREAM_GENERATION_PATH=worker``, a separate Airflow) for the comparison table.

A small warm-up run first starts the executor's worker processes and loads the trigger code, as in
any Airflow that has run a task since it started.

Run: ``.venv/bin/python benchmarks/bench_triggerer.py [--sizes 60:5:5,250:5:25] [--big 5000:1:100] [--worker]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from airflow_env import env_for, make_data_root, offline_llm, running_airflow  # noqa: E402

from daydream.orchestration import build_cohort  # noqa: E402
from daydream.paths import DataLayout  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from bench_pool_throughput import asyncio_loop  # noqa: E402

TARGETS = {60: 1.15, 250: 1.25, 500: 1.3}
RSS_LIMIT = 4 * 1024**3
CONCEPTS = [
    "default-mode-network", "generator-verifier-gap", "combinatorial-creativity", "data-flywheel", "economic-moat",
    "dearth-ai-discoveries", "economic-innovation-models", "serendipity-engine", "analogical-transfer",
    "exploration-exploitation", "recombinant-innovation", "tacit-knowledge", "scientific-taste", "incubation-effect",
]  # fmt: skip
# Each size its own k (combo size), so the cohorts share no draft: none finds another's work done.
SHAPES = {  # n -> (k, concepts, draft templates, paid models): at least n distinct (model, prompt) pairs
    60: (2, 6, 2, 2),
    250: (3, 7, 2, 4),
    500: (4, 9, 2, 2),
    5000: (5, 13, 4, 1),
}
TEMPLATES = ["creative-synthesis-v10", "links-brainstorm-v2", "creative-synthesis-v9", "problem-solution-v1"]
MODELS = ["gemini_25_pro", "gemini_25_flash", "gpt_4o_mini", "llama_33_70b"]


def spec(k: int, concepts: int, templates: int, models: int) -> str:
    return (
        f"combos: {{k_max: {k}, description_level: sentence, concepts: [{', '.join(CONCEPTS[:concepts])}]}}\n"
        f"axes:\n  draft_template: [{', '.join(TEMPLATES[:templates])}]\n"
        f"  draft_llm: [{', '.join(MODELS[:models])}]\n  essay_template: [draft-as-essay]\n"
        "  essay_llm: [gemini_25_pro]\n  evaluation_template: [novelty-rubric-v2]\n  evaluation_llm: [sonnet-4]\n"
    )


def trim_to(layout: DataLayout, cohort_id: str, n: int) -> None:
    """Keep the first ``n`` drafts of the cohort's membership (the stage runs exactly those)."""
    path = layout.membership(cohort_id)
    lines = path.read_text().splitlines()
    drafts = [line for line in lines[1:] if line.startswith("draft,")]
    assert len(drafts) >= n, f"{cohort_id}: {len(drafts)} drafts, {n} wanted"
    path.write_text("\n".join([lines[0], *drafts[:n]]) + "\n")


def session_procs(local) -> list[psutil.Process]:
    from local_airflow.services import session_members

    return session_members({p.pid for p in local.services.procs.values()})


def process_kind(proc: psutil.Process, sids: dict[int, str]) -> str:
    """``<service>:<role>`` of an Airflow process: the service whose session it is in, and what it runs
    (Airflow renames its forks: ``airflow worker -- LocalExecutor``, ``airflow task supervisor: ...``)."""
    service = sids.get(os.getsid(proc.pid), "?")
    words = " ".join(proc.cmdline()).split()
    role = " ".join(words[1:3]) if words[:1] == ["airflow"] else Path(words[0]).name if words else "?"
    if "forkserver" in " ".join(words):
        role = "forkserver"
    return f"{service}:{role}"


@contextmanager
def rss_peak(local) -> Iterator[dict[str, Any]]:
    """The peak of the summed RSS of every Airflow process while the block runs, with the RSS of each kind
    of process (``process_kind``: count and MiB) at that peak."""
    peak: dict[str, Any] = {"bytes": 0, "by_kind": {}}
    sids = {proc.pid: name for name, proc in local.services.procs.items()}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            total, kinds = 0, {}
            for proc in session_procs(local):
                try:
                    rss, kind = proc.memory_info().rss, process_kind(proc, sids)
                except (psutil.Error, OSError):
                    continue
                total += rss
                count, mib = kinds.get(kind, (0, 0.0))
                kinds[kind] = (count + 1, mib + rss / 1024**2)
            if total > peak["bytes"]:
                peak["bytes"] = total
                peak["by_kind"] = {k: [c, round(m)] for k, (c, m) in sorted(kinds.items())}

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


def cpu_seconds(procs: list[psutil.Process], *, children: bool = True) -> float:
    """User + system CPU of ``procs`` (and of their children that ended, with ``children``)."""
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
            if children:
                total += times.children_user + times.children_system
        except psutil.Error:
            pass
    return total


def timed_run(local, conf: dict[str, Any], timeout: float) -> tuple[float, str]:
    started = time.perf_counter()
    run_id = local.client.trigger("daydream_draft", conf)
    state = local.client.wait_run("daydream_draft", run_id, timeout=timeout, interval=0.5)
    if state != "success":
        tis = local.client.task_instances("daydream_draft", run_id)
        bad = sorted({(ti["task_id"], ti["state"]) for ti in tis if ti["state"] != "success"})
        raise SystemExit(
            f"daydream_draft run {run_id} ended {state}; tasks not successful: {bad}; logs in {local.home}"
        )
    return time.perf_counter() - started, run_id


def grid_seconds(local, run_id: str) -> dict[str, float]:
    """What the grid view of one run asks the API server for, each request timed."""
    timings = {}
    for name, path, params in (
        ("structure", "/ui/grid/structure/daydream_draft", {"limit": 10}),
        ("runs", "/ui/grid/runs/daydream_draft", {"limit": 10}),
        ("ti_summaries", "/ui/grid/ti_summaries/daydream_draft", {"run_ids": run_id}),
        ("mapped_list", f"/api/v2/dags/daydream_draft/dagRuns/{run_id}/taskInstances/generate_paid/listMapped",
         {"limit": 50}),
    ):  # fmt: skip
        started = time.perf_counter()
        response = local.client.http.get(path, params=params, headers=local.client._auth(), timeout=300)
        response.raise_for_status()
        timings[name] = round(time.perf_counter() - started, 2)
    timings["total"] = round(sum(timings.values()), 2)
    return timings


def timeline(local, run_id: str) -> dict[str, list[float | int | None]]:
    """Where a run's time went, from the metadata DB: per task, ``[instances, first scheduled, first queued,
    first start, last end]`` in seconds since the run was queued (``_run`` for the run itself:
    started, ended)."""
    db = local.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)) as conn:
        queued, started, ended = conn.execute(
            "SELECT julianday(queued_at), julianday(start_date), julianday(end_date) FROM dag_run "
            "WHERE dag_id = 'daydream_draft' AND run_id = ?",
            (run_id,),
        ).fetchone()
        rows = conn.execute(
            "SELECT task_id, count(*), min(julianday(scheduled_dttm)), min(julianday(queued_dttm)), "
            "min(julianday(start_date)), max(julianday(end_date)) FROM task_instance "
            "WHERE dag_id = 'daydream_draft' AND run_id = ? GROUP BY task_id ORDER BY min(start_date)",
            (run_id,),
        ).fetchall()

    def since(day: float | None) -> float | None:
        return None if day is None else round((day - queued) * 86400, 2)

    out: dict[str, list[float | int | None]] = {"_run": [since(started), since(ended)]}
    for task_id, count, *days in rows:
        out[task_id] = [count, *(since(d) for d in days)]
    return out


def set_pool(local, slots: int) -> None:
    body = {"pool": "llm_api_paid", "slots": slots, "include_deferred": False}
    local.client.request("PATCH", "/api/v2/pools/llm_api_paid", params={"update_mask": "slots"}, json=body)


def measure(local, server, layout: DataLayout, n: int, latency: float, pool: int) -> dict[str, Any]:
    cohort = f"bench{n}"
    set_pool(local, pool)
    server.configure(latency_s=latency)
    baseline = asyncio.run(asyncio_loop(server.base_url, n, pool))
    server.reset()
    scheduler = psutil.Process(local.services.procs["scheduler"].pid)
    service = [p for p in session_procs(local) if _is_service(p, local, "scheduler")]
    cpu_before, service_before = cpu_seconds([scheduler], children=False), cpu_seconds(service)
    with rss_peak(local) as peak:
        wall, run_id = timed_run(local, {"cohort_id": cohort}, timeout=max(600.0, 40 * latency * n / pool))
    stats = server.stats()
    done = sum((layout.gen_dir("draft", g) / "parsed.txt").exists() for g in _drafts(layout, cohort))
    result = {
        "generations": n,
        "latency_s": latency,
        "pool": pool,
        "asyncio_s": round(baseline, 1),
        "dag_s": round(wall, 1),
        "ratio": round(wall / baseline, 3),
        "peak_in_flight": stats["tiers"].get("paid", {}).get("peak_in_flight"),
        "answered_twice": len(stats["answered_twice"]),
        "done": done,
        "peak_rss_gib": round(peak["bytes"] / 1024**3, 2),
        "scheduler_cpu_s": round(cpu_seconds([scheduler], children=False) - cpu_before, 1),
        "scheduler_service_cpu_s": round(cpu_seconds(service) - service_before, 1),
        "run_id": run_id,
        "rss_by_kind_mib": peak["by_kind"],
        "timeline_s": timeline(local, run_id),
    }
    return result


def _is_service(proc: psutil.Process, local, name: str) -> bool:
    try:
        return os.getsid(proc.pid) == local.services.procs[name].pid
    except (OSError, KeyError):
        return False


def _drafts(layout: DataLayout, cohort: str) -> list[str]:
    return [line.split(",")[1] for line in layout.membership(cohort).read_text().splitlines()[1:]]


def prepare(root: Path, sizes: list[int]) -> DataLayout:
    cohorts = {f"bench{n}": spec(*SHAPES[n]) for n in sizes}
    cohorts["warmup"] = spec(2, 2, 1, 1).replace(", ".join(CONCEPTS[:2]), "bisociation, eureka-moment")
    data = make_data_root(root / "data", cohorts)
    layout = DataLayout(data)
    for cohort in cohorts:
        build_cohort(layout, cohort)
    for n in sizes:
        trim_to(layout, f"bench{n}", n)
    trim_to(layout, "warmup", 1)
    return layout


def run_stack(
    root: Path, layout: DataLayout, jobs: list[tuple[int, float, int]], *, path: str, after: Callable[..., Any] | None
) -> list[dict[str, Any]]:
    server = offline_llm(layout.root, latency_s=0.2)
    env = env_for(root / f"airflow-{path}", layout.root, server.base_url, DAYDREAM_GENERATION_PATH=path)
    results = []
    try:
        with running_airflow(env) as local:
            local.wait_dags(["daydream_draft"])
            local.unpause(["daydream_draft"])
            timed_run(local, {"cohort_id": "warmup"}, timeout=600)
            for n, latency, pool in jobs:
                result = measure(local, server, layout, n, latency, pool) | {"path": path}
                if after is not None:
                    result["grid_s"] = after(local, result["run_id"])
                print(json.dumps(result), flush=True)
                results.append(result)
            set_pool(local, 5)
    finally:
        server.stop()
    return results


def parse_sizes(text: str) -> list[tuple[int, float, int]]:
    """``N:LATENCY:POOL,...``; empty for none (``make bench-triggerer SIZES= BIG=5000:1:100``)."""
    out = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        n, latency, pool = item.split(":")
        out.append((int(n), float(latency), int(pool)))
    return out


def verdict(result: dict[str, Any]) -> str:
    n, problems = result["generations"], []
    if result["done"] != n:
        problems.append(f"{n - result['done']} not done")
    target = TARGETS.get(n)
    if target is not None and result["path"] == "triggerer":
        if result["ratio"] > target:
            problems.append(f"ratio > {target}")
        if n >= 250 and result["peak_in_flight"] != result["pool"]:
            problems.append(f"peak {result['peak_in_flight']} != pool")
        if result["peak_rss_gib"] * 1024**3 >= RSS_LIMIT:
            problems.append("RSS >= 4 GiB")
    return "OK" if not problems else "MISSED: " + "; ".join(problems)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=os.environ.get("DAYDREAM_BENCH_TRIGGERER_SIZES", "60:5:5,250:5:25,500:5:50"))
    parser.add_argument(
        "--big",
        default=os.environ.get("DAYDREAM_BENCH_TRIGGERER_BIG") or None,
        help="N:LATENCY:POOL of the big stage, e.g. 5000:1:100",
    )
    parser.add_argument(
        "--worker",
        action="store_true",
        default=os.environ.get("DAYDREAM_BENCH_TRIGGERER_WORKER", "") == "1",
        help="also run the first size on the worker path",
    )
    args = parser.parse_args()
    jobs = parse_sizes(args.sizes)
    big = parse_sizes(args.big) if args.big else []
    kept = os.environ.get("DAYDREAM_BENCH_DIR")  # keep the Airflow home and logs there (for a failed run)
    with tempfile.TemporaryDirectory(prefix="daydream-bench-trig-") as tmp:
        root = Path(kept or tmp)
        layout = prepare(root, sorted({n for n, _, _ in jobs + big}))
        results = run_stack(root, layout, jobs, path="triggerer", after=None) if jobs else []
        if big:
            results += run_stack(root, layout, big, path="triggerer", after=grid_seconds)
        if args.worker and jobs:
            worker_root = root / "worker"
            worker_root.mkdir()
            worker_layout = prepare(worker_root, [jobs[0][0]])
            results += run_stack(worker_root, worker_layout, jobs[:1], path="worker", after=None)
    print("| path | paid pool | generations | latency | asyncio | `daydream_draft` | ratio | peak in flight "
          "| peak RSS | scheduler CPU | verdict |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    ok = True
    for r in results:
        line = verdict(r)
        ok = ok and line == "OK"
        print(
            f"| {r['path']} | {r['pool']} | {r['generations']} | {r['latency_s']:g} s | {r['asyncio_s']:.1f} s "
            f"| {r['dag_s']:.1f} s | {r['ratio']:.2f}x | {r['peak_in_flight']} of {r['pool']} "
            f"| {r['peak_rss_gib']:.2f} GiB | {r['scheduler_cpu_s']:.1f} s | {line} |"
            + (f" grid {r['grid_s']}" if "grid_s" in r else "")
        )
    print(json.dumps({"results": results, "load": Path("/proc/loadavg").read_text().split()[:3]}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
