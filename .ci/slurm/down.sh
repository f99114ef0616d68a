#!/usr/bin/env bash
# Stop the local Slurm started by .ci/slurm/up.sh: each daemon by the pid it recorded (TERM, a
# bounded wait, then KILL), then remove the /etc/slurm links so clients no longer find a cluster.
# Job processes are cancelled through slurmctld first so no job outlives its daemons.
set -uo pipefail

STATE=${SPECTRALFM_SLURM_STATE:-/tmp/spectralfm-slurm}
STOP_TIMEOUT_S=10

stop_pid_file() {
  local name=$1 pid_file=$2 pid
  [[ -s $pid_file ]] || return 0
  pid=$(cat "$pid_file")
  [[ $pid =~ ^[0-9]+$ ]] || {
    echo "down.sh: $pid_file holds no pid" >&2
    return 1
  }
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq $((STOP_TIMEOUT_S * 10))); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "down.sh: $name ($pid) ignored TERM for ${STOP_TIMEOUT_S}s, sending KILL" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  rm -f "$pid_file"
  echo "stopped $name ($pid)"
}

if [[ -s $STATE/slurmctld.pid ]] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null; then
  # Running jobs would otherwise be orphaned under a dead slurmstepd.
  timeout 10 scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
fi
stop_pid_file slurmd "$STATE/slurmd.pid"
stop_pid_file slurmctld "$STATE/slurmctld.pid"
# Only a munged that up.sh started has a pid file here; one of the image is left running.
stop_pid_file munged "$STATE/munge/munged.pid"

for link in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
  # Only our own links; a real site configuration is never touched.
  if [[ -L $link && $(readlink "$link") == "$STATE"/* ]]; then
    rm -f "$link"
  fi
done
