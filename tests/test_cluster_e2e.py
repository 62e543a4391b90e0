"""DayDream past one machine, for real: a cohort through build, draft, essay, evaluation and the report
on Airflow 3.3 with CeleryExecutor (PostgreSQL, Redis), two Celery workers whose working directories,
temp dirs and Airflow homes are disjoint, and the data root on a SeaweedFS S3 bucket
(``s3://daydream_s3@daydream/data``, credentials from the Airflow connection). The offline LLM runs in
this process over HTTP, with latency, so calls overlap.

Once both workers have started generations, the one that started a generation last is killed with
SIGKILL mid-run (the worker and its task processes: a machine lost). Asserted: the run still
succeeds, every member is done on the object store, both workers ran generations (each wrote task
logs in its own home) and the survivor finished what the dead one left, the pools held (the offline
server's peak in flight), and nothing was paid twice (one spend ledger line per paid generation;
the provider was asked again only for calls the dead worker never received). Then everything
stops: no process of the cluster is left.

Before the cohort, the harness's smoke DAG runs on the same cluster: a task pinned to each worker and
six spread ones write a record to the object store, and a last task reads them all back through the
store (never a disk); the records show the two workers' working directories, temp dirs and Airflow
homes are disjoint.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest
from airflow_env import FAST_POLLS, POLL_S, RUN_TIMEOUT, THREE_CONCEPTS, TINY_SPEC, make_data_root, offline_llm
from cluster_harness import REPO, SMOKE_DAG, Cluster, ensure_packages, harness, marked

from daydream.airflow.config import RUN_DAG_IDS
from daydream.paths import STAGES

pytestmark = [pytest.mark.cluster, pytest.mark.scheduler, pytest.mark.timeout(1800)]
COHORT = "cluster"
FAST_RECOVERY = {
    # a dead worker's running tasks are failed (then retried elsewhere) after this many seconds
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "40",
    # messages a dead worker had reserved go back to the queue; tasks stuck queued are re-sent
    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "120",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
    **FAST_POLLS,
}


def wait_until(ready, timeout_s: float, what: str, cluster: Cluster) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, what
        cluster._check_alive()
        time.sleep(0.5)


def generations(cluster: Cluster, worker: str) -> list[Path]:
    """Generation task logs (attempts included) a worker wrote in its own Airflow home."""
    return [log for dag_id in RUN_DAG_IDS for log in cluster.task_logs(worker, dag_id, "generate_")]


def dags_with_the_smoke_dag(folder: Path) -> Path:
    """DayDream's DAGs and the harness's smoke DAG in one DAGs folder."""
    folder.mkdir(parents=True)
    for dag_file in [*(REPO / "dags").glob("*.py"), *(harness.HERE / "dags").glob("*.py")]:
        shutil.copy2(dag_file, folder / dag_file.name)
    return folder


def smoke_records(cluster: Cluster) -> list[dict]:
    """The smoke DAG run on both workers: the records its tasks wrote (read back from the store)."""
    assert cluster.run_dag(SMOKE_DAG, timeout_s=400) == "success"
    storage = cluster.storage()
    return [json.loads(d) for d in storage.read_many(i.key for i in storage.list_prefix("smoke/")).values()]


def test_a_cohort_on_celery_survives_losing_a_worker_with_the_data_root_on_s3(tmp_path: Path) -> None:
    ensure_packages()
    seed = make_data_root(tmp_path / "seed", {COHORT: TINY_SPEC.format(concepts=THREE_CONCEPTS)})
    server = offline_llm(seed, latency_s=1.5)
    conn = {"conn_type": "daydream_llm", "host": server.base_url, "password": "offline"}
    env = {**FAST_RECOVERY, "AIRFLOW_CONN_LLM_DEFAULT": json.dumps(conn)}
    dags = dags_with_the_smoke_dag(tmp_path / "dags")
    cluster = Cluster(tmp_path / "cluster", dags_folder=dags, extra_env=env)
    try:
        cluster.up()
        cluster.upload(seed, "")
        records = smoke_records(cluster)
        client = cluster.client
        wait_until(lambda: all(client.dag(d) is not None for d in RUN_DAG_IDS), 300, "DAGs parsed", cluster)
        for dag_id in RUN_DAG_IDS:
            client.set_paused(dag_id, False)
        run_id = client.trigger("daydream_cohort", {"cohort_id": COHORT})

        # once both workers have started generations, the one that started a generation last dies
        # (mid-stage: the cohort run is still going), the worker and its task processes together
        wait_until(lambda: all(generations(cluster, w) for w in cluster.workers), 900, "both generating", cluster)
        victim = max(cluster.workers, key=lambda w: max(p.stat().st_mtime for p in generations(cluster, w)))
        survivor = next(w for w in cluster.workers if w != victim)
        assert client.dag_run("daydream_cohort", run_id)["state"] == "running"
        before_kill = {w: len(generations(cluster, w)) for w in cluster.workers}
        killed = cluster.kill_worker(victim)

        state = client.wait_run("daydream_cohort", run_id, timeout=RUN_TIMEOUT, interval=POLL_S)
        storage = cluster.storage()
        keys = {info.key for info in storage.list_prefix("gens/")}
        membership = storage.read_text(f"cohorts/{COHORT}/membership.csv").splitlines()[1:]
        ledger = storage.ledger(f"cohorts/{COHORT}/runs/spend.jsonl").lines()
        report = storage.exists(f"cohorts/{COHORT}/reports/index.html")
        after = {w: len(generations(cluster, w)) for w in cluster.workers}
    finally:
        left = cluster.down()
        stats = server.stats()
        server.stop()
    print("cluster timings:", cluster.timings, "killed:", victim, killed, "generations:", before_kill, after)
    print("offline LLM:", {k: stats[k] for k in ("total_requests", "answered_twice", "tiers")})
    assert left == [] and marked(cluster.id) == []

    # the smoke DAG: records from both workers, whose cwd, temp dir and Airflow home differ
    by_worker = {r["worker"]: r for r in records}
    assert set(by_worker) == {"worker-a", "worker-b"}
    a, b = by_worker["worker-a"], by_worker["worker-b"]
    assert a["cwd"] != b["cwd"] and a["tmp"] != b["tmp"] and a["airflow_home"] != b["airflow_home"]
    assert len(records) == 8

    assert state == "success"

    # every member done on the object store, and the report written there
    members = {stage: {r.split(",")[1] for r in membership if r.startswith(stage + ",")} for stage in STAGES}
    assert sum(map(len, members.values())) == 30
    for stage in STAGES:
        assert {g for g in members[stage] if f"gens/{stage}/{g}/parsed.txt" in keys} == members[stage], stage
    assert report

    # both workers ran generations; after the kill only the survivor did, and it finished the run
    assert all(before_kill[w] >= 1 for w in cluster.workers)
    assert after[victim] == before_kill[victim] and after[survivor] > before_kill[survivor]

    # the pools held across two machines
    paid, free = stats["tiers"]["paid"], stats["tiers"]["free"]
    assert free["peak_in_flight"] == 1 and 1 <= paid["peak_in_flight"] <= 5, stats["tiers"]

    # nothing paid twice: one ledger line per paid generation; asked again only for lost calls
    paid_gens = Counter(json.loads(line)["gen_id"] for line in ledger)
    assert paid_gens and max(paid_gens.values()) == 1, paid_gens.most_common(3)
    assert len(paid_gens) == 24
    assert len(stats["answered_twice"]) <= int(cluster.settings["AIRFLOW__CELERY__WORKER_CONCURRENCY"])
