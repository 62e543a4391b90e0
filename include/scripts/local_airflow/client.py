"""The public REST API (``/api/v2``) of the local api-server, and the demo's progress line."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from daydream.airflow.config import REPORT_DAG_ID, RUN_DAG_IDS, STAGE_DAG_IDS, generate_task_id
from daydream.orchestration import TIERS
from local_airflow.env import LocalAirflowError

FINISHED = {"success", "failed"}


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
        """Poll until the run is finished; returns its state (``timeout`` raises).

        A poll that times out is tried again at the next interval: an api-server busy on a loaded
        machine answers late, and the run goes on meanwhile.
        """
        deadline = time.monotonic() + timeout
        state = "unknown"
        while True:
            try:
                state = self.dag_run(dag_id, run_id)["state"]
                if tick is not None:
                    tick()
            except httpx.TimeoutException:
                pass
            if state in FINISHED:
                return state
            if time.monotonic() > deadline:
                raise LocalAirflowError(f"{dag_id} run {run_id} still {state} after {timeout:.0f}s")
            time.sleep(interval)


def progress_line(client: AirflowClient, since: datetime) -> str:
    """Generations per stage DAG run since ``since``: done, running, queued, failed."""
    parts = []
    runs = {r["dag_id"]: r for r in client.dag_runs(since=since) if r["dag_id"] in RUN_DAG_IDS}
    generate_tasks = {generate_task_id(tier) for tier in TIERS}
    for dag_id in (*STAGE_DAG_IDS.values(), REPORT_DAG_ID):
        name = dag_id.removeprefix("daydream_")
        run = runs.get(dag_id)
        if run is None:
            parts.append(f"{name}: -")
            continue
        tis = client.task_instances(dag_id, run["dag_run_id"])
        gens = Counter(_bucket(ti["state"]) for ti in tis if ti["task_id"] in generate_tasks and ti["map_index"] >= 0)
        if dag_id == REPORT_DAG_ID or not sum(gens.values()):
            parts.append(f"{name}: {run['state']}")
            continue
        shown = ", ".join(f"{n} {k}" for k, n in sorted(gens.items(), key=lambda kv: _ORDER.index(kv[0])))
        parts.append(
            f"{name}: {gens['done']}/{sum(gens.values())} ({shown})"
            if run["state"] not in FINISHED
            else f"{name}: {run['state']} ({shown})"
        )
    return " | ".join(parts)


_ORDER = ["done", "running", "in triggerer", "queued", "retry", "failed", "skipped", "other"]


def _bucket(state: str | None) -> str:
    return {
        "success": "done",
        "running": "running",
        "deferred": "in triggerer",  # a generation of the trigger path: calling, or waiting for a pool slot
        "queued": "queued",
        "scheduled": "queued",
        None: "queued",
        "up_for_retry": "retry",
        "failed": "failed",
        "upstream_failed": "failed",
        "skipped": "skipped",
    }.get(state, "other")
