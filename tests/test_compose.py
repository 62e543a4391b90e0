"""docker-compose.yaml: the production shape, validated without a Docker engine.

Structure (services, commands, volumes, environment, healthchecks, depends_on) against the official
Airflow 3 compose file's shape, plus what DayDream adds: the project mounted and installed, the pools
imported at init, the LLM connection from the environment, [core] max_map_length raised.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yaml"
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-worker": "celery worker",
    "airflow-triggerer": "triggerer",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def test_services_match_the_official_airflow_3_layout(services: dict) -> None:
    assert set(services) >= {*AIRFLOW_SERVICES, "airflow-init", "postgres", "redis"}
    for name, command in AIRFLOW_SERVICES.items():
        assert services[name]["command"] == command, name
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert "postgres-db-volume:/var/lib/postgresql/data" in services["postgres"]["volumes"]


def test_celery_postgres_redis(services: dict) -> None:
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:airflow@postgres/")
        assert (
            env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
            and "@redis:6379" in env["AIRFLOW__CELERY__BROKER_URL"]
        )
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        # Tokens between the components must verify everywhere: one shared secret.
        assert "AIRFLOW_JWT_SECRET" in env["AIRFLOW__API_AUTH__JWT_SECRET"]


def test_every_service_has_a_healthcheck(services: dict) -> None:
    for name in (*AIRFLOW_SERVICES, "postgres", "redis"):
        check = services[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert check.get("interval") and check.get("retries"), name
    assert "8080/api/v2/version" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    assert "8974/health" in " ".join(services["airflow-scheduler"]["healthcheck"]["test"])
    assert "DagProcessorJob" in " ".join(services["airflow-dag-processor"]["healthcheck"]["test"])
    assert "TriggererJob" in " ".join(services["airflow-triggerer"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(services["airflow-worker"]["healthcheck"]["test"])


def test_depends_on(services: dict) -> None:
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["redis"]["condition"] == "service_healthy"
    for name in AIRFLOW_SERVICES:
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"


def test_project_is_mounted_and_installed(services: dict) -> None:
    dockerfile = (REPO / "include" / "docker" / "Dockerfile").read_text()
    assert re.search(r"^FROM \$\{AIRFLOW_IMAGE\}", dockerfile, re.M)
    assert re.search(r"ARG AIRFLOW_IMAGE=apache/airflow:3\.3\.\d+", dockerfile)
    assert "pip install --no-cache-dir -e /opt/daydream" in dockerfile
    for src in re.findall(r"^COPY\s+(?:--\S+\s+)*(.+)\s+\S+$", dockerfile, re.M):
        for path in src.split():
            assert (REPO / path).exists(), f"Dockerfile copies {path}, missing from the repository"
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        service = services[name]
        assert service["build"] == {"context": ".", "dockerfile": "include/docker/Dockerfile"}
        assert any(v.endswith(":/opt/daydream") for v in service["volumes"]), name
        env = service["environment"]
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/daydream/dags"
        assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/opt/daydream/plugins"
        assert "/opt/daydream/data" in env["DAYDREAM_DATA_ROOT"]


def test_max_map_length_raised_and_pools_imported_at_init(services: dict) -> None:
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        assert int(services[name]["environment"]["AIRFLOW__CORE__MAX_MAP_LENGTH"]) >= 100000
    init = services["airflow-init"]
    script = "\n".join(init["command"])
    assert init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    assert "airflow pools import /opt/daydream/include/pools.json" in script
    pools = json.loads((REPO / "include" / "pools.json").read_text())
    assert {"llm_api_free", "llm_api_paid"} <= set(pools)


def test_llm_connection_comes_from_the_environment(services: dict) -> None:
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW_CONN_LLM_DEFAULT"] == "${AIRFLOW_CONN_LLM_DEFAULT:-}"
        assert env["OPENROUTER_API_KEY"] == "${OPENROUTER_API_KEY:-}"
    text = COMPOSE.read_text()
    assert "sk-or-" not in text, "no key in the compose file"
    example = (REPO / "include" / "docker" / "env.example").read_text()
    assert "OPENROUTER_API_KEY=" in example and "AIRFLOW_JWT_SECRET=" in example


def test_cluster_settings_come_from_the_env_file_the_native_cluster_test_reads(services: dict) -> None:
    """One source of truth: compose and include/cluster/harness.py read the same include/cluster/cluster.env."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("cluster_harness_env", REPO / "include" / "cluster" / "harness.py")
    assert spec is not None and spec.loader is not None
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    settings = harness.read_env_file()
    assert settings["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        assert services[name]["env_file"] == ["include/cluster/cluster.env"], name
        env = services[name]["environment"]
        # where compose sets a cluster setting itself, it is one the env file also carries
        assert int(env["AIRFLOW__CORE__MAX_MAP_LENGTH"]) == int(settings["AIRFLOW__CORE__MAX_MAP_LENGTH"])


def test_an_s3_service_and_the_object_storage_data_root(services: dict) -> None:
    weed = services["seaweedfs"]
    assert weed["image"].startswith("chrislusf/seaweedfs:") and "-s3" in weed["command"].split()
    assert "seaweedfs-volume:/data" in weed["volumes"] and weed["healthcheck"]["test"][0] == "CMD-SHELL"
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        service = services[name]
        assert service["depends_on"]["seaweedfs"]["condition"] == "service_healthy", name
        conn = service["environment"]["AIRFLOW_CONN_DAYDREAM_S3"]
        assert conn.startswith("${AIRFLOW_CONN_DAYDREAM_S3:-aws://") and "seaweedfs%3A8333" in conn
    script = "\n".join(services["airflow-init"]["command"])
    assert "python -m daydream.storage.prepare" in script and "--seed /opt/daydream/data" in script
    text = COMPOSE.read_text()
    assert "DAYDREAM_DATA_ROOT=s3://daydream_s3@daydream/data" in text  # documented in the header
