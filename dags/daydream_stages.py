"""daydream_draft, daydream_essay, daydream_evaluation: one DayDream stage of a cohort each
(docs/orchestration.md)."""

from daydream.airflow.factories import stage_dag
from daydream.paths import STAGES

daydream_draft, daydream_essay, daydream_evaluation = (stage_dag(stage) for stage in STAGES)
