import math

import numpy as np
import pytest

from spectralfm.errors import InputError
from spectralfm.metrics import interval_metrics, regression_metrics


def test_regression_metrics_known_values():
    y_true = np.array([1.0, 2.0, 3.0, 4.0])
    y_pred = np.array([1.5, 2.5, 3.5, 4.5])  # pure bias of +0.5
    m = regression_metrics(y_true, y_pred)
    assert m["rmsep"] == pytest.approx(0.5)
    assert m["bias"] == pytest.approx(0.5)
    assert m["sep"] == pytest.approx(0.0, abs=1e-12)
    assert m["slope"] == pytest.approx(1.0)
    assert m["r2"] == pytest.approx(1 - 4 * 0.25 / 5.0)
    assert math.isnan(m["rpd"])  # sep = 0


def test_sep_rpd_slope_against_definitions():
    rng = np.random.default_rng(0)
    y_true = rng.normal(10, 2, size=50)
    y_pred = 0.8 * y_true + 1.0 + rng.normal(0, 0.3, size=50)
    m = regression_metrics(y_true, y_pred)
    err = y_pred - y_true
    assert m["sep"] == pytest.approx(np.std(err, ddof=1))
    assert m["rpd"] == pytest.approx(np.std(y_true, ddof=1) / np.std(err, ddof=1))
    assert m["slope"] == pytest.approx(np.polyfit(y_true, y_pred, 1)[0])
    assert m["rmsep"] ** 2 == pytest.approx(m["bias"] ** 2 + m["sep"] ** 2 * 49 / 50)


def test_interval_metrics_with_finite_bounds():
    y = np.array([0.0, 1.0, 2.0, 3.0])
    lo = np.array([-1.0, 1.0, 2.5, 0.0])  # inside (bounds count), on lo, below lo, inside
    hi = np.array([1.0, 1.5, 3.0, 3.0])  # ..., ..., ..., on hi
    picp, mpiw = interval_metrics(y, lo, hi)
    assert picp == 0.75
    assert mpiw == pytest.approx(np.mean([2.0, 0.5, 0.5, 3.0]))
    # a zero-width interval at the value covers it
    assert interval_metrics([2.0], [2.0], [2.0]) == (1.0, 0.0)
    assert interval_metrics([[1.0], [5.0]], [[0.0], [0.0]], [[2.0], [2.0]]) == (0.5, 2.0)


def test_interval_metrics_are_undefined_for_infinite_bounds():
    y = np.array([0.0, 1.0, 2.0])
    for lo, hi in (
        (np.full(3, -np.inf), np.full(3, np.inf)),
        (np.array([-1.0, 0.0, -np.inf]), np.array([1.0, 2.0, 3.0])),  # one bound is enough
        (np.zeros(3), np.array([1.0, np.inf, 3.0])),
    ):
        picp, mpiw = interval_metrics(y, lo, hi)
        assert math.isnan(picp) and math.isnan(mpiw)


def test_conformal_intervals_reach_nominal_coverage():
    """Split-conformal bounds built by hand (rank ceil((n + 1)(1 - alpha)) of the absolute
    calibration residuals) cover at the nominal rate, scored by interval_metrics."""
    rng = np.random.default_rng(42)
    coverages = []
    for _ in range(2000):
        cal = rng.standard_t(df=3, size=30)  # heavy tails: the guarantee is distribution-free
        test = rng.standard_t(df=3, size=30)
        h = np.sort(np.abs(cal))[math.ceil(31 * 0.9) - 1]
        coverages.append(interval_metrics(test, np.full(30, -h), np.full(30, h))[0])
    # exact expectation is ceil(31 * 0.9) / 31 = 0.903
    assert 0.89 < np.mean(coverages) < 0.92


def test_bad_input_raises_input_error():
    with pytest.raises(InputError):
        regression_metrics([1.0, 2.0], [1.0])
    with pytest.raises(InputError):
        regression_metrics([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(InputError):
        regression_metrics([], [])
    with pytest.raises(InputError, match="upper bound below"):
        interval_metrics([1.0], [1.0], [-1.0])  # lo > hi
    with pytest.raises(InputError, match="upper bound below"):
        interval_metrics([1.0, 2.0], [0.0, 3.0], [2.0, 2.5])  # one row is enough
    with pytest.raises(InputError, match="NaN"):
        interval_metrics([1.0], [np.nan], [2.0])
    with pytest.raises(InputError, match="lengths"):
        interval_metrics([1.0, 2.0], [0.0, 0.0], [1.0])
    with pytest.raises(InputError, match="lengths"):
        interval_metrics([], [], [])


def test_regression_metrics_undefined_quantities_are_nan():
    m = regression_metrics([2.0], [2.5])  # one sample: no spread, no sep
    assert m["rmsep"] == pytest.approx(0.5) and m["bias"] == pytest.approx(0.5)
    assert all(math.isnan(m[k]) for k in ("r2", "sep", "rpd", "slope"))
    m = regression_metrics([3.0, 3.0, 3.0], [2.0, 3.0, 4.0])  # constant y: r2 and slope undefined
    assert math.isnan(m["r2"]) and math.isnan(m["slope"])
    assert m["sep"] == pytest.approx(1.0)
