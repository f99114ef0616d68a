"""SpectralFM: the assembled foundation model.

spectrum (B, n_points) + axis (B, 2) -> WaveletEmbedding [CLS, DOMAIN, patches]
  -> Mamba blocks (bidirectional selective SSM) -> MoE block -> Transformer blocks -> LayerNorm
  -> VIB: z_chem from [CLS], z_inst from [DOMAIN]
  -> heads: reconstruction (patch tokens), regression (z_chem), domain logits (z_inst),
     and a separate FNO transfer head (spectrum -> spectrum).

Note for training: when the true domain id is passed as `domain`, the [DOMAIN] token starts from
that id's embedding, so predicting the domain from z_inst is trivial; pass domain=None (unknown,
id 0) when domain classification is meant to be learned from the spectrum.
"""

from __future__ import annotations

import torch
from torch import nn

from spectralfm.errors import InputError
from spectralfm.models.config import ModelConfig
from spectralfm.models.embedding import WaveletEmbedding
from spectralfm.models.fno import FNO1d
from spectralfm.models.heads import ReconstructionHead
from spectralfm.models.lora import apply_lora
from spectralfm.models.mlp import MLP
from spectralfm.models.moe import MoEBlock
from spectralfm.models.ssm import MambaBlock
from spectralfm.models.transformer import TransformerBlock
from spectralfm.models.vib import VIB


class SpectralFM(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.n_tokens = cfg.n_tokens
        self.embed = WaveletEmbedding(cfg)
        self.mamba = nn.ModuleList(MambaBlock(cfg) for _ in range(cfg.n_mamba))
        self.moe = MoEBlock(cfg)
        self.transformer = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.n_transformer))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.vib = VIB(cfg.d_model, cfg.d_z)
        self.reconstruction = ReconstructionHead(cfg.d_model, cfg.patch_size)
        self.regression = MLP(cfg.d_z, cfg.regression_hidden, cfg.n_targets)
        self.domain_head = nn.Linear(cfg.d_z, cfg.n_domains)
        self.transfer = FNO1d(cfg.fno_width, cfg.fno_modes, cfg.fno_layers)
        if cfg.lora_rank > 0:
            apply_lora(self, cfg.lora_rank, cfg.lora_alpha)

    def random_mask(
        self,
        batch: int,
        ratio: float,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """(batch, n_tokens) bool, True = masked; exactly round(ratio * n_tokens) per row."""
        if not 0.0 <= ratio < 1.0:
            raise InputError(f"mask ratio: {ratio} must be in [0, 1) (some patches stay visible)")
        n_masked = min(round(ratio * self.n_tokens), self.n_tokens - 1)
        gen_device = generator.device if generator is not None else "cpu"
        noise = torch.rand(batch, self.n_tokens, generator=generator, device=gen_device)
        rank = noise.argsort(dim=1).argsort(dim=1)
        return (rank < n_masked).to(device if device is not None else gen_device)

    def _check(self, spectra: torch.Tensor, axis: torch.Tensor) -> None:
        n = self.cfg.n_points
        if spectra.ndim != 2 or spectra.shape[1] != n:
            raise InputError(f"spectra: expected shape (B, {n}), got {tuple(spectra.shape)}")
        if axis.shape != (spectra.shape[0], 2):
            raise InputError(
                f"axis: expected shape ({spectra.shape[0]}, 2), got {tuple(axis.shape)}"
            )
        if not bool(torch.isfinite(spectra).all()) or not bool(torch.isfinite(axis).all()):
            raise InputError("spectra/axis: non-finite values")
        if bool((axis[:, 0] == axis[:, 1]).any()):
            raise InputError("axis: start == stop (an empty wavenumber range)")

    def forward(
        self,
        spectra: torch.Tensor,
        axis: torch.Tensor,
        mask: torch.Tensor | None = None,
        domain: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        self._check(spectra, axis)
        b = spectra.shape[0]
        if mask is not None and (mask.shape != (b, self.n_tokens) or mask.dtype != torch.bool):
            raise InputError(
                f"mask: expected bool shape ({b}, {self.n_tokens}), got {mask.dtype} {tuple(mask.shape)}"
            )
        if domain is not None:
            if domain.shape != (b,) or domain.dtype != torch.long:
                raise InputError(
                    f"domain: expected long shape ({b},), got {domain.dtype} {tuple(domain.shape)}"
                )
            if bool(((domain < 0) | (domain >= self.cfg.n_domains)).any()):
                raise InputError(f"domain: ids must be in [0, {self.cfg.n_domains})")

        x = self.embed(spectra, axis, mask, domain)
        for block in self.mamba:
            x = block(x)
        x, moe_aux = self.moe(x)
        for block in self.transformer:
            x = block(x)
        x = self.norm(x)
        cls, domain_token, tokens = x[:, 0], x[:, 1], x[:, 2:]

        out = self.vib(cls, domain_token)
        out["tokens"] = tokens
        out["cls"] = cls
        out["moe_aux"] = moe_aux
        out["recon"] = self.reconstruction(tokens)
        if mask is None:
            out["point_mask"] = torch.zeros(
                b, self.cfg.n_points, dtype=torch.bool, device=spectra.device
            )
        else:
            out["point_mask"] = mask.repeat_interleave(self.cfg.patch_size, dim=1)
        out["domain_logits"] = self.domain_head(out["z_inst"])
        out["y_pred"] = self.regression(out["z_chem"])
        return out

    def transfer_spectrum(self, spectra: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
        """FNO transfer head: target-instrument spectra -> master-like spectra, (B, n_points)."""
        self._check(spectra, axis)
        return self.transfer(spectra, axis)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
