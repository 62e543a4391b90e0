"""Side by side with the older pipeline's aggregator, on a store in its layout.

The expected table is re-derived here from the older aggregator's documented rules
(``scripts/aggregate_scores.py`` and ``utils/evaluation_scores.py`` of DayDreaming: "parsed.txt-only:
no parser maps or raw fallback"), written out below as plain code over the files:

- one row per evaluation gen id (a cohort's membership; or every directory of ``gens/evaluation``);
- ``score`` is the float of the last line of the stripped ``parsed.txt``; no or an empty
  ``parsed.txt`` is error ``missing parsed.txt``; a last line that is no float is error
  ``Invalid parsed.txt: <ValueError>``;
- ``evaluation_template`` / ``evaluation_llm_model`` / ``parent_gen_id`` / ``origin_cohort_id`` come
  from the evaluation's ``metadata.json``; ``generation_template`` and ``generation_model`` from the
  essay's, the model falling back to the draft's; ``combo_id`` and ``draft_template`` from the draft's;
- ``evaluation_response_path`` / ``generation_response_path`` are the resolved paths of the
  evaluation's and the essay's ``parsed.txt``; ``input_mode`` / ``copied_from`` from the evaluation's
  ``raw_metadata.json``.

DayDream must give the same rows, the same scores, the same errors for the missing ones, and so the
same means.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from reports_fixtures import older_layout_store  # noqa: E402

from daydream.cli import main  # noqa: E402
from daydream.paths import DataLayout  # noqa: E402
from daydream.reports import build_cohort_reports, build_cross_experiment  # noqa: E402
from daydream.reports.scores import OLDER_COLUMNS  # noqa: E402

COMPARED = [
    "parent_gen_id",
    "evaluation_template",
    "evaluation_llm_model",
    "combo_id",
    "draft_template",
    "generation_template",
    "generation_model",
    "origin_cohort_id",
    "evaluation_response_path",
    "generation_response_path",
    "input_mode",
    "copied_from",
]


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def older_row(root: Path, gen_id: str) -> dict:
    """One row as the older aggregator's rules make it (see the module docstring)."""
    gens = root / "gens"
    meta = _json(gens / "evaluation" / gen_id / "metadata.json")
    parsed_path = gens / "evaluation" / gen_id / "parsed.txt"
    text = parsed_path.read_text(encoding="utf-8").strip() if parsed_path.is_file() else ""
    score, error = None, None
    if not text:
        error = "missing parsed.txt"
    else:
        last = text.splitlines()[-1].strip()
        try:
            score = float(last)
        except ValueError as exc:
            error = f"Invalid parsed.txt: {exc}"
    parent = _text(meta.get("parent_gen_id"))
    essay = _json(gens / "essay" / parent / "metadata.json") if parent else {}
    draft_id = _text(essay.get("parent_gen_id"))
    draft = _json(gens / "draft" / draft_id / "metadata.json") if draft_id else {}
    raw_meta = _json(gens / "evaluation" / gen_id / "raw_metadata.json")
    return {
        "gen_id": gen_id,
        "score": score,
        "error": error,
        "parent_gen_id": parent,
        "evaluation_template": _text(meta.get("template_id")),
        "evaluation_llm_model": _text(meta.get("llm_model_id")),
        "combo_id": _text(draft.get("combo_id") or meta.get("combo_id")),
        "draft_template": _text(draft.get("template_id") or draft.get("draft_template")),
        "generation_template": _text(essay.get("template_id") or essay.get("essay_template_id")),
        "generation_model": _text(essay.get("llm_model_id") or draft.get("llm_model_id")),
        "origin_cohort_id": _text(meta.get("origin_cohort_id")),
        "evaluation_response_path": str(parsed_path.resolve()),
        "generation_response_path": str((gens / "essay" / parent / "parsed.txt").resolve()) if parent else "",
        "input_mode": _text(raw_meta.get("input_mode")),
        "copied_from": _text(raw_meta.get("copied_from")),
    }


def daydream_rows(csv: Path) -> dict[str, dict]:
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    return {row["gen_id"]: row for row in frame.to_dict("records")}


FILLED_IN = {
    # where the older table is empty and DayDream says more, on purpose (docs/reports.md):
    "no_model_key": {"evaluation_llm_model"},  # the older metadata spelling 'model_id' is read too
    # no directory: the older table knows nothing; DayDream has the membership's plan and its lineage
    "no_dir": {
        "parent_gen_id",
        "evaluation_template",
        "evaluation_llm_model",
        "combo_id",
        "draft_template",
        "generation_template",
        "generation_model",
        "generation_response_path",
    },
}


def assert_same_as_older(store, ours: dict[str, dict], gen_ids: list[str]) -> None:
    assert sorted(ours) == sorted(gen_ids)  # the same rows
    for gen_id in gen_ids:
        want, got, outcome = older_row(store.root, gen_id), ours[gen_id], store.evaluations[gen_id]
        if want["score"] is None:  # the same scores
            assert got["score"] == "", (gen_id, outcome)
        else:
            assert float(got["score"]) == want["score"], (gen_id, outcome)
        assert got["error"] == (want["error"] or ""), (gen_id, outcome)  # the same errors
        for column in COMPARED:
            if column in FILLED_IN.get(outcome, ()):
                assert want[column] == "" and got[column] != "", (gen_id, outcome, column)
            else:
                assert got[column] == want[column], (gen_id, outcome, column, got[column], want[column])
    for gen_id in (g for g in gen_ids if store.evaluations[g] in FILLED_IN):
        plan = store.plan[gen_id]
        assert (ours[gen_id]["evaluation_llm_model"], ours[gen_id]["parent_gen_id"]) == (
            plan["llm_model_id"],
            plan["parent_gen_id"],
        )


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return older_layout_store(tmp_path_factory.mktemp("older"))


def test_the_older_store_has_every_kind_of_evaluation(store):
    outcomes = list(store.evaluations.values())
    assert len(outcomes) > 300
    for kind in ("scored", "unparsed", "truncated", "pending", "no_dir", "invalid_parsed", "empty_parsed"):
        assert outcomes.count(kind) >= 3, kind


@pytest.mark.parametrize("cohort", ["old-full", "old-two"])
def test_cohort_table_matches_the_older_aggregator(store, cohort):
    layout = DataLayout.at(store.root)
    result = build_cohort_reports(layout, cohort)
    ours = daydream_rows(layout.reports(cohort) / "parsing" / "aggregated_scores.csv")
    members = [g for s, g in store.members[cohort] if s == "evaluation"]
    if cohort == "old-two":  # a two-column membership can only list generations with a metadata.json
        members = [g for g in members if store.evaluations[g] != "no_dir"]
    assert_same_as_older(store, ours, members)
    # the same means: every scored row of the older table counts (no stale, every scale known here)
    older = pd.DataFrame([older_row(store.root, g) for g in members])
    scored = older[older["score"].notna()]
    final = pd.read_csv(layout.reports(cohort) / "summary" / "final_results.csv", keep_default_na=False)
    overall = final[final["grouping"] == "overall"].iloc[0]
    assert overall["count"] == len(scored) == result.headline.evaluations_used
    assert overall["mean"] == pytest.approx(scored["score"].mean())
    per_template = final[final["grouping"] == "evaluation_template"].set_index("evaluation_template")
    for template, group in scored.groupby("evaluation_template"):
        assert per_template.loc[template, "mean"] == pytest.approx(group["score"].mean())


def test_cross_experiment_table_matches_the_older_script(store):
    layout = DataLayout.at(store.root)
    build_cross_experiment(layout)
    ours = daydream_rows(layout.cross_experiment / "aggregated_scores.csv")
    on_disk = sorted(p.name for p in (store.root / "gens" / "evaluation").iterdir() if p.is_dir())
    assert_same_as_older(store, ours, on_disk)


def test_older_columns_come_first_with_their_names(store):
    layout = DataLayout.at(store.root)
    build_cohort_reports(layout, "old-full")
    header = (layout.reports("old-full") / "parsing" / "aggregated_scores.csv").read_text().splitlines()[0]
    columns = header.split(",")
    assert columns[: len(OLDER_COLUMNS)] == OLDER_COLUMNS
    assert columns[:15] == [  # the older table's own order (its cohort aggregated_scores.csv)
        "gen_id",
        "parent_gen_id",
        "evaluation_template",
        "evaluation_llm_model",
        "score",
        "error",
        "evaluation_response_path",
        "combo_id",
        "draft_template",
        "generation_template",
        "generation_model",
        "origin_cohort_id",
        "generation_response_path",
        "input_mode",
        "copied_from",
    ]


def test_cross_experiment_columns_in_the_older_scripts_order(store):
    layout = DataLayout.at(store.root)
    build_cross_experiment(layout)
    header = (layout.cross_experiment / "aggregated_scores.csv").read_text().splitlines()[0].split(",")
    assert header[:15] == [  # scripts/aggregate_scores.py's order
        "parent_gen_id",
        "gen_id",
        "evaluation_template",
        "evaluation_llm_model",
        "score",
        "error",
        "evaluation_response_path",
        "combo_id",
        "draft_template",
        "generation_template",
        "generation_model",
        "generation_response_path",
        "origin_cohort_id",
        "input_mode",
        "copied_from",
    ]
    assert sorted(header) == sorted(OLDER_COLUMNS + [c for c in header if c not in OLDER_COLUMNS])


def test_unparsed_rows_and_reparse_raw(store, capsys):
    """raw.txt without parsed.txt is ``unparsed`` (no score, a hint); ``--reparse-raw`` scores it, marked."""
    layout = DataLayout.at(store.root)
    members = {g for _, g in store.members["old-full"]}
    unparsed = [g for g, o in store.evaluations.items() if o == "unparsed" and g in members]
    assert main(["report", "old-full", "--data-root", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert f"{len(unparsed)} evaluations have raw.txt but no parsed.txt" in out and "--reparse-raw" in out
    table = layout.reports("old-full") / "parsing" / "aggregated_scores.csv"
    rows = daydream_rows(table)
    for gen_id in unparsed:
        assert rows[gen_id]["status"] == "unparsed" and rows[gen_id]["score"] == ""
        assert "without a new call" in rows[gen_id]["hint"] and rows[gen_id]["error"] == "missing parsed.txt"
    strict_mean = pd.read_csv(layout.reports("old-full") / "summary/final_results.csv")["mean"][0]

    assert main(["report", "old-full", "--reparse-raw", "--data-root", str(store.root)]) == 0
    assert "scores come from re-parsing raw.txt (--reparse-raw)" in capsys.readouterr().out
    rows = daydream_rows(table)
    readable = [g for g in unparsed if "SCORE:" in (store.root / "gens/evaluation" / g / "raw.txt").read_text()]
    assert 0 < len(readable) < len(unparsed)
    for gen_id in unparsed:
        row = rows[gen_id]
        if gen_id in readable:
            assert (row["status"], row["reparsed"], row["error"]) == ("ok", "True", "")
            assert float(row["score"]) == float((store.root / "gens/evaluation" / gen_id / "raw.txt").read_text()[-1])
        else:
            assert row["status"] == "parse_error" and "re-parsing raw.txt failed" in row["error_detail"]
    assert all(rows[g]["reparsed"] == "False" for g in rows if g not in readable)
    # marked in the tables that count scores
    final = pd.read_csv(layout.reports("old-full") / "summary/final_results.csv")
    assert final["n_reparsed"][0] == len(readable) and final["mean"][0] != strict_mean
    pivot = pd.read_csv(layout.reports("old-full") / "summary/generation_scores_pivot.csv")
    assert pivot["n_reparsed"].sum() == len(readable)
    reliability = pd.read_csv(layout.reports("old-full") / "analysis/judge_reliability.csv")
    assert reliability["reparsed"].sum() == len(readable)
    page = (layout.reports("old-full") / "index.html").read_text(encoding="utf-8")
    assert f"{len(readable)} scores come from re-parsing raw.txt" in page
    build_cohort_reports(layout, "old-full")  # leave the strict report behind for the other tests
