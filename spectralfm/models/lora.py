"""LoRA for fine-tuning: low-rank updates on the transformer attention projections only.

LoRALinear keeps the frozen base weight under the same names (`weight`, `bias`) as the nn.Linear
it replaces, so a pretrained checkpoint without LoRA loads into a LoRA model with
`load_state_dict(..., strict=False)` and only `lora_A`/`lora_B` are missing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from spectralfm.errors import InputError
from spectralfm.models.transformer import SelfAttention

ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")


class LoRALinear(nn.Module):
    """y = base(x) + (alpha / r) * x A^T B^T, base frozen, B zero-initialised (starts as base)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        if rank < 1:
            raise InputError(f"lora rank: {rank} must be >= 1")
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = nn.Parameter(base.weight.detach().clone(), requires_grad=False)
        self.bias = (
            None
            if base.bias is None
            else nn.Parameter(base.bias.detach().clone(), requires_grad=False)
        )
        self.rank, self.alpha = rank, alpha
        self.scaling = alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, self.in_features, device=base.weight.device))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, rank, device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (
            F.linear(x, self.weight, self.bias)
            + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scaling
        )

    def merged(self) -> nn.Linear:
        """A plain nn.Linear with the low-rank update folded into its weight."""
        layer = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        layer = layer.to(device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            layer.weight.copy_(self.weight + (self.lora_B @ self.lora_A) * self.scaling)
            if self.bias is not None:
                layer.bias.copy_(self.bias)
        return layer


def apply_lora(
    model: nn.Module,
    rank: int,
    alpha: float,
    targets: Iterable[str] = ATTENTION_PROJECTIONS,
) -> nn.Module:
    """Wrap the named projections of every SelfAttention (and nothing else: Mamba's out_proj is
    left alone) in LoRALinear. In place; returns the model."""
    targets = tuple(targets)
    unknown = sorted(set(targets) - set(ATTENTION_PROJECTIONS))
    if unknown:
        raise InputError(
            f"lora targets: {unknown} are not attention projections {ATTENTION_PROJECTIONS}"
        )
    for module in model.modules():
        if isinstance(module, SelfAttention):
            for name in targets:
                layer = getattr(module, name)
                if isinstance(layer, nn.Linear):
                    setattr(module, name, LoRALinear(layer, rank, alpha))
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear by its merged nn.Linear (in place; returns the model)."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, LoRALinear):
                setattr(module, name, child.merged())
    return model


def lora_parameters(model: nn.Module) -> Iterator[nn.Parameter]:
    for module in model.modules():
        if isinstance(module, LoRALinear):
            yield module.lora_A
            yield module.lora_B


def mark_only_lora_and_heads_trainable(
    model: nn.Module, heads: Iterable[str] = ("regression",)
) -> tuple[int, int]:
    """Freeze everything except LoRA factors and the named top-level head modules.

    Returns (trainable parameters, all parameters)."""
    heads = tuple(heads)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in lora_parameters(model):
        p.requires_grad_(True)
    for name in heads:
        head = getattr(model, name, None)
        if not isinstance(head, nn.Module):
            raise InputError(f"lora heads: model has no head module named {name!r}")
        for p in head.parameters():
            p.requires_grad_(True)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
