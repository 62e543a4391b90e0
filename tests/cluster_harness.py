"""The local cluster for tests: ``include/cluster/harness.py`` (PostgreSQL, Redis, SeaweedFS S3,
Airflow 3.3 with CeleryExecutor, two workers that share no disk), importable from tests.

    from cluster_harness import Cluster
    with Cluster(tmp_path) as cluster:          # up; down (nothing left behind) on exit
        assert cluster.run_dag("daydream_cluster_smoke") == "success"
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENSURE_PACKAGES = REPO / "include" / "cluster" / "ensure_packages.sh"

_spec = importlib.util.spec_from_file_location("daydream_cluster_harness", REPO / "include" / "cluster" / "harness.py")
assert _spec is not None and _spec.loader is not None
harness = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = harness
_spec.loader.exec_module(harness)

Cluster = harness.Cluster
SMOKE_DAG = harness.SMOKE_DAG
marked = harness.marked


def ensure_packages() -> None:
    """Debian's postgresql and redis-server, installed when missing (root) or a clear failure."""
    subprocess.run(["bash", str(ENSURE_PACKAGES)], check=True)
