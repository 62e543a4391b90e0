"""A throwaway DayDream cluster on one machine: PostgreSQL, Redis, SeaweedFS S3, and Airflow 3.3 with
CeleryExecutor (scheduler, api-server, dag-processor, triggerer) and two Celery workers whose
working directories, temp dirs and Airflow homes are disjoint, so nothing works through a shared
disk by accident: the data root is on the object store.

Every server runs on a free loopback port from a temp dir, in a session of its own, and carries
``DAYDREAM_CLUSTER_ID`` in its environment; ``down()`` stops the sessions (PostgreSQL with its fast
shutdown) and then looks for any process still carrying the id, so nothing is left behind and
nothing else is touched. Settings come from ``include/cluster/cluster.env`` (shared with compose).

    python include/cluster/harness.py up [--dir DIR]      # brings it up, prints the UI, Ctrl-C stops it
    python include/cluster/harness.py smoke [--dir DIR]   # up, run the smoke DAG on both workers, down

From a test: ``with Cluster(tmp_path) as cluster: cluster.run_dag("daydream_cluster_smoke")``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ENV_FILE = HERE / "cluster.env"
SMOKE_DAG = "daydream_cluster_smoke"
CONTROL_SERVICES = ("scheduler", "dag-processor", "triggerer", "api-server")


def read_env_file(path: Path = ENV_FILE) -> dict[str, str]:
    """``KEY=VALUE`` lines (compose's env_file syntax without quotes); comments and blanks skipped."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{path}: line {number}: expected KEY=VALUE")
        values[key.strip()] = value.strip()
    return values


def postgres_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run include/cluster/ensure_packages.sh")
    return str(found[-1])


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def marked(cluster_id: str) -> list[psutil.Process]:
    """Live processes carrying this cluster's id in their environment."""
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if proc.environ().get("DAYDREAM_CLUSTER_ID") == cluster_id:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def wait_for(ready: Callable[[], bool], timeout_s: float, what: str, check: Callable[[], None] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check is not None:
            check()
        try:
            if ready():
                return
        except Exception:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f}s")


class Cluster:
    def __init__(
        self,
        base: str | os.PathLike[str],
        *,
        workers: tuple[str, ...] | None = None,
        out: Any = print,
        dags_folder: Path = HERE / "dags",
        extra_env: Mapping[str, str] | None = None,
    ):
        self.base = Path(base).resolve()
        self.dags_folder = dags_folder
        self.extra_env = dict(extra_env or {})
        self.killed: set[str] = set()
        self.settings = read_env_file()
        self.workers = workers or tuple(self.settings["DAYDREAM_CLUSTER_WORKERS"].split(","))
        self.id = uuid.uuid4().hex[:12]
        self.out = out
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.timings: dict[str, float] = {}
        self.pg_dir: Path | None = None
        self.s3: Any = None
        self.secret = secrets.token_hex(16)
        self.client: Any = None

    # ---- processes ----
    def _env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(self.settings)
        env.update(extra)
        env["DAYDREAM_CLUSTER_ID"] = self.id
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
        return env

    def _start(self, name: str, argv: list[str], *, env: Mapping[str, str], cwd: Path, user: str | None = None) -> None:
        log = self.base / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as handle:
            self.procs[name] = subprocess.Popen(
                argv,
                env=dict(env),
                cwd=cwd,
                user=user,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None and name not in self.killed:
                log = self.base / "logs" / f"{name}.log"
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log.exists() else ""
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    def _timed(self, what: str, started: float) -> None:
        self.timings[what] = round(time.monotonic() - started, 1)
        self.out(f"[cluster] {what}: {self.timings[what]}s")

    # ---- servers ----
    def start_postgres(self) -> None:
        from daydream.storage.seaweedfs import free_ports

        started = time.monotonic()
        self.pg_port, self.redis_port, self.api_port, *self.log_ports = free_ports(3 + len(self.workers))
        # initdb refuses root, and the postgres user cannot traverse a root-only pytest temp dir
        self.pg_dir = Path(tempfile.mkdtemp(prefix="daydream-pg-"))
        run_as = "postgres" if os.geteuid() == 0 else None
        if run_as:
            shutil.chown(self.pg_dir, run_as, run_as)
        pwfile = self.pg_dir / "pw"
        pwfile.write_text(self.secret + "\n")
        if run_as:
            shutil.chown(pwfile, run_as, run_as)
        data = self.pg_dir / "data"
        subprocess.run(
            [postgres_bin("initdb"), "-D", str(data), "-U", "postgres", f"--pwfile={pwfile}", "--auth=scram-sha-256"],
            user=run_as,
            check=True,
            capture_output=True,
            env=self._env(),
        )
        argv = [postgres_bin("postgres"), "-D", str(data), "-p", str(self.pg_port), "-k", str(self.pg_dir)]
        argv += ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"]
        self._start("postgres", argv, env=self._env(), cwd=self.pg_dir, user=run_as)
        import psycopg2

        def connect() -> Any:
            return psycopg2.connect(host="127.0.0.1", port=self.pg_port, user="postgres", password=self.secret)

        wait_for(lambda: bool(connect().close() or True), 60, "PostgreSQL", self._check_alive)
        conn = connect()
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE airflow")
        conn.close()
        self.sql_url = f"postgresql+psycopg2://postgres:{self.secret}@127.0.0.1:{self.pg_port}/airflow"
        self._timed("postgres", started)

    def start_redis(self) -> None:
        started = time.monotonic()
        (self.base / "redis").mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.base / "redis"), "--requirepass", self.secret]
        self._start("redis", argv, env=self._env(), cwd=self.base / "redis")
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.redis_port, password=self.secret)
        wait_for(lambda: bool(client.ping()), 30, "Redis", self._check_alive)
        self.broker_url = f"redis://:{self.secret}@127.0.0.1:{self.redis_port}/0"
        self._timed("redis", started)

    def start_s3(self) -> None:
        from daydream.storage.seaweedfs import SeaweedServer

        started = time.monotonic()
        self.s3 = SeaweedServer(self.base / "s3", bucket=self.settings["DAYDREAM_S3_BUCKET"])
        os.environ["DAYDREAM_CLUSTER_ID"] = self.id  # inherited by weed, so the leftover check sees it
        try:
            self.s3.start()
        finally:
            os.environ.pop("DAYDREAM_CLUSTER_ID", None)
        self._timed("seaweedfs", started)

    # ---- Airflow ----
    def airflow_env(self, home: Path, **extra: str) -> dict[str, str]:
        conn_id = self.settings["DAYDREAM_S3_CONN_ID"]
        connection = {
            "conn_type": "aws",
            "login": self.s3.access_key,
            "password": self.s3.secret_key,
            "extra": {"endpoint_url": self.s3.endpoint_url, "region_name": "us-east-1"},
        }
        return self._env(
            AIRFLOW_HOME=str(home),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=self.sql_url,
            AIRFLOW__CELERY__BROKER_URL=self.broker_url,
            AIRFLOW__CELERY__RESULT_BACKEND=f"db+postgresql+psycopg2://postgres:{self.secret}@127.0.0.1:{self.pg_port}/airflow",
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__PLUGINS_FOLDER=str(self.base / "no-plugins"),
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.api_port),
            AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{self.api_port}",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{self.api_port}/execution/",
            AIRFLOW__API_AUTH__JWT_SECRET=self.secret,
            AIRFLOW__API__SECRET_KEY=self.secret,
            **{f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(connection)},
            DAYDREAM_DATA_ROOT=self.data_root_url,
            **{**self.extra_env, **extra},
        )

    @property
    def data_root_url(self) -> str:
        conn_id = self.settings["DAYDREAM_S3_CONN_ID"]
        return f"s3://{conn_id}@{self.s3.bucket}/{self.settings['DAYDREAM_S3_PREFIX']}"

    def start_airflow(self) -> None:
        airflow = str(Path(sys.executable).with_name("airflow"))
        control = self.base / "control"
        control.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        env = self.airflow_env(control)
        migrate = subprocess.run([airflow, "db", "migrate"], env=env, cwd=control, capture_output=True, text=True)
        if migrate.returncode:
            raise RuntimeError(f"airflow db migrate failed:\n{migrate.stdout[-2000:]}{migrate.stderr[-2000:]}")
        self._timed("airflow db migrate", started)
        pools = subprocess.run(
            [airflow, "pools", "import", str(REPO / "include" / "pools.json")],
            env=env,
            cwd=control,
            capture_output=True,
        )
        if pools.returncode:
            raise RuntimeError(f"airflow pools import failed:\n{pools.stderr.decode(errors='replace')[-2000:]}")
        started = time.monotonic()
        for service in CONTROL_SERVICES:
            self._start(service, [airflow, *service.split()], env=env, cwd=control)
        for worker, log_port in zip(self.workers, self.log_ports, strict=True):
            home = self.base / worker  # its own cwd, temp dir and Airflow home: nothing shared on disk
            (home / "tmp").mkdir(parents=True, exist_ok=True)
            worker_env = self.airflow_env(
                home / "airflow",
                TMPDIR=str(home / "tmp"),
                DAYDREAM_WORKER_NAME=worker,
                AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(log_port),
            )
            argv = [airflow, "celery", "worker", "--celery-hostname", f"{worker}@%h", "--queues", f"default,{worker}"]
            self._start(worker, argv + ["--without-gossip", "--without-mingle"], env=worker_env, cwd=home)
        if str(REPO / "include" / "scripts") not in sys.path:
            sys.path.insert(0, str(REPO / "include" / "scripts"))
        from local_airflow.client import AirflowClient

        self.client = AirflowClient(f"http://127.0.0.1:{self.api_port}", control)
        wait_for(self.client.healthy, 180, "Airflow api-server and scheduler", self._check_alive)
        for worker in self.workers:
            wait_for(self._ready(self.base / "logs" / f"{worker}.log"), 120, worker, self._check_alive)
        self._timed("airflow services", started)

    @staticmethod
    def _ready(log: Path) -> Callable[[], bool]:
        """A Celery worker is ready once it logged ``celery@<name> ready.``."""
        return lambda: " ready." in log.read_text(errors="replace")

    def up(self) -> Cluster:
        started = time.monotonic()
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / "cluster.id").write_text(self.id + "\n")  # for `make cluster-down`'s last resort
        try:
            self.start_postgres()
            self.start_redis()
            self.start_s3()
            self.start_airflow()
        except BaseException:
            self.down()
            raise
        self._timed("bring-up", started)
        return self

    def run_dag(self, dag_id: str = SMOKE_DAG, conf: Mapping[str, Any] | None = None, timeout_s: float = 300) -> str:
        started = time.monotonic()
        wait_for(lambda: self.client.dag(dag_id) is not None, 120, f"DAG {dag_id} parsed", self._check_alive)
        self.client.set_paused(dag_id, False)
        run_id = self.client.trigger(dag_id, conf or {})
        deadline = time.monotonic() + timeout_s
        state = "queued"
        while time.monotonic() < deadline:
            self._check_alive()
            state = self.client.dag_run(dag_id, run_id)["state"]
            if state in ("success", "failed"):
                break
            time.sleep(1)
        self.last_run_id = run_id
        self._timed(f"run {dag_id}", started)
        return str(state)

    def kill_worker(self, worker: str) -> list[int]:
        """SIGKILL a Celery worker and every task process it started (a machine lost, not a shutdown):
        its session, and anything else carrying its worker name in this cluster."""
        self.killed.add(worker)
        signal_group(self.procs[worker].pid, signal.SIGKILL)
        victims = []
        for proc in marked(self.id):
            try:
                if proc.environ().get("DAYDREAM_WORKER_NAME") == worker:
                    proc.kill()
                    victims.append(proc.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        self.procs[worker].wait(timeout=10)
        return victims

    def task_logs(self, worker: str, dag_id: str, task_prefix: str = "") -> list[Path]:
        """Task logs a worker wrote in its own Airflow home: proof of which worker ran what."""
        logs = self.base / worker / "airflow" / "logs" / f"dag_id={dag_id}"
        return sorted(p for p in logs.glob("run_id=*/task_id=*/**/*.log") if f"task_id={task_prefix}" in str(p))

    def upload(self, local: Path, prefix: str) -> int:
        """Copy a local directory to ``prefix`` below the data root (what a lab does once: catalogs,
        specs); ``""`` is the data root itself."""
        storage = self.storage()
        files = [p for p in local.rglob("*") if p.is_file()]
        for path in files:
            key = path.relative_to(local).as_posix()
            storage.write_bytes(f"{prefix}/{key}" if prefix else key, path.read_bytes())
        return len(files)

    def storage(self) -> Any:
        from daydream.storage import open_storage

        return open_storage(self.s3.url(self.settings["DAYDREAM_S3_PREFIX"]), s3=self.s3.settings)

    def down(self) -> list[int]:
        """Stop everything; returns the pids of marked processes still alive (empty when clean)."""
        started = time.monotonic()
        for name in [n for n in self.procs if n not in ("postgres", "redis")]:
            signal_group(self.procs[name].pid, signal.SIGTERM)
        self._wait_exit([n for n in self.procs if n not in ("postgres", "redis")], 20)
        if "redis" in self.procs:
            signal_group(self.procs["redis"].pid, signal.SIGTERM)
        if self.s3 is not None:
            self.s3.stop()
        if "postgres" in self.procs:
            signal_group(self.procs["postgres"].pid, signal.SIGINT)  # fast shutdown: it does not wait for clients
        self._wait_exit(list(self.procs), 20)
        for _ in range(3):  # anything that escaped its session (task processes, daemons) still carries the id
            left = marked(self.id)
            if not left:
                break
            for proc in left:
                try:
                    proc.kill()
                except psutil.NoSuchProcess:
                    pass
            psutil.wait_procs(left, timeout=5)
        if self.pg_dir is not None:
            shutil.rmtree(self.pg_dir, ignore_errors=True)
            self.pg_dir = None
        self.procs.clear()
        self._timed("tear-down", started)
        return [proc.pid for proc in marked(self.id)]

    def _wait_exit(self, names: list[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for name in names:
            proc = self.procs[name]
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def __enter__(self) -> Cluster:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()


def login(cluster: Cluster) -> str:
    """``admin / <password>`` of the UI (SimpleAuthManager writes the generated password at start)."""
    generated = cluster.base / "control" / "simple_auth_manager_passwords.json.generated"
    try:
        return " / ".join(next(iter(json.loads(generated.read_text()).items())))
    except (OSError, ValueError, StopIteration):
        return f"admin / the password in {generated}"


def daydream_up(base: Path) -> tuple[Cluster, Any]:
    """The cluster with DayDream's own DAGs, the bundled catalogs and cohorts uploaded to the data
    root, and the offline LLM (this process) as ``llm_default`` unless AIRFLOW_CONN_LLM_DEFAULT is set."""
    from daydream.llm.offline import OfflineServer, catalog_pricing

    server = None
    extra = {}
    if not os.environ.get("AIRFLOW_CONN_LLM_DEFAULT"):
        server = OfflineServer({**catalog_pricing(REPO / "data" / "1_raw" / "llm_models.csv"), "latency_s": 1.0})
        server.start()
        conn = {"conn_type": "daydream_llm", "host": server.base_url, "password": "offline"}
        extra["AIRFLOW_CONN_LLM_DEFAULT"] = json.dumps(conn)
    else:
        extra["AIRFLOW_CONN_LLM_DEFAULT"] = os.environ["AIRFLOW_CONN_LLM_DEFAULT"]
    cluster = Cluster(base, dags_folder=REPO / "dags", extra_env=extra)
    try:
        cluster.up()
        for part in ("1_raw", "cohorts"):
            cluster.upload(REPO / "data" / part, part)
    except BaseException:
        cluster.down()
        if server is not None:
            server.stop()
        raise
    return cluster, server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "smoke"])
    parser.add_argument("--dir", default=None, help="where the cluster's files go (default: a new temp dir)")
    parser.add_argument("--ready-file", default=None, help="written with the UI address once everything is up")
    args = parser.parse_args(argv)
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="daydream-cluster-"))
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if args.command == "smoke":
        smoke = Cluster(base)
        try:
            smoke.up()
            state = smoke.run_dag()
            print(f"{SMOKE_DAG}: {state}")
            return 0 if state == "success" else 1
        finally:
            smoke.down()
    try:
        cluster, server = daydream_up(base)
    except KeyboardInterrupt:
        return 130
    llm = f"offline server {server.base_url}" if server else "AIRFLOW_CONN_LLM_DEFAULT"
    try:
        lines = [
            f"Airflow UI: http://127.0.0.1:{cluster.api_port}  login: {login(cluster)}",
            f"data root: {cluster.data_root_url} (SeaweedFS S3 at {cluster.s3.endpoint_url})",
            f"LLM: {llm}; logs in {base}/logs",
            "trigger the DAG daydream_cohort with cohort_id=demo; `make cluster-down` stops everything",
        ]
        print("\n".join(lines), flush=True)
        if args.ready_file:
            Path(args.ready_file).write_text("\n".join(lines) + "\n")
        while True:
            cluster._check_alive()
            time.sleep(2)
    except KeyboardInterrupt:
        return 130
    finally:
        left = cluster.down()
        if server is not None:
            server.stop()
        if left:
            print(f"processes left behind: {left}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
