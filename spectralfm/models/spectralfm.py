"""SpectralFM: the assembled foundation model.

spectrum (B, n_points) + axis (B, 2) -> WaveletEmbedding [CLS, DOMAIN, patches]
  -> Mamba blocks (bidirectional selective SSM) -> MoE block -> Transformer blocks -> LayerNorm
  -> VIB: z_chem from [CLS], z_inst from [DOMAIN]
  -> heads: reconstruction (patch tokens), regression (z_chem), domain logits (z_inst),
     and a separate FNO transfer head (spectrum -> spectrum).

Note for training: when the true domain id is passed as `domain`, the [DOMAIN] token starts from
that id's embedding, so predicting the domain from z_inst is trivial; pass domain=None (unknown,
id 0) when domain classification is meant to be learned from the spectrum.

GPU hygiene: `forward` and `transfer_spectrum` read no tensor values on the host (no `.item()`,
`bool(tensor)`, `nonzero`), so a training step queues its kernels without waiting for the GPU.
They check shapes and dtypes only; value checks (finite spectra and axis, a non-empty axis range,
domain ids in range) live in `validate_inputs`, which callers feeding untrusted data call once at
the boundary. tests/test_host_syncs.py guards this.
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

    def _check_shapes(
        self,
        spectra: torch.Tensor,
        axis: torch.Tensor,
        mask: torch.Tensor | None = None,
        domain: torch.Tensor | None = None,
    ) -> None:
        """Shapes and dtypes only: reads no tensor values, so it costs no host sync."""
        n = self.cfg.n_points
        if spectra.ndim != 2 or spectra.shape[1] != n:
            raise InputError(f"spectra: expected shape (B, {n}), got {tuple(spectra.shape)}")
        b = spectra.shape[0]
        if axis.shape != (b, 2):
            raise InputError(f"axis: expected shape ({b}, 2), got {tuple(axis.shape)}")
        if mask is not None and (mask.shape != (b, self.n_tokens) or mask.dtype != torch.bool):
            raise InputError(
                f"mask: expected bool shape ({b}, {self.n_tokens}), got {mask.dtype} {tuple(mask.shape)}"
            )
        if domain is not None and (domain.shape != (b,) or domain.dtype != torch.long):
            raise InputError(
                f"domain: expected long shape ({b},), got {domain.dtype} {tuple(domain.shape)}"
            )

    def validate_inputs(
        self,
        spectra: torch.Tensor,
        axis: torch.Tensor,
        mask: torch.Tensor | None = None,
        domain: torch.Tensor | None = None,
    ) -> None:
        """Check inputs from outside (data loaders, user arrays) before `forward` or
        `transfer_spectrum`; raises InputError naming the argument.

        `forward` checks only shapes and dtypes: the value checks here read results on the host,
        which on a GPU waits for every queued kernel, so they belong at the data boundary (once
        per batch, ideally before the batch is moved to the device), not inside the model. All
        value checks are reduced on the device and read back together: one sync, not three."""
        self._check_shapes(spectra, axis, mask, domain)
        flags = [
            ~torch.isfinite(spectra).all() | ~torch.isfinite(axis).all(),
            (axis[:, 0] == axis[:, 1]).any(),
        ]
        if domain is not None:
            flags.append(((domain < 0) | (domain >= self.cfg.n_domains)).any())
        # (the inputs may sit on different devices before a batch is moved: gather on one)
        flags = torch.stack([f.to(spectra.device) for f in flags])
        non_finite, empty_range, *bad_domain = flags.tolist()
        if non_finite:
            raise InputError("spectra/axis: non-finite values")
        if empty_range:
            raise InputError("axis: start == stop (an empty wavenumber range)")
        if bad_domain and bad_domain[0]:
            raise InputError(f"domain: ids must be in [0, {self.cfg.n_domains})")

    def forward(
        self,
        spectra: torch.Tensor,
        axis: torch.Tensor,
        mask: torch.Tensor | None = None,
        domain: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Reads no tensor values on the host (no sync on a GPU): values are not checked here,
        call `validate_inputs` on untrusted data first."""
        self._check_shapes(spectra, axis, mask, domain)
        b = spectra.shape[0]

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
            # each token's flag repeated over its patch's points (a view + copy, no host reads)
            p = self.cfg.patch_size
            out["point_mask"] = mask[:, :, None].expand(b, self.n_tokens, p).reshape(b, -1)
        out["domain_logits"] = self.domain_head(out["z_inst"])
        out["y_pred"] = self.regression(out["z_chem"])
        return out

    def transfer_spectrum(self, spectra: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
        """FNO transfer head: target-instrument spectra -> master-like spectra, (B, n_points).

        Like `forward`, checks shapes only; call `validate_inputs(spectra, axis)` on untrusted
        data first."""
        self._check_shapes(spectra, axis)
        return self.transfer(spectra, axis)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
