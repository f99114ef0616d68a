"""Output heads: masked spectral reconstruction (per token) and property regression (on z_chem)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ReconstructionHead(nn.Module):
    """(B, T, d_model) encoder tokens -> (B, T * patch_size) spectrum, each token its own patch."""

    def __init__(self, d_model: int, patch_size: int):
        super().__init__()
        self.proj = nn.Linear(d_model, patch_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.proj(tokens).flatten(1)


class RegressionHead(nn.Module):
    """(B, d_z) -> (B, n_targets) through a small MLP."""

    def __init__(self, d_z: int, hidden: int, n_targets: int):
        super().__init__()
        self.fc = nn.Linear(d_z, hidden)
        self.proj = nn.Linear(hidden, n_targets)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(z)))
