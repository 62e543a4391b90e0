"""daydream_tournament: one Swiss round of a DayDream tournament cohort per run (docs/analysis.md)."""

from daydream.airflow.tournament import tournament_dag

daydream_tournament = tournament_dag()
