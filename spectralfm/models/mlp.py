"""The one feed-forward block: Linear -> GELU -> Linear (nanoGPT's MLP).

Used as the transformer block's MLP, as each MoE expert and as the regression head on z_chem; the
sub-module names `fc` and `proj` are the checkpoint parameter names of all three.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """(..., d_in) -> (..., d_out) through `hidden` GELU units; d_out defaults to d_in."""

    def __init__(self, d_in: int, hidden: int, d_out: int | None = None):
        super().__init__()
        self.fc = nn.Linear(d_in, hidden)
        self.proj = nn.Linear(hidden, d_in if d_out is None else d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))
