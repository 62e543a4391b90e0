"""The stack DayDream will run on past one machine, for real: PostgreSQL, Redis, SeaweedFS S3 and
Airflow 3.3.2 with CeleryExecutor and two workers that share no disk. A smoke DAG writes to the
object store from both workers and reads everything back; then everything stops, nothing left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cluster_harness import SMOKE_DAG, Cluster, ensure_packages, marked

# scheduler too: it runs a real Airflow scheduler, so `make test-fast` leaves it out like the other slow ones
pytestmark = [pytest.mark.cluster, pytest.mark.scheduler, pytest.mark.timeout(900)]


def test_celery_cluster_with_two_workers_and_an_s3_data_root(tmp_path: Path) -> None:
    ensure_packages()
    cluster = Cluster(tmp_path / "cluster")
    try:
        cluster.up()
        assert cluster.run_dag(SMOKE_DAG, timeout_s=400) == "success"
        storage = cluster.storage()
        records = [json.loads(d) for d in storage.read_many(i.key for i in storage.list_prefix("smoke/")).values()]
    finally:
        left = cluster.down()
    print("cluster timings:", cluster.timings)
    assert left == [] and marked(cluster.id) == []
    by_worker = {r["worker"]: r for r in records}
    assert set(by_worker) == {"worker-a", "worker-b"}
    a, b = by_worker["worker-a"], by_worker["worker-b"]
    assert a["cwd"] != b["cwd"] and a["tmp"] != b["tmp"] and a["airflow_home"] != b["airflow_home"]
    assert len(records) == 8
