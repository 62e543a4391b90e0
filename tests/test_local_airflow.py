"""The developer tooling in include/scripts/local_airflow, with real processes and real sockets.

``Services.stop`` must end what Airflow leaves behind: a task process that left its parent's process
group and outlived the parent. ``daydream_local free-port`` (the one free-port helper, which
``airflow_env.sh`` calls while being sourced) keeps a free preferred port and avoids a busy one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
from airflow_env import REPO  # before local_airflow: puts include/scripts on sys.path
from local_airflow.services import Services, session_members

# A service that forks a grandchild into a process group of its own (as Airflow's task runner does),
# prints its pid, and exits: the grandchild is orphaned but stays in the service's session.
ORPHANING_SERVICE = """
import os, sys, time
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    print(os.getpid(), flush=True)  # once it has left the group (the parent printing it raced the setpgid)
    time.sleep(300)
    os._exit(0)
"""


def test_stop_ends_every_process_of_the_services_sessions(tmp_path: Path) -> None:
    services = Services(tmp_path)
    log = tmp_path / "service.log"
    proc = services.start("orphaning", [sys.executable, "-c", ORPHANING_SERVICE], env=os.environ, log_file=log)
    deadline = time.monotonic() + 30
    while not log.read_text().strip():
        assert time.monotonic() < deadline, "the service never forked"
        time.sleep(0.1)
    grandchild = int(log.read_text().split()[0])
    assert os.getpgid(grandchild) != proc.pid, "the grandchild left the service's process group"
    proc.wait(timeout=30)
    assert [p.pid for p in session_members([proc.pid])] == [grandchild], "orphaned, still in the session"
    assert json.loads((tmp_path / "run" / "services.json").read_text())["services"] == {"orphaning": proc.pid}

    assert services.stop(grace=2) == []
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
    assert not (tmp_path / "run" / "services.json").exists(), "the record goes once everything stopped"


def test_stop_leaves_services_whose_driver_still_runs(tmp_path: Path) -> None:
    """A second ``stop`` (the scripts' trap) never ends services another live driver owns."""
    (tmp_path / "run").mkdir()
    driver = psutil.Process(os.getppid())
    record = {"driver": driver.pid, "driver_started": driver.create_time(), "services": {"x": driver.pid}}
    (tmp_path / "run" / "services.json").write_text(json.dumps(record))
    assert Services(tmp_path).live_driver() == driver.pid
    assert Services(tmp_path).stop(grace=0.1) == [] and driver.is_running()
    record["driver_started"] = driver.create_time() - 1000  # the same pid, reused by another process
    (tmp_path / "run" / "services.json").write_text(json.dumps(record))
    assert Services(tmp_path).live_driver() is None


def free_port_from_shell(port: int) -> int:
    script = f'source "{REPO}/include/scripts/airflow_env.sh" >/dev/null && daydream_local free-port {port}'
    env = {**os.environ, "DAYDREAM_AIRFLOW_HOME": str(Path(os.environ["AIRFLOW_HOME"]) / "free-port")}
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=True)
    return int(out.stdout.strip())


def test_the_shell_uses_the_one_free_port_helper() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        other = free_port_from_shell(taken)
        assert other != taken and other > 0
    assert free_port_from_shell(taken) == taken, "a free preferred port is kept"
