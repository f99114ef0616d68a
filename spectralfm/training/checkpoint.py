"""Checkpoints without pickle: tensors in safetensors, everything else in JSON.

A checkpoint is a folder ``<root>/step_00001234/`` holding

* ``tensors.safetensors``: model weights (``model.*``), optimiser tensors (``optim.<param>.<name>``),
  and RNG states stored as uint8 tensors (``rng.torch``, ``rng.cuda.<i>``, ``rng.mask``);
* ``state.json``: step, optimiser hyper-parameters and scalar state, scheduler state, numpy and
  Python RNG states, the data position and anything else the caller adds.

It is written into a hidden temporary folder beside it and renamed when complete, so a folder
named ``step_*`` is always a whole checkpoint. Only the newest ``keep_last`` are kept.

The finished model is saved as ``model.safetensors`` + ``model_config.json``; ``load_pretrained``
rebuilds it without unpickling anything.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from spectralfm.atomic import atomic_path
from spectralfm.errors import InputError

STEP_PREFIX = "step_"
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "model_config.json"


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to a temporary file in the same folder, then rename it over ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1))


def save_tensors_atomic(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Save a flat tensor dict as safetensors under a temporary name, then rename."""
    with atomic_path(path) as tmp:
        save_file(_plain(tensors), str(tmp))


def _plain(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared storage (tied weights) and non-contiguous views: copy each
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}


# ---------------------------------------------------------------- RNG state


def capture_rng(mask_generator: torch.Generator | None = None) -> tuple[dict, dict]:
    """RNG states of torch (CPU, CUDA), numpy, Python and the mask generator: (tensors, json)."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    if mask_generator is not None:
        tensors["rng.mask"] = mask_generator.get_state()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state = {
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "python": [py_version, list(py_state), py_gauss],
    }
    return tensors, state


def restore_rng(
    tensors: dict[str, torch.Tensor], state: dict, mask_generator: torch.Generator | None = None
) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    if mask_generator is not None and "rng.mask" in tensors:
        mask_generator.set_state(tensors["rng.mask"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    py_version, py_state, py_gauss = state["python"]
    random.setstate((py_version, tuple(py_state), py_gauss))


# ---------------------------------------------------------------- optimiser state


def _optimizer_split(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, pstate in sd["state"].items():
        for name, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"optim.{pid}.{name}"] = value
            else:
                scalars.setdefault(str(pid), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_join(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    for pid, scalars in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(scalars)
    groups = [dict(g) for g in meta["param_groups"]]
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    return {"state": state, "param_groups": groups}


def _jsonable(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        try:
            json.dumps(v)
        except TypeError:
            continue  # e.g. LambdaLR's lambdas: rebuilt by the caller, not state
        out[k] = v
    return out


# ---------------------------------------------------------------- checkpoints


def resume_key(model: dict, train: dict, code: str, corpus: Path) -> str:
    """What a run's checkpoints are valid for: the settings, the code and the corpus file (a
    rebuilt corpus is a new file: its size and modification time), as canonical JSON."""
    stat = Path(corpus).stat()
    return json.dumps(
        {
            "model": model,
            "train": train,
            "code": code,
            "corpus": [stat.st_size, stat.st_mtime_ns],
        },
        sort_keys=True,
    )


def checkpoint_dirs(root: Path) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(STEP_PREFIX)]
    return sorted(found, key=lambda p: int(p.name[len(STEP_PREFIX) :]))


def latest_checkpoint(root: Path) -> Path | None:
    found = checkpoint_dirs(root)
    return found[-1] if found else None


def save_checkpoint(
    root: Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    mask_generator: torch.Generator | None = None,
    extra: dict | None = None,
    keep_last: int = 2,
) -> Path:
    """Write a whole checkpoint atomically and prune old ones; returns its folder."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{STEP_PREFIX}{step:08d}"
    if final.exists():
        return final  # this step is already saved (e.g. a signal arrived right after a save)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    optim_tensors, optim_meta = _optimizer_split(optimizer)
    rng_tensors, rng_state = capture_rng(mask_generator)
    tensors.update(optim_tensors)
    tensors.update(rng_tensors)
    state = {
        "step": step,
        "optimizer": optim_meta,
        "scheduler": _jsonable(scheduler.state_dict()) if scheduler is not None else None,
        "rng": rng_state,
        "extra": extra or {},
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=root))
    try:
        save_file(_plain(tensors), tmp / "tensors.safetensors")
        with open(tmp / "state.json", "w") as f:
            json.dump(state, f)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    for old in checkpoint_dirs(root)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    mask_generator: torch.Generator | None = None,
    restore_rng_states: bool = True,
) -> dict:
    """Restore everything saved by ``save_checkpoint``; returns the JSON state (step, extra...)."""
    path = Path(path)
    tensor_file, state_file = path / "tensors.safetensors", path / "state.json"
    if not tensor_file.is_file() or not state_file.is_file():
        raise InputError(f"{path}: not a checkpoint (needs tensors.safetensors and state.json)")
    tensors = load_file(tensor_file)
    with open(state_file) as f:
        state = json.load(f)
    model_sd = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(model_sd)
    if optimizer is not None:
        optimizer.load_state_dict(_optimizer_join(tensors, state["optimizer"]))
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict({**scheduler.state_dict(), **state["scheduler"]})
    if restore_rng_states:
        restore_rng(tensors, state["rng"], mask_generator)
    return state


# ---------------------------------------------------------------- the finished model


def save_pretrained(out_dir: Path, model: torch.nn.Module, cfg) -> None:
    """``model.safetensors`` + ``model_config.json`` (cfg needs ``to_dict()``), both atomic."""
    out_dir = Path(out_dir)
    save_tensors_atomic(out_dir / MODEL_FILE, model.state_dict())
    write_json_atomic(out_dir / CONFIG_FILE, cfg.to_dict())


def load_pretrained(path: Path, device: str | torch.device = "cpu", **overrides):
    """Rebuild the SpectralFM saved in ``path`` (a pretrain output folder); never unpickles.

    ``overrides`` change config fields before the model is built (e.g. ``lora_rank=4`` for
    fine-tuning: the LoRA weights, absent from the file, keep their initialisation).
    """
    from spectralfm.models.config import ModelConfig
    from spectralfm.models.spectralfm import SpectralFM

    path = Path(path)
    cfg_file, weights = path / CONFIG_FILE, path / MODEL_FILE
    for f in (cfg_file, weights):
        if not f.is_file():
            raise InputError(f"{f}: missing; expected a SpectralFM pretrain output folder")
    with open(cfg_file) as f:
        cfg = ModelConfig.from_dict({**json.load(f), **overrides})
    model = SpectralFM(cfg)
    state = load_file(weights, device="cpu")
    missing, unexpected = model.load_state_dict(state, strict=False)
    not_lora = [k for k in missing if "lora" not in k.lower()]
    if not_lora or unexpected:
        raise InputError(
            f"{weights}: does not match {cfg_file}: missing {not_lora[:5]}, "
            f"unexpected {list(unexpected)[:5]}"
        )
    return model.to(device)
