"""Variational information bottleneck: z_chem from the [CLS] output, z_inst from [DOMAIN]."""

from __future__ import annotations

import torch
from torch import nn


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over latent dims, mean over the batch."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1).mean()


class GaussianHead(nn.Module):
    """d_model -> (mu, logvar) of a diagonal Gaussian over d_z."""

    def __init__(self, d_model: int, d_z: int):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.proj = nn.Linear(d_model, 2 * d_z)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.proj(self.norm(h)).float().chunk(2, dim=-1)
        return mu, logvar.clamp(-10.0, 10.0)  # keeps exp(logvar) finite early in training


class VIB(nn.Module):
    def __init__(self, d_model: int, d_z: int):
        super().__init__()
        self.chem = GaussianHead(d_model, d_z)
        self.inst = GaussianHead(d_model, d_z)

    @staticmethod
    def sample(mu: torch.Tensor, logvar: torch.Tensor, training: bool) -> torch.Tensor:
        """Reparameterised draw in training; the mean in eval (deterministic features)."""
        if not training:
            return mu
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def forward(self, cls: torch.Tensor, domain_token: torch.Tensor) -> dict[str, torch.Tensor]:
        mu_chem, logvar_chem = self.chem(cls)
        mu_inst, logvar_inst = self.inst(domain_token)
        return {
            "z_chem": self.sample(mu_chem, logvar_chem, self.training),
            "z_inst": self.sample(mu_inst, logvar_inst, self.training),
            "mu_chem": mu_chem,
            "logvar_chem": logvar_chem,
            "mu_inst": mu_inst,
            "logvar_inst": logvar_inst,
            "kl": gaussian_kl(mu_chem, logvar_chem) + gaussian_kl(mu_inst, logvar_inst),
        }
