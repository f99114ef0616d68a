"""Pretraining losses for SpectralFM.

Every term reads the model's output dict (see ``spectralfm.models.spectralfm.SpectralFM.forward``)
and the batch it came from. ``pretrain_loss`` weights and sums them and returns the parts so that
the training loop can log each one.

Terms and why they are there:

* ``recon``: masked reconstruction MSE on ``point_mask`` points only. Visible points are excluded:
  the encoder saw them, so reconstructing them teaches nothing and would drown the masked signal.
* ``smooth``: physics prior, mean squared second difference of the reconstruction *residual*
  inside masked patches. Real spectra are band-limited by the instrument's resolution, so a
  reconstruction that is rougher than the spectrum it reconstructs is noise. Penalising the
  residual (not the reconstruction itself) leaves sharp Raman bands that really are in the
  spectrum untouched.
* ``snv``: physics prior, SNV consistency. Every corpus spectrum is SNV-normalised (mean 0, std 1
  over its 2048 points), so a plausible reconstruction of the whole spectrum has the same
  moments; the penalty is ``mean^2 + (std - 1)^2`` of the reconstruction per spectrum.
* ``kl``: the model's VIB KL (weight ``beta``), keeps z_chem and z_inst compact.
* ``domain``: cross-entropy of ``domain_logits`` (computed from z_inst) on the corpus domain ids,
  so that z_inst carries the instrument/source.
* ``ot``: debiased Sinkhorn divergence (POT, differentiable through torch) between the z_chem of
  each domain in the batch and the z_chem of all other domains, so that z_chem becomes domain
  invariant. Skipped, with a logged reason, when the batch holds fewer than two domains with at
  least ``min_per_domain`` samples each.
* ``moe``: the model's MoE load-balance loss.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields

import ot
import torch
import torch.nn.functional as F

from spectralfm.configdict import ConfigDict
from spectralfm.errors import InputError

log = logging.getLogger(__name__)
_logged_reasons: set[str] = set()


@dataclass
class LossWeights(ConfigDict):
    """Weights of the pretraining loss terms (0 switches a term off)."""

    config_name = "loss weights"

    recon: float = 1.0
    smooth: float = 0.1
    snv: float = 0.01
    kl: float = 1e-3  # the VIB beta
    domain: float = 0.1
    ot: float = 0.1
    moe: float = 0.01

    def __post_init__(self) -> None:
        for f in fields(self):  # weights read from JSON/YAML may be ints
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"loss weights: {f.name}={value!r} is not a number")
            setattr(self, f.name, float(value))


def masked_reconstruction_loss(
    recon: torch.Tensor, target: torch.Tensor, point_mask: torch.Tensor
) -> torch.Tensor:
    """MSE between ``recon`` and ``target`` over masked points only (zero if none are masked)."""
    if recon.shape != target.shape or point_mask.shape != target.shape:
        raise InputError(
            f"recon loss: shapes differ: recon {tuple(recon.shape)}, target "
            f"{tuple(target.shape)}, point_mask {tuple(point_mask.shape)}"
        )
    m = point_mask.to(recon.dtype)
    n = m.sum()
    sq = (recon - target).pow(2) * m
    return sq.sum() / n.clamp_min(1.0)


def smoothness_prior(
    recon: torch.Tensor, target: torch.Tensor, point_mask: torch.Tensor
) -> torch.Tensor:
    """Mean squared second difference of the residual at masked points (interior points only)."""
    d2 = torch.diff(recon - target, n=2, dim=-1)
    # a second difference is attributed to its centre point
    m = point_mask[:, 1:-1].to(recon.dtype)
    return (d2.pow(2) * m).sum() / m.sum().clamp_min(1.0)


def snv_consistency(recon: torch.Tensor) -> torch.Tensor:
    """Penalty for a reconstruction whose per-spectrum mean/std departs from SNV's 0/1."""
    mean = recon.mean(dim=-1)
    std = recon.std(dim=-1, unbiased=False)
    return (mean.pow(2) + (std - 1.0).pow(2)).mean()


def _sinkhorn_cost(x: torch.Tensor, y: torch.Tensor, reg: float) -> torch.Tensor:
    a = torch.full((x.shape[0],), 1.0 / x.shape[0], dtype=x.dtype, device=x.device)
    b = torch.full((y.shape[0],), 1.0 / y.shape[0], dtype=y.dtype, device=y.device)
    cost = torch.cdist(x, y).pow(2)
    return ot.sinkhorn2(a, b, cost, reg, method="sinkhorn_log", numItermax=200, stopThr=1e-6)


def sinkhorn_divergence(x: torch.Tensor, y: torch.Tensor, reg: float = 0.1) -> torch.Tensor:
    """Debiased entropic OT: OT(x,y) - (OT(x,x) + OT(y,y)) / 2, zero for identical samples.

    The cost is squared Euclidean distance divided by the latent size, so ``reg`` means the
    same for any ``d_z``. Runs in float32 whatever the autocast context (Sinkhorn in bf16 is
    unstable).
    """
    x = x.float() / x.shape[-1] ** 0.5
    y = y.float() / y.shape[-1] ** 0.5
    with torch.autocast(device_type=x.device.type, enabled=False):
        xy = _sinkhorn_cost(x, y, reg)
        xx = _sinkhorn_cost(x, x, reg)
        yy = _sinkhorn_cost(y, y, reg)
    return xy - 0.5 * (xx + yy)


def domain_ot_loss(
    z: torch.Tensor, domain: torch.Tensor, reg: float = 0.1, min_per_domain: int = 2
) -> tuple[torch.Tensor, str | None]:
    """Mean Sinkhorn divergence between each domain's z and the rest of the batch.

    Returns ``(loss, reason)``; ``reason`` says why the term was skipped (loss is then 0).
    """
    ids, counts = torch.unique(domain, return_counts=True)
    usable = ids[counts >= min_per_domain]
    if len(ids) < 2 or len(usable) < 1:
        reason = f"OT term skipped: batch needs >= 2 domains and >= {min_per_domain} samples in one"
        return z.sum() * 0.0, reason
    terms = []
    for d in usable:
        inside = domain == d
        rest = ~inside
        if rest.sum() < min_per_domain:
            continue
        terms.append(sinkhorn_divergence(z[inside], z[rest], reg))
    if not terms:
        return z.sum() * 0.0, "OT term skipped: no domain pair with enough samples"
    return torch.stack(terms).mean(), None


def domain_classification_loss(logits: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the domain head (on z_inst) against the corpus domain ids."""
    if domain.min() < 0 or domain.max() >= logits.shape[-1]:
        raise InputError(
            f"domain loss: domain ids span [{int(domain.min())}, {int(domain.max())}] but the "
            f"model has n_domains={logits.shape[-1]}"
        )
    return F.cross_entropy(logits.float(), domain.long())


def pretrain_loss(
    out: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor], weights: LossWeights
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum of all pretraining terms.

    ``out`` is the model's forward dict; ``batch`` holds ``spectra`` (B, n_points) and
    ``domain`` (B,) long. Returns ``(total, parts)`` where ``parts`` maps every term to its
    unweighted float value (and ``ot_skipped`` to 1.0 when the OT term could not run).
    """
    for key in ("recon", "point_mask", "kl", "moe_aux", "domain_logits", "z_chem"):
        if key not in out:
            raise InputError(f"pretrain_loss: model output lacks key '{key}'")
    spectra = batch["spectra"].to(out["recon"].dtype)
    recon = out["recon"]
    point_mask = out["point_mask"]
    domain = batch["domain"].to(recon.device)

    terms: dict[str, torch.Tensor] = {}
    terms["recon"] = masked_reconstruction_loss(recon.float(), spectra.float(), point_mask)
    terms["smooth"] = smoothness_prior(recon.float(), spectra.float(), point_mask)
    terms["snv"] = snv_consistency(recon.float())
    terms["kl"] = out["kl"].float()
    terms["domain"] = domain_classification_loss(out["domain_logits"], domain)
    terms["moe"] = out["moe_aux"].float()
    parts: dict[str, float] = {}
    if weights.ot > 0:
        terms["ot"], reason = domain_ot_loss(out["z_chem"], domain)
        if reason is not None:
            # logged once per distinct reason (it recurs every step); counted in every step's parts
            if reason not in _logged_reasons:
                _logged_reasons.add(reason)
                log.warning(reason)
            parts["ot_skipped"] = 1.0
    total = sum(getattr(weights, k) * v for k, v in terms.items())
    parts.update({k: float(v.detach()) for k, v in terms.items()})
    parts["total"] = float(total.detach())
    return total, parts
