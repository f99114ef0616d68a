"""Wavelength axes of two instruments: their overlap, the grid classical transfer runs on, resampling.

Classical transfer methods (DS, PDS, SBC, PLS on the master, ...) need the master and target spectra
as columns of one matrix, i.e. on one wavelength grid. When two instruments measure different ranges
or at different spacings (IDRC 2016 wheat unit B, the Chaix sugarcane handhelds) that grid is
`common_grid(master_axis, target_axis)`:

- its range is the overlap of the two axes (nothing outside it is measured by both);
- its points are those of the COARSER instrument inside the overlap, the coarser being the one with
  fewer points there (on a uniform grid: the larger spacing). Interpolating the finer instrument
  down onto the coarser one's own wavelengths keeps every value of the coarser instrument exactly as
  measured; interpolating the coarser instrument onto a finer grid would only add linear
  interpolants between its points, i.e. invent columns that carry no information and make the
  matrices wider (more PLS/PDS parameters) for nothing. Counting points in the overlap, rather than
  comparing nominal or median spacings, also decides irregular grids (NIRscan Nano, TellSpec, whose
  steps vary 2-5 nm): the grid is then that instrument's own irregular wavelengths, unchanged, and no
  uniform grid is invented. A tie (same number of points) picks the master's points.
- identical axes are returned unchanged (no resampling at all).

A pair is refused (InputError naming the pair and both ranges) when the overlap is "too small":
shorter than MIN_OVERLAP_FRACTION of the narrower instrument's range, or holding fewer than
MIN_POINTS points of the grid. Below half of the narrower range a calibration transferred "between"
the two instruments would mostly be a calibration on a different spectral region than the one the
narrower instrument was chosen for; and a handful of points is no spectrum. Examples (sugarcane):
NIRONE 2.2 (1750-2150 nm) vs SCiO (740-1070 nm) share nothing; MicroNIR 1700 (908-1676 nm) vs SCiO
overlap 162 nm = 49% of SCiO's 330 nm and are refused; MicroNIR 1700 vs NIRscan Nano (901-1701 nm)
overlap over all of the MicroNIR range and are accepted.

numpy only. Axes are in nm (any unit works if both axes use it), 1-D, finite, strictly increasing.
"""

from __future__ import annotations

import numpy as np

from spectralfm.errors import InputError

MIN_OVERLAP_FRACTION = 0.5  # overlap / range of the narrower instrument
MIN_POINTS = 20  # points of the common grid inside the overlap
# Grid points may sit this far (relative to the axis span) outside an axis and still count as
# inside: absorbs the last-digit differences of axes printed with different precision.
_EDGE_RTOL = 1e-9


def _check_axis(axis, what: str) -> np.ndarray:
    a = np.asarray(axis, dtype=np.float64)
    if a.ndim != 1 or a.size < 2:
        raise InputError(f"{what}: expected a 1-D axis of at least 2 points, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{what}: the axis has non-finite values")
    if np.any(np.diff(a) <= 0):
        raise InputError(f"{what}: the axis is not strictly increasing")
    return a


def _span(a: np.ndarray) -> str:
    return f"{a[0]:g}-{a[-1]:g} nm ({a.size} points)"


def overlap(axis_a, axis_b) -> tuple[float, float]:
    """(lo, hi) of the range both axes cover; hi <= lo means they share no range."""
    a = _check_axis(axis_a, "overlap: first axis")
    b = _check_axis(axis_b, "overlap: second axis")
    return float(max(a[0], b[0])), float(min(a[-1], b[-1]))


def check_ranges(
    range_master: tuple[float, float],
    range_target: tuple[float, float],
    min_overlap_fraction: float = MIN_OVERLAP_FRACTION,
    pair_label: str | None = None,
    ranges: str | None = None,
) -> None:
    """InputError (naming the pair and both ranges) when two ranges (lo, hi) overlap by less
    than `min_overlap_fraction` of the narrower one. The workflow checks configured pairs with
    it at planning time, from the ranges in the catalog; common_grid checks the same on axes."""
    label = pair_label or "master vs target"
    (m0, m1), (t0, t1) = range_master, range_target
    ranges = ranges or f"master {m0:g}-{m1:g} nm, target {t0:g}-{t1:g} nm"
    lo, hi = max(m0, t0), min(m1, t1)
    if hi <= lo:
        raise InputError(f"{label}: the instruments share no wavelength range ({ranges})")
    narrower = min(m1 - m0, t1 - t0)
    if hi - lo < min_overlap_fraction * narrower:
        raise InputError(
            f"{label}: the overlap {lo:g}-{hi:g} nm is {100 * (hi - lo) / narrower:.0f}% of the "
            f"narrower range, below the {100 * min_overlap_fraction:.0f}% required ({ranges})"
        )


def common_grid(
    axis_master,
    axis_target,
    min_overlap_fraction: float = MIN_OVERLAP_FRACTION,
    min_points: int = MIN_POINTS,
    pair_label: str | None = None,
) -> np.ndarray:
    """The grid classical methods use for this pair: the coarser axis's points in the overlap.

    Identical axes come back unchanged. InputError (naming `pair_label` and both ranges) when the
    overlap is shorter than `min_overlap_fraction` of the narrower range or has < `min_points`.
    """
    label = pair_label or "master vs target"
    m = _check_axis(axis_master, f"{label}: master axis")
    t = _check_axis(axis_target, f"{label}: target axis")
    if m.shape == t.shape and np.array_equal(m, t):
        return m.copy()
    lo, hi = overlap(m, t)
    ranges = f"master {_span(m)}, target {_span(t)}"
    check_ranges((m[0], m[-1]), (t[0], t[-1]), min_overlap_fraction, label, ranges)
    narrower = min(m[-1] - m[0], t[-1] - t[0])
    tol = _EDGE_RTOL * narrower  # never more than resample() tolerates on either axis
    inside_m = m[(m >= lo - tol) & (m <= hi + tol)]
    inside_t = t[(t >= lo - tol) & (t <= hi + tol)]
    grid = inside_t if inside_t.size < inside_m.size else inside_m
    if grid.size < min_points:
        raise InputError(
            f"{label}: the overlap {lo:g}-{hi:g} nm holds only {grid.size} points of the coarser "
            f"grid, fewer than the {min_points} required ({ranges})"
        )
    return grid.copy()


def resample(X, axis, grid) -> np.ndarray:
    """Rows of X (n, len(axis)) linearly interpolated at `grid`; refuses to extrapolate.

    Grid points equal to axis points return those columns exactly (weight 0 on the neighbour).
    """
    a = _check_axis(axis, "resample: axis")
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1 or g.size == 0 or not np.all(np.isfinite(g)):
        raise InputError(f"resample: the grid must be a non-empty finite 1-D array, got {g.shape}")
    X = np.asarray(X, dtype=np.float64)
    one_row = X.ndim == 1
    X = np.atleast_2d(X)
    if X.ndim != 2 or X.shape[1] != a.size:
        raise InputError(
            f"resample: spectra of shape {X.shape} do not match an axis of {a.size} points"
        )
    if g.shape == a.shape and np.array_equal(g, a):
        out = X.copy()
        return out[0] if one_row else out
    tol = _EDGE_RTOL * (a[-1] - a[0])
    if g.min() < a[0] - tol or g.max() > a[-1] + tol:
        raise InputError(
            f"resample: the grid {g.min():g}-{g.max():g} extends beyond the axis "
            f"{a[0]:g}-{a[-1]:g}; extrapolation is refused"
        )
    g = np.clip(g, a[0], a[-1])
    left = np.clip(np.searchsorted(a, g, side="right") - 1, 0, a.size - 2)
    weight = (g - a[left]) / (a[left + 1] - a[left])
    out = X[:, left] * (1.0 - weight) + X[:, left + 1] * weight
    return out[0] if one_row else out
