"""Mixture of experts: top-k routing (k=2 by default) with a Switch/GShard load-balance loss.

Dispatch is vectorised per expert (gather that expert's tokens, run them, scatter-add weighted
results); no token capacity, so a token's output never depends on other tokens in the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spectralfm.models.config import ModelConfig
from spectralfm.models.kan import KANExpert
from spectralfm.models.mlp import MLP


class MixtureOfExperts(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.top_k = cfg.moe_top_k
        self.router = nn.Linear(cfg.d_model, cfg.moe_experts, bias=False)
        if cfg.expert_type == "kan":
            hidden = max(cfg.moe_hidden // cfg.kan_grid, 4)  # about the MLP expert's parameters
            experts = [KANExpert(cfg.d_model, hidden, cfg.kan_grid) for _ in range(cfg.moe_experts)]
        else:
            experts = [MLP(cfg.d_model, cfg.moe_hidden) for _ in range(cfg.moe_experts)]
        self.experts = nn.ModuleList(experts)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., d) -> (..., d), scalar load-balance loss (1.0 when perfectly balanced)."""
        flat = x.reshape(-1, x.shape[-1])
        probs = F.softmax(self.router(flat).float(), dim=-1)  # (M, E)
        top_w, top_i = probs.topk(self.top_k, dim=-1)
        top_w = top_w / top_w.sum(-1, keepdim=True)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            token, slot = (top_i == e).nonzero(as_tuple=True)
            if token.numel() == 0:
                continue
            y = expert(flat[token]) * top_w[token, slot, None]
            out.index_add_(0, token, y.to(out.dtype))
        n_experts = len(self.experts)
        # fraction of routed assignments per expert (not differentiable) x mean router probability
        load = F.one_hot(top_i, n_experts).sum(dim=(0, 1)).float() / top_i.numel()
        aux = n_experts * (load * probs.mean(0)).sum()
        return out.reshape(x.shape), aux


class MoEBlock(nn.Module):
    """Pre-norm residual wrapper around the mixture."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm = nn.LayerNorm(cfg.d_model)
        self.moe = MixtureOfExperts(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, aux = self.moe(self.norm(x))
        return x + self.drop(y), aux
