#!/usr/bin/env bash
# CI's Slurm step: `ci-setup.sh start` before the tests, `ci-setup.sh stop` after them.
#
# start: installs and starts the single-node cluster of local-cluster.sh. It never fails the CI run: when
#        Slurm cannot be installed or started it says why and exits 0, and the tests that need a cluster
#        see `sinfo` fail and skip themselves.
# stop:  stops the cluster, but only when `start` started it (a cluster that was already up stays up).
#
# HARNESS_SLURM=0 skips it all; HARNESS_SLURM_DIR chooses the cluster's folder (default /tmp/harness-slurm).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${HARNESS_SLURM_DIR:-/tmp/harness-slurm}
marker=$dir/started-by-ci-setup
say() { printf 'ci-setup (slurm): %s\n' "$*"; }

case ${1:-start} in
start)
    if [[ ${HARNESS_SLURM:-1} == 0 ]]; then
        say "skipped (HARNESS_SLURM=0): tests that need Slurm will be skipped"
        exit 0
    fi
    began=$SECONDS
    rm -f "$marker"
    # A hard bound, so that a hung apt-get or daemon cannot eat CI's time (it normally takes 10-20 s).
    if output=$(timeout -k 10 300 "$here/local-cluster.sh" "$dir" 2>&1); then
        printf '%s\n' "$output"
        if [[ $output != *"already running"* ]]; then
            touch "$marker"
        fi
        say "Slurm cluster ready after $((SECONDS - began))s: tests that need Slurm will run"
    else
        rc=$?
        printf '%s\n' "$output"
        ((rc == 124)) && say "timed out after 300s"
        # Leave nothing half started behind (a daemon that is up while another is not).
        "$here/stop-local-cluster.sh" "$dir" >/dev/null 2>&1 || true
        say "no Slurm cluster (exit $rc, see above): tests that need Slurm will be skipped"
    fi
    ;;
stop)
    if [[ -e $marker ]]; then
        "$here/stop-local-cluster.sh" "$dir" || true
        rm -f "$marker"
    fi
    ;;
*)
    say "usage: ci-setup.sh [start|stop]"
    ;;
esac
exit 0
