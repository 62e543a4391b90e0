"""Issue 14 in the cohort report: intervals, Holm, judge bias checks and diversity, on real stores.

Two stores written file by file (``reports_fixtures.StoreBuilder``) and reported by
``build_cohort_reports``, the code the report DAG runs:

- a *noise* store: 24 essays, each scored by three judges with uniform random integers 0..10. The
  leaderboard still ranks one essay first; the report must say the order is noise: every interval
  overlaps rank 1's, no difference survives Holm, and the page says "not significant".
- a *planted* store: the same layout where gen1's essays score about 8 and gen2's about 3, and judge
  ``gen1`` (a generating model that also judges) adds 2 to its own model's essays. The same checks
  must now find the differences (a control: the noise result is not a test that can never fail).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))

from reports_fixtures import CONCEPTS, StoreBuilder  # noqa: E402

from daydream.paths import DataLayout  # noqa: E402
from daydream.reports import build_cohort_reports  # noqa: E402

JUDGES = ["j1", "j2", "j3"]
WORDS = "idea river lantern orbit copper meadow signal harbor thread prism echo garden".split()


def _essay_text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) + str(rng.randint(0, 999)) for _ in range(n_words))


def _store(root: Path, planted: bool) -> tuple[StoreBuilder, dict[str, str]]:
    rng = random.Random(14)
    b = StoreBuilder(root)
    essays: dict[str, str] = {}
    combos = [b.combo([a, c]) for i, a in enumerate(CONCEPTS) for c in CONCEPTS[i + 1 :]]
    for combo in combos:
        for template in ("dt-v1", "dt-v2"):
            for model in ("gen1", "gen2"):
                draft = b.draft(combo, template, model)
                text = _essay_text(rng, rng.randint(40, 400))
                essay = b.essay(draft, "et-v1", model, text=text)
                essays[essay] = model
                judges = [*JUDGES, "gen1"] if planted else JUDGES
                for judge in judges:
                    if planted:
                        score = (8 if model == "gen1" else 3) + rng.choice([-1, 0, 1])
                        score += 2 if judge == "gen1" and model == "gen1" else 0
                        score = min(score, 10)
                    else:
                        score = rng.randint(0, 10)
                    b.evaluation(essay, "judge-b", judge, score)
    b.write_membership("c1")
    return b, essays


def _report(root: Path, planted: bool):
    builder, essays = _store(root, planted)
    result = build_cohort_reports(DataLayout(root), "c1")

    def read(name: str) -> pd.DataFrame:
        return pd.read_csv(result.output_dir / name, keep_default_na=False, na_values=[""])

    return result, read, essays


@pytest.fixture(scope="module")
def noise(tmp_path_factory):
    return _report(tmp_path_factory.mktemp("noise"), planted=False)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return _report(tmp_path_factory.mktemp("planted"), planted=True)


def test_noise_leaderboard_is_flagged_as_not_significant(noise):
    result, read, _ = noise
    board = read("summary/leaderboard.csv")
    assert len(board) == 20 and list(board["rank"]) == list(range(1, 21))
    top = board.iloc[0]
    assert top["mean_x10"] > board["mean_x10"].iloc[-1]  # there is an order to be fooled by
    # every interval contains its mean and overlaps rank 1's interval
    assert (board["ci_low_x10"] <= board["mean_x10"]).all() and (board["mean_x10"] <= board["ci_high_x10"]).all()
    assert (board["ci_high_x10"].iloc[1:] >= top["ci_low_x10"]).all()
    assert not board["differs_from_top"].any()
    page = (result.output_dir / "index.html").read_text()
    assert "The order is not significant" in page and "95% interval" in page


def test_noise_comparisons_none_survive_holm(noise):
    _, read, _ = noise
    comp = read("analysis/comparisons.csv")
    assert {"generation_model", "draft_template", "evaluation_llm"} <= set(comp["factor"])
    assert not comp["significant"].any()
    assert (comp["p_holm"] >= comp["p_value"] - 1e-12).all()
    assert ((comp["ci_low"] <= comp["diff"]) & (comp["diff"] <= comp["ci_high"])).all()


def test_noise_every_mean_has_an_interval(noise):
    _, read, _ = noise
    final = read("summary/final_results.csv")
    for lo, mean, hi in (
        ("mean_ci_low", "mean", "mean_ci_high"),
        ("mean_normalized_ci_low", "mean_normalized", "mean_normalized_ci_high"),
    ):
        assert final[lo].notna().all(), final[["grouping", "key", "n_documents"]]
        assert ((final[lo] <= final[mean] + 1e-9) & (final[mean] <= final[hi] + 1e-9)).all()
    # the overall interval resamples the 24 documents, so it is wider than one that treats the 72
    # evaluations as independent would be (judges of one essay share its noise only by chance here,
    # so the ratio is near 1: checked to be in a sane band)
    overall = final[final["grouping"] == "overall"].iloc[0]
    assert overall["n_documents"] == 24 and overall["count"] == 72
    naive_half = 1.96 * overall["std"] / np.sqrt(72)
    assert 0.6 < (overall["mean_ci_high"] - overall["mean_ci_low"]) / 2 / naive_half < 1.6
    pivot = read("summary/generation_scores_pivot.csv")
    assert pivot[["mean_ci_low", "mean_ci_high", "mean_normalized_ci_low", "mean_z"]].notna().all().all()
    assert (pivot["mean_ci_low"] <= pivot["mean"]).all() and (pivot["mean"] <= pivot["mean_ci_high"]).all()
    cells = read("summary/evaluation_model_template_pivot.csv")
    assert ((cells["ci_low__judge-b"] <= cells["judge-b"]) & (cells["judge-b"] <= cells["ci_high__judge-b"])).all()


def test_noise_alpha_has_an_interval_around_zero(noise):
    _, read, _ = noise
    agree = read("analysis/evaluator_agreement.csv")
    row = agree[agree["level"] == "evaluation_template"].iloc[0]
    assert row["alpha_ci_low"] <= row["alpha"] <= row["alpha_ci_high"]
    assert row["alpha_ci_low"] < 0 < row["alpha_ci_high"]  # uniform noise: no agreement beyond chance


def test_planted_differences_are_found(planted):
    result, read, _ = planted
    comp = read("analysis/comparisons.csv")
    models = comp[comp["factor"] == "generation_model"].iloc[0]
    assert models["significant"] and models["diff"] > 4
    assert not comp[comp["factor"] == "draft_template"]["significant"].any()  # templates were not planted
    board = read("summary/leaderboard.csv")
    assert board["differs_from_top"].any()
    assert "The order is not significant" not in (result.output_dir / "index.html").read_text()
    agree = read("analysis/evaluator_agreement.csv")
    assert agree.loc[agree["level"] == "all", "alpha_ci_low"].iloc[0] > 0.5


def test_planted_self_preference_and_calibration(planted):
    _, read, _ = planted
    self_pref = read("analysis/self_preference.csv")
    own = self_pref[(self_pref["granularity"] == "model") & (self_pref["judge"] == "prov/gen1")].iloc[0]
    assert own["self_preference"] == pytest.approx(2.0, abs=0.6) and own["ci_low"] > 0
    calib = read("analysis/judge_calibration.csv").set_index("evaluation_llm")
    assert calib.loc["gen1", "mean"] > calib.loc["j1", "mean"]
    assert set(calib.columns) >= {"n", "mean", "sd", "median"}


def test_length_bias_matches_scipy(noise):
    result, read, essays = noise
    scores = read("parsing/aggregated_scores.csv")
    words = {
        e: len((result.output_dir.parents[2] / "gens" / "essay" / e / "parsed.txt").read_text().split()) for e in essays
    }
    j1 = scores[scores["evaluation_llm"] == "j1"]
    x = j1["parent_gen_id"].map(words).to_numpy(dtype=float)
    y = (j1["score_normalized"] * 10).to_numpy()
    row = read("analysis/length_bias.csv").set_index("evaluation_llm").loc["j1"]
    assert row["n_documents"] == 24
    assert row["pearson_r"] == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-9)
    assert row["spearman_rho"] == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-9)
    controlled = read("analysis/length_controlled_means.csv")
    assert set(controlled["factor"]) == {"essay_template", "generation_model", "draft_template"}
    assert controlled["lc_mean"].notna().all()


def test_position_bias_says_no_pairwise_data(noise):
    result, read, _ = noise
    assert read("analysis/position_bias.csv").empty
    assert "No pairwise data" in (result.output_dir / "index.html").read_text()


def test_position_bias_from_comparisons(tmp_path):
    """A judge that always picks the essay shown first: follows_position 1 on pairs seen both ways."""
    b, _ = _store(tmp_path, planted=False)
    pairs = [("e1", "e2"), ("e2", "e1"), ("e3", "e4"), ("e4", "e3")]
    comparisons = pd.DataFrame(
        [
            {"document_a": a, "document_b": c, "verdict": "A", "evaluation_llm": "j1", "evaluation_template": "pw"}
            for a, c in pairs
        ]
    )
    result = build_cohort_reports(DataLayout(tmp_path), "c1", comparisons=comparisons)
    table = pd.read_csv(result.output_dir / "analysis/position_bias.csv")
    assert table.loc[0, "first_win_rate"] == 1.0 and table.loc[0, "follows_position"] == 1.0
    assert table.loc[0, "n_pairs_both_orders"] == 2
    assert "No pairwise data" not in (result.output_dir / "index.html").read_text()


def test_near_duplicates_and_saturation(tmp_path):
    """One prompt on one model, four replicates: two copies of one text (one lightly edited) and two
    distinct texts -> 3 distinct ideas, saturation curve 1, 1, 2, 3 in replicate order."""
    rng = random.Random(3)
    b = StoreBuilder(tmp_path)
    combo = b.combo(["alpha", "beta"])
    draft = b.draft(combo, "dt-v1", "gen1")
    base = _essay_text(rng, 200)
    edited = base.replace(base.split()[5], "changed", 1) + " one more closing sentence"
    texts = [base, edited, _essay_text(rng, 200), _essay_text(rng, 200)]
    essays = [b.essay(draft, "et-v1", "gen1", replicate=r + 1, text=t) for r, t in enumerate(texts)]
    for essay in essays:
        b.evaluation(essay, "judge-b", "j1", 5)
    b.write_membership("c1")
    result = build_cohort_reports(DataLayout(tmp_path), "c1")
    out = result.output_dir / "analysis"
    clusters = pd.read_csv(out / "near_duplicates.csv").set_index("gen_id")
    assert clusters.loc[essays[0], "cluster"] == clusters.loc[essays[1], "cluster"]
    assert clusters.loc[essays[1], "representative"] == essays[0]
    assert clusters.loc[essays[2], "cluster"] != clusters.loc[essays[3], "cluster"]
    summary = pd.read_csv(out / "distinct_ideas.csv")
    essay_row = summary[summary["stage"] == "essay"].iloc[0]
    assert (essay_row["n_generated"], essay_row["n_distinct"]) == (4, 3)
    curve = pd.read_csv(out / "saturation_curve.csv")
    assert list(curve[curve["stage"] == "essay"]["distinct"]) == [1, 1, 2, 3]
    page = (result.output_dir / "index.html").read_text()
    assert "How many different ideas?" in page and "0.6" in page


def test_cross_experiment_template_versions_carry_intervals(noise):
    from daydream.reports import build_cross_experiment

    result, _, _ = noise
    root = result.output_dir.parents[2]
    cross = build_cross_experiment(DataLayout(root))
    table = pd.read_csv(cross.output_dir / "template_version_comparison.csv")
    assert {"dt-v1", "dt-v2", "et-v1", "judge-b"} <= set(table["template_id"])
    assert (table["mean_normalized_ci_low"] <= table["mean_normalized"]).all()
    assert (table["mean_normalized"] <= table["mean_normalized_ci_high"]).all()


def test_text_reading_is_bounded(tmp_path, monkeypatch):
    """Past the total text budget the remaining texts are left out, and the page says so."""
    from daydream.reports import diversity

    b = StoreBuilder(tmp_path)
    draft = b.draft(b.combo(["alpha", "beta"]), "dt-v1", "gen1", text="one line draft")
    essays = [b.essay(draft, "et-v1", "gen1", replicate=r, text="word " * 400) for r in (1, 2, 3)]
    for essay in essays:
        b.evaluation(essay, "judge-b", "j1", 5)
    b.write_membership("c1")
    monkeypatch.setattr(diversity, "TOTAL_TEXT_BYTES", 2500)
    result = build_cohort_reports(DataLayout(tmp_path), "c1")
    clusters = pd.read_csv(result.output_dir / "analysis/near_duplicates.csv")
    assert 1 <= (clusters["stage"] == "essay").sum() < 3
    assert "texts read up to the limit of 2,500 bytes" in (result.output_dir / "index.html").read_text()
