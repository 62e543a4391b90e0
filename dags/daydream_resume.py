"""daydream_resume: on a schedule ($DAYDREAM_RESUME_SCHEDULE, default @daily), resume every DayDream
cohort with unfinished generations (docs/orchestration.md)."""

from daydream.airflow.factories import resume_dag

daydream_resume = resume_dag()
