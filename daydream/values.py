"""Reading numbers out of JSON written by others (providers, older stores), where anything can appear."""

from __future__ import annotations

import math
from typing import Any


def optional_float(value: Any) -> float | None:
    """A finite float, or ``None`` for absent, boolean, non-numeric, non-finite or out-of-range values.

    Never an exception: a 400-digit integer in a provider's JSON (``float()`` raises OverflowError)
    or a ``NaN`` must not take down the reader of a whole store.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
