"""``membership.csv``: the eight-column form, and the older two-column form filled from metadata."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from helpers import write_csv

from daydream import membership
from daydream.errors import CohortError, DayDreamError
from daydream.membership import MEMBERSHIP_COLUMNS, read_membership
from daydream.paths import DataLayout
from daydream.store import GenMetadata, GensStore


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


# --- the older two-column form at size: read fast, exactly as one file at a time ----------------------


def _one_at_a_time(layout: DataLayout, cohort_id: str) -> pd.DataFrame:
    """The reference: each listed generation read on its own through the store, its combo up its parents."""
    store = GensStore(layout)
    listed = pd.read_csv(layout.membership(cohort_id), dtype=str, keep_default_na=False)

    def combo_of(meta: GenMetadata | None, depth: int = 0) -> str:
        if meta is None or meta.stage == "draft" or meta.combo_id or not meta.parent_gen_id or depth > 2:
            return (meta.combo_id if meta else None) or ""
        for stage in ("draft",) if meta.stage == "essay" else ("essay", "draft"):
            try:
                parent = store.read_metadata(stage, meta.parent_gen_id)  # type: ignore[arg-type]
            except DayDreamError:
                parent = None
            if parent is not None:
                return combo_of(parent, depth + 1)
        return ""

    rows = []
    for stage, gen_id in zip(listed["stage"], listed["gen_id"], strict=True):
        meta = store.read_metadata(stage, gen_id)
        assert meta is not None
        rows.append(
            [stage, gen_id, cohort_id, meta.parent_gen_id or "", combo_of(meta), meta.template_id or ""]
            + [meta.llm_model_id or "", meta.replicate]
        )
    return pd.DataFrame(rows, columns=MEMBERSHIP_COLUMNS)


def _older_spellings(layout: DataLayout, full: pd.DataFrame) -> None:
    """Rewrite some metadata the way the older pipeline wrote it: other key names, no replicate/mode."""
    for i, row in enumerate(full.itertuples()):
        path = layout.gen_dir(row.stage, row.gen_id) / "metadata.json"
        meta = json.loads(path.read_text())
        if i % 3 == 0:
            meta[f"{row.stage}_template"] = meta.pop("template_id")
        if i % 4 == 0 and meta.get("llm_model_id"):
            meta["model_id"] = meta.pop("llm_model_id")
        if i % 2 == 0:
            meta.pop("replicate", None)
            meta.pop("mode", None)
        path.write_text(json.dumps(meta))


@pytest.mark.parametrize(("chunk", "threads"), [(2, True), (2, False), (1024, False)])
def test_two_column_form_reads_as_one_file_at_a_time_would(
    built_demo: DataLayout, monkeypatch: pytest.MonkeyPatch, chunk: int, threads: bool
) -> None:
    """Evaluations listed before their parents, some parents not listed at all, one parent broken and
    one missing (their combos unknown), the older spellings: the same frame as the reference, read in
    chunks by threads (as when the files come from disk) or one after another; and the user's file is
    never rewritten."""
    monkeypatch.setattr(membership, "READ_CHUNK", chunk)
    monkeypatch.setattr(membership, "FROM_DISK_S", 0.0 if threads else 1.0)
    full = read_membership(built_demo, "demo")
    _older_spellings(built_demo, full)
    evaluations = full[full["stage"] == "evaluation"]
    essays = full[full["stage"] == "essay"]
    broken, missing = essays.iloc[0]["gen_id"], essays.iloc[1]["gen_id"]
    (built_demo.gen_dir("essay", broken) / "metadata.json").write_text("{not json")
    shutil.rmtree(built_demo.gen_dir("essay", missing))
    listed = [(s, g) for s, g in zip(evaluations["stage"], evaluations["gen_id"], strict=True)]
    listed += [("draft", g) for g in full.loc[full["stage"] == "draft", "gen_id"][:3]]
    _two_columns(built_demo, listed)
    before = built_demo.membership("demo").read_bytes()
    filled = read_membership(built_demo, "demo")
    pd.testing.assert_frame_equal(filled, _one_at_a_time(built_demo, "demo"))
    orphans = filled[filled["parent_gen_id"].isin([broken, missing])]
    assert len(orphans) and (orphans["combo_id"] == "").all()
    assert (filled.loc[~filled.index.isin(orphans.index), "combo_id"] != "").all()
    assert built_demo.membership("demo").read_bytes() == before


def test_two_column_form_reports_the_first_bad_row_when_read_in_chunks(
    built_demo: DataLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(membership, "READ_CHUNK", 2)
    monkeypatch.setattr(membership, "FROM_DISK_S", 0.0)  # the threads: errors still come in row order
    full = read_membership(built_demo, "demo")
    rows = list(zip(full["stage"], full["gen_id"], strict=True))
    rows = rows[:7] + [("essay", "e_gone1")] + rows[7:12] + [("draft", "d_gone2")]
    _two_columns(built_demo, rows)
    with pytest.raises(CohortError, match=r"row 9, field 'gen_id'.*e_gone1"):
        read_membership(built_demo, "demo")
    (built_demo.gen_dir(*rows[3]) / "metadata.json").write_text("[]")
    with pytest.raises(DayDreamError, match="expected a JSON object"):
        read_membership(built_demo, "demo")
