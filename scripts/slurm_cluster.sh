#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# A single-node Slurm cluster on this machine, for the tests and benchmarks of the Slurm launcher
# (Debian 12's slurm-wlm 22.05 and munge; `scripts/install-deps.sh cluster` installs them). Root.
#
#   scripts/slurm_cluster.sh start     munged, slurmctld, slurmd; returns once `srun true` works
#   scripts/slurm_cluster.sh stop      ends what start started, deletes its directory
#   scripts/slurm_cluster.sh status    exit 0 and a summary when running, 3 when not
#   scripts/slurm_cluster.sh env       prints `export SLURM_CONF=...` for eval
#   scripts/slurm_cluster.sh check     checks, on the running cluster, the facts listed below
#                                      that the launcher relies on ("ok"/"FAIL" lines; ~5 s)
#
# Clients (srun, salloc, sbatch, sinfo, the tests) find the cluster through SLURM_CONF:
#   eval "$(scripts/slurm_cluster.sh env)"; salloc -O -N1 -n4 ...
# Everything (configuration, munge key and socket, state, spool, logs, pid files) lives under
# one directory, $ASIO_PAL_SLURM_DIR (default /tmp/asio_pal_slurm), which stop deletes. Nothing
# is written under /etc, /run or /var. The node's address is 127.0.0.1; slurmctld listens on
# port $ASIO_PAL_SLURM_PORT (default 16817, not Slurm's 6817, so that a site's own Slurm is left
# alone) on every interface (Slurm 22.05 has no option to narrow it), slurmd on the next port
# on 127.0.0.1 only (NoInAddrAny) when the host name resolves to 127.0.0.1, as here. The
# cluster name is new at each start. start and stop are idempotent: start when running says so
# and succeeds; stop when nothing runs succeeds.
#
# What the Slurm launcher relies on, checked with this cluster (Slurm 22.05.8, 2 CPUs, gVisor):
# - Inside `salloc -N1 -n2` (or an sbatch script), `srun --jobid=$SLURM_JOB_ID --overlap -N1 -n1
#   PROG` starts one step per call, about 35 ms each (10 in a row: 352 ms). With --overlap the
#   steps share the allocation's CPUs: 16 steps ran together in `salloc -N1 -n2`. Without
#   --overlap one step there took the whole allocation and the next ones waited ("Job step
#   creation temporarily disabled, retrying") until it ended.
# - An allocation cannot hold more tasks than the node has CPUs: `salloc -N1 -n4` on 2 CPUs stays
#   pending ("Requested partition configuration not available now"), whatever OverSubscribe says
#   (FORCE:8 lets up to 8 jobs share a CPU, not one job have more tasks than CPUs). Either
#   overcommit (`salloc -O -N1 -n4`: granted, SLURM_NTASKS=4) or start the cluster with
#   ASIO_PAL_SLURM_CPUS=8 (the node then claims 8 CPUs, SlurmdParameters=config_overrides).
# - A variable the caller exported reaches the step's task (srun's default is --export=ALL), from
#   salloc's shell and from sbatch's submitter alike; SLURM_JOB_ID, SLURM_STEP_ID, SLURM_PROCID
#   (0) and SLURMD_NODENAME are set in the task.
# - The task's parent is slurmstepd (reparented to init, not a child of slurmd or srun).
# - SIGKILL to a step's task: srun exits 137 at once ("task 0: Killed"); the allocation, its other
#   running steps and new steps go on.
# - SIGTERM or SIGKILL to `srun`: the step's task is gone within 60 ms (slurmstepd kills it when
#   srun goes), srun's status is 137 for both, and the allocation goes on. The step's record
#   stays in `squeue -s` for about 2.5 s after.
# - stop cancels every job and waits for them, so no step task outlives the cluster; if
#   slurmctld died first, it kills the slurmstepd processes of this directory and their tasks
#   (a caller's salloc or srun then waits for a controller that is gone: end those yourself).
set -euo pipefail

dir=${ASIO_PAL_SLURM_DIR:-/tmp/asio_pal_slurm}
port=${ASIO_PAL_SLURM_PORT:-16817}
start_timeout=30 # seconds for the node to become idle and a first step to run

usage()
{
    echo "usage: $0 start|stop|status|env|check" >&2
    exit 2
}

need_root()
{
    if [[ $(id -u) -ne 0 ]]; then
        echo "slurm_cluster: must run as root (SlurmUser=root, slurmd starts steps as any user)" >&2
        exit 1
    fi
}

# The pid recorded for a daemon, if that process is still the daemon started from this
# directory (a recycled pid, or a daemon of another directory, is not ours).
live_pid()
{
    local pid_file="$dir/pids/$1" pid
    [[ -f $pid_file ]] || return 1
    pid=$(<"$pid_file")
    [[ $pid =~ ^[0-9]+$ && -d /proc/$pid ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$dir" || return 1
    echo "$pid"
}

# For the daemons this start just launched: whether they still run (the pid is a child of
# this shell, so it cannot be recycled yet; its command line may still be this script's
# until its exec).
still_up()
{
    local pid state
    pid=$(<"$dir/pids/$1")
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)
    [[ $state != Z && $state != gone ]]
}

running()
{
    live_pid munged >/dev/null && live_pid slurmctld >/dev/null && live_pid slurmd >/dev/null
}

export_conf()
{
    export SLURM_CONF="$dir/slurm.conf"
}

write_config()
{
    local host cpus name
    host=$(hostname -s)
    cpus=${ASIO_PAL_SLURM_CPUS:-$(nproc)}
    if [[ ! $cpus =~ ^[1-9][0-9]*$ ]]; then
        echo "slurm_cluster: ASIO_PAL_SLURM_CPUS must be a positive number, got '$cpus'" >&2
        exit 2
    fi
    local overrides=""
    if ((cpus != $(nproc))); then
        overrides="SlurmdParameters=config_overrides # ASIO_PAL_SLURM_CPUS is not nproc"
    fi
    # slurmd listens on every interface unless told to bind the address its host name resolves
    # to; that is only right when the name resolves to loopback, where NodeAddr points.
    local bind="# $host does not resolve to 127.0.0.1: slurmd listens on every interface"
    if [[ $(getent ahostsv4 "$host" | awk 'NR == 1 {print $1}') == 127.0.0.1 ]]; then
        bind="CommunicationParameters=NoInAddrAny"
    fi
    # Slurm keeps the cluster name in its state; a new name each start keeps a state directory
    # of an earlier cluster from ever being taken for this one's.
    name="asiopal$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
    cat >"$dir/slurm.conf" <<EOF
# Written by scripts/slurm_cluster.sh: a one-node test cluster, deleted by its stop.
ClusterName=$name
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
MailProg=/bin/true
$bind
ReturnToService=2
PlugStackConfig=$dir/plugstack.conf
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
$overrides
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=asio_pal Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
EOF
    : >"$dir/plugstack.conf"
}

# Starts one daemon in the foreground mode of its own session (so that the caller's terminal
# or process group signals do not reach it) and records its pid.
launch()
{
    local name=$1
    shift
    setsid "$@" </dev/null >>"$dir/log/$name.out" 2>&1 &
    echo $! >"$dir/pids/$name"
}

fail_start()
{
    echo "slurm_cluster: $1; logs:" >&2
    tail -n 20 "$dir"/log/* >&2 || true
    stop_cluster
    exit 1
}

start_cluster()
{
    need_root
    export_conf
    if running; then
        echo "slurm_cluster: already running in $dir (SLURM_CONF=$SLURM_CONF)"
        return 0
    fi
    # Leftovers of a cluster that died or was never stopped.
    stop_cluster >/dev/null
    local t0 host
    t0=$(date +%s%N)
    host=$(hostname -s)
    mkdir -p "$dir"/{munge,state,spool,log,run,pids}
    # munged refuses a key directory that others can write, and clients need to reach its socket.
    chmod 755 "$dir" "$dir/munge"
    mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null
    write_config

    launch munged munged --foreground --force --socket="$dir/munge/munge.socket" \
        --key-file="$dir/munge/munge.key" --pid-file="$dir/munge/munged.pid" \
        --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"
    local deadline=$((SECONDS + start_timeout))
    until [[ -S $dir/munge/munge.socket ]]; do
        still_up munged || fail_start "munged exited"
        ((SECONDS < deadline)) || fail_start "munged did not open its socket in ${start_timeout} s"
        sleep 0.05
    done
    launch slurmctld slurmctld -D -f "$dir/slurm.conf"
    launch slurmd slurmd -D -f "$dir/slurm.conf" -N "$host"

    local state=""
    while [[ $state != idle ]]; do
        still_up slurmctld || fail_start "slurmctld exited"
        still_up slurmd || fail_start "slurmd exited"
        ((SECONDS < deadline)) ||
            fail_start "node $host not idle in ${start_timeout} s (state '$state')"
        sleep 0.1
        state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
    done
    local left=$((deadline - SECONDS))
    ((left > 0)) || left=1
    timeout "$left" srun -N1 -n1 true || fail_start "srun -N1 -n1 true failed"
    local ms=$((($(date +%s%N) - t0) / 1000000))
    echo "slurm_cluster: started in ${ms} ms: node $host idle, srun works; $dir"
    echo "export SLURM_CONF=$SLURM_CONF"
}

# The pid and every descendant of it, children first.
descendants()
{
    local child
    # shellcheck disable=SC2013 # the file holds pids separated by spaces
    for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        descendants "$child"
    done
    echo "$1"
}

# Steps still running when the daemons go would outlive them (slurmstepd detaches from slurmd):
# cancel every job first; then, should slurmctld be gone already, end any slurmstepd that
# still serves a step of this cluster (it holds this directory's slurmd.log open), its tasks
# first.
end_jobs()
{
    if live_pid slurmctld >/dev/null; then
        timeout 10 scancel --full --quiet --user=root 2>/dev/null || true
        local deadline=$((SECONDS + 10))
        while ((SECONDS < deadline)) && [[ -n $(squeue -h -o %i 2>/dev/null || true) ]]; do
            sleep 0.1
        done
    fi
    local pid fd
    for pid in $(pgrep -x slurmstepd || true); do
        for fd in /proc/"$pid"/fd/*; do
            if [[ $(readlink "$fd" 2>/dev/null) == "$dir"/* ]]; then
                # shellcheck disable=SC2046 # one pid a word
                kill -KILL $(descendants "$pid") 2>/dev/null || true
                break
            fi
        done
    done
}

# TERM to all three at once (one by one, each waiting for the last, took 6 s here), then KILL
# what is left after 10 s.
stop_daemons()
{
    local name pid pids=() alive=() i
    for name in slurmd slurmctld munged; do
        if pid=$(live_pid "$name"); then
            pids+=("$pid")
        fi
    done
    ((${#pids[@]} > 0)) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 200; ++i)); do
        alive=()
        for pid in "${pids[@]}"; do
            [[ ! -d /proc/$pid ]] || alive+=("$pid")
        done
        ((${#alive[@]} > 0)) || return 0
        sleep 0.05
    done
    echo "slurm_cluster: killing ${alive[*]}, still there 10 s after SIGTERM" >&2
    kill -KILL "${alive[@]}" 2>/dev/null || true
}

stop_cluster()
{
    need_root
    export_conf
    [[ -d $dir ]] || return 0
    local t0
    t0=$(date +%s%N)
    end_jobs
    stop_daemons
    rm -rf "$dir"
    echo "slurm_cluster: stopped in $((($(date +%s%N) - t0) / 1000000)) ms; $dir deleted"
}

status_cluster()
{
    export_conf
    local name pid any=0
    for name in munged slurmctld slurmd; do
        if pid=$(live_pid "$name"); then
            echo "$name: running, pid $pid"
            any=1
        else
            echo "$name: not running"
        fi
    done
    if running; then
        echo "SLURM_CONF=$SLURM_CONF"
        sinfo 2>&1 || true
        return 0
    fi
    ((any == 0)) || echo "slurm_cluster: partly running; stop, then start again"
    return 3
}

# The facts at the top of this file that the Slurm launcher relies on, checked inside one
# allocation; each line "ok" or "FAIL"; the status is the number of failures.
check_cluster()
{
    need_root
    export_conf
    running || { echo "slurm_cluster: not running (start it first)" >&2; exit 1; }
    local work
    work=$(mktemp -d "$dir/check.XXXXXX")
    cat >"$work/inner.sh" <<'INNER'
set -u
work=$1
J=$SLURM_JOB_ID
failed=0
check() { if eval "$2"; then echo "ok    $1"; else echo "FAIL  $1"; failed=$((failed + 1)); fi; }
gone_within() # pid, tenths of a second
{
    local i
    for ((i = 0; i < $2; ++i)); do [[ -d /proc/$1 ]] || return 0; sleep 0.1; done
    return 1
}
step() { srun --jobid="$J" --overlap -N1 -n1 "$@"; }
# A step that records its task's pid in $work/$1 and sleeps; waits until the pid is there.
sleeper()
{
    # srun itself in the background (not the function step: $! would be a subshell's pid).
    srun --jobid="$J" --overlap -N1 -n1 \
        bash -c "echo \$\$ >$work/$1.tmp; mv $work/$1.tmp $work/$1; exec sleep 60" &
    srun_pid=$!
    local i
    for ((i = 0; i < 300; ++i)); do [[ -s $work/$1 ]] && break; sleep 0.05; done
    task_pid=$(cat "$work/$1")
}

# Each of 4 steps waits (bounded) until all 4 have started: all exit 0 only if they ran at once.
pids=()
for i in 1 2 3 4; do
    step bash -c "touch $work/up.\$SLURM_STEP_ID
        for ((k = 0; k < 400; ++k)); do
            (( \$(ls $work | grep -c '^up\\.') >= 4 )) && exit 0
            sleep 0.05
        done
        exit 1" &
    pids+=($!)
done
together=0
for p in "${pids[@]}"; do wait "$p" || together=1; done
check "4 steps with --overlap run at once ($SLURM_NTASKS tasks, $(nproc) CPUs)" '((together == 0))'

export ASIO_PAL_CHECK_VAR="reached $RANDOM"
got=$(step bash -c 'echo "$ASIO_PAL_CHECK_VAR"')
check "a variable exported by the caller reaches the step's task" \
    '[[ $got == "$ASIO_PAL_CHECK_VAR" ]]'
ids=$(step bash -c 'echo "$SLURM_JOB_ID ${SLURM_STEP_ID:-} ${SLURM_PROCID:-}"')
check "SLURM_JOB_ID, SLURM_STEP_ID, SLURM_PROCID are set in the task ($ids)" \
    '[[ $ids =~ ^$J\ [0-9]+\ 0$ ]]'

sleeper kill_task
parent=$(cat "/proc/$(awk '{print $4}' "/proc/$task_pid/stat")/comm")
check "the task's parent is slurmstepd (got $parent)" '[[ $parent == slurmstepd ]]'
kill -KILL "$task_pid"
wait "$srun_pid"
status=$?
check "SIGKILL to the task: srun exits 137 (got $status)" '((status == 137))'
check "... the allocation goes on" '[[ $(squeue -h -j "$J" -o %T) == RUNNING ]]'
check "... a new step runs" 'step true'

for sig in TERM KILL; do
    sleeper "kill_srun_$sig"
    kill "-$sig" "$srun_pid"
    wait "$srun_pid" 2>/dev/null
    check "SIG$sig to srun: its task ends (within 10 s)" 'gone_within "$task_pid" 100'
    check "... the allocation goes on, a new step runs" \
        '[[ $(squeue -h -j "$J" -o %T) == RUNNING ]] && step true'
done
exit "$failed"
INNER
    local status=0 t0
    t0=$(date +%s%N)
    timeout 120 salloc -Q -O -N1 -n4 bash "$work/inner.sh" "$work" || status=$?
    rm -rf "$work"
    echo "slurm_cluster: check took $((($(date +%s%N) - t0) / 1000000)) ms; failures: $status"
    return "$status"
}

case ${1:-} in
start) start_cluster ;;
stop) stop_cluster ;;
status) status_cluster ;;
env) echo "export SLURM_CONF=$dir/slurm.conf" ;;
check) check_cluster ;;
*) usage ;;
esac
