"""``membership.csv``: the eight-column form, and the older two-column form filled from metadata."""

from __future__ import annotations

import pytest
from helpers import write_csv

from daydream.errors import CohortError
from daydream.membership import MEMBERSHIP_COLUMNS, read_membership
from daydream.paths import DataLayout


def _two_columns(layout: DataLayout, rows: list[tuple[str, str]]) -> None:
    write_csv(layout.membership("demo"), "stage,gen_id\n" + "\n".join(f"{s},{g}" for s, g in rows))


def test_two_column_form_is_filled_from_metadata(built_demo: DataLayout) -> None:
    full = read_membership(built_demo, "demo")
    _two_columns(built_demo, list(zip(full["stage"], full["gen_id"], strict=False)))
    filled = read_membership(built_demo, "demo")
    assert list(filled.columns) == MEMBERSHIP_COLUMNS
    assert filled.to_dict("records") == full.to_dict("records")
    assert filled["replicate"].dtype.kind == "i"


def test_two_column_combo_of_essays_and_evaluations_comes_from_the_parent_draft(built_demo: DataLayout) -> None:
    full = read_membership(built_demo, "demo")
    evaluation = full[full["stage"] == "evaluation"].iloc[0]
    _two_columns(built_demo, [("evaluation", evaluation["gen_id"])])  # parents not listed: read from gens/
    filled = read_membership(built_demo, "demo").iloc[0]
    assert filled["combo_id"] == evaluation["combo_id"] != ""
    assert filled["parent_gen_id"] == evaluation["parent_gen_id"]


def test_missing_metadata_for_a_two_column_row_names_file_and_row(built_demo: DataLayout) -> None:
    full = read_membership(built_demo, "demo")
    rows = list(zip(full["stage"], full["gen_id"], strict=False))[:3] + [("essay", "e_gone")]
    _two_columns(built_demo, rows)
    with pytest.raises(CohortError) as info:
        read_membership(built_demo, "demo")
    message = str(info.value)
    assert message.startswith(f"{built_demo.membership('demo')}, row 5, field 'gen_id'") and "e_gone" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("gen_id\nd_1", "row 1, field 'stage'"),
        ("stage,gen_id\ndraft,d_1\nessays,e_1", "row 3, field 'stage': unknown stage 'essays'"),
    ],
)
def test_malformed_membership(built_demo: DataLayout, content: str, expected: str) -> None:
    write_csv(built_demo.membership("demo"), content)
    with pytest.raises(CohortError, match=expected):
        read_membership(built_demo, "demo")


def test_unbuilt_cohort_says_how_to_build_it(layout: DataLayout) -> None:
    with pytest.raises(CohortError, match="daydream cohort build demo"):
        read_membership(layout, "demo")
