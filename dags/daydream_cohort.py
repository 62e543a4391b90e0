"""Airflow DAG daydream_cohort: build a DayDream cohort, run its three stages and its report.

Built by ``daydream.airflow.dags_support.cohort_dag``; see docs/orchestration.md.
"""

from daydream.airflow.dags_support import cohort_dag

daydream_cohort = cohort_dag()
