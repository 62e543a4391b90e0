"""The gens store (docs/data-contract.md §6): metadata, state derived from the files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daydream.errors import StoreError
from daydream.paths import DataLayout
from daydream.store import GenMetadata, GensStore, GenState


@pytest.fixture
def store(tmp_path: Path) -> GensStore:
    return GensStore(DataLayout(tmp_path))


def _put(store: GensStore, stage: str, gen_id: str, name: str, content: str | dict) -> Path:
    path = store.path(stage, gen_id, name)  # type: ignore[arg-type]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def test_seed_metadata_only_if_absent(store: GensStore) -> None:
    meta = GenMetadata(stage="draft", gen_id="d_1", combo_id="c", template_id="t", llm_model_id="m")
    assert store.seed_metadata(meta) is True
    path = store.path("draft", "d_1", "metadata.json")
    assert json.loads(path.read_text()) == {
        "stage": "draft",
        "gen_id": "d_1",
        "origin_cohort_id": None,
        "mode": "llm",
        "template_id": "t",
        "combo_id": "c",
        "parent_gen_id": None,
        "llm_model_id": "m",
        "replicate": 1,
    }
    path.write_text('{"stage": "draft", "gen_id": "d_1", "note": "hand edited"}')
    assert store.seed_metadata(meta) is False
    assert "hand edited" in path.read_text()


def test_older_metadata_keeps_unknown_keys_and_reads_other_spellings(store: GensStore) -> None:
    _put(
        store,
        "evaluation",
        "v_1",
        "metadata.json",
        {
            "parent_gen_id": "e_1",
            "evaluation_template": "novelty",
            "model_id": "sonnet-4",
            "replicate": None,
            "function": "evaluation_response",
        },
    )
    meta = store.read_metadata("evaluation", "v_1")
    assert meta is not None
    assert (meta.stage, meta.gen_id, meta.template_id, meta.llm_model_id, meta.replicate, meta.mode) == (
        "evaluation",
        "v_1",
        "novelty",
        "sonnet-4",
        1,
        "llm",
    )
    assert meta.model_extra == {
        "evaluation_template": "novelty",
        "model_id": "sonnet-4",
        "function": "evaluation_response",
    }


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"replicate": "many"}', '{"mode": "telepathy"}'])
def test_unreadable_metadata_is_a_one_line_store_error(store: GensStore, content: str) -> None:
    path = _put(store, "draft", "d_1", "metadata.json", content)
    with pytest.raises(StoreError) as info:
        store.read_metadata("draft", "d_1")
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_identity_matching_is_tolerant_of_fields_an_older_store_did_not_record() -> None:
    recorded = GenMetadata(stage="essay", gen_id="e_1", parent_gen_id="d_1", template_id="t", combo_id="c")
    ours = GenMetadata(stage="essay", gen_id="-", parent_gen_id="D_1", template_id="t", llm_model_id="m")
    assert recorded.matches(ours.identity())
    other = GenMetadata(stage="essay", gen_id="-", parent_gen_id="d_1", template_id="t", llm_model_id="n")
    assert not ours.matches(other.identity())


def test_state_from_files(store: GensStore) -> None:
    assert store.state("draft", "d_1") == GenState.PENDING
    _put(store, "draft", "d_1", "metadata.json", {})
    _put(store, "draft", "d_1", "prompt.txt", "p")
    assert store.state("draft", "d_1") == GenState.PENDING
    _put(store, "draft", "d_1", "raw.txt", "r")
    assert store.state("draft", "d_1") == GenState.FAILED
    _put(store, "draft", "d_1", "raw_metadata.json", {"template_sha256": "aaa"})
    _put(store, "draft", "d_1", "parsed.txt", "p")
    assert store.state("draft", "d_1") == GenState.DONE
    assert store.state("draft", "d_1", "aaa") == GenState.DONE
    assert store.state("draft", "d_1", "bbb") == GenState.STALE
    store.record_error("draft", "d_2", "TemplateError", "t.txt, line 2: undefined")
    assert store.state("draft", "d_2") == GenState.FAILED
    store.clear_error("draft", "d_2")
    assert store.state("draft", "d_2") == GenState.PENDING


def test_done_without_raw_metadata_is_never_stale(store: GensStore) -> None:
    _put(store, "essay", "e_1", "parsed.txt", "an essay from the older pipeline")
    assert store.state("essay", "e_1", "whatever") == GenState.DONE


def test_iter_all_skips_hidden_and_files(store: GensStore) -> None:
    _put(store, "draft", "d_1", "metadata.json", {})
    _put(store, "essay", "e_1", "metadata.json", {})
    (store.layout.gens / "essay" / ".hidden").mkdir(parents=True)
    (store.layout.gens / "essay" / "stray.txt").write_text("x")
    assert sorted(store.iter_all()) == [("draft", "d_1"), ("essay", "e_1")]
