"""Planning a cohort (docs/data-contract.md, "Cohorts"): spec, no-code or curated list -> generations.

A build is planned fully in memory first (ids, collisions, parent checks, a trial render of every
template) and only then written, so a bad spec or catalog leaves nothing half-written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import pandas as pd

from daydream.catalogs import Catalogs
from daydream.cohorts.definition import SELECTED_DRAFTS, SELECTED_ESSAYS, check_cohort_id, os_errors_as_one_line
from daydream.cohorts.expand import curated, expand_rows, no_code_frame
from daydream.cohorts.planner import Planner, PlanRow
from daydream.cohorts.settings import (
    CohortSettings,
    _combos_for,
    _load_spec_doc,
    _settings_from,
    compile_cohort_spec,
)
from daydream.combos import Combo, ComboCatalog
from daydream.errors import CohortError, SpecError, located
from daydream.membership import gc_paused
from daydream.paths import STAGES, DataLayout, Stage, check_id
from daydream.rendering import check_template
from daydream.store import GensStore


@dataclass
class CohortPlan:
    cohort_id: str
    source: str
    settings: CohortSettings
    membership: pd.DataFrame
    rows: list[PlanRow]
    combos: list[Combo]
    new_combos: list[Combo]
    manifest: dict[str, Any]
    tiers: dict[str, dict[str, int]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        counts = self.membership["stage"].value_counts()
        return {stage: int(counts.get(stage, 0)) for stage in STAGES}


def _plan_rows(
    planner: Planner,
    layout: DataLayout,
    catalogs: Catalogs,
    combo_catalog: ComboCatalog,
    *,
    k_max: int | None,
    level: str | None,
) -> tuple[str, CohortSettings, list[Combo]]:
    """Fill the planner from the cohort's definition; returns its source, settings and the combos it forms."""
    spec_dir = layout.spec_dir(planner.cohort_id)
    spec_path = layout.inside(layout.spec_file(planner.cohort_id))
    for listed in (SELECTED_ESSAYS, SELECTED_DRAFTS):
        layout.inside(spec_dir / listed)
    has_spec = spec_path.exists()
    if (k_max is not None or level is not None) and has_spec and "combos" not in _load_spec_doc(spec_path):
        raise SpecError(
            located(
                "--k-max/--level only apply to a spec with a 'combos' section or to the no-code "
                "cohort; this spec lists its combo_id axis itself",
                file=spec_path,
                field="combos",
            )
        )
    if (spec_dir / SELECTED_ESSAYS).exists() or (spec_dir / SELECTED_DRAFTS).exists():
        spec_frame: pd.DataFrame | None = None
        settings, generated = CohortSettings(), list[Combo]()
        if has_spec:
            spec_frame, settings, generated = compile_cohort_spec(
                layout, spec_path, catalogs, k_max=k_max, level=level, combo_catalog=combo_catalog
            )
        return curated(planner, spec_dir, catalogs, spec_frame), settings, generated
    if has_spec:
        frame, settings, generated = compile_cohort_spec(
            layout, spec_path, catalogs, k_max=k_max, level=level, combo_catalog=combo_catalog
        )
        expand_rows(planner, frame, spec_path)
        return "spec", settings, generated
    settings = _settings_from(None, None, k_max=k_max, level=level)
    generated = _combos_for(settings, catalogs, None)
    expand_rows(planner, no_code_frame(catalogs, generated), layout.concepts_csv)
    return "no-code", settings, generated


def plan_cohort(
    layout: DataLayout,
    cohort_id: str,
    *,
    k_max: int | None = None,
    level: str | None = None,
    catalogs: Catalogs | None = None,
    no_code: bool = False,
) -> CohortPlan:
    """Everything a build would write, computed and checked, nothing written."""
    with os_errors_as_one_line(), gc_paused():
        check_id(cohort_id, kind="cohort id", field="cohort_id")
        catalogs = catalogs or Catalogs.load(layout)
        check_cohort_id(layout, cohort_id, no_code=no_code)
        combo_catalog = ComboCatalog(layout.inside(layout.combo_mappings))
        planner = Planner(layout, cohort_id, catalogs)
        source, settings, generated = _plan_rows(planner, layout, catalogs, combo_catalog, k_max=k_max, level=level)
        new_combos = combo_catalog.ensure(generated, write=False)
        membership = planner.frame()
        drafts = membership["stage"] == "draft"
        used_combos = [
            combo_catalog.combos[c] for c in pd.unique(membership.loc[drafts, "combo_id"]) if c in combo_catalog.combos
        ]
        _check_parents(layout, membership)
        _check_templates(catalogs, membership)
    tiers = _tier_counts(planner.rows, catalogs)
    return CohortPlan(
        cohort_id=cohort_id,
        source=source,
        settings=settings,
        membership=membership,
        rows=planner.rows,
        combos=used_combos,
        new_combos=new_combos,
        manifest=_manifest(cohort_id, source, settings, membership, used_combos, tiers),
        tiers=tiers,
    )


def _check_parents(layout: DataLayout, membership: pd.DataFrame) -> None:
    drafts = membership.loc[membership["stage"] == "draft", "gen_id"]
    essays = membership[membership["stage"] == "essay"]
    orphans = essays[~essays["parent_gen_id"].isin(drafts)]
    if len(orphans):
        raise CohortError(
            f"essay {orphans['gen_id'].iloc[0]}: parent draft {orphans['parent_gen_id'].iloc[0]} is "
            f"not a draft of the cohort"
        )
    evaluations = membership[membership["stage"] == "evaluation"]
    outside = evaluations[~evaluations["parent_gen_id"].isin(membership["gen_id"])].drop_duplicates("parent_gen_id")
    store = GensStore(layout)
    for gen_id, parent in zip(outside["gen_id"], outside["parent_gen_id"], strict=False):
        if not (store.exists("essay", parent, "metadata.json") or store.exists("draft", parent, "metadata.json")):
            raise CohortError(f"evaluation {gen_id}: parent {parent} exists neither in the cohort nor in gens/")


def _check_templates(catalogs: Catalogs, membership: pd.DataFrame) -> None:
    """Every LLM template the cohort uses must render; a broken one stops the build before any write."""
    for stage in STAGES:
        for template_id in membership.loc[membership["stage"] == stage, "template_id"].unique():
            template = catalogs.templates[stage].get(template_id)
            if template is None or template.is_copy:
                continue
            check_template(stage, catalogs.template_path(stage, template_id))


def _tier_counts(rows: list[PlanRow], catalogs: Catalogs) -> dict[str, dict[str, int]]:
    """Generations per stage and pool: ``local`` for copies, else the model's tier."""
    tiers = {model_id: model.tier for model_id, model in catalogs.models.items()}
    counts: dict[str, dict[str, int]] = {stage: {} for stage in STAGES}
    for (stage, llm, mode), n in Counter(map(attrgetter("stage", "llm_model_id", "mode"), rows)).items():
        tier = "local" if mode == "copy" else tiers.get(llm, "unknown")
        counts[stage][tier] = counts[stage].get(tier, 0) + n
    return counts


def tier_of(catalogs: Catalogs, model_id: str | None) -> str:
    model = catalogs.models.get(model_id or "")
    return model.tier if model else "unknown"


def _manifest(
    cohort_id: str,
    source: str,
    settings: CohortSettings,
    membership: pd.DataFrame,
    combos: list[Combo],
    tiers: dict[str, dict[str, int]],
) -> dict[str, Any]:
    by_stage = {stage: membership[membership["stage"] == stage] for stage in STAGES}

    def unique(stage: Stage, column: str) -> list[str]:
        return [str(v) for v in pd.unique(by_stage[stage][column]) if v]

    generation_llms = list(dict.fromkeys(unique("draft", "llm_model_id") + unique("essay", "llm_model_id")))
    return {
        "cohort_id": cohort_id,
        "source": source,
        "combos": [c.combo_id for c in combos],
        "templates": {stage: unique(stage, "template_id") for stage in STAGES},
        "llms": {"generation": generation_llms, "evaluation": unique("evaluation", "llm_model_id")},
        "k_max": settings.k_max,
        "description_level": settings.description_level,
        "counts": {stage: len(by_stage[stage]) for stage in STAGES},
        "tiers": tiers,
    }
