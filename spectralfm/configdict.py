"""Config dataclasses to and from plain mappings (JSON, YAML), refusing keys they do not have.

A config dataclass inherits `ConfigDict` and names itself in `config_name` (used in errors):
ModelConfig, PretrainConfig and LossWeights do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from spectralfm.errors import InputError


class ConfigDict:
    config_name: ClassVar[str] = "config"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """`cls(**data)` for a mapping whose keys are all fields of the dataclass; InputError
        naming the config for anything else."""
        if not isinstance(data, Mapping):
            raise InputError(f"{cls.config_name}: expected a mapping, got {type(data).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise InputError(
                f"{cls.config_name}: unknown key(s) {unknown}; known: {', '.join(known)}"
            )
        return cls(**data)
