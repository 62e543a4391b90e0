"""The names Airflow knows DayDream's parts by, and the few settings a deployment may change.

No Airflow import: the developer scripts (``include/scripts/local_airflow``) read the DAG ids from
here too, without loading Airflow.
"""

from __future__ import annotations

import os

from daydream.errors import DayDreamError, shown
from daydream.orchestration.stage import LOCAL_TIER, TIERS
from daydream.paths import STAGES, DataLayout

COHORT_DAG_ID = "daydream_cohort"
REPORT_DAG_ID = "daydream_report"
RESUME_DAG_ID = "daydream_resume"
STAGE_DAG_IDS: dict[str, str] = {stage: f"daydream_{stage}" for stage in STAGES}
RUN_DAG_IDS: tuple[str, ...] = (COHORT_DAG_ID, *STAGE_DAG_IDS.values(), REPORT_DAG_ID)
"""The DAGs one cohort run uses (``daydream_resume`` only starts runs of ``daydream_cohort``)."""
TAGS = ["daydream"]

LIST_TASK_ID = "list_generations"
BATCH_GROUPS_TASK_ID = "batch_models"
BATCH_TASK_ID = "batch_lane"
"""The batch lane of a stage DAG (``daydream.airflow.batch``): the grouping task and the mapped task."""
BUILD_TASK_ID = "build_cohort"
REPORT_STEP = "report"
COHORT_STEPS: tuple[str, ...] = (*STAGES, REPORT_STEP)
"""What a cohort run does after the build, in order: each step triggers its DAG and waits for it."""


def generate_task_id(tier: str) -> str:
    """The mapped task of one tier in a stage DAG (one instance per generation)."""
    return f"generate_{tier}"


def step_task_id(step: str) -> str:
    """The task of the cohort DAG that runs one step (a stage or the report)."""
    return f"run_{step}"


POOLS: dict[str, str] = {tier: f"llm_api_{tier}" for tier in TIERS if tier != LOCAL_TIER} | {LOCAL_TIER: "default_pool"}
"""The pool of each tier's mapped task (declared in include/pools.json; ``local`` makes no call)."""

GENERATION_RETRIES = 2
"""Airflow retries of one generation task: for crashed or killed workers. A failed generation is
recorded and returned, not raised, so it is not retried by Airflow (a rerun re-validates it)."""

GENERATION_PATH_ENV = "DAYDREAM_GENERATION_PATH"
GENERATION_PATHS = ("triggerer", "worker")
"""Where a stage DAG's generations run, chosen when the DAG file is parsed: ``triggerer`` (default: one
trigger per generation, no worker process, ``daydream.airflow.triggers``) or ``worker`` (the fallback:
one worker process per generation, Airflow's pools apply directly). ``airflow dags test`` runs the
worker face whatever the setting."""

SQLITE_CONNECT_ARGS: dict[str, object] = {"timeout": 120}
"""The local Airflow's SQLite connections (``[database] sql_alchemy_connect_args``, set by
include/scripts/airflow_env.sh): wait up to 120 s for a lock instead of SQLite's 5 s. The scheduler
expands a 5,000-generation stage in one transaction of tens of seconds on a loaded machine, and the
triggerer, which fails on a locked database, would die meanwhile."""

AIRFLOW_API_CONN_ID_ENV = "DAYDREAM_AIRFLOW_API_CONN_ID"
DEFAULT_AIRFLOW_API_CONN_ID = "daydream_airflow_api"
POOL_REFRESH_S = 2.0
"""How often a triggerer reads a pool's size again: a resize in the UI takes effect within this."""
FALLBACK_POOL_SLOTS = 1
"""Calls in flight per pool while its size cannot be read (no API connection): the safe side."""
UI_PREFIX = "/daydream"
"""Where the api-server mounts the DayDream page."""
GENERATION_API_PREFIX = "/daydream-api"
LABELS_PATH = f"{GENERATION_API_PREFIX}/labels"
"""DayDream's endpoint on the API server that labels trigger-started task instances with their gen id."""

DAG_TEST_USER = "dag_test"
"""``triggering_user_name`` of the runs that ``dag.test()`` / ``airflow dags test`` create (3.3)."""

LLM_CONN_ID_ENV = "DAYDREAM_LLM_CONN_ID"
TRIGGER_POLL_ENV = "DAYDREAM_TRIGGER_POLL_SECONDS"
RESUME_SCHEDULE_ENV = "DAYDREAM_RESUME_SCHEDULE"
DEFAULT_RESUME_SCHEDULE = "@daily"


def layout() -> DataLayout:
    """The data root: ``$DAYDREAM_DATA_ROOT``, else ``./data`` of the process."""
    return DataLayout.at(None)


def llm_conn_id() -> str:
    return os.environ.get(LLM_CONN_ID_ENV, "llm_default")


def generation_path() -> str:
    """``$DAYDREAM_GENERATION_PATH``: ``triggerer`` (default) or ``worker``."""
    value = os.environ.get(GENERATION_PATH_ENV, "triggerer").strip().lower() or "triggerer"
    if value not in GENERATION_PATHS:
        raise DayDreamError(f"${GENERATION_PATH_ENV} must be one of {', '.join(GENERATION_PATHS)}, got {shown(value)}")
    return value


def airflow_api_conn_id() -> str:
    return os.environ.get(AIRFLOW_API_CONN_ID_ENV, DEFAULT_AIRFLOW_API_CONN_ID)


def trigger_poll_seconds() -> int:
    """How often a waiting ``run_<step>`` checks its triggered run (whole seconds, at least 1)."""
    value = os.environ.get(TRIGGER_POLL_ENV, "3").strip()
    if not value.isdigit() or int(value) < 1:
        raise DayDreamError(f"${TRIGGER_POLL_ENV} must be a whole number of seconds >= 1, got {shown(value)}")
    return int(value)


def resume_schedule() -> str | None:
    """``$DAYDREAM_RESUME_SCHEDULE`` (cron or preset), default daily; ``none`` turns it off."""
    value = os.environ.get(RESUME_SCHEDULE_ENV, DEFAULT_RESUME_SCHEDULE).strip()
    return None if value.lower() in ("", "none", "off") else value
