import math

import numpy as np
import pytest

from spectralfm.errors import InputError
from spectralfm.metrics import conformal_halfwidth, interval_metrics, regression_metrics


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


def test_conformal_rank_and_small_n():
    residuals = np.arange(1.0, 20.0)  # n = 19: rank ceil(20 * 0.9) = 18
    assert conformal_halfwidth(-residuals, alpha=0.1) == 18.0
    assert conformal_halfwidth(np.ones(8), alpha=0.1) == math.inf  # rank 9 > 8
    assert conformal_halfwidth(np.ones(9), alpha=0.1) == 1.0
    assert conformal_halfwidth(np.empty(0)) == math.inf


def test_conformal_intervals_reach_nominal_coverage():
    rng = np.random.default_rng(42)
    coverages = []
    for _ in range(2000):
        cal = rng.standard_t(df=3, size=30)  # heavy tails: the guarantee is distribution-free
        test = rng.standard_t(df=3, size=30)
        h = conformal_halfwidth(cal, alpha=0.1)
        coverages.append(interval_metrics(test, np.zeros(30), h)[0])
    # exact expectation is ceil(31 * 0.9) / 31 = 0.903
    assert 0.89 < np.mean(coverages) < 0.92


def test_interval_metrics():
    picp, mpiw = interval_metrics([0.0, 1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0], 1.0)
    assert picp == 0.5 and mpiw == 2.0
    assert interval_metrics([5.0], [0.0], math.inf) == (1.0, math.inf)


def test_bad_input_raises_input_error():
    with pytest.raises(InputError):
        regression_metrics([1.0, 2.0], [1.0])
    with pytest.raises(InputError):
        regression_metrics([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(InputError):
        conformal_halfwidth([1.0, 2.0], alpha=1.5)
    with pytest.raises(InputError):
        interval_metrics([1.0], [1.0], -1.0)
