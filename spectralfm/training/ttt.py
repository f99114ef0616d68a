"""Test-time training (TTT): adapt normalisation layers to a new instrument without labels.

Only the affine parameters (weight, bias) of the normalisation layers move; everything else is
frozen. The loss is the pretraining masked-reconstruction MSE on unlabeled spectra measured on
the target instrument. The caller decides which spectra: the transfer protocol passes target
calibration spectra (or the transfer standards), never the spectra it will score.
"""

from __future__ import annotations

import torch
from torch import nn

from spectralfm.errors import InputError
from spectralfm.losses import masked_reconstruction_loss

NORM_TYPES = (nn.LayerNorm, nn.RMSNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase)


def norm_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """Affine parameters of every normalisation layer, by their full name in ``model``."""
    found = {}
    for mod_name, module in model.named_modules():
        if isinstance(module, NORM_TYPES):
            for p_name, p in module.named_parameters(recurse=False):
                found[f"{mod_name}.{p_name}" if mod_name else p_name] = p
    return found


def adapt_norm_layers(
    model: nn.Module,
    spectra: torch.Tensor,
    axis: torch.Tensor,
    steps: int = 20,
    lr: float = 1e-3,
    mask_ratio: float = 0.5,
    batch_size: int = 32,
    seed: int = 0,
) -> dict[str, float]:
    """Adapt ``model``'s norm affine parameters in place; returns first/last reconstruction loss.

    ``requires_grad`` flags are restored afterwards, so fine-tuning state is not disturbed.
    """
    if spectra.ndim != 2 or len(spectra) == 0 or axis.shape != (len(spectra), 2):
        raise InputError(
            f"TTT: expected spectra (n>0, n_points) and axis (n, 2), got {tuple(spectra.shape)} "
            f"and {tuple(axis.shape)}"
        )
    params = norm_parameters(model)
    if not params:
        raise InputError("TTT: the model has no normalisation layers to adapt")
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    was_training = model.training
    adapt = set(map(id, params.values()))
    for p in model.parameters():
        p.requires_grad_(id(p) in adapt)
    # eval: no dropout, VIB means; gradients still flow to the norm parameters
    model.eval()
    optimizer = torch.optim.Adam(list(params.values()), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    try:
        for _ in range(steps):
            idx = torch.randperm(len(spectra), generator=gen)[:batch_size]
            x, a = spectra[idx], axis[idx]
            mask = model.random_mask(len(idx), mask_ratio, generator=gen, device=x.device)
            out = model(x, a, mask=mask)
            loss = masked_reconstruction_loss(out["recon"], x, out["point_mask"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    finally:
        for n, p in model.named_parameters():
            p.requires_grad_(flags[n])
        model.train(was_training)
    return {
        "first_loss": losses[0] if losses else float("nan"),
        "last_loss": losses[-1] if losses else float("nan"),
    }
