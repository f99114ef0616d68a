"""FNO transfer head: a 1-D Fourier Neural Operator mapping a target-instrument spectrum to a
master-like spectrum on the same 2048-point grid.

Not conditioned on z_inst: one head is fitted per instrument pair (on the transfer standards), and
`SpectralFM.transfer_spectrum(spectra, axis)` takes only the spectrum and its axis. The operator
sees the spectrum, its first and second derivative along the axis and its wavenumber as input
channels, and predicts a correction added to the input; the last layer starts at zero, so an
untrained head is exactly the identity.

Why the derivatives: a wavelength shift d changes a spectrum by about d x' and a change of band
width by about w x'' (first-order Taylor terms). The Fourier layers keep only the lowest `modes`
frequencies, far too few for NIR bands tens of points wide, so without these channels the head
could not represent the commonest instrument differences at all. The last layer reads them
directly beside the operator's features (`features`), so a linear refit of it on a few standards
can apply a shift or a broadening correction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

N_DERIVATIVES = 2
DERIVATIVE_STEP = 1 / 256  # derivatives per this fraction of the range: O(1) for NIR bands


def derivatives(x: torch.Tensor) -> torch.Tensor:
    """(B, N) -> (B, 2, N): first and second central differences along the axis (one-sided at
    the ends), per DERIVATIVE_STEP of the range, so they mean the same at any N."""
    n = x.shape[-1]
    step = DERIVATIVE_STEP * (n - 1)
    first = torch.gradient(x, dim=-1)[0] * step
    second = torch.gradient(first, dim=-1)[0] * step
    return torch.stack([first, second], dim=1)


class SpectralConv1d(nn.Module):
    """Convolution as a product in Fourier space, keeping the lowest `modes` frequencies."""

    def __init__(self, channels: int, modes: int):
        super().__init__()
        self.modes = modes
        scale = 1.0 / channels
        # real and imaginary parts kept as real tensors so any checkpoint format can store them
        self.weight_real = nn.Parameter(scale * torch.randn(channels, channels, modes))
        self.weight_imag = nn.Parameter(scale * torch.randn(channels, channels, modes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, N) -> (B, C, N); computed in fp32 (rfft has no bf16 kernels)."""
        n = x.shape[-1]
        spectrum = torch.fft.rfft(x.float(), dim=-1)[..., : self.modes]
        weight = torch.complex(self.weight_real.float(), self.weight_imag.float())
        mixed = torch.einsum("bim,iom->bom", spectrum, weight)
        return torch.fft.irfft(mixed, n=n, dim=-1)


class FNO1d(nn.Module):
    def __init__(self, width: int, modes: int, n_layers: int):
        super().__init__()
        self.lift = nn.Conv1d(2 + N_DERIVATIVES, width, 1)
        self.spectral = nn.ModuleList(SpectralConv1d(width, modes) for _ in range(n_layers))
        self.pointwise = nn.ModuleList(nn.Conv1d(width, width, 1) for _ in range(n_layers))
        self.project = nn.Conv1d(width, width, 1)
        self.out = nn.Conv1d(width + N_DERIVATIVES, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def features(self, spectra: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
        """(B, N) spectra, (B, 2) start/stop cm^-1 -> (B, width + 2, N): what the last layer reads
        (the operator's features, then the two derivative channels).

        The transfer methods keep these frozen and refit only `out` (a linear map per point)."""
        n = spectra.shape[1]
        x = spectra.float()
        frac = torch.linspace(0.0, 1.0, n, device=spectra.device)
        wavenumber = axis[:, :1].float() + (axis[:, 1:2] - axis[:, :1]).float() * frac
        slopes = derivatives(x)
        # cm^-1 / 1e4 keeps the channel O(1) for NIR, IR and Raman ranges alike
        h = self.lift(torch.cat([x[:, None], slopes, (wavenumber / 1e4)[:, None]], dim=1))
        for spectral, pointwise in zip(self.spectral, self.pointwise, strict=True):
            h = F.gelu(spectral(h) + pointwise(h).float())
        return torch.cat([F.gelu(self.project(h)), slopes], dim=1)

    def forward(self, spectra: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
        """(B, N) spectra, (B, 2) start/stop cm^-1 -> (B, N) transferred spectra."""
        correction = self.out(self.features(spectra, axis))[:, 0]
        return spectra + correction.to(spectra.dtype)
