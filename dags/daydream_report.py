"""Airflow DAG daydream_report: the reports of one DayDream cohort.

Built by ``daydream.airflow.dags_support.report_dag``; see docs/orchestration.md.
"""

from daydream.airflow.dags_support import report_dag

daydream_report = report_dag()
