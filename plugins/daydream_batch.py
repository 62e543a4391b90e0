"""Airflow plugin: the batch lane's listener, so a cohort run a user marks failed cancels its batches.

Thin on purpose: the listener is ``daydream.airflow.batch.on_dag_run_failed`` (docs/llm.md, "Batch lane").
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from daydream.airflow import batch


class DayDreamBatchPlugin(AirflowPlugin):
    name = "daydream_batch"
    listeners = [batch]
