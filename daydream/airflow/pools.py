"""What the triggerer needs from Airflow's API server: the pools' sizes and the grid labels.

Why the API and not the metadata DB: Airflow cuts triggers off from the database on purpose (the
trigger runner is a forked child whose ``[database] sql_alchemy_conn`` is replaced by
``block_orm_access``), and the channel it does give them (connections, variables, XComs, task
states) has no pools. So the pool sizes come from the public REST API (``GET /api/v2/pools/<pool>``),
read at most every ``POOL_REFRESH_S`` seconds per pool and process: a pool resized in the UI or with
``airflow pools set`` takes effect within that. And since Airflow only renders ``map_index_template``
on a worker, a generation started from the triggerer gets its gen id label through DayDream's own
endpoint on the API server (``daydream.airflow.generation_api``), a few labels per request.

Both sign in as the user of the connection ``daydream_airflow_api`` (``$DAYDREAM_AIRFLOW_API_CONN_ID``;
type http: host = the API server's base URL, login and password of a user who may read pools and edit
the stage DAGs' task instances), read with ``BaseHook.aget_connection``. Without it the gate allows
``FALLBACK_POOL_SLOTS`` call per pool (the safe side), the grid shows map indexes, and the log says why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from daydream.airflow.config import FALLBACK_POOL_SLOTS, LABELS_PATH, POOL_REFRESH_S, airflow_api_conn_id

__all__ = ["AirflowApi", "ApiPoolSizes", "LabelQueue"]

log = logging.getLogger("daydream.airflow")


class ApiUnavailable(Exception):
    """No API connection, or the API server refused or could not be reached (the message says which)."""


class AirflowApi:
    """Airflow's API server as the connection's user; one per event loop (its HTTP client belongs to it)."""

    def __init__(self, conn_id: str | None = None, *, timeout_s: float = 10.0):
        self.conn_id = conn_id or airflow_api_conn_id()
        self.timeout_s = timeout_s
        self._http: httpx.AsyncClient | None = None
        self._credentials: tuple[str, str, str] | None = None  # base URL, login, password
        self._token: str | None = None
        self._login = asyncio.Lock()

    async def _connection(self) -> tuple[str, str, str]:
        if self._credentials is None:
            from airflow.sdk import BaseHook
            from airflow.sdk.exceptions import AirflowNotFoundException

            try:
                conn = await BaseHook.aget_connection(self.conn_id)
            except AirflowNotFoundException:
                raise ApiUnavailable(f"no Airflow connection '{self.conn_id}'") from None
            host = (conn.host or "").strip().rstrip("/")
            if "://" not in host:
                host = f"http://{host}" + (f":{conn.port}" if conn.port else "")
            self._credentials = (host, conn.login or "", conn.password or "")
        return self._credentials

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        base, _, _ = await self._connection()
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=base, timeout=self.timeout_s)
        for attempt in (1, 2):
            token = await self._sign_in(stale=self._token if attempt == 2 else None)
            try:
                response = await self._http.request(
                    method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
                )
            except httpx.HTTPError as exc:
                raise ApiUnavailable(f"{method} {base}{path}: {type(exc).__name__}") from None
            if response.status_code == 401 and attempt == 1:
                continue  # the token expired: sign in again
            if response.status_code >= 400:
                raise ApiUnavailable(f"{method} {base}{path}: HTTP {response.status_code} {response.text[:200]}")
            return response.json() if response.content else None
        return None

    async def _sign_in(self, *, stale: str | None) -> str:
        async with self._login:
            if self._token is None or self._token == stale:
                base, login, password = await self._connection()
                assert self._http is not None
                try:
                    answer = await self._http.post("/auth/token", json={"username": login, "password": password})
                except httpx.HTTPError as exc:
                    raise ApiUnavailable(f"POST {base}/auth/token: {type(exc).__name__}") from None
                if answer.status_code >= 400:
                    raise ApiUnavailable(f"signing in as '{login}' at {base}: HTTP {answer.status_code}")
                self._token = str(answer.json()["access_token"])
            return self._token

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


class ApiPoolSizes:
    """``PoolSizes`` from the API server, each pool read again after ``refresh_s`` (one read at a time)."""

    def __init__(self, api: AirflowApi, *, refresh_s: float = POOL_REFRESH_S):
        self.api = api
        self.refresh_s = refresh_s
        self.known: dict[str, tuple[int, float]] = {}
        self.reading: dict[str, asyncio.Task[int]] = {}
        self.warned: set[str] = set()

    async def slots(self, pool: str) -> int:
        known = self.known.get(pool)
        if known is not None and time.monotonic() - known[1] < self.refresh_s:
            return known[0]
        task = self.reading.get(pool)
        if task is None or task.done():
            task = self.reading[pool] = asyncio.ensure_future(self._read(pool, known))
        return await asyncio.shield(task)

    async def _read(self, pool: str, known: tuple[int, float] | None) -> int:
        try:
            answer = await self.api.request("GET", f"/api/v2/pools/{pool}")
            slots = int(answer["slots"])
            if slots < 0:  # -1: an unlimited pool
                slots = 1_000_000
        except (ApiUnavailable, KeyError, TypeError, ValueError) as exc:
            slots = known[0] if known is not None else FALLBACK_POOL_SLOTS
            if pool not in self.warned:
                self.warned.add(pool)
                log.warning(
                    "cannot read the size of pool %s from the API server (%s): allowing %d call(s) in flight "
                    "until it can be read; set up the connection '%s' (docs/triggerer.md)",
                    pool,
                    exc,
                    slots,
                    self.api.conn_id,
                )
        else:
            if known is None or known[0] != slots:
                log.info("pool %s: %d slot(s)", pool, slots)
            self.warned.discard(pool)
        self.known[pool] = (slots, time.monotonic())
        return slots


class LabelQueue:
    """Gen id labels of task instances, sent to the API server in batches (best effort)."""

    def __init__(self, api: AirflowApi, *, every_s: float = 0.5, batch: int = 500):
        self.api = api
        self.every_s = every_s
        self.batch = batch
        self.pending: dict[str, str] = {}
        self.task: asyncio.Task[None] | None = None
        self.warned = False

    def add(self, ti_id: str, label: str) -> None:
        self.pending[ti_id] = label
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._send())

    async def _send(self) -> None:
        while self.pending:
            await asyncio.sleep(self.every_s)
            items = list(self.pending.items())[: self.batch]
            for ti_id, _ in items:
                self.pending.pop(ti_id, None)
            body = {"labels": [{"ti_id": ti_id, "label": label} for ti_id, label in items]}
            try:
                await self.api.request("POST", LABELS_PATH, json=body)
            except ApiUnavailable as exc:
                if not self.warned:
                    self.warned = True
                    log.warning("the grid shows map indexes, not gen ids: cannot label task instances (%s)", exc)
