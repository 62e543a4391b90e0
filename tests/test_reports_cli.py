"""``daydream report``: exit codes and what it prints."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from reports_fixtures import small_store  # noqa: E402

from daydream.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return small_store(tmp_path_factory.mktemp("cli"))


def test_report_cohort(store, capsys):
    assert main(["report", "c1", "--data-root", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert f"reports written to {store.root / 'cohorts' / 'c1' / 'reports'}" in out
    assert "index.html" in out and "summary/final_results.csv" in out
    assert "evaluations 10 (used in means 7)" in out


def test_report_include_stale(store, capsys):
    assert main(["report", "c1", "--include-stale", "--data-root", str(store.root)]) == 0
    assert "used in means 8" in capsys.readouterr().out


def test_report_all(store, capsys):
    assert main(["report", "--all", "--data-root", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert str(store.root / "7_cross_experiment") in out
    assert (store.root / "7_cross_experiment" / "template_version_comparison.csv").is_file()


def test_report_env_data_root(store, capsys, monkeypatch):
    monkeypatch.setenv("DAYDREAM_DATA_ROOT", str(store.root))
    assert main(["report", "c1"]) == 0


@pytest.mark.parametrize("args", [["report"], ["report", "c1", "--all"], ["report", "nope"]])
def test_report_user_errors_exit_2(store, capsys, args):
    assert main([*args, "--data-root", str(store.root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("daydream: error:") and err.count("\n") == 1


def test_report_broken_catalog_names_file(store, tmp_path, capsys):
    root = tmp_path / "broken"
    small_store(root)
    (root / "1_raw" / "evaluation_templates.csv").write_text("template_id,parser\njudge-a,nonsense\n")
    assert main(["report", "c1", "--data-root", str(root)]) == 2
    assert "evaluation_templates.csv" in capsys.readouterr().err
