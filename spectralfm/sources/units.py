"""Unit conversions shared by the readers: every x axis ends in cm^-1, every y absorbance-like.

Absorbance-like means larger = more light taken by the sample: transmittance T becomes -log10(T),
reflectance R becomes log10(1/R) (the apparent absorbance used for diffuse reflectance NIR/IR).
Percent values (%T, %R, or any transmittance/reflectance whose maximum exceeds 1.5) are divided
by 100 first. Values <= 0 cannot be logged; they are floored at 1e-6 (absorbance 6) so a noisy
zero does not become infinite.
"""

from __future__ import annotations

import re

import numpy as np

from spectralfm.errors import InputError

LOG_FLOOR = 1e-6
PERCENT_IF_MAX_ABOVE = 1.5

_WAVENUMBER = re.compile(r"^(1/cm|cm-1|cm\^-1|cm\^\{-1\}|cm⁻¹|wavenumbers?|raman shift)$")
_NANOMETRE = re.compile(r"^(nm|nanomet(er|re)s?)$")
_MICROMETRE = re.compile(r"^(um|µm|μm|micromet(er|re)s?|microns?)$")
_ABSORBANCE_LIKE = (
    "absorb",  # absorbance, absorbance units, absorbtivity
    "arbitrary",
    "a.u",
    "au",
    "count",
    "intensity",
    "kubelka",
    "log(1/r)",
    "log(1/t)",
    "log 1/r",
    ")-1",  # absorption coefficients such as (micromol/mol)-1m-1
    "m-1",
    "raman",
)


def nm_to_wavenumber(x_nm) -> np.ndarray:
    """Wavelength in nm to wavenumber in cm^-1 (1e7 / nm); the order of points reverses."""
    x_nm = np.asarray(x_nm, dtype=np.float64)
    if np.any(x_nm <= 0):
        raise InputError("wavelengths must be positive to convert nm to cm^-1")
    return 1e7 / x_nm


def um_to_wavenumber(x_um) -> np.ndarray:
    """Wavelength in micrometres to wavenumber in cm^-1 (1e4 / um)."""
    x_um = np.asarray(x_um, dtype=np.float64)
    if np.any(x_um <= 0):
        raise InputError("wavelengths must be positive to convert micrometres to cm^-1")
    return 1e4 / x_um


def x_unit_kind(xunits: str) -> str:
    """'cm-1', 'nm' or 'um' for a unit label (JCAMP XUNITS or a user option)."""
    label = xunits.strip().lower().replace(" ", "") if xunits else ""
    label = label.replace("wavenumber(cm-1)", "cm-1").replace("wavenumbers(cm-1)", "cm-1")
    if _WAVENUMBER.match(label) or _WAVENUMBER.match(xunits.strip().lower()):
        return "cm-1"
    if _NANOMETRE.match(label):
        return "nm"
    if _MICROMETRE.match(label):
        return "um"
    raise InputError(f"x units {xunits!r}: expected cm^-1 (1/CM), nm or micrometres")


def to_wavenumber(x, xunits: str) -> np.ndarray:
    """x converted to cm^-1 from the unit named by `xunits`."""
    kind = x_unit_kind(xunits)
    if kind == "nm":
        return nm_to_wavenumber(x)
    if kind == "um":
        return um_to_wavenumber(x)
    return np.asarray(x, dtype=np.float64)


def y_unit_kind(yunits: str | None) -> str:
    """'transmittance', 'reflectance' or 'absorbance' (already absorbance-like)."""
    label = (yunits or "").strip().lower()
    if not label:
        return "absorbance"
    if "transmi" in label or label in ("%t", "t%", "t", "percent transmission"):
        return "transmittance"
    if "reflect" in label or label in ("%r", "r%", "r"):
        if "log" in label:  # "log(1/R)" is already an apparent absorbance
            return "absorbance"
        return "reflectance"
    if any(token in label for token in _ABSORBANCE_LIKE):
        return "absorbance"
    raise InputError(
        f"y units {yunits!r}: expected transmittance, reflectance or an absorbance-like unit"
    )


def to_absorbance(y, yunits: str | None) -> np.ndarray:
    """y as absorbance-like values: -log10(T) for transmittance, log10(1/R) for reflectance
    (percent detected from the label or from max > 1.5), anything absorbance-like unchanged."""
    y = np.asarray(y, dtype=np.float64)
    kind = y_unit_kind(yunits)
    if kind == "absorbance":
        return y
    label = (yunits or "").lower()
    finite = y[np.isfinite(y)]
    percent = "%" in label or "percent" in label
    if not percent and finite.size and finite.max() > PERCENT_IF_MAX_ABOVE:
        percent = True
    fraction = y / 100.0 if percent else y
    return -np.log10(np.clip(fraction, LOG_FLOOR, None))
