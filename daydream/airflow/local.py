"""A project-local Airflow with the offline LLM: start, drive over the REST API, stop cleanly.

Used by ``make demo`` (``include/scripts/demo.sh``), ``make airflow`` (``include/scripts/airflow_up.sh``),
the scheduler tests and the pool benchmark. No Airflow import: Airflow runs in child processes
configured by ``include/scripts/airflow_env.sh`` (the one place that holds the local settings), and
this module talks to it over HTTP.

Every service (scheduler, dag-processor, triggerer, api-server, offline LLM) starts in a session of
its own. Airflow forks workers and task processes that outlive a killed parent and rename themselves
(``airflow worker -- LocalExecutor``), but they stay in their service's session, so ``stop`` signals
each process group, then every process left in those sessions, and checks that none is left. The
session ids are written to ``$AIRFLOW_HOME/run/services.json`` so a later ``stop`` (the shell
scripts' trap) or the next start cleans up after a run that was itself killed.

    python -m daydream.airflow.local up                  # Airflow + offline LLM until Ctrl-C
    python -m daydream.airflow.local demo [--cohort demo]  # trigger daydream_cohort, show progress
    python -m daydream.airflow.local stop                # stop what a previous start left
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

AIRFLOW_SERVICES = ("scheduler", "dag-processor", "triggerer", "api-server")
STAGE_DAGS = ("daydream_draft", "daydream_essay", "daydream_evaluation")
RUN_DAGS = ("daydream_cohort", *STAGE_DAGS, "daydream_report")
REPO = Path(__file__).resolve().parents[2]
ENV_SCRIPT = REPO / "include" / "scripts" / "airflow_env.sh"
POOLS_FILE = REPO / "include" / "pools.json"
FINISHED = {"success", "failed"}


class LocalAirflowError(RuntimeError):
    """Something the user can fix (a port in use, a service that would not start); one line."""


def now() -> datetime:
    return datetime.now(UTC)


# -- environment ------------------------------------------------------------------------------------


def airflow_env(overrides: Mapping[str, str] | None = None, *, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment after ``source include/scripts/airflow_env.sh`` with ``overrides`` exported first."""
    env = dict(os.environ if base is None else base)
    env.update(overrides or {})
    out = subprocess.run(
        ["bash", "-c", f'source "{ENV_SCRIPT}" >/dev/null && env -0'], env=env, capture_output=True, check=True
    )
    return dict(item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)


def free_port(preferred: int = 0) -> int:
    """``preferred`` when it is free on 127.0.0.1, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise LocalAirflowError("no free TCP port on 127.0.0.1")


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _bin(env: Mapping[str, str], name: str) -> str:
    """``name`` next to this interpreter (the venv), else on the environment's PATH."""
    here = Path(sys.executable).with_name(name)
    if here.exists():
        return str(here)
    for folder in env.get("PATH", "").split(os.pathsep):
        if (Path(folder) / name).exists():
            return str(Path(folder) / name)
    raise LocalAirflowError(f"'{name}' not found next to {sys.executable} nor on PATH: run `make venv`")


# -- processes --------------------------------------------------------------------------------------


def session_members(sids: Iterable[int]) -> list[int]:
    """Live (non-zombie) processes whose session is one of ``sids``."""
    wanted = set(sids)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        state, session = fields[0], int(fields[3])
        if session in wanted and state != "Z" and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return sorted(found)


class Services:
    """Child services, each in its own session; ``stop`` ends every process of those sessions."""

    def __init__(self, home: Path):
        self.state_file = Path(home) / "run" / "services.json"
        self.procs: dict[str, subprocess.Popen] = {}

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def recorded(self) -> dict[str, int]:
        """Session ids of the services recorded by the last start under this home."""
        return {k: int(v) for k, v in self._read().get("services", {}).items()}

    def live_driver(self) -> int | None:
        """The pid of the other process that started the recorded services, when it still runs."""
        pid = self._read().get("driver")
        if not isinstance(pid, int) or pid == os.getpid():
            return None
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            return None
        return None if state == "Z" else pid

    def _record(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "driver": os.getpid(),
            "services": {**self.recorded(), **{name: p.pid for name, p in self.procs.items()}},
        }
        tmp = self.state_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.state_file)

    def start(self, name: str, argv: list[str], *, env: Mapping[str, str], log_file: Path) -> subprocess.Popen:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "ab") as out:
            proc = subprocess.Popen(
                argv,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        self._record()
        return proc

    def exited(self) -> dict[str, int]:
        """Services that exited already, with their exit codes."""
        return {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}

    def stop(self, grace: float = 15.0) -> list[int]:
        """SIGTERM each session's group, then SIGKILL whatever is left in the sessions. Returns
        the pids still alive afterwards (empty when everything stopped)."""
        ours = self.live_driver() is None  # the recorded services are ours, or their starter is gone
        sids = {p.pid for p in self.procs.values()} | (set(self.recorded().values()) if ours else set())
        if not sids:
            return []
        for sid in sids:
            _signal_group(sid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and session_members(sids):
            self._reap()
            time.sleep(0.2)
        for _ in range(3):
            left = session_members(sids)
            if not left:
                break
            for sid in sids:
                _signal_group(sid, signal.SIGKILL)
            for pid in left:  # task processes run in process groups of their own
                _signal_pid(pid, signal.SIGKILL)
            time.sleep(0.5)
            self._reap()
        self._reap()
        left = session_members(sids)
        if not left:
            if ours:
                self.state_file.unlink(missing_ok=True)
            self.procs.clear()
        return left

    def _reap(self) -> None:
        for proc in self.procs.values():
            proc.poll()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


# -- the REST API -----------------------------------------------------------------------------------


class AirflowClient:
    """The public REST API (``/api/v2``) of the local api-server, as user ``admin``."""

    def __init__(self, base_url: str, home: Path, username: str = "admin", timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.home = Path(home)
        self.username = username
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._token: str | None = None

    def password(self) -> str | None:
        path = self.home / "simple_auth_manager_passwords.json.generated"
        try:
            return json.loads(path.read_text()).get(self.username)
        except (OSError, ValueError):
            return None

    def _auth(self) -> dict[str, str]:
        if self._token is None:
            response = self.http.post("/auth/token", json={"username": self.username, "password": self.password()})
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in (1, 2):
            response = self.http.request(method, path, headers=self._auth(), **kwargs)
            if response.status_code == 401 and attempt == 1:
                self._token = None  # expired token: log in again
                continue
            if response.status_code >= 400:
                raise LocalAirflowError(f"{method} {path}: HTTP {response.status_code}: {response.text[:300]}")
            return response.json() if response.content else None
        return None

    def health(self) -> dict[str, Any]:
        try:
            return self.http.get("/api/v2/monitor/health", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return {}

    def healthy(self) -> bool:
        health = self.health()
        return bool(health) and all(
            health.get(part, {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
        )

    def dag(self, dag_id: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", f"/api/v2/dags/{dag_id}")
        except LocalAirflowError:
            return None

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, conf: Mapping[str, Any]) -> str:
        run = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": dict(conf)})
        return run["dag_run_id"]

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def dag_runs(self, dag_id: str = "~", since: datetime | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": 100, "order_by": "run_after"}
        if since is not None:
            params["run_after_gte"] = since.isoformat()
        return self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns", params=params)["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            page = self.request(
                "GET",
                f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances",
                params={"limit": 1000, "offset": len(out)},
            )
            out += page["task_instances"]
            if len(out) >= page["total_entries"] or not page["task_instances"]:
                return out

    def wait_run(
        self, dag_id: str, run_id: str, *, timeout: float, interval: float = 3.0, tick: Callable[[], None] | None = None
    ) -> str:
        """Poll until the run is finished; returns its state (``timeout`` raises)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.dag_run(dag_id, run_id)["state"]
            if tick is not None:
                tick()
            if state in FINISHED:
                return state
            if time.monotonic() > deadline:
                raise LocalAirflowError(f"{dag_id} run {run_id} still {state} after {timeout:.0f}s")
            time.sleep(interval)


def progress_line(client: AirflowClient, since: datetime) -> str:
    """Generations per stage DAG run since ``since``: done, running, queued, failed."""
    parts = []
    runs = {r["dag_id"]: r for r in client.dag_runs(since=since) if r["dag_id"] in RUN_DAGS}
    for dag_id in (*STAGE_DAGS, "daydream_report"):
        name = dag_id.removeprefix("daydream_")
        run = runs.get(dag_id)
        if run is None:
            parts.append(f"{name}: -")
            continue
        tis = client.task_instances(dag_id, run["dag_run_id"])
        gens = Counter(
            _bucket(ti["state"]) for ti in tis if ti["task_id"].startswith("generate_") and ti["map_index"] >= 0
        )
        if dag_id == "daydream_report" or not sum(gens.values()):
            parts.append(f"{name}: {run['state']}")
            continue
        shown = ", ".join(f"{n} {k}" for k, n in sorted(gens.items(), key=lambda kv: _ORDER.index(kv[0])))
        parts.append(
            f"{name}: {gens['done']}/{sum(gens.values())} ({shown})"
            if run["state"] not in FINISHED
            else f"{name}: {run['state']} ({shown})"
        )
    return " | ".join(parts)


_ORDER = ["done", "running", "queued", "retry", "failed", "skipped", "other"]


def _bucket(state: str | None) -> str:
    return {
        "success": "done",
        "running": "running",
        "queued": "queued",
        "scheduled": "queued",
        None: "queued",
        "up_for_retry": "retry",
        "failed": "failed",
        "upstream_failed": "failed",
        "skipped": "skipped",
    }.get(state, "other")


# -- a local Airflow --------------------------------------------------------------------------------


class LocalAirflow:
    """Airflow (four services, LocalExecutor, SQLite) and the offline LLM under one AIRFLOW_HOME."""

    def __init__(self, env: Mapping[str, str], *, out: Callable[[str], None] = print):
        self.env = dict(env)
        self.home = Path(self.env["AIRFLOW_HOME"])
        self.port = int(self.env["DAYDREAM_AIRFLOW_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = self.home / "logs" / "services"
        self.services = Services(self.home)
        self.client = AirflowClient(self.url, self.home)
        self.out = out

    @property
    def offline_llm(self) -> bool:
        return self.env.get("DAYDREAM_LLM", "offline") == "offline"

    @property
    def llm_url(self) -> str:
        return self.env["DAYDREAM_LLM_URL"]

    def cleanup_previous(self) -> None:
        """Stop what a previous, killed start left; refuse to touch a start that still runs."""
        driver = self.services.live_driver()
        if driver is not None:
            raise LocalAirflowError(
                f"another DayDream Airflow (started by pid {driver}) runs with AIRFLOW_HOME="
                f"{self.home}: stop it first (Ctrl-C in its terminal), or export "
                f"DAYDREAM_AIRFLOW_HOME=<another directory>"
            )
        left = self.services.recorded()
        if left:
            members = session_members(left.values())
            if members:
                self.out(f"stopping {len(members)} process(es) left by a previous run under {self.home}")
            self.services.stop(grace=5)

    def check_ports(self, llm: bool) -> None:
        ports = {"api-server": self.port}
        if llm:
            ports["offline LLM"] = int(self.env["DAYDREAM_LLM_PORT"])
        for what, port in ports.items():
            if port_in_use(port):
                var = "DAYDREAM_AIRFLOW_PORT" if what == "api-server" else "DAYDREAM_LLM_PORT"
                raise LocalAirflowError(
                    f"port {port} ({what}) is in use by another program: stop it or "
                    f"export {var}=<free port> (or DAYDREAM_FREE_PORTS=1)"
                )

    def prepare(self) -> None:
        """``airflow db migrate`` and ``airflow pools import include/pools.json``."""
        airflow = _bin(self.env, "airflow")
        for argv in ([airflow, "db", "migrate"], [airflow, "pools", "import", str(POOLS_FILE)]):
            log_file = self.logs / "setup.log"
            log_file.parent.mkdir(parents=True, exist_ok=True)
            with open(log_file, "ab") as out:
                code = subprocess.run(
                    argv, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
                ).returncode
            if code:
                raise LocalAirflowError(
                    f"`{' '.join(argv[1:])}` failed (exit {code}); last lines of {log_file}:\n{tail(log_file)}"
                )
        self._sqlite_wal()

    def _sqlite_wal(self) -> None:
        """Write-ahead logging for the SQLite metadata DB (persistent in the file): readers no longer
        wait for the writer, which cuts the latency of every task start and finish."""
        url = self.env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
        if url.startswith("sqlite:///"):
            import sqlite3

            with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30) as db:
                db.execute("PRAGMA journal_mode=WAL")

    def start_llm(self, latency: float | None = None, config: str | None = None) -> None:
        daydream = _bin(self.env, "daydream")
        argv = [
            daydream,
            "llm",
            "serve",
            "--port",
            self.env["DAYDREAM_LLM_PORT"],
            "--latency",
            str(latency if latency is not None else self.env.get("DAYDREAM_LLM_LATENCY", "0.2")),
        ]
        models = Path(self.env.get("DAYDREAM_DATA_ROOT", "data")) / "1_raw" / "llm_models.csv"
        if models.exists():
            argv += ["--models-csv", str(models)]
        if config:
            argv += ["--config", config]
        self.services.start("offline-llm", argv, env=self.env, log_file=self.logs / "offline-llm.log")
        self._wait(lambda: _http_ok(self.llm_url.removesuffix("/v1") + "/health"), 30, "offline-llm")

    def start_airflow(self, timeout: float = 120.0) -> None:
        airflow = _bin(self.env, "airflow")
        for name in AIRFLOW_SERVICES:
            self.services.start(name, [airflow, name], env=self.env, log_file=self.logs / f"{name}.log")
        self._wait(self.client.healthy, timeout, "airflow")

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = self.services.exited()
            if dead:
                name, code = next(iter(dead.items()))
                raise LocalAirflowError(
                    f"{name} exited with code {code} while starting; last lines of "
                    f"{self.logs / (name + '.log')}:\n{tail(self.logs / (name + '.log'))}"
                )
            if time.monotonic() > deadline:
                raise LocalAirflowError(f"{what} not healthy after {timeout:.0f}s; logs in {self.logs}")
            time.sleep(0.5)

    def start(self, *, llm: bool | None = None, latency: float | None = None, llm_config: str | None = None) -> None:
        """Everything, in order: leftovers stopped, ports checked, DB and pools, LLM, Airflow."""
        llm = self.offline_llm if llm is None else llm
        self.cleanup_previous()
        self.check_ports(llm)
        self.prepare()
        if llm:
            self.start_llm(latency, llm_config)
        self.start_airflow()

    def wait_dags(self, dag_ids: Iterable[str], timeout: float = 90.0) -> None:
        """Until the dag-processor has parsed these DAGs (and reported no import error for them)."""
        missing = list(dag_ids)
        deadline = time.monotonic() + timeout
        while missing:
            missing = [d for d in missing if self.client.dag(d) is None]
            if not missing:
                return
            if time.monotonic() > deadline:
                errors = self.client.request("GET", "/api/v2/importErrors").get("import_errors", [])
                detail = "; ".join(f"{e['filename']}: {e['stack_trace'].strip().splitlines()[-1]}" for e in errors)
                raise LocalAirflowError(
                    f"DAGs {missing} not parsed after {timeout:.0f}s" + (f"; import errors: {detail}" if detail else "")
                )
            time.sleep(1)

    def unpause(self, dag_ids: Iterable[str] = RUN_DAGS) -> None:
        for dag_id in dag_ids:
            self.client.set_paused(dag_id, False)

    def fail_active_runs(self, since: datetime | None = None) -> list[str]:
        """Mark the queued or running runs of the DayDream DAGs failed (a demo's interrupted runs)."""
        failed = []
        for run in self.client.dag_runs(since=since):
            if run["dag_id"] in RUN_DAGS and run["state"] in ("queued", "running"):
                self.client.request(
                    "PATCH",
                    f"/api/v2/dags/{run['dag_id']}/dagRuns/{quote(run['dag_run_id'], safe='')}",
                    json={"state": "failed"},
                )
                failed.append(f"{run['dag_id']} {run['dag_run_id']}")
        return failed

    def stop(self) -> list[int]:
        return self.services.stop()


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# -- commands ---------------------------------------------------------------------------------------


class _Stop(Exception):
    """SIGTERM / SIGHUP, turned into an exception so the ``finally`` blocks stop the services."""


def _raise_stop(signum: int, _frame: Any) -> None:
    raise _Stop(signal.Signals(signum).name)


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
        print(
            "starting Airflow (scheduler, dag-processor, triggerer, api-server)"
            + (" and the offline LLM" if local.offline_llm else "")
            + " ...",
            flush=True,
        )
        local.start()
        local.wait_dags(RUN_DAGS)
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
        local.wait_dags(RUN_DAGS)
        for stale in local.fail_active_runs():
            print(f"marked failed: {stale} (left running by an earlier, interrupted demo)")
        local.unpause()
        print(f"Airflow is up in {time.monotonic() - started:.0f}s\n{_banner(local)}", flush=True)
        conf = {"cohort_id": args.cohort, "force": args.force}
        since = now()
        run_id = local.client.trigger("daydream_cohort", conf)
        state = "running"
        print(f"triggered daydream_cohort {run_id} with conf {json.dumps(conf)}", flush=True)
        last = [""]

        def tick() -> None:
            line = progress_line(local.client, since)
            if line != last[0]:
                print(f"[{time.monotonic() - started:5.0f}s] {line}", flush=True)
                last[0] = line

        state = local.client.wait_run("daydream_cohort", run_id, timeout=args.timeout, tick=tick)
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
            f"demo finished in {time.monotonic() - started:.0f}s: daydream_cohort run {state}"
            + ("" if not code else " (processes left!)")
        )


def _demo_summary(env: Mapping[str, str], cohort: str, state: str, seconds: float) -> str:
    root = Path(env.get("DAYDREAM_DATA_ROOT", "data"))
    lines = [f"daydream_cohort run for cohort '{cohort}': {state.upper()} after {seconds:.0f}s"]
    for stage in ("draft", "essay", "evaluation"):
        try:
            lines.append(
                "  " + json.loads((root / "cohorts" / cohort / "runs" / f"{stage}_summary.json").read_text())["text"]
            )
        except (OSError, ValueError, KeyError):
            pass
    index = root / "cohorts" / cohort / "reports" / "index.html"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m daydream.airflow.local", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start Airflow and the offline LLM, until Ctrl-C")
    demo = commands.add_parser("demo", help="start, run daydream_cohort for a cohort, stop")
    demo.add_argument("--cohort", default="demo")
    demo.add_argument("--force", action="store_true", help="run every generation again")
    demo.add_argument("--timeout", type=float, default=float(os.environ.get("DAYDREAM_DEMO_TIMEOUT", "1200")))
    stop = commands.add_parser("stop", help="stop the services a previous start left running")
    stop.add_argument("--grace", type=float, default=10.0)
    args = parser.parse_args(argv)
    env = dict(os.environ) if "DAYDREAM_REPO" in os.environ else airflow_env()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_stop)
    handler = {"up": cmd_up, "demo": cmd_demo, "stop": cmd_stop}[args.command]
    try:
        return handler(args, env)
    except _Stop as exc:
        print(f"stopped by {exc}", file=sys.stderr)
        return 143
    except LocalAirflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
