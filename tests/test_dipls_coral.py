"""di-PLS and CORAL: transfer from unlabeled, unpaired target spectra.

Synthetic spectra have a known answer: three Gaussian bands (the chemistry) with y the first
band's concentration. Target pools are shuffled and never contain the test samples, so nothing
can lean on pairing.
"""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cross_decomposition import PLSRegression
from sklearn.exceptions import NotFittedError

from spectralfm.errors import InputError
from spectralfm.transfer.coral import CORAL
from spectralfm.transfer.dipls import DIPLS, relaxed_difference_factors, row_space_basis
from spectralfm.transfer.pls import PLSRegressionCV

GRID = np.linspace(0.0, 1.0, 120)


def band(centre, width):
    return np.exp(-0.5 * ((GRID - centre) / width) ** 2)


LOADINGS = np.array([band(0.3, 0.05), band(0.5, 0.08), band(0.7, 0.06)])


def chemistry(n, seed, noise=0.01):
    """Master-like spectra 1 + T P + noise and y = T[:, 0]."""
    rng = np.random.default_rng(seed)
    T = rng.normal(size=(n, 3))
    return 1.0 + T @ LOADINGS + noise * rng.normal(size=(n, GRID.size)), T[:, 0]


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


# ------------------------------------------------------------------------------------- di-PLS


def test_dipls_lambda_zero_is_ordinary_pls():
    Xs, y = chemistry(40, seed=1)
    Xt, _ = chemistry(30, seed=2)
    Xt = 1.1 * Xt + 0.2
    model = DIPLS(n_components=5, lambda_=0.0).fit(Xs, y, Xt)
    for k in range(1, 6):
        pls = PLSRegression(n_components=k, scale=False).fit(Xs, y)
        # on the source: the same model; on the target: the same model with target centring
        np.testing.assert_allclose(
            model.predict_path(Xs, domain="source")[:, k - 1], pls.predict(Xs).ravel(), atol=1e-9
        )
        shifted = Xt - Xt.mean(axis=0) + Xs.mean(axis=0)
        np.testing.assert_allclose(
            model.predict_path(Xt)[:, k - 1], pls.predict(shifted).ravel(), atol=1e-9
        )
    np.testing.assert_allclose(model.predict(Xt), model.predict_path(Xt)[:, -1])
    np.testing.assert_allclose(model.predict(Xt), Xt @ model.coef_ + model.intercept_)


def test_dipls_weight_is_the_closed_form_solution():
    """First weight = (y'y I + lambda |C_s - C_t|)^-1 X_s'y, normalised, with |.| the eigenvalue
    magnitudes: checked against a dense p x p solve."""
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(30, 25))
    y = Xs[:, :3].sum(axis=1) + 0.1 * rng.normal(size=30)
    Xt = rng.normal(size=(20, 25)) * np.linspace(0.5, 2.0, 25) + 0.3
    lam = 5.0
    model = DIPLS(n_components=1, lambda_=lam).fit(Xs, y, Xt)
    D = np.cov(Xs, rowvar=False) - np.cov(Xt, rowvar=False)
    vals, vecs = np.linalg.eigh(D)
    abs_D = (vecs * np.abs(vals)) @ vecs.T
    Xc, yc = Xs - Xs.mean(axis=0), y - y.mean()
    w = np.linalg.solve((yc @ yc) * np.eye(25) + lam * abs_D, Xc.T @ yc)
    w /= np.linalg.norm(w)
    assert abs(abs(w @ model.x_weights_[:, 0]) - 1.0) < 1e-10
    ts, tt = Xc @ w, (Xt - Xt.mean(axis=0)) @ w
    assert model.discrepancy_[0] == pytest.approx(ts.var(ddof=1) - tt.var(ddof=1))


def artefact_amplitudes(n, seed, uncorrelated_with=None):
    """Instrument-artefact amplitudes, std 3; optionally with zero sample correlation to the given
    columns, so that in the pool the artefact is exactly independent of the chemistry (by chance
    correlation, 60 samples can otherwise trade artefact variance against chemistry variance)."""
    a = np.random.default_rng(seed).normal(size=n)
    if uncorrelated_with is not None:
        B = np.column_stack([np.ones(n), uncorrelated_with])
        a = a - B @ np.linalg.lstsq(B, a, rcond=None)[0]
    return 3.0 * a / a.std()


def test_dipls_ignores_a_target_only_artefact_that_fools_pls():
    # Target spectra: the same chemistry, plus a strong artefact band at 0.38 (overlapping the
    # analyte band at 0.30) with random amplitude, plus an offset. Ordinary PLS's regression
    # vector has a large component along the artefact, so each target spectrum is off by
    # amplitude x b.d; di-PLS sees the extra target variance along d and turns its weights away.
    direction = band(0.38, 0.06)
    direction /= np.linalg.norm(direction)
    rng = np.random.default_rng(1)
    T = rng.normal(size=(60, 3))
    Xs, ys = 1.0 + T @ LOADINGS + 0.01 * rng.normal(size=(60, GRID.size)), T[:, 0]
    # the pool: the calibration samples measured on the target, shuffled, without y (the same
    # chemistry, so separate centring is exact; see the module docstring of dipls.py)
    pool = 1.0 + T @ LOADINGS + 0.01 * rng.normal(size=(60, GRID.size)) + 0.5
    pool = (pool + np.outer(artefact_amplitudes(60, 2, uncorrelated_with=T), direction))[
        rng.permutation(60)
    ]
    X_new, y_new = chemistry(40, seed=3)  # new samples on the target
    Xt_test = X_new + np.outer(artefact_amplitudes(40, 4), direction) + 0.5

    pls = DIPLS(n_components=4, lambda_=0.0).fit(Xs, ys, pool)
    dipls = DIPLS(n_components=4, lambda_=1000.0).fit(Xs, ys, pool)
    err_pls, err_dipls = rmse(pls.predict(Xt_test), y_new), rmse(dipls.predict(Xt_test), y_new)
    assert err_pls > 0.3  # y has unit spread: PLS is badly off on the target
    assert err_dipls < 0.1 * err_pls
    assert err_dipls < 0.05
    # still a good source model (noise-level error), and the penalty did its job
    assert rmse(dipls.predict(Xs, domain="source"), ys) < 0.01
    assert np.abs(dipls.discrepancy_).sum() < 0.05 * np.abs(pls.discrepancy_).sum()
    assert abs(dipls.coef_ @ direction) / np.linalg.norm(dipls.coef_) < 0.05
    assert abs(pls.coef_ @ direction) / np.linalg.norm(pls.coef_) > 0.3


def test_dipls_target_offset_does_not_matter():
    Xs, ys = chemistry(40, seed=1)
    pool, _ = chemistry(30, seed=2)
    Xt, _ = chemistry(10, seed=3)
    a = DIPLS(3, lambda_=10.0).fit(Xs, ys, pool)
    b = DIPLS(3, lambda_=10.0).fit(Xs, ys, pool + 0.7)
    np.testing.assert_allclose(a.predict(Xt), b.predict(Xt + 0.7), atol=1e-10)


def test_dipls_shared_basis_and_factors_give_the_same_fit():
    """DIPLSTransfer computes the row-space basis and the first latent variable's factorisation
    once per sub-fit and passes them to every domain weight: the fits must not change."""
    Xs, ys = chemistry(40, seed=1)
    pool, _ = chemistry(30, seed=2)
    pool = pool * np.linspace(0.9, 1.2, GRID.size)
    Xs_c, pool_c = Xs - Xs.mean(axis=0), pool - pool.mean(axis=0)
    basis = row_space_basis(Xs_c, pool_c)
    factors = relaxed_difference_factors(Xs_c @ basis, pool_c @ basis)
    for lam in (0.0, 10.0, 1000.0):
        a = DIPLS(4, lambda_=lam).fit(Xs, ys, pool)
        b = DIPLS(4, lambda_=lam).fit(Xs, ys, pool, basis=basis, factors=factors)
        np.testing.assert_allclose(a.coef_path_, b.coef_path_, atol=1e-12)
    with pytest.raises(InputError, match=r"basis: expected shape \(120, r\)"):
        DIPLS(4, 1.0).fit(Xs, ys, pool, basis=basis[:-1])
    with pytest.raises(InputError, match="factors: given without the basis"):
        DIPLS(4, 1.0).fit(Xs, ys, pool, factors=factors)


def test_dipls_params_and_errors():
    Xs, ys = chemistry(20, seed=1)
    Xt, _ = chemistry(10, seed=2)
    model = DIPLS(n_components=3, lambda_=2.5)
    assert clone(model).get_params() == {"n_components": 3, "lambda_": 2.5}
    with pytest.raises(NotFittedError):
        model.predict(Xt)
    bad = [
        (DIPLS(3, -1.0), (Xs, ys, Xt), "lambda_=-1.0"),
        (DIPLS(3, float("nan")), (Xs, ys, Xt), "lambda_"),
        (DIPLS(0, 1.0), (Xs, ys, Xt), "n_components=0"),
        (DIPLS(2.5, 1.0), (Xs, ys, Xt), "n_components=2.5"),
        (DIPLS(20, 1.0), (Xs, ys, Xt), "at most"),
        (DIPLS(3, 1.0), (Xs, ys, Xt[:, :-1]), "X_target_unlabeled: has 119 wavelengths"),
        (DIPLS(3, 1.0), (Xs, ys, Xt[:1]), "X_target_unlabeled: needs at least 2"),
        (DIPLS(3, 1.0), (Xs, ys[:-1], Xt), r"y: expected shape \(20,\)"),
        (DIPLS(3, 1.0), (Xs[0], ys, Xt), "X_source: expected a 2-D array"),
        (
            DIPLS(3, 1.0),
            (np.where(Xs > 1.5, np.nan, Xs), ys, Xt),
            "X_source: contains non-finite",
        ),
        (DIPLS(3, 1.0), (Xs, np.zeros(20), Xt), "constant reference values"),
    ]
    for est, args, message in bad:
        with pytest.raises(InputError, match=message):
            est.fit(*args)
    model.fit(Xs, ys, Xt)
    with pytest.raises(InputError, match="DIPLS.predict X: has 119 wavelengths"):
        model.predict(Xt[:, :-1])
    with pytest.raises(InputError, match="domain='master'"):
        model.predict(Xt, domain="master")


# ------------------------------------------------------------------------------------- CORAL


def mixed_target(seed=0, n=80, p=150, k=4):
    """Master of rank k around a mean; target = master scores mixed by an invertible M within the
    subspace, plus an offset, rows shuffled (no pairing)."""
    rng = np.random.default_rng(seed)
    V0 = np.linalg.qr(rng.normal(size=(p, k)))[0]
    mean = 1.0 + np.sin(np.linspace(0.0, 3.0, p))
    Z = rng.normal(size=(n, k)) * np.array([3.0, 2.0, 1.0, 0.5])[:k]
    M = np.eye(k) + 0.4 * rng.normal(size=(k, k))
    assert np.linalg.cond(M) < 100
    Xm = mean + Z @ V0.T
    Xt = (mean + (Z @ M) @ V0.T + 0.3 * rng.normal(size=p))[rng.permutation(n)]
    return Xt, Xm


def test_coral_matches_master_mean_and_covariance():
    Xt, Xm = mixed_target()
    coral = CORAL(n_components=10, eps=0.0).fit(Xt, Xm)
    assert coral.n_components_ == 4  # capped by the master's rank
    aligned = coral.transform(Xt)
    np.testing.assert_allclose(aligned.mean(axis=0), Xm.mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(np.cov(aligned, rowvar=False), np.cov(Xm, rowvar=False), atol=1e-10)
    # the ridge (relative to the mean eigenvalue) makes the match approximate, to about its size
    # over the target's smallest subspace eigenvalue
    for eps in (1e-6, 1e-3):
        coral = CORAL(n_components=10, eps=eps).fit(Xt, Xm)
        V = coral.components_.T
        got = np.cov((coral.transform(Xt) - Xm.mean(axis=0)) @ V, rowvar=False)
        want = np.cov((Xm - Xm.mean(axis=0)) @ V, rowvar=False)
        ridge = eps * np.trace(want) / len(want)
        smallest = np.linalg.eigvalsh(np.cov((Xt - Xt.mean(axis=0)) @ V, rowvar=False))[0]
        assert np.abs(got - want).max() < 2 * ridge / smallest * np.abs(want).max()


def test_coral_removes_a_pure_offset_exactly():
    Xm, _ = chemistry(50, seed=1)
    offset = 0.2 + 0.3 * GRID
    pool = (Xm + offset)[np.random.default_rng(0).permutation(50)]
    coral = CORAL().fit(pool, Xm)
    np.testing.assert_allclose(coral.transform(Xm + offset), Xm, atol=1e-10)
    np.testing.assert_allclose(coral.alignment_, np.eye(coral.n_components_), atol=1e-10)


def test_coral_leaves_the_rest_of_the_spectrum_alone_but_shifted():
    Xm, _ = chemistry(50, seed=1)
    pool, _ = chemistry(40, seed=2)
    pool = 1.3 * pool + 0.1
    coral = CORAL(n_components=3).fit(pool, Xm)
    X, _ = chemistry(5, seed=3)
    change = coral.transform(X) - X - (coral.mean_master_ - coral.mean_target_)
    V = coral.components_.T
    np.testing.assert_allclose(change - change @ V @ V.T, 0.0, atol=1e-10)


def test_coral_makes_a_master_model_work_on_the_target():
    gain, baseline = 1.0 + 0.3 * GRID, 0.2 + 0.3 * GRID  # wavelength-dependent gain and baseline

    def instrument(X):
        return X * gain + baseline

    Xm, ym = chemistry(60, seed=1)
    pool, _ = chemistry(60, seed=2)  # other samples, unlabeled
    Xtest, ytest = chemistry(40, seed=3)
    model = PLSRegression(n_components=3, scale=False).fit(Xm, ym)
    raw = rmse(model.predict(instrument(Xtest)).ravel(), ytest)
    coral = CORAL(n_components=5).fit(instrument(pool), Xm)
    aligned = rmse(model.predict(coral.transform(instrument(Xtest))).ravel(), ytest)
    assert raw > 0.3
    assert aligned < 0.5 * raw


def test_coral_caps_components_by_rows():
    Xm, _ = chemistry(50, seed=1)
    pool, _ = chemistry(6, seed=2)
    assert CORAL(n_components=10).fit(pool, Xm).n_components_ == 5  # n_target - 1


def test_coral_params_and_errors():
    Xm, _ = chemistry(20, seed=1)
    Xt, _ = chemistry(10, seed=2)
    coral = CORAL(n_components=4, eps=0.01)
    assert clone(coral).get_params() == {"n_components": 4, "eps": 0.01}
    with pytest.raises(NotFittedError):
        coral.transform(Xt)
    bad = [
        (CORAL(eps=-0.1), (Xt, Xm), "eps=-0.1"),
        (CORAL(eps=float("inf")), (Xt, Xm), "eps"),
        (CORAL(n_components=0), (Xt, Xm), "n_components=0"),
        (CORAL(n_components="5"), (Xt, Xm), "n_components='5'"),
        (CORAL(), (Xt[:, :-1], Xm), "X_target: has 119 wavelengths"),
        (CORAL(), (Xt[:2], Xm), "X_target: needs at least 3"),
        (CORAL(), (Xt, Xm[:2]), "X_master: needs at least 3"),
        (CORAL(), (Xt, np.ones((5, 120))), "X_master: all spectra are identical"),
        (CORAL(), (Xt, Xm[0]), "X_master: expected a 2-D array"),
    ]
    for est, args, message in bad:
        with pytest.raises(InputError, match=message):
            est.fit(*args)
    coral.fit(Xt, Xm)
    with pytest.raises(InputError, match="CORAL.transform X: has 119 wavelengths"):
        coral.transform(Xt[:, :-1])
    np.testing.assert_allclose(CORAL(4, 0.01).fit_transform(Xt, Xm), coral.transform(Xt))


# ---------------------------------------------------------------------------- real data: corn


@pytest.fixture(scope="module")
def corn_split(shared_data):
    from spectralfm.datasets import read_corn_mat

    corn = read_corn_mat(shared_data / "corn.mat")
    Xm, Xt, y = corn.instrument("m5"), corn.instrument("mp6"), corn.property("moisture")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    cal, test = order[:60], order[60:]
    pool = Xt[cal][rng.permutation(len(cal))]  # the target spectra of the 60, shuffled, unlabeled
    return Xm[cal], y[cal], pool, Xt[test], y[test]


def test_corn_m5_to_mp6_moisture_smoke(corn_split):
    """No threshold on real data: finite predictions, and the RMSEPs are printed (-s to see)."""
    Xm, y, pool, Xt_test, yt_test = corn_split
    master = PLSRegressionCV().fit(Xm, y)
    no_transfer = rmse(master.predict(Xt_test), yt_test)
    dipls = DIPLS(n_components=10, lambda_=1e6).fit(Xm, y, pool)
    pred_dipls = dipls.predict(Xt_test)
    coral = CORAL(n_components=10).fit(pool, Xm)
    pred_coral = master.predict(coral.transform(Xt_test))
    assert pred_dipls.shape == pred_coral.shape == (20,)
    assert np.all(np.isfinite(pred_dipls)) and np.all(np.isfinite(pred_coral))
    print(
        f"\ncorn m5->mp6 moisture RMSEP: no transfer {no_transfer:.3f}, "
        f"di-PLS(10 LV, lambda 1e6) {rmse(pred_dipls, yt_test):.3f}, "
        f"CORAL(k=10)+PLS({master.n_components_} LV) {rmse(pred_coral, yt_test):.3f}"
    )
