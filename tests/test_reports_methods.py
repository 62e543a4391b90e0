"""The statistics behind the reports: Krippendorff's alpha, the variance decomposition, buckets."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from daydream.reports.agreement import bucket, krippendorff_alpha_interval, krippendorff_alpha_matrix
from daydream.reports.pivots import template_family
from daydream.reports.variance import sequential_anova

NAN = np.nan


def test_alpha_textbook_example():
    """Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 coders, 12 units,
    missing values; the interval alpha is 0.849."""
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
    assert krippendorff_alpha_matrix(data) == pytest.approx(0.849, abs=5e-4)


def test_alpha_by_hand():
    """Two coders, three units: (1, 2), (3, 3), (5, 4). n = 6 pairable values.

    D_o = (1/6) * [2*(1)^2 + 0 + 2*(1)^2] / 1 = 4/6.
    Pooled values 1, 2, 3, 3, 5, 4: sum over ordered pairs of squared differences
    = 2 * (n * sum v^2 - (sum v)^2) = 2 * (6 * 64 - 18^2) = 120; D_e = 120 / (6 * 5) = 4.
    alpha = 1 - (4/6) / 4 = 5/6.
    """
    assert krippendorff_alpha_matrix([[1, 3, 5], [2, 3, 4]]) == pytest.approx(5 / 6)


def test_alpha_perfect_and_undefined():
    assert krippendorff_alpha_matrix([[1, 2, 3], [1, 2, 3]]) == pytest.approx(1.0)
    assert np.isnan(krippendorff_alpha_matrix([[2, 2], [2, 2]]))  # no variance at all
    assert np.isnan(krippendorff_alpha_interval(np.array(["a"]), np.array([1.0])))  # nothing pairable


def test_alpha_ignores_units_with_one_value():
    with_single = krippendorff_alpha_interval(
        np.array(["u1", "u1", "u2", "u2", "u3"]), np.array([1.0, 3.0, 3.0, 3.0, 9.0])
    )
    assert with_single == pytest.approx(krippendorff_alpha_matrix([[1, 3], [3, 3]]))


def test_agreement_buckets():
    ranges = pd.Series([0.0, 1.0, 1.5, 2.0, 3.0, 3.01, NAN])
    assert list(bucket(ranges)) == ["high", "high", "moderate", "moderate", "low", "poor", "single judge"]


# -- variance decomposition ------------------------------------------------------------------


def _balanced() -> tuple[pd.DataFrame, np.ndarray]:
    """2 combos x 2 draft templates x 2 judges x 2 replicates, y = 3*[combo B] + 1*[dt2] +/- 0.5."""
    rows = list(itertools.product(["A", "B"], ["dt1", "dt2"], ["j1", "j2"], [1, 2]))
    frame = pd.DataFrame(rows, columns=["combo_id", "draft_template", "evaluation_llm", "replicate"])
    y = (
        3.0 * (frame["combo_id"] == "B")
        + 1.0 * (frame["draft_template"] == "dt2")
        + np.where(frame["replicate"] == 1, 0.5, -0.5)
    ).to_numpy()
    return frame, y


FACTORS = [("combo", "combo_id"), ("draft_template", "draft_template"), ("evaluation_model", "evaluation_llm")]


def test_variance_decomposition_balanced_example():
    """Each combo effect is +/-1.5 around the mean on 16 rows: SS = 16 * 1.5^2 = 36; the template
    effect +/-0.5: SS = 16 * 0.25 = 4; judges 0; replicates +/-0.5: residual 4; total 44."""
    frame, y = _balanced()
    table = sequential_anova(frame, y, FACTORS).set_index("factor")
    assert table.loc["combo", "sum_sq"] == pytest.approx(36)
    assert table.loc["draft_template", "sum_sq"] == pytest.approx(4)
    assert table.loc["evaluation_model", "sum_sq"] == pytest.approx(0, abs=1e-9)
    assert table.loc["residual", "sum_sq"] == pytest.approx(4)
    assert table.loc["total", "sum_sq"] == pytest.approx(44)
    assert table.loc["combo", "share"] == pytest.approx(36 / 44)
    assert list(table.loc[["combo", "draft_template", "evaluation_model", "residual", "total"], "df"]) == [
        1,
        1,
        1,
        12,
        15,
    ]
    # balanced: the order of the factors does not change the answer
    reordered = sequential_anova(frame, y, FACTORS[::-1]).set_index("factor")
    assert reordered.loc["combo", "sum_sq"] == pytest.approx(36)


def test_variance_decomposition_unbalanced_matches_full_one_hot_fit():
    """Unbalanced, confounded data: the absorbed first factor gives the same type I sums of squares
    as fitting the full one-hot design step by step."""
    rng = np.random.default_rng(7)
    n = 300
    frame = pd.DataFrame(
        {
            "combo_id": rng.choice(list("ABCDEFG"), n),
            "draft_template": rng.choice(["t1", "t2"], n),
            "evaluation_llm": rng.choice(["j1", "j2", "j3"], n),
        }
    )
    frame.loc[frame["combo_id"] == "A", "draft_template"] = "t1"  # confound part of it
    y = (
        rng.normal(size=n)
        + (frame["combo_id"] == "B") * 2
        + (frame["draft_template"] == "t2") * 1.0
        + (frame["evaluation_llm"] == "j3") * 0.5
    ).to_numpy()
    table = sequential_anova(frame, y, FACTORS).set_index("factor")
    design = [np.ones((n, 1))]
    fitted_prev, expected = float(n * y.mean() ** 2), []
    for _, col in FACTORS:
        design.append(pd.get_dummies(frame[col]).to_numpy(dtype=float))
        x = np.hstack(design)
        coef = np.linalg.lstsq(x, y, rcond=None)[0]
        fitted = float(((x @ coef) ** 2).sum())
        expected.append(fitted - fitted_prev)
        fitted_prev = fitted
    for (name, _), ss in zip(FACTORS, expected, strict=False):
        assert table.loc[name, "sum_sq"] == pytest.approx(ss, rel=1e-9, abs=1e-9)
    assert table["share"].drop("total").sum() == pytest.approx(1.0)


def test_variance_decomposition_without_data():
    table = sequential_anova(pd.DataFrame({"combo_id": []}), np.array([]), [("combo", "combo_id")])
    assert list(table["factor"]) == ["combo", "residual", "total"] and table["sum_sq"].isna().all()


@pytest.mark.parametrize(
    "template_id, expected",
    [
        ("creative-synthesis-v10", ("creative-synthesis", "10")),
        ("judge_v2", ("judge", "2")),
        ("copy", ("copy", "")),
        ("v2", ("v2", "")),
    ],
)
def test_template_family(template_id, expected):
    assert template_family(template_id) == expected
