"""The spec DSL compiler (docs/data-contract.md §5): axes, rules, product, output, errors."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import numpy as np
import pandas as pd
import pytest

from daydream.errors import SpecError
from daydream.limits import MAX_PLAN_ROWS
from daydream.spec import compile_spec, load_spec

FIXTURES = Path(__file__).parent / "fixtures" / "specs"

CSV10 = "creative-synthesis-v10"
GWERN = "gwern_original"
LINKS = "parsed-from-links-v1"
GEMINI = "gemini_25_pro"
DEEPSEEK = "deepseek_r1_f"
SONNET = "sonnet-4"
VERIFY = "daydreaming-verification-v2"
METRICS = "creativity-metrics"
COMBO_A = "combo_v1_85128e4e5ef3"
COMBO_B = "combo_v1_1f2e3d4c5b6a"


def write_spec(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> Path:
    for name, content in (files or {}).items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dedent(content).lstrip("\n"), encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def rows(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    return list(frame.itertuples(index=False, name=None))


def compile_text(tmp_path: Path, text: str, files: dict[str, str] | None = None, **kwargs: object) -> pd.DataFrame:
    return compile_spec(write_spec(tmp_path, text, files), **kwargs)  # type: ignore[arg-type]


def spec_error(tmp_path: Path, text: str, files: dict[str, str] | None = None, **kwargs: object) -> str:
    """The message of the SpecError the spec raises, checked to be one line naming the spec file."""
    path = write_spec(tmp_path, text, files)
    with pytest.raises(SpecError) as info:
        compile_spec(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


TWO_AXES = """
axes:
  draft_template: [creative-synthesis-v10, gwern_original]
  draft_llm: [gemini_25_pro, deepseek_r1_f]
"""


# ---------------------------------------------------------------------------------------------
# Axes and the product


def test_product_order_is_axes_order_with_last_axis_fastest(tmp_path: Path) -> None:
    frame = compile_text(tmp_path, TWO_AXES)
    assert list(frame.columns) == ["draft_template", "draft_llm"]
    assert rows(frame) == [(CSV10, GEMINI), (CSV10, DEEPSEEK), (GWERN, GEMINI), (GWERN, DEEPSEEK)]


def test_values_are_strings_and_replicates_int64(tmp_path: Path) -> None:
    frame = compile_text(
        tmp_path,
        """
        axes:
          draft_template: [creative-synthesis-v10]
          essay_template: [10, 2.5]
          draft_replicate: [1, "2"]
    """,
    )
    assert rows(frame) == [(CSV10, "10", 1), (CSV10, "10", 2), (CSV10, "2.5", 1), (CSV10, "2.5", 2)]
    assert frame["draft_replicate"].dtype == np.int64
    assert all(isinstance(v, str) for v in frame["essay_template"])


def test_absent_replicate_columns_are_not_added(tmp_path: Path) -> None:
    frame = compile_text(tmp_path, TWO_AXES)
    assert not [c for c in frame.columns if c.endswith("replicate")]


def test_levels_are_deduplicated_keeping_first_occurrence(tmp_path: Path) -> None:
    frame = compile_text(
        tmp_path,
        """
        axes:
          draft_llm: [deepseek_r1_f, gemini_25_pro, deepseek_r1_f, gemini_25_pro]
    """,
    )
    assert list(frame["draft_llm"]) == [DEEPSEEK, GEMINI]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("llms.csv", "draft_llm\ndeepseek_r1_f\ngemini_25_pro\n\ndeepseek_r1_f\n"),
        (
            "llms.txt",
            "# generation models\ndeepseek_r1_f\n\n  gemini_25_pro  \n# deepseek_r1_f is listed once\ndeepseek_r1_f\n",
        ),
        ("llms.yaml", "- deepseek_r1_f\n- gemini_25_pro\n- deepseek_r1_f\n"),
        ("llms.yml", "[deepseek_r1_f, gemini_25_pro]\n"),
        ("llms.json", json.dumps([DEEPSEEK, GEMINI, GEMINI])),
    ],
)
def test_axis_from_file_every_format(tmp_path: Path, name: str, content: str) -> None:
    frame = compile_text(
        tmp_path,
        f"""
        axes:
          draft_llm: "@file:lists/{name}"
    """,
        {f"lists/{name}": content},
    )
    assert list(frame["draft_llm"]) == [DEEPSEEK, GEMINI]


def test_several_column_csv_axis_binds_the_header_columns(tmp_path: Path) -> None:
    frame = compile_text(
        tmp_path,
        """
        axes:
          draft_template: [creative-synthesis-v10]
          judge: "@file:judges.csv"
          draft_llm: [gemini_25_pro]
    """,
        {
            "judges.csv": """
        evaluation_template,evaluation_llm
        daydreaming-verification-v2,sonnet-4
        creativity-metrics,gemini_25_pro
        daydreaming-verification-v2,sonnet-4
    """
        },
    )
    assert list(frame.columns) == ["draft_template", "evaluation_template", "evaluation_llm", "draft_llm"]
    assert rows(frame) == [(CSV10, VERIFY, SONNET, GEMINI), (CSV10, METRICS, GEMINI, GEMINI)]


def test_realistic_fixture_uses_every_source_and_section() -> None:
    frame = compile_spec(FIXTURES / "realistic" / "config.yaml")
    assert list(frame.columns) == [
        "combo_id",
        "draft_template",
        "draft_llm",
        "essay_template",
        "essay_llm",
        "evaluation_template",
        "evaluation_llm",
        "draft_replicate",
    ]
    assert len(frame) == 2 * 2 * 2 * 3 * 2
    assert rows(frame)[0] == (COMBO_A, CSV10, GEMINI, CSV10, GEMINI, VERIFY, SONNET, 1)
    assert rows(frame)[-1] == (COMBO_B, GWERN, DEEPSEEK, LINKS, DEEPSEEK, METRICS, DEEPSEEK, 2)
    assert not frame.duplicated().any()


def test_missing_file_names_spec_axis_and_path(tmp_path: Path) -> None:
    message = spec_error(
        tmp_path,
        """
        axes:
          combo_id: "@file:missing/combos.csv"
    """,
    )
    assert "axis 'combo_id'" in message
    assert str(tmp_path / "missing" / "combos.csv") in message


def test_unsupported_file_type(tmp_path: Path) -> None:
    message = spec_error(tmp_path, 'axes:\n  draft_llm: "@file:llms.xlsx"\n')
    assert "unsupported file type" in message and "llms.xlsx" in message


def test_bad_file_contents_name_the_axis_and_the_file(tmp_path: Path) -> None:
    message = spec_error(tmp_path, 'axes:\n  draft_llm: "@file:llms.json"\n', {"llms.json": '{"a": 1}'})
    assert "axis 'draft_llm'" in message and "llms.json" in message and "expected a list" in message


def test_empty_axis_and_bad_values(tmp_path: Path) -> None:
    assert "has no levels" in spec_error(tmp_path, "axes:\n  draft_llm: []\n")
    assert "quote it" in spec_error(tmp_path, "axes:\n  draft_llm: [yes]\n")
    assert "expected a list" in spec_error(tmp_path, "axes:\n  draft_llm: gemini_25_pro\n")


@pytest.mark.parametrize("bad", ["0", "-1", "1.5", "two"])
def test_replicate_values_must_be_positive_integers(tmp_path: Path, bad: str) -> None:
    message = spec_error(tmp_path, f"axes:\n  essay_replicate: [1, {bad}]\n")
    assert "axis 'essay_replicate'" in message and "positive integers" in message


def test_replicate_aliases_are_normalised(tmp_path: Path) -> None:
    frame = compile_text(
        tmp_path,
        """
        axes:
          draft_template: [creative-synthesis-v10]
          draft_template_replicate: [1, 2]
          evaluation_template_replicate: [3]
        output:
          field_order: [evaluation_template_replicate, draft_replicate]
    """,
    )
    assert list(frame.columns) == ["evaluation_replicate", "draft_replicate", "draft_template"]
    assert rows(frame) == [(3, 1, CSV10), (3, 2, CSV10)]
    assert (frame.dtypes.iloc[:2] == np.int64).all()


def test_alias_and_canonical_name_together_is_an_error(tmp_path: Path) -> None:
    message = spec_error(
        tmp_path,
        """
        axes:
          draft_replicate: [1]
          draft_template_replicate: [2]
    """,
    )
    assert "declared twice" in message and "draft_template_replicate" in message


# ---------------------------------------------------------------------------------------------
# subsets


def test_subsets_keep_levels_in_axis_order(tmp_path: Path) -> None:
    frame = compile_text(
        tmp_path,
        """
        axes:
          draft_template: [creative-synthesis-v10, gwern_original, deliberate-rolling-thread-v2]
        rules:
          subsets:
            draft_template: [deliberate-rolling-thread-v2, creative-synthesis-v10]
    """,
    )
    assert list(frame["draft_template"]) == [CSV10, "deliberate-rolling-thread-v2"]


def test_subsets_value_not_a_level_lists_values_and_levels(tmp_path: Path) -> None:
    message = spec_error(
        tmp_path,
        TWO_AXES
        + dedent("""
        rules:
          subsets:
            draft_llm: [gemini_25_pro, gpt_5, claude_4]
    """),
    )
    assert "subsets 'draft_llm'" in message
    assert "gpt_5, claude_4" in message
    assert f"levels: {GEMINI}, {DEEPSEEK}" in message


def test_subsets_empty_result_is_an_error(tmp_path: Path) -> None:
    message = spec_error(tmp_path, TWO_AXES + "rules:\n  subsets:\n    draft_llm: []\n")
    assert "subsets 'draft_llm'" in message and "keeps no levels" in message


def test_subsets_unknown_axis(tmp_path: Path) -> None:
    message = spec_error(tmp_path, TWO_AXES + "rules:\n  subsets:\n    essay_llm: [gemini_25_pro]\n")
    assert "unknown axis 'essay_llm'" in message


def test_subsets_from_file(tmp_path: Path) -> None:
    frame = compile_text(
        tmp_path,
        TWO_AXES
        + dedent("""
        rules:
          subsets:
            draft_llm: "@file:keep.txt"
    """),
        {"keep.txt": "deepseek_r1_f\n"},
    )
    assert set(frame["draft_llm"]) == {DEEPSEEK}


# ---------------------------------------------------------------------------------------------
# ties


TIED = """
axes:
  draft_llm: [deepseek_r1_f, gemini_25_pro, sonnet-4]
  draft_template: [creative-synthesis-v10]
  essay_llm: [gemini_25_pro, qwen3, deepseek_r1_f]
"""


def test_ties_move_together_on_common_levels_in_first_axis_order(tmp_path: Path) -> None:
    frame = compile_text(tmp_path, TIED + "rules:\n  ties:\n    same_model: [draft_llm, essay_llm]\n")
    assert list(frame.columns) == ["draft_llm", "draft_template", "essay_llm"]
    assert rows(frame) == [(DEEPSEEK, CSV10, DEEPSEEK), (GEMINI, CSV10, GEMINI)]


def test_ties_accept_the_axes_mapping_form(tmp_path: Path) -> None:
    frame = compile_text(tmp_path, TIED + "rules:\n  ties:\n    same_model: {axes: [essay_llm, draft_llm]}\n")
    assert list(frame["essay_llm"]) == [GEMINI, DEEPSEEK]


def test_ties_without_common_levels_is_an_error(tmp_path: Path) -> None:
    message = spec_error(
        tmp_path,
        """
        axes:
          draft_llm: [deepseek_r1_f]
          essay_llm: [gemini_25_pro]
        rules:
          ties:
            same_model: [draft_llm, essay_llm]
    """,
    )
    assert "ties 'same_model'" in message and "no common levels" in message
    assert "draft_llm: deepseek_r1_f; essay_llm: gemini_25_pro" in message


def test_binding_an_axis_twice_is_an_error(tmp_path: Path) -> None:
    message = spec_error(
        tmp_path,
        TIED
        + dedent("""
        rules:
          ties:
            same_model: [draft_llm, essay_llm]
          tuples:
            again:
              axes: [draft_llm, draft_template]
              items: [[gemini_25_pro, creative-synthesis-v10]]
    """),
    )
    assert "tuples 'again'" in message and "already bound by ties 'same_model'" in message


# ---------------------------------------------------------------------------------------------
# rule order and the two forms of rules


def test_subsets_before_ties_differs_from_after(tmp_path: Path) -> None:
    """A subset naming a level the tie drops works before the tie and fails after it."""
    before = compile_text(
        tmp_path,
        TIED
        + dedent("""
        rules:
          - subsets:
              draft_llm: [sonnet-4, gemini_25_pro]
          - ties:
              same_model: [draft_llm, essay_llm]
    """),
    )
    assert rows(before) == [(GEMINI, CSV10, GEMINI)]
    message = spec_error(
        tmp_path,
        TIED
        + dedent("""
        rules:
          ties:
            same_model: [draft_llm, essay_llm]
          subsets:
            draft_llm: [sonnet-4, gemini_25_pro]
    """),
    )
    assert "subsets 'draft_llm'" in message and "sonnet-4" in message


JUDGE_TUPLE = """
  - tuples:
      judge:
        axes: [evaluation_template, evaluation_llm]
        items: [[daydreaming-verification-v2, sonnet-4], [creativity-metrics, gemini_25_pro]]
"""
JUDGE_SUBSET = """
  - subsets:
      evaluation_llm: [gemini_25_pro]
"""


def test_subsets_after_a_tuple_filter_its_rows_but_before_it_find_no_axis(tmp_path: Path) -> None:
    axes = "axes:\n  draft_template: [creative-synthesis-v10]\nrules:"
    assert rows(compile_text(tmp_path, axes + JUDGE_TUPLE + JUDGE_SUBSET)) == [(CSV10, METRICS, GEMINI)]
    message = spec_error(tmp_path, axes + JUDGE_SUBSET + JUDGE_TUPLE)
    assert "subsets 'evaluation_llm'" in message and "unknown axis 'evaluation_llm'" in message


def test_list_form_allows_a_section_twice(tmp_path: Path) -> None:
    frame = compile_text(
        tmp_path,
        TIED
        + dedent("""
        rules:
          - subsets:
              essay_llm: [gemini_25_pro, deepseek_r1_f]
          - ties:
              same_model: [draft_llm, essay_llm]
          - subsets:
              draft_llm: [gemini_25_pro]
    """),
    )
    assert rows(frame) == [(GEMINI, CSV10, GEMINI)]


def test_duplicate_section_key_in_the_mapping_form_is_an_error(tmp_path: Path) -> None:
    message = spec_error(
        tmp_path,
        TWO_AXES
        + dedent("""
        rules:
          subsets:
            draft_llm: [gemini_25_pro]
          subsets:
            draft_template: [gwern_original]
    """),
    )
    assert "duplicate key 'subsets'" in message and "line 8" in message


# ---------------------------------------------------------------------------------------------
# pairs


PAIR_AXES = """
axes:
  draft_template: [creative-synthesis-v10, gwern_original]
  draft_llm: [gemini_25_pro]
  essay_template: [creative-synthesis-v10, parsed-from-links-v1]
"""


def pair_rule(allowed: str, balance: str | None = None) -> str:
    return (
        PAIR_AXES
        + dedent(f"""
        rules:
          pairs:
            draft_essay:
              left: draft_template
              right: essay_template
              allowed: {allowed}
        """)
        + (f"      balance: {balance}\n" if balance else "")
    )


def test_pairs_replace_two_axes_by_the_allowed_pairs(tmp_path: Path) -> None:
    frame = compile_text(
        tmp_path,
        pair_rule("[[gwern_original, parsed-from-links-v1], [creative-synthesis-v10, creative-synthesis-v10]]"),
    )
    assert list(frame.columns) == ["draft_template", "draft_llm", "essay_template"]
    assert rows(frame) == [(GWERN, GEMINI, LINKS), (CSV10, GEMINI, CSV10)]


UNEVEN = (
    "[[creative-synthesis-v10, creative-synthesis-v10], [creative-synthesis-v10, parsed-from-links-v1], "
    "[gwern_original, parsed-from-links-v1]]"
)
LEFT_EVEN = "[[creative-synthesis-v10, creative-synthesis-v10], [gwern_original, creative-synthesis-v10]]"
RIGHT_EVEN = "[[creative-synthesis-v10, creative-synthesis-v10], [creative-synthesis-v10, parsed-from-links-v1]]"
BOTH_EVEN = "[[creative-synthesis-v10, creative-synthesis-v10], [gwern_original, parsed-from-links-v1]]"


@pytest.mark.parametrize(
    ("balance", "allowed", "count"),
    [
        ("left", LEFT_EVEN, 2),
        ("right", RIGHT_EVEN, 2),
        ("both", BOTH_EVEN, 2),
        ("left", BOTH_EVEN, 2),
    ],
)
def test_pairs_balance_passes(tmp_path: Path, balance: str, allowed: str, count: int) -> None:
    assert len(compile_text(tmp_path, pair_rule(allowed, balance))) == count


@pytest.mark.parametrize(
    ("balance", "allowed", "expected"),
    [
        ("left", UNEVEN, f"left 'draft_template' is unbalanced: {CSV10}=2, {GWERN}=1"),
        ("left", RIGHT_EVEN, f"left 'draft_template' is unbalanced: {CSV10}=2, {GWERN}=0"),
        ("right", UNEVEN, f"right 'essay_template' is unbalanced: {CSV10}=1, {LINKS}=2"),
        ("right", LEFT_EVEN, f"right 'essay_template' is unbalanced: {CSV10}=2, {LINKS}=0"),
        ("both", LEFT_EVEN, "right 'essay_template' is unbalanced"),
        ("both", RIGHT_EVEN, "left 'draft_template' is unbalanced"),
    ],
)
def test_pairs_balance_fails_naming_the_counts(tmp_path: Path, balance: str, allowed: str, expected: str) -> None:
    message = spec_error(tmp_path, pair_rule(allowed, balance))
    assert "pairs 'draft_essay'" in message and expected in message


def test_pairs_both_reports_both_sides(tmp_path: Path) -> None:
    message = spec_error(tmp_path, pair_rule(UNEVEN, "both"))
    assert "left 'draft_template' is unbalanced" in message and "right 'essay_template' is unbalanced" in message


@pytest.mark.parametrize(
    ("allowed", "balance", "expected"),
    [
        ("[[gwern_original, essay-copy-v1]]", None, "not among the levels of 'essay_template': essay-copy-v1"),
        ("[[gwern_original]]", None, "item 1 ['gwern_original'] has 1 value(s), expected 2"),
        ("[]", None, "no items given"),
        (BOTH_EVEN, "even", "balance must be one of left, right, both"),
    ],
)
def test_pairs_errors(tmp_path: Path, allowed: str, balance: str | None, expected: str) -> None:
    message = spec_error(tmp_path, pair_rule(allowed, balance))
    assert "pairs 'draft_essay'" in message and expected in message


def test_pairs_missing_key(tmp_path: Path) -> None:
    message = spec_error(tmp_path, PAIR_AXES + "rules:\n  pairs:\n    p: {left: draft_template, allowed: []}\n")
    assert "pairs 'p': missing 'right'" in message


def test_pairs_allowed_from_file(tmp_path: Path) -> None:
    frame = compile_text(
        tmp_path,
        pair_rule('"@file:pairs.csv"', "both"),
        {
            "pairs.csv": f"""
        draft,essay
        {CSV10},{CSV10}
        {GWERN},{LINKS}
    """
        },
    )
    assert list(frame["essay_template"]) == [CSV10, LINKS]


# ---------------------------------------------------------------------------------------------
# tuples


def test_tuples_inline_and_axes_only_named_in_tuples_come_last(tmp_path: Path) -> None:
    frame = compile_text(
        tmp_path,
        """
        axes:
          essay_template: [creative-synthesis-v10, parsed-from-links-v1]
          draft_template: [creative-synthesis-v10]
        rules:
          tuples:
            judge:
              axes: [evaluation_template, evaluation_llm]
              items:
                - [daydreaming-verification-v2, sonnet-4]
                - [creativity-metrics, gemini_25_pro]
                - [daydreaming-verification-v2, sonnet-4]
            essay_bundle:
              axes: [essay_template, essay_llm]
              items:
                - [parsed-from-links-v1, deepseek_r1_f]
    """,
    )
    assert list(frame.columns) == [
        "essay_template",
        "draft_template",
        "evaluation_template",
        "evaluation_llm",
        "essay_llm",
    ]
    assert rows(frame) == [(LINKS, CSV10, VERIFY, SONNET, DEEPSEEK), (LINKS, CSV10, METRICS, GEMINI, DEEPSEEK)]


def judge_spec(items: str) -> str:
    """A spec whose tuples rule 'judge' binds evaluation_template (new) to evaluation_llm (declared)."""
    return dedent(f"""
        axes:
          evaluation_llm: [sonnet-4, gemini_25_pro]
        rules:
          tuples:
            judge:
              axes: [evaluation_template, evaluation_llm]
              items: {items}
    """)


def test_tuples_items_from_csv_map_header_names_to_axes(tmp_path: Path) -> None:
    frame = compile_text(
        tmp_path,
        judge_spec('"@file:items/judges.csv"'),
        {
            "items/judges.csv": f"""
        evaluation_llm,evaluation_template
        {SONNET},{VERIFY}
        {GEMINI},{METRICS}
    """
        },
    )
    assert rows(frame) == [(SONNET, VERIFY), (GEMINI, METRICS)]


def test_tuples_items_from_yaml_file(tmp_path: Path) -> None:
    frame = compile_text(
        tmp_path,
        """
        axes:
          draft_template: [creative-synthesis-v10]
        rules:
          tuples:
            generation:
              axes: [draft_llm, essay_llm]
              items: "@file:models.yaml"
    """,
        {"models.yaml": "- [gemini_25_pro, gemini_25_pro]\n- [deepseek_r1_f, gemini_25_pro]\n"},
    )
    assert rows(frame) == [(CSV10, GEMINI, GEMINI), (CSV10, DEEPSEEK, GEMINI)]


@pytest.mark.parametrize(
    ("items", "files", "expected"),
    [
        (
            "[[daydreaming-verification-v2, sonnet-4, extra]]",
            {},
            "item 1 ['daydreaming-verification-v2', 'sonnet-4', 'extra'] has 3 value(s), expected 2",
        ),
        ("[sonnet-4]", {}, "item 1 ['sonnet-4'] has 1 value(s), expected 2"),
        ('"@file:judges.csv"', {"judges.csv": "evaluation_llm\nsonnet-4\n"}, "has 1 value(s), expected 2"),
        ('"@file:judges.csv"', {"judges.csv": "a,b,c\nx,y,z\n"}, "has 3 value(s), expected 2"),
        (
            "[[daydreaming-verification-v2, gpt_5], [creativity-metrics, o3]]",
            {},
            "not among the levels of 'evaluation_llm': gpt_5, o3 (levels: sonnet-4, gemini_25_pro)",
        ),
        ("{a: b}", {}, "expected a list of items"),
    ],
)
def test_tuples_errors(tmp_path: Path, items: str, files: dict[str, str], expected: str) -> None:
    message = spec_error(tmp_path, judge_spec(items), files)
    assert "tuples 'judge'" in message and expected in message


def test_declared_empty_axis_takes_its_levels_and_place_from_a_tuple(tmp_path: Path) -> None:
    frame = compile_text(
        tmp_path,
        """
        axes:
          evaluation_template: null
          draft_template: [creative-synthesis-v10]
          evaluation_llm: null
        rules:
          tuples:
            judge:
              axes: [evaluation_llm, evaluation_template]
              items: [[sonnet-4, daydreaming-verification-v2]]
    """,
    )
    assert list(frame.columns) == ["evaluation_template", "draft_template", "evaluation_llm"]


def test_declared_empty_axis_without_a_rule_is_an_error(tmp_path: Path) -> None:
    message = spec_error(tmp_path, "axes:\n  draft_template: [creative-synthesis-v10]\n  essay_llm: null\n")
    assert "axis 'essay_llm'" in message and "declared empty" in message


# ---------------------------------------------------------------------------------------------
# catalogs and injected axes


KNOWN = {
    "draft_template": [CSV10, GWERN],
    "draft_llm": [GEMINI, DEEPSEEK],
    "evaluation_llm": {SONNET},
}


def test_unknown_ids_are_all_listed(tmp_path: Path) -> None:
    message = spec_error(
        tmp_path,
        """
        axes:
          draft_template: [creative-synthesis-v10, creative-synthesis-v99]
          draft_llm: [foo, gemini_25_pro, bar]
          essay_template: [not-checked]
    """,
        known_ids=KNOWN,
    )
    assert (
        "axis 'draft_template': unknown id(s) not in the catalogs: creative-synthesis-v99; "
        "axis 'draft_llm': unknown id(s) not in the catalogs: foo, bar"
    ) in message


def test_unknown_ids_in_tuple_items_and_files(tmp_path: Path) -> None:
    message = spec_error(
        tmp_path,
        """
        axes:
          draft_llm: "@file:llms.txt"
        rules:
          tuples:
            judge:
              axes: [evaluation_template, evaluation_llm]
              items: [[daydreaming-verification-v2, sonnet-4], [creativity-metrics, gpt_5]]
    """,
        {"llms.txt": "gemini_25_pro\n"},
        known_ids=KNOWN,
    )
    assert "axis 'evaluation_llm': unknown id(s) not in the catalogs: gpt_5" in message
    message = spec_error(
        tmp_path, 'axes:\n  draft_llm: "@file:llms.txt"\n', {"llms.txt": "o3\ngemini_25_pro\nr2\n"}, known_ids=KNOWN
    )
    assert "axis 'draft_llm': unknown id(s) not in the catalogs: o3, r2" in message


def test_known_ids_pass(tmp_path: Path) -> None:
    assert len(compile_text(tmp_path, TWO_AXES, known_ids=KNOWN)) == 4


def test_injected_axes_come_first_and_the_spec_wins(tmp_path: Path) -> None:
    frame = compile_text(
        tmp_path,
        TWO_AXES,
        injected_axes={"combo_id": [COMBO_A, COMBO_B], "draft_llm": ["o3"]},
        known_ids={"combo_id": []},
    )
    assert list(frame.columns) == ["combo_id", "draft_template", "draft_llm"]
    assert len(frame) == 8 and set(frame["draft_llm"]) == {GEMINI, DEEPSEEK}
    assert rows(frame)[:2] == [(COMBO_A, CSV10, GEMINI), (COMBO_A, CSV10, DEEPSEEK)]


def test_injected_axis_fills_a_declared_empty_axis_in_place(tmp_path: Path) -> None:
    frame = compile_text(
        tmp_path,
        """
        axes:
          draft_template: [creative-synthesis-v10]
          combo_id: null
        combos: {k_max: 2, description_level: paragraph}
        rules:
          subsets:
            combo_id: [combo_v1_1f2e3d4c5b6a]
    """,
        injected_axes={"combo_id": [COMBO_A, COMBO_B]},
    )
    assert rows(frame) == [(CSV10, COMBO_B)]


# ---------------------------------------------------------------------------------------------
# output


def test_field_order_then_remaining_axes_in_axis_order(tmp_path: Path) -> None:
    frame = compile_text(
        tmp_path,
        """
        axes:
          draft_template: [creative-synthesis-v10]
          draft_llm: [gemini_25_pro]
          essay_template: [creative-synthesis-v10]
          essay_llm: [gemini_25_pro]
        output:
          field_order: [essay_llm, draft_llm]
    """,
    )
    assert list(frame.columns) == ["essay_llm", "draft_llm", "draft_template", "essay_template"]


# ---------------------------------------------------------------------------------------------
# load_spec and the file as a whole


def test_load_spec_returns_the_mapping_and_ignores_combos(tmp_path: Path) -> None:
    path = write_spec(tmp_path, TWO_AXES + "combos:\n  k_max: 3\n  concepts: [default-mode-network]\n")
    assert load_spec(path)["combos"]["k_max"] == 3
    assert len(compile_spec(path)) == 4


SHAPE_ERRORS = [
    # top level
    (
        TWO_AXES + "seed: 17\n",
        "top level: unknown key(s) 'seed' (known: axes, rules, output, combos, replicates, tournament)",
    ),
    (TWO_AXES + "replicates:\n  draft_template: 0\n", "replicates 'draft_template': expected a positive integer"),
    (TWO_AXES + "replicates:\n  draft_llm: 2\n", "replicates 'draft_llm': not a stage axis"),
    (TWO_AXES + "output:\n  shuffle: true\n", "output: unknown key(s) 'shuffle'"),
    ("rules: {}\n", "missing 'axes'"),
    ("axes: {}\n", "no axes given"),
    ("axes: [draft_llm]\n", "axes: expected a mapping"),
    ("- axes\n", "expected a mapping at the top level"),
    ("", "empty spec"),
    # rules
    (TWO_AXES + "rules:\n  shuffles: {}\n", "rules: unknown key(s) 'shuffles'"),
    (TWO_AXES + "rules:\n  - subsets: {}\n    ties: {}\n", "rules item 1: expected a mapping with one section"),
    (TWO_AXES + "rules:\n  - [subsets]\n", "rules item 1: expected a mapping with one section"),
    (TWO_AXES + "rules: subsets\n", "expected a mapping of sections or a list"),
    (TWO_AXES + "rules:\n  subsets: [draft_llm]\n", "rules.subsets: expected a mapping"),
    (TIED + "rules:\n  ties:\n    same_model: [draft_llm]\n", "ties 'same_model': needs at least 2 axes"),
    (
        TIED + "rules:\n  ties:\n    same_model: [draft_llm, draft_llm]\n",
        "ties 'same_model': axis 'draft_llm' named more",
    ),
    (
        TIED + "rules:\n  ties:\n    same_model: [draft_llm, evaluation_llm]\n",
        "ties 'same_model': unknown axis 'evaluation_llm'",
    ),
    # output
    (
        TWO_AXES + "output:\n  field_order: [draft_llm, essay_llm]\n",
        "output.field_order: field(s) that are not axes: essay_llm (axes: draft_template, draft_llm)",
    ),
    (TWO_AXES + "output:\n  field_order: [draft_replicate]\n", "field(s) that are not axes: draft_replicate"),
    (TWO_AXES + "output:\n  field_order: [draft_llm, draft_llm]\n", "listed more than once: draft_llm"),
    (TWO_AXES + "output:\n  field_order: draft_llm\n", "output.field_order: expected a list of axis names"),
]


@pytest.mark.parametrize(("text", "expected"), SHAPE_ERRORS)
def test_shape_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in spec_error(tmp_path, text)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    message = spec_error(
        tmp_path,
        """
        axes:
          draft_template: [creative-synthesis-v10
          draft_llm: [gemini_25_pro]
        rules: {}
    """,
    )
    assert "YAML syntax error" in message and "line " in message
    path = write_spec(tmp_path, "axes:\n  draft_llm: [a]\n    bad: indent\n")
    with pytest.raises(SpecError, match=r"config\.yaml, line 3: YAML syntax error"):
        load_spec(path)


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="spec file not found"):
        compile_spec(tmp_path / "nope.yaml")


def test_row_limit_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_PLAN_ROWS.env, "3")
    message = spec_error(tmp_path, TWO_AXES)
    assert "compiles to 4 rows (draft_template=2 x draft_llm=2)" in message
    assert "over the limit of 3" in message and MAX_PLAN_ROWS.env in message


# ---------------------------------------------------------------------------------------------
# scale


def test_two_hundred_thousand_rows(tmp_path: Path) -> None:
    combos = [f"combo_v1_{i:012x}" for i in range(25_000)]
    frame = compile_text(
        tmp_path,
        """
        axes:
          combo_id: "@file:combos.csv"
          draft_template: [creative-synthesis-v10, gwern_original]
          draft_llm: [gemini_25_pro, deepseek_r1_f]
          essay_template: [creative-synthesis-v10]
          evaluation_template: [daydreaming-verification-v2]
          evaluation_llm: [sonnet-4, gemini_25_pro]
          draft_replicate: [1]
    """,
        {"combos.csv": "combo_id\n" + "\n".join(combos + combos[:10]) + "\n"},
        known_ids={"combo_id": combos, "draft_llm": [GEMINI, DEEPSEEK]},
    )
    assert len(frame) == 25_000 * 8
    assert isinstance(frame["combo_id"].dtype, pd.CategoricalDtype)
    for index in (0, 1, 7, 8, 123_457, len(frame) - 1):
        combo, rest = divmod(index, 8)
        template, rest = divmod(rest, 4)
        llm, judge = divmod(rest, 2)
        assert rows(frame.iloc[[index]]) == [
            (
                combos[combo],
                (CSV10, GWERN)[template],
                (GEMINI, DEEPSEEK)[llm],
                CSV10,
                VERIFY,
                (SONNET, GEMINI)[judge],
                1,
            )
        ]
    assert frame["combo_id"].value_counts().eq(8).all()


def test_daydreaming_replicates_key_becomes_replicate_axes(tmp_path: Path) -> None:
    """Older DayDreaming specs say ``replicates: {draft_template: 2}``; they must compile unchanged."""
    path = write_spec(tmp_path, TWO_AXES + "replicates:\n  draft_template: 2\n  evaluation: 3\n")
    frame = compile_spec(path)
    assert len(frame) == 4 * 2 * 3
    assert sorted(frame["draft_replicate"].unique().tolist()) == [1, 2]
    assert sorted(frame["evaluation_replicate"].unique().tolist()) == [1, 2, 3]
    assert "draft_template_replicate" not in frame.columns
