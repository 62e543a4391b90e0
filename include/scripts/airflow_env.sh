# shellcheck shell=bash
# Project-local Airflow environment for DayDream. Source it, do not run it:
#
#     source include/scripts/airflow_env.sh
#
# Afterwards `airflow ...`, `daydream ...` and `daydream_local ...` use <repo>/.airflow (SQLite,
# LocalExecutor), the DAGs in <repo>/dags and the data in <repo>/data, and never touch ~/airflow.
# Every variable below keeps a value you exported before sourcing, so you can override any of them.
#
#   DAYDREAM_AIRFLOW_HOME   Airflow home (default <repo>/.airflow)
#   DAYDREAM_DATA_ROOT      data root (default <repo>/data)
#   DAYDREAM_AIRFLOW_PORT   api-server / web UI port (default 8080)
#   DAYDREAM_LLM            "offline" (the bundled offline LLM) or "external" (your connection);
#                           default external when AIRFLOW_CONN_LLM_DEFAULT or OPENROUTER_API_KEY is
#                           set, else offline
#   DAYDREAM_LLM_PORT       port of the offline LLM (default 8199)
#   DAYDREAM_FREE_PORTS=1   use the default port when it is free, else any free port (the start
#                           scripts set it, so a busy 8080 does not stop the demo)
#   DAYDREAM_LLM_LATENCY    simulated latency of the offline LLM in seconds (default 0.2)

_dd_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DAYDREAM_REPO="$(cd "$_dd_here/../.." && pwd)"
export DAYDREAM_REPO

# The project's virtualenv first: `airflow standalone`, the scheduler's workers and the scripts
# expect `airflow` and `daydream` on PATH.
if [[ -x "$DAYDREAM_REPO/.venv/bin/python" && ":$PATH:" != *":$DAYDREAM_REPO/.venv/bin:"* ]]; then
    export PATH="$DAYDREAM_REPO/.venv/bin:$PATH"
fi
DAYDREAM_PYTHON="${DAYDREAM_PYTHON:-$(command -v python || command -v python3)}"
export DAYDREAM_PYTHON

# The developer helpers (include/scripts/local_airflow: start, drive and stop a local Airflow, and the
# one free-port helper), run with the project's Python.
daydream_local() {
    PYTHONPATH="$DAYDREAM_REPO/include/scripts${PYTHONPATH:+:$PYTHONPATH}" "$DAYDREAM_PYTHON" -m local_airflow "$@"
}

export DAYDREAM_AIRFLOW_HOME="${DAYDREAM_AIRFLOW_HOME:-$DAYDREAM_REPO/.airflow}"
export AIRFLOW_HOME="$DAYDREAM_AIRFLOW_HOME"
export DAYDREAM_DATA_ROOT="${DAYDREAM_DATA_ROOT:-$DAYDREAM_REPO/data}"
if [[ "${DAYDREAM_FREE_PORTS:-0}" == 1 ]]; then
    export DAYDREAM_AIRFLOW_PORT="${DAYDREAM_AIRFLOW_PORT:-$(daydream_local free-port 8080)}"
    export DAYDREAM_LLM_PORT="${DAYDREAM_LLM_PORT:-$(daydream_local free-port 8199)}"
    # The log servers of the workers and the triggerer (the UI reads running tasks' logs there):
    # a second Airflow on this host would otherwise find 8793/8794 taken and serve no live logs.
    export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="${AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT:-$(daydream_local free-port 8793)}"
    export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="${AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT:-$(daydream_local free-port 8794)}"
else
    export DAYDREAM_AIRFLOW_PORT="${DAYDREAM_AIRFLOW_PORT:-8080}"
    export DAYDREAM_LLM_PORT="${DAYDREAM_LLM_PORT:-8199}"
fi
export DAYDREAM_LLM_LATENCY="${DAYDREAM_LLM_LATENCY:-0.2}"
# A waiting batch is polled this often (production default 60 s); the offline LLM ends one in seconds.
export DAYDREAM_BATCH_POLL_SECONDS="${DAYDREAM_BATCH_POLL_SECONDS:-2}"
mkdir -p "$AIRFLOW_HOME"

# Core settings. Values are env vars, so they win over any airflow.cfg.
export AIRFLOW__CORE__DAGS_FOLDER="$DAYDREAM_REPO/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$DAYDREAM_REPO/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}"
# SQLite: wait up to 120 s for a lock (daydream.airflow.config.SQLITE_CONNECT_ARGS says why).
if [[ "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" == sqlite* ]]; then
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS:-daydream.airflow.config.SQLITE_CONNECT_ARGS}"
fi
# Cohorts fan out to thousands of generations: one mapped task instance each.
export AIRFLOW__CORE__MAX_MAP_LENGTH="${AIRFLOW__CORE__MAX_MAP_LENGTH:-100000}"
# Pools bound the LLM concurrency (free 1, paid 5); these only need to leave room for them. The
# LocalExecutor runs up to `parallelism` worker processes, and a worker can stay busy for a few seconds
# after its task ended (the supervisor's wait), so keep above the 6 pool slots of the worker path. Not
# more: the LocalExecutor never ends an idle worker and starts a new one whenever a task waits, so the
# workers pile up towards `parallelism` (~170 MiB of RSS each: 2.7 GiB at 16, seen after a few stage
# runs). The trigger path runs at most 4 worker tasks at once (the selectors).
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-8}"
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="${AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG:-16}"
# That wait lasts up to [workers] min_heartbeat_interval (default 5 s). A deferred trigger task whose
# triggered run ends within it can be failed by the scheduler (stale executor event, Airflow issues
# 66374 / 72716); 2 s narrows that window (the trigger tasks also retry once).
export AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL="${AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL:-2}"
# A task's supervisor reports to the api-server (execution API) before the task runs; on a loaded
# machine, with SQLite busy with the scheduler's writes, one call can take over Airflow's default 5 s,
# and five timeouts fail the task before it starts ("Workload execution failed ... ReadTimeout").
# 30 s, as in the cluster settings (include/cluster/cluster.env).
export AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT="${AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT:-30}"
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-True}"
# Let a small local setup react quickly: a pool slot freed by a finished generation is handed to
# the next one within ~0.2 s instead of up to 1 s (12 waves of a 5-slot pool add up).
export AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="${AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC:-2}"
export AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME="${AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME:-0.2}"
# LocalExecutor workers start from a forkserver that has imported the heavy third-party modules
# every generation task needs (pandas, openai, jinja2: ~0.7 s per task otherwise). The daydream
# package itself is not preloaded, so edits to daydream/ apply to the next task without a restart.
export AIRFLOW__SCHEDULER__MP_START_METHOD="${AIRFLOW__SCHEDULER__MP_START_METHOD:-forkserver}"
export AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD="${AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD:-airflow.sdk,airflow.executors.local_executor,airflow.providers.standard.operators.trigger_dagrun,pandas,openai,openai.resources.chat,jinja2,jinja2.sandbox,yaml,httpx,pydantic}"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
# One parsing process (a fork of ~220 MiB each) is enough for the few DAG files here.
export AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="${AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES:-1}"
export AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="${AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL:-30}"
# The api-server on loopback and a port of our own; workers reach it through the execution API.
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
export AIRFLOW__API__PORT="$DAYDREAM_AIRFLOW_PORT"
# One API server worker process (~300 MiB each): a local UI and the triggerer's pool reads need no more.
export AIRFLOW__API__WORKERS="${AIRFLOW__API__WORKERS:-1}"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$DAYDREAM_AIRFLOW_PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$DAYDREAM_AIRFLOW_PORT/execution/"
# SimpleAuthManager: user admin; the api-server generates the password on its first start into
# $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated (printed by the start scripts).
export AIRFLOW__CORE__AUTH_MANAGER="airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
# Stable secrets across restarts of the local services (generated once, kept in AIRFLOW_HOME).
if [[ ! -s "$AIRFLOW_HOME/.secret" ]]; then
    (umask 077 && "$DAYDREAM_PYTHON" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$AIRFLOW_HOME/.secret")
fi
AIRFLOW__API_AUTH__JWT_SECRET="${AIRFLOW__API_AUTH__JWT_SECRET:-$(cat "$AIRFLOW_HOME/.secret")}"
AIRFLOW__API__SECRET_KEY="${AIRFLOW__API__SECRET_KEY:-$AIRFLOW__API_AUTH__JWT_SECRET}"
export AIRFLOW__API_AUTH__JWT_SECRET AIRFLOW__API__SECRET_KEY
# One Fernet key for every process (generated once, kept in AIRFLOW_HOME). Left to airflow.cfg, the
# services starting together on a fresh home race to write that file, and a triggerer that read it
# before it was complete ran with an empty key: it could not decrypt the first trigger's kwargs, its
# runner died (`JSONDecodeError` in `_decrypt_kwargs`) and the stage waited, deferred, for ever.
# A home that already has a key in airflow.cfg keeps it (what it encrypted stays readable).
if [[ ! -s "$AIRFLOW_HOME/.fernet_key" ]]; then
    _dd_key="$(sed -n 's/^fernet_key = \(.\+\)$/\1/p' "$AIRFLOW_HOME/airflow.cfg" 2>/dev/null | head -n 1)"
    if [[ -z "$_dd_key" ]]; then
        _dd_key="$("$DAYDREAM_PYTHON" -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')"
    fi
    (umask 077 && printf '%s\n' "$_dd_key" >"$AIRFLOW_HOME/.fernet_key")
    unset _dd_key
fi
AIRFLOW__CORE__FERNET_KEY="${AIRFLOW__CORE__FERNET_KEY:-$(cat "$AIRFLOW_HOME/.fernet_key")}"
export AIRFLOW__CORE__FERNET_KEY

# The stage DAGs' generations run in the triggerer (DAYDREAM_GENERATION_PATH=worker: one worker
# process each, the fallback; read when the DAG files are parsed). The triggerer reads the pools'
# sizes and labels the generations in the grid through the API server, signed in as `admin` with
# the connection daydream_airflow_api (docs/triggerer.md). SimpleAuthManager keeps the password
# in this file; it is created here, before the API server starts, so the connection can carry it.
export DAYDREAM_GENERATION_PATH="${DAYDREAM_GENERATION_PATH:-triggerer}"
_dd_passwords="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
if [[ ! -s "$_dd_passwords" ]]; then
    (umask 077 && "$DAYDREAM_PYTHON" -c 'import json, secrets; print(json.dumps({"admin": secrets.token_urlsafe(12)}))' >"$_dd_passwords")
fi
if [[ -z "${AIRFLOW_CONN_DAYDREAM_AIRFLOW_API:-}" ]]; then
    AIRFLOW_CONN_DAYDREAM_AIRFLOW_API="$("$DAYDREAM_PYTHON" - "$_dd_passwords" "$AIRFLOW__API__BASE_URL" <<'PY'
import json, sys
password = json.load(open(sys.argv[1])).get("admin", "")
print(json.dumps({"conn_type": "http", "host": sys.argv[2], "login": "admin", "password": password}))
PY
)"
    export AIRFLOW_CONN_DAYDREAM_AIRFLOW_API
fi

# The LLM connection. Offline: the bundled OpenAI-compatible server on loopback. External: your
# AIRFLOW_CONN_LLM_DEFAULT, a `llm_default` connection in the metadata DB, or OPENROUTER_API_KEY.
if [[ -z "${DAYDREAM_LLM:-}" ]]; then
    if [[ -n "${AIRFLOW_CONN_LLM_DEFAULT:-}" || -n "${OPENROUTER_API_KEY:-}" ]]; then
        DAYDREAM_LLM=external
    else
        DAYDREAM_LLM=offline
    fi
fi
export DAYDREAM_LLM
export DAYDREAM_LLM_URL="http://127.0.0.1:$DAYDREAM_LLM_PORT/v1"
if [[ "$DAYDREAM_LLM" == offline ]]; then
    export AIRFLOW_CONN_LLM_DEFAULT="{\"conn_type\": \"daydream_llm\", \"host\": \"$DAYDREAM_LLM_URL\", \"password\": \"offline\"}"
fi

unset _dd_here _dd_passwords
