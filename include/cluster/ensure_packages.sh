#!/usr/bin/env bash
# Installs Debian's PostgreSQL and Redis servers for the cluster harness, only when they are missing
# (as include/scripts/ensure_chromium.sh does for the browser test).
set -euo pipefail
have_pg() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
if have_pg && command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "postgresql/redis-server missing and not root: run 'sudo apt-get install postgresql redis-server'" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# The packages' own services are not wanted: the harness runs throwaway servers in temp dirs.
# policy-rc.d stops dpkg from starting them (where no init system runs they would not start anyway).
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d.daydream && chmod +x /usr/sbin/policy-rc.d.daydream
if [ ! -e /usr/sbin/policy-rc.d ]; then
    cp /usr/sbin/policy-rc.d.daydream /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
rm -f /usr/sbin/policy-rc.d.daydream
apt-get install -y -qq --no-install-recommends postgresql redis-server >/dev/null
