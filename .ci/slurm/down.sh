#!/usr/bin/env bash
# Stops the single-node SLURM cluster that .ci/slurm/up.sh started: cancels its jobs, stops
# slurmctld and slurmd (`scontrol shutdown`) and munged, and waits for them to exit. Leaves a
# SLURM it did not configure alone. Exits 0 when nothing is running.  --quiet: no messages.
set -uo pipefail
conf=/etc/slurm/slurm.conf
quiet=false
[ "${1:-}" = --quiet ] && quiet=true
say() { $quiet || echo "slurm-down: $*"; }

if [ ! -f "$conf" ] || ! head -n 1 "$conf" | grep -q "^# written by nmm-painsig"; then
    say "no cluster of .ci/slurm/up.sh here ($conf missing or not ours): nothing to stop"
    exit 0
fi

stop_pidfile() {  # $1: pid file of a daemon; TERM it and wait up to 10 s
    local pid
    pid="$(cat "$1" 2>/dev/null)" || return 0
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null
}

if [ -f /run/slurmctld.pid ] && command -v scancel >/dev/null; then
    timeout 10 scancel --partition=debug >/dev/null 2>&1
    timeout 10 scontrol shutdown >/dev/null 2>&1
fi
stop_pidfile /run/slurmd.pid
stop_pidfile /run/slurmctld.pid
stop_pidfile /run/munge/munged.pid
say "stopped"
