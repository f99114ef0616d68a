import json
import os
import shutil
import signal
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from spectralfm.errors import InputError
from spectralfm.models.config import ModelConfig
from spectralfm.training.checkpoint import (
    checkpoint_dirs,
    latest_checkpoint,
    load_checkpoint,
    load_pretrained,
    save_checkpoint,
)
from spectralfm.training.pretrain import (
    EXIT_RESUMABLE,
    PretrainConfig,
    PretrainInterrupted,
    main,
    pretrain,
)
from spectralfm.training.schedule import warmup_cosine

# the synthetic corpus has 3 domains -> model ids 1..3 (0 = unknown)
TINY = dict(n_domains=4)


def write_tiny_corpus(path: Path, n: int = 48, n_points: int = 2048, seed: int = 0) -> Path:
    """A corpus HDF5 in the corpus layout: SNV'd band spectra from 3 domains, train/val split."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0, 1, n_points)
    domain = np.arange(n) % 3
    centres = rng.uniform(0.2, 0.8, size=(n, 3))
    spectra = sum(np.exp(-((grid - centres[:, [k]]) ** 2) / 0.002) for k in range(3))
    spectra = spectra + 0.2 * domain[:, None] * grid  # each domain has its own baseline tilt
    spectra = (spectra - spectra.mean(1, keepdims=True)) / spectra.std(1, keepdims=True)
    axis = np.stack([np.full(n, 4000.0), np.full(n, 9000.0)], 1)
    split = np.where(np.arange(n) < n - 12, "train", "val").astype(object)
    with h5py.File(path, "w") as f:
        f.create_dataset("spectra", data=spectra.astype(np.float32), chunks=(8, n_points))
        f.create_dataset("axis", data=axis)
        f.create_dataset("meta/domain", data=domain.astype(np.int32))
        f.create_dataset("meta/split", data=split, dtype=h5py.string_dtype("utf-8"))
        f.attrs["domains"] = json.dumps([["a", "nir"], ["b", "ir"], ["c", "raman"]])
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_tiny_corpus(tmp_path_factory.mktemp("corpus") / "corpus.h5")


def small_cfg(**kw) -> PretrainConfig:
    base = dict(
        steps=6,
        batch_size=8,
        lr=1e-3,
        warmup_steps=2,
        checkpoint_every=2,
        val_every=3,
        val_batches=1,
        log_every=1,
        block_size=8,
        seed=3,
        device="cpu",
    )
    base.update(kw)
    return PretrainConfig(**base)


def test_schedule_warmup_then_cosine_to_floor():
    lrs = [warmup_cosine(s, 100, 10, 0.1) for s in range(120)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[9:100], lrs[10:100], strict=False))
    assert lrs[100] == pytest.approx(0.1) and lrs[119] == pytest.approx(0.1)


def test_pretrain_outputs_and_learns(tmp_path, corpus):
    model_cfg = ModelConfig.preset("tiny", **TINY)
    cfg = small_cfg(steps=16, lr=3e-3, checkpoint_every=8, val_every=8)
    out = pretrain(corpus, tmp_path / "run", model_cfg, cfg)
    for name in ("model.safetensors", "model_config.json", "metrics.jsonl", "loss_curve.png"):
        assert (out / name).is_file(), name
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "total" in r]
    val = [r for r in records if "val_total" in r]
    assert [r["step"] for r in train] == list(range(1, 17))
    assert [r["step"] for r in val] == [8, 16]
    for key in ("recon", "smooth", "snv", "kl", "domain", "ot", "moe", "lr", "spectra_per_s"):
        assert key in train[0], key
    assert train[0]["ot"] > 0  # batches mix domains, so the OT term runs
    # the masked reconstruction improves over 16 steps
    assert np.mean([r["recon"] for r in train[-4:]]) < np.mean([r["recon"] for r in train[:4]])
    model = load_pretrained(out)
    assert model.cfg == model_cfg
    saved = load_file(out / "model.safetensors")
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved[k])
    assert len(checkpoint_dirs(out / "checkpoints")) <= 2


def test_interrupted_by_signal_and_resumed_equals_uninterrupted(tmp_path, corpus):
    model_cfg = ModelConfig.preset("tiny", **TINY, dropout=0.1)
    cfg = small_cfg(steps=7)  # 30 train rows / 8 = 3 batches per epoch: resume crosses epochs
    straight = pretrain(corpus, tmp_path / "straight", model_cfg, cfg)

    def sigterm_at_4(step):
        if step == 4:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(PretrainInterrupted) as info:
        pretrain(corpus, tmp_path / "resumed", model_cfg, cfg, on_step=sigterm_at_4)
    assert info.value.step == 4
    assert latest_checkpoint(tmp_path / "resumed" / "checkpoints").name == "step_00000004"
    assert not (tmp_path / "resumed" / "model.safetensors").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
    resumed = pretrain(corpus, tmp_path / "resumed", model_cfg, cfg)
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    steps = [json.loads(x)["step"] for x in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert steps == [
        json.loads(x)["step"] for x in (straight / "metrics.jsonl").read_text().splitlines()
    ]


def test_resume_with_other_model_config_is_refused(tmp_path, corpus):
    cfg = small_cfg(steps=2)
    pretrain(corpus, tmp_path / "run", ModelConfig.preset("tiny", **TINY), cfg)
    with pytest.raises(InputError, match="different model config"):
        pretrain(corpus, tmp_path / "run", ModelConfig.preset("tiny", **TINY, d_z=4), cfg)
    # without checkpoints (the workflow drops them when settings change) it starts afresh
    shutil.rmtree(tmp_path / "run" / "checkpoints")
    pretrain(corpus, tmp_path / "run", ModelConfig.preset("tiny", **TINY, d_z=4), cfg)
    assert load_pretrained(tmp_path / "run").cfg.d_z == 4


def test_corpus_domains_must_fit_model(tmp_path, corpus):
    with pytest.raises(InputError, match="n_domains"):
        pretrain(
            corpus,
            tmp_path / "run",
            ModelConfig.preset("tiny", **{**TINY, "n_domains": 3}),
            small_cfg(steps=1),
        )


def test_cli_exits_resumable_on_sigusr1(tmp_path, corpus, monkeypatch):
    import spectralfm.training.pretrain as mod

    real = mod.pretrain

    def with_signal(*args, **kw):
        return real(*args, **kw, on_step=lambda s: os.kill(os.getpid(), signal.SIGUSR1))

    monkeypatch.setattr(mod, "pretrain", with_signal)
    train = json.dumps(small_cfg(steps=5).to_dict())
    args = ["--corpus", str(corpus), "--out", str(tmp_path / "cli")]
    model = json.dumps({"preset": "tiny", **TINY})
    assert main([*args, "--model-config", model, "--train-config", train]) == EXIT_RESUMABLE
    assert latest_checkpoint(tmp_path / "cli" / "checkpoints").name == "step_00000001"
    monkeypatch.setattr(mod, "pretrain", real)
    assert main([*args, "--model-config", model, "--train-config", train]) == 0
    assert (tmp_path / "cli" / "model.safetensors").is_file()


def test_bad_train_config_names_key():
    with pytest.raises(InputError, match="mask_ratio"):
        PretrainConfig(mask_ratio=1.5)
    with pytest.raises(InputError, match="bogus"):
        PretrainConfig.from_dict({"bogus": 1})


def test_checkpoint_round_trip_is_pickle_free_and_atomic(tmp_path):
    from spectralfm.models.spectralfm import SpectralFM

    torch.manual_seed(0)
    model = SpectralFM(ModelConfig.preset("tiny", **TINY))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5**s)
    x, axis = torch.randn(2, 2048), torch.tensor([[4000.0, 9000.0]] * 2)
    model(x, axis)["recon"].pow(2).mean().backward()
    opt.step()
    sched.step()
    gen = torch.Generator().manual_seed(7)
    root = tmp_path / "ck"
    (root / ".step_00000009.abc.tmp").mkdir(parents=True)  # a crash mid-write left this
    path = save_checkpoint(root, 5, model, opt, sched, gen, extra={"data_position": [[1, 2]]})
    assert latest_checkpoint(root) == path  # the unfinished temp folder is not a checkpoint
    assert sorted(p.name for p in path.iterdir()) == ["state.json", "tensors.safetensors"]
    expect_rand, expect_mask = torch.rand(3), torch.rand(3, generator=gen)

    torch.manual_seed(123)
    other = SpectralFM(ModelConfig.preset("tiny", **TINY))
    opt2 = torch.optim.AdamW(other.parameters(), lr=1e-3)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, lambda s: 0.5**s)
    gen2 = torch.Generator()
    state = load_checkpoint(path, other, opt2, sched2, gen2)
    assert state["step"] == 5 and state["extra"]["data_position"] == [[1, 2]]
    for k, v in model.state_dict().items():
        assert torch.equal(v, other.state_dict()[k])
    a, b = opt.state_dict(), opt2.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for pid, st in a["state"].items():
        for name, v in st.items():
            assert torch.equal(v, b["state"][pid][name]), (pid, name)
    assert sched2.last_epoch == 1 and opt2.param_groups[0]["lr"] == pytest.approx(5e-4)
    # the RNG states came back: the same draws follow
    assert torch.equal(torch.rand(3), expect_rand)
    assert torch.equal(torch.rand(3, generator=gen2), expect_mask)
    for step in (6, 7):
        save_checkpoint(root, step, model, opt, sched, gen, keep_last=2)
    assert [p.name for p in checkpoint_dirs(root)] == ["step_00000006", "step_00000007"]
    with pytest.raises(InputError, match="not a checkpoint"):
        load_checkpoint(tmp_path, other)


def test_resume_key_changes_with_the_corpus_file(tmp_path):
    from spectralfm.training.checkpoint import resume_key

    corpus = tmp_path / "corpus.h5"
    corpus.write_bytes(b"a" * 10)
    key = resume_key({"preset": "tiny"}, {"steps": 5}, "code", corpus)
    assert resume_key({"preset": "tiny"}, {"steps": 5}, "code", corpus) == key
    assert resume_key({"preset": "tiny"}, {"steps": 6}, "code", corpus) != key
    os.utime(corpus, ns=(0, corpus.stat().st_mtime_ns + 1))  # the corpus was rebuilt
    assert resume_key({"preset": "tiny"}, {"steps": 5}, "code", corpus) != key
