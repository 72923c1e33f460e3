#!/usr/bin/env bash
# Stops the cluster that scripts/slurm/local-cluster.sh started in DIR: cancels its jobs, stops slurmd,
# slurmctld and munged by the pids in their pid files, and removes the /etc/slurm/slurm.conf link to it.
# State, logs and the munge key stay in DIR (delete DIR for a clean slate). Safe to run when nothing runs.
#
#   scripts/slurm/stop-local-cluster.sh [DIR]   # DIR defaults to $HARNESS_SLURM_DIR or /tmp/harness-slurm
set -euo pipefail

dir=${1:-${HARNESS_SLURM_DIR:-/tmp/harness-slurm}}
export SLURM_CONF=$dir/etc/slurm.conf
export PATH="$PATH:/usr/sbin:/sbin"

say() { printf 'stop-local-cluster: %s\n' "$*"; }

# The pid of a live process of the expected program named by PIDFILE, or nothing (a stale pid file may
# name an unrelated process after a restart: never signal that).
pid_of() { # pid_of PIDFILE NAME
    local pid
    [[ -s $1 ]] || return 0
    pid=$(<"$1")
    if [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/comm && $(<"/proc/$pid/comm") == "$2"* ]]; then
        echo "$pid"
    fi
}

# Stops the daemons together (each takes about 2 s to exit): SIGTERM, then SIGKILL for any still there
# after 10 s.
stop() { # stop PIDFILE NAME [PIDFILE NAME]...
    local -a pids=() names=()
    local pid i
    while (($#)); do
        pid=$(pid_of "$1" "$2")
        if [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null; then
            pids+=("$pid") names+=("$2")
        fi
        shift 2
    done
    for _ in $(seq 100); do
        for i in "${!pids[@]}"; do
            if ! kill -0 "${pids[$i]}" 2>/dev/null; then
                say "stopped ${names[$i]} (${pids[$i]})"
                unset 'pids[i]'
            fi
        done
        ((${#pids[@]})) || return 0
        sleep 0.1
    done
    for i in "${!pids[@]}"; do
        kill -KILL "${pids[$i]}" 2>/dev/null || true
        say "killed ${names[$i]} (${pids[$i]})"
    done
}

# Jobs first: slurmstepd (one per running job step) outlives slurmd, so cancel and wait for them while
# the daemons can still clean up.
if [[ -n $(pid_of "$dir/run/slurmctld.pid" slurmctld) ]]; then
    if [[ -n $(squeue -h -o %i 2>/dev/null | head -n1) ]]; then
        say "cancelling jobs"
        scancel --full --user="$(id -un)" 2>/dev/null || true
        squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null || true
        for _ in $(seq 50); do
            [[ -z $(squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null | head -n1) ]] && break
            sleep 0.2
        done
    fi
fi

stop "$dir/run/slurmd.pid" slurmd "$dir/run/slurmctld.pid" slurmctld "$dir/run/munged.pid" munged

if [[ -L /etc/slurm/slurm.conf && $(readlink /etc/slurm/slurm.conf) == "$dir/"* ]]; then
    rm -f /etc/slurm/slurm.conf
fi
say "stopped (state and logs kept in $dir)"
