"""Names of the transfer methods as they appear in the table, and where each one is implemented.

Resolved lazily (importlib) so that planning the workflow and the classical jobs never import the
SpectralFM methods, and with them torch. The entry here is the one place a new method is named.
"""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path

from spectralfm.errors import InputError

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
AUTO = "auto"  # a parameter whose default is "auto" is chosen inside fit

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
    "spectralfm_embed": "spectralfm.transfer.foundation:SpectralFMEmbed",
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


@functools.cache
def method_defaults(name: str) -> dict[str, object]:
    """The __init__ parameters of method `name` and their defaults, read from its module's source
    with ast (so that planning the workflow imports neither sklearn nor torch). A default that is
    not a literal reads as None. Inherited __init__s are followed within the module."""
    module = method_module(name)
    path = PACKAGE_ROOT.joinpath(*module.split(".")[1:]).with_suffix(".py")
    classes = {
        node.name: node
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.ClassDef)
    }
    cls = classes.get(METHOD_CLASSES[name].partition(":")[2])
    while cls is not None:
        for node in cls.body:
            if isinstance(node, ast.FunctionDef) and node.name == "__init__":
                return _defaults(node.args)
        bases = [b.id for b in cls.bases if isinstance(b, ast.Name) and b.id in classes]
        cls = classes[bases[0]] if bases else None
    return {}


def _defaults(args: ast.arguments) -> dict[str, object]:
    names = [a.arg for a in args.args[1:]] + [a.arg for a in args.kwonlyargs]
    values = [None] * (len(args.args) - 1 - len(args.defaults)) + list(args.defaults)
    values += list(args.kw_defaults)
    out = {}
    for arg, node in zip(names, values, strict=True):
        try:
            out[arg] = None if node is None else ast.literal_eval(node)
        except ValueError:
            out[arg] = None
    return out


def check_method_params(name: str, params: dict, key: str | None = None) -> None:
    """InputError naming `methods.<name>.<param>` for an unknown method or parameter, or for
    `auto` on a parameter that has no inner choice (its default is not `auto`)."""
    key = key or f"methods.{name}"
    method_module(name)  # unknown method
    defaults = method_defaults(name)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise InputError(
            f"{key}: unknown parameter(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(defaults))}"
        )
    tunable = sorted(k for k, v in defaults.items() if v == AUTO)
    for param, value in params.items():
        if value == AUTO and param not in tunable:
            raise InputError(
                f"{key}.{param}: 'auto' is not available (no inner choice for it); "
                f"parameters that accept 'auto': {', '.join(tunable) or 'none'}"
            )
