"""``daydream spec compile``: the DSL alone without a data root, ``--check`` against the catalogs."""

from __future__ import annotations

import io
import json
import random
import shutil
from itertools import combinations
from pathlib import Path

import pandas as pd
import pytest
from helpers import tree

from daydream.cli import main
from daydream.combos import combo_id
from daydream.limits import MAX_COMBOS

Capsys = pytest.CaptureFixture[str]
FIXTURES = Path(__file__).parent / "fixtures" / "spec"
DEMO_CONCEPTS = ["default-mode-network", "generator-verifier-gap", "combinatorial-creativity"]


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no ./data and no $DAYDREAM_DATA_ROOT: no data root anywhere."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("DAYDREAM_DATA_ROOT", raising=False)
    return work


def run(capsys: Capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def frame(out: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(out), dtype=str, keep_default_na=False)


def test_compiles_without_a_data_root(capsys: Capsys, nowhere: Path, data_root: Path) -> None:
    spec = shutil.copy(data_root / "cohorts" / "demo" / "spec" / "config.yaml", nowhere / "config.yaml")
    before = tree(nowhere)
    code, out, err = run(capsys, "spec", "compile", str(spec))
    assert (code, err) == (0, "")
    rows = frame(out)
    # 3 combos (3 listed concepts, k_max 2) x 2 draft llms x 3 essay routes x 2 evaluation templates = 36
    assert len(rows) == 3 * 2 * 3 * 2
    expected = [combo_id(pair, "paragraph", 2) for pair in combinations(DEMO_CONCEPTS, 2)]
    assert list(dict.fromkeys(rows["combo_id"])) == expected
    assert tree(nowhere) == before  # nothing written: no combo catalog, no data root


def test_combos_from_the_catalog_need_the_data_root(capsys: Capsys, nowhere: Path, data_root: Path) -> None:
    spec = nowhere / "config.yaml"
    spec.write_text("combos: {k_max: 2}\naxes:\n  draft_template: [creative-synthesis-v10]\n")
    code, out, err = run(capsys, "spec", "compile", str(spec))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "field 'combos': lists no concepts" in err and "concepts_metadata.csv, which does not exist" in err
    assert "list them under combos.concepts, or pass --data-root" in err
    code, out, err = run(capsys, "spec", "compile", str(spec), "--data-root", str(data_root))
    assert code == 0, err
    active = pd.read_csv(data_root / "1_raw" / "concepts_metadata.csv", dtype=str)
    active = active[active["active"].str.lower().isin({"true", "1", "yes"})]["concept_id"].tolist()
    expected = [combo_id(pair, "paragraph", 2) for pair in combinations(active, 2)]
    assert frame(out)["combo_id"].tolist() == expected


def test_combos_are_bounded_before_they_are_formed(capsys: Capsys, nowhere: Path) -> None:
    concepts = ", ".join(f"c{i}" for i in range(77))
    spec = nowhere / "config.yaml"
    spec.write_text(f"combos: {{k_max: 12, concepts: [{concepts}]}}\naxes:\n  draft_template: [t]\n")
    code, _, err = run(capsys, "spec", "compile", str(spec))
    assert code == 2 and err.count("\n") == 1
    # C(77, 12) = 36,749,279,048,405 k-subsets
    assert (
        "k_max 12 over 77 concepts: 36,749,279,048,405 combos" in err
        and f"over the limit of {MAX_COMBOS.default:,}" in err
    )


def test_check_lists_every_missing_id(capsys: Capsys, data_root: Path) -> None:
    spec_dir = data_root / "cohorts" / "demo" / "spec"
    (spec_dir / "judges.txt").write_text("sonnet-4\njudge-x\n")
    spec = spec_dir / "config.yaml"
    text = spec.read_text()
    text = text.replace("draft_llm: [deepseek_r1_f, gemini_25_pro]", "draft_llm: [deepseek_r1_f, model-y, model-z]")
    text = text.replace("evaluation_llm: [sonnet-4]", 'evaluation_llm: "@file:judges.txt"')
    text = text.replace("- [links-brainstorm-v2, essay-expand-v3]", "- [links-brainstorm-v2, essay-new-v9]")
    text = text.replace("essay_template: [essay-expand-v3, draft-as-essay]", "essay_template: null")
    spec.write_text(text)
    code, out, _ = run(capsys, "spec", "compile", str(spec))  # the DSL alone: fine
    assert code == 0 and len(frame(out)) == 3 * 3 * 3 * 2 * 2
    code, out, err = run(capsys, "spec", "compile", "--check", str(spec), "--data-root", str(data_root))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert (
        "axis 'draft_llm': unknown id(s) not in the catalogs: model-y, model-z; "
        "axis 'essay_template': unknown id(s) not in the catalogs: essay-new-v9; "
        "axis 'evaluation_llm': unknown id(s) not in the catalogs: judge-x"
    ) in err
    code, _, err = run(capsys, "cohort", "build", "demo", "--dry-run", "--data-root", str(data_root))
    assert code == 2 and "model-y, model-z" in err and "essay-new-v9" in err  # cohort build always checks


def test_check_needs_the_catalogs(capsys: Capsys, nowhere: Path) -> None:
    spec = shutil.copy(FIXTURES / "json_spec" / "config.json", nowhere / "config.json")
    code, _, err = run(capsys, "spec", "compile", "--check", str(spec))
    assert code == 2 and err.count("\n") == 1
    assert f"{nowhere / 'data' / '1_raw'}: --check needs the data root's catalogs" in err


@pytest.mark.parametrize(
    ("name", "count"),
    [("cartesian_files", 9), ("bundle_pairs", 12), ("curated_bundles", 3), ("tie_side", 6), ("json_spec", 2)],
)
def test_every_construct_fixture_compiles_without_a_data_root(
    capsys: Capsys, nowhere: Path, name: str, count: int
) -> None:
    spec = next((FIXTURES / name).glob("config.*"))
    code, out, _ = run(capsys, "spec", "compile", str(spec), "--format", "jsonl")
    assert code == 0 and len([json.loads(line) for line in out.splitlines()]) == count


def test_seed_shuffles_as_the_older_tool_did_and_limit_cuts(capsys: Capsys, nowhere: Path) -> None:
    spec = str(next((FIXTURES / "bundle_pairs").glob("config.*")))
    _, plain, _ = run(capsys, "spec", "compile", spec)
    header, *rows = plain.splitlines()
    expected = list(rows)
    random.Random(17).shuffle(expected)  # the older compile tool shuffled its row list this way
    _, shuffled, _ = run(capsys, "spec", "compile", spec, "--seed", "17")
    assert shuffled.splitlines() == [header, *expected] and expected != rows
    _, limited, _ = run(capsys, "spec", "compile", spec, "--seed", "17", "--limit", "2")
    assert limited.splitlines() == [header, *expected[:2]]
    out_file = nowhere / "rows.csv"
    code, _, err = run(capsys, "spec", "compile", spec, "--limit", "2", "--out", str(out_file))
    assert code == 0 and "wrote 12 rows" in err and len(out_file.read_text().splitlines()) == 13
