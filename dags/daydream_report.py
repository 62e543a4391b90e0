"""daydream_report: the reports of one DayDream cohort (docs/orchestration.md)."""

from daydream.airflow.factories import report_dag

daydream_report = report_dag()
