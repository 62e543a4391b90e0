"""Bradley-Terry: the MLE against statsmodels' binomial GLM on the pairwise design matrix, the MAP
against scipy.optimize on the same objective, the bootstrap against refits by hand, and recovery of a
planted order from a simulated Swiss tournament."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import optimize, stats

from daydream.analysis import bt_fit
from daydream.analysis.bootstrap import count_chunks
from daydream.analysis.bradley_terry import EXACT_MAX_DOCUMENTS, RATING_COLUMNS, bradley_terry, win_probability
from daydream.analysis.frames import AnalysisInputError
from daydream.analysis.swiss import rounds_for, swiss_round


def simulated(n: int, k: int, seed: int, tie_rate: float = 0.1) -> bt_fit.Comparisons:
    rng = np.random.default_rng(seed)
    true = np.linspace(-1.5, 1.5, n)
    i = rng.integers(0, n, k)
    j = (i + rng.integers(1, n, k)) % n
    p = 1.0 / (1.0 + np.exp(-(true[i] - true[j])))
    u = rng.random(k)
    s = np.where(u < tie_rate, 0.5, np.where(rng.random(k) < p, 1.0, 0.0))
    return bt_fit.Comparisons(i, j, s, n)


def test_mle_matches_statsmodels_glm_with_ties_as_half_wins() -> None:
    comp = simulated(8, 300, seed=3)
    mine = bt_fit.fit(comp, prior_sd=None)
    design = np.zeros((comp.i.size, comp.n))
    design[np.arange(comp.i.size), comp.i] = 1.0
    design[np.arange(comp.i.size), comp.j] -= 1.0
    # a tie is a half win: each comparison is a success with weight s and a failure with weight 1 - s
    x = np.vstack([design, design])[:, 1:]  # essay 0 is the reference level
    y = np.concatenate([np.ones(comp.i.size), np.zeros(comp.i.size)])
    w = np.concatenate([comp.s, 1.0 - comp.s])
    glm = sm.GLM(y, x, family=sm.families.Binomial(), freq_weights=w).fit()
    reference = np.concatenate([[0.0], glm.params])
    assert mine == pytest.approx(reference - reference.mean(), abs=1e-7)
    assert mine.sum() == pytest.approx(0.0, abs=1e-10)


def test_map_matches_scipy_minimize_on_the_penalised_objective() -> None:
    comp = simulated(6, 40, seed=1)
    mine = bt_fit.fit(comp, prior_sd=2.0)

    def negative(r: np.ndarray) -> float:
        return -bt_fit.log_likelihood(comp, r, np.ones(comp.i.size), 1.0 / 4.0)

    ref = optimize.minimize(negative, np.zeros(comp.n), method="BFGS", options={"gtol": 1e-10}).x
    assert mine == pytest.approx(ref, abs=1e-5)
    assert mine.sum() == pytest.approx(0.0, abs=1e-10)  # the prior fixes the origin by itself


def test_an_undefeated_essay_is_finite_with_the_prior_and_refused_without() -> None:
    # essay 0 beats everyone; the others trade wins
    i = np.array([0, 0, 0, 1, 2, 3, 1])
    j = np.array([1, 2, 3, 2, 3, 1, 3])
    s = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    comp = bt_fit.Comparisons(i, j, s, 4)
    with pytest.raises(AnalysisInputError, match="no finite maximum-likelihood"):
        bt_fit.fit(comp, prior_sd=None)
    ratings = bt_fit.fit(comp, prior_sd=2.0)
    assert np.isfinite(ratings).all() and ratings.argmax() == 0 and ratings[0] < 6.0


def test_a_disconnected_graph_needs_the_prior() -> None:
    comp = bt_fit.Comparisons(np.array([0, 0, 2, 2]), np.array([1, 1, 3, 3]), np.array([1.0, 0.0, 1.0, 0.0]), 4)
    with pytest.raises(AnalysisInputError, match="disconnected"):
        bt_fit.fit(comp, prior_sd=None)
    frame = pd.DataFrame(
        {
            "document_a": ["a", "a", "c", "c"],
            "document_b": ["b", "b", "d", "d"],
            "verdict": ["A", "A", "A", "B"],
            "evaluation_llm": "j",
            "evaluation_template": "p",
        }
    )
    out = bradley_terry(frame, per_judge=False, n_boot=50).set_index("document")
    assert out.loc["a", "component"] == out.loc["b", "component"] != out.loc["c", "component"]


def test_exact_bootstrap_is_a_refit_of_each_resample() -> None:
    comp = simulated(7, 120, seed=2)
    cluster = np.arange(comp.i.size) // 2  # pairs of comparisons move together
    _, counts = next(count_chunks(int(cluster.max()) + 1, 6, seed=0))
    batched = bt_fit.exact_draws(comp, cluster, counts, 2.0)
    for b in range(6):
        by_hand = bt_fit.fit(comp, counts[b, cluster], 2.0)
        assert batched[b] == pytest.approx(by_hand, abs=1e-7)


def test_linearised_bootstrap_agrees_with_exact_refits() -> None:
    comp = simulated(30, 3000, seed=4)
    cluster = np.arange(comp.i.size)
    ratings = bt_fit.fit(comp, prior_sd=2.0)
    _, counts = next(count_chunks(comp.i.size, 300, seed=1))
    exact = bt_fit.exact_draws(comp, cluster, counts, 2.0)
    linear = bt_fit.Linearisation(comp, ratings, cluster, 2.0).draws(counts)
    assert linear.std(axis=0) == pytest.approx(exact.std(axis=0), rel=0.1)
    gap = np.abs(linear - exact)  # resample by resample, not only in distribution
    assert gap.mean() < 0.03 and np.quantile(gap, 0.99) < 0.1


def frame_from(comp: bt_fit.Comparisons, judges: list[str]) -> pd.DataFrame:
    verdict = np.where(comp.s == 1.0, "A", np.where(comp.s == 0.0, "B", "tie"))
    return pd.DataFrame(
        {
            "document_a": np.char.add("e", comp.i.astype(str)),
            "document_b": np.char.add("e", comp.j.astype(str)),
            "verdict": verdict,
            "evaluation_llm": np.resize(judges, comp.i.size),
            "evaluation_template": "p",
        }
    )


def test_output_per_judge_and_pooled() -> None:
    frame = frame_from(simulated(10, 400, seed=5), ["j1", "j2"])
    out = bradley_terry(frame, n_boot=200)
    assert list(out.columns) == RATING_COLUMNS
    assert list(out["scope"].unique()) == ["pooled", "j1", "j2"]
    pooled = out[out["scope"] == "pooled"]
    assert pooled["rank"].tolist() == list(range(1, 11)) and pooled["rating"].is_monotonic_decreasing
    assert pooled["rating"].sum() == pytest.approx(0.0, abs=1e-9)
    assert (pooled["wins"] + pooled["losses"] + pooled["ties"] == pooled["n_comparisons"]).all()
    assert pooled["n_comparisons"].sum() == 2 * 400
    assert ((pooled["ci_low"] < pooled["rating"]) & (pooled["rating"] < pooled["ci_high"])).all()
    assert (pooled["method"] == "exact").all()
    assert out[out["scope"] == "j1"]["n_comparisons"].sum() == 400
    again = bradley_terry(frame, n_boot=200)
    pd.testing.assert_frame_equal(out, again)  # seeded


def test_recovers_a_planted_order_from_a_swiss_tournament() -> None:
    n = EXACT_MAX_DOCUMENTS + 40  # large enough for the linearised bootstrap
    rng = np.random.default_rng(11)
    true = pd.Series(np.linspace(-2.0, 2.0, n), index=[f"e{k:03d}" for k in rng.permutation(n)])
    current = pd.Series(0.0, index=true.index)
    played: list[pd.DataFrame] = []
    for k in range(rounds_for(n)):
        pairs = swiss_round(current, pd.concat(played) if played else None, seed=k).pairs
        for judge in ("j1", "j2"):
            p = win_probability(true[pairs["document_a"]].to_numpy(), true[pairs["document_b"]].to_numpy())
            verdict = np.where(rng.random(len(pairs)) < p, "A", "B")
            played.append(pairs.assign(verdict=verdict, evaluation_llm=judge, evaluation_template="p"))
        fitted = bradley_terry(pd.concat(played), per_judge=False, n_boot=100, seed=k)
        current = fitted.set_index("document")["rating"]
    final = bradley_terry(pd.concat(played), n_boot=500)
    pooled = final[final["scope"] == "pooled"].set_index("document")
    rho = stats.spearmanr(pooled["rating"], true[pooled.index]).statistic  # reference: scipy
    assert rho > 0.9
    rank_of_best = list(pooled.index).index(true.idxmax()) + 1
    # 14 comparisons per essay separate ratings ~0.6 logits apart, the true best is 0.03 above the next:
    # it is found among the leaders, not necessarily first
    assert rank_of_best <= n // 4, rank_of_best
    assert true[pooled.index[:10]].min() > 1.0  # the top ten found are all in the true top quarter
    assert (pooled["method"] == "linearised").all()
    # the intervals cover the truth (shifted to the fitted mean) for most essays despite the shrinkage
    centred = true[pooled.index] - true.mean()
    covered = ((pooled["ci_low"] <= centred) & (centred <= pooled["ci_high"])).mean()
    assert covered > 0.8


def test_bad_verdicts_and_self_comparisons_are_refused() -> None:
    frame = pd.DataFrame(
        {
            "document_a": ["a", "b"],
            "document_b": ["b", "a"],
            "verdict": ["A", "maybe"],
            "evaluation_llm": "j",
            "evaluation_template": "p",
        }
    )
    with pytest.raises(AnalysisInputError, match="row 1, field 'verdict'"):
        bradley_terry(frame)
    frame.loc[1, ["verdict", "document_b"]] = ["B", "b"]
    with pytest.raises(AnalysisInputError, match="compared with itself"):
        bradley_terry(frame)
    assert bradley_terry(frame.iloc[0:0]).empty
