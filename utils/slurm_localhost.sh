#!/usr/bin/env bash
# Usage: utils/slurm_localhost.sh start|stop|status
#
# Brings up a one-node Slurm cluster on this machine for tests and CI: installs the
# Debian packages if missing (slurmctld slurmd slurm-client munge), writes
# /etc/slurm/slurm.conf and /etc/slurm/gres.conf, and starts munged, slurmctld and
# slurmd as background daemons (no systemd needed). Two partitions: `shared`
# (default) and `gpu`, whose node advertises one fake GPU so that `--gpu 1`
# requests can be scheduled and tested on a CPU-only machine.
#
#   start   install if needed, start the daemons, wait until `sinfo` shows the node idle;
#           does nothing when the cluster is already up.
#   stop    stop the daemons by the PIDs in their pid files.
#   status  print the daemons' PIDs and `sinfo`; exit 0 only when the node is usable.
#
# Must run as root. Refuses to touch an /etc/slurm/slurm.conf it did not write.
set -euo pipefail

conf_dir=/etc/slurm
state_dir=/var/lib/slurm-localhost
log_dir=/var/log/slurm-localhost
ctld_pid=/run/slurmctld.pid
slurmd_pid=/run/slurmd.pid
munge_pid=/run/munge/munged.pid
marker="# Written by utils/slurm_localhost.sh: a one-node test cluster."

log() { echo "slurm_localhost.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

pid_alive() {  # pid_alive <pidfile>: the daemon named like the file runs, and is no zombie
    local pid state
    [ -r "$1" ] || return 1
    pid=$(cat "$1")
    # A pid file can outlive its daemon: the pid may now be a zombie nobody reaps (PID 1
    # in a container often does not) or another process, and kill -0 succeeds on both.
    [ "$(cat "/proc/${pid}/comm" 2>/dev/null)" = "$(basename "$1" .pid)" ] || return 1
    state=$(sed 's/^.*) //' "/proc/${pid}/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

node_idle() {
    local state
    state=$(timeout 5 sinfo -h -N -o %T 2>/dev/null | head -n 1) || return 1
    # "idle", "mixed" and "allocated" all mean the node accepts jobs.
    [[ "$state" =~ ^(idle|mixed|allocated) ]]
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return 0
    fi
    log "installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
}

write_config() {
    local auth=$1 ncpu mem_mb
    if [ -f "$conf_dir/slurm.conf" ] && ! grep -qxF "$marker" "$conf_dir/slurm.conf"; then
        die "$conf_dir/slurm.conf exists and was not written by this script; not overwriting it"
    fi
    ncpu=$(nproc)
    # Announce 90% of the memory: slurmd must not find less than configured.
    mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    mkdir -p "$conf_dir"
    cat > "$conf_dir/slurm.conf.tmp" <<EOF
$marker
ClusterName=localhost
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/$auth
CredType=cred/$auth
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# Without a default, a job that gives no --mem gets the whole node and array tasks serialise.
DefMemPerCPU=1024
# Reject impossible requests at submission instead of leaving them pending forever.
EnforcePartLimits=ALL
# Start jobs right after submission instead of batching them every few seconds.
SchedulerParameters=batch_sched_delay=0
SlurmdParameters=config_overrides
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=$state_dir/ctld
SlurmdSpoolDir=$state_dir/slurmd
SlurmctldPidFile=$ctld_pid
SlurmdPidFile=$slurmd_pid
SlurmctldLogFile=$log_dir/slurmctld.log
SlurmdLogFile=$log_dir/slurmd.log
GresTypes=gpu
NodeName=localhost CPUs=$ncpu RealMemory=$mem_mb Gres=gpu:1 State=UNKNOWN
PartitionName=shared Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
EOF
    mv "$conf_dir/slurm.conf.tmp" "$conf_dir/slurm.conf"
    # The fake GPU: jobs asking for it get CUDA_VISIBLE_DEVICES=0 and run on the CPU.
    echo "NodeName=localhost Name=gpu File=/dev/null" > "$conf_dir/gres.conf"
}

start_munge() {  # prints the auth plugin to use
    if pid_alive "$munge_pid"; then echo munge; return 0; fi
    mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
    if [ ! -s /etc/munge/munge.key ]; then
        mungekey --create --keyfile=/etc/munge/munge.key >&2 2>/dev/null \
            || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
    chmod 0600 /etc/munge/munge.key
    if runuser -u munge -- munged >&2 && sleep 0.5 && pid_alive "$munge_pid"; then
        echo munge
    else
        # A private localhost cluster can do without authentication.
        log "munged did not start; falling back to AuthType=auth/none"
        echo none
    fi
}

cmd_start() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    if pid_alive "$ctld_pid" && pid_alive "$slurmd_pid" && node_idle; then
        log "already running"; return 0
    fi
    install_packages
    local auth
    auth=$(start_munge)
    write_config "$auth"
    # Fresh state on every start: job ids restart at 1 and no old job lingers.
    pid_alive "$ctld_pid" || rm -rf "$state_dir/ctld"
    mkdir -p "$state_dir/ctld" "$state_dir/slurmd" "$log_dir"
    pid_alive "$ctld_pid" || slurmctld -i
    # The node name is "localhost", not the machine's hostname.
    pid_alive "$slurmd_pid" || slurmd -N localhost
    for _ in $(seq 60); do
        if node_idle; then
            log "up: $(sinfo --version) on $(nproc) CPUs"; return 0
        fi
        sleep 0.5
    done
    die "node not idle after 30 s; see $log_dir/slurmctld.log and $log_dir/slurmd.log"
}

stop_pidfile() {  # stop_pidfile <pidfile> <name>
    local pid
    pid_alive "$1" || return 0
    pid=$(cat "$1")
    kill "$pid"
    # Each daemon needs 1.5-2 s to exit on SIGTERM.
    for _ in $(seq 40); do
        kill -0 "$pid" 2>/dev/null || { log "stopped $2 ($pid)"; return 0; }
        sleep 0.25
    done
    log "$2 ($pid) did not exit after 10 s"; return 1
}

cmd_stop() {
    stop_pidfile "$slurmd_pid" slurmd
    stop_pidfile "$ctld_pid" slurmctld
    stop_pidfile "$munge_pid" munged
}

cmd_status() {
    local f ok=0 pidfiles=("$ctld_pid" "$slurmd_pid")
    # munged only matters when the cluster was configured to use it.
    grep -qx "AuthType=auth/munge" "$conf_dir/slurm.conf" 2>/dev/null && pidfiles+=("$munge_pid")
    for f in "${pidfiles[@]}"; do
        if pid_alive "$f"; then echo "$(basename "$f" .pid): running ($(cat "$f"))"
        else echo "$(basename "$f" .pid): not running"; ok=1; fi
    done
    if node_idle; then sinfo; else echo "sinfo: node not usable"; ok=1; fi
    return $ok
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "Usage: $0 start|stop|status" >&2; exit 1 ;;
esac
