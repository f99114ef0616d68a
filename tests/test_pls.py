import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cross_decomposition import PLSRegression

from spectralfm.errors import InputError
from spectralfm.transfer.pls import PLSRegressionCV, choose_n_components, truncated_coefficients


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
    np.testing.assert_allclose(
        model.predict(X + 5.0), model.model_.predict(X + 5.0).ravel(), atol=1e-10
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
