"""Calibration transfer: sample selection, PLS, classical and published transfer methods.

Methods are named in `registry.METHOD_CLASSES` and imported on first use, so importing this package
(and planning the workflow) imports neither sklearn nor torch; make_method builds one by name.
"""

from __future__ import annotations

from spectralfm.errors import InputError
from spectralfm.transfer.registry import (
    CLASSICAL_METHODS,
    METHOD_CLASSES,
    check_method_params,
    is_foundation,
    method_class,
)


def make_method(name: str, **params):
    """A transfer method by its table name with the given hyper-parameters; InputError for an
    unknown name (listing the known ones) or a parameter the method does not have."""
    check_method_params(name, params)
    return method_class(name)(**params)


def __getattr__(name: str):
    # TransferTask / TransferMethod on first use: base.py imports sklearn.
    if name in ("TransferTask", "TransferMethod"):
        from spectralfm.transfer import base

        return getattr(base, name)
    raise AttributeError(f"module 'spectralfm.transfer' has no attribute {name!r}")


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
