"""Cohort reports on the small synthetic store: every table's numbers against a hand computation.

The store is described in ``reports_fixtures.small_store``; the arithmetic is written next to each
assertion so a reader can check it without running anything.
"""

from __future__ import annotations

import math
import struct
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from reports_fixtures import StoreBuilder, legacy_store, small_store  # noqa: E402

from daydream.paths import DataLayout  # noqa: E402
from daydream.reports import build_cohort_reports, build_cross_experiment  # noqa: E402
from daydream.store import GensStore  # noqa: E402

TABLES = [
    "parsing/aggregated_scores.csv",
    "summary/generation_scores_pivot.csv",
    "summary/evaluation_model_template_pivot.csv",
    "summary/final_results.csv",
    "summary/perfect_score_paths.csv",
    "summary/cost.csv",
    "summary/stage_summary.csv",
    "analysis/evaluator_agreement.csv",
    "analysis/variance_decomposition.csv",
    "analysis/judge_reliability.csv",
    # issue 14: intervals, comparisons, judge bias checks, diversity (tests/test_reports_science.py)
    "summary/leaderboard.csv",
    "analysis/comparisons.csv",
    "analysis/judge_calibration.csv",
    "analysis/length_bias.csv",
    "analysis/length_controlled_means.csv",
    "analysis/self_preference.csv",
    "analysis/position_bias.csv",
    "analysis/near_duplicates.csv",
    "analysis/distinct_ideas.csv",
    "analysis/saturation_curve.csv",
]
CHARTS = ["score_distribution", "model_template_heatmap", "judge_agreement"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return small_store(tmp_path_factory.mktemp("small"))


@pytest.fixture(scope="module")
def report(store):
    result = build_cohort_reports(DataLayout(store.root), "c1")
    return store, result


def read(store, name: str, cohort: str = "c1") -> pd.DataFrame:
    return pd.read_csv(store.root / "cohorts" / cohort / "reports" / name, keep_default_na=False, na_values=[""])


def by_id(frame: pd.DataFrame, key: str = "gen_id") -> dict:
    return {row[key]: row for row in frame.to_dict("records")}


# -- aggregated scores ---------------------------------------------------------------------------


def test_every_evaluation_is_a_row_with_its_lineage(report):
    store, _ = report
    scores = by_id(read(store, "parsing/aggregated_scores.csv"))
    assert set(scores) == set(store.ev.values())
    row = scores[store.ev["a_b_j1"]]
    assert (row["evaluation_template"], row["evaluation_llm"], row["score"], row["scale"], row["implied_scale"]) == (
        "judge-b",
        "j1",
        8.0,
        10.0,
        10.0,
    )
    assert row["score_normalized"] == pytest.approx(0.8)
    assert (row["combo_id"], row["draft_gen_id"], row["draft_template"], row["essay_template"]) == (
        store.combo_a,
        store.d_a,
        "dt-v1",
        "et-v1",
    )
    assert (row["generation_model"], row["essay_llm"], row["replicate"], row["stale"]) == ("gen1", "gen1", 1, False)
    assert row["evaluation_path"] == f"gens/evaluation/{store.ev['a_b_j1']}"
    assert row["document_path"] == f"gens/essay/{store.e_a}/parsed.txt"
    # in_last_line without a written scale: implied scale 9, normalised 7/9
    row = scores[store.ev["a_a_j1"]]
    assert math.isnan(row["scale"]) and row["implied_scale"] == 9.0
    assert row["score_normalized"] == pytest.approx(7 / 9)


def test_a_draft_judged_directly_has_no_essay(report):
    store, _ = report
    row = by_id(read(store, "parsing/aggregated_scores.csv"))[store.ev["d_a_j1"]]
    assert row["document_stage"] == "draft" and row["draft_gen_id"] == store.d_a
    assert pd.isna(row["essay_template"]) and pd.isna(row["essay_gen_id"])
    assert row["document_path"] == f"gens/draft/{store.d_a}/parsed.txt"
    assert row["combo_id"] == store.combo_a and row["generation_model"] == "gen1"


def test_failed_and_pending_evaluations_are_error_rows(report):
    store, _ = report
    scores = by_id(read(store, "parsing/aggregated_scores.csv"))
    failed, pending = scores[store.ev["b_b_j1"]], scores[store.ev["b_b_j2"]]
    # DayDream's reason is in error_detail; error keeps the older aggregator's text for a row without parsed.txt
    assert failed["status"] == "parse_error" and "no score" in failed["error_detail"] and pd.isna(failed["score"])
    assert pending["status"] == "missing" and "pending" in pending["error_detail"] and pd.isna(pending["score"])
    assert failed["error"] == pending["error"] == "missing parsed.txt"
    assert all(pd.isna(r["error"]) and pd.isna(r["error_detail"]) for k, r in scores.items() if r["status"] == "ok")


def test_stale_lineage_is_flagged(report):
    store, _ = report
    scores = by_id(read(store, "parsing/aggregated_scores.csv"))
    assert scores[store.ev["s_a_j1"]]["stale"]  # its essay's template changed since it ran
    assert sum(bool(r["stale"]) for r in scores.values()) == 1


# -- summaries -----------------------------------------------------------------------------------


def test_final_results_overall_by_hand(report):
    store, _ = report
    final = read(store, "summary/final_results.csv")
    overall = final[final["grouping"] == "overall"].iloc[0]
    # usable: 7/9, 9/9, 8/10, 6/10 (e_a); 3/9, 5/9 (e_b); 4/9 (d_a). Stale 9/9 of e_s left out.
    assert overall["count"] == 7
    assert overall["mean"] == pytest.approx(42 / 7)
    assert overall["min"] == 3 and overall["max"] == 9
    norms = [7 / 9, 1, 0.8, 0.6, 3 / 9, 5 / 9, 4 / 9]
    assert overall["mean_normalized"] == pytest.approx(sum(norms) / 7)
    assert overall["std"] == pytest.approx(pd.Series([7, 9, 8, 6, 3, 5, 4]).std())
    assert overall["high_share"] == pytest.approx(2 / 7)  # 9/9 and 8/10 are >= 0.8
    assert overall["low_share"] == 0  # 3/9 = 0.33 > 0.3
    assert (overall["n_stale"], overall["n_errors"]) == (1, 2)


def test_final_results_groupings(report):
    store, _ = report
    final = read(store, "summary/final_results.csv")
    assert set(final["grouping"]) == {
        "overall",
        "draft_template",
        "essay_template",
        "generation_model",
        "evaluation_llm",
        "evaluation_template",
        "combo_id",
        "draft_template+generation_model",
        "essay_template+generation_model",
    }
    row = final[(final["grouping"] == "generation_model") & (final["generation_model"] == "gen2")].iloc[0]
    assert (row["count"], row["mean"], row["n_errors"]) == (2, 4.0, 2)  # e_b: 3 and 5; one parse error, one pending
    row = final[(final["grouping"] == "evaluation_llm") & (final["evaluation_llm"] == "j1")].iloc[0]
    assert (row["count"], row["mean"]) == (4, 5.5)  # 7, 8, 3, 4
    row = final[(final["grouping"] == "essay_template+generation_model") & (final["key"] == "et-v1 | gen1")].iloc[0]
    assert (row["count"], row["mean"], row["n_stale"]) == (4, 7.5, 1)


def test_generation_scores_pivot(report):
    store, _ = report
    pivot = by_id(read(store, "summary/generation_scores_pivot.csv"), "document_gen_id")
    e_a = pivot[store.e_a]
    assert (e_a["j1__judge-a"], e_a["j2__judge-a"], e_a["j1__judge-b"], e_a["j2__judge-b"]) == (7, 9, 8, 6)
    assert (e_a["n"], e_a["min"], e_a["max"], e_a["mean"]) == (4, 6, 9, 7.5)
    assert e_a["mean_normalized"] == pytest.approx((7 / 9 + 1 + 0.8 + 0.6) / 4)
    e_b = pivot[store.e_b]
    assert (e_b["n"], e_b["n_errors"], e_b["essay_template"], e_b["generation_model"]) == (2, 2, "copy", "gen2")
    stale = pivot[store.e_s]
    assert stale["stale"] and stale["n"] == 0 and stale["n_stale"] == 1 and pd.isna(stale["mean"])
    assert list(pivot)[0] == store.e_a  # best first


def test_evaluation_model_template_pivot(report):
    store, _ = report
    pivot = by_id(read(store, "summary/evaluation_model_template_pivot.csv"), "evaluation_llm")
    assert pivot["j1"]["judge-a"] == pytest.approx((7 + 3 + 4) / 3)
    assert (pivot["j1"]["judge-b"], pivot["j2"]["judge-a"], pivot["j2"]["judge-b"]) == (8, 7, 6)
    assert (pivot["j1"]["n__judge-a"], pivot["j1"]["n_stale"], pivot["j2"]["n_errors"]) == (3, 1, 1)


def test_perfect_score_paths(report):
    store, _ = report
    perfect = read(store, "summary/perfect_score_paths.csv")
    assert set(perfect["evaluation_gen_id"]) == {store.ev["a_a_j2"], store.ev["s_a_j1"]}  # 9 of 9
    row = perfect[perfect["evaluation_gen_id"] == store.ev["a_a_j2"]].iloc[0]
    assert row["draft_path"] == f"gens/draft/{store.d_a}/parsed.txt"
    assert row["essay_path"] == f"gens/essay/{store.e_a}/parsed.txt"
    assert row["evaluation_path"] == f"gens/evaluation/{store.ev['a_a_j2']}/raw.txt"
    assert len(row["all_evaluation_paths"].split(";")) == 4
    for path in [row["draft_path"], row["essay_path"], *row["all_evaluation_paths"].split(";")]:
        assert (store.root / path).is_file()
    assert bool(perfect[perfect["evaluation_gen_id"] == store.ev["s_a_j1"]].iloc[0]["stale"])


def test_cost_table_sums(report):
    store, _ = report
    cost = read(store, "summary/cost.csv")
    rows = {(r["stage"], r["llm_model_id"]): r for r in cost.to_dict("records")}
    total = rows[("all", "all")]
    # reported: drafts 0.01, essays 0.02 (e_s), evaluations j1 5 x 0.001, j2 0.002 + 0.001
    assert total["cost_usd"] == pytest.approx(0.038)
    # estimated from catalog prices: e_a (1000 x $1 + 2000 x $2)/1M = 0.005; j1 a/b (1000 x 0.5 + 1000 x 1.5)/1M = 0.002
    assert total["cost_estimated_usd"] == pytest.approx(0.007)
    assert total["cost_total_usd"] == pytest.approx(0.045)
    assert total["calls"] == 13  # 2 drafts, 2 llm essays (the copy essay is no call), 9 judged evaluations
    assert total["calls_cost_unknown"] == 2  # gen2's draft and j2's judge-b: no price, no reported cost
    free = rows[("draft", "gen2")]
    assert pd.isna(free["cost_usd"]) and pd.isna(free["cost_estimated_usd"]) and free["calls_cost_unknown"] == 1
    j1 = rows[("evaluation", "j1")]
    assert (j1["calls"], j1["prompt_tokens"], j1["completion_tokens"]) == (6, 3500, 1250)
    assert j1["cost_usd"] == pytest.approx(0.005) and j1["cost_estimated_usd"] == pytest.approx(0.002)
    per_model = cost[(cost["stage"] != "all") & (cost["llm_model_id"] != "all")]
    assert per_model["total_tokens"].sum() == total["total_tokens"]
    assert per_model["calls"].sum() == total["calls"]


def test_stage_summary_matches_gens_store_state(report):
    store, _ = report
    summary = by_id(read(store, "summary/stage_summary.csv"), "stage")
    no_refused_or_unparsed = {"invalid": 0, "unparsed": 0}
    assert dict(summary["essay"]) == {
        "stage": "essay",
        "total": 3,
        "done": 2,
        "stale": 1,
        "failed": 0,
        "pending": 0,
        **no_refused_or_unparsed,
    }
    assert dict(summary["evaluation"]) == {
        "stage": "evaluation",
        "total": 10,
        "done": 8,
        "stale": 0,
        "failed": 1,
        "pending": 1,
        **no_refused_or_unparsed,
    }
    gens = GensStore(DataLayout(store.root))
    for stage in ("draft", "essay", "evaluation"):
        counts = {"done": 0, "stale": 0, "failed": 0, "pending": 0}
        for gen_id in [g for s, g in store.builder.members["c1"] if s == stage]:
            template = store.builder.meta[gen_id]["template_id"]
            path = store.root / "1_raw" / "templates" / stage / f"{template}.txt"
            sha = store.builder.template_sha(stage, template) if path.exists() else None
            counts[gens.state(stage, gen_id, sha).value] += 1
        assert {k: summary[stage][k] for k in counts} == counts


def test_judge_reliability(report):
    store, _ = report
    rel = read(store, "analysis/judge_reliability.csv")
    row = rel[(rel["evaluation_template"] == "judge-b") & (rel["evaluation_llm"] == "j1")].iloc[0]
    assert (row["evaluations"], row["with_output"], row["parse_failures"]) == (2, 2, 1)
    assert row["parse_failure_rate"] == 0.5
    row = rel[(rel["evaluation_template"] == "judge-b") & (rel["evaluation_llm"] == "j2")].iloc[0]
    assert (row["missing"], row["parse_failure_rate"]) == (1, 0.0)


def test_evaluator_agreement(report):
    store, _ = report
    agree = read(store, "analysis/evaluator_agreement.csv")
    docs = agree[agree["level"] == "document"]
    e_a = docs[(docs["document_gen_id"] == store.e_a) & (docs["evaluation_template"] == "judge-b")].iloc[0]
    assert (e_a["range"], e_a["bucket"]) == (2.0, "moderate")  # 8/10 and 6/10 -> 8 and 6 on 0..10
    e_a = docs[(docs["document_gen_id"] == store.e_a) & (docs["evaluation_template"] == "judge-a")].iloc[0]
    assert e_a["range"] == pytest.approx(20 / 9) and e_a["bucket"] == "low"  # 7/9 and 9/9 x 10
    single = docs[docs["document_gen_id"] == store.d_a].iloc[0]
    assert single["bucket"] == "single judge" and single["n_models"] == 1
    alpha = agree[(agree["level"] == "evaluation_template") & (agree["evaluation_template"] == "judge-a")].iloc[0]
    # units e_a (7, 9) and e_b (3, 5) in tenths of 10/9: D_o = 4, D_e = 160/12, alpha = 1 - 4/(40/3) = 0.7
    assert alpha["alpha"] == pytest.approx(0.7)
    assert (alpha["n_units"], alpha["n_values"]) == (2, 4)


def test_variance_decomposition_shares_sum_to_one(report):
    store, _ = report
    var = by_id(read(store, "analysis/variance_decomposition.csv"), "factor")
    parts = [var[f]["share"] for f in var if f != "total"]
    assert sum(parts) == pytest.approx(1.0)
    assert var["total"]["n"] == 7 and var["total"]["df"] == 6
    # total sum of squares of the seven scores x10 (normalised)
    y = pd.Series([7 / 9, 1, 0.8, 0.6, 3 / 9, 5 / 9, 4 / 9]) * 10
    assert var["total"]["sum_sq"] == pytest.approx(((y - y.mean()) ** 2).sum())


# -- stale included on request -----------------------------------------------------------------


def test_include_stale_counts_stale_rows(store, tmp_path):
    result = build_cohort_reports(DataLayout(store.root), "c1", include_stale=True)
    try:
        final = read(store, "summary/final_results.csv")
        overall = final[final["grouping"] == "overall"].iloc[0]
        assert overall["count"] == 8 and overall["mean"] == pytest.approx(51 / 8)
        assert overall["n_stale"] == 0
        assert result.headline.evaluations_used == 8 and result.include_stale
    finally:
        build_cohort_reports(DataLayout(store.root), "c1")


# -- result, charts, page --------------------------------------------------------------------------


def test_result_lists_every_file_and_headline(report):
    store, result = report
    out = store.root / "cohorts" / "c1" / "reports"
    assert result.output_dir == out
    written = {p.relative_to(out).as_posix() for p in result.paths}
    assert written == {*TABLES, *(f"charts/{c}.png" for c in CHARTS), "index.html"}
    h = result.headline
    assert (h.documents, h.evaluations, h.evaluations_used, h.parse_failures, h.missing, h.stale) == (4, 10, 7, 1, 1, 1)
    assert h.mean_score == pytest.approx(6.0)
    assert h.total_cost_usd == pytest.approx(0.045)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("chart", CHARTS)
def test_charts_are_valid_pngs(report, chart):
    store, _ = report
    path = store.root / "cohorts" / "c1" / "reports" / "charts" / f"{chart}.png"
    width, height = _png_size(path)
    assert width >= 300 and height >= 200
    assert path.stat().st_size > 10_000


def test_index_html_is_self_contained_and_escaped(report):
    store, _ = report
    page = (store.root / "cohorts" / "c1" / "reports" / "index.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 3
    assert "<link" not in page and "<script" not in page
    assert f'href="../../../gens/essay/{store.e_a}/parsed.txt"' in page
    assert f'href="../../../gens/evaluation/{store.ev["a_a_j2"]}/raw.txt"' in page
    # the essay text "Essay <e_...> & text" and the judge's "<b>" are embedded, escaped
    assert f"Essay &lt;{store.e_a}&gt; &amp; text" in page
    assert "Reasoning by j2 &lt;b&gt;" in page and "Reasoning by j2 <b>" not in page
    assert "<details>" in page
    for path in TABLES:
        assert f'href="{path}"' in page


# -- empty cohort, older layout, cross-experiment --------------------------------------------------


def test_empty_cohort_writes_headers_and_says_so(tmp_path):
    builder = StoreBuilder(tmp_path)
    builder.write_membership("empty")
    result = build_cohort_reports(DataLayout(tmp_path), "empty")
    out = tmp_path / "cohorts" / "empty" / "reports"
    for name in TABLES:
        text = (out / name).read_text(encoding="utf-8")
        assert text.strip(), name  # at least the header
    assert pd.read_csv(out / "parsing/aggregated_scores.csv").empty
    assert "No evaluations yet" in (out / "index.html").read_text(encoding="utf-8")
    assert result.headline.evaluations == 0 and result.headline.mean_score is None
    for chart in CHARTS:
        _png_size(out / "charts" / f"{chart}.png")


def test_older_layout_store_counts_only_parsed_txt(tmp_path):
    """parsed.txt-only, as the runner and the older aggregator count: raw.txt alone is ``unparsed``."""
    old = legacy_store(tmp_path)
    result = build_cohort_reports(DataLayout(tmp_path), "old")
    scores = by_id(read(old, "parsing/aggregated_scores.csv", "old"))
    assert len(scores) == 4
    for key in ("a_a_j1", "a_b_j1", "b_b_j1"):  # raw.txt, no parsed.txt, no recorded failure
        row = scores[old.ev[key]]
        assert row["status"] == "unparsed" and pd.isna(row["score"]) and row["error"] == "missing parsed.txt"
        assert "without a new call" in row["hint"] and not row["reparsed"]
    assert scores[old.ev["b_a_j1"]]["score"] == 2.0 and scores[old.ev["b_a_j1"]]["status"] == "ok"
    assert result.headline.unparsed == 3 and result.headline.evaluations_used == 1
    summary = by_id(read(old, "summary/stage_summary.csv", "old"), "stage")
    assert (summary["evaluation"]["failed"], summary["evaluation"]["unparsed"]) == (3, 3)
    page = (tmp_path / "cohorts" / "old" / "reports" / "index.html").read_text(encoding="utf-8")
    assert "3 evaluations have a raw answer but no parsed.txt" in page


def test_older_layout_store(tmp_path):
    old = legacy_store(tmp_path)
    result = build_cohort_reports(DataLayout(tmp_path), "old", reparse_raw=True)
    scores = by_id(read(old, "parsing/aggregated_scores.csv", "old"))
    assert len(scores) == 4
    # raw.txt only: parsed here with the template's parser (--reparse-raw), and marked so
    assert (scores[old.ev["a_a_j1"]]["score"], scores[old.ev["a_a_j1"]]["implied_scale"]) == (6.0, 9.0)
    assert (scores[old.ev["a_b_j1"]]["score"], scores[old.ev["a_b_j1"]]["scale"]) == (7.0, 10.0)
    assert scores[old.ev["a_a_j1"]]["reparsed"] and scores[old.ev["a_b_j1"]]["reparsed"]
    # parsed.txt without parsed_metadata.json: the float, on the parser's scale
    assert scores[old.ev["b_a_j1"]]["score"] == 2.0 and not scores[old.ev["b_a_j1"]]["reparsed"]
    assert scores[old.ev["b_a_j1"]]["score_normalized"] == pytest.approx(2 / 9)
    bad = scores[old.ev["b_b_j1"]]
    assert bad["status"] == "parse_error" and "complex" in bad["error_detail"] and pd.isna(bad["score"])
    # lineage from metadata.json (two-column membership)
    assert scores[old.ev["b_a_j1"]]["generation_model"] == "gen2"
    assert scores[old.ev["b_a_j1"]]["combo_id"] == old.combo_b
    assert not any(r["stale"] for r in scores.values())  # no raw_metadata: nothing to compare
    assert result.headline.parse_failures == 1 and result.headline.evaluations_used == 3
    assert result.headline.reparsed == 2 and result.reparse_raw
    final = read(old, "summary/final_results.csv", "old")
    assert final[final["grouping"] == "overall"].iloc[0]["n_reparsed"] == 2
    cost = read(old, "summary/cost.csv", "old")
    total = cost[cost["stage"] == "all"].iloc[0]
    assert total["calls"] == 8 and pd.isna(total["cost_usd"]) and pd.isna(total["total_tokens"])


def test_cross_experiment_walks_every_evaluation(tmp_path):
    store = small_store(tmp_path)
    store.builder.evaluation(store.e_a, "judge-a", "j3", 8, cohort="c9")  # another cohort's, outside c1
    result = build_cross_experiment(DataLayout(store.root))
    scores = pd.read_csv(store.root / "7_cross_experiment" / "aggregated_scores.csv")
    assert len(scores) == 11 and set(scores["origin_cohort_id"]) == {"c1", "c9"}
    row = scores[scores["evaluation_llm"] == "j3"].iloc[0]
    assert (row["draft_template"], row["generation_model"]) == ("dt-v1", "gen1")
    versions = pd.read_csv(
        store.root / "7_cross_experiment" / "template_version_comparison.csv", keep_default_na=False, na_values=[""]
    )
    dt = versions[versions["family"] == "dt"].set_index("template_id")
    assert list(dt.index) == ["dt-v1", "dt-v2"] and list(dt["version"]) == [1, 2]
    # dt-v1 (non-stale): 7/9, 9/9, 8/10, 6/10, 4/9, 8/9 (j3)
    assert dt.loc["dt-v1", "mean_normalized"] == pytest.approx((7 / 9 + 1 + 0.8 + 0.6 + 4 / 9 + 8 / 9) / 6)
    assert dt.loc["dt-v2", "j2"] == pytest.approx(5 / 9)
    assert dt.loc["dt-v1", "j3"] == pytest.approx(8 / 9)
    assert result.headline.evaluations == 11


def test_error_kinds_and_broken_lineage(tmp_path):
    b = StoreBuilder(tmp_path)
    draft = b.draft(b.combo(["alpha", "beta"]), "dt-v1", "gen1")
    essay = b.essay(draft, "et-v1", "gen1")
    llm_error = b.evaluation(essay, "judge-a", "j1", None, state="failed")
    orphan = b.evaluation("e_doesnotexist", "judge-a", "j2", 5)
    truncated = b.evaluation(essay, "judge-b", "j2", 7)
    gdir = tmp_path / "gens" / "evaluation" / truncated
    for name in ("parsed.txt", "parsed_metadata.json"):
        (gdir / name).unlink()
    meta = (gdir / "raw_metadata.json").read_text().replace('"truncated": false', '"truncated": true')
    (gdir / "raw_metadata.json").write_text(meta)
    b.write_membership("c1")
    build_cohort_reports(DataLayout(tmp_path), "c1")
    scores = by_id(pd.read_csv(tmp_path / "cohorts/c1/reports/parsing/aggregated_scores.csv"))
    assert scores[llm_error]["status"] == "failed" and "LLMError: HTTP 400" in scores[llm_error]["error_detail"]
    assert scores[truncated]["status"] == "failed" and "truncated" in scores[truncated]["error_detail"]
    assert scores[llm_error]["error"] == scores[truncated]["error"] == "missing parsed.txt"
    assert scores[orphan]["status"] == "ok" and "e_doesnotexist not found" in scores[orphan]["lineage_error"]
    reliability = pd.read_csv(tmp_path / "cohorts/c1/reports/analysis/judge_reliability.csv")
    assert reliability["other_failures"].sum() == 2 and reliability["parse_failures"].sum() == 0


def test_agreement_chart_samples_large_data():
    import time

    import numpy as np

    from daydream.reports.charts import judge_agreement

    rng = np.random.default_rng(0)
    n = 50_000
    pairs = pd.DataFrame(
        {
            "evaluation_template": "judge-a",
            "model_a": rng.choice(["j1", "j2"], n),
            "model_b": "j3",
            "document_gen_id": [f"e_{i}" for i in range(n)],
            "x_a": rng.integers(0, 11, n),
            "x_b": rng.integers(0, 11, n),
        }
    )
    started = time.perf_counter()
    png = judge_agreement(pairs)
    assert time.perf_counter() - started < 10
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
