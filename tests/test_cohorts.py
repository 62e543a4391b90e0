"""Building cohorts (data-contract section 5): spec, no-code and curated cohorts; nothing half-written."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import FakeLLM, member_ids, run_members, snapshot, tree, write_csv

from daydream.catalogs import Catalogs
from daydream.cohorts import _check_parents, build_cohort, list_cohorts, plan_cohort, read_manifest
from daydream.combos import ComboCatalog
from daydream.errors import CohortError, DayDreamError, SpecError
from daydream.membership import MEMBERSHIP_COLUMNS, read_membership
from daydream.paths import DataLayout
from daydream.runner import StageRunner
from daydream.status import cohort_status
from daydream.store import GensStore


def test_demo_counts_tiers_and_files(built_demo: DataLayout) -> None:
    layout = built_demo
    membership = read_membership(layout, "demo")
    assert list(pd.read_csv(layout.membership("demo")).columns) == MEMBERSHIP_COLUMNS
    assert membership["stage"].value_counts().to_dict() == {"draft": 12, "essay": 18, "evaluation": 36}
    assert set(membership["cohort_id"]) == {"demo"}
    manifest = read_manifest(layout, "demo")
    assert manifest["tiers"] == {
        "draft": {"free": 6, "paid": 6},
        "essay": {"paid": 12, "local": 6},
        "evaluation": {"paid": 36},
    }
    assert len(manifest["combos"]) == 3 and all(c.startswith("combo_v1_") for c in manifest["combos"])
    assert manifest["templates"] == {
        "draft": ["creative-synthesis-v10", "links-brainstorm-v2"],
        "essay": ["essay-expand-v3", "draft-as-essay"],
        "evaluation": ["novelty-rubric-v2", "free-verdict-v1"],
    }
    assert manifest["llms"] == {"generation": ["deepseek_r1_f", "gemini_25_pro"], "evaluation": ["sonnet-4"]}
    store = GensStore(layout)
    assert sorted(store.iter_all()) == sorted(zip(membership["stage"], membership["gen_id"], strict=False))
    for row in membership.itertuples():
        meta = store.read_metadata(row.stage, row.gen_id)
        assert (meta.origin_cohort_id, meta.template_id, meta.llm_model_id, meta.replicate) == (
            "demo",
            row.template_id,
            row.llm_model_id,
            1,
        )
        assert meta.mode == ("copy" if row.template_id == "draft-as-essay" else "llm")
        assert meta.combo_id == (row.combo_id if row.stage == "draft" else None)
    essays = membership[membership["stage"] == "essay"]
    assert set(essays["parent_gen_id"]) == set(membership.loc[membership["stage"] == "draft", "gen_id"])
    combos = pd.read_csv(layout.combo_mappings)
    assert list(combos.columns) == ["combo_id", "version", "concept_id", "description_level", "k_max", "created_at"]
    assert len(combos) == 6 and set(combos["version"]) == {"v1"} and set(combos["k_max"]) == {2}


def test_rebuild_is_idempotent_and_never_touches_metadata(layout: DataLayout) -> None:
    first = build_cohort(layout, "demo")
    assert first.seeded_metadata == 66 and first.new_combos == 3
    membership = layout.membership("demo").read_bytes()
    gens, combos = snapshot(layout.gens), layout.combo_mappings.read_bytes()
    again = build_cohort(layout, "demo")
    assert (again.seeded_metadata, again.new_combos) == (0, 0)
    assert layout.membership("demo").read_bytes() == membership
    assert snapshot(layout.gens) == gens
    assert layout.combo_mappings.read_bytes() == combos


def test_existing_metadata_is_left_untouched(layout: DataLayout) -> None:
    plan = plan_cohort(layout, "demo")
    row = plan.membership.iloc[0]
    path = layout.gen_dir(row["stage"], row["gen_id"]) / "metadata.json"
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "stage": row["stage"],
                "gen_id": row["gen_id"],
                "combo_id": row["combo_id"],
                "template_id": row["template_id"],
                "llm_model_id": row["llm_model_id"],
                "origin_cohort_id": "older",
                "note": "mine",
            }
        )
    )
    before = path.read_bytes()
    result = build_cohort(layout, "demo")
    assert result.seeded_metadata == 65
    assert read_membership(layout, "demo")["gen_id"].iloc[0] == row["gen_id"]
    assert path.read_bytes() == before


def test_dry_run_writes_nothing(layout: DataLayout) -> None:
    before = tree(layout.root)
    result = build_cohort(layout, "demo", dry_run=True)
    assert tree(layout.root) == before
    assert result.stages == {"draft": 12, "essay": 18, "evaluation": 36} and result.new_combos == 3
    assert "would write" in result.describe()


def test_malformed_spec_writes_nothing(layout: DataLayout) -> None:
    spec = layout.spec_file("demo")
    spec.write_text(spec.read_text().replace("evaluation_llm: [sonnet-4]", "evaluation_llm: [sonnet-5]"))
    before = tree(layout.root)
    with pytest.raises(SpecError) as info:
        build_cohort(layout, "demo")
    assert str(spec) in str(info.value) and "sonnet-5" in str(info.value) and "\n" not in str(info.value)
    assert tree(layout.root) == before


def test_k_max_larger_than_the_concepts_is_a_clear_error(layout: DataLayout) -> None:
    with pytest.raises(SpecError, match="k_max 4 is larger than the 3 active concepts") as info:
        build_cohort(layout, "demo", k_max=4)
    assert str(layout.spec_file("demo")) in str(info.value)


def test_list_cohorts(built_demo: DataLayout) -> None:
    (built_demo.cohorts / "empty-dir").mkdir()
    assert list_cohorts(built_demo) == ["demo", "example-full"]


# --- the no-code cohort --------------------------------------------------------------------------


@pytest.fixture
def small(data_root: Path) -> DataLayout:
    """The bundled templates with small catalogs: 4 active concepts, 2 writers (one also judges), 1 judge."""
    raw = data_root / "1_raw"
    write_csv(
        raw / "concepts_metadata.csv",
        """
concept_id,name,active
default-mode-network,Default Mode Network,true
generator-verifier-gap,Generator-Verifier Gap,yes
economic-moat,Economic Moat,1
data-flywheel,Data Flywheel,
bisociation,Bisociation,false
""",
    )
    write_csv(
        raw / "draft_templates.csv",
        """
template_id,parser,active
creative-synthesis-v10,essay_idea_last,true
links-brainstorm-v2,,true
problem-solution-v1,essay_block,false
""",
    )
    write_csv(raw / "essay_templates.csv", "template_id,generator\nessay-expand-v3,\ndraft-as-essay,copy")
    write_csv(
        raw / "evaluation_templates.csv",
        "template_id,parser,active\nnovelty-rubric-v2,in_last_line,true\nfree-verdict-v1,complex,false",
    )
    write_csv(
        raw / "llm_models.csv",
        """
id,model,for_generation,for_evaluation,active
writer_f,vendor/writer:free,true,true,true
writer_p,vendor/writer,true,false,true
judge,vendor/judge,false,true,true
retired,vendor/old,true,true,false
""",
    )
    return DataLayout(data_root)


@pytest.mark.parametrize(("k_max", "combos"), [(None, 6), (3, 4)])
def test_no_code_cohort_crosses_active_everything(small: DataLayout, k_max: int | None, combos: int) -> None:
    result = build_cohort(small, "fresh", k_max=k_max, no_code=True)
    drafts = combos * 2 * 2
    assert result.source == "no-code"
    assert result.stages == {"draft": drafts, "essay": drafts * 2, "evaluation": drafts * 2 * 2}
    assert result.tiers["draft"] == {"free": drafts // 2, "paid": drafts // 2}
    assert result.tiers["essay"] == {"free": drafts // 2, "paid": drafts // 2, "local": drafts}
    membership = read_membership(small, "fresh")
    manifest = read_manifest(small, "fresh")
    assert manifest["k_max"] == (k_max or 2) and manifest["description_level"] == "paragraph"
    assert manifest["llms"] == {"generation": ["writer_f", "writer_p"], "evaluation": ["writer_f", "judge"]}
    by_id = membership.set_index("gen_id")
    essays = membership[membership["stage"] == "essay"]
    assert (essays["llm_model_id"].to_numpy() == by_id.loc[essays["parent_gen_id"], "llm_model_id"].to_numpy()).all()
    assert not membership["gen_id"].str.contains("-").any()


def test_no_code_k_max_too_large(small: DataLayout) -> None:
    before = tree(small.root)
    with pytest.raises(SpecError, match="k_max 5 is larger than the 4 active concepts") as info:
        build_cohort(small, "fresh", k_max=5, no_code=True)
    assert str(small.concepts_csv) in str(info.value)
    assert tree(small.root) == before


def test_unknown_cohort_id_is_refused_not_built_as_no_code(small: DataLayout) -> None:
    """A typo must not plan the whole no-code cohort (and pay for it)."""
    before = tree(small.root)
    with pytest.raises(CohortError, match="cohort 'demoo' not found .*--no-code"):
        build_cohort(small, "demoo")
    assert tree(small.root) == before
    (small.cohorts / "nocode").mkdir(parents=True)
    assert build_cohort(small, "nocode", dry_run=True).source == "no-code"


def test_k_max_flag_is_refused_for_a_spec_that_lists_its_combos(data_root: Path) -> None:
    layout = DataLayout(data_root)
    spec = layout.spec_file("listed")
    spec.parent.mkdir(parents=True)
    spec.write_text(
        "axes:\n  combo_id: [combo_v1_x]\n  draft_template: [links-brainstorm-v2]\n  draft_llm: [gemini_25_pro]\n"
    )
    with pytest.raises(SpecError, match="--k-max/--level only apply"):
        build_cohort(layout, "listed", k_max=3)


# --- curated cohorts -------------------------------------------------------------------------------


def _curate(layout: DataLayout, name: str, lines: list[str], config: str | None = None) -> Path:
    spec_dir = layout.spec_dir("picked")
    if config is not None:
        write_csv(spec_dir / "config.yaml", config)
    return write_csv(spec_dir / name, "\n".join(lines))


def test_curated_essays_reuse_existing_evaluations(ran_demo: tuple[DataLayout, FakeLLM]) -> None:
    layout, _ = ran_demo
    essays = member_ids(layout, "essay", template_id="essay-expand-v3")[:2]
    _curate(
        layout,
        "selected_essays.txt",
        ["# two essays worth a second look", "", f"{essays[0]}  # the best", essays[1], essays[0]],
        config="""
axes:
  evaluation_template: [novelty-rubric-v2, insight-depth-v1]
  evaluation_llm: [sonnet-4]
""",
    )
    result = build_cohort(layout, "picked")
    assert result.source == "curated:selected_essays.txt"
    assert result.stages["essay"] == 2 and result.stages["evaluation"] == 4
    membership = read_membership(layout, "picked")
    assert set(membership.loc[membership["stage"] == "essay", "gen_id"]) == set(essays)
    evaluations = membership[membership["stage"] == "evaluation"]
    assert set(evaluations["parent_gen_id"]) == set(essays)
    assert (evaluations["combo_id"] != "").all()
    status = cohort_status(layout, "picked").stages
    assert (status["evaluation"].done, status["evaluation"].pending) == (2, 2)  # novelty ones ran in demo
    assert (status["essay"].done, status["draft"].done) == (2, result.stages["draft"])
    llm = FakeLLM()
    run_members(layout, "picked", llm)
    assert len(llm.calls) == 2 and all("depth of insight" in c["prompt"] for c in llm.calls)


def test_curated_drafts_are_evaluated_directly_with_active_templates(ran_demo: tuple[DataLayout, FakeLLM]) -> None:
    layout, _ = ran_demo
    draft = member_ids(layout, "draft")[0]
    _curate(layout, "selected_drafts.txt", [draft])
    result = build_cohort(layout, "picked")
    # 3 active evaluation templates x 6 active evaluation models
    assert result.stages == {"draft": 1, "essay": 0, "evaluation": 18}
    membership = read_membership(layout, "picked")
    assert set(membership.loc[membership["stage"] == "evaluation", "parent_gen_id"]) == {draft}
    outcome = run_members(layout, "picked", FakeLLM(), stages=["evaluation"])
    assert {o.state for o in outcome} == {"done"}


def test_curated_unknown_id_names_file_and_line(ran_demo: tuple[DataLayout, FakeLLM]) -> None:
    layout, _ = ran_demo
    path = _curate(layout, "selected_essays.txt", ["# header", "", "e_doesnotexist"])
    before = tree(layout.root)
    with pytest.raises(CohortError) as info:
        build_cohort(layout, "picked")
    message = str(info.value)
    assert message.startswith(f"{path}, line 3") and "e_doesnotexist" in message
    assert tree(layout.root) == before


def test_curated_list_first_line_and_unreadable_file(layout: DataLayout) -> None:
    path = _curate(layout, "selected_drafts.txt", ["d_nope", "# again:", "d_nope"])
    with pytest.raises(CohortError, match=f"^{path}, line 1, field 'gen_id'"):
        build_cohort(layout, "picked")
    path.write_bytes(b"\xff\xfe d_x\n")
    with pytest.raises(CohortError, match=f"^{path}: cannot read"):
        build_cohort(layout, "picked")


def test_curated_essay_with_missing_parent_draft(ran_demo: tuple[DataLayout, FakeLLM]) -> None:
    layout, _ = ran_demo
    demo = read_membership(layout, "demo")
    row = demo[(demo["stage"] == "essay") & (demo["template_id"] == "essay-expand-v3")].iloc[0]
    (layout.gen_dir("draft", row["parent_gen_id"]) / "metadata.json").unlink()
    path = _curate(layout, "selected_essays.txt", ["# header", row["gen_id"]])
    with pytest.raises(CohortError) as info:
        build_cohort(layout, "picked")
    assert str(info.value).startswith(f"{path}, line 2") and row["parent_gen_id"] in str(info.value)


def test_parent_integrity_checks(layout: DataLayout) -> None:
    def frame(*rows: tuple[str, str, str]) -> pd.DataFrame:
        return pd.DataFrame([{"stage": s, "gen_id": g, "parent_gen_id": p} for s, g, p in rows])

    _check_parents(layout, frame(("draft", "d_1", ""), ("essay", "e_1", "d_1"), ("evaluation", "v_1", "e_1")))
    with pytest.raises(CohortError, match="essay e_2: parent draft d_9 is not a draft of the cohort"):
        _check_parents(layout, frame(("draft", "d_1", ""), ("essay", "e_2", "d_9")))
    with pytest.raises(CohortError, match="evaluation v_2: parent e_9 exists neither in the cohort nor in gens/"):
        _check_parents(layout, frame(("draft", "d_1", ""), ("evaluation", "v_2", "e_9")))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("DRAFT TASK {% for c in concepts %}{{ c.name }}", "line 1: template syntax error"),
        ("DRAFT TASK\n\n{{ concept_list }}", "line 3: undefined variable: 'concept_list' is undefined"),
        ("DRAFT TASK {{ ''.__class__.__mro__ }}", "unsafe template operation"),
        (None, "template file not found"),
    ],
)
def test_broken_template_stops_the_build_and_writes_nothing(data_root: Path, text: str | None, needle: str) -> None:
    layout = DataLayout(data_root)
    path = layout.template_file("draft", "links-brainstorm-v2")
    if text is None:
        path.unlink()
    else:
        path.write_text(text)
    before = tree(data_root)
    with pytest.raises(DayDreamError) as info:
        build_cohort(layout, "demo")
    message = str(info.value)
    assert needle in message and str(path) in message and "\n" not in message
    assert tree(data_root) == before


# --- concurrent builds: every cohort keeps its combos ----------------------------------------------

BUILDERS = 6
ROUNDS = 3
LEVELS = ("paragraph", "sentence", "article")
# A real `daydream cohort build` in its own process; it reports when its imports are done and starts
# building when the test says go, so that all builders read and append the combo catalog together.
_BUILD_ON_GO = """
import os, sys, time
from daydream.cli import main
ready, go = sys.argv[1], sys.argv[2]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.002)
sys.exit(main(sys.argv[3:]))
"""


def _race_specs(layout: DataLayout, round_no: int) -> list[str]:
    """Cohorts whose combos overlap their neighbours' (each combo must be written once) and are new in
    every round (another k_max and level), so every builder has combos of its own to append."""
    concepts = Catalogs.load(layout).active_concept_ids
    cohorts = []
    for i in range(BUILDERS):
        cohort_id = f"race-r{round_no}-c{i}"
        window = ", ".join(concepts[(2 * i + j) % len(concepts)] for j in range(4))
        write_csv(
            layout.spec_file(cohort_id),
            f"combos:\n  k_max: {2 + round_no % 2}\n  description_level: {LEVELS[round_no % 3]}\n"
            f"  concepts: [{window}]\n"
            "axes:\n  draft_template: [links-brainstorm-v2]\n  draft_llm: [gemini_25_pro]\n",
        )
        cohorts.append(cohort_id)
    return cohorts


def _build_all_at_once(layout: DataLayout, cohorts: list[str], signals: Path) -> None:
    go = signals / "go"
    ready = [signals / f"ready-{cohort_id}" for cohort_id in cohorts]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _BUILD_ON_GO, str(flag), str(go), "cohort", "build", cohort_id]
            + ["--data-root", str(layout.root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cohort_id, flag in zip(cohorts, ready, strict=True)
    ]
    deadline = time.monotonic() + 120
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err


def test_concurrent_builds_of_different_cohorts_keep_every_combo(layout: DataLayout, tmp_path: Path) -> None:
    cohorts: list[str] = []
    for round_no in range(ROUNDS):
        signals = tmp_path / f"round-{round_no}"
        signals.mkdir()
        batch = _race_specs(layout, round_no)
        _build_all_at_once(layout, batch, signals)
        cohorts += batch

    with layout.combo_mappings.open(newline="") as handle:
        pairs = [(row["combo_id"], row["concept_id"]) for row in csv.DictReader(handle)]
    assert len(pairs) == len(set(pairs)), "a combo row was written twice"
    catalog = ComboCatalog(layout.combo_mappings)
    for combo in catalog.combos.values():
        assert len(combo.concept_ids) == combo.k_max
    for cohort_id in cohorts:
        manifest = read_manifest(layout, cohort_id)
        missing = [c for c in manifest["combos"] if c not in catalog]
        assert not missing, f"{cohort_id} lost {len(missing)} combo(s) from combo_mappings.csv"
        # each cohort's drafts resolve their combo: run one with the fake LLM
        draft = read_membership(layout, cohort_id).query("stage == 'draft'").iloc[0]
        llm = FakeLLM()
        outcome = StageRunner(layout, llm=llm, cohort_id=cohort_id).run("draft", draft["gen_id"])
        assert outcome.state == "done", outcome.message
        names = [Catalogs.load(layout).concepts[c].name for c in catalog.get(draft["combo_id"]).concept_ids]
        assert all(name in llm.calls[0]["prompt"] for name in names)
