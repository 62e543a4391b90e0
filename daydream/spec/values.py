"""What a level is: the axis names the DSL knows, one value normalised, and how messages quote values.

A level reaches the compiler from inline YAML, a CSV cell, a text line or a JSON item; here it
becomes what the plan holds (a stripped string, or a positive int on a replicate axis) or a
one-line error that says where it was written. Messages quote user values only through
``clip``/``listing``, so a 5 MB line or a million offending ids cannot flood a terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daydream.errors import SpecError, located, shown
from daydream.limits import MAX_PLAN_ROWS
from daydream.paths import STAGES, id_problem

Value = str | int
Row = tuple[Value, ...]

REPLICATE_AXES = tuple(f"{stage}_replicate" for stage in STAGES)
REPLICATE_ALIASES = {f"{stage}_template_replicate": f"{stage}_replicate" for stage in STAGES}
ID_AXES = ("combo_id", *(f"{stage}_{kind}" for stage in STAGES for kind in ("template", "llm")))
"""Axes whose levels become ids in paths (gens, templates, models): held to the id grammar here."""
LISTED_LEVELS = 20
"""How many axis levels an error shows when it lists them as a hint."""
LISTED_OFFENDERS = 50
"""How many offending values an error lists before it says how many there are in all."""
CLIP = 80
_DIGITS = re.compile(r"[0-9]{1,19}")


def canonical_axis(name: str) -> str:
    """``<stage>_template_replicate`` is the older pipeline's spelling of ``<stage>_replicate``."""
    return REPLICATE_ALIASES.get(name, name)


def is_replicate(axis: str) -> bool:
    return axis in REPLICATE_AXES


@dataclass(frozen=True)
class Site:
    """Where in the spec something was written: every error names the spec file and this place."""

    file: Path
    where: str

    def error(self, message: str) -> SpecError:
        return SpecError(located(f"{self.where}: {message}", file=self.file))


def clip(value: Any) -> str:
    """``str(value)`` cut to a readable length (values are listed bare, as the researcher wrote them)."""
    text = str(value)
    return text if len(text) <= CLIP else f"{text[: CLIP - 15]}... ({len(text):,} chars)"


def kind(value: Any) -> str:
    """What a value is, for 'expected X, got Y'; a string's content is quoted only briefly."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {shown(value, 40)}"


def quoted(values: Iterable[Any]) -> str:
    return ", ".join(f"'{clip(v)}'" for v in values)


def listing(values: Sequence[Any], limit: int = LISTED_OFFENDERS) -> str:
    """Values joined for a message, the first ``limit`` of them, then how many there are in all."""
    parts = [clip(v) for v in values[:limit]]
    if len(values) > limit:
        parts.append(f"... ({len(values):,} in all)")
    return ", ".join(parts)


def unique(values: Iterable[Any]) -> list[Any]:
    """De-duplicate keeping the first occurrence: the order the researcher wrote is the plan's order."""
    return list(dict.fromkeys(values))


def _about(axis: str, site: Site) -> str:
    """``axis 'x': `` unless the site already names that axis."""
    return "" if site.where == f"axis '{clip(axis)}'" else f"axis '{clip(axis)}': "


def level(axis: str, raw: Any, site: Site) -> Value:
    """A level as the plan holds it: replicates are positive ints, everything else a stripped string."""
    about = _about(axis, site)
    if isinstance(raw, bool):
        raise site.error(f"{about}YAML read {str(raw).lower()} as a boolean; quote it")
    if raw is None or isinstance(raw, (Mapping, list, tuple)):
        raise site.error(f"{about}expected a single value, got {kind(raw)}")
    if is_replicate(axis):
        return replicate(axis, raw, site)
    if isinstance(raw, float) and raw != raw:  # NaN from YAML's .nan
        raise site.error(f"{about}expected a value, got .nan")
    text = str(raw).strip()
    if not text:
        raise site.error(f"{about}empty value")
    if axis in ID_AXES:
        problem = id_problem(text)
        if problem is not None:
            raise site.error(f"{about}invalid id {shown(text)}: {problem}")
    return text


def replicate(axis: str, raw: Any, site: Site) -> int:
    """A replicate number: ASCII digits only (``'²'.isdigit()`` is True yet ``int`` refuses it), bounded."""
    cap = min(MAX_PLAN_ROWS.value, 2**62)
    number = 0
    if isinstance(raw, int) and not isinstance(raw, bool):
        number = raw
    elif isinstance(raw, str) and _DIGITS.fullmatch(raw.strip()):
        number = int(raw.strip())
    if not 1 <= number <= cap:
        raise site.error(
            f"{_about(axis, site)}replicate values must be positive integers up to {cap:,} "
            f"({MAX_PLAN_ROWS.env}), got {shown(raw, 40)}"
        )
    return number


def replicate_count(raw: Any, site: Site) -> int:
    """The count of ``replicates: {stage: N}``, refused at once when N alone exceeds the plan limit."""
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise site.error(f"expected a positive integer count, got {shown(raw, 40)}")
    cap = MAX_PLAN_ROWS.value
    if raw > cap:
        raise site.error(
            f"{raw:,} replicates, over the limit of {cap:,} rows a plan may have "
            f"(raise it with {MAX_PLAN_ROWS.env}); the spec was not compiled"
        )
    return raw
