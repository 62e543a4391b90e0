"""Reading numbers out of JSON written by others (providers, older stores), where anything can appear."""

from __future__ import annotations

from typing import Any


def optional_float(value: Any) -> float | None:
    """A float, or ``None`` for absent, boolean or non-numeric values (never an exception)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
