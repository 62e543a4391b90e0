#!/usr/bin/env bash
# `make cluster`: the local DayDream cluster (include/cluster/harness.py up) in the background, for a
# person to look at in the web UI. Prints the UI address and login once everything is up; state in
# .cluster/ (pid, logs, the servers' files). `make cluster-down` stops it all.
set -euo pipefail
STATE=.cluster
PY=${PYTHON:-.venv/bin/python}
if [ -f "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then
    echo "the cluster is already up (pid $(cat "$STATE/pid")):"
    cat "$STATE/ready" 2>/dev/null || echo "(still starting; see $STATE/harness.log)"
    exit 0
fi
rm -rf "$STATE"
mkdir -p "$STATE"
setsid "$PY" include/cluster/harness.py up --dir "$STATE/run" --ready-file "$STATE/ready" \
    >"$STATE/harness.log" 2>&1 </dev/null &
echo $! >"$STATE/pid"
echo "starting PostgreSQL, Redis, SeaweedFS S3 and Airflow (CeleryExecutor, 2 workers): 1-4 minutes..."
for _ in $(seq 1 600); do
    if [ -s "$STATE/ready" ]; then
        cat "$STATE/ready"
        exit 0
    fi
    if ! kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then
        echo "the cluster failed to start; the end of $STATE/harness.log:" >&2
        tail -n 30 "$STATE/harness.log" >&2
        exit 1
    fi
    sleep 1
done
echo "not up after 10 minutes; see $STATE/harness.log (make cluster-down stops it)" >&2
exit 1
