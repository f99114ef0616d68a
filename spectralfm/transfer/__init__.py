"""Calibration transfer: sample selection, PLS, classical and published transfer methods.

METHODS maps the name used in result tables to its class (the classical methods here and the
SpectralFM ones from foundation.py); make_method builds one by name.
"""

from __future__ import annotations

from spectralfm.errors import InputError
from spectralfm.transfer.base import TransferMethod, TransferTask
from spectralfm.transfer.baselines import NoTransfer, TargetDirect, TargetFull
from spectralfm.transfer.ds import DSTransfer
from spectralfm.transfer.epo import EPOTransfer
from spectralfm.transfer.foundation import FOUNDATION_METHODS
from spectralfm.transfer.pds import PDSTransfer
from spectralfm.transfer.sbc import SBCTransfer
from spectralfm.transfer.sst import SSTTransfer

METHODS: dict[str, type[TransferMethod]] = {
    cls.name: cls
    for cls in (
        NoTransfer,
        TargetDirect,
        TargetFull,
        PDSTransfer,
        DSTransfer,
        SBCTransfer,
        EPOTransfer,
        SSTTransfer,
        *FOUNDATION_METHODS,
    )
}
CLASSICAL_METHODS = (
    "no_transfer",
    "target_direct",
    "target_full",
    "pds",
    "ds",
    "sbc",
    "epo",
    "sst",
)


def make_method(name: str, **params) -> TransferMethod:
    """A transfer method by its table name with the given hyper-parameters; InputError for an
    unknown name (listing the known ones) or a parameter the method does not have."""
    if name not in METHODS:
        raise InputError(f"unknown transfer method {name!r}; known: {', '.join(sorted(METHODS))}")
    cls = METHODS[name]
    allowed = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InputError(
            f"transfer method {name!r}: unknown parameter(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(allowed))}"
        )
    return cls(**params)


__all__ = [
    "CLASSICAL_METHODS",
    "METHODS",
    "InputError",
    "TransferMethod",
    "TransferTask",
    "make_method",
]
