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
* ``snv``: physics prior, SNV consistency. Every corpus spectrum (and every simulated view of one)
  is SNV-normalised (mean 0, std 1 over its 2048 points), so the spectrum the model proposes has
  the same moments. It acts on the *spliced* spectrum: the input where visible, the
  reconstruction where masked. (On the whole reconstruction it would be trivially satisfied: its
  visible half is unsupervised and can take any moments.) Penalty ``mean^2 + (std - 1)^2``.
* ``kl``: the model's VIB KL (weight ``beta``), keeps z_chem and z_inst compact.
* ``domain``: cross-entropy of ``domain_logits`` (computed from z_inst) on the corpus domain ids,
  so that z_inst carries the instrument/source.
* ``moe``: the model's MoE load-balance loss.

Terms on two simulated instrument views A and B of each spectrum (``spectralfm.simulator``):

* ``translation``: the FNO transfer head maps view B to view A (MSE over every point): what the
  ``spectralfm`` transfer method fine-tunes on a pair's standards.
* ``invariance``: symmetric InfoNCE between the z_chem means of the two views (cosine similarity,
  temperature ``INFONCE_TEMPERATURE``): two instruments' views of one sample agree, other samples
  in the batch are the negatives, which keeps z_chem from collapsing (the KL term alone pulls it
  to the prior).
* ``instrument``: z_inst of each view predicts that view's drawn effect parameters (MSE through a
  linear head), so z_inst carries what differs between instruments.
* ``ot``: debiased Sinkhorn divergence (POT, differentiable through torch) between the z_chem of
  all A views and all B views of the batch: the instrument distribution must not move z_chem.
  It replaces an OT across corpus *sources*, which aligned chemistry (minerals vs dough) rather
  than instruments and could run only on batches holding two sources. Every batch has both views,
  so no term is ever skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import ot
import torch
import torch.nn.functional as F

from spectralfm.configdict import ConfigDict
from spectralfm.errors import InputError

INFONCE_TEMPERATURE = 0.1


@dataclass
class LossWeights(ConfigDict):
    """Weights of the pretraining loss terms (0 switches a term off)."""

    config_name = "loss weights"

    recon: float = 1.0
    smooth: float = 0.1
    snv: float = 0.01
    kl: float = 1e-3  # the VIB beta
    domain: float = 0.1
    moe: float = 0.01
    translation: float = 1.0
    invariance: float = 0.1
    instrument: float = 0.1
    ot: float = 0.1

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


def snv_consistency(
    recon: torch.Tensor, target: torch.Tensor, point_mask: torch.Tensor
) -> torch.Tensor:
    """Penalty for a spliced spectrum (target where visible, recon where masked) whose
    per-spectrum mean/std departs from SNV's 0/1."""
    spliced = torch.where(point_mask, recon, target)
    mean = spliced.mean(dim=-1)
    std = spliced.std(dim=-1, unbiased=False)
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


def domain_classification_loss(logits: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the domain head (on z_inst) against the corpus domain ids. The ids'
    range is checked where batches enter (pretrain._to_device), not here: reading them would
    make every step wait for the GPU."""
    return F.cross_entropy(logits.float(), domain.long())


SINGLE_VIEW_TERMS = ("recon", "smooth", "snv", "kl", "domain", "moe")
PAIR_TERMS = ("translation", "invariance", "instrument", "ot")


def view_invariance_loss(mu_a: torch.Tensor, mu_b: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE: row i of A must be closest (cosine) to row i of B among B's rows."""
    a = F.normalize(mu_a.float(), dim=-1)
    b = F.normalize(mu_b.float(), dim=-1)
    logits = a @ b.T / INFONCE_TEMPERATURE
    labels = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def single_view_terms(
    out: Mapping[str, torch.Tensor], spectra: torch.Tensor, domain: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The terms of one forward pass (``SINGLE_VIEW_TERMS``), unweighted."""
    for key in ("recon", "point_mask", "kl", "moe_aux", "domain_logits"):
        if key not in out:
            raise InputError(f"pretrain_loss: model output lacks key '{key}'")
    recon = out["recon"].float()
    spectra = spectra.to(recon.device, recon.dtype)
    point_mask = out["point_mask"]
    return {
        "recon": masked_reconstruction_loss(recon, spectra, point_mask),
        "smooth": smoothness_prior(recon, spectra, point_mask),
        "snv": snv_consistency(recon, spectra, point_mask),
        "kl": out["kl"].float(),
        "domain": domain_classification_loss(out["domain_logits"], domain.to(recon.device)),
        "moe": out["moe_aux"].float(),
    }


def pair_terms(
    out_a: Mapping[str, torch.Tensor],
    out_b: Mapping[str, torch.Tensor],
    translated: torch.Tensor,
    view_a: torch.Tensor,
    instrument_pred: tuple[torch.Tensor, torch.Tensor],
    instrument_params: tuple[torch.Tensor, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """The terms that need both views (``PAIR_TERMS``), unweighted. ``translated`` is the transfer
    head's output on view B; ``instrument_pred``/``instrument_params`` the (A, B) predictions from
    z_inst and the drawn parameters."""
    pred = torch.cat(instrument_pred).float()
    params = torch.cat(instrument_params).to(pred.device, pred.dtype)
    return {
        "translation": F.mse_loss(translated.float(), view_a.float()),
        "invariance": view_invariance_loss(out_a["mu_chem"], out_b["mu_chem"]),
        "instrument": F.mse_loss(pred, params),
        "ot": sinkhorn_divergence(out_a["z_chem"], out_b["z_chem"]),
    }


def pretrain_loss(
    terms: Mapping[str, torch.Tensor], weights: LossWeights
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum of the unweighted ``terms`` (any of SINGLE_VIEW_TERMS + PAIR_TERMS); returns
    ``(total, parts)`` with every term's unweighted float value and ``total``, for the logs."""
    unknown = set(terms) - set(SINGLE_VIEW_TERMS + PAIR_TERMS)
    if unknown:
        raise InputError(f"pretrain_loss: unknown terms {sorted(unknown)}")
    total = sum(getattr(weights, k) * v for k, v in terms.items())
    names = [*terms, "total"]
    # one host transfer for every logged value
    values = torch.stack([v.detach().float() for v in [*terms.values(), total]]).tolist()
    return total, dict(zip(names, values, strict=True))
