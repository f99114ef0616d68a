import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import KFold
from sklearn.utils.estimator_checks import parametrize_with_checks

from spectralfm.datasets import read_corn_mat
from spectralfm.errors import InputError
from spectralfm.transfer.pls import (
    PLSRegressionCV,
    choose_n_components,
    pls1_path,
    truncated_coefficients,
)


def latent_data(n, n_factors=3, p=60, noise=0.01, seed=0):
    """Spectra from `n_factors` smooth pure components; y depends on all of them."""
    rng = np.random.default_rng(seed)
    axis = np.linspace(0, 1, p)
    pure = np.stack([np.exp(-((axis - c) ** 2) / 0.01) for c in np.linspace(0.2, 0.8, n_factors)])
    C = rng.uniform(0, 1, size=(n, n_factors))
    X = C @ pure + noise * rng.normal(size=(n, p))
    y = C @ np.linspace(1.0, 2.0, n_factors)
    return X, y


def test_truncated_coefficients_equal_refitted_models():
    X, y = latent_data(40, n_factors=5)
    full = PLSRegression(n_components=6, scale=False).fit(X, y)
    coefs = truncated_coefficients(full)
    for k in (1, 3, 6):
        refit = PLSRegression(n_components=k, scale=False).fit(X, y)
        np.testing.assert_allclose(coefs[:, k - 1], refit.coef_.ravel(), atol=1e-10)


def test_cv_finds_the_true_number_of_factors():
    X, y = latent_data(60, n_factors=3)
    model = PLSRegressionCV(max_components=10).fit(X, y)
    assert model.n_components_ == 3
    assert len(model.rmsecv_) == 10
    Xt, yt = latent_data(30, n_factors=3, seed=1)
    assert np.sqrt(np.mean((model.predict(Xt) - yt) ** 2)) < 0.05


def test_components_capped_by_what_each_fold_supports():
    X, y = latent_data(6, n_factors=5)
    model = PLSRegressionCV(max_components=20, cv=10).fit(X, y)
    # leave-one-out on 6 samples: 5 training rows per fold, centred rank 4
    assert len(model.rmsecv_) == 4
    assert model.n_components_ <= 4


def test_raw_coefficients_reproduce_sklearn_predictions():
    X, y = latent_data(30)
    model = PLSRegressionCV(max_components=5).fit(X + 5.0, y)
    # the final model is numpy PLS1 now (no model_): compare with sklearn's fit of that size
    reference = PLSRegression(n_components=model.n_components_, scale=False).fit(X + 5.0, y)
    np.testing.assert_allclose(
        model.predict(X + 5.0), reference.predict(X + 5.0).ravel(), atol=1e-10
    )


@pytest.mark.parametrize(("rule", "expected"), [("min", 5), ("first_min", 5), ("one_se", 3)])
def test_cv_rules(rule, expected):
    fold_mse = np.array([[5.0, 2.0, 1.03, 1.01, 1.0, 1.2]] * 4)
    # spread of the best column's folds: sd 0.08, so SE = 0.04 and 1.03 is within one SE of 1.0
    fold_mse[:, 4] += np.array([-1.0, 1.0, -1.0, 1.0]) * 0.08 * np.sqrt(3 / 4)
    assert choose_n_components(fold_mse, rule) == expected
    spread = fold_mse.copy()
    spread[:, 4] = 1.0  # no spread: one_se falls back to the plain minimum
    if rule == "one_se":
        assert choose_n_components(spread, rule) == 5


def test_corn_moisture_master_model(shared_data):
    folder = shared_data / "nir/Cargill_Corn"
    X = np.loadtxt(folder / "m5_spectra.csv", delimiter=",", skiprows=1)
    y = np.loadtxt(folder / "property_values.csv", delimiter=",", skiprows=1)[:, 0]
    model = PLSRegressionCV().fit(X[:60], y[:60])
    assert 1 <= model.n_components_ <= 20
    assert model.rmsecv_[model.n_components_ - 1] < 0.05
    assert np.sqrt(np.mean((model.predict(X[60:]) - y[60:]) ** 2)) < 0.1


def test_is_a_scikit_learn_estimator():
    model = PLSRegressionCV(max_components=7, cv=5)
    assert clone(model).get_params()["max_components"] == 7


def test_bad_input_raises_input_error():
    X, y = latent_data(10)
    with pytest.raises(InputError):
        PLSRegressionCV().fit(X, y[:5])
    with pytest.raises(InputError):
        PLSRegressionCV().fit(X[:2], y[:2])
    with pytest.raises(InputError):
        PLSRegressionCV(cv_rule="best").fit(X, y)
    model = PLSRegressionCV(max_components=2).fit(X, y)
    with pytest.raises(InputError):
        model.predict(X[:, :10])


def sklearn_coef(X, y, k):
    with warnings.catch_warnings():
        # sklearn warns when y is explained before k components (noise-free data) and stops
        warnings.filterwarnings("ignore", message="y residual is constant")
        return PLSRegression(n_components=k, scale=False).fit(X, y).coef_.ravel()


def assert_path_matches_sklearn(X, y, k_max):
    coefs, x_mean, y_mean = pls1_path(X, y, k_max)
    assert coefs.shape == (X.shape[1], k_max)
    for k in range(1, k_max + 1):
        reference = sklearn_coef(X, y, k)
        error = np.linalg.norm(coefs[:, k - 1] - reference) / np.linalg.norm(reference)
        # Up to 20 latent variables (what PLSRegressionCV explores) to 1e-8; beyond, models fit
        # round-off and the kernel and NIPALS round-off differ more (measured on corn: 1.3e-8 at
        # k=21, 2.5e-6 at k=76 of the rank 79).
        assert error < (1e-8 if k <= 20 else 1e-4), (k, error)
    # the documented prediction formula is sklearn's prediction
    model = PLSRegression(n_components=min(3, k_max), scale=False).fit(X, y)
    np.testing.assert_allclose(
        (X - x_mean) @ coefs[:, min(3, k_max) - 1] + y_mean, model.predict(X).ravel(), atol=1e-9
    )


def test_pls1_path_equals_sklearn_for_every_k_on_corn(shared_data):
    corn = read_corn_mat(shared_data / "corn.mat")
    X, y = corn.spectra["m5"], corn.Y[:, corn.properties.index("moisture")]
    assert X.shape == (80, 700)
    # every k up to the centred rank n - 1 = 79 (sklearn refitted for each: ~15 s)
    assert_path_matches_sklearn(X, y, 79)


@pytest.mark.parametrize(("n", "p"), [(15, 40), (40, 8)])
def test_pls1_path_equals_sklearn_for_every_k_on_random_data(n, p):
    rng = np.random.default_rng(n)
    X, y = rng.normal(size=(n, p)) + 3.0, rng.normal(size=n)
    assert_path_matches_sklearn(X, y, min(n - 1, p))  # up to the rank


def test_pls1_path_beyond_the_rank_repeats_the_last_model():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(10, 30)), rng.normal(size=10)
    coefs, x_mean, y_mean = pls1_path(X, y, 15)
    # rank 9: the 9-component model interpolates the training rows; more components add nothing
    np.testing.assert_allclose((X - x_mean) @ coefs[:, 8] + y_mean, y, atol=1e-9)
    for k in range(10, 16):
        np.testing.assert_array_equal(coefs[:, k - 1], coefs[:, 8])
    # tall X (rank 8 = p): from 8 components on, the least-squares fit
    X, y = rng.normal(size=(40, 8)), rng.normal(size=40)
    coefs, x_mean, y_mean = pls1_path(X, y, 12)
    ols = np.linalg.lstsq(X - x_mean, y - y_mean, rcond=None)[0]
    for k in range(8, 13):
        np.testing.assert_allclose(coefs[:, k - 1], ols, rtol=1e-9)
    # y explained by 3 factors exactly: sklearn stops there too
    Xe, ye = latent_data(30, n_factors=3, noise=0.0)
    coefs, _, _ = pls1_path(Xe, ye, 6)
    for k in range(1, 7):
        np.testing.assert_allclose(coefs[:, k - 1], sklearn_coef(Xe, ye, k), rtol=1e-8, atol=1e-12)


def test_pls1_path_bad_input():
    X, y = latent_data(10)
    with pytest.raises(InputError, match="k_max"):
        pls1_path(X, y, 0)
    with pytest.raises(InputError, match="y for X"):
        pls1_path(X, y[:5], 3)


def test_cv_errors_equal_sklearn_refits_per_fold():
    X, y = latent_data(40, n_factors=4)
    model = PLSRegressionCV(max_components=8, cv=5, random_state=3).fit(X, y)
    fold_mse = []
    for train, test in KFold(5, shuffle=True, random_state=3).split(X):
        x_mean, y_mean = X[train].mean(axis=0), y[train].mean()
        errors = []
        for k in range(1, 9):
            pred = (X[test] - x_mean) @ sklearn_coef(X[train], y[train], k) + y_mean
            errors.append(np.mean((pred - y[test]) ** 2))
        fold_mse.append(errors)
    np.testing.assert_allclose(model.rmsecv_, np.sqrt(np.mean(fold_mse, axis=0)), rtol=1e-8)
    reference = PLSRegression(n_components=model.n_components_, scale=False).fit(X, y)
    np.testing.assert_allclose(model.coef_, reference.coef_.ravel(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(model.predict(X), reference.predict(X).ravel(), atol=1e-9)


def test_fixed_n_components_skips_cv():
    X, y = latent_data(30, n_factors=5)
    model = PLSRegressionCV(n_components=4).fit(X, y)
    assert model.n_components_ == 4
    assert model.rmsecv_ is None
    np.testing.assert_allclose(model.coef_, sklearn_coef(X, y, 4), rtol=1e-8, atol=1e-12)
    # capped at what the data supports: 8 samples -> centred rank 7
    assert PLSRegressionCV(n_components=50).fit(X[:8], y[:8]).n_components_ == 7
    assert PLSRegressionCV(n_components=1).fit(X[:2], y[:2]).n_components_ == 1
    for bad in (0, 2.5, "3", True):
        with pytest.raises(InputError, match="n_components"):
            PLSRegressionCV(n_components=bad).fit(X, y)


def test_input_errors_name_the_problem():
    X, y = latent_data(10)
    with pytest.raises(InputError, match="n_samples=2"):
        PLSRegressionCV().fit(X[:2], y[:2])
    with pytest.raises(InputError, match="NaN"):
        PLSRegressionCV().fit(np.where(X > 0.5, np.nan, X), y)
    model = PLSRegressionCV(max_components=2).fit(X, y)
    with pytest.raises(InputError, match="expecting 60 features"):
        model.predict(X[:, :10])


# check_array_api_input skips itself (SkipTest) unless SCIPY_ARRAY_API is set: the estimator is
# numpy-only. No other check is skipped.
@parametrize_with_checks([PLSRegressionCV(max_components=5)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
