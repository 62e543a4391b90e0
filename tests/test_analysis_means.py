"""Cluster-bootstrap means, differences, Holm and the leaderboard: against hand computations, scipy
(Welch's t-test, t quantiles) and statsmodels (multipletests), and on pure noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from daydream.analysis.bootstrap import (
    bootstrap_se,
    column_intervals,
    count_chunks,
    expanded_alpha,
    resample_global,
    resample_within,
)
from daydream.analysis.compare import pairwise_differences
from daydream.analysis.documents import document_means, leaderboard
from daydream.analysis.frames import AnalysisInputError
from daydream.analysis.means import bootstrap_means
from daydream.analysis.multiple import holm


def noise_store(seed: int, n_docs: int = 16_668) -> pd.DataFrame:
    """~100,000 evaluations (6 per document: 3 judges x 2 templates) of uniform 0..10 noise."""
    rng = np.random.default_rng(seed)
    doc = np.repeat(np.arange(n_docs), 6)
    return pd.DataFrame(
        {
            "document_gen_id": np.char.add("e_", doc.astype(str)),
            "evaluation_llm": np.tile(["j1", "j2", "j3"], 2 * n_docs),
            "evaluation_template": np.tile(np.repeat(["t1", "t2"], 3), n_docs),
            "generation_model": np.array(["m1", "m2", "m3", "m4"])[doc % 4],
            "x10": rng.integers(0, 11, doc.size).astype(float),
        }
    )


def test_count_matrix_rows_draw_every_cluster_count_once_and_are_seeded() -> None:
    chunks = list(count_chunks(7, 50, seed=3))
    counts = np.vstack([c for _, c in chunks])
    assert counts.shape == (50, 7) and (counts.sum(axis=1) == 7).all()
    again = np.vstack([c for _, c in count_chunks(7, 50, seed=3)])
    assert (counts == again).all()
    assert not (counts == np.vstack([c for _, c in count_chunks(7, 50, seed=4)])).all()


def test_global_resample_is_counts_times_totals_by_hand() -> None:
    totals = np.array([[1.0, 0.0], [2.0, 5.0], [3.0, 1.0]])
    (point,), (draws,) = resample_global([totals], n_boot=30, seed=1)
    assert point.tolist() == [6.0, 6.0]
    counts = np.vstack([c for _, c in count_chunks(3, 30, seed=1)])
    assert np.allclose(draws, counts @ totals)


def test_within_resampling_never_mixes_strata() -> None:
    values = np.array([1.0, 2.0, 3.0, 100.0, 200.0])
    strata = np.array([0, 0, 0, 1, 1])
    (point,), (draws,) = resample_within([values], strata, 2, n_boot=200, seed=0)
    assert point.tolist() == [6.0, 300.0]
    assert draws[:, 0].min() >= 3.0 and draws[:, 0].max() <= 9.0  # three draws from {1, 2, 3}
    assert set(np.unique(draws[:, 1])) <= {200.0, 300.0, 400.0}


def test_column_intervals_and_se_are_numpys_nanquantile_and_nanstd() -> None:
    rng = np.random.default_rng(4)
    draws = rng.normal(size=(101, 5))
    draws[:7, 1] = np.nan  # some resamples without the group
    draws[:, 2] = np.nan  # a group no resample has
    draws[:100, 3] = np.nan  # one finite draw: a quantile, no spread
    low, high = np.array([0.025, 0.1, 0.025, 0.5, 0.0]), np.array([0.975, 0.9, 0.975, 0.5, 1.0])
    got_low, got_high = column_intervals(draws, low, high)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):  # numpy warns on the all-NaN column
        want_low = np.array([np.nanquantile(draws[:, g], low[g]) for g in range(5)])
        want_high = np.array([np.nanquantile(draws[:, g], high[g]) for g in range(5)])
    np.testing.assert_allclose(got_low, want_low, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(got_high, want_high, rtol=1e-12, equal_nan=True)
    se = bootstrap_se(draws)
    assert np.isnan(se[2]) and np.isnan(se[3])
    np.testing.assert_allclose(se[[0, 1, 4]], np.nanstd(draws[:, [0, 1, 4]], axis=0, ddof=1), rtol=1e-12)
    clean = rng.normal(size=(50, 3))  # no NaN at all: the plain std's path
    np.testing.assert_allclose(bootstrap_se(clean), np.std(clean, axis=0, ddof=1), rtol=1e-12)


def test_expanded_alpha_is_hesterbergs_formula() -> None:
    # reference: scipy's normal cdf and t quantile, written out by hand
    for n in (2, 6, 30, 1000):
        expected = stats.norm.cdf(np.sqrt(n / (n - 1)) * stats.t.ppf(0.025, n - 1))
        assert expanded_alpha(np.array([n]), 0.95)[0] == pytest.approx(expected)
    assert np.isnan(expanded_alpha(np.array([1]), 0.95)[0])
    assert expanded_alpha(np.array([100_000]), 0.95)[0] == pytest.approx(0.025, abs=1e-4)


def test_means_are_the_plain_means_and_the_se_is_the_cluster_se() -> None:
    rng = np.random.default_rng(0)
    # 400 documents with 3 strongly correlated evaluations each: the cluster is the document
    doc_effect = rng.normal(0, 2, 400)
    frame = pd.DataFrame(
        {
            "document_gen_id": np.repeat(np.arange(400), 3).astype(str),
            "group": "g",
            "x10": np.repeat(doc_effect, 3) + rng.normal(0, 0.1, 1200),
        }
    )
    out = bootstrap_means(frame, "x10", ["group"], n_boot=4000, seed=2)
    assert out.loc[0, "mean"] == pytest.approx(frame["x10"].mean())
    assert out.loc[0, "n"] == 1200 and out.loc[0, "n_clusters"] == 400
    cluster_means = frame.groupby("document_gen_id")["x10"].mean()
    # hand: the se of a mean of 400 independent cluster means (bootstrap's (n-1)/n variance)
    hand = cluster_means.std(ddof=0) / np.sqrt(400)
    assert out.loc[0, "se"] == pytest.approx(hand, rel=0.06)
    naive = frame["x10"].std() / np.sqrt(1200)  # what resampling evaluations would claim
    assert out.loc[0, "se"] > 1.5 * naive
    assert out.loc[0, "ci_low"] < out.loc[0, "mean"] < out.loc[0, "ci_high"]


def test_difference_p_value_matches_welchs_t_test() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0.0, 1.0, 300), rng.normal(0.25, 1.5, 250)
    frame = pd.DataFrame(
        {
            "document_gen_id": [f"d{i}" for i in range(550)],
            "model": ["a"] * 300 + ["b"] * 250,
            "x10": np.concatenate([a, b]),
        }
    )
    out = pairwise_differences(frame, "x10", "model", n_boot=4000, seed=0)
    welch = stats.ttest_ind(a, b, equal_var=False)  # reference: scipy
    assert out.loc[0, "diff"] == pytest.approx(a.mean() - b.mean())
    assert out.loc[0, "p_value"] == pytest.approx(welch.pvalue, abs=0.01)
    assert out.loc[0, "p_holm"] == out.loc[0, "p_value"]  # one test


def test_holm_matches_statsmodels() -> None:
    rng = np.random.default_rng(1)
    for _ in range(12):  # each statsmodels call takes ~0.2 s
        p = rng.random(int(rng.integers(1, 40))) ** 3
        assert np.allclose(holm(p), multipletests(p, method="holm")[1])
    assert np.isnan(holm([0.01, np.nan, 0.04])[1])
    assert np.allclose(holm([0.01, np.nan, 0.04])[[0, 2]], multipletests([0.01, 0.04], method="holm")[1])


def test_noise_leaderboard_top_essays_are_not_separable() -> None:
    """Issue 14: 100,000 evaluations of uniform noise; the top 20 must not look ranked."""
    rejected = 0
    for seed in range(20):
        board = leaderboard(noise_store(seed), "x10", top_k=20, n_boot=500, seed=seed)
        assert len(board) == 20 and board["rank"].tolist() == list(range(1, 21))
        assert board["mean"].is_monotonic_decreasing
        assert board["ci_low"].iloc[0] < board["ci_high"].iloc[-1]  # first and twentieth overlap
        rejected += bool(board["differs_from_top"].any())
    assert rejected <= 1  # Holm at 0.05 over ranks 2..20: no difference in >= 95% of seeds


def test_leaderboard_finds_a_planted_best_essay() -> None:
    frame = noise_store(0, n_docs=2000)
    frame["x10"] = 5.0 + np.random.default_rng(1).normal(0, 0.5, len(frame))  # judges agree closely
    frame.loc[frame["document_gen_id"] == "e_7", "x10"] = 9.0
    board = leaderboard(frame, "x10", top_k=5, n_boot=500)
    assert board.loc[0, "document_gen_id"] == "e_7" and board.loc[0, "mean"] == 9.0
    # six identical scores still get the judges' common noise as their interval, not zero width
    assert board.loc[0, "ci_low"] < 9.0 < board.loc[0, "ci_high"]
    assert board.loc[1:, "differs_from_top"].all()
    assert not board.loc[0, "differs_from_top"]


def test_document_interval_is_the_residual_bootstrap_by_hand() -> None:
    # two documents, three judges each; residuals (x sqrt(3/2)) pool: d1 -> -1, 0, 1; d2 -> -2, 0, 2
    frame = pd.DataFrame(
        {
            "document_gen_id": ["d1"] * 3 + ["d2"] * 3,
            "evaluation_llm": ["a", "b", "c"] * 2,
            "evaluation_template": "t",
            "x10": [4.0, 5.0, 6.0, 1.0, 3.0, 5.0],
        }
    )
    out = document_means(frame, "x10", n_boot=20_000, seed=0).set_index("document_gen_id")
    assert out.loc["d1", "mean"] == 5.0 and out.loc["d2", "mean"] == 3.0
    pool = np.array([-1.0, 0.0, 1.0, -2.0, 0.0, 2.0]) * np.sqrt(1.5)
    hand_se = pool.std(ddof=0) / np.sqrt(3)  # the sd of a mean of 3 draws from the pool
    assert out.loc["d1", "se"] == pytest.approx(hand_se, rel=0.03)
    assert out.loc["d1", "se"] == pytest.approx(out.loc["d2", "se"], rel=0.05)  # one common noise
    assert out.loc["d1", "ci_low"] == pytest.approx(5.0 - (3.0 - out.loc["d2", "ci_low"]), abs=0.05)


def test_replicates_of_one_judge_are_one_cluster() -> None:
    one = pd.DataFrame(
        {"document_gen_id": "d", "evaluation_llm": ["a", "b"], "evaluation_template": "t", "x10": [2.0, 8.0]}
    )
    many = pd.concat([one.iloc[[0]]] * 5 + [one.iloc[[1]]], ignore_index=True)
    a = document_means(one, "x10", n_boot=200).iloc[0]
    b = document_means(many, "x10", n_boot=200).iloc[0]
    assert a["n_judges"] == b["n_judges"] == 2 and b["n"] == 6
    assert a["se"] == pytest.approx(b["se"])  # five replicates did not shrink the interval


def test_noise_model_comparisons_keep_the_family_wise_error() -> None:
    rejected = 0
    for seed in range(20):
        table = pairwise_differences(noise_store(seed, n_docs=3000), "x10", "generation_model", n_boot=400, seed=seed)
        assert len(table) == 6
        rejected += bool(table["significant"].any())
    assert rejected <= 2


def test_planted_model_difference_survives_holm() -> None:
    frame = noise_store(1, n_docs=6000)
    frame.loc[frame["generation_model"] == "m1", "x10"] += 0.6
    table = pairwise_differences(frame, "x10", "generation_model", n_boot=400)
    with_m1 = table[(table["level_a"] == "m1") | (table["level_b"] == "m1")]
    assert with_m1["significant"].all()
    assert not table.drop(with_m1.index)["significant"].any()


def test_judges_on_the_same_documents_are_compared_paired() -> None:
    # two judges, the second always exactly 0.3 above the first: the paired difference has no
    # spread, so it is significant although the scores themselves are noisy
    rng = np.random.default_rng(3)
    base = rng.normal(5, 2, 500)
    frame = pd.DataFrame(
        {
            "document_gen_id": np.tile(np.arange(500).astype(str), 2),
            "evaluation_llm": np.repeat(["j1", "j2"], 500),
            "x10": np.concatenate([base, base + 0.3]),
        }
    )
    table = pairwise_differences(frame, "x10", "evaluation_llm", n_boot=300)
    assert table.loc[0, "diff"] == pytest.approx(-0.3)
    assert table.loc[0, "se"] < 1e-9 and table.loc[0, "significant"]


def test_within_groups_and_bad_input() -> None:
    frame = noise_store(2, n_docs=300)
    table = pairwise_differences(frame, "x10", "evaluation_llm", within=["evaluation_template"], n_boot=100)
    assert list(table["evaluation_template"]) == ["t1"] * 3 + ["t2"] * 3
    with pytest.raises(AnalysisInputError, match="missing column"):
        bootstrap_means(frame, "score", ["generation_model"])
    frame.loc[5, "x10"] = np.nan
    with pytest.raises(AnalysisInputError, match="row 5, field 'x10'"):
        bootstrap_means(frame, "x10", ["generation_model"])
    with pytest.raises(AnalysisInputError, match="one group"):
        bootstrap_means(noise_store(2, 10), "x10", ["evaluation_llm"], stratify=True)


def test_same_seed_same_intervals() -> None:
    frame = noise_store(4, n_docs=500)
    a = bootstrap_means(frame, "x10", ["generation_model"], seed=9, n_boot=200)
    b = bootstrap_means(frame, "x10", ["generation_model"], seed=9, n_boot=200)
    pd.testing.assert_frame_equal(a, b)


def test_empty_input_gives_empty_tables_with_their_columns() -> None:
    empty = noise_store(0, n_docs=1).iloc[0:0]
    assert list(bootstrap_means(empty, "x10", ["generation_model"]).columns) == [
        "generation_model",
        "n",
        "n_clusters",
        "mean",
        "se",
        "ci_low",
        "ci_high",
    ]
    assert pairwise_differences(empty, "x10", "generation_model").empty
    assert document_means(empty, "x10").empty and leaderboard(empty, "x10").empty
