"""Store maintenance: the jobs of the older pipeline's scripts that a large store needs.

``cleanup`` removes (a cascade below chosen generations, a cohort's own generations, empty
directories), always planned first and shown with ``--dry-run``; ``survey`` only reads (identical
answers, unused templates); ``index`` reads the whole store's lineage and every cohort's membership
once for both. The CLI is ``daydream store ...`` (``daydream/cli/store.py``).
"""

from daydream.maintenance.cleanup import (
    RemovalPlan,
    execute,
    plan_cascade,
    plan_prune_empty,
    plan_purge_cohort,
    remove_generation,
)
from daydream.maintenance.index import StoreIndex, cohort_members
from daydream.maintenance.survey import DuplicateGroup, find_duplicates, normalise, unused_templates

__all__ = [
    "DuplicateGroup",
    "RemovalPlan",
    "StoreIndex",
    "cohort_members",
    "execute",
    "find_duplicates",
    "normalise",
    "plan_cascade",
    "plan_prune_empty",
    "plan_purge_cohort",
    "remove_generation",
    "unused_templates",
]
