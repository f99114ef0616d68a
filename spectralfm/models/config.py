"""ModelConfig: every size and switch of SpectralFM in one JSON-serialisable dataclass.

Domain ids: id 0 is reserved for "unknown domain"; real domains (source x modality in the corpus)
use ids 1..n_domains-1. `SpectralFM.forward(domain=None)` means every spectrum is unknown (id 0).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import pywt

from spectralfm.configdict import ConfigDict
from spectralfm.errors import InputError

# Sizes: tiny runs in seconds on a CPU (CI); base is the ~6.5M-parameter default; large ~35M.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        d_model=32,
        n_mamba=1,
        n_transformer=1,
        n_heads=2,
        d_state=8,
        moe_experts=4,
        moe_hidden=64,
        d_z=8,
        regression_hidden=16,
        fno_width=8,
        fno_modes=16,
        fno_layers=2,
        pe_frequencies=16,
    ),
    "base": dict(),  # the dataclass defaults
    "large": dict(
        d_model=512,
        n_mamba=6,
        n_transformer=6,
        n_heads=8,
        d_state=16,
        moe_experts=8,
        moe_hidden=1024,
        d_z=64,
        regression_hidden=128,
        fno_width=64,
        fno_modes=64,
        fno_layers=4,
    ),
}

SCANS = ("parallel", "sequential")
EXPERT_TYPES = ("mlp", "kan")


@dataclass
class ModelConfig(ConfigDict):
    config_name = "model config"

    n_points: int = 2048  # input spectrum length (resampled over each spectrum's own range)
    patch_size: int = 32  # non-overlapping patches -> n_tokens = n_points // patch_size
    wavelet: str = "db4"
    wavelet_levels: int = 3
    d_model: int = 256
    n_mamba: int = 4
    n_transformer: int = 4
    n_heads: int = 8
    d_state: int = 16
    moe_experts: int = 4
    moe_top_k: int = 2
    expert_type: str = "mlp"  # or "kan"
    d_z: int = 32  # VIB latent size for z_chem and z_inst each
    n_domains: int = 16  # id 0 = unknown domain (see module docstring)
    n_targets: int = 1
    dropout: float = 0.0
    lora_rank: int = 0  # 0 = no LoRA
    lora_alpha: float = 16.0
    # --- additions beyond the shared contract ---
    mamba_expand: int = 2  # d_inner = mamba_expand * d_model
    d_conv: int = 4  # depthwise causal conv width inside the Mamba mixer
    bidirectional: bool = True  # spectra have no causal direction: scan both ways
    # "parallel" (recursive doubling, no token loop) or "sequential" (reference Python loop over
    # tokens, for tests and benchmarks only)
    scan: str = "parallel"
    mlp_ratio: int = 4  # transformer MLP hidden = mlp_ratio * d_model
    moe_hidden: int = 512  # hidden width of each MLP expert
    kan_grid: int = 8  # RBF centres per input of a KAN expert (hidden = moe_hidden // kan_grid)
    regression_hidden: int = 64
    fno_width: int = 32
    fno_modes: int = 32
    fno_layers: int = 4
    pe_frequencies: int = 32  # sinusoid frequencies of the wavenumber encoding

    def __post_init__(self) -> None:
        self.validate()

    @property
    def n_tokens(self) -> int:
        return self.n_points // self.patch_size

    @property
    def d_inner(self) -> int:
        return self.mamba_expand * self.d_model

    def validate(self) -> None:
        def bad(key: str, why: str) -> InputError:
            return InputError(f"model config: {key}={getattr(self, key)!r}: {why}")

        for f in fields(self):
            value = getattr(self, f.name)
            want = {"int": int, "float": (int, float), "str": str, "bool": bool}[f.type]
            if isinstance(value, bool) and f.type != "bool" or not isinstance(value, want):
                raise bad(f.name, f"expected {f.type}")
        positive = (
            "n_points patch_size d_model n_heads d_state moe_experts moe_top_k d_z n_domains "
            "n_targets mamba_expand d_conv mlp_ratio moe_hidden kan_grid "
            "regression_hidden fno_width fno_modes fno_layers pe_frequencies"
        ).split()
        for key in positive:
            if getattr(self, key) < 1:
                raise bad(key, "must be >= 1")
        for key in ("wavelet_levels", "n_mamba", "n_transformer", "lora_rank"):
            if getattr(self, key) < 0:
                raise bad(key, "must be >= 0")
        if self.n_points % self.patch_size:
            raise bad("patch_size", f"must divide n_points={self.n_points}")
        if self.patch_size % (2**self.wavelet_levels):
            # periodised DWT halves the length each level; odd lengths would need padding
            raise bad(
                "patch_size", f"must be divisible by 2**wavelet_levels={2**self.wavelet_levels}"
            )
        if self.wavelet not in pywt.wavelist(kind="discrete"):
            raise bad("wavelet", "not a discrete PyWavelets wavelet")
        if self.d_model % self.n_heads:
            raise bad("n_heads", f"must divide d_model={self.d_model}")
        if self.moe_top_k > self.moe_experts:
            raise bad("moe_top_k", f"must be <= moe_experts={self.moe_experts}")
        if self.expert_type not in EXPERT_TYPES:
            raise bad("expert_type", f"must be one of {EXPERT_TYPES}")
        if self.scan not in SCANS:
            raise bad("scan", f"must be one of {SCANS}")
        if not 0.0 <= self.dropout < 1.0:
            raise bad("dropout", "must be in [0, 1)")
        if self.lora_alpha <= 0:
            raise bad("lora_alpha", "must be > 0")
        if self.fno_modes > self.n_points // 2 + 1:
            raise bad("fno_modes", f"must be <= n_points // 2 + 1 = {self.n_points // 2 + 1}")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ModelConfig:
        if name not in PRESETS:
            raise InputError(f"model config: unknown preset {name!r}; choose from {list(PRESETS)}")
        return cls.from_dict({**PRESETS[name], **overrides})
