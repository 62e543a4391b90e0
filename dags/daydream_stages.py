"""Airflow DAGs daydream_draft, daydream_essay, daydream_evaluation: one DayDream stage of a cohort each.

Built by ``daydream.airflow.dags_support.stage_dag``; see docs/orchestration.md.
"""

from daydream.airflow.dags_support import stage_dag
from daydream.paths import STAGES

for _stage in STAGES:
    globals()[f"daydream_{_stage}"] = stage_dag(_stage)
