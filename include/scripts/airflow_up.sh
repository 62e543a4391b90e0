#!/usr/bin/env bash
# `make airflow`: the project-local Airflow (scheduler, dag-processor, triggerer, api-server;
# LocalExecutor on SQLite in <repo>/.airflow) and, unless you configured your own LLM connection,
# the offline LLM. Prints the UI URL, user and password; Ctrl-C stops every process it started.
# Settings: include/scripts/airflow_env.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DAYDREAM_FREE_PORTS=1
# shellcheck source=include/scripts/airflow_env.sh
source "$here/airflow_env.sh"
cd "$DAYDREAM_REPO"

trap 'daydream_local stop || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

daydream_local up
