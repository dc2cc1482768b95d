#!/usr/bin/env bash
# Prints a slurm.conf for a single-node SLURM cluster on this machine (SLURM 22.05): the
# controller and the node on 127.0.0.1, one `debug` partition, CPUs from `nproc` and memory from
# /proc/meminfo, no accounting, no cgroups (it works in a container). Used by .ci/slurm/up.sh.
# Keys: https://slurm.schedmd.com/archive/slurm-22.05.8/slurm.conf.html
set -euo pipefail
cpus=$(nproc)
# RealMemory (MB): 95 % of MemTotal, so that slurmd, which drains a node that has less memory
# than configured, never finds less than this.
mem_mb=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.95}' /proc/meminfo)
cat <<CONF
# written by nmm-painsig .ci/slurm/slurm_conf.sh: a single-node cluster on 127.0.0.1
ClusterName=nmm-local
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# no cgroups: processes are tracked by their process group, tasks are not bound to CPUs
ProctrackType=proctrack/pgid
TaskPlugin=task/none
# no accounting database: sacct has nothing to report (nmm.jobs.slurm_polling asks squeue)
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# a node that went down comes back by itself when its slurmd registers again
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
# seconds between SIGTERM and SIGKILL when a job is cancelled or requeued
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
