import numpy as np
import pytest

from spectralfm.errors import InputError
from spectralfm.sources.units import (
    nm_to_wavenumber,
    to_absorbance,
    to_wavenumber,
    um_to_wavenumber,
    x_unit_kind,
    y_unit_kind,
)


def test_wavelength_conversions():
    np.testing.assert_allclose(nm_to_wavenumber([1000.0, 2500.0]), [10000.0, 4000.0])
    np.testing.assert_allclose(um_to_wavenumber([2.5, 10.0]), [4000.0, 1000.0])
    with pytest.raises(InputError):
        nm_to_wavenumber([0.0, 1.0])


@pytest.mark.parametrize(
    "label, kind",
    [
        ("1/CM", "cm-1"),
        ("cm-1", "cm-1"),
        ("cm^-1", "cm-1"),
        ("NANOMETERS", "nm"),
        ("nm", "nm"),
        ("MICROMETERS", "um"),
        ("µm", "um"),
        ("microns", "um"),
    ],
)
def test_x_unit_labels(label, kind):
    assert x_unit_kind(label) == kind


def test_unknown_x_unit_is_an_input_error():
    with pytest.raises(InputError, match="SECONDS"):
        to_wavenumber([1.0, 2.0], "SECONDS")


def test_transmittance_fraction_and_percent():
    np.testing.assert_allclose(to_absorbance([1.0, 0.1, 0.01], "TRANSMITTANCE"), [0.0, 1.0, 2.0])
    np.testing.assert_allclose(to_absorbance([100.0, 10.0], "%T"), [0.0, 1.0])
    # no percent sign, but values up to 90: percent inferred from max > 1.5
    np.testing.assert_allclose(to_absorbance([90.0, 10.0], "transmittance"), -np.log10([0.9, 0.1]))


def test_reflectance_becomes_log_inverse_r():
    np.testing.assert_allclose(to_absorbance([0.5, 0.01], "Reflectance"), np.log10([2.0, 100.0]))
    assert y_unit_kind("log(1/R)") == "absorbance"


def test_zero_transmittance_is_floored_not_infinite():
    out = to_absorbance([0.0, -0.01, 0.5], "TRANSMITTANCE")
    assert np.all(np.isfinite(out)) and out[0] == pytest.approx(6.0)


def test_absorbance_like_units_pass_through_and_unknown_units_fail():
    y = np.array([0.1, 0.2])
    for label in ("ABSORBANCE", "(micromol/mol)-1m-1 (base 10)", "Arbitrary Units", None, "counts"):
        np.testing.assert_array_equal(to_absorbance(y, label), y)
    with pytest.raises(InputError, match="furlongs"):
        to_absorbance(y, "furlongs")
