"""Shared fixtures: a scratch data root, a scripted LLM double, the demo cohort built and run.

Tests never write into the repository's ``data/``: ``data_root`` is a copy of its catalogs and cohort
specs in a temporary directory. The helpers these fixtures use are in ``tests/helpers.py``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

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
"""In this order on the serial worker: the timing-sensitive tests first (beside unit tests), then the
scheduler tests (the cluster's too), one after another."""


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


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``make test`` runs ``-n 2 --dist loadfile``: a file at a time per worker, except that the serial
    modules are one unit, so one worker runs them one after another (never two Airflow schedulers at once
    on the 2-core machine, and a timing-sensitive test never beside a scheduler test) while the other
    runs the rest of the suite beside them."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    serial = _serial_modules()

    class SerialModulesInTurn(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return SERIAL_GROUP if module in serial else module

    return SerialModulesInTurn(config, log)  # type: ignore[arg-type]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the serial modules first (the longest unit is handed out before the rest; timing
    tests, then scheduler tests), and a serial-marked test outside them is refused."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    serial = _serial_modules()
    rank = {item.nodeid: serial.get(item.nodeid.split("::")[0], len(SERIAL_MARKS)) for item in items}
    stray = [
        item.nodeid
        for item in items
        if rank[item.nodeid] == len(SERIAL_MARKS) and any(item.get_closest_marker(m) for m in SERIAL_MARKS)
    ]
    if stray:
        raise pytest.UsageError(f"timing or scheduler tests outside a module that marks them so: {stray}")
    items.sort(key=lambda item: rank[item.nodeid])


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
