"""``up``, ``demo`` and ``stop``: what ``make airflow``, ``make demo`` and the scripts' traps run.

Each stops every process it started, also on failure, Ctrl-C, SIGTERM or SIGHUP (turned into an
exception so the ``finally`` blocks run), and says so.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from daydream.airflow.config import COHORT_DAG_ID, RUN_DAG_IDS
from daydream.orchestration import read_stage_summaries
from daydream.paths import STAGES, DataLayout
from local_airflow.client import progress_line
from local_airflow.env import LocalAirflowError
from local_airflow.services import Services
from local_airflow.stack import LocalAirflow


class Stop(Exception):
    """SIGTERM / SIGHUP, turned into an exception so the ``finally`` blocks stop the services."""


def raise_stop(signum: int, _frame: Any) -> None:
    raise Stop(signal.Signals(signum).name)


def _banner(local: LocalAirflow) -> str:
    llm = (
        f"offline LLM at {local.llm_url}"
        if local.offline_llm
        else "your LLM connection (AIRFLOW_CONN_LLM_DEFAULT, connection llm_default or OPENROUTER_API_KEY)"
    )
    return (
        f"Airflow UI   {local.url}   user admin   password {local.client.password()}\n"
        f"AIRFLOW_HOME {local.home}   data {local.env.get('DAYDREAM_DATA_ROOT')}\n"
        f"LLM          {llm}\n"
        f"logs         {local.logs}"
    )


def _ignore_signals() -> None:
    """From here on a second Ctrl-C must not cut the cleanup short."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


def _stop_and_check(local: LocalAirflow) -> int:
    _ignore_signals()
    started = bool(local.services.procs)
    left = local.stop()
    if left:
        print(f"WARNING: {len(left)} process(es) still running after stop: {left}", file=sys.stderr)
        return 1
    if started:
        print("stopped every process this run started")
    return 0


def cmd_up(args: argparse.Namespace, env: dict[str, str]) -> int:
    local = LocalAirflow(env)
    try:
        llm = " and the offline LLM" if local.offline_llm else ""
        print(f"starting Airflow (scheduler, dag-processor, triggerer, api-server){llm} ...", flush=True)
        local.start()
        local.wait_dags(RUN_DAG_IDS)
        local.unpause()  # daydream_resume stays as it is: unpause it to resume cohorts on its schedule
        print(_banner(local))
        print("Ctrl-C stops everything.", flush=True)
        while True:
            dead = local.services.exited()
            if dead:
                print(f"a service exited: {dead}; stopping the others", file=sys.stderr)
                return 1
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop_and_check(local)


def cmd_demo(args: argparse.Namespace, env: dict[str, str]) -> int:
    local = LocalAirflow(env)
    started = time.monotonic()
    state = "not started"
    try:
        print("starting Airflow (scheduler, dag-processor, triggerer, api-server) and the offline LLM ...", flush=True)
        local.start(llm=local.offline_llm)
        local.wait_dags(RUN_DAG_IDS)
        for stale in local.fail_active_runs():
            print(f"marked failed: {stale} (left running by an earlier, interrupted demo)")
        local.unpause()
        print(f"Airflow is up in {time.monotonic() - started:.0f}s\n{_banner(local)}", flush=True)
        conf = {"cohort_id": args.cohort, "force": args.force, "batch": args.batch}
        since = datetime.now(UTC)
        run_id = local.client.trigger(COHORT_DAG_ID, conf)
        state = "running"
        print(f"triggered {COHORT_DAG_ID} {run_id} with conf {json.dumps(conf)}", flush=True)
        last = [""]

        def tick() -> None:
            line = progress_line(local.client, since)
            if line != last[0]:
                print(f"[{time.monotonic() - started:5.0f}s] {line}", flush=True)
                last[0] = line

        state = local.client.wait_run(COHORT_DAG_ID, run_id, timeout=args.timeout, tick=tick)
        print(_demo_summary(env, args.cohort, state, time.monotonic() - started))
        return 0 if state == "success" else 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (LocalAirflowError, httpx.HTTPError) as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1
    finally:
        _ignore_signals()
        if state == "running":  # interrupted: do not leave runs that the next start would resume
            state = "interrupted"
            try:
                local.fail_active_runs()
            except (LocalAirflowError, httpx.HTTPError):
                pass
        code = _stop_and_check(local)
        print(
            f"demo finished in {time.monotonic() - started:.0f}s: {COHORT_DAG_ID} run {state}"
            + ("" if not code else " (processes left!)")
        )


def _demo_summary(env: dict[str, str], cohort: str, state: str, seconds: float) -> str:
    layout = DataLayout.at(env.get("DAYDREAM_DATA_ROOT"))
    lines = [f"{COHORT_DAG_ID} run for cohort '{cohort}': {state.upper()} after {seconds:.0f}s"]
    lines += [f"  {s['text']}" for s in read_stage_summaries(layout, cohort, STAGES).values() if s.get("text")]
    index = layout.reports(cohort) / "index.html"
    lines.append(f"reports: {index}" if index.exists() else f"no report at {index}")
    if state != "success":
        lines.append(
            f"see the failed task's log in the UI (make airflow) or under {Path(env['AIRFLOW_HOME']) / 'logs'}"
        )
    return "\n".join(lines)


def cmd_stop(args: argparse.Namespace, env: dict[str, str]) -> int:
    services = Services(Path(env["AIRFLOW_HOME"]))
    if not services.recorded() or services.live_driver() is not None:
        return 0  # nothing left, or a running start owns these services: leave them to it
    left = services.stop(grace=args.grace)
    if left:
        print(f"WARNING: processes still running: {left}", file=sys.stderr)
        return 1
    return 0
