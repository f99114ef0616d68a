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

import logging
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from spectralfm.errors import InputError
from spectralfm.models.lora import mark_only_lora_and_heads_trainable

log = logging.getLogger(__name__)


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


class Encoder:
    """Forward passes for fine-tuning, with the frozen front of the model computed only once.

    In LoRA mode everything before the first transformer block (wavelet embedding, Mamba, MoE)
    is frozen and, in eval mode without a mask, deterministic, so its output per spectrum is
    cached and each step runs only the transformer, VIB and head. The split path is checked
    against the model's own forward on the first rows; on any mismatch (a model change this
    code does not know about) it falls back to full forward passes.
    """

    def __init__(self, model: nn.Module, spectra: torch.Tensor, axis: torch.Tensor, cache: bool):
        self.model, self.spectra, self.axis = model, spectra, axis
        self.trunk = None
        if cache:
            with torch.no_grad():
                trunk = torch.cat([self._front(spectra[i : i + 64], axis[i : i + 64])
                                   for i in range(0, len(spectra), 64)])  # fmt: skip
                k = min(4, len(spectra))
                split = self._back(trunk[:k])["y_pred"]
                full = model(spectra[:k], axis[:k])["y_pred"]
            if torch.allclose(split, full, rtol=1e-4, atol=1e-5):
                self.trunk = trunk
            else:
                log.warning("finetune: cached trunk disagrees with the model; using full passes")

    def _front(self, spectra, axis):
        m = self.model
        x = m.embed(spectra, axis, None, None)
        for block in m.mamba:
            x = block(x)
        return m.moe(x)[0]

    def _back(self, x):
        m = self.model
        for block in m.transformer:
            x = block(x)
        x = m.norm(x)
        out = m.vib(x[:, 0], x[:, 1])
        out["y_pred"] = m.regression(out["z_chem"])
        return out

    def __call__(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """Model outputs (at least y_pred, mu_chem) for rows ``idx``."""
        if self.trunk is not None:
            return self._back(self.trunk[idx])
        return self.model(self.spectra[idx], self.axis[idx])

    def predict(self, idx: torch.Tensor, batch: int = 64) -> torch.Tensor:
        with torch.no_grad():
            out = [self(idx[i : i + batch])["y_pred"][:, 0] for i in range(0, len(idx), batch)]
        return torch.cat(out) if out else self.spectra.new_zeros(0)


def attach_standardizer(model: nn.Module, enc: Encoder, rows: torch.Tensor) -> None:
    """Put a ``FeatureStandardizer`` fitted on ``rows`` in front of ``model.regression``."""
    with torch.no_grad():
        mu = torch.cat([enc(rows[i : i + 64])["mu_chem"] for i in range(0, len(rows), 64)])
    scale = mu.std(0, unbiased=False).clamp_min(1e-8)
    model.regression = nn.Sequential(FeatureStandardizer(mu.mean(0), scale), model.regression)


def restandardize(model: nn.Module, spectra: torch.Tensor, axis: torch.Tensor) -> None:
    """Refit the head's ``FeatureStandardizer`` on these spectra (AdaBN-style re-estimation).

    Used after TTT with the unlabeled target calibration spectra: they are the same kind of
    samples as the training rows, so standardising target features with target statistics
    removes the offset the instrument (and the adapted norm layers) put on z_chem.
    """
    standardizer = model.regression[0]
    if not isinstance(standardizer, FeatureStandardizer):
        raise InputError("restandardize: the model was not fine-tuned (no FeatureStandardizer)")
    if len(spectra) < 2:
        raise InputError(f"restandardize: needs >= 2 spectra, got {len(spectra)}")
    was = model.training
    model.eval()
    with torch.no_grad():
        mu = torch.cat([model(spectra[i : i + 64], axis[i : i + 64])["mu_chem"]
                        for i in range(0, len(spectra), 64)])  # fmt: skip
    model.train(was)
    standardizer.mean.copy_(mu.mean(0))
    standardizer.scale.copy_(mu.std(0, unbiased=False).clamp_min(1e-8))


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
    n_pairs = 0
    if pairs is not None and cfg.alignment_weight > 0:
        xm, am, xt, at = pairs
        n_pairs = len(xm)
        spectra, axis = torch.cat([spectra, xm, xt]), torch.cat([axis, am, at])
    # eval mode throughout: z_chem = its VIB mean (sampling noise would swamp a few dozen labels)
    # and no dropout; gradients flow all the same
    model.eval()
    enc = Encoder(model, spectra, axis, cache=not cfg.train_all)
    attach_standardizer(model, enc, train_idx)
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
    history["cached_trunk"] = enc.trunk is not None
    best_val, best_state, waited = float("inf"), None, 0
    with deterministic(cfg.seed):
        gen = torch.Generator().manual_seed(cfg.seed)
        for epoch in range(cfg.epochs):
            order = train_idx[torch.randperm(len(train_idx), generator=gen)]
            total, steps = 0.0, 0
            for start in range(0, len(order), cfg.batch_size):
                idx = order[start : start + cfg.batch_size]
                loss = (enc(idx)["y_pred"][:, 0] - y[idx]).pow(2).mean()
                if n_pairs:
                    loss = loss + cfg.alignment_weight * _alignment(
                        model, enc, n, n_pairs, cfg, gen
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total, steps = total + float(loss.detach()), steps + 1
            history["train_loss"].append(total / steps)
            if len(val_idx) == 0:
                continue
            val = float((enc.predict(val_idx) - y[val_idx]).pow(2).mean())
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


def _alignment(model, enc: Encoder, n: int, n_pairs: int, cfg: FinetuneConfig, gen) -> torch.Tensor:
    # pair rows sit after the n training rows: master standards, then target standards
    k = min(n_pairs, max(1, cfg.batch_size // 2))
    pick = torch.randperm(n_pairs, generator=gen)[:k]
    out = enc(torch.cat([n + pick, n + n_pairs + pick]))
    mu = model.regression[0](out["mu_chem"])  # in standardised units, like the head sees it
    return (mu[:k] - mu[k:]).pow(2).mean()
