"""Shared fixtures: a scratch data root, a scripted LLM double, the demo cohort built and run.

Tests never write into the repository's ``data/``: ``data_root`` is a copy of its catalogs and cohort
specs in a temporary directory. The helpers these fixtures use are in ``tests/helpers.py``.
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# Before anything imports Airflow: tests never touch the developer's ~/airflow or the repo's .airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="daydream-tests-airflow-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import pytest  # noqa: E402
from helpers import FakeLLM, copy_bundled_data, one_line_error, run_members  # noqa: E402

from daydream.cohorts import build_cohort  # noqa: E402
from daydream.paths import DataLayout  # noqa: E402

TESTS = Path(__file__).resolve().parent
SERIAL_GROUP = "airflow-scheduler"
SERIAL_MARKS = ("timing", "scheduler")
"""Handed out in this order: the timing-sensitive modules first, each on its own (both workers run them,
beside unit tests or each other), then the scheduler modules as one unit (one worker runs them one after
another), then the rest. The scheduler modules wait for the timing modules to end, so a timing test never
runs beside a scheduler test (``_timing_never_beside_a_scheduler``)."""
ORDER = (
    "tests/test_engine_generation.py",
    "tests/test_cluster_e2e.py",
    "tests/test_scheduler_worker_path.py",
    "tests/test_tournament_scheduler.py",
    "tests/test_scheduler_e2e.py",
    "tests/test_batch_scheduler.py",
)
"""Within their group, these modules go first, in this order: the longest timing module (the timing modules
split evenly over the two workers), the scheduler modules with an Airflow of their own, then those that
share the ``trigger_stack`` one after another (it runs from the first to the last of them). The
tournament runs the demo cohort before the trigger-path tests, whose cohorts overlap it only where they
expect generations done already."""


@functools.cache
def _serial_modules() -> dict[str, int]:
    """The test modules that mark tests ``pytest.mark.timing`` or ``pytest.mark.scheduler``, by name
    relative to the repository (as in node ids), each with its place in ``SERIAL_MARKS``."""
    found: dict[str, int] = {}
    for path in TESTS.glob("test_*.py"):
        text = path.read_text()
        marks = [rank for rank, mark in enumerate(SERIAL_MARKS) if f"pytest.mark.{mark}" in text]
        if marks:
            found[f"{TESTS.name}/{path.name}"] = max(marks)
    return found


TIMING_RANK, SCHEDULER_RANK = SERIAL_MARKS.index("timing"), SERIAL_MARKS.index("scheduler")
TIMING_WAIT_S = 1800
"""How long a scheduler module waits for the timing modules of the other worker: a bound for a hung one."""


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``make test`` runs ``-n 2 --dist loadfile``: a file at a time per worker, except that the scheduler
    modules are one unit, so one worker runs them one after another (never two Airflow schedulers at once
    on the 2-core machine) while the other runs the rest of the suite beside them."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    scheduler = {module for module, rank in _serial_modules().items() if rank == SCHEDULER_RANK}

    class SchedulerModulesInTurn(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return SERIAL_GROUP if module in scheduler else module

    return SchedulerModulesInTurn(config, log)  # type: ignore[arg-type]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The timing modules first, then the scheduler modules, then the rest (see ``SERIAL_MARKS``; ``ORDER``
    within a group), with or without xdist; a serial-marked test outside them is refused."""
    serial = _serial_modules()
    rank = {item.nodeid: serial.get(item.nodeid.split("::")[0], len(SERIAL_MARKS)) for item in items}
    stray = [
        item.nodeid
        for item in items
        if rank[item.nodeid] == len(SERIAL_MARKS) and any(item.get_closest_marker(m) for m in SERIAL_MARKS)
    ]
    if stray:
        raise pytest.UsageError(f"timing or scheduler tests outside a module that marks them so: {stray}")
    first = {module: place for place, module in enumerate(ORDER)}
    items.sort(key=lambda item: (rank[item.nodeid], first.get(item.nodeid.split("::")[0], len(first))))


def _timing_marks(config: pytest.Config) -> Path | None:
    """Under xdist, where each timing module leaves a mark when it ends: the run's temporary directory,
    which the workers' own directories share."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return None
    marks = config._tmp_path_factory.getbasetemp().parent / "timing-modules-done"
    marks.mkdir(exist_ok=True)
    return marks


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0]


@pytest.fixture(autouse=True, scope="module")
def _timing_never_beside_a_scheduler(request: pytest.FixtureRequest) -> None:
    """A scheduler module starts only once every timing module of the run has ended (on either worker):
    the timing modules are handed out before the scheduler modules, so none starts later."""
    marks = _timing_marks(request.config)
    if marks is None or _serial_modules().get(request.node.nodeid) != SCHEDULER_RANK:
        return
    timing = {_module(item) for item in request.session.items if _serial_modules().get(_module(item)) == TIMING_RANK}
    deadline = time.monotonic() + TIMING_WAIT_S
    while missing := sorted(m for m in timing if not (marks / m.replace("/", "-")).exists()):
        assert time.monotonic() < deadline, f"timing modules still running after {TIMING_WAIT_S} s: {missing}"
        time.sleep(1)


@pytest.fixture(scope="module")
def trigger_stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One running Airflow on the trigger path, shared by the tests that use it one after another
    (``airflow_env.trigger_stack``): ``(local, data root, offline LLM)``."""
    from airflow_env import SHARED_STACK

    return SHARED_STACK.get(lambda: tmp_path_factory.mktemp("trigger-stack"))


def _uses_the_shared_stack(item: pytest.Item) -> bool:
    return "trigger_stack" in getattr(item, "fixturenames", ())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After a test's own teardown, the shared Airflow stops unless the next test uses it, and the last
    test of a timing module marks the module ended."""
    try:
        return (yield)
    finally:
        if _uses_the_shared_stack(item) and (nextitem is None or not _uses_the_shared_stack(nextitem)):
            from airflow_env import SHARED_STACK

            SHARED_STACK.stop()
        marks = _timing_marks(item.config)
        last_of_module = nextitem is None or _module(nextitem) != _module(item)
        if marks is not None and last_of_module and _serial_modules().get(_module(item)) == TIMING_RANK:
            (marks / _module(item).replace("/", "-")).touch()


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """A scratch copy of the bundled ``data/1_raw`` and ``data/cohorts``."""
    return copy_bundled_data(tmp_path / "data")


@pytest.fixture
def layout(data_root: Path) -> DataLayout:
    return DataLayout(data_root)


@pytest.fixture
def fake_llm() -> FakeLLM:
    return FakeLLM()


@pytest.fixture
def built_demo(layout: DataLayout) -> DataLayout:
    """The demo cohort built (membership, manifest, seeded metadata), nothing run yet."""
    build_cohort(layout, "demo")
    return layout


@pytest.fixture
def ran_demo(built_demo: DataLayout, fake_llm: FakeLLM) -> tuple[DataLayout, FakeLLM]:
    """The demo cohort built and run to completion with the fake LLM."""
    outcomes = run_members(built_demo, "demo", fake_llm)
    assert {o.state for o in outcomes} == {"done"}, [o for o in outcomes if o.state != "done"][:3]
    return built_demo, fake_llm


@pytest.fixture
def expect_one_line() -> Callable[..., str]:
    return one_line_error
