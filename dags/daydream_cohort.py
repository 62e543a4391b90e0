"""daydream_cohort: build a DayDream cohort, run its three stages and its report (docs/orchestration.md)."""

from daydream.airflow.factories import cohort_dag

daydream_cohort = cohort_dag()
