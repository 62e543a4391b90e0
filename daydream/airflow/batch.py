"""The batch lane of a stage DAG: per model, submit (manifests first), wait deferred, collect.

- ``batch_models`` (a task) groups the stage's batch-lane generations by model;
- ``BatchLaneOperator`` (mapped, one instance per model, labelled by model id): ``execute`` re-attaches
  to open batches or submits new ones (``daydream.batch.start_lane``), then defers to ``BatchTrigger``;
  ``collect`` files the results once the trigger fires. A retried or restarted task re-attaches: the
  manifests under ``cohorts/<id>/runs/batches/`` say what was sent;
- ``BatchTrigger`` polls the batches on the triggerer (no worker slot is held for hours), sends the
  cancellations someone asked for, and fires when every batch has ended. A restarted triggerer runs
  it again from the manifests. Its ``on_kill`` (Airflow 3.3: a user marks the task or its run failed,
  succeeded, or clears it) cancels the batches;
- ``on_dag_run_failed`` (a listener, registered by ``plugins/daydream_batch.py``): a ``daydream_cohort``
  (or stage) run a user marks failed asks for its cohort's open batches to be cancelled; the waiting
  trigger sends the cancellation on its next poll, with the connection it polls with.

The endpoint of each API: the connection ``llm_batch_<api>`` (``$DAYDREAM_BATCH_CONN_<API>``) when it
exists, else the LLM connection (``llm_default``); only OpenRouter's batches may use that one's key.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from airflow.listeners import hookimpl
from airflow.sdk import BaseHook, BaseOperator, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowNotFoundException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from daydream.airflow import steps
from daydream.airflow.config import (
    BATCH_GROUPS_TASK_ID,
    BATCH_TASK_ID,
    COHORT_DAG_ID,
    GENERATION_RETRIES,
    STAGE_DAG_IDS,
    layout,
    llm_conn_id,
)
from daydream.batch import (
    BatchManifests,
    apoll,
    collect_open,
    lane_groups,
    poll_seconds,
    request_cancel,
    start_lane,
)
from daydream.batch.control import acancel_now
from daydream.call_plan import RunOptions
from daydream.errors import DayDreamError
from daydream.llm.batch import BatchAdapter, adapter_for, own_key_only
from daydream.llm.retry import LLMCallError
from daydream.llm.settings import LLMSettings
from daydream.orchestration.stage import BATCH_LANE, Work
from daydream.paths import DataLayout, check_stage

log = logging.getLogger("daydream.airflow")


# -- the endpoint of each batch API -----------------------------------------------------------------


def batch_conn_id(api: str) -> str:
    return os.environ.get(f"DAYDREAM_BATCH_CONN_{api.upper()}", f"llm_batch_{api}")


def _chosen(api: str, conn_id: str | None) -> str:
    if conn_id:
        return conn_id
    try:
        BaseHook.get_connection(batch_conn_id(api))
    except AirflowNotFoundException:
        return llm_conn_id()
    return batch_conn_id(api)


def _password(conn: Any) -> str | None:
    return conn.password if conn is not None and conn.password else None


def connect(api: str, conn_id: str | None) -> BatchAdapter:
    """The adapter for ``api`` on a worker (sync connection reads)."""
    from daydream.airflow.hook import LLMHook

    chosen = _chosen(api, conn_id)
    try:
        conn = BaseHook.get_connection(chosen)
    except AirflowNotFoundException:
        conn = None
    settings = own_key_only(LLMHook(llm_conn_id=chosen).get_settings(), api, _password(conn))
    return adapter_for(api, settings, conn_hint=f"the password of the Airflow connection '{chosen}'", conn_id=chosen)


async def aconnect(api: str, conn_id: str | None) -> BatchAdapter:
    """``connect`` on the triggerer's loop (``aget_connection``: the sync read would block the loop)."""
    from daydream.airflow.hook import LLMHook

    chosen = conn_id or llm_conn_id()
    try:
        conn = await BaseHook.aget_connection(chosen)
    except AirflowNotFoundException:
        conn = None
    settings: LLMSettings = own_key_only(await LLMHook(llm_conn_id=chosen).aget_settings(), api, _password(conn))
    return adapter_for(api, settings, conn_hint=f"the password of the Airflow connection '{chosen}'", conn_id=chosen)


# -- the trigger -----------------------------------------------------------------------------------


class BatchTrigger(BaseTrigger):
    """Polls a lane's open batches every ``poll_s`` seconds; fires once all have ended."""

    def __init__(self, *, data_root: str, cohort_id: str, keys: list[str], poll_s: float):
        super().__init__()
        self.data_root, self.cohort_id, self.keys, self.poll_s = data_root, cohort_id, list(keys), poll_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs = {"data_root": self.data_root, "cohort_id": self.cohort_id, "keys": self.keys, "poll_s": self.poll_s}
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    def _manifests(self) -> BatchManifests:
        return BatchManifests(DataLayout.at(self.data_root), self.cohort_id)

    async def _groups(self, keys: list[str]) -> dict[tuple[str, str | None], list[str]]:
        manifests = self._manifests()
        groups: dict[tuple[str, str | None], list[str]] = {}
        for key in keys:
            manifest = await asyncio.to_thread(manifests.read, key)
            groups.setdefault((manifest.api, manifest.conn_id), []).append(key)
        return groups

    async def run(self) -> AsyncIterator[TriggerEvent]:
        manifests = self._manifests()
        running = list(self.keys)
        while running:
            still: list[str] = []
            try:
                for (api, conn_id), keys in (await self._groups(running)).items():
                    adapter = await aconnect(api, conn_id)
                    still += await apoll(manifests, keys, adapter)
            except LLMCallError as exc:
                if not exc.retryable:
                    yield TriggerEvent({"status": "error", "message": str(exc), "keys": self.keys})
                    return
                self.log.warning("polling batches failed, trying again in %ss: %s", self.poll_s, exc)
                still = running
            except DayDreamError as exc:
                yield TriggerEvent({"status": "error", "message": str(exc), "keys": self.keys})
                return
            running = still
            if running:
                await asyncio.sleep(self.poll_s)
        yield TriggerEvent({"status": "ended", "keys": self.keys})

    async def on_kill(self) -> None:
        """A user stopped the waiting task (mark failed/success, clear): cancel its batches."""
        manifests = self._manifests()
        for (api, conn_id), keys in (await self._groups(self.keys)).items():
            adapter = await aconnect(api, conn_id)
            await acancel_now(manifests, keys, adapter, "the waiting Airflow task was stopped by a user")


# -- the tasks ---------------------------------------------------------------------------------------


def batch_groups(stage: str, work: Work) -> list[dict[str, Any]]:
    """``[{llm_model_id, gen_ids}]``: the stage's batch-lane generations, one entry per model."""
    gen_ids = work.get(BATCH_LANE, [])
    if not gen_ids:
        return []
    run = steps.current_run()
    with steps.user_errors():
        groups = lane_groups(layout(), run.cohort_id, check_stage(stage), gen_ids)
    return [{"llm_model_id": model, "gen_ids": ids} for model, ids in groups.items()]


@contextmanager
def lane_errors() -> Iterator[None]:
    """A provider that could not be reached (timeout, 5xx) is worth Airflow's retry (which re-attaches);
    any other ``DayDreamError`` is the user's to fix and fails the task at once, like every step."""
    try:
        yield
    except LLMCallError as exc:
        if exc.retryable:
            raise AirflowException(str(exc)) from None
        log.error("%s", exc)
        raise AirflowFailException(str(exc)) from None
    except DayDreamError as exc:
        log.error("%s", exc)
        raise AirflowFailException(str(exc)) from None


SETTLED_XCOM = "settled"
"""The XCom (kept across the deferral) holding what ``execute`` settled without a batch: the event is
all ``collect`` is given under ``dag.test()`` (Airflow 3.3 drops ``next_kwargs`` there)."""


class BatchLaneOperator(BaseOperator):
    """One model's batch-lane generations of a stage: submit, wait (deferred), collect."""

    template_fields = ()

    def __init__(self, *, stage: str, lane: Mapping[str, Any], **kwargs: Any):
        super().__init__(**kwargs)
        self.stage = stage
        self.lane = dict(lane)  # {"llm_model_id", "gen_ids"}

    def _options(self, context: Any) -> tuple[str, RunOptions]:
        run = steps.run_conf(context)
        return run.cohort_id, RunOptions(force=run.force, max_cost_usd=run.max_cost_usd)

    def execute(self, context: Any) -> list[dict[str, Any]]:
        cohort_id, options = self._options(context)
        with lane_errors():
            poll_s = poll_seconds()
            start = start_lane(
                layout(),
                cohort_id,
                check_stage(self.stage),
                str(self.lane["llm_model_id"]),
                list(self.lane["gen_ids"]),
                options=options,
                connect=connect,
            )
        if not start.keys:
            return start.outcomes
        log.info("waiting (deferred) for batches %s; polled every %ss", start.keys, poll_s)
        context["ti"].xcom_push(key=SETTLED_XCOM, value=start.outcomes)
        trigger = BatchTrigger(data_root=str(layout().root), cohort_id=cohort_id, keys=start.keys, poll_s=poll_s)
        self.defer(trigger=trigger, method_name="collect")
        return []  # not reached: defer raises

    def collect(self, context: Any, event: dict[str, Any] | None = None, **_: Any) -> list[dict[str, Any]]:
        event = event or {}
        keys = list(event.get("keys") or [])
        if event.get("status") != "ended":
            raise AirflowException(f"waiting for batches {keys} failed: {event.get('message')}; a retry re-attaches")
        ti = context["ti"]
        outcomes = ti.xcom_pull(task_ids=ti.task_id, key=SETTLED_XCOM, map_indexes=ti.map_index) or []
        cohort_id, options = self._options(context)
        with lane_errors():
            collected = collect_open(layout(), cohort_id, connect=connect, options=options, keys=keys)
        return [*outcomes, *collected]


def add_batch_lane(stage: str, work: Any) -> Any:
    """The lane's tasks, inside the stage DAG being defined: ``batch_models`` then ``batch_lane``
    (mapped per model). Returns the mapped task, for ``summary`` to wait on."""

    @task(task_id=BATCH_GROUPS_TASK_ID)
    def batch_models(work: Work) -> list[dict[str, Any]]:
        return batch_groups(stage, work)

    return BatchLaneOperator.partial(
        task_id=BATCH_TASK_ID,
        stage=stage,
        retries=GENERATION_RETRIES,
        retry_delay=timedelta(seconds=5),
        map_index_template="{{ task.lane['llm_model_id'] }}",
    ).expand(lane=batch_models(work))


# -- a cancelled cohort run cancels its open batches ---------------------------------------------------

MANUALLY = "manually set"
"""What Airflow's message says when a user (UI, REST API) marked the run failed (3.3: "Dag Run's state
was manually set to `failed`.")."""


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    """A DayDream cohort (or stage) run marked failed by a user: its cohort's open batches (that stage's,
    for a stage run) are marked to be cancelled; the waiting trigger sends the cancellations."""
    stages = {dag_id: stage for stage, dag_id in STAGE_DAG_IDS.items()}
    if dag_run.dag_id not in (COHORT_DAG_ID, *stages) or MANUALLY not in (msg or ""):
        return
    conf = dag_run.conf or {}
    cohort_id = conf.get("cohort_id") if isinstance(conf, dict) else None
    if not isinstance(cohort_id, str):
        return
    stage = stages.get(dag_run.dag_id)
    try:
        manifests = BatchManifests(layout(), cohort_id)
        keys = [m.key for m in manifests.open(stage)]
        marked = request_cancel(manifests, keys, f"{dag_run.dag_id} run {dag_run.run_id} was marked failed")
    except DayDreamError as exc:
        log.warning("cannot ask for the batches of cohort %s to be cancelled: %s", cohort_id, exc)
        return
    if marked:
        log.info("cohort %s: cancellation requested for batches %s", cohort_id, marked)
