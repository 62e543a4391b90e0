"""Judge bias checks: calibration (scipy zscore), length bias (statsmodels OLS, scipy pearsonr and
spearmanr), self-preference (hand computation, planted bias) and position bias (hand counts,
statsmodels Wilson intervals and binomial test)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.proportion import binom_test, proportion_confint

from daydream.analysis.calibration import judge_calibration, zscore_by_judge
from daydream.analysis.length import length_controlled_means, length_correlation
from daydream.analysis.position import position_bias, wilson_interval
from daydream.analysis.self_preference import model_family, model_name, self_preference


def judged(seed: int = 0, n_docs: int = 300) -> pd.DataFrame:
    """Two judges (one harsh and narrow, one generous and wide) x 2 replicates; length helps."""
    rng = np.random.default_rng(seed)
    length = rng.normal(1000, 200, n_docs) + np.array([0, 300, -100])[np.arange(n_docs) % 3]
    quality = rng.normal(0, 1, n_docs)
    rows = []
    for judge, (centre, spread) in {"j1": (4.0, 0.5), "j2": (7.0, 2.0)}.items():
        for d in range(n_docs):
            for _ in range(2):
                bonus = 0.004 * (length[d] - 1000) + [0.0, 0.5, -0.2][d % 3]
                score = centre + spread * (quality[d] + bonus) + rng.normal(0, 0.3)
                rows.append((f"e{d}", judge, "v1", ["t1", "t2", "t3"][d % 3], length[d], score))
    return pd.DataFrame(
        rows, columns=["document_gen_id", "evaluation_llm", "evaluation_template", "essay_template", "length", "x10"]
    )


def test_zscores_match_scipy_per_judge() -> None:
    frame = judged()
    z = zscore_by_judge(frame, "x10")
    for _, sub in frame.groupby("evaluation_llm"):
        assert np.allclose(z.loc[sub.index], stats.zscore(sub["x10"], ddof=1))
    # after z-scoring, the two judges have the same mean and spread: they can be averaged
    table = judge_calibration(frame.assign(z=z), "z")
    assert np.allclose(table["mean"], 0.0) and np.allclose(table["sd"], 1.0)
    raw = judge_calibration(frame, "x10").set_index("evaluation_llm")
    assert raw.loc["j1", "sd"] < raw.loc["j2", "sd"] and raw.loc["j1", "n_documents"] == 300
    assert raw.loc["j1", "median"] == pytest.approx(frame[frame.evaluation_llm == "j1"]["x10"].median())


def test_zscore_of_a_judge_without_spread_is_nan() -> None:
    frame = pd.DataFrame({"evaluation_llm": ["a", "a", "b"], "evaluation_template": "t", "x10": [5.0, 5.0, 3.0]})
    assert zscore_by_judge(frame, "x10").isna().all()


def test_length_correlation_matches_scipy_on_document_means() -> None:
    frame = judged()
    out = length_correlation(frame, "x10").set_index("evaluation_llm")
    for judge, sub in frame.groupby("evaluation_llm"):
        per_doc = sub.groupby("document_gen_id").agg(x=("length", "first"), y=("x10", "mean"))
        ref = stats.pearsonr(per_doc["x"], per_doc["y"])
        ci = ref.confidence_interval(0.95)
        row = out.loc[judge]
        assert row["n_documents"] == 300
        assert row["pearson_r"] == pytest.approx(ref.statistic)
        assert (row["r_ci_low"], row["r_ci_high"]) == pytest.approx((ci.low, ci.high))
        assert row["r_p_value"] == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)
        assert row["spearman_rho"] == pytest.approx(stats.spearmanr(per_doc["x"], per_doc["y"]).statistic)


def test_length_controlled_means_match_statsmodels_ols() -> None:
    frame = judged()
    out = length_controlled_means(frame, "x10", "essay_template", n_boot=300)
    for judge, sub in frame.groupby("evaluation_llm"):
        sub = sub.assign(z=(sub["length"] - sub["length"].mean()) / sub["length"].std())
        fit = smf.ols("x10 ~ C(essay_template) + z", data=sub).fit()
        expected = fit.predict(pd.DataFrame({"essay_template": ["t1", "t2", "t3"], "z": 0.0})).to_numpy()
        rows = out[out["evaluation_llm"] == judge].set_index("essay_template")
        assert rows["lc_mean"].to_numpy() == pytest.approx(expected)
        assert rows["slope_per_sd"].iloc[0] == pytest.approx(fit.params["z"])
        assert rows["mean"].to_numpy() == pytest.approx(sub.groupby("essay_template")["x10"].mean().to_numpy())
        assert (rows["lc_ci_low"] < rows["lc_mean"]).all() and (rows["lc_mean"] < rows["lc_ci_high"]).all()
        assert (rows["n_documents"] == 100).all() and (rows["n"] == 200).all()
    # t2's essays are long: its raw lead shrinks once length is controlled
    j1 = out[out["evaluation_llm"] == "j1"].set_index("essay_template")
    assert j1.loc["t2", "mean"] - j1.loc["t1", "mean"] > j1.loc["t2", "lc_mean"] - j1.loc["t1", "lc_mean"] > 0


def test_family_and_model_names() -> None:
    assert model_family("anthropic/claude-sonnet-4") == "anthropic"
    assert model_family("Google/Gemini-2.5-pro") == "google"
    assert model_name("deepseek/deepseek-r1:free") == model_name("deepseek/deepseek-r1")
    assert model_family("local-model") == "local-model"


def test_self_preference_by_hand() -> None:
    # three families, one essay each (e1 by a, e2 by o, e3 by g), every judge scores every essay
    scores = {"a": [8.0, 5.0, 4.0], "o": [6.0, 7.0, 4.0], "g": [6.0, 5.0, 6.0]}
    authors = ["a/x", "o/y", "g/z"]
    frame = pd.DataFrame(
        [(f"e{k + 1}", f"{judge}/model", authors[k], v) for judge, row in scores.items() for k, v in enumerate(row)],
        columns=["document_gen_id", "judge_model", "author_model", "x10"],
    )
    out = self_preference(frame, "x10", n_boot=200).set_index("judge")
    # judge a: own 8, others 4.5 -> gap 3.5. Other judges on essays not their own: on e1 (a's
    # family) 6 and 6 -> 6; on the rest: o on e3 = 4, g on e2 = 5 -> 4.5; their gap 1.5 -> DiD 2.
    a = out.loc["a"]
    assert (a["gap"], a["others_gap"], a["self_preference"]) == (3.5, 1.5, 2.0)
    assert (a["n_own"], a["n_other"], a["mean_own"], a["mean_other"]) == (1, 2, 8.0, 4.5)
    # judge o: own 7, others 5 -> 2; a and g: on e2 5, 5 -> 5; a on e3 4, g on e1 6 -> 5; DiD 2.
    o = out.loc["o"]
    assert (o["gap"], o["others_gap"], o["self_preference"]) == (2.0, 0.0, 2.0)


def test_self_preference_separates_bias_from_quality() -> None:
    rng = np.random.default_rng(4)
    rows = []
    families = ["anthropic/a", "openai/o", "google/g"]
    for d in range(600):
        author = families[d % 3]
        quality = rng.normal(0, 1) + (0.5 if author == "openai/o" else 0.0)  # openai writes better
        for judge in families:
            bias = 1.0 if judge == author == "anthropic/a" else 0.0  # only anthropic favours itself
            rows.append((f"e{d}", judge, author, 5 + quality + bias + rng.normal(0, 0.5)))
    frame = pd.DataFrame(rows, columns=["document_gen_id", "judge_model", "author_model", "x10"])
    out = self_preference(frame, "x10", n_boot=400).set_index("judge")
    assert out.loc["anthropic", "self_preference"] == pytest.approx(1.0, abs=0.2)
    assert out.loc["anthropic", "p_value"] < 0.001
    assert out.loc["anthropic", "ci_low"] < 1.0 < out.loc["anthropic", "ci_high"]
    # openai's raw gap is positive (its family writes better) but it is not self-preference
    assert out.loc["openai", "gap"] > 0.4
    assert out.loc["openai", "ci_low"] < 0.0 < out.loc["openai", "ci_high"]


def comparisons(rows: list[tuple[str, str, str]], judge: str = "j", template: str = "p") -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["document_a", "document_b", "verdict"])
    return frame.assign(evaluation_llm=judge, evaluation_template=template)


def test_position_bias_by_hand() -> None:
    frame = comparisons(
        [
            ("x", "y", "A"),
            ("y", "x", "A"),  # pair x/y: A then A -> follows position
            ("x", "z", "A"),
            ("z", "x", "B"),  # pair x/z: x both times -> consistent
            ("y", "z", "tie"),
            ("z", "y", "tie"),  # pair y/z: tie twice -> consistent
            ("w", "x", "B"),  # one order only: counts for first_win_rate, not for pairs
        ]
    )
    row = position_bias(frame).iloc[0]
    assert row["n_comparisons"] == 7 and row["n_decisive"] == 5
    assert row["first_win_rate"] == pytest.approx(3 / 5)
    assert row["n_pairs_both_orders"] == 3
    assert row["follows_position"] == pytest.approx(1 / 3) and row["consistent"] == pytest.approx(2 / 3)


def test_position_bias_replicates_are_averaged_within_a_pair() -> None:
    frame = comparisons([("x", "y", "A"), ("x", "y", "B"), ("y", "x", "A")])
    row = position_bias(frame).iloc[0]
    # order 1: one A, one B; order 2: one A -> follows = (1*1 + 1*0)/2, consistent = (0 + 1*1)/2
    assert row["n_pairs_both_orders"] == 1
    assert (row["follows_position"], row["consistent"]) == (0.5, 0.5)


def test_wilson_and_binomial_test_match_statsmodels() -> None:
    for k, n in [(0, 10), (3, 10), (55, 100), (990, 1000)]:
        assert wilson_interval(k, n) == pytest.approx(proportion_confint(k, n, alpha=0.05, method="wilson"))
    rng = np.random.default_rng(0)
    verdicts = np.where(rng.random(400) < 0.6, "A", "B")
    frame = comparisons([(f"d{i}", f"d{i + 1}", v) for i, v in enumerate(verdicts)])
    row = position_bias(frame).iloc[0]
    first = int((verdicts == "A").sum())
    assert row["first_p_value"] == pytest.approx(binom_test(first, 400, 0.5))
    assert row["first_p_value"] < 0.05


def test_a_judge_that_always_says_a() -> None:
    frame = comparisons([(a, b, "A") for a, b in [("x", "y"), ("y", "x"), ("x", "z"), ("z", "x")] * 10])
    row = position_bias(frame).iloc[0]
    assert row["follows_position"] == 1.0 and row["consistent"] == 0.0 and row["first_win_rate"] == 1.0
    assert row["follows_ci_low"] > 0.3


def test_empty_tables_keep_their_columns() -> None:
    columns = ["document_gen_id", "evaluation_llm", "evaluation_template", "essay_template", "length", "x10"]
    empty = pd.DataFrame({c: pd.Series(dtype=float if c in ("x10", "length") else object) for c in columns})
    out = length_controlled_means(empty, "x10", "essay_template")
    assert out.empty and "lc_mean" in out.columns
    assert length_correlation(empty, "x10").empty
    assert judge_calibration(empty, "x10").empty
