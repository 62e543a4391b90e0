#!/usr/bin/env bash
# `make cluster-down`: stops what `make cluster` started and checks that no process is left.
# The harness stops its servers itself on SIGTERM; anything still carrying this cluster's id in its
# environment afterwards (only possible if the harness itself was killed) is killed by that id.
set -uo pipefail
STATE=.cluster
if [ ! -f "$STATE/pid" ]; then
    echo "no cluster is running (no $STATE/pid)"
    exit 0
fi
pid=$(cat "$STATE/pid")
if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 120); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
fi
left=""
if [ -f "$STATE/run/cluster.id" ]; then
    id=$(cat "$STATE/run/cluster.id")
    for environ in /proc/[0-9]*/environ; do
        if { tr '\0' '\n' <"$environ"; } 2>/dev/null | grep -qx "DAYDREAM_CLUSTER_ID=$id"; then
            p=${environ#/proc/}
            p=${p%/environ}
            kill -KILL "$p" 2>/dev/null && left="$left $p"
        fi
    done
fi
rm -f "$STATE/pid" "$STATE/ready"
if [ -n "$left" ]; then
    echo "stopped; killed leftover processes:$left"
else
    echo "stopped; no process left"
fi
