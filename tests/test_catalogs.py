"""Raw catalogs (docs/data-contract.md §1): every malformed catalog is one clear error, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import tree, write_csv

from daydream.catalogs import Catalogs, load_concepts, load_models, read_template_text
from daydream.cohorts import build_cohort
from daydream.errors import CatalogError, TemplateError
from daydream.paths import DataLayout

CONCEPTS = "concepts_metadata.csv"
DRAFTS = "draft_templates.csv"
ESSAYS = "essay_templates.csv"
EVALS = "evaluation_templates.csv"
MODELS = "llm_models.csv"


def _edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / "1_raw" / name
    text = path.read_text(encoding="utf-8")
    assert old in text, (name, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _append(root: Path, name: str, row: str) -> None:
    path = root / "1_raw" / name
    path.write_text(path.read_text(encoding="utf-8") + row + "\n", encoding="utf-8")


# (file, how to break it, row named, column named); rows count the header as row 1
BROKEN = {
    "missing required column": (
        CONCEPTS,
        lambda r: _edit(r, CONCEPTS, "concept_id,name", "concept,name"),
        1,
        "concept_id",
    ),
    "empty id": (DRAFTS, lambda r: _edit(r, DRAFTS, "links-brainstorm-v2,", ","), 4, "template_id"),
    "duplicate id": (MODELS, lambda r: _append(r, MODELS, "gpt_5,openai/gpt-5"), 11, "id"),
    "bad boolean": (CONCEPTS, lambda r: _edit(r, CONCEPTS, "Data Flywheel,true", "Data Flywheel,maybe"), 5, "active"),
    "bad tier": (MODELS, lambda r: _edit(r, MODELS, "reasoning,paid,", "reasoning,premium,"), 4, "tier"),
    "bad generator": (ESSAYS, lambda r: _edit(r, ESSAYS, ",,copy,", ",,paste,"), 5, "generator"),
    "copy on a draft template": (DRAFTS, lambda r: _edit(r, DRAFTS, "identity,llm", "identity,copy"), 4, "generator"),
    "unknown parser": (EVALS, lambda r: _edit(r, EVALS, "complex,llm", "complicated,llm"), 5, "parser"),
    "evaluation template without parser": (EVALS, lambda r: _edit(r, EVALS, "complex,llm", ",llm"), 5, "parser"),
    "negative price": (MODELS, lambda r: _edit(r, MODELS, "true,3,15", "true,-3,15"), 8, "price_prompt_per_mtok"),
    "non-numeric price": (
        MODELS,
        lambda r: _edit(r, MODELS, "true,3,15", "true,3,cheap"),
        8,
        "price_completion_per_mtok",
    ),
    "empty model string": (MODELS, lambda r: _edit(r, MODELS, "gpt_5,openai/gpt-5", "gpt_5,"), 9, "model"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_malformed_catalog_is_one_line_naming_file_row_column_and_nothing_is_written(
    data_root: Path, case: str
) -> None:
    name, breaker, row, column = BROKEN[case]
    breaker(data_root)
    before = tree(data_root)
    with pytest.raises(CatalogError) as info:
        build_cohort(DataLayout(data_root), "demo")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(data_root / "1_raw" / name)), message
    assert f"row {row}" in message and f"field '{column}'" in message, message
    assert tree(data_root) == before


def test_too_many_cells_names_row_and_first_extra_column(data_root: Path) -> None:
    _append(data_root, CONCEPTS, "new-concept,New, with a comma,true")
    with pytest.raises(CatalogError) as info:
        Catalogs.load(DataLayout(data_root))
    assert str(data_root / "1_raw" / CONCEPTS) in str(info.value)
    assert "row 19" in str(info.value) and "column 4" in str(info.value)


def test_missing_catalog_file(data_root: Path) -> None:
    (data_root / "1_raw" / MODELS).unlink()
    with pytest.raises(CatalogError, match="file not found") as info:
        Catalogs.load(DataLayout(data_root))
    assert str(data_root / "1_raw" / MODELS) in str(info.value)


def test_booleans_in_any_case_extra_columns_and_blank_cells(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "1_raw" / CONCEPTS,
        """
concept_id,name,active,notes
a,A,TRUE,kept but ignored
b,B,No,
c,C,yEs,
d,D,0,
e,E,,
""",
    )
    loaded = load_concepts(tmp_path / "1_raw" / CONCEPTS)
    assert {k: v.active for k, v in loaded.items()} == {"a": True, "b": False, "c": True, "d": False, "e": True}


def test_bundled_catalogs_tiers_generators_and_parsers(layout: DataLayout) -> None:
    catalogs = Catalogs.load(layout)
    assert catalogs.models["gemini_20_flash_f"].tier == "free"  # blank tier, model ends in :free
    assert catalogs.models["llama_33_70b"].tier == "paid"
    assert catalogs.models["llama_33_70b"].price_prompt_per_mtok is None
    assert catalogs.templates["essay"]["draft-as-essay"].is_copy
    assert catalogs.templates["essay"]["essay-expand-v3"].parser == "identity"  # blank parser
    assert "qwen3_235b_f" not in catalogs.evaluation_model_ids
    assert "gemini_20_flash_f" not in catalogs.generation_model_ids  # inactive
    assert "bisociation" not in catalogs.active_concept_ids


def test_tier_defaults_from_free_suffix(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / MODELS,
        """
id,model,tier
a,vendor/model:free,
b,vendor/model,
c,vendor/model:free,PAID
""",
    )
    assert {k: m.tier for k, m in load_models(path).items()} == {"a": "free", "b": "paid", "c": "paid"}


def test_copy_essay_template_needs_no_file(data_root: Path) -> None:
    assert not (data_root / "1_raw" / "templates" / "essay" / "draft-as-essay.txt").exists()
    Catalogs.load(DataLayout(data_root))


# --- concept descriptions -----------------------------------------------------------------------


@pytest.fixture
def described(tmp_path: Path) -> Catalogs:
    write_csv(
        tmp_path / "1_raw" / CONCEPTS,
        "concept_id,name\nall,All levels\npar,Paragraph only\nsen,Sentence only\nnone,Name only\nblank,Blank paragraph",
    )
    for stage in ("draft", "essay"):
        write_csv(tmp_path / "1_raw" / f"{stage}_templates.csv", "template_id\nt")
    write_csv(tmp_path / "1_raw" / EVALS, "template_id,parser\nt,in_last_line")
    write_csv(tmp_path / "1_raw" / MODELS, "id,model\nm,vendor/m")
    files = {
        ("sentence", "all"): "S all",
        ("paragraph", "all"): "P all",
        ("article", "all"): "A all",
        ("paragraph", "par"): "P par",
        ("sentence", "sen"): "S sen",
        ("paragraph", "blank"): "  \n\n",
        ("sentence", "blank"): "S blank",
    }
    for (level, concept), text in files.items():
        path = tmp_path / "1_raw" / "concepts" / f"descriptions-{level}" / f"{concept}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return Catalogs.load(DataLayout(tmp_path))


@pytest.mark.parametrize(
    ("concept", "level", "expected"),
    [
        ("all", "article", "A all"),
        ("all", "sentence", "S all"),
        ("all", "paragraph", "P all"),
        ("par", "article", "P par"),
        ("par", "sentence", "P par"),
        ("sen", "article", "S sen"),
        ("sen", "paragraph", "S sen"),
        ("none", "article", "Name only"),
        ("blank", "paragraph", "S blank"),
    ],
)
def test_description_fallback_chain(described: Catalogs, concept: str, level: str, expected: str) -> None:
    assert described.concept_text(concept, level) == expected


def test_unknown_level_is_an_error(described: Catalogs) -> None:
    with pytest.raises(CatalogError, match="unknown description level"):
        described.concept_text("all", "chapter")


def test_template_text_drops_exactly_one_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    for raw, expected in [("a\n\n", "a\n"), ("a\n", "a"), ("a", "a"), ("a\r\n", "a")]:
        path.write_bytes(raw.encode())
        assert read_template_text(path) == expected
    with pytest.raises(TemplateError, match="template file not found"):
        read_template_text(tmp_path / "missing.txt")
