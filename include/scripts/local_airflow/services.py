"""Child services, each in a session of its own; ``stop`` ends every process of those sessions.

Airflow forks workers and task processes that outlive a killed parent and rename themselves
(``airflow worker -- LocalExecutor``), so neither the parent's pid nor a process name finds them all.
They do stay in their service's session, so ``stop`` signals each service's process group, then every
process left in those sessions, and checks that none is left. The session ids (and the driver that
started them) are written to ``$AIRFLOW_HOME/run/services.json``, so a later ``stop`` (the shell
scripts' trap) or the next start cleans up after a run that was itself killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import psutil


def session_members(sids: Iterable[int]) -> list[psutil.Process]:
    """Live (non-zombie) processes whose session is one of ``sids``, this process excepted."""
    wanted = set(sids)
    found = []
    for proc in psutil.process_iter(["status"]):
        try:
            if (
                proc.pid != os.getpid()
                and proc.info["status"] != psutil.STATUS_ZOMBIE
                and os.getsid(proc.pid) in wanted
            ):
                found.append(proc)
        except (OSError, psutil.Error):  # gone meanwhile
            continue
    return found


def _alive(pid: int, started: float | None) -> bool:
    """``pid`` runs and is the process that started at ``started`` (not a later one given the same pid)."""
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and (started is None or abs(proc.create_time() - started) < 1)
    except psutil.Error:
        return False


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _terminate(proc: psutil.Process, *, kill: bool = False) -> None:
    try:
        proc.kill() if kill else proc.terminate()
    except psutil.Error:
        pass


class Services:
    """The services one driver started under one AIRFLOW_HOME, and the record that outlives the driver."""

    def __init__(self, home: Path):
        self.state_file = Path(home) / "run" / "services.json"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def recorded(self) -> dict[str, int]:
        """Session ids of the services recorded by the last start under this home."""
        return {k: int(v) for k, v in self._read().get("services", {}).items()}

    def live_driver(self) -> int | None:
        """The pid of the other process that started the recorded services, when it still runs."""
        data = self._read()
        pid, started = data.get("driver"), data.get("driver_started")
        if not isinstance(pid, int) or pid == os.getpid():
            return None
        return pid if _alive(pid, started if isinstance(started, float) else None) else None

    def _record(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "driver": os.getpid(),
            "driver_started": psutil.Process().create_time(),
            "services": {**self.recorded(), **{name: p.pid for name, p in self.procs.items()}},
        }
        tmp = self.state_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.state_file)

    def start(self, name: str, argv: list[str], *, env: Mapping[str, str], log_file: Path) -> subprocess.Popen[bytes]:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "ab") as out:
            proc = subprocess.Popen(
                argv,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        self._record()
        return proc

    def exited(self) -> dict[str, int]:
        """Services that exited already, with their exit codes."""
        return {name: code for name, p in self.procs.items() if (code := p.poll()) is not None}

    def stop(self, grace: float = 15.0) -> list[int]:
        """SIGTERM each session's group, then SIGKILL whatever is left in the sessions.

        Returns the pids still alive afterwards (empty when everything stopped).
        """
        ours = self.live_driver() is None  # the recorded services are ours, or their starter is gone
        sids = {p.pid for p in self.procs.values()} | (set(self.recorded().values()) if ours else set())
        if not sids:
            return []
        for sid in sids:
            _signal_group(sid, signal.SIGTERM)
        for proc in session_members(sids):  # task processes run in process groups of their own
            _terminate(proc)
        deadline = time.monotonic() + grace
        while (left := session_members(sids)) and time.monotonic() < deadline:
            psutil.wait_procs(left, timeout=min(0.5, max(deadline - time.monotonic(), 0.01)))
            self._reap()
        for _ in range(3):
            left = session_members(sids)
            if not left:
                break
            for sid in sids:
                _signal_group(sid, signal.SIGKILL)
            for proc in left:
                _terminate(proc, kill=True)
            psutil.wait_procs(left, timeout=2)
            self._reap()
        self._reap()
        left = session_members(sids)
        if not left:
            if ours:
                self.state_file.unlink(missing_ok=True)
            self.procs.clear()
        return [p.pid for p in left]

    def _reap(self) -> None:
        for proc in self.procs.values():
            proc.poll()
