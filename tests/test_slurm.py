"""The Slurm profile against a real (local, one-node) Slurm.

`.ci/slurm/up.sh` starts the cluster; without one answering `sinfo` the Slurm tests are skipped.
The profile check at the bottom needs no cluster and always runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"
TEST_WORKFLOW = Path(__file__).resolve().parent / "slurm_workflow"
# The job runs `python -m snakemake` and the rules' own `python` from the submitting environment:
# sbatch exports it (the plugin always passes --export=ALL), so PATH must lead to this venv.
VENV_BIN = Path(sys.executable).parent
# The executor waits this long before its first status check (40 s in the profile, for real
# clusters); a test cluster answers at once.
FAST_STATUS_ARGS = (
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--seconds-between-status-checks",
    "1",
)
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+)")


def slurm_skip_reason() -> str | None:
    """Why the Slurm tests cannot run here, or None when a local Slurm has an idle node."""
    if shutil.which("sinfo") is None:
        return "no Slurm client (sinfo) installed; start one with `sudo .ci/slurm/up.sh`"
    try:
        answer = subprocess.run(
            ["sinfo", "--noheader", "--Node", "--format=%t"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 10 s (no slurmctld?); run `sudo .ci/slurm/up.sh`"
    states = answer.stdout.split()
    if answer.returncode != 0 or not states:
        why = (answer.stderr.strip().splitlines() or ["no output"])[-1]
        return f"sinfo found no Slurm cluster ({why}); run `sudo .ci/slurm/up.sh`"
    if not any(state in ("idle", "mix") for state in states):
        return f"no idle Slurm node (states: {', '.join(states)})"
    return None


class SnakemakeTimeout(AssertionError):
    def __init__(self, message: str, output: str, slurm_job_ids: list[str]):
        super().__init__(message)
        self.output = output
        self.slurm_job_ids = slurm_job_ids


@pytest.fixture
def local_slurm() -> None:
    """Skips the test, saying why, unless a local Slurm has an idle node."""
    reason = slurm_skip_reason()
    if reason:
        pytest.skip(reason)


@dataclass
class SlurmRun:
    returncode: int
    output: str  # stdout and stderr of Snakemake, interleaved
    slurm_job_ids: list[str]
    seconds: float


def _jobs_named(prefix: str) -> list[str]:
    """Ids of queued or running Slurm jobs whose name starts with prefix."""
    listing = subprocess.run(
        ["squeue", "--noheader", "--format=%i %j"], capture_output=True, text=True, timeout=30
    )
    return [
        job_id
        for job_id, _, name in (line.partition(" ") for line in listing.stdout.splitlines())
        if name.startswith(prefix)
    ]


def _cancel_jobs_named(prefix: str, wait_s: float = 60) -> None:
    """Cancel this run's Slurm jobs and wait (bounded) until Slurm has ended them."""
    ids = _jobs_named(prefix)
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=30)
    deadline = time.monotonic() + wait_s
    while _jobs_named(prefix):
        assert time.monotonic() < deadline, f"Slurm jobs {prefix}* still there after {wait_s} s"
        time.sleep(0.5)


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain text (e.g. a test's work folder)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        line = " ".join(word.decode(errors="replace") for word in words if word)
        if text in line:
            found.append(line)
    return found


def wait_until_no_process_mentions(text: str, wait_s: float = 30) -> None:
    """Slurm ends a cancelled job's processes asynchronously (TERM, KillWait, KILL): wait."""
    deadline = time.monotonic() + wait_s
    while left := processes_mentioning(text):
        assert time.monotonic() < deadline, f"processes left after {wait_s} s: {left}"
        time.sleep(0.5)


def run_snakemake_on_slurm(
    workdir: Path,
    targets: list[str] | tuple[str, ...] = (),
    extra_args: list[str] | tuple[str, ...] = (),
    timeout: float = 300,
) -> SlurmRun:
    """Run `snakemake --profile profiles/slurm` in workdir and wait at most timeout seconds.

    extra_args go after the profile (e.g. --snakefile, --configfile, --config); they win over
    it. On timeout Snakemake's whole process group is stopped and its Slurm jobs cancelled, so
    nothing outlives the call, then SnakemakeTimeout is raised with the tail of the output.
    """
    prefix = "sfmtest" + uuid.uuid4().hex[:8]
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        str(PROFILE),
        *FAST_STATUS_ARGS,
        # Names every Slurm job of this run, so a timeout can cancel exactly these.
        "--slurm-jobname-prefix",
        prefix,
        *extra_args,
        *targets,
    ]
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: one kill reaches all its children
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # INT, not TERM: on SIGTERM Snakemake waits for its running jobs to finish; on SIGINT it
        # scancels them and exits. KILL whatever is still there after a bounded wait.
        os.killpg(process.pid, signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        _cancel_jobs_named(prefix)
        wait_until_no_process_mentions(str(workdir))
        raise SnakemakeTimeout(
            f"snakemake on Slurm did not finish within {timeout} s:\n{output[-4000:]}",
            output=output,
            slurm_job_ids=SUBMITTED.findall(output),
        ) from None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    _cancel_jobs_named(prefix)  # no-op after a clean run; a failed run may leave jobs queued
    return SlurmRun(
        returncode=process.returncode,
        output=output,
        slurm_job_ids=SUBMITTED.findall(output),
        seconds=time.monotonic() - started,
    )


def local_snakemake(workdir: Path, extra_args: list[str] | tuple[str, ...] = ()):
    """The same workflow run by plain Snakemake, no profile, no Slurm."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", *extra_args],
        cwd=workdir,
        env=dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"),
        capture_output=True,
        text=True,
        timeout=120,
    )


def scontrol_job(job_id: str) -> dict[str, str]:
    """`scontrol show job` as key=value pairs (kept by slurmctld for MinJobAge after the end)."""
    shown = subprocess.run(
        ["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=30
    )
    assert shown.returncode == 0, f"scontrol show job {job_id}: {shown.stderr}"
    return dict(field.split("=", 1) for field in shown.stdout.split() if "=" in field)


def copy_test_workflow(destination: Path) -> Path:
    shutil.copytree(TEST_WORKFLOW, destination)
    return destination


@pytest.mark.slurm
@pytest.mark.timeout(360)
def test_gpu_rule_goes_through_sbatch_and_matches_a_local_run(tmp_path, local_slurm):
    on_slurm = copy_test_workflow(tmp_path / "on_slurm")
    local = copy_test_workflow(tmp_path / "local")

    run = run_snakemake_on_slurm(on_slurm, timeout=240)
    assert run.returncode == 0, run.output[-4000:]

    # Exactly one job went to Slurm: pretrain. prepare/summarize are local rules.
    assert len(run.slurm_job_ids) == 1, run.output[-4000:]
    job_id = run.slurm_job_ids[0]
    job_env = json.loads((on_slurm / "results/pretrain/job_env.json").read_text())
    assert job_env["SLURM_JOB_ID"] == job_id
    assert job_env["SLURM_JOB_PARTITION"] == "gpu"  # set-resources in the profile
    # The gres reached the job step: Slurm picked a GPU and told CUDA about it.
    assert job_env["CUDA_VISIBLE_DEVICES"] not in (None, "")
    assert job_env["SLURM_STEP_GPUS"] == job_env["CUDA_VISIBLE_DEVICES"]
    for local_rule in ("prepare", "summarize"):
        local_env = json.loads((on_slurm / f"logs/{local_rule}.log").read_text())
        assert local_env["SLURM_JOB_ID"] is None, f"{local_rule} ran inside a Slurm job"

    # The controller's own record: the config's resources became the sbatch request.
    job = scontrol_job(job_id)
    assert job["JobState"] == "COMPLETED"
    assert job["Partition"] == "gpu"
    assert job["TresPerJob"] == "gres:gpu:1"
    assert job["CpusPerTres"] == "gres:gpu:1"  # --cpus-per-gpu, not a default --cpus-per-task
    assert job["MinMemoryNode"] == "500M"
    assert job["TimeLimit"] == "00:10:00"
    slurm_log = on_slurm / f".snakemake/slurm_logs/rule_pretrain/{job_id}.log"
    assert "rule pretrain:" in slurm_log.read_text()

    wait_until_no_process_mentions(str(on_slurm))

    # The same workflow without the profile gives the same results.
    local_run = local_snakemake(local)
    assert local_run.returncode == 0, local_run.stderr[-4000:]
    for result in ("results/summary.json", "results/pretrain/value.txt"):
        assert (on_slurm / result).read_bytes() == (local / result).read_bytes(), result
    local_env = json.loads((local / "results/pretrain/job_env.json").read_text())
    assert local_env["SLURM_JOB_ID"] is None


@pytest.mark.slurm
@pytest.mark.timeout(240)
def test_failed_slurm_job_ends_snakemake_with_an_error(tmp_path, local_slurm):
    workdir = copy_test_workflow(tmp_path / "failing")
    run = run_snakemake_on_slurm(
        workdir,
        # No retry: the profile's one retry would submit the failing job twice.
        extra_args=["--config", "pretrain_exit_code=3", "--retries", "0"],
        timeout=180,
    )
    assert run.returncode != 0
    (job_id,) = run.slurm_job_ids
    assert f"SLURM-job '{job_id}' failed" in run.output, run.output[-4000:]
    assert scontrol_job(job_id)["JobState"] == "FAILED"
    assert not (workdir / "results/summary.json").exists()
    wait_until_no_process_mentions(str(workdir))


@pytest.mark.slurm
@pytest.mark.timeout(240)
def test_timeout_stops_snakemake_and_cancels_its_jobs(tmp_path, local_slurm):
    workdir = copy_test_workflow(tmp_path / "slow")
    with pytest.raises(SnakemakeTimeout) as timed_out:
        run_snakemake_on_slurm(
            workdir, extra_args=["--config", "pretrain_sleep_seconds=600"], timeout=15
        )
    (job_id,) = timed_out.value.slurm_job_ids
    assert scontrol_job(job_id)["JobState"] == "CANCELLED"
    assert not processes_mentioning(str(workdir))  # the helper waited for them to end


def test_profile_is_accepted_and_routes_pretrain_to_the_gpu_partition(tmp_path):
    """Needs no cluster: Snakemake parses every profile option (a misspelt one fails here)."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["slurm-status-command"] == "squeue"
    # A default cpus_per_task would override pretrain's cpus_per_gpu in the plugin.
    assert "cpus_per_task" not in profile["default-resources"]
    assert "gpu" not in profile["set-resources"]["pretrain"]  # the count lives in config.yaml

    workdir = copy_test_workflow(tmp_path / "wf")
    dry = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", str(PROFILE), "--dry-run"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    plan = dry.stdout + dry.stderr
    pretrain = plan[plan.index("rule pretrain:") :].split("\n\n")[0]
    resources = pretrain[pretrain.index("resources:") :].splitlines()[0]
    requested = resources.removeprefix("resources:").strip().split(", ")
    for expected in ("slurm_partition=gpu", "gpu=1", "cpus_per_gpu=1", "mem_mb=500", "runtime=10"):
        assert expected in requested, (expected, resources)


PRETRAIN_TARGET = "results/pretrain/model.safetensors"


def _tiny_pipeline_config(steps: int, checkpoint_every: int) -> dict:
    return {
        "corpus": {"sources": ["rruff"], "exclude_benchmarks": ["corn"], "val_fraction": 0.1},
        "sources": {"rruff": {"archives": ["LR-Raman"]}},
        "augment": {"copies": 1},
        "model": {"preset": "tiny"},
        "pretrain": {
            "train": {
                "steps": steps,
                "batch_size": 8,
                "warmup_steps": 2,
                "checkpoint_every": checkpoint_every,
                "val_every": 10_000,
                "val_batches": 1,
                "num_workers": 0,
                "device": "cpu",
            },
            "resources": {"gpu": 1, "cpus_per_gpu": 1, "mem_mb": 2000, "runtime": 10},
        },
    }


def _pipeline_workdirs(tmp_path: Path, settings: dict) -> tuple[Path, Path]:
    """Two working directories of the real pipeline with the same config: Slurm and local."""
    from workflow_helpers import write_config

    on_slurm, local = tmp_path / "on_slurm", tmp_path / "local"
    for workdir in (on_slurm, local):
        workdir.mkdir()
        write_config(workdir, settings)
    return on_slurm, local


def _pretrain_on_slurm(workdir: Path) -> SlurmRun:
    return run_snakemake_on_slurm(
        workdir,
        targets=[PRETRAIN_TARGET],
        extra_args=[f"--snakefile={REPO / 'Snakefile'}", f"--configfile={workdir / 'config.yaml'}"],
        timeout=700,
    )


def _gpu_jobs(run: SlurmRun) -> list[str]:
    return [j for j in run.slurm_job_ids if scontrol_job(j).get("Partition") == "gpu"]


def _assert_local_run_has_the_same_weights(on_slurm: Path, local: Path, mirror: Path) -> None:
    from safetensors.torch import load_file
    from workflow_helpers import snakemake

    snakemake(local, "--cores", "2", PRETRAIN_TARGET, mirror=mirror)
    from_slurm, from_local = (
        load_file(on_slurm / PRETRAIN_TARGET),
        load_file(local / PRETRAIN_TARGET),
    )
    assert from_slurm.keys() == from_local.keys()
    for name, tensor in from_local.items():
        assert (from_slurm[name] == tensor).all(), name


@pytest.mark.slurm
@pytest.mark.timeout(900)
def test_real_pipeline_pretrain_on_slurm_equals_a_local_run(
    tmp_path, local_slurm, shared_data, monkeypatch
):
    """The pipeline's own pretrain rule, tiny config: sbatch with a GPU request, completes,
    Snakemake returns, and the pretrained weights equal those of a run without the profile."""
    on_slurm, local = _pipeline_workdirs(tmp_path, _tiny_pipeline_config(8, checkpoint_every=4))
    monkeypatch.setenv("SPECTRALFM_MIRROR", str(shared_data / "mirror"))
    run = _pretrain_on_slurm(on_slurm)
    assert run.returncode == 0, run.output[-4000:]
    gpu_jobs = _gpu_jobs(run)
    assert len(gpu_jobs) == 1, run.output[-4000:]
    job = scontrol_job(gpu_jobs[0])
    assert job["JobState"] == "COMPLETED"
    assert job["TresPerJob"] == "gres:gpu:1"
    wait_until_no_process_mentions(str(on_slurm))
    _assert_local_run_has_the_same_weights(on_slurm, local, shared_data / "mirror")


@pytest.mark.slurm
@pytest.mark.timeout(900)
def test_signalled_pretrain_job_checkpoints_and_the_resubmission_resumes(
    tmp_path, local_slurm, shared_data, monkeypatch
):
    """SIGTERM to the running pretrain job (what Slurm sends on preemption or at the time limit):
    it checkpoints and fails, the profile's retry resubmits it, the new job resumes, and the end
    result equals an uninterrupted local run."""
    import threading

    on_slurm, local = _pipeline_workdirs(tmp_path, _tiny_pipeline_config(400, checkpoint_every=10))
    monkeypatch.setenv("SPECTRALFM_MIRROR", str(shared_data / "mirror"))
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(run=_pretrain_on_slurm(on_slurm)))
    runner.start()
    checkpoints = on_slurm / "results/pretrain/checkpoints"
    deadline = time.monotonic() + 500
    job_id = None
    while time.monotonic() < deadline and runner.is_alive():
        running = subprocess.run(
            ["squeue", "-h", "-p", "gpu", "-t", "RUNNING", "-o", "%i"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.split()
        if running and checkpoints.is_dir() and any(checkpoints.iterdir()):
            job_id = running[0]
            break
        time.sleep(0.5)
    assert job_id, "the pretrain job never ran long enough to write a checkpoint"
    subprocess.run(["scancel", "--signal=TERM", job_id], check=True, timeout=30)
    runner.join(timeout=750)
    run = result["run"]
    assert run.returncode == 0, run.output[-4000:]
    gpu_jobs = _gpu_jobs(run)
    assert len(gpu_jobs) == 2, run.output[-4000:]  # the signalled job and its resubmission
    assert scontrol_job(gpu_jobs[0])["JobState"] == "FAILED"
    assert "resuming from" in (on_slurm / "logs/pretrain/pretrain.log").read_text()
    wait_until_no_process_mentions(str(on_slurm))
    _assert_local_run_has_the_same_weights(on_slurm, local, shared_data / "mirror")
