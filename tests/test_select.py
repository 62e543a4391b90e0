"""``daydream select top``: the selection files, the curated cohort it prepares, and its refusals."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from reports_fixtures import small_store  # noqa: E402

from daydream.cli import main  # noqa: E402
from daydream.cohorts import read_id_list  # noqa: E402
from daydream.paths import DataLayout  # noqa: E402
from daydream.reports.select import select_top  # noqa: E402


@pytest.fixture
def store(tmp_path):
    return small_store(tmp_path)


def test_select_top_by_mean_writes_the_selection(store, capsys):
    code = main(["select", "top", "--cohort", "c1", "--top-n", "1", "--data-root", str(store.root)])
    assert code == 0
    path = store.root / "cohorts" / "c1" / "reports" / "selection" / "selected_essays.txt"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0].startswith("# ") and "top 1 of 2 scored essays by mean" in text
    assert [line for line in lines if not line.startswith("#")] == [store.e_a]
    assert read_id_list(path) == [store.e_a]
    assert str(path) in capsys.readouterr().out
    assert not (store.root / "cohorts" / "c1" / "spec").exists()


def test_select_by_max_and_ties(store):
    """By max: e_a's best is 9/9 = 1.0, e_b's 5/9; the stale e_s (9/9) is excluded unless asked."""
    layout = DataLayout(store.root)
    result = select_top(layout, "c1", 5, by="max")
    assert result.gen_ids == [store.e_a, store.e_b] and result.stage == "essay"
    with_stale = select_top(layout, "c1", 5, by="max", include_stale=True)
    # e_a and e_s both reach 1.0; e_a has more evaluations, so it comes first
    assert with_stale.gen_ids == [store.e_a, store.e_s, store.e_b]


def test_select_into_a_new_cohort(store):
    code = main(
        [
            "select",
            "top",
            "--cohort",
            "c1",
            "--top-n",
            "2",
            "--new-cohort",
            "c1-rejudged",
            "--evaluation-llm",
            "j3",
            "--evaluation-llm",
            "j1",
            "--evaluation-template",
            "judge-b",
            "--data-root",
            str(store.root),
        ]
    )
    assert code == 0
    spec = store.root / "cohorts" / "c1-rejudged" / "spec"
    assert read_id_list(spec / "selected_essays.txt") == [store.e_a, store.e_b]
    config = yaml.safe_load((spec / "config.yaml").read_text(encoding="utf-8"))
    assert config == {"axes": {"evaluation_template": ["judge-b"], "evaluation_llm": ["j3", "j1"]}}
    assert (spec / "config.yaml").read_text(encoding="utf-8").startswith("# Curated cohort")


def test_new_cohort_defaults_to_the_active_judges(store):
    select_top(DataLayout(store.root), "c1", 1, new_cohort="c2")
    config = yaml.safe_load((store.root / "cohorts" / "c2" / "spec" / "config.yaml").read_text(encoding="utf-8"))
    assert config["axes"] == {"evaluation_template": ["judge-a", "judge-b"], "evaluation_llm": ["j1", "j2", "j3"]}


def test_refuses_to_overwrite_an_existing_cohort(store, capsys):
    code = main(
        ["select", "top", "--cohort", "c1", "--top-n", "1", "--new-cohort", "c1", "--data-root", str(store.root)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "already exists" in err and err.count("\n") == 1
    assert not (store.root / "cohorts" / "c1" / "spec").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--evaluation-llm", "nobody"], "unknown evaluation model: nobody"),
        (["--evaluation-template", "judge-z"], "unknown evaluation template: judge-z"),
    ],
)
def test_unknown_judges_are_refused_before_writing(store, capsys, args, message):
    code = main(
        [
            "select",
            "top",
            "--cohort",
            "c1",
            "--top-n",
            "1",
            "--new-cohort",
            "new",
            *args,
            "--data-root",
            str(store.root),
        ]
    )
    assert code == 2 and message in capsys.readouterr().err
    assert not (store.root / "cohorts" / "new").exists()


@pytest.mark.parametrize("args", [["--top-n", "0"], ["--top-n", "2", "--new-cohort", "../x"]])
def test_bad_arguments_exit_2(store, args):
    assert main(["select", "top", "--cohort", "c1", *args, "--data-root", str(store.root)]) == 2


def test_unknown_cohort_exits_2(store, capsys):
    assert main(["select", "top", "--cohort", "nope", "--top-n", "1", "--data-root", str(store.root)]) == 2
    assert "nope" in capsys.readouterr().err


def test_argparse_errors_exit_2(store):
    with pytest.raises(SystemExit) as exc:
        main(["select", "top", "--cohort", "c1", "--top-n", "1", "--by", "median"])
    assert exc.value.code == 2
