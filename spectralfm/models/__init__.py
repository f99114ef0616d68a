"""SpectralFM model: config, blocks and the assembled model."""

from spectralfm.models.config import ModelConfig
from spectralfm.models.lora import (
    LoRALinear,
    apply_lora,
    lora_parameters,
    mark_only_lora_and_heads_trainable,
    merge_lora,
)
from spectralfm.models.spectralfm import SpectralFM, count_parameters

__all__ = [
    "LoRALinear",
    "ModelConfig",
    "SpectralFM",
    "apply_lora",
    "count_parameters",
    "lora_parameters",
    "mark_only_lora_and_heads_trainable",
    "merge_lora",
]
