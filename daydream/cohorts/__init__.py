"""Building cohorts (docs/data-contract.md, "Cohorts"): a spec, the no-code cross product or a curated
list of gen ids -> the cohort's generations, their ids, ``membership.csv`` and ``manifest.json``.

The package reads in the order a build runs: ``definition`` (the cohort's id, directory, lists and
manifest), ``settings`` (the ``combos`` section and the spec compiled with its combos),
``planner`` and ``expand`` (generations with their ids), ``plan`` (the whole plan, checked), and
``write`` (the only module that writes). Callers import from here.
"""

from daydream.cohorts.definition import (
    SELECTED_DRAFTS,
    SELECTED_ESSAYS,
    CohortEntry,
    check_cohort_id,
    list_cohorts,
    manifest_total,
    read_id_list,
    read_manifest,
    scan_cohorts,
)
from daydream.cohorts.plan import CohortPlan, _check_parents, plan_cohort, tier_of
from daydream.cohorts.planner import PlanRow
from daydream.cohorts.settings import (
    AXIS_CATALOG,
    LLM_AXES,
    CohortSettings,
    _combos_for,
    _settings_from,
    compile_cohort_spec,
    known_ids,
)
from daydream.cohorts.write import CohortBuildResult, _seed_all, build_cohort

__all__ = [
    "AXIS_CATALOG",
    "LLM_AXES",
    "SELECTED_DRAFTS",
    "SELECTED_ESSAYS",
    "CohortBuildResult",
    "CohortEntry",
    "CohortPlan",
    "CohortSettings",
    "PlanRow",
    "_check_parents",
    "_combos_for",
    "_seed_all",
    "_settings_from",
    "build_cohort",
    "check_cohort_id",
    "compile_cohort_spec",
    "known_ids",
    "list_cohorts",
    "manifest_total",
    "plan_cohort",
    "read_id_list",
    "read_manifest",
    "scan_cohorts",
    "tier_of",
]
