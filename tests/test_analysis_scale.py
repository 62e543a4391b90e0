"""The fast paths a 20,000-comparison report takes give the results of the exact ones.

- Bradley-Terry above ``bt_fit.DENSE_MAX`` essays solves its Newton steps and its linearised
  bootstrap by sparse conjugate gradients: the ratings, standard errors and intervals equal the dense
  Cholesky path's (run on the same data with the threshold raised) to 1e-9;
- the linearised bootstrap factorises its information matrix densely up to
  ``bt_fit.BOOTSTRAP_DENSE_MAX`` essays, in single precision: its draws equal the double-precision
  conjugate-gradient path's to 1e-5 (logits; the intervals are shown to 0.01);
- ``conjugate_gradients`` against ``scipy.linalg.solve`` on a prior-regularised graph Laplacian;
- ``resample_global`` with several totals at once equals one call per totals matrix;
- ``ComparisonStore.outcomes`` (one pass over the store) agrees with ``state``/``verdict`` of each
  comparison: done, failed, pending, and a comparison directory that is a link (never followed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import copy_bundled_data
from scipy import linalg, sparse

from daydream.analysis import bootstrap, bt_fit
from daydream.analysis.bradley_terry import bradley_terry
from daydream.paths import DataLayout
from daydream.tournament.store import ComparisonStore, new_metadata


def _swiss_like(n: int, rounds: int, seed: int) -> pd.DataFrame:
    """``rounds`` random pairings of ``n`` essays, both orders, two judges, verdicts from a planted quality."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=n)
    rows = []
    for _ in range(rounds):
        order = rng.permutation(n)
        for x, y in zip(order[::2], order[1::2], strict=True):
            for a, b in ((x, y), (y, x)):
                for judge in ("j1", "j2"):
                    margin = quality[a] - quality[b] + rng.logistic()
                    verdict = "tie" if abs(margin) < 0.05 else ("A" if margin > 0 else "B")
                    rows.append((f"e{a:04d}", f"e{b:04d}", judge, "pairwise-v1", verdict))
    return pd.DataFrame(rows, columns=["document_a", "document_b", "judge", "template", "verdict"])


def test_sparse_bradley_terry_equals_the_dense_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _swiss_like(bt_fit.DENSE_MAX + 100, rounds=4, seed=5)
    assert frame["document_a"].nunique() > bt_fit.DENSE_MAX
    fast = bradley_terry(frame, judge="judge", template="template", n_boot=200)
    monkeypatch.setattr(bt_fit, "DENSE_MAX", 10**9)
    dense = bradley_terry(frame, judge="judge", template="template", n_boot=200)
    keys = ["scope", "document"]
    fast, dense = fast.set_index(keys), dense.set_index(keys)
    assert fast.index.sort_values().equals(dense.index.sort_values())
    fast = fast.reindex(dense.index)
    for column in ("rating", "se", "ci_low", "ci_high"):
        assert np.abs(fast[column] - dense[column]).max() < 1e-9, column
    assert (fast["n_comparisons"] == dense["n_comparisons"]).all()


def test_dense_bootstrap_draws_equal_the_sparse_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _swiss_like(bt_fit.DENSE_MAX + 100, rounds=4, seed=6)
    docs, codes = np.unique(frame[["document_a", "document_b"]].to_numpy().ravel(), return_inverse=True)
    s = frame["verdict"].map({"A": 1.0, "B": 0.0, "tie": 0.5}).to_numpy()
    comp = bt_fit.Comparisons(codes[0::2], codes[1::2], s, docs.size)
    ratings = bt_fit.fit(comp)
    cluster = np.arange(comp.i.size) // 2
    _, counts = next(bootstrap.count_chunks(int(cluster.max()) + 1, 50, seed=2))
    dense = bt_fit.Linearisation(comp, ratings, cluster, bt_fit.PRIOR_SD)
    assert dense.solver.sparse is None
    monkeypatch.setattr(bt_fit, "BOOTSTRAP_DENSE_MAX", 0)
    sparse_path = bt_fit.Linearisation(comp, ratings, cluster, bt_fit.PRIOR_SD)
    assert sparse_path.solver.sparse is not None
    assert dense.solver.factor[0].dtype == bt_fit.BOOTSTRAP_DTYPE
    assert np.abs(dense.draws(counts) - sparse_path.draws(counts)).max() < 1e-5


def test_conjugate_gradients_solves_a_regularised_laplacian() -> None:
    rng = np.random.default_rng(2)
    n = 300
    i, j = rng.integers(0, n, 900), rng.integers(0, n, 900)
    keep = i != j
    comp = bt_fit.Comparisons(i[keep], j[keep], np.ones(int(keep.sum())), n)
    v = rng.uniform(0.01, 0.25, comp.i.size)
    h = bt_fit.sparse_hessian(comp, v, 0.25)
    assert np.allclose(h.toarray(), bt_fit.hessian(comp, v, 0.25))
    rhs = rng.normal(size=(n, 7))
    expected = linalg.solve(bt_fit.hessian(comp, v, 0.25), rhs, assume_a="pos")
    assert np.abs(bt_fit.conjugate_gradients(h, rhs) - expected).max() < 1e-9
    assert np.abs(bt_fit.conjugate_gradients(h, rhs[:, 0]) - expected[:, 0]).max() < 1e-9
    assert not bt_fit.conjugate_gradients(h, np.zeros(n)).any()


def test_resample_global_stacked_equals_one_call_each() -> None:
    rng = np.random.default_rng(3)
    narrow = [sparse.random(500, k, density=0.4, format="csr", random_state=k) for k in (1, 3, 5)]
    wide = sparse.random(500, bootstrap.DENSE_GROUPS + 4, density=0.05, format="csr", random_state=9)
    dense = rng.normal(size=(500, 2))
    totals = [*narrow, wide, dense]
    points, draws = bootstrap.resample_global(totals, 300, 11)
    for k, total in enumerate(totals):
        point, draw = bootstrap.resample_global([total], 300, 11)
        assert np.allclose(points[k], point[0]) and np.allclose(draws[k], draw[0], rtol=0, atol=1e-9), k


def test_comparison_outcomes_in_one_pass_agree_with_each_read(tmp_path) -> None:
    layout = DataLayout.at(copy_bundled_data(tmp_path / "data"))
    store = ComparisonStore(layout)
    ids = [store.place(new_metadata(f"e_{k}a", f"e_{k}b", "pairwise-v1", "j1", cohort_id="t")).gen_id for k in range(5)]
    (store.dir(ids[0]) / "parsed.txt").write_text("A\n")
    (store.dir(ids[1]) / "parsed.txt").write_text("tie\n")
    (store.dir(ids[2]) / "raw.txt").write_text("I cannot decide")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "parsed.txt").write_text("B\n")
    store.dir(ids[4]).rename(tmp_path / "moved")
    store.dir(ids[4]).symlink_to(outside, target_is_directory=True)
    missing = "c_" + "0" * 14 if ids[0] != "c_" + "0" * 14 else "c_" + "1" * 14
    got = store.outcomes([*ids, missing])
    assert got[:4] == [("done", "A"), ("done", "tie"), ("failed", None), ("pending", None)]
    assert got[4] == ("pending", None)  # a link is never followed: its verdict is not read
    assert got[5] == ("pending", None)
    assert [(store.state(g), store.verdict(g)) for g in ids[:4]] == got[:4]


def test_binomial_test_half_is_scipys_exact_test() -> None:
    from scipy.stats import binomtest

    from daydream.analysis.position import binomial_test_half

    cases = [(k, n) for n in range(1, 60) for k in range(n + 1)] + [(5_300, 10_000), (4_999, 10_000)]
    for k, n in cases:
        assert abs(binomial_test_half(k, n) - binomtest(k, n, 0.5).pvalue) < 1e-12, (k, n)
