#!/usr/bin/env bash
# `make demo`: a project-local Airflow and the offline LLM, the bundled `demo` cohort through
# daydream_cohort (build, draft, essay, evaluation, report) with progress, then everything stopped.
#
#   DAYDREAM_DEMO_COHORT   cohort to run (default demo)
#   DAYDREAM_DEMO_FORCE=1  run every generation again (a second demo otherwise makes no LLM call)
#   BATCH=1                the batch lane: paid models' generations go as provider batches (`make demo BATCH=1`);
#                          default: direct calls (param batch: false)
#   DAYDREAM_LLM=external  use your LLM connection instead of the offline LLM (costs money!)
#   and every variable of include/scripts/airflow_env.sh (ports, AIRFLOW_HOME, data root).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DAYDREAM_FREE_PORTS=1 DAYDREAM_LLM="${DAYDREAM_LLM:-offline}"
# shellcheck source=include/scripts/airflow_env.sh
source "$here/airflow_env.sh"
cd "$DAYDREAM_REPO"

# The Python driver stops what it started, also on Ctrl-C; the trap covers a driver that was killed.
trap 'daydream_local stop || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

args=(demo --cohort "${DAYDREAM_DEMO_COHORT:-demo}")
[[ "${DAYDREAM_DEMO_FORCE:-0}" == 1 ]] && args+=(--force)
[[ "${BATCH:-0}" == 1 ]] && args+=(--batch)
daydream_local "${args[@]}"
