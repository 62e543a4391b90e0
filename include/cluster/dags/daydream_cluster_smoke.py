"""The cluster harness's smoke DAG: both Celery workers write to the object-storage data root, and a
last task (on whichever worker) reads every record back through the store, never through a disk.

Each worker serves its own queue (``worker-a``, ``worker-b``) besides ``default``, so one task is
pinned to each worker and a few more go wherever Celery sends them.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile

from airflow.sdk import dag, get_current_context, task

from daydream.storage import Storage

WORKERS = ("worker-a", "worker-b")


def _data_root() -> Storage:
    from daydream.airflow.storage import open_airflow_storage

    return open_airflow_storage(os.environ["DAYDREAM_DATA_ROOT"])


@task
def write(label: str) -> str:
    context = get_current_context()
    ti = context["ti"]
    key = f"smoke/{ti.run_id}/{label}-{ti.map_index}.json"
    record = {
        "worker": os.environ.get("DAYDREAM_WORKER_NAME"),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "tmp": tempfile.gettempdir(),
        "airflow_home": os.environ.get("AIRFLOW_HOME"),
    }
    _data_root().write_bytes(key, json.dumps(record).encode())
    return key


@task
def check(pinned: list[str], spread: list[str]) -> dict[str, int]:
    """Every record is readable here, whichever worker wrote it; both workers wrote some."""
    keys = [*pinned, *spread]
    storage = _data_root()
    context = get_current_context()
    listed = {info.key for info in storage.list_prefix(f"smoke/{context['ti'].run_id}/")}
    missing = set(keys) - listed
    if missing:
        raise RuntimeError(f"records missing from the store: {sorted(missing)}")
    records = [json.loads(data) for data in storage.read_many(sorted(listed)).values()]
    by_worker: dict[str, int] = {}
    for record in records:
        by_worker[record["worker"]] = by_worker.get(record["worker"], 0) + 1
    if set(by_worker) != set(WORKERS):
        raise RuntimeError(f"expected records from {WORKERS}, got {by_worker}")
    return by_worker


@dag(dag_id="daydream_cluster_smoke", schedule=None, catchup=False, tags=["daydream", "cluster"])
def daydream_cluster_smoke() -> None:
    pinned = [write.override(task_id=f"write_on_{w.replace('-', '_')}", queue=w)(w) for w in WORKERS]
    spread = write.override(task_id="write_anywhere").expand(label=["any"] * 6)
    check(pinned, spread)  # type: ignore[arg-type]


daydream_cluster_smoke()
