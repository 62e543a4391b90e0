"""The trigger path's Airflow wiring without a scheduler: the path setting, the DAG shape it gives, and
the outcome XComs a trigger returns (the real scheduler runs in tests/test_scheduler_e2e.py).

- ``DAYDREAM_GENERATION_PATH`` accepts ``triggerer`` (default) and ``worker``, refuses anything else in
  one bounded line;
- with ``triggerer`` the stage DAGs' ``generate_<tier>`` tasks start from ``GenerationTrigger`` (the
  pool and tier in its kwargs); with ``worker`` they run on workers; both keep pools and gen id labels;
- a trigger's outcome reaches ``summary`` as JSON text and is counted like a worker's dict.
"""

from __future__ import annotations

import json

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow_env import REPO  # noqa: I001 (sets AIRFLOW_HOME before Airflow is imported)

from daydream.airflow.config import GENERATION_PATH_ENV, POOLS, STAGE_DAG_IDS, generate_task_id, generation_path
from daydream.airflow.generation import TRIGGER_CLASS
from daydream.airflow.triggers import GenerationTrigger
from daydream.errors import DayDreamError
from daydream.orchestration import LOCAL_TIER, TIERS
from daydream.orchestration.stage import summarize_stage
from daydream.paths import DataLayout


def test_the_generation_path_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(GENERATION_PATH_ENV, raising=False)
    assert generation_path() == "triggerer"
    monkeypatch.setenv(GENERATION_PATH_ENV, " Worker ")
    assert generation_path() == "worker"
    monkeypatch.setenv(GENERATION_PATH_ENV, "x" * 5000)
    with pytest.raises(DayDreamError) as caught:
        generation_path()
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300 and "must be one of triggerer, worker" in message


def stage_tasks(monkeypatch: pytest.MonkeyPatch, path: str | None) -> dict[str, dict]:
    if path is None:
        monkeypatch.delenv(GENERATION_PATH_ENV, raising=False)
    else:
        monkeypatch.setenv(GENERATION_PATH_ENV, path)
    bag = DagBag(dag_folder=str(REPO / "dags" / "daydream_stages.py"))
    assert bag.import_errors == {}
    tasks = {}
    for stage, dag_id in STAGE_DAG_IDS.items():
        for tier in TIERS:
            task = bag.dags[dag_id].get_task(generate_task_id(tier))
            tasks[f"{stage}/{tier}"] = {
                "from_trigger": task.start_from_trigger,
                "args": task.start_trigger_args,
                "pool": task.partial_kwargs.get("pool"),
                "label": task.partial_kwargs.get("map_index_template"),
            }
    return tasks


def test_the_stage_dags_start_their_generations_from_the_trigger(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, task in stage_tasks(monkeypatch, None).items():
        stage, tier = key.split("/")
        assert task["from_trigger"] is True, key
        assert task["args"].trigger_cls == TRIGGER_CLASS
        kwargs = task["args"].trigger_kwargs
        assert kwargs == {
            "stage": stage,
            "tier": tier,
            "pool": None if tier == LOCAL_TIER else POOLS[tier],
            "ids_task_id": f"{tier}_ids",
        }
        assert task["pool"] == POOLS[tier] and task["label"] == "{{ task.op_kwargs['gen_id'] }}"
        # what the triggerer stores and re-creates (a restarted triggerer re-runs it from these)
        trigger = GenerationTrigger(**kwargs)
        path, again = trigger.serialize()
        assert path == TRIGGER_CLASS and again == kwargs


def test_the_worker_path_runs_generations_on_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, task in stage_tasks(monkeypatch, "worker").items():
        tier = key.split("/")[1]
        assert task["from_trigger"] is False and task["args"] is None, key
        assert task["pool"] == POOLS[tier] and task["label"] == "{{ task.op_kwargs['gen_id'] }}"


def test_a_triggers_outcome_is_counted_like_a_workers(tmp_path) -> None:
    from helpers import copy_bundled_data

    from daydream.cohorts import build_cohort

    root = copy_bundled_data(tmp_path / "data")
    spec = root / "cohorts" / "t" / "spec"
    spec.mkdir(parents=True)
    (spec / "config.yaml").write_text(
        "combos: {k_max: 2, description_level: paragraph, concepts: [data-flywheel, economic-moat]}\n"
        "axes:\n  draft_template: [creative-synthesis-v10]\n  draft_llm: [gemini_25_pro, gemini_25_flash]\n"
        "  essay_template: [draft-as-essay]\n  essay_llm: [gemini_25_pro]\n"
        "  evaluation_template: [novelty-rubric-v2]\n  evaluation_llm: [sonnet-4]\n"
    )
    layout = DataLayout(root)
    build_cohort(layout, "t")
    drafts = sorted(p.name for p in layout.stage_dir("draft").iterdir())
    assert len(drafts) == 2
    worker = {"stage": "draft", "gen_id": drafts[0], "state": "quota", "message": "m", "called_llm": False}
    trigger = json.dumps({"stage": "draft", "gen_id": drafts[1], "state": "quota", "message": "m"})
    summary = summarize_stage(layout, "t", "draft", {"paid": drafts}, [worker, trigger, "not json", 3])
    assert summary["this_run"] == {"quota": 2}, "both outcomes counted, nothing taken for a crash"
    assert summary["quota"] == 2 and "wait for a model's daily quota to reset" in summary["text"]


def test_a_trigger_writes_its_log_lines_off_the_event_loop_when_the_logger_can() -> None:
    """The triggerer's structlog logger has async methods (the write runs in a thread, so a full log
    socket cannot stop the event loop); a plain logger is written to directly."""
    import asyncio

    class Recorder:
        def __init__(self) -> None:
            self.lines: list[tuple[str, str]] = []

        def info(self, message: str, *args: object) -> None:
            self.lines.append(("sync", message % args))

    class AsyncRecorder(Recorder):
        async def ainfo(self, message: str, *args: object) -> None:
            self.lines.append(("async", message % args))

    for logger, how in ((Recorder(), "sync"), (AsyncRecorder(), "async")):
        trigger = GenerationTrigger(stage="draft", tier="paid", pool=POOLS["paid"], ids_task_id="paid_ids")
        trigger._log = logger  # LoggingMixin's cached logger, what ``trigger.log`` returns
        asyncio.run(trigger._log_line("info", "%s %s", "draft", "d_1"))
        assert logger.lines == [(how, "draft d_1")]


def test_the_triggerer_drops_the_http_libraries_request_lines_but_not_their_warnings() -> None:
    """In the triggerer the standard ``logging`` module would write ``HTTP Request: POST ...`` from the
    event loop, once per call (the runner's deadlock in docs/triggerer.md); DayDream's lines stay."""
    import logging

    from daydream.airflow.triggers import QUIET_LOGGERS, quiet_http_loggers

    kept = {name: logging.getLogger(name).level for name in (*QUIET_LOGGERS, "daydream")}
    try:
        quiet_http_loggers()
        assert not logging.getLogger("httpx2").isEnabledFor(logging.INFO)
        assert logging.getLogger("httpx2").isEnabledFor(logging.WARNING)
        assert not logging.getLogger("openai._base_client").isEnabledFor(logging.INFO)
        logging.getLogger("daydream").setLevel(logging.INFO)
        assert logging.getLogger("daydream.llm").isEnabledFor(logging.INFO)
    finally:
        for name, level in kept.items():
            logging.getLogger(name).setLevel(level)
