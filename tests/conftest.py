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

HEAVY_MARK = "scheduler"
"""The tests that run Airflow's scheduler (the cluster tests too): one at a time on a 2-core machine."""


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test``: ``-n 2 --dist loadgroup``) the tests that run Airflow's services
    form one group, which one worker runs first and one test after another (never two schedulers at once), while
    the other worker runs the rest a module at a time (a module-scoped fixture is built once)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    heavy = {item.nodeid for item in items if item.get_closest_marker(HEAVY_MARK)}
    for item in items:
        item.add_marker(pytest.mark.xdist_group("airflow-services" if item.nodeid in heavy else item.path.stem))
    items.sort(key=lambda item: item.nodeid not in heavy)  # stable: the heavy group is handed out first


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
