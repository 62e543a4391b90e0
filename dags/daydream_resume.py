"""Airflow DAG daydream_resume: on a schedule, resume every DayDream cohort with unfinished generations.

Schedule from $DAYDREAM_RESUME_SCHEDULE (default @daily). Built by
``daydream.airflow.dags_support.resume_dag``; see docs/orchestration.md.
"""

from daydream.airflow.dags_support import resume_dag

daydream_resume = resume_dag()
