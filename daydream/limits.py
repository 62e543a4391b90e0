"""Bounds on what one input may cost, checked before the work starts.

A spec, a template or a judge's answer is user data, and a typo in one (``k_max: 12`` over 77
concepts, ``replicates: {draft: 1000000000}``, a template that renders itself into gigabytes) must
fail at once with the number it would have produced and the limit, not after memory or money ran
out. Each limit has a documented default and an environment variable to raise it (README,
"Configuration").
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from daydream.errors import DayDreamError


@dataclass(frozen=True)
class Limit:
    """One configurable bound: ``DAYDREAM_<NAME>`` overrides ``default``."""

    env: str
    default: int
    what: str
    unit: str

    @property
    def value(self) -> int:
        raw = os.environ.get(self.env, "").strip()
        if not raw:
            return self.default
        try:
            number = int(raw.replace("_", ""))
        except ValueError:
            raise DayDreamError(f"environment variable {self.env}: expected a whole number, got {raw[:40]!r}") from None
        if number < 1:
            raise DayDreamError(f"environment variable {self.env}: must be at least 1, got {number}")
        return number


MAX_PLAN_ROWS = Limit("DAYDREAM_MAX_PLAN_ROWS", 5_000_000, "rows a spec or a cohort plan may compile to", "rows")
"""A 1.1M-row cohort builds in under 1 GiB; 5M stays inside a laptop's memory."""
MAX_COMBOS = Limit("DAYDREAM_MAX_COMBOS", 1_000_000, "k-subsets one combos section may form", "combos")
MAX_PROMPT_CHARS = Limit("DAYDREAM_MAX_PROMPT_CHARS", 1_000_000, "characters of one rendered prompt", "characters")
"""About 250k tokens: above every provider's context window, far below what hurts memory."""
MAX_SPEC_BYTES = Limit("DAYDREAM_MAX_SPEC_BYTES", 10_000_000, "bytes of a spec file or an @file it reads", "bytes")
MAX_YAML_NODES = Limit("DAYDREAM_MAX_YAML_NODES", 1_000_000, "YAML nodes in a spec, aliases expanded", "YAML nodes")
MAX_YAML_DEPTH = Limit("DAYDREAM_MAX_YAML_DEPTH", 64, "nesting depth of a spec's YAML", "levels")
MAX_JUDGE_OUTPUT_CHARS = Limit("DAYDREAM_MAX_JUDGE_OUTPUT_CHARS", 5_000_000, "characters a parser reads", "characters")

ALL_LIMITS = (
    MAX_PLAN_ROWS,
    MAX_COMBOS,
    MAX_PROMPT_CHARS,
    MAX_SPEC_BYTES,
    MAX_YAML_NODES,
    MAX_YAML_DEPTH,
    MAX_JUDGE_OUTPUT_CHARS,
)


def over_limit(count: int, limit: Limit) -> str | None:
    """The sentence to put in an error when ``count`` exceeds ``limit``, else None."""
    cap = limit.value
    if count <= cap:
        return None
    return f"{count:,} {limit.unit}, over the limit of {cap:,} {limit.unit} (raise it with {limit.env})"
