"""Names of the transfer methods as they appear in the table, and where each one is implemented.

Resolved lazily (importlib) so that planning the workflow and the classical jobs never import the
SpectralFM methods, and with them torch. The entry here is the one place a new method is named.
"""

from __future__ import annotations

import importlib

from spectralfm.errors import InputError

METHOD_CLASSES: dict[str, str] = {
    "no_transfer": "spectralfm.transfer.baselines:NoTransfer",
    "target_direct": "spectralfm.transfer.baselines:TargetDirect",
    "target_full": "spectralfm.transfer.baselines:TargetFull",
    "pds": "spectralfm.transfer.pds:PDSTransfer",
    "ds": "spectralfm.transfer.ds:DSTransfer",
    "sbc": "spectralfm.transfer.sbc:SBCTransfer",
    "epo": "spectralfm.transfer.epo:EPOTransfer",
    "sst": "spectralfm.transfer.sst:SSTTransfer",
    "dipls": "spectralfm.transfer.dipls:DIPLSTransfer",
    "coral": "spectralfm.transfer.coral:CORALTransfer",
    "spectralfm": "spectralfm.transfer.foundation:SpectralFMTransfer",
    "spectralfm_scratch": "spectralfm.transfer.foundation:SpectralFMScratch",
    "spectralfm_ttt": "spectralfm.transfer.foundation:SpectralFMTTT",
}
# The SpectralFM rows, kept apart from the classical ones in summaries and in the workflow.
FOUNDATION_PREFIX = "spectralfm"
CLASSICAL_METHODS = tuple(n for n in METHOD_CLASSES if not n.startswith(FOUNDATION_PREFIX))


def is_foundation(name: str) -> bool:
    return name.startswith(FOUNDATION_PREFIX)


def method_module(name: str) -> str:
    """The module implementing method `name` (e.g. 'spectralfm.transfer.pds'), without importing it."""
    if name not in METHOD_CLASSES:
        raise InputError(
            f"unknown transfer method {name!r}; known: {', '.join(sorted(METHOD_CLASSES))}"
        )
    return METHOD_CLASSES[name].partition(":")[0]


def method_class(name: str) -> type:
    """The estimator class of method `name`, imported on first use."""
    module = importlib.import_module(method_module(name))
    return getattr(module, METHOD_CLASSES[name].partition(":")[2])
