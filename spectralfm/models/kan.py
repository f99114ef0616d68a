"""KAN expert: Kolmogorov-Arnold layers with Gaussian radial basis functions (FastKAN style).

Each input-output edge carries its own learned 1-D function, a weighted sum of RBFs on a fixed
grid, plus a SiLU base path; LayerNorm keeps inputs on the grid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RBFKANLinear(nn.Module):
    def __init__(self, d_in: int, d_out: int, n_grid: int = 8, grid_range: float = 2.0):
        super().__init__()
        self.norm = nn.LayerNorm(d_in)
        self.register_buffer("grid", torch.linspace(-grid_range, grid_range, n_grid))
        self.inv_width = (n_grid - 1) / (2 * grid_range)
        self.spline = nn.Linear(d_in * n_grid, d_out, bias=False)  # one weight per (input, basis)
        nn.init.normal_(self.spline.weight, std=0.1 / (d_in * n_grid) ** 0.5)
        self.base = nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        basis = torch.exp(-(((self.norm(x)[..., None] - self.grid) * self.inv_width) ** 2))
        return self.spline(basis.flatten(-2)) + self.base(F.silu(x))


class KANExpert(nn.Module):
    """d_model -> hidden -> d_model through two KAN layers."""

    def __init__(self, d_model: int, hidden: int, n_grid: int):
        super().__init__()
        self.fc = RBFKANLinear(d_model, hidden, n_grid)
        self.proj = RBFKANLinear(hidden, d_model, n_grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.fc(x))
