"""``GenerationTrigger``: one generation of a stage DAG, run and ended in the triggerer.

The stage DAG's ``generate_<tier>`` tasks start from the trigger (``GenerateOperator``): no worker
process is started for a generation; the trigger runs it on the triggerer's event loop through
``daydream.engine`` (the runner's steps in worker threads, the call through the async client of the
``llm_default`` connection, within the pool's slots) and ends the task with ``TaskSuccessEvent``,
whose XCom is the generation's outcome, as the worker path returns it, so ``summary`` reads both alike.

Which generation: Airflow gives a trigger started this way the unexpanded operator (the mapped
``gen_id`` is not substituted into its kwargs), so the trigger reads the list its task was expanded
over (the ``<tier>_ids`` XCom, once per run and process) and takes the entry at its ``map_index``.

How the task ends:

- success, with the outcome as XCom, for every generation-level result: done, skipped, failed (bad
  output, LLM error after the retries, template error: recorded in the store, as on the worker path),
  budget, blocked, quota, busy;
- failed (Airflow's retries apply) when the trigger cannot tell which generation to run or for whom:
  invalid params, a missing or short ``<tier>_ids`` list. An unexpected exception (a bug) fails the
  trigger, which Airflow turns into a task failure with the traceback in the task log.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TaskFailedEvent, TaskSuccessEvent, TriggerEvent

from daydream.airflow.config import layout, llm_conn_id
from daydream.airflow.params import RunConf
from daydream.airflow.pools import AirflowApi, ApiPoolSizes, LabelQueue
from daydream.errors import DayDreamError
from daydream.paths import check_stage

__all__ = ["GenerationTrigger"]

log = logging.getLogger("daydream.airflow")
SETTINGS_REFRESH_S = 60.0
"""How often the triggerer reads the LLM connection again (a new key applies within this)."""
LISTS_KEPT = 64
"""Expanded gen id lists kept per process (one per stage run and tier)."""
QUIET_LOGGERS = ("openai", "httpx", "httpx2", "httpcore", "httpcore2")
"""The HTTP libraries, whose INFO lines (``HTTP Request: POST ...``, one per call) the triggerer drops."""


def quiet_http_loggers() -> None:
    """Drop the HTTP libraries' lines below WARNING in this process. The standard ``logging`` module
    writes them synchronously from the triggerer's event loop, and Airflow 3.3.2's runner blocks on
    such a write while its supervisor, sending it new triggers, reads no logs: a deadlock
    (docs/triggerer.md "Measured"). ``[logging] namespace_levels`` cannot do this in 3.3.2: it
    filters structlog's loggers only, not the standard library's."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class _Shared:
    """What the triggers of one event loop share: the engine, the API client, the expanded lists."""

    def __init__(self) -> None:
        quiet_http_loggers()
        self.api = AirflowApi()
        self.labels = LabelQueue(self.api)
        self.engine: Any = None  # daydream.engine.driver.GenerationEngine, imported off the loop
        self.settings_read = -SETTINGS_REFRESH_S
        self.lists: dict[tuple[str, str, str], asyncio.Task[list[str]]] = {}
        self.lock = asyncio.Lock()

    async def ready_engine(self) -> Any:
        loop = asyncio.get_running_loop()
        async with self.lock:
            if self.engine is None or loop.time() - self.settings_read > SETTINGS_REFRESH_S:
                # openai and the runner take a second or more to import: not on the event loop
                driver = await asyncio.to_thread(importlib.import_module, "daydream.engine.driver")
                hook = await asyncio.to_thread(importlib.import_module, "daydream.airflow.hook")
                GenerationEngine = driver.GenerationEngine  # noqa: N806
                settings = await hook.LLMHook(llm_conn_id=llm_conn_id()).aget_settings()
                self.settings_read = loop.time()
                if self.engine is None:
                    self.engine = GenerationEngine(layout(), settings, ApiPoolSizes(self.api))
                else:
                    self.engine.use_settings(settings)
            return self.engine


_SHARED: dict[asyncio.AbstractEventLoop, _Shared] = {}


def shared() -> _Shared:
    loop = asyncio.get_running_loop()
    found = _SHARED.get(loop)
    if found is None:
        for old in [k for k in _SHARED if k.is_closed()]:
            del _SHARED[old]
        found = _SHARED[loop] = _Shared()
    return found


class GenerationTrigger(BaseTrigger):
    """Runs generation ``<tier>_ids[map_index]`` of a stage DAG run and ends its task."""

    def __init__(self, stage: str, tier: str, pool: str | None, ids_task_id: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.stage = check_stage(stage)
        self.tier = tier
        self.pool = pool
        self.ids_task_id = ids_task_id
        self.seen: dict[str, Any] | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"stage": self.stage, "tier": self.tier, "pool": self.pool, "ids_task_id": self.ids_task_id},
        )

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """The triggerer builds the task's template context just before ``run``: keep what we need."""
        super().render_template_fields(context, jinja_env)
        ti = context["ti"]
        self.seen = {
            "params": dict(context["params"]),
            "run_id": context["run_id"],
            "dag_id": ti.dag_id,
            "map_index": ti.map_index,
            "ti_id": str(ti.id),
        }

    async def _log_line(self, level: str, message: str, *args: Any) -> None:
        """A line of the task's log, written off the event loop when the logger can (the triggerer's
        structlog logger; a plain logger elsewhere). Airflow 3.3's triggerer writes each line to a socket
        its supervisor does not read while it sends the runner new triggers: a write from the event loop
        that blocks there stops the loop that would read them, and both processes wait forever."""
        write = getattr(self.log, f"a{level}", None)
        if write is None:
            getattr(self.log, level)(message, *args)
        else:
            await write(message, *args)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            outcome = await self._generate()
        except DayDreamError as exc:
            await self._log_line("error", "%s", exc)
            yield TaskFailedEvent()
            return
        await self._log_line(
            "info",
            "%s %s: %s%s",
            self.stage,
            outcome["gen_id"],
            outcome["state"],
            f" ({outcome['message']})" if outcome.get("message") else "",
        )
        yield TaskSuccessEvent(xcoms={"return_value": outcome})

    async def _generate(self) -> dict[str, Any]:
        seen = self.seen
        if seen is None:
            raise DayDreamError("the triggerer gave this trigger no task context: start it from the stage DAG")
        run = RunConf.from_params(seen["params"])
        common = shared()
        gen_id = await self._gen_id(common, seen)
        common.labels.add(seen["ti_id"], gen_id)
        await self._log_line(
            "info", "%s %s (cohort %s, pool %s)", self.stage, gen_id, run.cohort_id, self.pool or "none"
        )
        engine = await common.ready_engine()
        options = importlib.import_module("daydream.call_plan").RunOptions(
            force=run.force, max_cost_usd=run.max_cost_usd
        )
        outcome = await engine.generate(
            self.stage,
            gen_id,
            pool=self.pool,
            cohort_id=run.cohort_id,
            options=options,
            run_key=hashlib.sha256(f"{seen['dag_id']}/{seen['run_id']}".encode()).hexdigest()[:16],
        )
        return dict(outcome.as_dict())

    async def _gen_id(self, common: _Shared, seen: dict[str, Any]) -> str:
        key = (seen["dag_id"], seen["run_id"], self.ids_task_id)
        task = common.lists.get(key)
        if task is None or (task.done() and task.exception() is not None):
            while len(common.lists) >= LISTS_KEPT:
                del common.lists[next(iter(common.lists))]  # the oldest run's list
            task = common.lists[key] = asyncio.ensure_future(self._pull_ids())
        ids = await asyncio.shield(task)
        index = int(seen["map_index"])
        if not 0 <= index < len(ids):
            raise DayDreamError(
                f"map index {index} is outside the {len(ids)} gen ids of {self.ids_task_id} in run {seen['run_id']}"
            )
        return str(ids[index])

    async def _pull_ids(self) -> list[str]:
        ti: Any = self.task_instance
        ids = await ti.axcom_pull(task_ids=self.ids_task_id, map_indexes=-1)
        if not isinstance(ids, list):
            raise DayDreamError(f"{self.ids_task_id} returned no list of gen ids (got {type(ids).__name__})")
        return ids
