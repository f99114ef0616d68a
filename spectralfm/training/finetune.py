"""Supervised fine-tuning of SpectralFM for calibration transfer (regression on z_chem).

Two trainable sets:

* ``train_all=False`` (the ``spectralfm`` method): only the LoRA factors of the attention
  projections and the regression head learn; the pretrained encoder stays frozen. With a few
  dozen labelled spectra this is what keeps the pretrained representation intact.
* ``train_all=True`` (the ``spectralfm_scratch`` method): every parameter learns. A randomly
  initialised encoder that stayed frozen would make the "from scratch" baseline a random-feature
  model, which is not what the comparison is about; training everything is the fair baseline.

Loss: MSE between ``y_pred`` and standardised y, plus ``alignment_weight`` times the MSE between
the z_chem means of the same standards measured on master and target (the instrument should not
move z_chem). Early stopping monitors the regression MSE on a held-out part of the *training*
rows given by the caller; test data never reach this module.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from spectralfm.errors import InputError
from spectralfm.models.lora import mark_only_lora_and_heads_trainable


@dataclass
class FinetuneConfig:
    lr: float = 3e-3
    epochs: int = 40
    batch_size: int = 32
    weight_decay: float = 0.0
    alignment_weight: float = 1.0
    patience: int = 8  # epochs without validation improvement before stopping
    seed: int = 0
    train_all: bool = False
    encoder_lr_ratio: float = 0.03


@contextmanager
def deterministic(seed: int):
    """Seed torch and switch on deterministic algorithms for the block, then restore both."""
    was = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was)


def set_trainable(model: nn.Module, train_all: bool) -> list[str]:
    """Apply the trainable set (see module docstring); returns the trainable parameter names."""
    if train_all:
        for p in model.parameters():
            p.requires_grad_(True)
    else:
        mark_only_lora_and_heads_trainable(model, heads=("regression",))
    return [n for n, p in model.named_parameters() if p.requires_grad]


class FeatureStandardizer(nn.Module):
    """Fixed affine map z -> (z - mean) / scale, fitted on the training rows' z_chem.

    SNV spectra of one product differ by ~1% between samples, so z_chem varies by ~1e-3 around a
    common mean; without this the regression head would need weights ~1000x its initial scale.
    """

    def __init__(self, mean: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("scale", scale.detach().clone())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean) / self.scale


def attach_standardizer(model: nn.Module, spectra: torch.Tensor, axis: torch.Tensor) -> None:
    """Put a ``FeatureStandardizer`` fitted on these rows in front of ``model.regression``."""
    with torch.no_grad():
        was = model.training
        model.eval()
        mu = torch.cat([model(spectra[i : i + 64], axis[i : i + 64])["mu_chem"]
                        for i in range(0, len(spectra), 64)])  # fmt: skip
        model.train(was)
    scale = mu.std(0, unbiased=False).clamp_min(1e-8)
    model.regression = nn.Sequential(FeatureStandardizer(mu.mean(0), scale), model.regression)


def _predict(model: nn.Module, spectra: torch.Tensor, axis: torch.Tensor, batch: int = 64):
    was = model.training
    model.eval()
    with torch.no_grad():
        out = [model(spectra[i : i + batch], axis[i : i + batch])["y_pred"][:, 0]
               for i in range(0, len(spectra), batch)]  # fmt: skip
    model.train(was)
    return torch.cat(out) if out else spectra.new_zeros(0)


def finetune(
    model: nn.Module,
    spectra: torch.Tensor,
    axis: torch.Tensor,
    y: torch.Tensor,
    val_mask: torch.Tensor,
    cfg: FinetuneConfig,
    pairs: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> dict:
    """Fine-tune ``model`` in place on rows ``~val_mask``; early-stop on rows ``val_mask``.

    ``y`` must already be standardised. ``pairs`` = (master spectra, master axis, target spectra,
    target axis) of the transfer standards, row i of each being the same sample, for the
    alignment term. Returns the history (per-epoch train/val loss, best epoch, stop reason).
    The weights of the best validation epoch are restored (the last epoch when no rows are held
    out).
    """
    n = len(spectra)
    if not (len(axis) == len(y) == len(val_mask) == n) or n == 0:
        raise InputError(
            f"finetune: spectra {tuple(spectra.shape)}, axis {tuple(axis.shape)}, y "
            f"{tuple(y.shape)}, val_mask {tuple(val_mask.shape)} must have the same rows (> 0)"
        )
    train_idx = torch.nonzero(~val_mask).flatten()
    val_idx = torch.nonzero(val_mask).flatten()
    if len(train_idx) == 0:
        raise InputError("finetune: every row is held out for validation; nothing to train on")
    attach_standardizer(model, spectra[train_idx], axis[train_idx])
    names = set(set_trainable(model, cfg.train_all))
    # the head learns at lr; the encoder (LoRA or all weights) at encoder_lr_ratio * lr, since
    # z_chem's between-sample spread is tiny and a large encoder step swamps it
    head = [p for n_, p in model.named_parameters() if n_ in names and n_.startswith("regression.")]
    body = [
        p for n_, p in model.named_parameters() if n_ in names and not n_.startswith("regression.")
    ]
    optimizer = torch.optim.AdamW(
        [{"params": head, "lr": cfg.lr}, {"params": body, "lr": cfg.lr * cfg.encoder_lr_ratio}],
        weight_decay=cfg.weight_decay,
    )
    history = {"train_loss": [], "val_loss": [], "best_epoch": -1, "stopped": "epochs"}
    best_val, best_state, waited = float("inf"), None, 0
    with deterministic(cfg.seed):
        gen = torch.Generator().manual_seed(cfg.seed)
        # eval mode while training: z_chem = its VIB mean (sampling noise would swamp a few dozen
        # labels) and no dropout; gradients flow all the same
        model.eval()
        for epoch in range(cfg.epochs):
            order = train_idx[torch.randperm(len(train_idx), generator=gen)]
            total, steps = 0.0, 0
            for start in range(0, len(order), cfg.batch_size):
                idx = order[start : start + cfg.batch_size]
                out = model(spectra[idx], axis[idx])
                loss = (out["y_pred"][:, 0] - y[idx]).pow(2).mean()
                if pairs is not None and cfg.alignment_weight > 0:
                    loss = loss + cfg.alignment_weight * _alignment(model, pairs, cfg, gen)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total, steps = total + float(loss.detach()), steps + 1
            history["train_loss"].append(total / steps)
            if len(val_idx) == 0:
                continue
            val = float(
                (_predict(model, spectra[val_idx], axis[val_idx]) - y[val_idx]).pow(2).mean()
            )
            history["val_loss"].append(val)
            if val < best_val - 1e-6:
                best_val, waited, history["best_epoch"] = val, 0, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
                if waited >= cfg.patience:
                    history["stopped"] = f"no validation improvement for {cfg.patience} epochs"
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def _alignment(model, pairs, cfg: FinetuneConfig, gen: torch.Generator) -> torch.Tensor:
    xm, am, xt, at = pairs
    k = min(len(xm), max(1, cfg.batch_size // 2))
    idx = torch.randperm(len(xm), generator=gen)[:k]
    out = model(torch.cat([xm[idx], xt[idx]]), torch.cat([am[idx], at[idx]]))
    mu = model.regression[0](out["mu_chem"])  # in standardised units, like the head sees it
    return (mu[:k] - mu[k:]).pow(2).mean()
