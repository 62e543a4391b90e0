"""Generation ids and combo ids (docs/data-contract.md §3 and §4): the vectors MUST match exactly."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from helpers import write_csv

from daydream import ids
from daydream.cohorts import build_cohort
from daydream.combos import combo_id
from daydream.errors import StoreError
from daydream.membership import read_membership
from daydream.paths import DataLayout

COMBO = "combo_v1_85128e4e5ef3"
CONCEPTS = [
    "dearth-ai-discoveries",
    "default-mode-network",
    "economic-innovation-models",
    "economic-moat",
    "generator-verifier-gap",
]
TEMPLATE = "creative-synthesis-v10"
DRAFT = "d_5ezrffv9uf3lr37d"
ESSAY = "e_sq5klak2lljyyom"


def test_contract_vectors() -> None:
    assert ids.draft_id(COMBO, TEMPLATE, "gemini_25_pro", 1) == DRAFT
    assert ids.essay_id(DRAFT, TEMPLATE, 1) == ESSAY


def test_combo_id_vector_is_order_independent() -> None:
    assert combo_id(CONCEPTS, "paragraph", 5) == COMBO
    assert combo_id(list(reversed(CONCEPTS)), "paragraph", 5) == COMBO
    assert combo_id(CONCEPTS, "sentence", 5) != COMBO
    assert combo_id(CONCEPTS, "paragraph", 4) != COMBO


def test_formula_by_hand() -> None:
    digest = hashlib.blake2b(b"x|y|z|2", digest_size=10).digest()
    assert ids.gen_id_from_signature("evaluation", "x|y|z|2") == "v_" + ids.base36(int.from_bytes(digest, "big"))
    assert ids.evaluation_id("x", "y", "z", 2) == ids.gen_id_from_signature("evaluation", "x|y|z|2")
    assert ids.base36(0) == "0" and ids.base36(35) == "z" and ids.base36(36) == "10"


def test_parts_are_stripped_and_lowered_and_replicate_is_an_int() -> None:
    assert ids.draft_id(f"  {COMBO.upper()} ", " Creative-Synthesis-V10", "GEMINI_25_PRO ", "1") == DRAFT
    assert ids.essay_id(DRAFT, TEMPLATE) == ESSAY  # replicate defaults to 1
    assert ids.essay_id(DRAFT, TEMPLATE, 2) != ESSAY
    assert ids.draft_signature(COMBO, TEMPLATE, "m", 3.0) == f"{COMBO}|{TEMPLATE}|m|3"


def test_collision_suffix_hashes_the_collision_index() -> None:
    sig = ids.essay_signature(DRAFT, TEMPLATE, 1)
    digest = hashlib.blake2b(f"{sig}|collision:1".encode(), digest_size=10).digest()
    expected = "e_" + ids.base36(int.from_bytes(digest, "big")) + "-1"
    assert ids.gen_id_from_signature("essay", sig, 1) == expected
    taken = {ESSAY}
    assert ids.resolve_gen_id("essay", sig, taken.__contains__) == expected


def test_five_taken_candidates_are_an_error() -> None:
    with pytest.raises(StoreError, match="collision") as info:
        ids.resolve_gen_id("essay", ids.essay_signature(DRAFT, TEMPLATE, 1), lambda _: True)
    assert "\n" not in str(info.value)
    assert ESSAY in str(info.value) and "-4 are taken" in str(info.value)


def test_five_squatted_candidates_fail_the_build_and_write_nothing(data_root: Path) -> None:
    layout = _one_combo_cohort(data_root, DRAFT_SPEC)
    sig = ids.draft_signature(COMBO, TEMPLATE, "gemini_25_pro", 1)
    for index in range(ids.MAX_COLLISION_INDEX + 1):
        _write_metadata(
            data_root,
            "draft",
            ids.gen_id_from_signature("draft", sig, index),
            combo_id=COMBO,
            template_id=TEMPLATE,
            llm_model_id="gpt_4o_mini",
        )
    with pytest.raises(StoreError, match="collision"):
        build_cohort(layout, "c1")
    assert not layout.membership("c1").exists()


# --- collisions seen by the cohort builder -----------------------------------------------------


def _one_combo_cohort(root: Path, spec: str) -> DataLayout:
    """The bundled catalogs plus the contract's combo and a cohort spec using it."""
    write_csv(
        root / "combo_mappings.csv",
        "combo_id,version,concept_id,description_level,k_max,created_at\n"
        + "".join(f"{COMBO},v1,{c},paragraph,5,2025-01-01T00:00:00+00:00\n" for c in CONCEPTS),
    )
    write_csv(root / "cohorts" / "c1" / "spec" / "config.yaml", spec)
    return DataLayout(root)


def _write_metadata(root: Path, stage: str, gen_id: str, **fields: object) -> Path:
    path = root / "gens" / stage / gen_id / "metadata.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"stage": stage, "gen_id": gen_id, **fields}), encoding="utf-8")
    return path


DRAFT_SPEC = f"""
axes:
  combo_id: [{COMBO}]
  draft_template: [{TEMPLATE}]
  draft_llm: [gemini_25_pro]
"""


def test_metadata_of_another_identity_moves_the_id_to_dash_one(data_root: Path) -> None:
    layout = _one_combo_cohort(data_root, DRAFT_SPEC)
    squatter = _write_metadata(
        data_root, "draft", DRAFT, combo_id=COMBO, template_id=TEMPLATE, llm_model_id="gpt_4o_mini", replicate=1
    )
    before = squatter.read_bytes()
    build_cohort(layout, "c1")
    drafts = read_membership(layout, "c1")
    expected = ids.gen_id_from_signature("draft", ids.draft_signature(COMBO, TEMPLATE, "gemini_25_pro", 1), 1)
    assert list(drafts["gen_id"]) == [expected]
    assert expected.endswith("-1")
    assert squatter.read_bytes() == before


def test_metadata_of_the_same_identity_keeps_the_plain_id(data_root: Path) -> None:
    layout = _one_combo_cohort(data_root, DRAFT_SPEC)
    _write_metadata(
        data_root,
        "draft",
        DRAFT,
        combo_id=COMBO.upper(),
        template_id=TEMPLATE,
        llm_model_id="gemini_25_pro",
        replicate=1,
        origin_cohort_id="older",
        finish_reason="stop",
    )
    build_cohort(layout, "c1")
    assert list(read_membership(layout, "c1")["gen_id"]) == [DRAFT]


def test_essays_differing_only_in_llm_get_two_ids(data_root: Path) -> None:
    layout = _one_combo_cohort(
        data_root,
        DRAFT_SPEC
        + f"""
  essay_template: [{TEMPLATE}]
  essay_llm: [gemini_25_pro, gpt_4o_mini]
""",
    )
    write_csv(
        data_root / "1_raw" / "essay_templates.csv",
        (data_root / "1_raw" / "essay_templates.csv").read_text() + f"{TEMPLATE},,,,llm,true",
    )
    (data_root / "1_raw" / "templates" / "essay" / f"{TEMPLATE}.txt").write_text("ESSAY TASK\n{{ draft_block }}\n")
    build_cohort(layout, "c1")
    essays = read_membership(layout, "c1").query("stage == 'essay'")
    assert list(essays["llm_model_id"]) == ["gemini_25_pro", "gpt_4o_mini"]
    assert list(essays["gen_id"]) == [
        ESSAY,
        ids.gen_id_from_signature("essay", ids.essay_signature(DRAFT, TEMPLATE), 1),
    ]
    for gen_id, llm in zip(essays["gen_id"], essays["llm_model_id"], strict=False):
        meta = json.loads((data_root / "gens" / "essay" / gen_id / "metadata.json").read_text())
        assert meta["llm_model_id"] == llm


def test_cohort_planner_ids_equal_the_reference_functions(data_root) -> None:
    """The planner builds signatures inline for speed; every id must equal the contract's functions."""
    from daydream.cohorts import plan_cohort
    from daydream.ids import draft_id, essay_id, evaluation_id
    from daydream.paths import DataLayout

    plan = plan_cohort(DataLayout(data_root), "demo")
    rows = plan.membership.to_dict("records")
    assert len(rows) == 66
    for row in rows:
        if row["stage"] == "draft":
            expected = draft_id(row["combo_id"], row["template_id"], row["llm_model_id"], row["replicate"])
        elif row["stage"] == "essay":
            expected = essay_id(row["parent_gen_id"], row["template_id"], row["replicate"])
        else:
            expected = evaluation_id(row["parent_gen_id"], row["template_id"], row["llm_model_id"], row["replicate"])
        assert row["gen_id"] == expected, row


def test_vectorised_plain_ids_equal_the_one_at_a_time_function() -> None:
    import random

    rng = random.Random(11)
    signatures = ["", "x", "combo_v1_85128e4e5ef3|creative-synthesis-v10|gemini_25_pro|1"]
    signatures += [f"d_{rng.getrandbits(64):x}|tmpl-{i % 7}|model|{i % 3 + 1}" for i in range(5000)]
    for stage in ("draft", "essay", "evaluation"):
        assert ids.plain_gen_ids(stage, signatures) == [ids.gen_id_from_signature(stage, s) for s in signatures]
    assert ids.plain_gen_ids("draft", [signatures[2]]) == ["d_5ezrffv9uf3lr37d"]
