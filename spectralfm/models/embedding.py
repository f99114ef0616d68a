"""WaveletEmbedding: spectrum -> [CLS, DOMAIN, patch tokens] with wavenumber positions.

Each patch of `patch_size` points is transformed on its own by a multi-level periodised DWT (the
PyWavelets filter bank run as torch conv1d), so no filter ever reaches into a neighbouring patch:
masking a patch hides its content completely. Positions come from each patch's real centre
wavenumber (cm^-1), not its index, so the same band at the same wavenumber gets the same position
whatever the instrument's range.
"""

from __future__ import annotations

import math

import pywt
import torch
import torch.nn.functional as F
from torch import nn

from spectralfm.models.config import ModelConfig


class PatchDWT(nn.Module):
    """Multi-level DWT of the last axis with mode="periodization", as `pywt.wavedec` orders it.

    (..., P) -> (..., P): [cA_L, cD_L, cD_{L-1}, ..., cD_1] concatenated (orthogonal wavelets
    keep the length, so nothing is lost).
    """

    def __init__(self, wavelet: str, levels: int, length: int):
        super().__init__()
        w = pywt.Wavelet(wavelet)
        lo = torch.tensor(w.dec_lo, dtype=torch.float64)
        hi = torch.tensor(w.dec_hi, dtype=torch.float64)
        # pywt convolves, conv1d correlates: flip the filters
        self.register_buffer("filters", torch.stack([lo.flip(0), hi.flip(0)])[:, None, :])
        self.levels = levels
        self.length = length
        self.filter_len = len(w.dec_lo)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        approx = x.reshape(-1, 1, self.length)
        filters = self.filters.to(x.dtype)
        half = self.filter_len // 2 - 1
        details = []
        for _ in range(self.levels):
            n = approx.shape[-1]
            # periodization: out[o] = sum_j f[j] x[(2o + F/2 - j) mod n]; wrap by index so even
            # signals shorter than the filter are extended periodically, exactly as pywt does
            wrap = torch.arange(-half, n + half, device=x.device) % n
            out = F.conv1d(approx[..., wrap], filters, stride=2)  # (M, 2, n/2)
            approx, detail = out[:, :1], out[:, 1:]
            details.append(detail)
        coeffs = torch.cat([approx, *details[::-1]], dim=-1)
        return coeffs.reshape(*lead, self.length)


class WavenumberEncoding(nn.Module):
    """Sinusoids of each patch's centre wavenumber (+ log patch width) -> learned projection.

    The constants are rebuilt in fp32 on each call rather than kept as buffers: a model cast to
    bf16 would otherwise round wavenumbers near 10000 cm^-1 to steps of 64."""

    def __init__(self, cfg: ModelConfig, min_period: float = 4.0, max_period: float = 60000.0):
        super().__init__()
        self.n_points, self.patch_size, self.n_tokens = cfg.n_points, cfg.patch_size, cfg.n_tokens
        self.n_frequencies = cfg.pe_frequencies
        self.log10_periods = (math.log10(min_period), math.log10(max_period))
        self.proj = nn.Linear(2 * cfg.pe_frequencies + 1, cfg.d_model)

    def centres(self, axis: torch.Tensor) -> torch.Tensor:
        """(B, 2) start/stop cm^-1 -> (B, n_tokens) centre wavenumber of each patch."""
        n, p = self.n_points, self.patch_size
        index = torch.arange(self.n_tokens, dtype=torch.float32, device=axis.device)
        fraction = (index * p + (p - 1) / 2) / (n - 1)  # points are uniform from start to stop
        start, stop = axis[:, :1].float(), axis[:, 1:2].float()
        return start + (stop - start) * fraction

    def forward(self, axis: torch.Tensor) -> torch.Tensor:
        centres = self.centres(axis)
        periods = torch.logspace(*self.log10_periods, self.n_frequencies, device=axis.device)
        angle = centres[..., None] * (2 * math.pi / periods)
        span = self.patch_size / (self.n_points - 1)
        width = torch.log1p((axis[:, 1] - axis[:, 0]).float().abs() * span)
        width = width[:, None, None].expand(-1, centres.shape[1], 1)
        features = torch.cat([angle.sin(), angle.cos(), width], dim=-1)
        return self.proj(features.to(self.proj.weight.dtype))


class WaveletEmbedding(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.dwt = PatchDWT(cfg.wavelet, cfg.wavelet_levels, cfg.patch_size)
        self.patch_proj = nn.Linear(cfg.patch_size, cfg.d_model)
        self.position = WavenumberEncoding(cfg)
        self.mask_token = nn.Parameter(torch.randn(cfg.d_model) * 0.02)
        self.cls_token = nn.Parameter(torch.randn(cfg.d_model) * 0.02)
        self.domain_embedding = nn.Embedding(cfg.n_domains, cfg.d_model)  # id 0 = unknown
        nn.init.normal_(self.domain_embedding.weight, std=0.02)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(
        self,
        spectra: torch.Tensor,
        axis: torch.Tensor,
        mask: torch.Tensor | None = None,
        domain: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, n_points), (B, 2), (B, T) bool, (B,) long -> (B, 2 + T, d_model)."""
        b = spectra.shape[0]
        patches = spectra.reshape(b, self.cfg.n_tokens, self.cfg.patch_size)
        # residual stream in the parameters' dtype (fp32 under autocast): norms stay fused, exact
        tokens = self.patch_proj(self.dwt(patches)).to(self.cls_token.dtype)
        if mask is not None:
            # replaced before anything else sees them: masked content reaches no later layer
            tokens = torch.where(mask[..., None], self.mask_token.to(tokens.dtype), tokens)
        tokens = tokens + self.position(axis).to(tokens.dtype)
        if domain is None:
            domain = torch.zeros(b, dtype=torch.long, device=spectra.device)
        cls = self.cls_token.to(tokens.dtype).expand(b, 1, -1)
        dom = self.domain_embedding(domain)[:, None].to(tokens.dtype)
        return self.drop(torch.cat([cls, dom, tokens], dim=1))
