"""Shared helpers for the tests that need Airflow: a project-local Airflow in a temporary home.

Importing this module points ``AIRFLOW_HOME`` at a temporary directory when it is not set, so
that no test ever writes ``~/airflow``. Everything that runs Airflow proper (``dag.test()``, the
scheduler) runs in child processes with the environment of ``include/scripts/airflow_env.sh``
(the settings the project ships) and its own home, data root and offline LLM, so the tests
cannot leak configuration into each other.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import Any

import psutil

os.environ.setdefault("AIRFLOW_HOME", str(Path(tempfile.gettempdir()) / f"daydream-tests-airflow-{os.getuid()}"))

REPO = Path(__file__).resolve().parents[1]
# The developer helpers that start and stop a local Airflow live with the scripts that use them.
sys.path.insert(0, str(REPO / "include" / "scripts"))

from local_airflow.env import airflow_env, free_port  # noqa: E402
from local_airflow.stack import LocalAirflow  # noqa: E402

from daydream import atomic  # noqa: E402
from daydream.paths import STAGES  # noqa: E402
from daydream.store import CURRENT_OUTPUTS  # noqa: E402

RAW = REPO / "data" / "1_raw"
POLL_S = 1.0
"""Seconds between a test's polls of a run's state: the client's 3 s default (made for a person watching)
adds 1.5 s on average to each of the scheduler tests' many waits."""

TINY_SPEC = """\
# 1 combo x 1 draft template x 2 draft llms (free + paid) = 2 drafts;
# x 2 essay templates (one LLM, one copy) = 4 essays; x 1 evaluation = 4 evaluations.
combos:
  k_max: 2
  description_level: paragraph
  concepts: [{concepts}]
axes:
  draft_template: [creative-synthesis-v10]
  draft_llm: [deepseek_r1_f, gemini_25_pro]
  essay_template: [essay-expand-v3, draft-as-essay]
  essay_llm: [gemini_25_pro]
  evaluation_template: [novelty-rubric-v2]
  evaluation_llm: [sonnet-4]
"""
TWO_CONCEPTS = "default-mode-network, generator-verifier-gap"
THREE_CONCEPTS = "default-mode-network, generator-verifier-gap, combinatorial-creativity"


def make_data_root(root: Path, cohorts: Mapping[str, str]) -> Path:
    """A data root with the bundled catalogs and one spec per cohort (``{cohort_id: yaml}``)."""
    shutil.copytree(RAW, root / "1_raw")
    write_specs(root, cohorts)
    return root


def write_specs(root: Path, cohorts: Mapping[str, str]) -> None:
    """One spec per cohort (``{cohort_id: yaml}``) in the data root ``root``."""
    for cohort_id, spec in cohorts.items():
        spec_dir = root / "cohorts" / cohort_id / "spec"
        spec_dir.mkdir(parents=True)
        (spec_dir / "config.yaml").write_text(spec, encoding="utf-8")


def offline_llm(data_root: Path, **config: Any):
    """The offline LLM in this process (tiers and prices from the catalog), started."""
    from daydream.llm.offline import OfflineServer, catalog_pricing

    return OfflineServer({**catalog_pricing(data_root / "1_raw" / "llm_models.csv"), **config}).start()


FAST_POLLS = {"DAYDREAM_TRIGGER_POLL_SECONDS": "1", "DAYDREAM_BATCH_POLL_SECONDS": "1"}
"""A cohort run's wait for each step, and the lane's wait for a batch, poll every second rather than
every 3 and 2 s: each poll interval otherwise adds half of itself on average to each wait."""


def env_for(home: Path, data_root: Path, llm_base_url: str, **extra: str) -> dict[str, str]:
    """The shipped local settings for ``home`` and ``data_root``, LLM connection to ``llm_base_url``."""
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DAYDREAM_")) and k != "OPENROUTER_API_KEY"
    }
    env = airflow_env(
        {
            "DAYDREAM_AIRFLOW_HOME": str(home),
            "DAYDREAM_DATA_ROOT": str(data_root),
            "DAYDREAM_LLM": "offline",
            "DAYDREAM_AIRFLOW_PORT": str(free_port()),
            "DAYDREAM_LLM_PORT": str(free_port()),
            **FAST_POLLS,
            **extra,
        },
        base=base,
    )
    env["AIRFLOW_CONN_LLM_DEFAULT"] = json.dumps(
        {"conn_type": "daydream_llm", "host": llm_base_url, "password": "offline"}
    )
    return env


def airflow(env: Mapping[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``airflow ARGS`` of the venv with ``env``; output captured."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def migrate(env: Mapping[str, str]) -> None:
    result = airflow(env, "db", "migrate")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


_DAG_TEST = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
for dag_id, conf in json.loads(sys.argv[2]):
    run = bag.dags[dag_id].test(run_conf=conf)
    tis = [ti for ti in run.get_task_instances() if ti.map_index < 0]
    tasks = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in tis}
    print("DAG_TEST_TASKS " + json.dumps(tasks), flush=True)
    print("DAG_TEST_RESULT " + json.dumps([dag_id, str(getattr(run.state, "value", run.state))]), flush=True)
"""


def dag_test(
    env: Mapping[str, str], *runs: tuple[str, Mapping[str, Any]], timeout: float = 300
) -> tuple[list[str], str]:
    """``dag.test(run_conf=conf)`` of each ``(dag_id, conf)`` in turn, in one child process.

    Returns the final state of each run and the combined output."""
    result = subprocess.run(
        [sys.executable, "-c", _DAG_TEST, str(REPO / "dags"), json.dumps(runs)],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    output = result.stdout + result.stderr
    states = [
        json.loads(line.removeprefix("DAG_TEST_RESULT "))[1]
        for line in result.stdout.splitlines()
        if line.startswith("DAG_TEST_RESULT ")
    ]
    if len(states) != len(runs):
        raise AssertionError(f"dag.test() did not finish (exit {result.returncode}):\n{output[-5000:]}")
    return states, output


def task_states(output: str) -> list[dict[str, str]]:
    """The state of each (unmapped) task of each run of a ``dag_test`` output, in run order."""
    return [
        json.loads(line.removeprefix("DAG_TEST_TASKS "))
        for line in output.splitlines()
        if line.startswith("DAG_TEST_TASKS ")
    ]


@functools.cache
def migrated_db() -> Path:
    """A SQLite metadata DB migrated and holding the project's pools, made once per test process: each
    ``running_airflow`` starts from a copy, as ``airflow db migrate`` and ``airflow pools import`` take
    15 to 30 s on the 2-core machine every time."""
    root = Path(tempfile.mkdtemp(prefix="daydream-tests-airflow-db-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / "data").mkdir()
    local = LocalAirflow(env_for(root / "airflow", root / "data", "http://127.0.0.1:9/v1"), out=lambda _line: None)
    local.prepare()
    db = _sqlite_path(local.env)
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the one file (it stays in WAL mode)
    return db


def _sqlite_path(env: Mapping[str, str]) -> Path:
    url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert url.startswith("sqlite:///"), url
    return Path(url.removeprefix("sqlite:///"))


@contextmanager
def running_airflow(env: Mapping[str, str], start_timeout: float = 600.0) -> Iterator[LocalAirflow]:
    """Scheduler, dag-processor, triggerer and api-server for ``env``; every process stopped after.

    ``start_timeout`` bounds a hung start-up, not a speed target: the api-server's workers come up in
    minutes, not seconds, when other test runs load the 2-core machine."""
    local = LocalAirflow(env, out=lambda _line: None)
    try:
        local.cleanup_previous()
        local.check_ports(False)
        db = _sqlite_path(local.env)
        db.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(migrated_db(), db)  # what LocalAirflow.prepare() makes, made once
        local.start_airflow(timeout=start_timeout)
        yield local
    finally:
        left = local.stop()
        assert not left, f"processes left running after stop: {left}"


BATCH_JUDGES = {"sonnet-4": "anthropic", "gpt_5": "openai", "gemini_25_flash": "openrouter"}
"""The judges of the batch-lane tests, each on another provider's batch API (``judges_on_three_apis``)."""
TRIGGER_STACK = {
    "DAYDREAM_TRIGGERERS": "2",
    # Small capacities, so the generations are spread over both triggerers rather than all taken by
    # the first one to ask (each takes up to its capacity of the waiting triggers).
    "AIRFLOW__TRIGGERER__CAPACITY": "10",
    # The log servers take free ports instead of 8793/8794 that another local Airflow may hold.
    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
    "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
}


def judges_on_three_apis(root: Path) -> None:
    """``BATCH_JUDGES`` in the catalog of data root ``root``: each judge's batch API and discount."""
    path = root / "1_raw" / "llm_models.csv"
    lines = path.read_text().splitlines()
    rows = [lines[0]]
    for line in lines[1:]:
        model_id = line.split(",")[0]
        rows.append(
            ",".join([*line.split(",")[:-2], BATCH_JUDGES[model_id], "0.5"]) if model_id in BATCH_JUDGES else line
        )
    path.write_text("\n".join(rows) + "\n")


@contextmanager
def trigger_stack(root: Path) -> Iterator[tuple[LocalAirflow, Path, Any]]:
    """The trigger path (the default) on two triggerers, every DAG of a cohort run parsed and unpaused,
    the offline LLM in this process: ``(local, data root, server)``. The modules that share it (the
    ``trigger_stack`` fixture) give each cohort its own concepts, so no two share a generation, and set the
    LLM's latency and faults they need; the data root's judges are on three batch APIs (the batch tests)."""
    from daydream.airflow.config import RUN_DAG_IDS

    data = make_data_root(root / "data", {})
    judges_on_three_apis(data)
    server = offline_llm(data, latency_s=0.5)
    try:
        with running_airflow(env_for(root / "airflow", data, server.base_url, **TRIGGER_STACK)) as local:
            local.wait_dags(RUN_DAG_IDS, timeout=600)  # a bound for a hung parse on a loaded machine
            local.unpause()
            yield local, data, server
    finally:
        server.stop()


class SharedStack:
    """``trigger_stack`` started on first use and kept for the tests that follow; ``conftest`` stops it as
    soon as the next test does not use it, so no other Airflow ever starts beside it (its start-up and
    stop took 30 to 60 s per module)."""

    def __init__(self) -> None:
        self._running: ExitStack | None = None
        self._value: tuple[LocalAirflow, Path, Any] | None = None

    def get(self, root: Callable[[], Path]) -> tuple[LocalAirflow, Path, Any]:
        if self._value is None:
            running = ExitStack()
            self._value = running.enter_context(trigger_stack(root()))
            self._running = running
        return self._value

    def stop(self) -> None:
        running, self._running, self._value = self._running, None, None
        if running is not None:
            running.close()


SHARED_STACK = SharedStack()


def membership(data: Path, cohort: str) -> dict[str, set[str]]:
    """The gen ids of each stage of a cohort (its ``membership.csv``)."""
    rows = (data / "cohorts" / cohort / "membership.csv").read_text().splitlines()[1:]
    return {stage: {r.split(",")[1] for r in rows if r.startswith(stage + ",")} for stage in STAGES}


def run_cohort(local: LocalAirflow, cohort: str, timeout: float) -> str:
    """A cohort run by direct calls (the batch lane has its own scheduler test), waited for: its state."""
    run_id = local.client.trigger("daydream_cohort", {"cohort_id": cohort, "batch": False})
    return local.client.wait_run("daydream_cohort", run_id, timeout=timeout, interval=POLL_S)


def triggerer_jobs(local: LocalAirflow, dag_id: str) -> dict[Path, set[str]]:
    """Per generation task instance of ``dag_id`` (its log directory), the triggerer jobs that ran its
    trigger, from their log files (``attempt=1.log.trigger.<job id>.log``). A trigger that a busy
    triggerer's heartbeat lost is reassigned, so an instance may have logs from both jobs."""
    logs = Path(local.env["AIRFLOW_HOME"]) / "logs" / f"dag_id={dag_id}"
    found: dict[Path, set[str]] = {}
    for path in logs.rglob("*.log.trigger.*.log"):
        found.setdefault(path.parent, set()).add(path.name.rsplit(".trigger.", 1)[1].split(".")[0])
    return found


def task_pid(ti_id: str) -> int | None:
    """The task process of a task instance (the task runner titles it ``airflow worker -- <ti id>``)."""
    for proc in psutil.process_iter(["cmdline"]):
        if " ".join(proc.info["cmdline"] or ()).strip() == f"airflow worker -- {ti_id}":
            return proc.pid
    return None


def gen_files(data_root: Path) -> dict[str, list[Path]]:
    """Every file of the gens store, and the temporary ones (there must be none at rest)."""
    files = [p for p in (data_root / "gens").rglob("*") if p.is_file()]
    return {"all": files, "tmp": [p for p in files if ".tmp" in p.name]}


RUN_TIMEOUT = 1200
"""How long a test waits for one DAG run: a bound for a hung run, not a speed target (those are
benchmarks/). A 30-generation cohort takes about 1 min on a quiet 2-core machine and ten when several
test suites share it."""


def assert_store_intact(data_root: Path, *, just_killed: bool = False) -> None:
    """No temporary file left and every JSON file parses (atomic writes). ``just_killed``: a process
    killed mid-write may have left temporary files of a generation's outputs, which the generation's
    next run sweeps (so a later check without ``just_killed`` proves they went); nothing else."""
    files = gen_files(data_root)
    left = files["tmp"]
    if just_killed:
        left = [p for p in left if atomic.interrupted_target(p.name) not in CURRENT_OUTPUTS]
    assert not left, f"temporary files left: {left}"
    for path in files["all"]:
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))


def done_ids(data_root: Path, stage: str) -> set[str]:
    return {p.parent.name for p in (data_root / "gens" / stage).glob("*/parsed.txt")}
