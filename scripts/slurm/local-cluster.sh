#!/usr/bin/env bash
# Starts a real single-node Slurm cluster on loopback, for tests, CI and trying the job-array scripts
# on one machine. Idempotent: when the cluster in DIR is already up it only reports so.
#
#   scripts/slurm/local-cluster.sh [DIR]        # DIR defaults to $HARNESS_SLURM_DIR or /tmp/harness-slurm
#   . DIR/env                                   # exports SLURM_CONF for sinfo, sbatch, squeue...
#   scripts/slurm/stop-local-cluster.sh [DIR]
#
# Everything lives in DIR: the munge key and socket, slurm.conf, the controller's state, slurmd's spool,
# pid files and logs. Nothing under /etc is changed except, when running as root and no
# /etc/slurm/slurm.conf exists, a symbolic link to DIR/etc/slurm.conf so that plain `sinfo` and `sbatch`
# work without SLURM_CONF (the stop script removes it again).
#
# Environment:
#   HARNESS_SLURM_DIR         default DIR
#   HARNESS_SLURM_PORT        slurmctld's port (default 6817); slurmd listens on the next one
#   HARNESS_SLURM_NO_INSTALL  set to 1 to never call apt-get
#   HARNESS_SLURM_WAIT        seconds to wait for the node to become idle (default 60)
set -euo pipefail

dir=${1:-${HARNESS_SLURM_DIR:-/tmp/harness-slurm}}
port=${HARNESS_SLURM_PORT:-6817}
wait_s=${HARNESS_SLURM_WAIT:-60}

say() { printf 'local-cluster: %s\n' "$*"; }
die() { printf 'local-cluster: error: %s\n' "$*" >&2; exit 1; }

# --- 1. Packages ------------------------------------------------------------------------------------
# Debian ships everything needed: munge (authentication), slurmctld (controller), slurmd (node daemon),
# slurm-client (sbatch, sinfo...). --no-install-recommends keeps it to 8 packages instead of 43.
packages=(munge slurmctld slurmd slurm-client)
missing=()
for tool in munged mungekey munge slurmctld slurmd sbatch sinfo squeue scontrol; do
    command -v "$tool" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$tool" >/dev/null 2>&1 \
        || missing+=("$tool")
done
export PATH="$PATH:/usr/sbin:/sbin"
if ((${#missing[@]})); then
    say "missing: ${missing[*]}"
    if [[ ${HARNESS_SLURM_NO_INSTALL:-0} == 1 ]]; then
        die "HARNESS_SLURM_NO_INSTALL=1: install them yourself: apt-get install --no-install-recommends ${packages[*]}"
    fi
    if [[ $(id -u) -ne 0 ]]; then
        die "installing needs root: run this script as root, or: sudo apt-get install --no-install-recommends ${packages[*]}"
    fi
    command -v apt-get >/dev/null 2>&1 || die "no apt-get here: install Slurm and MUNGE with your package manager"
    export DEBIAN_FRONTEND=noninteractive
    # Try without refreshing the lists first (fast when they are fresh); on a new machine they are empty.
    if ! apt-get install -y -q --no-install-recommends "${packages[@]}" >"${TMPDIR:-/tmp}/harness-slurm-apt.log" 2>&1; then
        say "refreshing package lists (apt-get update)"
        apt-get update -q >>"${TMPDIR:-/tmp}/harness-slurm-apt.log" 2>&1 \
            || die "apt-get update failed, see ${TMPDIR:-/tmp}/harness-slurm-apt.log"
        apt-get install -y -q --no-install-recommends "${packages[@]}" >>"${TMPDIR:-/tmp}/harness-slurm-apt.log" 2>&1 \
            || die "apt-get install failed, see ${TMPDIR:-/tmp}/harness-slurm-apt.log"
    fi
    say "installed ${packages[*]}"
fi

# The daemons must run as root here: slurmd has to start job steps as the submitting user, and munged
# must be able to read a key that nobody else can.
[[ $(id -u) -eq 0 ]] || die "starting the cluster needs root (slurmd starts jobs as their submitter)"

conf=$dir/etc/slurm.conf
socket=$dir/munge/munge.socket
export SLURM_CONF=$conf

# Reads a pid file and succeeds when that process is alive and is the expected program (a pid file left
# by a machine that was restarted can name an unrelated process).
alive() { # alive PIDFILE NAME
    local pid
    [[ -s $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/comm ]] && [[ $(<"/proc/$pid/comm") == "$2"* ]]
}

node_state() { sinfo -h -N -o '%T' 2>/dev/null | head -n1; }

# --- 2. Already up? -----------------------------------------------------------------------------------
if alive "$dir/run/munged.pid" munged && alive "$dir/run/slurmctld.pid" slurmctld \
    && alive "$dir/run/slurmd.pid" slurmd && [[ $(node_state) == idle* || $(node_state) == mix* || $(node_state) == alloc* ]]; then
    say "already running in $dir (node $(node_state)); SLURM_CONF=$conf"
    exit 0
fi

# A previous cluster in DIR that is only half up (e.g. one daemon crashed) is stopped before starting.
if [[ -d $dir/run ]]; then
    "$(dirname "$0")/stop-local-cluster.sh" "$dir" >/dev/null 2>&1 || true
fi

started=$(date +%s)
host=$(hostname -s 2>/dev/null || hostname)
[[ -n $host ]] || die "no hostname"
# Logs, pid files and state are private to this cluster. The folder must be readable by everyone so that a
# non-root user can read slurm.conf and reach the munge socket.
mkdir -p "$dir"/{etc,munge,state/slurmctld,state/slurmd,log,run}
chmod 0755 "$dir" "$dir/etc" "$dir/run" "$dir/log"
# slurmd's spool holds each batch script, which runs as the job's user: that user must be able to reach it
# (with 0700 a non-root user's job fails with "execve(): .../slurm_script: Permission denied").
chmod 0755 "$dir/state" "$dir/state/slurmd"
chmod 0700 "$dir/state/slurmctld"

# --- 3. MUNGE ----------------------------------------------------------------------------------------
# A private munged with its own key and socket, so that a system munged (or its absence) does not matter.
# munged refuses a key or socket folder with loose permissions, and refuses to run as root unless forced,
# so it runs as the `munge` user the package creates and owns its folder.
munge_user=munge
id "$munge_user" >/dev/null 2>&1 || munge_user=root
if [[ ! -s $dir/munge/munge.key ]]; then
    mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 \
        || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
fi
chown -R "$munge_user:" "$dir/munge"
chmod 0755 "$dir/munge"           # clients (any user) connect to the socket inside
chmod 0400 "$dir/munge/munge.key" # munged requires the key to be unreadable by others
rm -f "$socket" "$socket.lock"
munged_args=(--socket="$socket" --key-file="$dir/munge/munge.key" --pid-file="$dir/munge/munged.pid"
    --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed"
    # Without it munged resolves the hostname, and warns when that fails; loopback is the truth here.
    --origin=127.0.0.1)
if [[ $munge_user == root ]]; then
    munged --force "${munged_args[@]}"
else
    # setpriv/runuser are in util-linux; su works everywhere but needs a login shell for the user.
    if command -v runuser >/dev/null 2>&1; then
        runuser -u "$munge_user" -- munged "${munged_args[@]}"
    else
        su -s /bin/sh "$munge_user" -c "munged $(printf '%q ' "${munged_args[@]}")"
    fi
fi
# munged writes its pid file inside its own folder (it cannot write to root's run/); link it for the stop
# script.
ln -sf ../munge/munged.pid "$dir/run/munged.pid"
for _ in $(seq 50); do [[ -S $socket ]] && break; sleep 0.1; done
munge -n -S "$socket" | unmunge -S "$socket" >/dev/null \
    || die "munged does not answer on $socket; see $dir/munge/munged.log"

# --- 4. slurm.conf -----------------------------------------------------------------------------------
cpus=$(nproc)
# RealMemory lets jobs ask for --mem. slurmd drains a node that has less memory than configured, so stay a
# little under what it measures.
mem=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
mem=$(((${mem:-1024} * 95) / 100))
cat >"$conf" <<EOF
# Written by scripts/slurm/local-cluster.sh: a single-node cluster on loopback for tests.
ClusterName=harness-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
# Daemons and job steps run as root here; jobs still run as whoever submitted them.
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
# No cgroups: containers rarely allow them. Processes are tracked through /proc and tasks are not bound.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
# One CPU per task by default, memory not a consumable, so N array tasks run side by side on N CPUs.
SchedulerType=sched/backfill
# Start queued batch jobs (array tasks) as soon as CPUs free up instead of in waves 3 s apart.
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# A node that went down (daemon restart) comes back by itself when slurmd registers.
ReturnToService=2
# No mailer in a container; sbatch --mail-* would otherwise log errors.
MailProg=/bin/true
StateSaveLocation=$dir/state/slurmctld
SlurmdSpoolDir=$dir/state/slurmd
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# Short timeouts: this is a test cluster, and a dead node should be noticed quickly.
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
chmod 0644 "$conf"
printf 'export SLURM_CONF=%q\n' "$conf" >"$dir/env"

# --- 5. Daemons --------------------------------------------------------------------------------------
# No systemd in a container: start the daemons directly. Both fork into the background and write their
# pid files; they find their configuration through SLURM_CONF.
slurmctld || die "slurmctld did not start; see $dir/log/slurmctld.log"
slurmd -N "$host" || die "slurmd did not start; see $dir/log/slurmd.log"

# Plain `sinfo` (without SLURM_CONF) reads /etc/slurm/slurm.conf: point it here when nothing else is there.
if [[ ! -e /etc/slurm/slurm.conf && ! -L /etc/slurm/slurm.conf ]] \
    || [[ -L /etc/slurm/slurm.conf && $(readlink /etc/slurm/slurm.conf) == "$dir/"* ]]; then
    mkdir -p /etc/slurm
    ln -sfn "$conf" /etc/slurm/slurm.conf
fi

# --- 6. Wait until the node is idle --------------------------------------------------------------------
deadline=$((SECONDS + wait_s))
state=
while ((SECONDS < deadline)); do
    state=$(node_state)
    case $state in
        idle*) break ;;
        drain* | down*) scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
done
if [[ $state != idle* ]]; then
    tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
    die "node $host is '${state:-unknown}' after ${wait_s}s, not idle"
fi
say "up in $(($(date +%s) - started))s: node $host idle with $cpus CPUs, ${mem} MB; SLURM_CONF=$conf"
