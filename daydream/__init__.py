"""DayDream: combinatorial LLM creativity experiments.

The package holds all the logic; Airflow is imported only under ``daydream.airflow`` so the core
runs and tests without a scheduler.
"""

__version__ = "0.1.0"
