"""What the spec DSL refuses: a catalogue, one test per class of careless or hostile input.

Each class is tried with several variations, through the Python API (``compile_spec`` raises one
``SpecError`` line naming the spec file) and through the CLI (``daydream spec compile`` exits 2
with one line on stderr and no traceback). The classes:

1. ``@file`` paths that leave the spec's directory (absolute, ``..``, symlinks): refused before
   the file is opened, so no message echoes a line of it.
2. ``@file`` paths and spec paths that are not regular files (directories, FIFOs, devices).
3. Size explosions (replicate counts, products of axes): refused before allocation, with the count
   and the limit.
4. YAML alias bombs, recursive aliases and deep nesting: refused from the event stream, before
   any object is built.
5. Files over ``MAX_SPEC_BYTES``: refused before they are read.
6. Malformed values: replicate numbers, ids, booleans.
7. Unbounded values in messages: every quoted value is cut.
8. ``spec compile --out`` that cannot be written.
"""

from __future__ import annotations

import os
import subprocess
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest
from helpers import REPO

from daydream.cli import main
from daydream.errors import MAX_MESSAGE, SpecError
from daydream.limits import MAX_PLAN_ROWS, MAX_SPEC_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES
from daydream.spec import compile_spec

Capsys = pytest.CaptureFixture[str]
SECRET = "SECRET-LINE-do-not-print"
DAYDREAM = str(REPO / ".venv" / "bin" / "daydream")


@pytest.fixture(autouse=True)
def no_data_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """``spec compile`` runs as a researcher previewing a design: no data root anywhere."""
    monkeypatch.delenv("DAYDREAM_DATA_ROOT", raising=False)


def write_spec(directory: Path, text: str, name: str = "config.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def refused(capsys: Capsys, spec: Path, *needles: str, forbidden: tuple[str, ...] = (), **api: object) -> str:
    """The spec is refused by the API and by the CLI with the same one line; returns the message."""
    with pytest.raises(SpecError) as info:
        compile_spec(spec, **api)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message and len(message) <= MAX_MESSAGE
    assert message.startswith(str(spec)), message
    for needle in needles:
        assert needle in message, (needle, message)
    for word in forbidden:
        assert word not in message, (word, message)
    cli_refused(capsys, ["spec", "compile", str(spec)], message, forbidden=forbidden)
    return message


def cli_refused(capsys: Capsys, argv: list[str], *needles: str, forbidden: tuple[str, ...] = ()) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert out == "" and err.startswith("daydream: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
    for word in forbidden:
        assert word not in err, (word, err)
    return err


def peak_memory(action: Callable[[], object]) -> int:
    """Peak bytes Python allocated while ``action`` ran (it is expected to raise SpecError)."""
    tracemalloc.start()
    try:
        with pytest.raises(SpecError):
            action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------------------------------------
# 1. @file paths that leave the spec's directory


POSITIONS = {
    "axis": 'axes:\n  draft_llm: "{ref}"\n',
    "subsets": 'axes:\n  draft_llm: [a]\nrules:\n  subsets:\n    draft_llm: "{ref}"\n',
    "tuples": 'rules:\n  tuples:\n    t:\n      axes: [draft_llm, essay_llm]\n      items: "{ref}"\n',
    "pairs": "axes:\n  draft_llm: [a]\n  essay_llm: [b]\n"
    'rules:\n  pairs:\n    p: {{left: draft_llm, right: essay_llm, allowed: "{ref}"}}\n',
}


@pytest.fixture
def escape_tree(tmp_path: Path) -> Path:
    """A spec directory, secrets beside it, and the ways a path can lead out of it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("secret.txt", "secret.csv", "secret.yaml", "secret.json"):
        (outside / name).write_text(f"{SECRET}\n{SECRET},{SECRET}\n")
    spec_dir = tmp_path / "cohort" / "spec"
    spec_dir.mkdir(parents=True)
    (spec_dir / "leak.txt").symlink_to(outside / "secret.txt")
    (spec_dir / "linked").symlink_to(outside)
    (spec_dir / "inner").mkdir()
    (spec_dir / "inner" / "hop.csv").symlink_to("../../../outside/secret.csv")
    return spec_dir


ESCAPES = {
    "/etc/passwd": "is an absolute path",
    "/etc/shadow": "is an absolute path",
    "{outside}/secret.txt": "is an absolute path",
    "~/secret.txt": "is an absolute path",
    "../../outside/secret.txt": "leaves the spec's directory",
    "./inner/../../../outside/secret.csv": "leaves the spec's directory",
    "leak.txt": "leaves the spec's directory",
    "linked/secret.yaml": "leaves the spec's directory",
    "inner/hop.csv": "leaves the spec's directory",
    "../spec/../../outside/secret.json": "leaves the spec's directory",
}


@pytest.mark.parametrize("position", sorted(POSITIONS))
@pytest.mark.parametrize("target", sorted(ESCAPES))
def test_file_paths_that_leave_the_spec_directory(
    capsys: Capsys, escape_tree: Path, position: str, target: str
) -> None:
    ref = "@file:" + target.format(outside=escape_tree.parent.parent / "outside")
    spec = write_spec(escape_tree, POSITIONS[position].format(ref=ref))
    refused(capsys, spec, ESCAPES[target], forbidden=(SECRET,))


def test_paths_that_stay_inside_are_read(capsys: Capsys, escape_tree: Path, tmp_path: Path) -> None:
    """The class is about leaving: '..' that comes back, a symlink within, and the data root when given."""
    (escape_tree / "models.txt").write_text("m1\nm2\n")
    (escape_tree / "alias.txt").symlink_to("models.txt")
    for ref in ("inner/../models.txt", "alias.txt", "./models.txt"):
        spec = write_spec(escape_tree, f'axes:\n  draft_llm: "@file:{ref}"\n')
        assert list(compile_spec(spec)["draft_llm"]) == ["m1", "m2"]
    shared = tmp_path / "shared.txt"
    shared.write_text("m3\n")
    spec = write_spec(escape_tree, 'axes:\n  draft_llm: "@file:../../shared.txt"\n')
    refused(capsys, spec, "leaves the spec's directory")
    assert list(compile_spec(spec, data_root=tmp_path)["draft_llm"]) == ["m3"]
    assert main(["spec", "compile", str(spec), "--data-root", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == ["draft_llm", "m3"]


# ---------------------------------------------------------------------------------------------
# 2. not a regular file


def test_paths_that_are_not_regular_files(capsys: Capsys, tmp_path: Path) -> None:
    spec_dir = tmp_path / "spec"
    (spec_dir / "items").mkdir(parents=True)
    (spec_dir / "levels.csv").mkdir()
    os.mkfifo(spec_dir / "pipe.txt")
    (spec_dir / "null.txt").symlink_to("/dev/null")
    for ref, needle in (
        ("items", "is a directory"),
        ("levels.csv", "is a directory"),
        (".", "is a directory"),
        ("pipe.txt", "not a regular file"),
    ):
        spec = write_spec(spec_dir, f'axes:\n  draft_llm: "@file:{ref}"\n')
        refused(capsys, spec, f"@file '{ref}'" if ref != "pipe.txt" else "pipe.txt", needle)
    spec = write_spec(spec_dir, 'axes:\n  draft_llm: "@file:null.txt"\n')
    refused(capsys, spec, "leaves the spec's directory")  # /dev/null is outside
    os.mkfifo(tmp_path / "spec.yaml")
    for path, needle in ((spec_dir, "is a directory"), (tmp_path / "spec.yaml", "not a regular file")):
        with pytest.raises(SpecError, match=needle):
            compile_spec(path)
        cli_refused(capsys, ["spec", "compile", str(path)], needle)
    cli_refused(capsys, ["spec", "compile", "/dev/zero"], "not a regular file")


# ---------------------------------------------------------------------------------------------
# 3. size explosions


def _explosions(tmp_path: Path) -> dict[str, tuple[str, str]]:
    big = "\n".join(f"c{i}" for i in range(2000))
    (tmp_path / "a.txt").write_text(big)
    items = ", ".join(f"[x{i}, y{i}]" for i in range(100))
    tuples = "".join(f"    t{n}:\n      axes: [p{n}, q{n}]\n      items: [{items}]\n" for n in range(5))
    axes30 = "".join(f"  ax{i}: [a, b, c, d, e, f, g, h, i, j]\n" for i in range(30))
    return {
        "replicates 1e9": ("axes:\n  draft_llm: [m]\nreplicates: {draft: 1000000000}\n", "1,000,000,000 replicates"),
        "replicates 1e30": (
            "axes:\n  draft_llm: [m]\nreplicates: {evaluation_template: 1000000000000000000000000000000}\n",
            "1,000,000,000,000,000,000,000,000,000,000 replicates",
        ),
        "30 axes of 10": ("axes:\n" + axes30, "compiles to 1,000,000,000,000,000,000,000,000,000,000 rows"),
        "three 2000-level files": (
            'axes:\n  a: "@file:a.txt"\n  b: "@file:a.txt"\n  c: "@file:a.txt"\n',
            "compiles to 8,000,000,000 rows (a=2,000 x b=2,000 x c=2,000)",
        ),
        "five bundles of 100": ("rules:\n  tuples:\n" + tuples, "compiles to 10,000,000,000 rows"),
    }


CASES = ["replicates 1e9", "replicates 1e30", "30 axes of 10", "three 2000-level files", "five bundles of 100"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES)
def test_size_explosions_are_refused_before_allocation(capsys: Capsys, tmp_path: Path, case: str) -> None:
    text, needle = _explosions(tmp_path)[case]
    spec = write_spec(tmp_path, text)
    refused(capsys, spec, needle, f"over the limit of {MAX_PLAN_ROWS.default:,}", MAX_PLAN_ROWS.env)
    assert peak_memory(lambda: compile_spec(spec)) < 20_000_000


def test_the_plan_limit_is_configurable(capsys: Capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_spec(tmp_path, "axes:\n  a: [1, 2, 3, 4]\n  b: [1, 2, 3, 4]\nreplicates: {draft: 2}\n")
    monkeypatch.setenv(MAX_PLAN_ROWS.env, "31")
    # 4 x 4 x 2 replicates = 32 rows, one over the limit
    refused(capsys, spec, "compiles to 32 rows (a=4 x b=4 x draft_replicate=2)", "over the limit of 31")
    monkeypatch.setenv(MAX_PLAN_ROWS.env, "32")
    assert len(compile_spec(spec)) == 32
    monkeypatch.setenv(MAX_PLAN_ROWS.env, "1")
    refused(capsys, spec, "replicates 'draft': 2 replicates, over the limit of 1")


# ---------------------------------------------------------------------------------------------
# 4. YAML bombs and depth


def _laughs(levels: int, key: str = "axes:\n  draft_llm: *l{last}\n") -> str:
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [" + ",".join([f"*l{n - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n" + key.format(last=levels - 1)


YAML_BOMBS = {
    "billion laughs": (_laughs(9), "YAML nodes"),
    "laughs of mappings": (
        "m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}\n"
        + "".join(f"m{n}: &m{n} {{" + ", ".join(f"k{k}: *m{n - 1}" for k in range(9)) + "}\n" for n in range(1, 9))
        + "axes:\n  <<: *m8\n",
        "YAML nodes",
    ),
    "flow nesting 100": ("axes:\n  x: " + "[" * 100 + "]" * 100 + "\n", "too deeply nested"),
    "flow nesting 100000": ("axes:\n  x: " + "[" * 100_000 + "]" * 100_000 + "\n", "nesting"),
    "block nesting 100": ("".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "v\n", "too deeply nested"),
    "depth through aliases": (
        "a: &a " + "[" * 40 + "x" + "]" * 40 + "\nb: &b [[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
        "too deeply nested",
    ),
    "recursive alias": ("axes: {draft_llm: &a [x, *a]}\n", "refers to the collection that contains it"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(YAML_BOMBS))
def test_yaml_bombs_and_deep_nesting(capsys: Capsys, tmp_path: Path, case: str) -> None:
    text, needle = YAML_BOMBS[case]
    spec = write_spec(tmp_path / "direct", text)
    refused(capsys, spec, needle)
    assert peak_memory(lambda: compile_spec(spec)) < 50_000_000


def test_bombs_in_an_at_file_and_in_json(capsys: Capsys, tmp_path: Path) -> None:
    (tmp_path / "laughs.yaml").write_text(_laughs(9, "- *l{last}\n"))
    (tmp_path / "deep.json").write_text("[" * 50_000 + "]" * 50_000)
    (tmp_path / "deep64.json").write_text("[" * 65 + '"x"' + "]" * 65)
    for ref, needle in (("laughs.yaml", "YAML nodes"), ("deep.json", "nested"), ("deep64.json", "too deeply nested")):
        spec = write_spec(tmp_path, f'axes:\n  draft_llm: "@file:{ref}"\n')
        refused(capsys, spec, f"@file '{ref}'", needle)
    spec = write_spec(tmp_path, "[" * 50_000 + "]" * 50_000, name="config.json")
    refused(capsys, spec, "nested")


def test_yaml_limits_are_configurable(capsys: Capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_spec(
        tmp_path, "axes:\n  draft_llm: [a, b, c]\n"
    )  # 8 nodes (2 mappings, 2 keys, a list, 3 values), depth 3
    monkeypatch.setenv(MAX_YAML_NODES.env, "5")
    refused(capsys, spec, f"over the limit of 5 YAML nodes (raise it with {MAX_YAML_NODES.env})")
    monkeypatch.setenv(MAX_YAML_NODES.env, "100")
    monkeypatch.setenv(MAX_YAML_DEPTH.env, "2")
    refused(
        capsys,
        spec,
        "too deeply nested: 3 levels, over the limit of 2 levels",
        f"(raise it with {MAX_YAML_DEPTH.env})",
    )
    monkeypatch.setenv(MAX_YAML_DEPTH.env, "3")
    assert len(compile_spec(spec)) == 3


# ---------------------------------------------------------------------------------------------
# 5. oversized files


@pytest.mark.timeout(60)
def test_files_over_the_size_limit_are_refused_unread(
    capsys: Capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sparse = tmp_path / "huge.txt"
    with sparse.open("wb") as handle:
        handle.truncate(50 * 1024**3)  # 50 GiB of nothing: refused by size, never read
    spec = write_spec(tmp_path, 'axes:\n  draft_llm: "@file:huge.txt"\n')
    refused(capsys, spec, "@file 'huge.txt'", "file too large: 53,687,091,200 bytes", MAX_SPEC_BYTES.env)
    huge_spec = tmp_path / "huge.yaml"
    huge_spec.symlink_to(sparse)
    cli_refused(capsys, ["spec", "compile", str(huge_spec)], "file too large")
    monkeypatch.setenv(MAX_SPEC_BYTES.env, "2000")
    for name, content in (("levels.csv", "draft_llm\n" + "m\n" * 1500), ("levels.txt", "m\n" * 1500)):
        (tmp_path / name).write_text(content)
        spec = write_spec(tmp_path, f'axes:\n  draft_llm: "@file:{name}"\n')
        refused(capsys, spec, f"@file '{name}'", "over the limit of 2,000")
    spec = write_spec(tmp_path, "axes:\n  draft_llm: [" + ", ".join(["m"] * 1000) + "]\n")
    refused(capsys, spec, "file too large", "bytes, over the limit of 2,000 bytes")


# ---------------------------------------------------------------------------------------------
# 6. malformed values


REPLICATE = "positive integers up to 5,000,000"
MALFORMED = {
    # replicate numbers: ASCII digits only, 1 to the plan limit
    "essay_replicate: ['²']": REPLICATE,  # str.isdigit() is True, int() refuses it
    "essay_replicate: ['٣']": REPLICATE,
    "essay_replicate: [1000000000000000000000000000000]": REPLICATE,
    "essay_replicate: ['10**30']": REPLICATE,
    "essay_replicate: [1.5]": REPLICATE,
    "essay_replicate: [2.0]": REPLICATE,
    "essay_replicate: [-1]": REPLICATE,
    "essay_replicate: [0]": REPLICATE,
    "essay_replicate: [.inf]": REPLICATE,
    "essay_replicate: [.nan]": REPLICATE,
    "essay_replicate: ['1e3']": REPLICATE,
    "essay_replicate: ['']": REPLICATE,
    "essay_replicate: [[1]]": "expected a single value, got a list",
    "essay_replicate: [{a: 1}]": "expected a single value, got a mapping",
    # replicate counts
    "draft_llm: [m]\nreplicates: {essay: '²'}": "replicates 'essay': expected a positive integer count",
    "draft_llm: [m]\nreplicates: {essay: 1.5}": "replicates 'essay': expected a positive integer count",
    "draft_llm: [m]\nreplicates: {essay: -2}": "replicates 'essay': expected a positive integer count",
    "draft_llm: [m]\nreplicates: {essay: '3'}": "replicates 'essay': expected a positive integer count",
    "draft_llm: [m]\nreplicates: {essay: true}": "replicates 'essay': expected a positive integer count",
    "draft_llm: [m]\nreplicates: {essay: [2]}": "replicates 'essay': expected a positive integer count",
    # ids that become path components
    "draft_llm: [ok, '../../etc']": "invalid id '../../etc'",
    "draft_llm: [ok, 'a b']": "invalid id 'a b'",
    "draft_llm: [ok, 'x\u200b']": "invalid id",
    "draft_llm: [ok, 'draft/llm']": "invalid id 'draft/llm'",
    "draft_llm: [ok, " + "x" * 300 + "]": "is 300 characters long",
    # values YAML reads as something else
    "draft_llm: [ok, yes]": "YAML read true as a boolean; quote it",
    "draft_llm: [ok, null]": "expected a single value, got nothing",
    "draft_llm: [ok, '']": "empty value",
}


@pytest.mark.parametrize("axes", sorted(MALFORMED))
def test_malformed_values(capsys: Capsys, tmp_path: Path, axes: str) -> None:
    spec = write_spec(tmp_path, "axes:\n  draft_template: [t]\n  " + axes + "\n")
    refused(capsys, spec, MALFORMED[axes])


# ---------------------------------------------------------------------------------------------
# 7. unbounded values in messages


def test_messages_never_quote_unbounded_values(capsys: Capsys, tmp_path: Path) -> None:
    long = "v" * 100_000
    (tmp_path / "many.txt").write_text("\n".join(f"unknown-{i}" for i in range(100_000)))
    cases = {
        f"axes:\n  notes: [a]\nrules:\n  subsets:\n    notes: [{long}]\n": "(100,000 chars)",
        'axes:\n  notes: [a]\nrules:\n  subsets:\n    notes: "@file:many.txt"\n': "(100,000 in all)",
        f"axes:\n  draft_llm: [{long}]\n": "is 100000 characters long",
        f"axes:\n  notes: [a]\n? {long}\n: 1\n": "(100,000 chars)",
        f"axes:\n  notes: [a]\nrules:\n  ties:\n    ? {long}\n    : [notes]\n": "(100,000 chars)",
        f'axes:\n  notes: "@file:{"d" * 5000}.txt"\n': "(5,004 chars)",
        f"axes:\n  notes: [a]\nreplicates: {{draft: '{long}'}}\n": "chars)",
    }
    for text, needle in cases.items():
        spec = write_spec(tmp_path, text)
        message = refused(capsys, spec, needle)
        assert len(message) < 1000, message


# ---------------------------------------------------------------------------------------------
# 8. --out that cannot be written


def test_out_that_cannot_be_written(capsys: Capsys, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "spec", "axes:\n  draft_llm: [a, b]\n")
    (tmp_path / "a_file").write_text("keep")
    for out, needle in (
        (tmp_path, "--out is a directory"),
        (tmp_path / "missing" / "rows.csv", "does not exist"),
        (tmp_path / "a_file" / "rows.csv", "is not a directory"),
    ):
        cli_refused(capsys, ["spec", "compile", str(spec), "--out", str(out)], str(out), needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "spec"]
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    proc = subprocess.run(  # root bypasses permissions: drop that capability, as a researcher's shell has
        ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--", DAYDREAM, "spec", "compile", str(spec)]
        + ["--out", str(locked / "rows.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "is not writable" in proc.stderr and not any(locked.iterdir())
