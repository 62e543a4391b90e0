"""Every construct of the older DayDreaming spec DSL compiles to the same rows, in the same order.

One fixture per construct under ``tests/fixtures/spec/<construct>/`` (written for these tests);
each test spells out the expected rows and works their count out by hand. The differences that
are deliberate are listed in docs/spec-dsl.md ("Differences from the older DSL") and tested here
as errors or as the rows DayDream gives instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from textwrap import dedent

import pandas as pd
import pytest

from daydream.errors import SpecError
from daydream.spec import compile_spec

FIXTURES = Path(__file__).parent / "fixtures" / "spec"

SKETCH, DEEP, WIDE = "idea-sketch-v1", "idea-deep-v2", "idea-wide-v3"
PLAIN, RICH = "essay-plain-v1", "essay-rich-v2"
JPLAIN, JSTRICT = "judge-plain-v1", "judge-strict-v2"
A, B, C, D = "model-a", "model-b", "model-c", "model-d"


def rows(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    return list(frame.itertuples(index=False, name=None))


def fixture(name: str, tmp_path: Path | None = None) -> Path:
    """The fixture's spec; copied to ``tmp_path`` when the test edits it."""
    source = FIXTURES / name
    if tmp_path is None:
        return next(source.glob("config.*"))
    shutil.copytree(source, tmp_path / name)
    return next((tmp_path / name).glob("config.*"))


def edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return path


def error(path: Path) -> str:
    with pytest.raises(SpecError) as info:
        compile_spec(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


# ---------------------------------------------------------------------------------------------
# axes from files, pairs from a CSV


def test_axes_from_one_column_csvs_and_pairs_from_a_two_column_csv() -> None:
    frame = compile_spec(fixture("cartesian_files"))
    judges = [(JSTRICT, D), (JPLAIN, C), (JSTRICT, C)]  # judge_pairs.csv, in file order
    # 3 draft templates x 1 essay template x 3 allowed judge pairs = 9 rows; the pair factor stands
    # where evaluation_template was declared (third), so it varies fastest.
    assert len(frame) == 3 * 1 * 3
    assert list(frame.columns) == ["draft_template", "essay_template", "evaluation_template", "evaluation_llm"]
    assert rows(frame) == [(t, PLAIN, et, el) for t in (SKETCH, DEEP, WIDE) for et, el in judges]


# ---------------------------------------------------------------------------------------------
# a tuples bundle named as the side of a pair


ALLOWED = [(DEEP, RICH, C), (SKETCH, PLAIN, A), (SKETCH, RICH, B)]  # draft_essay's pairs, as written
BUNDLE_ROWS = [
    (t, llm, rep, essay, model, JPLAIN, C) for t, essay, model in ALLOWED for llm in (A, B) for rep in (1, 2)
]


def test_pairs_side_may_be_a_tuples_bundle() -> None:
    frame = compile_spec(fixture("bundle_pairs"))
    # 3 allowed [draft_template, [essay_template, essay_llm]] pairs x 2 draft llms x 2 replicates
    # = 12 rows; the pair stands where draft_template was declared (first), so it varies slowest,
    # in the order the pairs are written; idea-wide-v3 is in no pair and drops out.
    assert len(frame) == 3 * 2 * 2
    assert list(frame.columns) == [
        "draft_template",
        "draft_llm",
        "draft_replicate",
        "essay_template",
        "essay_llm",
        "evaluation_template",
        "evaluation_llm",
    ]
    assert rows(frame) == BUNDLE_ROWS
    assert frame["draft_replicate"].dtype == "int64"


def test_bundle_side_may_be_written_flat_in_a_csv(tmp_path: Path) -> None:
    spec = fixture("bundle_pairs", tmp_path)
    (spec.parent / "items" / "allowed.csv").write_text(
        f"draft_template,essay_template,essay_llm\n{DEEP},{RICH},{C}\n{SKETCH},{PLAIN},{A}\n{SKETCH},{RICH},{B}\n"
    )
    text = spec.read_text()
    start = text.index("      allowed:\n")
    end = text.index("output:")
    spec.write_text(text[:start] + '      allowed: "@file:items/allowed.csv"\n' + text[end:])
    assert rows(compile_spec(spec)) == BUNDLE_ROWS  # the same 12 rows as the nested form


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            f"[{DEEP}, [{RICH}, {C}]]",
            f"[{DEEP}, [{RICH}, {A}]]",
            f"item(s) not among the items of tuples 'essay_bundle': [{RICH}, {A}]",
        ),
        (f"[{DEEP}, [{RICH}, {C}]]", f"[{DEEP}, {RICH}]", "expected a list of 2 values [essay_template, essay_llm]"),
        (
            f"[{DEEP}, [{RICH}, {C}]]",
            f"[{DEEP}, [{RICH}, {C}], x]",
            "has 3 value(s), expected 2 (draft_template, [essay_template, essay_llm]) or 3",
        ),
        (f"[{DEEP}, [{RICH}, {C}]]", f"[idea-new-v9, [{RICH}, {C}]]", "not among the levels of 'draft_template'"),
    ],
)
def test_bundle_side_values_are_checked(tmp_path: Path, old: str, new: str, expected: str) -> None:
    message = error(edit(fixture("bundle_pairs", tmp_path), old, new))
    assert "pairs 'draft_essay'" in message and expected in message


def test_bundle_must_exist_before_the_pair_names_it(tmp_path: Path) -> None:
    """Rules apply in the order written: a pair written before the tuples rule finds no bundle."""
    spec = fixture("bundle_pairs", tmp_path)
    text = spec.read_text()
    tuples = text[text.index("  tuples:\n") : text.index("  pairs:\n")]
    pairs = text[text.index("  pairs:\n") : text.index("output:")]
    spec.write_text(text.replace(tuples + pairs, pairs + tuples))
    message = error(spec)
    assert "pairs 'draft_essay': 'essay_bundle' is written as a list, but it is no axis and no group" in message
    assert "(groups so far: none); rules apply in the order written" in message


def test_a_bundle_is_bound_once(tmp_path: Path) -> None:
    spec = edit(
        fixture("bundle_pairs", tmp_path),
        "output:",
        f"    again:\n      left: draft_llm\n      right: essay_bundle\n"
        f"      allowed: [[{A}, [{PLAIN}, {A}]]]\noutput:",
    )
    assert "'essay_bundle' (tuples 'essay_bundle') is already bound by pairs 'draft_essay'" in error(spec)


def test_balance_counts_bundle_items(tmp_path: Path) -> None:
    spec = edit(fixture("bundle_pairs", tmp_path), "      allowed:\n", "      balance: right\n      allowed:\n")
    # essay_bundle has 3 items; the pairs use each once, so 'right' is balanced.
    assert len(compile_spec(spec)) == 12
    spec = edit(spec, "balance: right", "balance: left")
    # idea-sketch-v1 appears in 2 pairs, idea-deep-v2 in 1, idea-wide-v3 in none.
    assert f"left 'draft_template' is unbalanced: {SKETCH}=2, {DEEP}=1, {WIDE}=0" in error(spec)


# ---------------------------------------------------------------------------------------------
# specs with no free axes


def test_curated_bundles_with_no_free_axes() -> None:
    frame = compile_spec(fixture("curated_bundles"))
    # axes: {} -- 3 curated rows, one factor, in file order.
    assert rows(frame) == [
        (PLAIN, A, JPLAIN, C),
        (RICH, B, JPLAIN, C),
        (RICH, B, JSTRICT, D),
    ]


@pytest.mark.parametrize("axes", ["", "axes:\n", "axes: {}\n"])
def test_axes_may_be_missing_null_or_empty(tmp_path: Path, axes: str) -> None:
    spec = fixture("curated_bundles", tmp_path)
    spec.write_text(spec.read_text().replace("axes: {}\n", axes))
    assert len(compile_spec(spec)) == 3


# ---------------------------------------------------------------------------------------------
# ties used by name


def test_tie_used_by_name_as_a_pair_side() -> None:
    frame = compile_spec(fixture("tie_side"))
    pairs = [(A, JPLAIN, C), (A, JSTRICT, D), (B, JPLAIN, D)]
    # 2 draft templates x 3 [writer, judge] pairs = 6 rows; the writer tie keeps draft_llm and
    # essay_llm equal, model-x (no essay model) drops out.
    assert len(frame) == 2 * 3
    assert rows(frame) == [(t, w, PLAIN, w, et, el) for t in (SKETCH, DEEP) for w, et, el in pairs]


def test_subsets_may_name_a_tie_or_a_bundle(tmp_path: Path) -> None:
    spec = edit(
        fixture("tie_side", tmp_path),
        "  pairs:\n",
        f"  subsets:\n    writer: [{A}]\n    judge: [[{JSTRICT}, {D}], [{JPLAIN}, {C}]]\n  pairs:\n",
    )
    spec = edit(spec, f"        - [{B}, [{JPLAIN}, {D}]]\n", "")
    # writer keeps model-a; judge keeps 2 of its 3 items, in the bundle's own order.
    assert rows(compile_spec(spec)) == [
        (t, A, PLAIN, A, et, el) for t in (SKETCH, DEEP) for et, el in ((JPLAIN, C), (JSTRICT, D))
    ]
    spec = edit(spec, f"writer: [{A}]", "writer: [model-x]")
    assert f"subsets 'writer': item(s) not among the items of ties 'writer': model-x (items: {A}, {B})" in error(spec)


def test_a_tied_axis_is_named_through_its_tie(tmp_path: Path) -> None:
    """Naming one tied axis as a side is refused with the way out (the older DSL dropped the other)."""
    spec = edit(fixture("tie_side", tmp_path), "      left: writer", "      left: draft_llm")
    message = error(spec)
    assert "axis 'draft_llm' is already bound by ties 'writer'" in message and "'writer' as a side" in message


TIE_AXES = f"""
axes:
  draft_llm: [{A}, {B}]
  draft_template: [{SKETCH}, {DEEP}]
  essay_llm: [{B}, {A}]
"""


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # named apart: the tie stands where its first axis (draft_llm) is, so it varies slowest
        ("same_model", [(A, SKETCH, A), (A, DEEP, A), (B, SKETCH, B), (B, DEEP, B)]),
        # named after essay_llm: it stands where essay_llm is, so draft_template varies slowest
        ("essay_llm", [(A, SKETCH, A), (B, SKETCH, B), (A, DEEP, A), (B, DEEP, B)]),
    ],
)
def test_tie_position(tmp_path: Path, name: str, expected: list[tuple[str, ...]]) -> None:
    spec = tmp_path / "config.yaml"
    spec.write_text(dedent(TIE_AXES) + f"rules:\n  ties:\n    {name}: [draft_llm, essay_llm]\n")
    # 2 common models x 2 draft templates = 4 rows, common levels in draft_llm's order
    assert rows(compile_spec(spec)) == expected


# ---------------------------------------------------------------------------------------------
# more


def test_pair_named_as_the_side_of_a_later_pair() -> None:
    frame = compile_spec(fixture("nested_pairs"))
    # 2 [[draft, essay], evaluation template] pairs x 2 evaluation llms = 4 rows
    assert rows(frame) == [(DEEP, RICH, JSTRICT, llm) for llm in (C, D)] + [
        (SKETCH, PLAIN, JPLAIN, llm) for llm in (C, D)
    ]


def test_json_spec() -> None:
    frame = compile_spec(fixture("json_spec"))
    # 2 allowed pairs, in the order written
    assert rows(frame) == [(DEEP, RICH), (SKETCH, PLAIN)]


def test_tuples_introduce_axes_after_the_declared_ones(tmp_path: Path) -> None:
    spec = tmp_path / "config.yaml"
    spec.write_text(
        dedent(f"""
        axes:
          draft_template: [{SKETCH}, {DEEP}]
          draft_llm: [{A}]
        rules:
          tuples:
            judge:
              axes: [evaluation_template, evaluation_llm]
              items: [[{JPLAIN}, {C}], [{JSTRICT}, {D}]]
            essay:
              axes: [essay_template]
              items: [{PLAIN}, {RICH}]
        output:
          field_order: [draft_template, draft_llm, essay_template, evaluation_template, evaluation_llm]
    """)
    )
    frame = compile_spec(spec)
    # 2 templates x 1 llm x 2 judges x 2 essays = 8 rows; the introduced groups rank in rule order
    # (judge, then essay), so essay varies fastest, whatever field_order says about columns.
    assert len(frame) == 2 * 1 * 2 * 2
    assert rows(frame)[:4] == [
        (SKETCH, A, PLAIN, JPLAIN, C),
        (SKETCH, A, RICH, JPLAIN, C),
        (SKETCH, A, PLAIN, JSTRICT, D),
        (SKETCH, A, RICH, JSTRICT, D),
    ]
