"""Krippendorff's alpha with a bootstrap interval: the textbook value, the reports' implementation,
and a resample written out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from daydream.analysis.agreement import alpha_from_totals, alpha_intervals, krippendorff_alpha, unit_statistics
from daydream.analysis.bootstrap import count_chunks
from daydream.reports.agreement import krippendorff_alpha_interval, krippendorff_alpha_matrix

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 4 coders x 12 units example
# with missing values; interval alpha = 0.849.
TEXTBOOK = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


def long_form(matrix: list[list[float]]) -> pd.DataFrame:
    rows = [
        {"document_gen_id": f"u{u}", "evaluation_llm": f"c{c}", "x10": v}
        for c, coder in enumerate(matrix)
        for u, v in enumerate(coder)
        if not np.isnan(v)
    ]
    return pd.DataFrame(rows)


def test_textbook_value() -> None:
    frame = long_form(TEXTBOOK)
    assert krippendorff_alpha(frame["document_gen_id"].to_numpy(), frame["x10"].to_numpy()) == pytest.approx(
        0.849, abs=5e-4
    )


def test_same_as_the_reports_implementation_on_random_data() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        units = rng.integers(0, 30, 120)
        values = rng.normal(units % 5, 1.0)
        values[rng.random(120) < 0.1] = np.nan
        assert krippendorff_alpha(units, values) == pytest.approx(krippendorff_alpha_interval(units, values))
    assert krippendorff_alpha(*_textbook_pairs()) == pytest.approx(krippendorff_alpha_matrix(TEXTBOOK))


def _textbook_pairs() -> tuple[np.ndarray, np.ndarray]:
    frame = long_form(TEXTBOOK)
    return frame["document_gen_id"].to_numpy(), frame["x10"].to_numpy()


def test_hand_computation_two_units() -> None:
    # units {1, 3} and {2, 2}: n = 4, D_o = (2*(1-3)^2/1 + 0)/4 = 2, D_e = sum_{i!=j}(v_i - v_j)^2/(4*3)
    # = 2*(4*18 - 8^2)/12 = 4/3, alpha = 1 - 2/(4/3) = -0.5
    assert krippendorff_alpha(np.array([0, 0, 1, 1]), np.array([1.0, 3.0, 2.0, 2.0])) == pytest.approx(-0.5)


def test_bootstrap_resample_equals_alpha_of_the_resampled_units() -> None:
    frame = long_form(TEXTBOOK)
    stats = unit_statistics(frame["document_gen_id"].to_numpy(), frame["x10"].to_numpy())
    pairable = sorted(set(frame["document_gen_id"]) - {"u11"})  # np.unique order; u11 has one value
    _, counts = next(count_chunks(len(stats), 5, seed=0))
    for row in counts:
        # resample by hand: repeat each unit as often as drawn, renaming the copies
        parts = [
            frame[frame["document_gen_id"] == unit].assign(document_gen_id=f"{unit}#{k}")
            for unit, times in zip(pairable, row.astype(int), strict=True)
            for k in range(times)
        ]
        by_hand = pd.concat(parts)
        expected = krippendorff_alpha_interval(by_hand["document_gen_id"].to_numpy(), by_hand["x10"].to_numpy())
        assert float(alpha_from_totals(row @ stats)) == pytest.approx(expected)


def test_intervals_per_group() -> None:
    frame = pd.concat([long_form(TEXTBOOK).assign(evaluation_template="t1"), _noise().assign(evaluation_template="t2")])
    out = alpha_intervals(frame, "x10", ["document_gen_id"], ["evaluation_template"], n_boot=1000, seed=1)
    t1, t2 = out.iloc[0], out.iloc[1]
    assert t1["alpha"] == pytest.approx(0.849, abs=5e-4) and t1["n_units"] == 11 and t1["n_values"] == 40
    assert t1["ci_low"] < t1["alpha"] < t1["ci_high"] <= 1.0
    assert t2["ci_low"] < 0.0 < t2["ci_high"]  # coders that agree at chance level


def _noise() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    return pd.DataFrame(
        {
            "document_gen_id": np.repeat(np.arange(300), 3).astype(str),
            "evaluation_llm": np.tile(["a", "b", "c"], 300),
            "x10": rng.integers(0, 11, 900).astype(float),
        }
    )


def test_no_pairable_unit_gives_nan() -> None:
    frame = pd.DataFrame({"document_gen_id": ["a", "b"], "x10": [1.0, 2.0]})
    out = alpha_intervals(frame, "x10", ["document_gen_id"], n_boot=50)
    assert np.isnan(out.loc[0, "alpha"]) and out.loc[0, "n_units"] == 0
