"""The environment of a local Airflow: ``airflow_env.sh`` applied, free ports, the venv's executables.

Light on purpose (standard library only): ``airflow_env.sh`` runs ``python -m local_airflow free-port``
while it is being sourced.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCRIPTS = REPO / "include" / "scripts"
ENV_SCRIPT = SCRIPTS / "airflow_env.sh"
POOLS_FILE = REPO / "include" / "pools.json"


class LocalAirflowError(RuntimeError):
    """Something the user can fix (a port in use, a service that would not start); one line."""


def airflow_env(overrides: Mapping[str, str] | None = None, *, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment after ``source include/scripts/airflow_env.sh`` with ``overrides`` exported first."""
    env = dict(os.environ if base is None else base)
    env.update(overrides or {})
    out = subprocess.run(
        ["bash", "-c", f'source "{ENV_SCRIPT}" >/dev/null && env -0'], env=env, capture_output=True, check=True
    )
    return dict(item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)


def free_port(preferred: int = 0) -> int:
    """``preferred`` when it is free on 127.0.0.1, else any free port (the one port helper; the shell calls it)."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise LocalAirflowError("no free TCP port on 127.0.0.1")


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def executable(env: Mapping[str, str], name: str) -> str:
    """``name`` next to this interpreter (the venv), else on the environment's PATH."""
    here = Path(sys.executable).with_name(name)
    if here.exists():
        return str(here)
    for folder in env.get("PATH", "").split(os.pathsep):
        if (Path(folder) / name).exists():
            return str(Path(folder) / name)
    raise LocalAirflowError(f"'{name}' not found next to {sys.executable} nor on PATH: run `make venv`")


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"
