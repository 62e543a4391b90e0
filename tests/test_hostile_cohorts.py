"""What cohort building refuses: a catalogue, one test per class of careless or hostile input.

Each class is tried through the Python API (a ``DayDreamError`` whose message is one line naming the
file, the row or line, and the field) and through the CLI (exit 2, one line on stderr, no traceback),
with several variations, and nothing is written when the input is refused.

1. ids from data files or arguments that would leave the data root
2. inputs whose size explodes
3. malformed combo settings
4. files that cannot be read or written (wrong kind, no permission)
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from helpers import FakeLLM, member_ids, snapshot, tree, write_csv

from daydream import limits, membership
from daydream.cli import main
from daydream.cohorts import build_cohort, list_cohorts, plan_cohort
from daydream.errors import DayDreamError
from daydream.membership import read_membership
from daydream.paths import DataLayout
from daydream.runner import StageRunner

Cli = Callable[..., tuple[int, str, str]]

BAD_IDS = [
    "../../outside",
    "/etc/passwd",
    "e_ok/../../x",
    "with space",
    "trailing ",
    "zero\u200bwidth",
    "new\nline",
    "x" * 300,
]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``daydream ARGS --data-root ROOT`` in this process: (exit code, stdout, stderr)."""

    def run(root: Path, *argv: str) -> tuple[int, str, str]:
        try:
            code = main([*argv, "--data-root", str(root)])
        except SystemExit as exc:  # argparse's own errors
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def refused(result: tuple[int, str, str], *needles: str) -> str:
    """The CLI refused: exit 2, one line on stderr containing every needle, no traceback."""
    code, out, err = result
    assert code == 2, (code, out, err)
    assert err.count("\n") == 1 and err.startswith("daydream") and ": error: " in err, err
    assert "Traceback" not in out + err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def one_line(excinfo: pytest.ExceptionInfo[BaseException], *needles: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    assert len(message) < 1000, len(message)  # never an unbounded echo of the value
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def _spec(layout: DataLayout, cohort_id: str, text: str) -> Path:
    return write_csv(layout.spec_file(cohort_id), text)


AXES = "axes:\n  draft_template: [links-brainstorm-v2]\n  draft_llm: [gemini_25_pro]\n"


# --- 1. ids that would leave the data root ----------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("no_code", [False, True])
def test_cohort_ids_outside_the_grammar_are_refused_everywhere(
    layout: DataLayout, cli: Cli, bad: str, no_code: bool
) -> None:
    before = tree(layout.root.parent)
    with pytest.raises(DayDreamError) as info:
        build_cohort(layout, bad, no_code=no_code)
    one_line(info, "invalid cohort id", "field 'cohort_id'")
    flags = ["--no-code"] if no_code else []
    refused(cli(layout.root, "cohort", "build", bad, *flags), "invalid cohort id")
    refused(cli(layout.root, "cohort", "build", bad, "--dry-run", *flags), "invalid cohort id")
    assert tree(layout.root.parent) == before


def test_a_directory_that_is_not_a_usable_cohort_is_flagged_not_listed(layout: DataLayout, cli: Cli) -> None:
    for name in ("a b", "tab\tname", "-dash"):
        write_csv(layout.cohorts / name / "spec" / "config.yaml", "axes: {}\n")
    outside = layout.root.parent / "elsewhere"
    write_csv(outside / "spec" / "config.yaml", "axes: {}\n")
    (layout.cohorts / "linked-out").symlink_to(outside, target_is_directory=True)
    assert list_cohorts(layout) == ["demo", "example-full"]
    code, out, err = cli(layout.root, "cohort", "list")
    assert code == 0 and err == ""
    assert out.count("unusable: not a valid cohort id") == 3
    assert "unusable: a link that leaves the data root" in out
    assert "demo " in out and "example-full" in out


@pytest.mark.parametrize("column", ["gen_id", "cohort_id", "parent_gen_id", "combo_id", "template_id", "llm_model_id"])
@pytest.mark.parametrize("bad", ["../../../outside", "/abs/path", "a b", "x\u200b", "y" * 129])
def test_membership_ids_are_checked_column_by_column(built_demo: DataLayout, cli: Cli, column: str, bad: str) -> None:
    path = built_demo.membership("demo")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[1, column] = bad
    frame.to_csv(path, index=False)
    with pytest.raises(DayDreamError) as info:
        read_membership(built_demo, "demo")
    one_line(info, str(path), "row 3", f"field '{column}'")
    refused(cli(built_demo.root, "cohort", "status", "demo"), str(path), "row 3", column)


@pytest.mark.parametrize("field", ["parent_gen_id", "template_id", "llm_model_id", "combo_id"])
def test_two_column_membership_checks_the_ids_its_metadata_gives(built_demo: DataLayout, cli: Cli, field: str) -> None:
    full = read_membership(built_demo, "demo")
    row = full[full["stage"] == ("draft" if field == "combo_id" else "evaluation")].iloc[0]
    meta_path = built_demo.gen_dir(row["stage"], row["gen_id"]) / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, field: "../../../outside"}))
    write_csv(built_demo.membership("demo"), "stage,gen_id\n" + f"{row['stage']},{row['gen_id']}")
    with pytest.raises(DayDreamError) as info:
        read_membership(built_demo, "demo")
    one_line(info, str(meta_path), f"field '{field}'", "invalid")
    refused(cli(built_demo.root, "cohort", "status", "demo"), str(meta_path), field)


def test_a_parent_id_from_metadata_never_becomes_a_path_outside_gens(
    built_demo: DataLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The combo of an evaluation is looked up through its parents: a hostile parent id in a metadata
    file must be refused without ever opening what it points at."""
    full = read_membership(built_demo, "demo")
    row = full[full["stage"] == "evaluation"].iloc[0]
    meta_path = built_demo.gen_dir("evaluation", row["gen_id"]) / "metadata.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "parent_gen_id": "../../../../outside"}))
    outside = built_demo.root.parent / "outside" / "metadata.json"
    write_csv(outside, json.dumps({"stage": "draft", "gen_id": "x", "combo_id": "stolen"}))
    write_csv(built_demo.membership("demo"), f"stage,gen_id\nevaluation,{row['gen_id']}")
    opened: list[str] = []
    real = membership.read_json_file

    def spy(path: str | Path) -> dict | None:
        opened.append(os.path.realpath(path))
        return real(path)

    monkeypatch.setattr(membership, "read_json_file", spy)
    with pytest.raises(DayDreamError, match="parent_gen_id"):
        read_membership(built_demo, "demo")
    gens = os.path.realpath(built_demo.gens) + os.sep
    assert opened and all(p.startswith(gens) for p in opened), opened


@pytest.mark.parametrize("name", ["selected_essays.txt", "selected_drafts.txt"])
@pytest.mark.parametrize("bad", ["../../x", "/etc/passwd", "e_ok e_other", "\u200be_x", "z" * 200])
def test_curated_lists_check_every_line(layout: DataLayout, cli: Cli, name: str, bad: str) -> None:
    path = write_csv(layout.spec_dir("picked") / name, f"# picked by hand\n\n{bad}  # why\n")
    before = tree(layout.root)
    with pytest.raises(DayDreamError) as info:
        build_cohort(layout, "picked")
    one_line(info, str(path), "line 3", "field 'gen_id'", "invalid gen id")
    refused(cli(layout.root, "cohort", "build", "picked"), str(path), "line 3")
    assert tree(layout.root) == before


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("parent_gen_id", "../../../../outside"),
        ("parent_gen_id", "/etc"),
        ("template_id", "../../evaluation/x"),
        ("llm_model_id", "m p"),
    ],
)
def test_curated_cohorts_check_the_ids_their_metadata_gives(
    ran_demo: tuple[DataLayout, FakeLLM], cli: Cli, field: str, bad: str
) -> None:
    layout, _ = ran_demo
    essay = member_ids(layout, "essay", template_id="essay-expand-v3")[0]
    meta_path = layout.gen_dir("essay", essay) / "metadata.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), field: bad}))
    write_csv(layout.spec_dir("picked") / "selected_essays.txt", essay)
    with pytest.raises(DayDreamError) as info:
        build_cohort(layout, "picked")
    one_line(info, str(meta_path), f"field '{field}'")
    refused(cli(layout.root, "cohort", "build", "picked"), str(meta_path), field)
    assert not layout.membership("picked").exists()


@pytest.mark.parametrize(
    ("column", "bad"),
    [("concept_id", "../../../../secret"), ("concept_id", "/etc/passwd"), ("combo_id", "../x"), ("concept_id", "a b")],
)
def test_combo_catalog_ids_never_reach_a_description_path(
    built_demo: DataLayout, cli: Cli, column: str, bad: str
) -> None:
    """A concept id with ``../`` in combo_mappings.csv: the build refuses it naming the row, and a draft
    that uses the combo fails with that one line, sending nothing (least of all a foreign file) to the LLM."""
    layout = built_demo
    secret = layout.root.parent / "secret.txt"
    secret.write_text("THE SECRET")
    lines = layout.combo_mappings.read_text().splitlines()
    cells = lines[2].split(",")
    cells[0 if column == "combo_id" else 2] = bad
    lines[2] = ",".join(cells)
    layout.combo_mappings.write_text("\n".join(lines) + "\n")
    with pytest.raises(DayDreamError) as info:
        build_cohort(layout, "demo", dry_run=True)
    one_line(info, str(layout.combo_mappings), "row 3", f"field '{column}'")
    refused(cli(layout.root, "cohort", "build", "demo"), str(layout.combo_mappings), "row 3")
    llm = FakeLLM()
    draft = member_ids(layout, "draft")[0]
    outcome = StageRunner(layout, llm=llm, cohort_id="demo").run("draft", draft)
    assert outcome.state == "failed" and "combo_mappings.csv" in outcome.message and "\n" not in outcome.message
    assert llm.calls == []
    assert not any("THE SECRET" in p.read_text() for p in layout.gens.rglob("*.txt"))


SYMLINKS_OUT: dict[str, Callable[[DataLayout], Path]] = {
    "cohort directory": lambda lay: lay.cohort_dir("demo"),
    "spec directory": lambda lay: lay.spec_dir("demo"),
    "config.yaml": lambda lay: lay.spec_file("demo"),
    "selected list": lambda lay: lay.spec_dir("demo") / "selected_drafts.txt",
    "membership.csv": lambda lay: lay.membership("demo"),
    "manifest.json": lambda lay: lay.manifest("demo"),
    "combo_mappings.csv": lambda lay: lay.combo_mappings,
    "gens/draft": lambda lay: lay.stage_dir("draft"),
}


@pytest.mark.parametrize("case", sorted(SYMLINKS_OUT))
def test_symlinks_out_of_the_data_root_are_refused(layout: DataLayout, cli: Cli, case: str) -> None:
    """Ids cannot spell a way out; a symlink inside the data root could. Nothing is read or written through it."""
    path = SYMLINKS_OUT[case](layout)
    outside = layout.root.parent / "outside" / path.name
    outside.parent.mkdir(exist_ok=True)
    if path.is_dir():
        shutil.move(path, outside)
    elif path.exists():
        path.replace(outside)
    elif path.suffix:
        outside.write_text("d_x\n" if path.suffix == ".txt" else "")
    else:
        outside.mkdir()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(outside, target_is_directory=outside.is_dir())
    before = snapshot(layout.root.parent)
    with pytest.raises(DayDreamError) as info:
        build_cohort(layout, "demo")
    one_line(info, str(path), "leaves the data root")
    refused(cli(layout.root, "cohort", "build", "demo"), "leaves the data root")
    assert snapshot(layout.root.parent) == before


def test_a_generation_directory_linked_out_of_the_root_is_refused(layout: DataLayout, cli: Cli) -> None:
    draft = plan_cohort(layout, "demo").membership.iloc[0]["gen_id"]
    outside = layout.root.parent / "outside-gen"
    outside.mkdir()
    layout.stage_dir("draft").mkdir(parents=True)
    layout.gen_dir("draft", draft).symlink_to(outside, target_is_directory=True)
    with pytest.raises(DayDreamError) as info:
        build_cohort(layout, "demo")
    one_line(info, draft, "inside the data root")
    refused(cli(layout.root, "cohort", "build", "demo"), draft)
    assert list(outside.iterdir()) == [] and not layout.membership("demo").exists()


# --- 2. inputs whose size explodes -----------------------------------------------------------------


def _many_concepts(layout: DataLayout, n: int) -> list[str]:
    ids = [f"concept-{i:03d}" for i in range(n)]
    write_csv(layout.concepts_csv, "concept_id,name\n" + "\n".join(f"{c},Concept {c}" for c in ids))
    return ids


@pytest.mark.parametrize(
    "how", ["spec k_max", "spec concepts list", "no-code --k-max", "spec with --k-max", "lowered limit"]
)
def test_combinations_that_explode_are_refused_before_any_is_formed(
    layout: DataLayout, cli: Cli, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    concepts = _many_concepts(layout, 77)
    k, n, kwargs, argv = 12, 77, {}, ["cohort", "build", "big"]
    if how == "spec k_max":
        _spec(layout, "big", "combos:\n  k_max: 12\n" + AXES)
    elif how == "spec concepts list":
        _spec(layout, "big", f"combos:\n  k_max: 12\n  concepts: [{', '.join(concepts[:60])}]\n" + AXES)
        n = 60
    elif how == "no-code --k-max":
        kwargs, argv = {"k_max": 12, "no_code": True}, [*argv, "--k-max", "12", "--no-code"]
    elif how == "spec with --k-max":
        _spec(layout, "big", "combos:\n  k_max: 2\n" + AXES)
        kwargs, argv = {"k_max": 12}, [*argv, "--k-max", "12"]
    else:
        monkeypatch.setenv(limits.MAX_COMBOS.env, "1000")
        _spec(layout, "big", "combos:\n  k_max: 3\n" + AXES)
        k = 3
    count, cap = f"{math.comb(n, k):,}", f"{limits.MAX_COMBOS.value:,}"
    before = tree(layout.root)
    start = time.monotonic()
    with pytest.raises(DayDreamError) as info:
        build_cohort(layout, "big", **kwargs)
    assert time.monotonic() - start < 5
    one_line(info, count, cap, limits.MAX_COMBOS.env, "k_max")
    refused(cli(layout.root, *argv), count, cap)
    assert tree(layout.root) == before


@pytest.mark.parametrize("source", ["spec", "no-code", "curated"])
def test_plans_larger_than_the_limit_are_refused_with_the_count(
    ran_demo: tuple[DataLayout, FakeLLM], cli: Cli, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    layout, _ = ran_demo
    monkeypatch.setenv(limits.MAX_PLAN_ROWS.env, "10")
    cohort_id, kwargs = "demo", {}
    if source == "no-code":
        cohort_id, kwargs = "everything", {"no_code": True}
    elif source == "curated":
        cohort_id = "picked"
        write_csv(layout.spec_dir("picked") / "selected_drafts.txt", "\n".join(member_ids(layout, "draft")[:4]))
    with pytest.raises(DayDreamError) as info:
        plan_cohort(layout, cohort_id, **kwargs)
    one_line(info, "over the limit of 10 rows", limits.MAX_PLAN_ROWS.env)
    flags = ["--no-code"] if source == "no-code" else []
    refused(cli(layout.root, "cohort", "build", cohort_id, *flags), "over the limit of 10 rows")


# --- 3. malformed combo settings --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "field", "needle"),
    [
        ("k_max: 2.7", "combos.k_max", "2.7"),
        ("k_max: '3'", "combos.k_max", "'3'"),
        ("k_max: true", "combos.k_max", "True"),
        ("k_max: 0", "combos.k_max", "greater than or equal to 1"),
        ("k_max: -2", "combos.k_max", "greater than or equal to 1"),
        ("k_max: [2]", "combos.k_max", "[2]"),
        ("description_level: huge", "combos.description_level", "'huge'"),
        ("description_level: 3", "combos.description_level", "3"),
        ("level: paragraph\n  description_level: sentence", "combos.level", "once"),
        ("concepts: default-mode-network", "combos.concepts", "list"),
        ("concepts: [1, 2]", "combos.concepts", "string"),
        ("concepts: [nope-1, ../x]", "combos.concepts", "nope-1"),
        ("kmax: 2", "combos", "kmax"),
    ],
)
def test_malformed_combo_settings_name_the_field(
    layout: DataLayout, cli: Cli, section: str, field: str, needle: str
) -> None:
    spec = _spec(layout, "bad", f"combos:\n  {section}\n" + AXES)
    before = tree(layout.root)
    with pytest.raises(DayDreamError) as info:
        build_cohort(layout, "bad")
    one_line(info, str(spec), f"field '{field}", needle)  # 'combos.concepts.0' names the item
    refused(cli(layout.root, "cohort", "build", "bad"), str(spec), field)
    refused(cli(layout.root, "spec", "compile", str(spec)), field)
    assert tree(layout.root) == before


@pytest.mark.parametrize(("value", "needle"), [("0", "--k-max"), ("-3", "--k-max"), ("2.7", "invalid int value")])
def test_malformed_k_max_flag(layout: DataLayout, cli: Cli, value: str, needle: str) -> None:
    refused(cli(layout.root, "cohort", "build", "demo", f"--k-max={value}"), needle)
    if "." not in value:
        with pytest.raises(DayDreamError, match="--k-max"):
            build_cohort(layout, "demo", k_max=int(value))


def test_combos_must_be_a_mapping(layout: DataLayout, cli: Cli) -> None:
    spec = _spec(layout, "bad", "combos: [2, 3]\n" + AXES)
    with pytest.raises(DayDreamError) as info:
        build_cohort(layout, "bad")
    one_line(info, str(spec), "field 'combos'", "mapping")
    refused(cli(layout.root, "cohort", "build", "bad"), "field 'combos'")


# --- 4. files that cannot be read or written ---------------------------------------------------------


def _file_where_a_directory_belongs(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a directory\n")


WRONG_KINDS: dict[str, tuple[Callable[[DataLayout], Path], str]] = {
    "cohort dir is a file": (lambda lay: lay.cohort_dir("fresh"), "file"),
    "spec dir is a file": (lambda lay: lay.spec_dir("demo"), "file"),
    "config.yaml is a directory": (lambda lay: lay.spec_file("demo"), "dir"),
    "membership.csv is a directory": (lambda lay: lay.membership("demo"), "dir"),
    "manifest.json is a directory": (lambda lay: lay.manifest("demo"), "dir"),
    "gens is a file": (lambda lay: lay.gens, "file"),
    "gens/draft is a file": (lambda lay: lay.stage_dir("draft"), "file"),
    "combo_mappings.csv is a directory": (lambda lay: lay.combo_mappings, "dir"),
    "selected list is a directory": (lambda lay: lay.spec_dir("demo") / "selected_essays.txt", "dir"),
}


@pytest.mark.parametrize("case", sorted(WRONG_KINDS))
def test_a_file_where_a_directory_belongs_and_the_reverse(layout: DataLayout, cli: Cli, case: str) -> None:
    where, kind = WRONG_KINDS[case]
    path = where(layout)
    if kind == "file":
        _file_where_a_directory_belongs(path)
    else:
        if path.exists():
            path.unlink()
        (path / "inside").mkdir(parents=True)
    cohort_id = "fresh" if "cohort dir" in case else "demo"
    before = snapshot(layout.root)
    with pytest.raises(DayDreamError) as info:
        build_cohort(layout, cohort_id, no_code=cohort_id == "fresh")
    one_line(info, str(path))
    refused(cli(layout.root, "cohort", "build", cohort_id, "--no-code"), str(path))
    assert snapshot(layout.root) == before


def test_a_generation_path_that_is_a_file_is_one_line(layout: DataLayout, cli: Cli) -> None:
    draft = plan_cohort(layout, "demo").membership.iloc[0]["gen_id"]
    _file_where_a_directory_belongs(layout.gen_dir("draft", draft))
    with pytest.raises(DayDreamError) as info:
        build_cohort(layout, "demo")
    one_line(info, draft)
    refused(cli(layout.root, "cohort", "build", "demo"), draft)
    assert not layout.membership("demo").exists()


def test_cohort_list_flags_a_broken_cohort_in_its_row(built_demo: DataLayout, cli: Cli) -> None:
    layout = built_demo
    write_csv(layout.spec_file("broken-manifest"), AXES)
    layout.manifest("broken-manifest").write_text("[1, 2")
    write_csv(layout.spec_file("dir-membership"), AXES)
    (layout.membership("dir-membership") / "x").mkdir(parents=True)
    write_csv(layout.spec_file("bad-counts"), AXES)
    layout.manifest("bad-counts").write_text(json.dumps({"counts": {"draft": "many"}}))
    code, out, err = cli(layout.root, "cohort", "list")
    assert code == 0 and err == "" and "Traceback" not in out
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "unreadable JSON" in rows["broken-manifest"]
    assert "is a directory" in rows["dir-membership"]
    assert "counts" in rows["bad-counts"]
    assert rows["demo"].split()[1:3] == ["yes", "66"]
    cohorts_file = layout.root / "elsewhere"
    cohorts_file.mkdir()
    (cohorts_file / "cohorts").write_text("")
    refused(cli(cohorts_file, "cohort", "list"), "cohorts", "is not a directory")


# Permission denied: tests run as root, which reads and writes anything, so these run the CLI in a
# process without the capabilities that bypass file permissions.
def _without_override(root: Path, *argv: str) -> tuple[int, str, str]:
    capsh = shutil.which("capsh")
    command = [sys.executable, "-m", "daydream", *argv, "--data-root", str(root)]
    if os.geteuid() == 0:
        assert capsh, "capsh (libcap2-bin) is needed to test permissions as root"
        command = [
            capsh,
            "--drop=cap_dac_override,cap_dac_read_search,cap_fowner",
            "--",
            "-c",
            'exec "$@"',
            "_",
        ] + command
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


PERMISSIONS: dict[str, tuple[Callable[[DataLayout], Path], int, tuple[str, ...]]] = {
    "cohort dir read-only": (lambda lay: lay.cohort_dir("demo"), 0o555, ("cohort", "build", "demo")),
    "combo catalog unreadable": (lambda lay: lay.combo_mappings, 0o000, ("cohort", "build", "demo")),
    "data root read-only (new combos)": (lambda lay: lay.root, 0o555, ("cohort", "build", "demo")),
    "spec unreadable": (lambda lay: lay.spec_file("demo"), 0o000, ("cohort", "build", "demo")),
    "gens read-only": (lambda lay: lay.gens, 0o555, ("cohort", "build", "demo")),
    "concepts catalog unreadable": (lambda lay: lay.concepts_csv, 0o000, ("cohort", "build", "demo")),
    "selected list unreadable": (
        lambda lay: write_csv(lay.spec_dir("demo") / "selected_drafts.txt", "d_x"),
        0o000,
        ("cohort", "build", "demo"),
    ),
    "membership unreadable (status)": (lambda lay: lay.membership("demo"), 0o000, ("cohort", "status", "demo")),
    "cohorts dir unreadable (list)": (lambda lay: lay.cohorts, 0o000, ("cohort", "list")),
}


@pytest.mark.parametrize("case", sorted(PERMISSIONS))
def test_permission_denied_is_one_line(layout: DataLayout, case: str) -> None:
    where, mode, argv = PERMISSIONS[case]
    if "status" in case:
        build_cohort(layout, "demo")
    if "combo catalog" in case:
        layout.combo_mappings.write_text("combo_id,concept_id\n")
    (layout.gens).mkdir(exist_ok=True)
    path = where(layout)
    before = tree(layout.root)
    os.chmod(path, mode)
    try:
        code, out, err = _without_override(layout.root, *argv)
    finally:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    assert code == 2, (code, out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "ermission denied" in err and str(path) in err, err
    assert tree(layout.root) == before


def test_an_unreadable_cohort_is_flagged_by_list_and_left_out_elsewhere(built_demo: DataLayout) -> None:
    layout = built_demo
    write_csv(layout.spec_file("locked"), AXES)
    os.chmod(layout.cohort_dir("locked"), 0o000)
    try:
        code, out, err = _without_override(layout.root, "cohort", "list")
    finally:
        os.chmod(layout.cohort_dir("locked"), 0o755)
    assert code == 0 and "Traceback" not in err, err
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "Permission denied" in rows["locked"] and rows["demo"].split()[1:3] == ["yes", "66"]
