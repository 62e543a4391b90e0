"""What the store, the runner and the parsers refuse: a catalogue, one test per class of input.

Classes: a forced rerun never destroys a good result; malformed store entries; permission denied
(with the capability to bypass permissions dropped, since tests run as root); unbounded inputs;
concurrent writers of a shared file. Through the API and, where a user meets it, the CLI: exit 2
(or the command's own exit code) with one line on stderr and never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import FakeLLM, member_ids, snapshot

from daydream.attempts import Attempts
from daydream.cli import main
from daydream.errors import LLMError, ParseError, TemplateError
from daydream.llm.types import LLMResult, Usage
from daydream.parsers import parse_evaluation
from daydream.paths import DataLayout
from daydream.rendering import render_text
from daydream.runner import CallPlan, RunOptions, StageRunner
from daydream.spend import SpendLedger
from daydream.status import cohort_status
from daydream.store import GensStore, GenState
from daydream.storecheck import check_store

OUTPUTS = ("parsed.txt", "parsed_metadata.json", "raw.txt", "raw_metadata.json", "prompt.txt")


def _runner(layout: DataLayout, llm: FakeLLM | None, **options: object) -> StageRunner:
    return StageRunner(layout, llm=llm, options=RunOptions(**options), cohort_id="demo")


def _files(layout: DataLayout, stage: str, gen_id: str) -> dict[str, bytes]:
    gen_dir = layout.gen_dir(stage, gen_id)  # type: ignore[arg-type]
    return {name: (gen_dir / name).read_bytes() for name in OUTPUTS if (gen_dir / name).exists()}


def _one_line(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


class FailingLLM(FakeLLM):
    def complete(self, **kwargs: object) -> LLMResult:  # type: ignore[override]
        self.calls.append(dict(kwargs))
        raise LLMError("provider said 503 after 5 attempts")


# --- a forced rerun never destroys a good result -----------------------------------------------

GOOD = "one\ntwo\nthree"
BAD_DRAFTS = {
    "empty": LLMResult(text="  \n", finish_reason="stop"),
    "truncated": LLMResult(text=GOOD, finish_reason="length"),
    "max-tokens-reached": LLMResult(text=GOOD, finish_reason="stop", usage=Usage(completion_tokens=8192)),
    "too-short": LLMResult(text="only\n\ntwo lines", finish_reason="stop"),
    "unparseable-block": LLMResult(text="no tags\nat all\nanywhere", finish_reason="stop"),
}


@pytest.mark.parametrize("case", sorted(BAD_DRAFTS))
def test_force_with_a_failing_answer_keeps_the_output_and_files_the_attempt(
    ran_demo: tuple[DataLayout, FakeLLM], case: str
) -> None:
    layout, _ = ran_demo
    template = "creative-synthesis-v10" if case == "unparseable-block" else "links-brainstorm-v2"
    gen_id = member_ids(layout, "draft", template_id=template)[0]
    before = _files(layout, "draft", gen_id)
    done_before = cohort_status(layout, "demo").stages["draft"].done
    llm = FakeLLM({"DRAFT TASK": BAD_DRAFTS[case]})

    outcome = _runner(layout, llm, force=True).run("draft", gen_id)

    assert (outcome.state, len(llm.calls), outcome.attempt) == ("failed", 1, 1)
    assert "the previous output is kept; this answer is in attempts/1" in outcome.message
    assert _files(layout, "draft", gen_id) == before  # every top-level file, byte for byte
    assert not (layout.gen_dir("draft", gen_id) / "error.json").exists()
    attempt = layout.gen_dir("draft", gen_id) / "attempts" / "1"
    assert (attempt / "raw.txt").read_text() == BAD_DRAFTS[case].text  # saved before it was judged
    assert json.loads((attempt / "attempt.json").read_text())["status"] == "failed"
    assert json.loads((attempt / "parsed_metadata.json").read_text())["success"] is False
    assert {"prompt.txt", "raw_metadata.json", "error.json"} <= {p.name for p in attempt.iterdir()}
    assert GensStore(layout).state("draft", gen_id) == GenState.DONE
    assert cohort_status(layout, "demo").stages["draft"].done == done_before
    report = check_store(layout)
    assert report.healthy and [(a.kind, a.gen_id) for a in report.attempts] == [("failed", gen_id)]


def test_force_whose_call_fails_or_cannot_render_keeps_the_output(ran_demo: tuple[DataLayout, FakeLLM]) -> None:
    layout, _ = ran_demo
    gen_id = member_ids(layout, "evaluation", template_id="novelty-rubric-v2")[0]
    before = _files(layout, "evaluation", gen_id)
    outcome = _runner(layout, FailingLLM(), force=True).run("evaluation", gen_id)
    assert outcome.state == "failed" and "503" in outcome.message and "attempts/1" in outcome.message
    assert _files(layout, "evaluation", gen_id) == before
    attempt = Attempts(GensStore(layout), "evaluation", gen_id)
    assert [(r.attempt, r.status) for r in attempt.records()] == [(1, "failed")]
    assert {p.name for p in (attempt.root / "1").iterdir()} == {"prompt.txt", "error.json", "attempt.json"}

    template = layout.template_file("evaluation", "novelty-rubric-v2")
    template.write_text("EVALUATION TASK\n{{ respnse }}\n")
    llm = FakeLLM()
    outcome = _runner(layout, llm, force=True).run("evaluation", gen_id)
    assert outcome.state == "failed" and "nothing was sent; the previous output is kept" in outcome.message
    assert llm.calls == [] and _files(layout, "evaluation", gen_id) == before
    assert not (layout.gen_dir("evaluation", gen_id) / "error.json").exists()


def test_force_with_a_passing_answer_archives_the_old_one(ran_demo: tuple[DataLayout, FakeLLM]) -> None:
    layout, _ = ran_demo
    gen_id = member_ids(layout, "evaluation", template_id="free-verdict-v1")[0]
    old = _files(layout, "evaluation", gen_id)
    _runner(layout, FakeLLM({"EVALUATION TASK": "no verdict here"}), force=True).run("evaluation", gen_id)
    outcome = _runner(layout, FakeLLM({"EVALUATION TASK": "Fine.\nFinal Score: 9/10"}), force=True).run(
        "evaluation", gen_id
    )
    assert (outcome.state, outcome.attempt) == ("done", None)
    store = GensStore(layout)
    assert store.parsed_text("evaluation", gen_id) == "9.0\n"
    archived = layout.gen_dir("evaluation", gen_id) / "attempts" / "2"
    assert {name: (archived / name).read_bytes() for name in old} == old  # both answers kept
    assert [r.status for r in Attempts(store, "evaluation", gen_id).records()] == ["failed", "superseded"]
    assert not (layout.gen_dir("evaluation", gen_id) / "attempts" / "incoming").exists()


def test_the_step_api_and_a_rerun_interrupted_after_the_answer(ran_demo: tuple[DataLayout, FakeLLM]) -> None:
    layout, _ = ran_demo
    gen_id = member_ids(layout, "draft", template_id="links-brainstorm-v2")[0]
    before = _files(layout, "draft", gen_id)
    runner = _runner(layout, None, force=True)
    with runner.generation_lock("draft", gen_id) as acquired:  # what an async caller does around its call
        assert acquired
        plan = runner.prepare("draft", gen_id)
        assert isinstance(plan, CallPlan) and plan.protecting and plan.answer_dir.name == "incoming"
        assert set(plan.request()) == {"model", "prompt", "max_tokens", "temperature"}
        runner.record_answer(plan, LLMResult(text="paid for\nbut never\njudged", finish_reason="stop"))
    # the worker died here: the answer is kept, the output untouched, and store check says so
    assert _files(layout, "draft", gen_id) == before
    assert ("interrupted_attempt", gen_id) in {(i.kind, i.gen_id) for i in check_store(layout).issues}
    assert cohort_status(layout, "demo").stages["draft"].done == 12

    outcome = _runner(layout, FakeLLM({"DRAFT TASK": GOOD}), force=True).run("draft", gen_id)
    assert outcome.state == "done"
    records = Attempts(GensStore(layout), "draft", gen_id).records()
    assert [(r.attempt, r.status) for r in records] == [(1, "interrupted"), (2, "superseded")]
    assert (Path(records[0].path) / "raw.txt").read_text() == "paid for\nbut never\njudged"
    assert check_store(layout).healthy


# --- malformed store entries -------------------------------------------------------------------


def test_gens_that_is_a_file(ran_demo: tuple[DataLayout, FakeLLM], capsys: pytest.CaptureFixture[str]) -> None:
    layout, _ = ran_demo
    shutil.rmtree(layout.gens)
    layout.gens.write_text("not a directory")
    assert main(["store", "check", "--data-root", str(layout.root)]) == 1
    out = capsys.readouterr().out
    assert "is not a directory: the store could not be checked" in out and "no problems found" not in out
    assert main(["cohort", "status", "demo", "--data-root", str(layout.root)]) == 0
    out = capsys.readouterr().out
    assert "broken" in out and "'daydream store check' names each" in out
    outcome = _runner(layout, FakeLLM()).run("draft", member_ids(layout, "draft")[0])
    assert outcome.state == "failed" and "\n" not in outcome.message


@pytest.mark.parametrize("damage", ["gen-dir-is-a-file", "metadata-is-a-dir", "bad-parent-id", "corrupt-raw-meta"])
def test_one_damaged_generation_is_flagged_and_nothing_else_changes(
    ran_demo: tuple[DataLayout, FakeLLM], capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    layout, _ = ran_demo
    stage = "draft" if damage in ("gen-dir-is-a-file", "corrupt-raw-meta") else "essay"
    gen_id = member_ids(layout, stage, template_id="essay-expand-v3" if stage == "essay" else "links-brainstorm-v2")[0]
    gen_dir = layout.gen_dir(stage, gen_id)  # type: ignore[arg-type]
    if damage == "gen-dir-is-a-file":
        shutil.rmtree(gen_dir)
        gen_dir.write_text("oops")
        assert main(["cohort", "build", "demo", "--data-root", str(layout.root)]) == 2
        _one_line(capsys, str(gen_dir), "is a file where a generation directory belongs")
    elif damage == "metadata-is-a-dir":
        (gen_dir / "metadata.json").unlink()
        (gen_dir / "metadata.json").mkdir()
    elif damage == "bad-parent-id":
        meta = json.loads((gen_dir / "metadata.json").read_text())
        (gen_dir / "metadata.json").write_text(json.dumps({**meta, "parent_gen_id": "../../../etc"}))
    else:
        (gen_dir / "raw_metadata.json").write_text('{"cut": ')

    status = cohort_status(layout, "demo").stages[stage]
    broken = 1 if damage in ("gen-dir-is-a-file", "corrupt-raw-meta") else 0
    assert (status.broken, status.done) == (broken, status.total - broken)
    issues = {(i.kind, i.gen_id) for i in check_store(layout).issues}
    expected_kind = {
        "gen-dir-is-a-file": ("outside_layout", "-"),
        "metadata-is-a-dir": ("unreadable_metadata", gen_id),
        "bad-parent-id": ("unreadable_metadata", gen_id),
        "corrupt-raw-meta": ("unreadable_metadata", gen_id),
    }[damage]
    assert expected_kind in issues
    assert main(["store", "check", "--data-root", str(layout.root)]) == 1
    assert "Traceback" not in capsys.readouterr().err
    outcome = _runner(layout, FakeLLM(), force=True).run(stage, gen_id)  # type: ignore[arg-type]
    if damage != "corrupt-raw-meta":
        assert outcome.state == "failed" and "\n" not in outcome.message and outcome.called_llm is False


def test_symlinks_and_foreign_names_in_the_store_are_reported_never_followed(
    ran_demo: tuple[DataLayout, FakeLLM], tmp_path: Path
) -> None:
    layout, _ = ran_demo
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    gen_id = member_ids(layout, "draft")[0]
    real = layout.gen_dir("draft", gen_id)
    shutil.move(real, outside / gen_id)
    real.symlink_to(outside / gen_id)  # a member whose directory now points out of the data root
    (layout.gens / "essay" / "not an id").mkdir()
    (layout.gens / "evaluation" / "v_alias").symlink_to(
        layout.gen_dir("evaluation", member_ids(layout, "evaluation")[0])
    )
    outside_before = snapshot(outside)

    issues = [(i.kind, i.detail) for i in check_store(layout).issues if i.kind == "invalid_entry"]
    assert len(issues) == 3 and all("symlink" in d or "not a valid gen id" in d for _, d in issues)
    outcome = _runner(layout, FakeLLM(), force=True).run("draft", gen_id)
    assert outcome.state == "failed" and "leaves the data root" in outcome.message
    assert snapshot(outside) == outside_before  # nothing read through it was sent, nothing written there


# --- permission denied (root without CAP_DAC_OVERRIDE) -----------------------------------------


def _cli_without_override(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("capsh") is None:
        pytest.fail("capsh (libcap2-bin) is needed to drop CAP_DAC_OVERRIDE")
    command = [sys.executable, "-m", "daydream", *args, "--data-root", str(root)]
    drop = ["capsh", "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", 'exec "$0" "$@"']
    return subprocess.run([*drop, *command], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "target, args, code, needle",
    [
        ("metadata", ["store", "check"], 1, "permission denied"),
        ("stage-dir", ["store", "check"], 1, "cannot list"),
        ("raw-metadata", ["cohort", "status", "demo"], 0, "broken"),
        ("ledger", ["cohort", "status", "demo"], 0, "spent: unknown"),
        ("raw", ["score", "parse", "--parser", "complex"], 2, "Permission denied"),
        ("combos", ["store", "check"], 1, "bad_catalog"),
        ("gens", ["store", "check"], 1, "the store was not checked"),
    ],
)
def test_permission_denied_is_one_line(
    ran_demo: tuple[DataLayout, FakeLLM], target: str, args: list[str], code: int, needle: str
) -> None:
    layout, _ = ran_demo
    draft = member_ids(layout, "draft")[0]
    evaluation = member_ids(layout, "evaluation", template_id="free-verdict-v1")[0]
    path = {
        "metadata": layout.gen_dir("draft", draft) / "metadata.json",
        "stage-dir": layout.gens / "essay",
        "raw-metadata": layout.gen_dir("draft", draft) / "raw_metadata.json",
        "ledger": SpendLedger(layout, "demo").path,
        "raw": layout.gen_dir("evaluation", evaluation) / "raw.txt",
        "combos": layout.combo_mappings,
        "gens": layout.gens,
    }[target]
    if target == "raw":
        args = [*args, str(path)]
    path.chmod(0)
    try:
        result = _cli_without_override(layout.root, *args)
    finally:
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and needle in result.stdout + result.stderr
    assert result.stderr.count("\n") <= 1


# --- unbounded inputs --------------------------------------------------------------------------


def test_parsers_are_linear_and_capped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # each of these took minutes (quadratic rescans) before: a 1 MB line now parses as text does
    assert parse_evaluation("complex", "score " * 170_000 + "\nSCORE: 7").score == 7.0
    assert parse_evaluation("complex", "SCORE (" * 150_000 + "\nFinal Score: 6/10").score == 6.0
    assert parse_evaluation("complex", "a score of " * 90_000 + "\nVerdict: 8/10").score == 8.0
    monkeypatch.setenv("DAYDREAM_MAX_JUDGE_OUTPUT_CHARS", "1000")
    with pytest.raises(ParseError) as info:
        parse_evaluation("complex", "x" * 1001 + "\nSCORE: 7")
    assert "DAYDREAM_MAX_JUDGE_OUTPUT_CHARS" in str(info.value) and "\n" not in str(info.value)
    big = tmp_path / "raw.txt"
    big.write_text("y" * 50_000 + "\nSCORE: 7")
    assert main(["score", "parse", "--parser", "complex", str(big)]) == 1  # reported, not read whole


TEMPLATE_BOMBS = {
    "string-times-huge": "{{ 'x' * 10**10 }}",
    "power-tower": "{{ 2 ** 100000 }}",
    "nested-parens": "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
    "nested-ifs": "{% if true %}" * 3000 + "x" + "{% endif %}" * 3000,
    "loops-that-print-nothing": "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
    "endless-output": "{% for a in range(100000) %}{% for b in range(9) %}{{ 'y' * 99 }}{% endfor %}{% endfor %}",
    "float-overflow": "{{ (10 ** 400) | float }}",
    "recursive-macro": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
}


@pytest.mark.parametrize("case", sorted(TEMPLATE_BOMBS))
def test_template_bombs_are_one_line_template_errors(
    built_demo: DataLayout, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    layout = built_demo
    with pytest.raises(TemplateError) as info:
        render_text("line one\n" + TEMPLATE_BOMBS[case], {"concepts": []}, path=Path("t.txt"))
    assert "\n" not in str(info.value) and str(info.value).startswith("t.txt")
    path = layout.template_file("draft", "links-brainstorm-v2")
    path.write_text("DRAFT TASK\n" + TEMPLATE_BOMBS[case] + "\n")
    before = snapshot(layout.root / "cohorts")
    assert main(["cohort", "build", "demo", "--data-root", str(layout.root)]) == 2  # the trial render
    _one_line(capsys, str(path))
    assert snapshot(layout.root / "cohorts") == before


def test_prompt_over_its_limit_is_refused_before_the_call(
    built_demo: DataLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = built_demo
    monkeypatch.setenv("DAYDREAM_MAX_PROMPT_CHARS", "200")
    llm = FakeLLM()
    gen_id = member_ids(layout, "draft")[0]
    outcome = _runner(layout, llm).run("draft", gen_id)
    assert outcome.state == "failed" and "DAYDREAM_MAX_PROMPT_CHARS" in outcome.message and "\n" not in outcome.message
    assert llm.calls == [] and not (layout.gen_dir("draft", gen_id) / "prompt.txt").exists()


# --- concurrent writers of a shared file ---------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys
    from daydream.paths import DataLayout
    from daydream.spend import SpendLedger
    root, worker, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ledger = SpendLedger(DataLayout(__import__("pathlib").Path(root)), "demo")
    for i in range(count):
        ledger.record(stage="draft", gen_id=f"d_w{worker}n{i}", llm_model_id="m" * (i % 300),
                      cost_usd=0.001, estimated=False, usage={"prompt_tokens": i, "completion_tokens": 1})
    """
)


def test_spend_ledger_under_many_processes_loses_no_line(tmp_path: Path) -> None:
    workers, count = 8, 250
    (tmp_path / "cohorts" / "demo").mkdir(parents=True)
    ledger = SpendLedger(DataLayout(tmp_path), "demo")
    ledger.path.parent.mkdir(parents=True)
    ledger.path.write_text('{"a torn line from a crash', encoding="utf-8")  # no newline: the next append starts fresh
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), str(w), str(count)], env=env)
        for w in range(workers)
    ]
    assert [p.wait(timeout=600) for p in procs] == [0] * workers
    lines = ledger.path.read_text().splitlines()
    assert lines[0] == '{"a torn line from a crash'
    entries = [json.loads(line) for line in lines[1:]]  # every other line parses
    assert sorted(e["gen_id"] for e in entries) == sorted(f"d_w{w}n{i}" for w in range(workers) for i in range(count))
    assert ledger.totals()["calls"] == workers * count


def test_an_answer_whose_metadata_cannot_be_written_is_kept_and_paid_for(built_demo: DataLayout) -> None:
    layout = built_demo
    gen_id = member_ids(layout, "draft", template_id="links-brainstorm-v2")[0]
    (layout.gen_dir("draft", gen_id) / "raw_metadata.json").mkdir()  # in the way of the atomic rename
    llm = FakeLLM(cost_usd=0.5)
    outcome = _runner(layout, llm).run("draft", gen_id)
    assert (outcome.state, outcome.called_llm, len(llm.calls)) == ("failed", True, 1)
    assert "the answer could not be saved" in outcome.message and "raw_metadata.json" in outcome.message
    assert "\n" not in outcome.message
    assert (layout.gen_dir("draft", gen_id) / "raw.txt").read_text() == FakeLLM().complete(
        model="m", prompt="DRAFT TASK", max_tokens=1, temperature=0
    ).text  # raw.txt first: the answer itself is kept
    assert SpendLedger(layout, "demo").totals()["cost_usd"] == 0.5  # and the money is on the books
