import json
import shutil
import subprocess
import sys
from pathlib import Path

from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.training.checkpoint import resume_key  # noqa: E402
from spectralfm.training.pretrain import (  # noqa: E402
    CHECKPOINT_DIR,
    EXIT_RESUMABLE,
    PretrainConfig,
    PretrainInterrupted,
    model_config_from_json,
    pretrain,
)

sm = snakemake  # noqa: F821
out_dir = Path(sm.output.weights).parent
model_json = {"preset": sm.params.preset, **sm.params.model_overrides}
train_json = dict(sm.params.train)

# Checkpoints survive a failed or preempted job (Snakemake only removes declared outputs), so a
# rerun resumes. They are only valid for the same run: dropped when the key changes.
run_key = resume_key(model_json, train_json, sm.params.code, Path(sm.input.corpus))
key_file = out_dir / "run_key.json"
if key_file.exists() and key_file.read_text() != run_key:
    log.info("settings or code changed since the checkpoints were written: starting over")
    shutil.rmtree(out_dir / CHECKPOINT_DIR, ignore_errors=True)
out_dir.mkdir(parents=True, exist_ok=True)
key_file.write_text(run_key)

if sm.params.gpus > 1:
    # One process per GPU on this node; rank 0 writes the outputs.
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={sm.params.gpus}",
        "-m",
        "spectralfm.training.pretrain",
        "--corpus",
        str(sm.input.corpus),
        "--out",
        str(out_dir),
        "--model-config",
        json.dumps(model_json),
        "--train-config",
        json.dumps(train_json),
    ]
    log.info("launching %s", " ".join(cmd))
    sys.exit(subprocess.run(cmd, stdout=sys.stdout, stderr=sys.stderr).returncode)

try:
    pretrain(
        Path(sm.input.corpus),
        out_dir,
        model_config_from_json(model_json),
        PretrainConfig.from_dict(train_json),
    )
except PretrainInterrupted as exc:
    log.warning("%s: the next run resumes from the checkpoint", exc)
    sys.exit(EXIT_RESUMABLE)
