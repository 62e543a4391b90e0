"""``LocalAirflow``: the four Airflow services (LocalExecutor, SQLite) and the offline LLM under one AIRFLOW_HOME."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import httpx

from daydream.airflow.config import RUN_DAG_IDS
from local_airflow.client import AirflowClient
from local_airflow.env import POOLS_FILE, LocalAirflowError, executable, port_in_use, tail
from local_airflow.services import Services, session_members

AIRFLOW_SERVICES = ("scheduler", "dag-processor", "triggerer", "api-server")
# Start-up takes 40-80 s on a quiet 2-core machine and over 120 s when it is busy: a deadline, not a wait.
START_TIMEOUT_S = float(os.environ.get("DAYDREAM_START_TIMEOUT", "300"))


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
        airflow = executable(self.env, "airflow")
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
            with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30) as db:
                db.execute("PRAGMA journal_mode=WAL")

    def start_llm(self, latency: float | None = None, config: str | None = None) -> None:
        daydream = executable(self.env, "daydream")
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

    @property
    def triggerers(self) -> int:
        """``$DAYDREAM_TRIGGERERS`` triggerer processes (default 1): several share the generations."""
        return max(1, int(self.env.get("DAYDREAM_TRIGGERERS", "1") or 1))

    def triggerer_names(self) -> list[str]:
        return ["triggerer", *(f"triggerer-{i}" for i in range(2, self.triggerers + 1))]

    def start_service(self, name: str) -> None:
        """One Airflow service by its name here (``triggerer-2`` is a second ``airflow triggerer``)."""
        command = name.split("-")[0] if name.startswith("triggerer") else name
        argv = [executable(self.env, "airflow"), command]
        self.services.start(name, argv, env=self.env, log_file=self.logs / f"{name}.log")

    def start_airflow(self, timeout: float = START_TIMEOUT_S) -> None:
        for name in AIRFLOW_SERVICES:
            for one in self.triggerer_names() if name == "triggerer" else [name]:
                self.start_service(one)
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
                raise LocalAirflowError(
                    f"{what} not healthy after {timeout:.0f}s (raise DAYDREAM_START_TIMEOUT); logs in {self.logs}"
                )
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

    def unpause(self, dag_ids: Iterable[str] = RUN_DAG_IDS) -> None:
        for dag_id in dag_ids:
            self.client.set_paused(dag_id, False)

    def fail_active_runs(self, since: datetime | None = None) -> list[str]:
        """Mark the queued or running runs of the DayDream DAGs failed (a demo's interrupted runs)."""
        failed = []
        for run in self.client.dag_runs(since=since):
            if run["dag_id"] in RUN_DAG_IDS and run["state"] in ("queued", "running"):
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
