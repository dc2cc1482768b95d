#!/usr/bin/env bash
# Starts a single-node SLURM cluster on this machine, for the SLURM tests (tests/slurm) and for
# trying `hydra/launcher=slurm` (docs/slurm.md): Debian's slurmctld, slurmd and munge, every
# daemon on 127.0.0.1, a `debug` partition, no accounting. Needs root: it installs the packages
# when missing, writes /etc/slurm/slurm.conf (.ci/slurm/slurm_conf.sh) and a fresh munge key.
# Idempotent: a cluster this script started and that is up is left as it is.
# Refuses (exit 1, saying why) where a slurm.conf it did not write exists. Stop: .ci/slurm/down.sh.
#   SLURM_UP_TIMEOUT   seconds to wait for the node to be idle (default 60)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
conf=/etc/slurm/slurm.conf
marker="# written by nmm-painsig"
timeout="${SLURM_UP_TIMEOUT:-60}"

fail() { echo "slurm-up: $*" >&2; exit 1; }
node_state() { sinfo -h -n localhost -o %T 2>/dev/null | head -n 1; }
ours() { [ -f "$conf" ] && head -n 1 "$conf" | grep -q "^$marker"; }

[ "$(id -u)" -eq 0 ] || fail "needs root (it installs packages, writes $conf and starts daemons)"
if [ -f "$conf" ] && ! ours; then
    fail "$conf exists and was not written by this script: not touching this machine's SLURM"
fi
if ours && command -v sinfo >/dev/null && [ "$(node_state)" = idle ]; then
    echo "slurm-up: already up (node localhost idle)"
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sinfo >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || fail "slurmctld/slurmd/munge missing and no apt-get"
    echo "slurm-up: installing slurmctld slurmd slurm-client munge (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    pkgs=(slurmctld slurmd slurm-client munge)
    apt-get install -y -q "${pkgs[@]}" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${pkgs[@]}" >/dev/null 2>&1; } \
        || fail "apt-get install ${pkgs[*]} failed"
fi

"$here/down.sh" --quiet  # daemons of an earlier start, if any
mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm /run/munge
"$here/slurm_conf.sh" >"$conf.tmp" && mv "$conf.tmp" "$conf"

# munge: a fresh key, owned by the munge user (munged refuses any other owner or mode)
mungekey --create --force --keyfile /etc/munge/munge.key
chown munge:munge /etc/munge/munge.key /run/munge && chmod 0400 /etc/munge/munge.key
runuser -u munge -- /usr/sbin/munged || fail "munged did not start (see /var/log/munge/munged.log)"
munge -n | unmunge >/dev/null || fail "munge cannot encode and decode a credential"

# -c: a clean start, no jobs kept from an earlier cluster
slurmctld -c || fail "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
slurmd -N localhost || fail "slurmd did not start (see /var/log/slurm/slurmd.log)"

for _ in $(seq "$timeout"); do
    state="$(node_state || true)"
    if [ "$state" = idle ]; then
        echo "slurm-up: up: partition debug, node localhost ($(nproc) CPUs), $(sinfo --version)"
        exit 0
    fi
    sleep 1
done
echo "slurm-up: node localhost not idle after ${timeout} s (state: ${state:-no answer})" >&2
tail -n 5 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
