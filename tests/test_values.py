"""Numbers read out of JSON written by others: anything can appear, nothing may raise."""

from __future__ import annotations

import pytest

from daydream.values import optional_float


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.5, 1.5),
        ("2.25", 2.25),
        (3, 3.0),
        (None, None),
        (True, None),  # a boolean is not a count or a price
        ("n/a", None),
        ([], None),
        ({"cost": 1}, None),
        (10**400, None),  # float() raises OverflowError
        ("nan", None),
        (float("inf"), None),
        ("-inf", None),
    ],
)
def test_optional_float_never_raises_and_keeps_only_finite_numbers(value: object, expected: float | None) -> None:
    assert optional_float(value) == expected
