import json
import os
import subprocess
import sys

from safetensors.torch import load_file
from test_pretrain import TINY, small_cfg, write_tiny_corpus

from spectralfm.models.config import ModelConfig
from spectralfm.training.checkpoint import load_pretrained


def test_torchrun_two_ranks_gloo_identical_weights(tmp_path, repo):
    corpus = write_tiny_corpus(tmp_path / "corpus.h5", n=60)
    out = tmp_path / "ddp"
    train = small_cfg(steps=3, checkpoint_every=2, val_every=3).to_dict()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo)}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "spectralfm.training.pretrain",
        "--corpus", str(corpus), "--out", str(out),
        "--model-config", json.dumps({"preset": "tiny", **TINY}),
        "--train-config", json.dumps(train),
    ]  # fmt: skip
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    # pretrain compares every parameter across ranks (max == min) before rank 0 saves
    assert {"step": 3, "world_size": 2, "ranks_identical": True} in records
    # only rank 0 wrote: one line per step, not two
    assert [r["step"] for r in records if "total" in r] == [1, 2, 3]
    assert records[0]["spectra_per_s"] > 0
    model = load_pretrained(out)
    assert model.cfg == ModelConfig.preset("tiny", **TINY)
    saved = load_file(out / "model.safetensors")
    assert all(k in saved for k in model.state_dict())
    ckpt = json.loads(next((out / "checkpoints").glob("step_00000003/state.json")).read_text())
    assert ckpt["extra"]["world_size"] == 2 and len(ckpt["extra"]["data_position"]) == 2
