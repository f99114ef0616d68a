"""Calibration transfer: sample selection, PLS, classical and published transfer methods.

Methods are named in `registry.METHOD_CLASSES` and imported on first use, so importing this package
(and planning the workflow) never imports torch; make_method builds one by name.
"""

from __future__ import annotations

from spectralfm.errors import InputError
from spectralfm.transfer.base import TransferMethod, TransferTask
from spectralfm.transfer.registry import (
    CLASSICAL_METHODS,
    METHOD_CLASSES,
    is_foundation,
    method_class,
)

# Parameters every tuned method can leave to its inner validation besides its TUNABLE grid.
COMMON_AUTO = ("preprocessing", "master_components")


def check_method_params(name: str, params: dict) -> None:
    """InputError naming `methods.<name>.<param>` for an unknown parameter, or for `auto` on a
    parameter that has no inner choice."""
    cls = method_class(name)
    allowed = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InputError(
            f"methods.{name}: unknown parameter(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(allowed))}"
        )
    tunable = set(getattr(cls, "TUNABLE", {})) | (set(COMMON_AUTO) & set(allowed))
    for key, value in params.items():
        if value == "auto" and key not in tunable:
            raise InputError(
                f"methods.{name}.{key}: 'auto' is not available (no inner choice for it); "
                f"parameters that accept 'auto': {', '.join(sorted(tunable)) or 'none'}"
            )


def make_method(name: str, **params) -> TransferMethod:
    """A transfer method by its table name with the given hyper-parameters; InputError for an
    unknown name (listing the known ones) or a parameter the method does not have."""
    check_method_params(name, params)
    return method_class(name)(**params)


__all__ = [
    "CLASSICAL_METHODS",
    "METHOD_CLASSES",
    "InputError",
    "TransferMethod",
    "TransferTask",
    "check_method_params",
    "is_foundation",
    "make_method",
]
