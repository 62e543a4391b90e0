"""``daydream score parse``: a JSON line per file; exit 0/1 for parse results, 2 for user errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from daydream.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "judge_outputs"


@pytest.fixture()
def judged(tmp_path: Path) -> dict[str, Path]:
    files = {
        "good": "Solid essay.\n**Total Score: 6.5/10**\n",
        "bare": "SCORE: 7\n",
        "none": "A fine essay without a number.\n",
    }
    for name, text in files.items():
        (tmp_path / f"{name}.txt").write_text(text)
    return {name: tmp_path / f"{name}.txt" for name in files}


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_all_parsed_exits_0(judged: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["score", "parse", "--parser", "complex", str(judged["good"]), str(judged["bare"])])
    assert code == 0
    assert lines(capsys.readouterr().out) == [
        {"file": str(judged["good"]), "score": 6.5, "scale": 10.0, "error": None},
        {"file": str(judged["bare"]), "score": 7.0, "scale": None, "error": None},
    ]


def test_a_parse_failure_is_a_line_and_exits_1(judged: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["score", "parse", "--parser", "complex", str(judged["none"]), str(judged["good"])])
    assert code == 1
    first, second = lines(capsys.readouterr().out)
    assert first["file"] == str(judged["none"]) and first["score"] is None
    assert first["error"].startswith("complex: no final verdict")
    assert second["score"] == 6.5


def test_data_root_is_accepted(judged: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["score", "parse", "--parser", "in_last_line", "--data-root", str(tmp_path), str(judged["bare"])])
    assert code == 0
    assert lines(capsys.readouterr().out)[0]["score"] == 7.0


def test_unknown_parser_is_a_user_error(judged: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "parse", "--parser", "essay_block", str(judged["good"])]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("daydream: error: unknown evaluation parser 'essay_block' (known: in_last_line, complex)\n")


def test_missing_file_is_a_user_error_before_any_output(
    judged: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.txt"
    assert main(["score", "parse", "--parser", "complex", str(judged["good"]), str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"daydream: error: {missing}: no such file\n"


def test_a_directory_is_not_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "parse", "--parser", "complex", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"daydream: error: {tmp_path}: not a file\n"


def test_parser_option_is_required(judged: dict[str, Path]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["score", "parse", str(judged["good"])])
    assert info.value.code == 2


def test_installed_command_over_the_fixtures() -> None:
    script = Path(sys.executable).parent / "daydream"
    files = sorted(str(p) for p in FIXTURES.glob("*.txt") if p.name.startswith("in_last_line"))
    done = subprocess.run(
        [str(script), "score", "parse", "--parser", "in_last_line", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    expected = json.loads((FIXTURES / "expected.json").read_text())
    results = lines(done.stdout)
    assert [r["file"] for r in results] == files
    for result in results:
        want = expected[Path(result["file"]).name]
        assert (result["error"] is not None) == want["error"]
        assert result["score"] == want["score"]
    assert done.returncode == 1 and done.stderr == ""
