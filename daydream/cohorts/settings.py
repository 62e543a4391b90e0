"""A cohort's combo settings and its spec compiled with the combos injected.

The ``combos:`` section of a spec is user data that multiplies: ``k_max`` picks the size of every
k-subset, so its type and the number of subsets it forms are checked before a single combo exists
(``math.comb`` against ``limits.MAX_COMBOS``), and a value that is not a whole number is an error,
never rounded down.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from daydream import limits
from daydream.catalogs import Catalogs
from daydream.combos import DEFAULT_K_MAX, DEFAULT_LEVEL, Combo, ComboCatalog, k_subsets
from daydream.errors import CohortError, DayDreamError, SpecError, located, shown
from daydream.paths import DESCRIPTION_LEVELS, DataLayout

AXIS_CATALOG = {
    "draft_template": "draft",
    "essay_template": "essay",
    "evaluation_template": "evaluation",
}
LLM_AXES = ("draft_llm", "essay_llm", "evaluation_llm")
COMBOS_KEYS = ("k_max", "description_level", "concepts")
LISTED = 10
"""How many unknown concept ids an error lists before it says how many there are in all."""


def _known_level(value: str) -> str:
    if value not in DESCRIPTION_LEVELS:
        raise ValueError(f"unknown description level (known: {', '.join(DESCRIPTION_LEVELS)})")
    return value


class CohortSettings(BaseModel):
    """Per-cohort combo settings: from the spec's ``combos`` key, CLI flags, or the defaults.

    Strict types: YAML gives ``2.7``, ``"3"`` or ``true`` as they were written, and each is a
    mistake to report, not a value to coerce.
    """

    model_config = ConfigDict(extra="forbid")

    k_max: Annotated[StrictInt, Field(ge=1)] = DEFAULT_K_MAX
    description_level: Annotated[StrictStr, AfterValidator(_known_level)] = DEFAULT_LEVEL
    concepts: list[StrictStr] | None = None


def _combos_section(spec_doc: dict[str, Any] | None, path: Path | None) -> dict[str, Any]:
    raw = (spec_doc or {}).get("combos") or {}
    if not isinstance(raw, dict):
        raise SpecError(
            located("'combos' must be a mapping with k_max, description_level, concepts", file=path, field="combos")
        )
    unknown = [str(k) for k in raw if k not in (*COMBOS_KEYS, "level")]
    if unknown:
        raise SpecError(
            located(
                f"unknown key(s) {', '.join(shown(k, 40) for k in sorted(unknown))} (known: {', '.join(COMBOS_KEYS)})",
                file=path,
                field="combos",
            )
        )
    if "level" in raw and "description_level" in raw:
        raise SpecError(
            located("give description_level once ('level' is its older name)", file=path, field="combos.level")
        )
    section = dict(raw)
    if "level" in section:
        section["description_level"] = section.pop("level")
    return section


def _settings_from(
    spec_doc: dict[str, Any] | None, path: Path | None, *, k_max: int | None, level: str | None
) -> CohortSettings:
    """The cohort's settings: CLI flags over the spec's ``combos`` section over the defaults."""
    section = _combos_section(spec_doc, path)
    if k_max is not None:
        if isinstance(k_max, bool) or not isinstance(k_max, int) or k_max < 1:
            raise CohortError(f"--k-max: expected a whole number of at least 1, got {shown(k_max)}")
        section["k_max"] = k_max
    if level is not None:
        section["description_level"] = level
    if section.get("concepts") is None:
        section.pop("concepts", None)
    try:
        return CohortSettings.model_validate(section)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        if "got" not in message:
            message = f"{message}, got {shown(first.get('input'))}"
        raise SpecError(located(message, file=path, field=f"combos.{name}")) from None


def _concept_ids(settings: CohortSettings, catalogs: Catalogs, spec_path: Path | None) -> list[str]:
    if settings.concepts is None:
        return catalogs.active_concept_ids
    missing = [c for c in dict.fromkeys(settings.concepts) if c not in catalogs.concepts]
    if missing:
        listed = ", ".join(shown(c, 40) for c in missing[:LISTED])
        more = f" ... ({len(missing)} in all)" if len(missing) > LISTED else ""
        raise SpecError(
            located(
                f"unknown concept id(s) not in concepts_metadata.csv: {listed}{more}",
                file=spec_path,
                field="combos.concepts",
            )
        )
    return list(dict.fromkeys(settings.concepts))


def _combos_for(settings: CohortSettings, catalogs: Catalogs, spec_path: Path | None) -> list[Combo]:
    """Every k-subset the settings ask for, refused before any is formed when there would be too many."""
    concept_ids = _concept_ids(settings, catalogs, spec_path)
    where = spec_path or catalogs.layout.concepts_csv
    field = "combos.k_max" if spec_path else "k_max"
    if settings.k_max <= len(concept_ids):
        count = math.comb(len(concept_ids), settings.k_max)
        problem = limits.over_limit(count, limits.MAX_COMBOS)
        if problem is not None:
            raise SpecError(
                located(f"k_max {settings.k_max} over {len(concept_ids)} concepts: {problem}", file=where, field=field)
            )
    try:
        return k_subsets(concept_ids, settings.k_max, settings.description_level)
    except DayDreamError as exc:
        raise SpecError(located(str(exc), file=where, field=field)) from None


def known_ids(catalogs: Catalogs, combo_ids: Iterable[str]) -> dict[str, set[str]]:
    known: dict[str, set[str]] = {axis: set(catalogs.templates[stage]) for axis, stage in AXIS_CATALOG.items()}
    for axis in LLM_AXES:
        known[axis] = set(catalogs.models)
    known["combo_id"] = set(combo_ids)
    return known


def _load_spec_doc(path: Path) -> dict[str, Any]:
    from daydream.spec import load_spec

    return load_spec(path)


def compile_cohort_spec(
    layout: DataLayout,
    spec_path: Path,
    catalogs: Catalogs | None = None,
    *,
    k_max: int | None = None,
    level: str | None = None,
    combo_catalog: ComboCatalog | None = None,
) -> tuple[pd.DataFrame, CohortSettings, list[Combo]]:
    """Compile a spec with the cohort's combos injected; shared by ``spec compile`` and ``cohort build``."""
    from daydream.spec import compile_spec

    catalogs = catalogs or Catalogs.load(layout)
    combo_catalog = combo_catalog or ComboCatalog(layout.combo_mappings)
    doc = _load_spec_doc(spec_path)
    settings = _settings_from(doc, spec_path, k_max=k_max, level=level)
    injected: dict[str, list[str]] = {}
    generated: list[Combo] = []
    if "combos" in doc:
        generated = _combos_for(settings, catalogs, spec_path)
        injected["combo_id"] = [c.combo_id for c in generated]
    frame = compile_spec(
        spec_path,
        known_ids=known_ids(catalogs, [*combo_catalog.combos, *injected.get("combo_id", [])]),
        injected_axes=injected,
    )
    return frame, settings, generated
