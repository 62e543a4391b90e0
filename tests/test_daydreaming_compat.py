"""An existing DayDreaming data directory works as it is (data-contract, preamble and sections 3-6).

``tests/fixtures/daydreaming/data`` is a small store in the older pipeline's layout: the contract's
combo in ``combo_mappings.csv``, a draft and an essay already done under their contract ids (older
metadata without ``replicate``/``mode``/the essay's LLM, no ``raw_metadata.json``), and a two-column
``membership.csv``. Every generation must be recognised by id and never paid for twice.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import FakeLLM, run_members, snapshot

from daydream.cohorts import build_cohort
from daydream.estimate import estimate_cohort
from daydream.ids import draft_id, essay_id, evaluation_id
from daydream.membership import read_membership
from daydream.paths import DataLayout
from daydream.status import cohort_status
from daydream.storecheck import check_store

FIXTURE = Path(__file__).parent / "fixtures" / "daydreaming" / "data"
COMBO = "combo_v1_85128e4e5ef3"
DRAFT = "d_5ezrffv9uf3lr37d"
ESSAY = "e_sq5klak2lljyyom"
EVALUATION = evaluation_id(ESSAY, "daydreaming-verification-v2", "sonnet-4", 1)


@pytest.fixture
def older(tmp_path: Path) -> DataLayout:
    shutil.copytree(FIXTURE, tmp_path / "data")
    return DataLayout(tmp_path / "data")


def test_fixture_ids_are_the_contract_vectors() -> None:
    assert draft_id(COMBO, "creative-synthesis-v10", "gemini_25_pro") == DRAFT
    assert essay_id(DRAFT, "creative-synthesis-v10") == ESSAY


def test_status_and_store_check_read_the_older_store(older: DataLayout) -> None:
    status = cohort_status(older, "older-cohort")
    assert {stage: (s.total, s.done) for stage, s in status.stages.items()} == {
        "draft": (1, 1),
        "essay": (1, 1),
        "evaluation": (0, 0),
    }
    membership = read_membership(older, "older-cohort")
    assert membership.to_dict("records") == [
        {
            "stage": "draft",
            "gen_id": DRAFT,
            "cohort_id": "older-cohort",
            "parent_gen_id": "",
            "combo_id": COMBO,
            "template_id": "creative-synthesis-v10",
            "llm_model_id": "gemini_25_pro",
            "replicate": 1,
        },
        {
            "stage": "essay",
            "gen_id": ESSAY,
            "cohort_id": "older-cohort",
            "parent_gen_id": DRAFT,
            "combo_id": COMBO,
            "template_id": "creative-synthesis-v10",
            "llm_model_id": "",
            "replicate": 1,
        },
    ]
    report = check_store(older)
    assert report.healthy, report.table()
    assert report.generations == {"draft": 1, "essay": 1, "evaluation": 0}


@pytest.mark.parametrize("cohort", ["older-cohort", "regenerated"])
def test_build_reproduces_the_ids_and_run_never_pays_twice(older: DataLayout, cohort: str) -> None:
    combos = older.combo_mappings.read_bytes()
    existing = snapshot(older.gens)
    result = build_cohort(older, cohort)
    assert result.new_combos == 0 and result.seeded_metadata == 1
    membership = read_membership(older, cohort)
    assert list(zip(membership["stage"], membership["gen_id"], strict=False)) == [
        ("draft", DRAFT),
        ("essay", ESSAY),
        ("evaluation", EVALUATION),
    ]
    assert older.combo_mappings.read_bytes() == combos
    assert {k: v for k, v in snapshot(older.gens).items() if k in existing} == existing

    estimate = estimate_cohort(older, cohort)
    assert estimate.skipped_done == 2 and [(r.stage, r.calls) for r in estimate.rows] == [("evaluation", 1)]

    llm = FakeLLM()
    outcomes = {o.gen_id: o.state for o in run_members(older, cohort, llm)}
    assert outcomes == {DRAFT: "skipped", ESSAY: "skipped", EVALUATION: "done"}
    assert len(llm.calls) == 1 and llm.calls[0]["model"] == "anthropic/claude-sonnet-4"
    assert "AI labs lack discoveries because models never daydream." in llm.calls[0]["prompt"]
    assert {k: v for k, v in snapshot(older.gens).items() if k in existing} == existing

    assert {stage: s.done for stage, s in cohort_status(older, cohort).stages.items()} == {
        "draft": 1,
        "essay": 1,
        "evaluation": 1,
    }
    assert check_store(older).healthy
    again = FakeLLM()
    run_members(older, cohort, again)
    assert again.calls == []
