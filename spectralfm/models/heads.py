"""Output head of masked spectral reconstruction (per token). The property-regression head on z_chem
is the shared MLP block (models/mlp.py)."""

from __future__ import annotations

import torch
from torch import nn


class ReconstructionHead(nn.Module):
    """(B, T, d_model) encoder tokens -> (B, T * patch_size) spectrum, each token its own patch."""

    def __init__(self, d_model: int, patch_size: int):
        super().__init__()
        self.proj = nn.Linear(d_model, patch_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.proj(tokens).flatten(1)
