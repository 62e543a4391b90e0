"""The ``daydream`` command for specs, cohorts and the store: output, and one-line user errors (exit 2)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import REPO, FakeLLM, tree, write_csv

from daydream.cli import main
from daydream.paths import DataLayout

Capsys = pytest.CaptureFixture[str]


def run(capsys: Capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_spec_compile_csv_jsonl_and_out(data_root: Path, capsys: Capsys, tmp_path: Path) -> None:
    spec = str(data_root / "cohorts" / "demo" / "spec" / "config.yaml")
    code, out, _ = run(capsys, "spec", "compile", spec, "--data-root", str(data_root))
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == "combo_id,draft_template,draft_llm,essay_template,essay_llm,evaluation_template,evaluation_llm"
    assert len(lines) == 1 + 3 * 2 * 3 * 2  # combos x draft llms x essay routes x evaluation templates
    code, out, _ = run(capsys, "spec", "compile", spec, "--format", "jsonl", "--data-root", str(data_root))
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(records) == 36 and records[0]["evaluation_llm"] == "sonnet-4"
    target = tmp_path / "rows.csv"
    code, out, err = run(capsys, "spec", "compile", spec, "--out", str(target), "--data-root", str(data_root))
    assert (code, out) == (0, "") and f"wrote 36 rows to {target}" in err
    assert target.read_text().splitlines() == lines
    assert not (data_root / "combo_mappings.csv").exists()


def test_cohort_build_dry_run_then_build(data_root: Path, capsys: Capsys) -> None:
    before = tree(data_root)
    code, out, _ = run(capsys, "cohort", "build", "demo", "--dry-run", "--data-root", str(data_root))
    assert code == 0 and tree(data_root) == before
    assert "66 generations, 3 combos (3 new)" in out
    assert any(line.split()[:2] == ["draft", "12"] and "free 6, paid 6" in line for line in out.splitlines())
    assert any(line.split()[:2] == ["essay", "18"] and "local 6, paid 12" in line for line in out.splitlines())
    assert any(line.split()[:2] == ["evaluation", "36"] and "paid 36" in line for line in out.splitlines())
    assert f"would write {data_root / 'cohorts' / 'demo' / 'membership.csv'}" in out

    code, out, _ = run(capsys, "cohort", "build", "demo", "--data-root", str(data_root))
    assert code == 0
    assert f"wrote {data_root / 'cohorts' / 'demo' / 'membership.csv'}" in out
    assert f"wrote {data_root / 'cohorts' / 'demo' / 'manifest.json'}" in out
    assert "seeded 66 new metadata.json" in out


def test_cohort_list_status_estimate(ran_demo: tuple[DataLayout, FakeLLM], capsys: Capsys) -> None:
    layout, _ = ran_demo
    root = str(layout.root)
    code, out, _ = run(capsys, "cohort", "list", "--data-root", root)
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    assert code == 0 and rows == {"demo": ["yes", "66", "spec"], "example-full": ["no", "-", "-"]}

    code, out, _ = run(capsys, "cohort", "status", "demo", "--data-root", root)
    assert code == 0
    assert [line.split() for line in out.splitlines()[2:5]] == [
        ["draft", "12", "0", "12", "0", "0"],
        ["essay", "18", "0", "18", "0", "0"],
        ["evaluation", "36", "0", "36", "0", "0"],
    ]
    assert "spent: 60 LLM calls, 6000 prompt + 3000 completion tokens, $" in out

    code, out, _ = run(capsys, "cohort", "estimate", "demo", "--data-root", root)
    assert code == 0 and "60 generation(s) already done" in out and "total: $0.0000" in out


def test_data_root_from_the_environment(
    built_demo: DataLayout, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAYDREAM_DATA_ROOT", str(built_demo.root))
    code, out, _ = run(capsys, "cohort", "list")
    assert code == 0 and out.splitlines()[1].split()[:3] == ["demo", "yes", "66"]


def test_cohort_estimate_before_a_run(built_demo: DataLayout, capsys: Capsys) -> None:
    code, out, _ = run(capsys, "cohort", "estimate", "demo", "--data-root", str(built_demo.root))
    calls = {tuple(line.split()[:2]): int(line.split()[3]) for line in out.splitlines()[2:-1]}
    assert code == 0 and calls == {
        ("draft", "deepseek_r1_f"): 6,
        ("draft", "gemini_25_pro"): 6,
        ("essay", "gemini_25_pro"): 12,
        ("evaluation", "sonnet-4"): 36,
    }


def _break_catalog(root: Path) -> str:
    path = root / "1_raw" / "llm_models.csv"
    path.write_text(path.read_text().replace("reasoning,paid,", "reasoning,premium,", 1))
    return f"{path}, row 4, field 'tier'"


def _break_spec(root: Path) -> str:
    path = root / "cohorts" / "demo" / "spec" / "config.yaml"
    path.write_text(path.read_text().replace("[sonnet-4]", "[sonnet-5]"))
    return str(path)


USER_ERRORS = {
    "bad catalog": (["cohort", "build", "demo"], _break_catalog),
    "bad spec": (["cohort", "build", "demo"], _break_spec),
    "bad spec in compile": (["spec", "compile", "--check", "{root}/cohorts/demo/spec/config.yaml"], _break_spec),
    "missing spec file": (["spec", "compile", "{root}/nope.yaml"], lambda root: f"{root}/nope.yaml"),
    "k_max too large": (["cohort", "build", "demo", "--k-max", "9"], lambda root: "k_max 9 is larger"),
    "unbuilt cohort status": (["cohort", "status", "demo"], lambda root: "daydream cohort build demo"),
    "unknown cohort estimate": (
        ["cohort", "estimate", "demoo"],
        lambda root: f"{root}/cohorts/demoo: cohort 'demoo' not found",
    ),
    "curated unknown id": (
        ["cohort", "build", "picked"],
        lambda root: (
            str(write_csv(root / "cohorts" / "picked" / "spec" / "selected_drafts.txt", "# x\nd_nope")) + ", line 2"
        ),
    ),
    "missing data root": (
        ["cohort", "build", "demo"],
        lambda root: str(Path(root.parent / "elsewhere" / "1_raw" / "concepts_metadata.csv")),
    ),
    "bad argument": (["cohort", "build"], lambda root: "the following arguments are required: cohort_id"),
}


@pytest.mark.parametrize("case", sorted(USER_ERRORS))
def test_user_errors_are_one_line_exit_2(data_root: Path, capsys: Capsys, case: str) -> None:
    argv, prepare = USER_ERRORS[case]
    needle = prepare(data_root)
    root = data_root.parent / "elsewhere" if case == "missing data root" else data_root
    args = [a.format(root=data_root) for a in argv] + ["--data-root", str(root)]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and needle in err, err
    assert "Traceback" not in err + out


def test_console_script(data_root: Path) -> None:
    _break_catalog(data_root)
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "daydream"), "cohort", "build", "demo", "--data-root", str(data_root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("daydream: error: ") and proc.stderr.count("\n") == 1
    assert "row 4, field 'tier'" in proc.stderr and "Traceback" not in proc.stderr
