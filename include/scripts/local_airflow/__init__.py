"""A project-local Airflow with the offline LLM, for developers: start, drive over the REST API, stop.

Used by ``make demo`` (``include/scripts/demo.sh``), ``make airflow`` (``include/scripts/airflow_up.sh``),
the scheduler tests (``tests/airflow_env.py``) and the pool benchmark. It is not part of the installed
``daydream`` package: nothing in a deployment starts or stops Airflow's processes for it. No Airflow
import either: Airflow runs in child processes configured by ``include/scripts/airflow_env.sh`` (the
one place that holds the local settings), and this package talks to it over HTTP.

- ``env``: the environment of ``airflow_env.sh``, free ports, the venv's executables;
- ``services``: child services in sessions of their own, stopped with everything they forked;
- ``client``: the public REST API, and the demo's progress line;
- ``stack``: ``LocalAirflow``, the four Airflow services and the offline LLM under one AIRFLOW_HOME;
- ``__main__``: ``up``, ``demo``, ``stop`` and ``free-port``, the commands the shell scripts run.
"""
