"""The compact preprocessing spec of config files and the results table, parsed and checked.

Pure Python (no numpy, scipy or sklearn): the workflow checks every configured spec when it plans,
before any job runs, and planning must stay fast. spectralfm.preprocessing builds the transformers.

Steps joined by ``+``, applied left to right. A step is ``none``, ``snv``, ``msc``, ``detrend`` or
``detrend(order)``, ``sg0`` / ``sg1`` / ``sg2`` (Savitzky-Golay smoothing, 1st and 2nd derivative)
or with explicit ``(window,polyorder)``. Example: ``snv+sg1(15,2)``. Case and spaces are ignored.
"""

from __future__ import annotations

import numbers
import re

from spectralfm.errors import InputError

SG_DEFAULT_WINDOW = 15
SG_DEFAULT_POLYORDER = 2
DETREND_DEFAULT_ORDER = 1
SG_DERIV = {"sg0": 0, "sg1": 1, "sg2": 2}
STEP_NAMES = ("none", "snv", "msc", "detrend", *SG_DERIV)
_STEP = re.compile(r"([a-z]+[0-9]*)(?:\(([^()]*)\))?")
_INT = re.compile(r"[+-]?[0-9]+")


def parse_spec(spec, key: str = "preprocessing", n_features: int | None = None):
    """[(step name, its arguments with defaults filled in)], validated; [("none", ())] for none.
    With `n_features`, also checks each step fits spectra that wide. InputError naming `key`."""
    steps = _parse(spec, key)
    if n_features is not None:
        for name, args in steps:
            if name in SG_DERIV and args[0] > n_features:
                raise InputError(
                    f"{key}: {format_step(name, args)} window {args[0]} is longer than the "
                    f"spectrum ({n_features} wavelengths)"
                )
            if name == "detrend" and args[0] >= n_features:
                raise InputError(
                    f"{key}: {format_step(name, args)} needs more than {args[0]} wavelengths, "
                    f"the spectrum has {n_features}"
                )
    return steps


def canonical_preprocessing(spec: str, key: str = "preprocessing") -> str:
    """The normalised spec: defaults explicit, ``none`` dropped from chains, e.g. ``sg1`` ->
    ``sg1(15,2)``, ``none+SNV`` -> ``snv``."""
    return "+".join(format_step(name, args) for name, args in _parse(spec, key))


def _parse(spec, key: str) -> list[tuple[str, tuple[int, ...]]]:
    """[(step name, its arguments with defaults filled in)], validated; [("none", ())] for none."""
    if not isinstance(spec, str):
        raise InputError(f"{key}: expected a string such as 'snv+sg1(15,2)', got {spec!r}")
    text = re.sub(r"\s+", "", spec).lower()
    steps = []
    for token in text.split("+"):
        if not token:
            raise InputError(f"{key}: empty step in {spec!r} (steps are joined by single '+')")
        match = _STEP.fullmatch(token)
        if match is None:
            what = "bad parentheses in" if "(" in token or ")" in token else "malformed"
            raise InputError(f"{key}: {what} step {token!r} in {spec!r}")
        name, arg_text = match.group(1), match.group(2)
        if name not in STEP_NAMES:
            raise InputError(
                f"{key}: unknown step {name!r} in {spec!r}; expected one of {', '.join(STEP_NAMES)}"
            )
        args = ()
        if arg_text is not None:
            parts = arg_text.split(",")
            bad = [part for part in parts if not _INT.fullmatch(part)]
            if bad:
                raise InputError(f"{key}: step {token!r} has a non-integer argument {bad[0]!r}")
            args = tuple(int(part) for part in parts)
        steps.append((name, _step_args(name, args, token, key)))
    # none is the identity: inside a chain it changes nothing.
    return [step for step in steps if step[0] != "none"] or [("none", ())]


def _step_args(name: str, args: tuple[int, ...], token: str, key: str) -> tuple[int, ...]:
    if name in ("none", "snv", "msc"):
        if args:
            raise InputError(f"{key}: step {token!r}: {name} takes no arguments")
        return ()
    if name == "detrend":
        if len(args) > 1:
            raise InputError(f"{key}: step {token!r}: detrend takes one argument (order)")
        order = args[0] if args else DETREND_DEFAULT_ORDER
        if order < 0:
            raise InputError(f"{key}: step {token!r}: detrend order must be >= 0")
        return (order,)
    if args and len(args) != 2:
        raise InputError(f"{key}: step {token!r}: {name} takes two arguments (window,polyorder)")
    window, polyorder = args or (SG_DEFAULT_WINDOW, SG_DEFAULT_POLYORDER)
    problem = sg_problem(window, polyorder, SG_DERIV[name])
    if problem:
        raise InputError(f"{key}: step {token!r}: {problem}")
    return (window, polyorder)


def sg_problem(window, polyorder, deriv) -> str | None:
    """What is wrong with these Savitzky-Golay settings, or None."""
    if not all(is_int(v) for v in (window, polyorder, deriv)):
        return f"window={window!r}, polyorder={polyorder!r}, deriv={deriv!r} must be ints"
    if polyorder < 0 or deriv < 0:
        return f"polyorder={polyorder} and deriv={deriv} must be >= 0"
    if window < 1 or window % 2 == 0:
        return f"window={window} must be odd and positive (the window is centred on a channel)"
    if window <= polyorder:
        return f"window={window} must be larger than polyorder={polyorder}"
    if deriv > polyorder:
        return f"deriv={deriv} is larger than polyorder={polyorder} (that derivative is 0)"
    return None


def format_step(name: str, args: tuple[int, ...]) -> str:
    return f"{name}({','.join(map(str, args))})" if args else name


def is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
