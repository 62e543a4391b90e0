"""What the Airflow DAGs do, with no Airflow import: every task is a line or two into here.

- ``stage``: one stage of one cohort (the work left by tier, one generation, the stage summary);
- ``cohort``: a cohort run (build, reports, how the run ended, the cohorts to resume with their budget).

Modules that pull in pandas (cohorts, membership, status, reports) are imported inside the functions
that need them: a mapped generation task only runs ``run_generation``, and every task instance is a new
process, so its imports are paid once per generation.
"""

from daydream.orchestration.cohort import (
    Budget,
    CohortOutcome,
    RunSettings,
    build_cohort,
    build_reports,
    cohort_choices,
    cohort_failures,
    cohort_outcome,
    read_stage_summaries,
    resume_confs,
    resumed_settings,
    save_run_settings,
    unfinished_cohorts,
)
from daydream.orchestration.stage import (
    LOCAL_TIER,
    TIERS,
    Work,
    check_map_length,
    crashed,
    list_work,
    run_generation,
    run_stage_inline,
    stage_work,
    summarize_stage,
    summary_file,
    write_stage_summary,
)

__all__ = [
    "LOCAL_TIER",
    "TIERS",
    "Budget",
    "CohortOutcome",
    "RunSettings",
    "Work",
    "build_cohort",
    "build_reports",
    "check_map_length",
    "cohort_choices",
    "cohort_failures",
    "cohort_outcome",
    "crashed",
    "list_work",
    "read_stage_summaries",
    "resume_confs",
    "resumed_settings",
    "run_generation",
    "run_stage_inline",
    "save_run_settings",
    "stage_work",
    "summarize_stage",
    "summary_file",
    "unfinished_cohorts",
    "write_stage_summary",
]
