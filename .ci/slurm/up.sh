#!/usr/bin/env bash
# Start a real one-node Slurm (munged + slurmctld + slurmd) on this machine, for tests and for
# developers who want to try `snakemake --profile profiles/slurm` without a cluster.
#
#   sudo .ci/slurm/up.sh          # prints the state folder on success
#   .ci/slurm/down.sh             # stops every daemon by its recorded pid
#
# Idempotent: when the daemons recorded in the state folder are alive and the node answers, it
# only prints the state folder. Written for Debian bookworm containers run as root without systemd
# and without a writable cgroup hierarchy; every unusual setting below says why it is there.
# Environment: SPECTRALFM_SLURM_STATE (state folder, default /tmp/spectralfm-slurm),
# SPECTRALFM_SLURM_GPUS (dummy GPUs on the node, default 2).
set -euo pipefail

STATE=${SPECTRALFM_SLURM_STATE:-/tmp/spectralfm-slurm}
N_GPUS=${SPECTRALFM_SLURM_GPUS:-2}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Clients (sinfo, sbatch, squeue) read /etc/slurm/slurm.conf unless SLURM_CONF is set; the test
# and Snakemake must find this cluster without extra environment, so the config is linked there.
ETC_CONF=/etc/slurm/slurm.conf
ETC_GRES=/etc/slurm/gres.conf
START_TIMEOUT_S=60

die() {
  echo "up.sh: $*" >&2
  exit 1
}

[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and starts daemons)"

pid_alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_idle() {
  local state
  state=$(timeout 10 sinfo --noheader --Node --format=%t 2>/dev/null | head -n1) || return 1
  [[ $state == idle || $state == mix || $state == alloc ]]
}

munge_works() { command -v munge >/dev/null && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

if munge_works && pid_alive "$STATE/slurmctld.pid" \
  && pid_alive "$STATE/slurmd.pid" && [[ -L $ETC_CONF ]] && node_idle; then
  echo "$STATE"
  exit 0
fi

# --- packages (apt-get update only when something is missing) -------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
  || ! command -v munged >/dev/null || ! command -v sinfo >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Postinst scripts try to start the services through invoke-rc.d; without systemd that is
  # refused ("policy-rc.d denied") and harmless: the daemons are started by hand below.
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

# --- a fresh start: stop leftovers from an earlier run, then rebuild the state folder -------
"$HERE/down.sh" >/dev/null 2>&1 || true
for link in "$ETC_CONF" "$ETC_GRES"; do
  if [[ -e $link && ! -L $link ]]; then
    die "$link exists and is not ours; refusing to replace a real site configuration"
  fi
done
rm -rf "$STATE"
mkdir -p "$STATE"/{ctld,spool,dev,log,munge}

# --- munge: the authentication every Slurm RPC needs ----------------------------------------
if [[ ! -s /etc/munge/munge.key ]]; then
  # The munge package creates a key on install; a stripped image may lack it.
  install -d -o munge -g munge -m 0700 /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
fi
if munge_works; then
  # A munged of the image (or a site) already answers on the default socket: use it, and
  # record no pid, so down.sh leaves it alone.
  echo "up.sh: using the munged already running" >&2
else
  # munged refuses to run as root with a key owned by munge, and its socket directory (where
  # libmunge in every Slurm command looks, /run/munge) must belong to the user it runs as.
  install -d -o munge -g munge -m 0755 /run/munge
  chown munge:munge "$STATE/munge"
  runuser -u munge -- /usr/sbin/munged \
    --pid-file="$STATE/munge/munged.pid" \
    --log-file="$STATE/munge/munged.log" \
    --seed-file="$STATE/munge/munged.seed"
  for _ in $(seq 50); do
    [[ -s $STATE/munge/munged.pid ]] && break
    sleep 0.1
  done
  munge_works || die "munged does not answer (log: $STATE/munge/munged.log)"
fi

# --- configuration ----------------------------------------------------------------------------
HOST=$(hostname -s)
# `slurmd -C` prints what slurmd itself detects (CPUs, sockets, cores, RealMemory); reusing it
# means slurmd never drains the node for declaring more than it has.
NODE_HW=$(slurmd -C | head -n1 | sed -e "s/^NodeName=[^ ]*//")
[[ -n $NODE_HW ]] || die "slurmd -C printed nothing"

# Dummy GPUs: gres/gpu needs one device file per GPU. With plain files slurmd logs "not a valid
# character or block device" and then never sets CUDA_VISIBLE_DEVICES, so these are real
# character nodes (NVIDIA's major 195; without a driver, opening one fails with ENXIO). They live
# in the state folder, never in /dev, so a real GPU's nodes cannot be shadowed.
for ((i = 0; i < N_GPUS; i++)); do
  mknod -m 0666 "$STATE/dev/nvidia$i" c 195 "$i" \
    || die "mknod failed: this container lacks CAP_MKNOD, which the dummy GPUs need"
done

cat >"$STATE/slurm.conf" <<EOF
# Written by .ci/slurm/up.sh: a one-node test cluster. Not a template for a real site.
ClusterName=spectralfm
SlurmctldHost=$HOST(127.0.0.1)
# Root runs every daemon: a single-user throwaway cluster inside a container.
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
# No mail server in a container; the default (/bin/mail) is missing and logged as an error.
MailProg=/bin/true
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No systemd and no writable cgroup tree in these containers: the cgroup plugins would make
# slurmd fail at start. linuxproc tracks job processes through /proc (parent pids), task/none
# binds nothing; both work without cgroups. The price: no memory or device fencing, and a
# process whose parent died (reparented to init) is no longer seen as part of its job, so it
# can outlive the job (measured: a torchrun worker orphaned by a signal); cgroups would catch it.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd: sacct cannot answer, so Snakemake must ask squeue (profile: status_command).
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# squeue forgets a finished job MinJobAge seconds after it ends. The Slurm executor plugin trusts
# squeue only when MinJobAge >= 3 x its first status check delay (40 s by default), so keep 300.
MinJobAge=300
SchedulerType=sched/backfill
SelectType=select/cons_tres
# Memory is a consumable resource so mem_mb requests are checked as on a real cluster.
SelectTypeParameters=CR_Core_Memory
# Without it a job that names no memory would be given the whole node and block all others.
DefMemPerCPU=1000
GresTypes=gpu
# A node that went down (e.g. slurmd restarted) comes back by itself when it registers again.
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
# SIGTERM -> SIGKILL delay for ended or cancelled jobs (default 30 s): keeps tests short.
KillWait=5
NodeName=$HOST NodeAddr=127.0.0.1 $NODE_HW Gres=gpu:$N_GPUS State=UNKNOWN
PartitionName=gpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=cpu Nodes=$HOST Default=NO MaxTime=INFINITE State=UP
EOF

cat >"$STATE/gres.conf" <<EOF
# AutoDetect=off: there is no NVML here; the GPUs are the dummy files listed explicitly.
AutoDetect=off
NodeName=$HOST Name=gpu File=$STATE/dev/nvidia[0-$((N_GPUS - 1))]
EOF

mkdir -p /etc/slurm
ln -sfn "$STATE/slurm.conf" "$ETC_CONF"
ln -sfn "$STATE/gres.conf" "$ETC_GRES"

# --- daemons ----------------------------------------------------------------------------------
# Both fork into the background and write the pid files named in slurm.conf.
slurmctld -f "$ETC_CONF"
slurmd -f "$ETC_CONF"

deadline=$((SECONDS + START_TIMEOUT_S))
until node_idle; do
  if ((SECONDS > deadline)); then
    echo "up.sh: node not idle after ${START_TIMEOUT_S}s; sinfo says:" >&2
    sinfo -N -l >&2 || true
    tail -n 20 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 || true
    exit 1
  fi
  sleep 0.5
done
pid_alive "$STATE/slurmctld.pid" || die "slurmctld has no live pid in $STATE/slurmctld.pid"
pid_alive "$STATE/slurmd.pid" || die "slurmd has no live pid in $STATE/slurmd.pid"
echo "$STATE"
