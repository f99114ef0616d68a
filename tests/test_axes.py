"""Common grids of two instruments' axes: synthetic rules, then the real wheat and sugarcane pairs."""

import numpy as np
import pytest

from spectralfm.datasets import SUGARCANE_CSV, WHEAT_XLSX, load_benchmark
from spectralfm.errors import InputError
from spectralfm.transfer.axes import (
    MIN_OVERLAP_FRACTION,
    MIN_POINTS,
    common_grid,
    overlap,
    resample,
)


def test_overlap_of_axes():
    assert overlap(np.arange(1.0, 11.0), np.arange(5.0, 21.0)) == (5.0, 10.0)
    lo, hi = overlap([1.0, 2.0], [3.0, 4.0])
    assert hi <= lo  # disjoint
    with pytest.raises(InputError, match="not strictly increasing"):
        overlap([1.0, 3.0, 2.0], [1.0, 2.0])


def test_identical_axes_come_back_unchanged():
    axis = np.linspace(900.0, 1700.0, 101)
    grid = common_grid(axis, axis.copy())
    np.testing.assert_array_equal(grid, axis)
    assert grid is not axis
    X = np.random.default_rng(0).normal(size=(3, 101))
    np.testing.assert_array_equal(resample(X, axis, grid), X)


def test_grid_is_the_coarser_axis_inside_the_overlap_for_either_role():
    fine = np.arange(700.0, 1000.25, 0.5)
    coarse = np.arange(800.0, 1100.5, 2.0)
    expected = np.arange(800.0, 1000.5, 2.0)
    np.testing.assert_array_equal(common_grid(fine, coarse), expected)
    np.testing.assert_array_equal(common_grid(coarse, fine), expected)
    # same number of points: the master's
    shifted = np.arange(700.25, 1000.5, 0.5)
    np.testing.assert_array_equal(common_grid(fine, shifted), fine[1:])
    np.testing.assert_array_equal(common_grid(shifted, fine), shifted[:-1])


def test_an_irregular_coarser_grid_is_kept_as_measured():
    rng = np.random.default_rng(1)
    irregular = 900.0 + np.cumsum(rng.uniform(3.0, 5.0, size=200))
    uniform = np.arange(880.0, 1800.0, 1.0)
    grid = common_grid(uniform, irregular)
    inside = irregular[(irregular >= uniform[0]) & (irregular <= uniform[-1])]
    np.testing.assert_array_equal(grid, inside)
    # the finer instrument resampled onto it never extrapolates
    X = np.vstack([uniform, uniform**2])
    out = resample(X, uniform, grid)
    np.testing.assert_allclose(out[0], grid)
    np.testing.assert_allclose(out[1], grid**2, rtol=1e-6)


def test_too_small_an_overlap_names_the_pair_and_both_ranges():
    a = np.arange(1000.0, 1400.5, 1.0)
    b = np.arange(1250.0, 2000.5, 1.0)  # overlap 150 nm of the narrower 400 nm: 38%
    with pytest.raises(
        InputError, match=r"x->y: the overlap 1250-1400 nm is 38%.*master 1000-1400"
    ):
        common_grid(a, b, pair_label="x->y")
    assert common_grid(a, b, min_overlap_fraction=0.3).size == 151
    sparse = np.arange(1000.0, 1400.5, 25.0)  # 17 points
    with pytest.raises(InputError, match=rf"only 17 points.*fewer than the {MIN_POINTS}"):
        common_grid(a, sparse)
    with pytest.raises(InputError, match=r"master vs target: .*share no wavelength range"):
        common_grid(a, a + 1000.0)
    assert MIN_OVERLAP_FRACTION == 0.5


def test_resample_is_linear_exact_on_axis_points_and_refuses_extrapolation():
    axis = np.array([1.0, 2.0, 4.0, 8.0])
    X = np.array([[1.0, 3.0, 7.0, 15.0], [0.0, 1.0, 0.0, -4.0]])
    np.testing.assert_array_equal(resample(X, axis, [1.0, 4.0, 8.0]), X[:, [0, 2, 3]])
    np.testing.assert_allclose(resample(X, axis, [1.5, 3.0, 6.0]), [[2, 5, 11], [0.5, 0.5, -2]])
    np.testing.assert_allclose(resample(X[0], axis, [3.0]), [5.0])
    with pytest.raises(InputError, match="extrapolation is refused"):
        resample(X, axis, [0.5, 2.0])
    with pytest.raises(InputError, match="extrapolation is refused"):
        resample(X, axis, [8.5])
    with pytest.raises(InputError, match=r"spectra of shape \(2, 3\) do not match.*4 points"):
        resample(X[:, :3], axis, [2.0])


# ---------------------------------------------------------------- real pairs


@pytest.fixture(scope="module")
def sugarcane(shared_data):
    folder = shared_data / "mirror" / "chaix_sugarcane"
    return load_benchmark("sugarcane", [folder / name for name in SUGARCANE_CSV])


@pytest.fixture(scope="module")
def wheat(shared_data):
    folder = shared_data / "mirror" / "idrc2016"
    return load_benchmark("wheat", [folder / raw.name for raw in WHEAT_XLSX.values()])


def test_nirone_and_scio_share_no_range_and_are_refused(sugarcane):
    with pytest.raises(InputError, match=r"NIRONE2.2->SCiO: .*share no wavelength range") as err:
        common_grid(
            sugarcane.axis("NIRONE2.2"), sugarcane.axis("SCiO"), pair_label="NIRONE2.2->SCiO"
        )
    assert "master 1750-2150 nm (201 points)" in str(err.value)
    assert "target 740-1070 nm (331 points)" in str(err.value)
    # 908-1070 nm is 49% of SCiO's 330 nm: refused as well
    with pytest.raises(InputError, match=r"MicroNIR1700->SCiO: the overlap 908.1-1070 nm is 49%"):
        common_grid(
            sugarcane.axis("MicroNIR1700"), sugarcane.axis("SCiO"), pair_label="MicroNIR1700->SCiO"
        )


def test_accepted_sugarcane_pairs(sugarcane):
    micro, nano = sugarcane.axis("MicroNIR1700"), sugarcane.axis("NIRscanNano")
    grid = common_grid(micro, nano)  # MicroNIR 1700 is the coarser and lies inside the Nano range
    np.testing.assert_array_equal(grid, micro)
    Xt = resample(sugarcane.instrument("NIRscanNano"), nano, grid)
    assert Xt.shape == (60, 125) and np.isfinite(Xt).all()
    f750, scio = sugarcane.axis("F750"), sugarcane.axis("SCiO")
    grid = common_grid(f750, scio)
    np.testing.assert_array_equal(grid, np.arange(741.0, 1068.5, 3.0))  # F750's points, 3 nm
    np.testing.assert_array_equal(
        resample(sugarcane.instrument("SCiO"), scio, grid),
        sugarcane.instrument("SCiO")[:, 1:-2:3],  # SCiO's 1 nm points at those wavelengths
    )
    np.testing.assert_array_equal(
        resample(sugarcane.instrument("F750"), f750, grid),
        sugarcane.instrument("F750")[:, (grid - 450.0).astype(int) // 3],
    )


def test_wheat_a1_and_b_meet_on_730_to_1100(wheat):
    a1, b = wheat.axis("A1"), wheat.axis("B")
    for grid in (common_grid(a1, b, pair_label="A1->B"), common_grid(b, a1)):
        assert grid[0] == 730.0 and grid[-1] == 1100.0 and grid.size == 741
    np.testing.assert_array_equal(common_grid(a1, wheat.axis("A2")), a1)
    # B's own 0.5 nm points: its columns from 730 nm on, untouched
    np.testing.assert_array_equal(
        resample(wheat.instrument("B"), b, common_grid(a1, b)), wheat.instrument("B")[:, 320:]
    )
