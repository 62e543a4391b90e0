"""The Cartesian product of the factors, built with numpy index arithmetic.

Real cohorts reach millions of rows, so each column is one factor's per-level codes broadcast to
the product's shape, never a Python loop per row. The row count is computed from the factor sizes
first and refused above ``MAX_PLAN_ROWS`` before a single column is allocated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from daydream.errors import SpecError, located
from daydream.limits import MAX_PLAN_ROWS, over_limit
from daydream.spec.factors import Factor
from daydream.spec.values import Value, clip, is_replicate

SHOWN_FACTORS = 12
"""How many factor sizes a too-large error spells out."""


def _code_dtype(count: int) -> type[np.signedinteger[Any]]:
    """Smallest code type: a million-row column of int8 codes is 1 MB, not 8."""
    for dtype in (np.int8, np.int16, np.int32):
        if count < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _spread(per_level: np.ndarray, inner: int, outer: int) -> np.ndarray:
    """Each level repeated ``inner`` times, the whole block ``outer`` times: one product column."""
    size = len(per_level)
    return np.broadcast_to(per_level[None, :, None], (outer, size, inner)).reshape(-1)


def _product_column(axis: str, levels: list[Value], inner: int, outer: int) -> pd.Categorical | np.ndarray:
    if is_replicate(axis):
        return _spread(np.asarray(levels, dtype=np.int64), inner, outer)
    codes, categories = pd.factorize(np.asarray(levels, dtype=object))
    codes = codes.astype(_code_dtype(len(categories)))
    return pd.Categorical.from_codes(
        _spread(codes, inner, outer), categories=pd.Index(categories, dtype=object), validate=False
    )


def check_size(factors: Sequence[Factor], path: Path) -> int:
    """The product's row count, refused above the limit with the count and the factor sizes."""
    sizes = [len(f.rows) for f in factors]
    total = math.prod(sizes)
    too_many = over_limit(total, MAX_PLAN_ROWS)
    if too_many is not None:
        shape = " x ".join(f"{clip(f.name)}={n:,}" for f, n in zip(factors[:SHOWN_FACTORS], sizes, strict=False))
        if len(factors) > SHOWN_FACTORS:
            shape += f" x ... ({len(factors)} factors)"
        raise SpecError(
            located(f"the spec compiles to {total:,} rows ({shape}): {too_many}; restrict it with rules", file=path)
        )
    return total


def product(factors: Sequence[Factor], columns: Sequence[str], path: Path) -> pd.DataFrame:
    """One row per combination, the last factor varying fastest; columns in ``columns`` order."""
    total = check_size(factors, path)
    data: dict[str, Any] = {}
    inner, outer = total, 1
    for factor in factors:
        size = len(factor.rows)
        inner //= size
        for axis in factor.axes:
            data[axis] = _product_column(axis, factor.column(axis), inner, outer)
        outer *= size
    return pd.DataFrame({column: data[column] for column in columns}, copy=False)
