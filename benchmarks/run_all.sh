#!/usr/bin/env bash
# `make bench`: every benchmarks/bench_*.py in turn, each with its figures on stdout.
# Exit status: non-zero when any benchmark missed its target or failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python="${DAYDREAM_PYTHON:-$(command -v python)}"
failed=()
for bench in benchmarks/bench_*.py; do
    echo "=== $bench"
    start=$(date +%s)
    if ! "$python" "$bench"; then
        failed+=("$bench")
    fi
    echo "=== $bench: $(( $(date +%s) - start )) s"
done
if (( ${#failed[@]} )); then
    echo "missed target or failed: ${failed[*]}" >&2
    exit 1
fi
echo "all benchmarks met their targets"
