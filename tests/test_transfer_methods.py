"""Transfer methods: the building blocks (PDS, DS, EPO, SST maps), each strategy on a known
instrument change, the baselines, the registry and the scikit-learn protocol.

Where a test needs an exact answer the hyper-parameters are fixed (preprocessing "none", a fixed
master latent-variable count), so nothing is chosen inside fit and the method's master model is
exactly the `no_transfer` model with the same settings.
"""

import inspect

import numpy as np
import pytest
from sklearn.base import clone

from spectralfm.errors import InputError
from spectralfm.transfer import CLASSICAL_METHODS, METHOD_CLASSES, make_method
from spectralfm.transfer.base import TransferTask
from spectralfm.transfer.coral import CORAL
from spectralfm.transfer.ds import DS
from spectralfm.transfer.epo import EPO
from spectralfm.transfer.pds import PDS
from spectralfm.transfer.protocol import build_task
from spectralfm.transfer.registry import (
    AUTO,
    check_method_params,
    is_foundation,
    method_class,
    method_defaults,
)
from spectralfm.transfer.selection import kennard_stone, kennard_stone_split
from spectralfm.transfer.sst import SST

pytestmark = pytest.mark.usefixtures("one_blas_thread")


P = 80
AXIS = np.linspace(0.0, 1.0, P)
PURE = np.stack([np.exp(-((AXIS - c) ** 2) / 0.005) for c in (0.2, 0.4, 0.6, 0.8)])
FIXED = {"preprocessing": "none", "master_components": 4}  # nothing chosen inside fit


def spectra(n, seed):
    """Noise-free spectra of 4 constituents on a flat baseline; y is a mix of constituents."""
    C = np.random.default_rng(seed).uniform(0.2, 1.0, size=(n, 4))
    return C @ PURE + 0.1, C @ np.array([2.0, -1.0, 0.5, 1.0])


def noisy_spectra(n, seed, noise=0.002):
    X, y = spectra(n, seed)
    return X + noise * np.random.default_rng(seed + 100).normal(size=X.shape), y


def make_task(transform, n_cal=40, n_std=15):
    """Master calibration set, standards = its first n_std rows, target = transform(master)."""
    Xm, y = spectra(n_cal, seed=0)
    Xt = transform(Xm)
    return TransferTask(
        Xm,
        y,
        Xm[:n_std],
        Xt[:n_std],
        y[:n_std],
        Xt,
        y,
        AXIS * 1000 + 1000,
        std_index=np.arange(n_std),
    )


def banded(p, weights=(0.15, 0.8, 0.1)):
    F = np.zeros((p, p))
    for offset, w in zip((-1, 0, 1), weights, strict=True):
        F += w * np.eye(p, k=offset)
    return F


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


# ---------------------------------------------------------------- building blocks


@pytest.mark.parametrize(
    "params",
    [
        {"regularization": "tsvd", "n_components": None, "alpha": 1e-12},
        # a PLS with as many components as the window has channels is the least-squares fit
        {"regularization": "pls", "n_components": 3},
    ],
)
def test_pds_recovers_a_banded_transform_exactly(params):
    # Unstructured spectra make every 3-channel window full rank, so the band is identifiable.
    Xt = np.random.default_rng(1).uniform(size=(40, P))
    F, offset = banded(P), 0.02 + 0.05 * AXIS
    Xm = Xt @ F + offset
    pds = PDS(window=1, **params).fit(Xt[:15], Xm[:15])
    np.testing.assert_allclose(pds.transformation_matrix(), F, atol=1e-6)
    np.testing.assert_allclose(pds.offset_, offset, atol=1e-6)
    np.testing.assert_allclose(pds.transform(Xt[15:]), Xm[15:], atol=1e-6)
    assert pds.get_params()["window"] == 1


def test_pds_with_components_is_the_refitted_model():
    rng = np.random.default_rng(2)
    Xt = rng.uniform(size=(12, P))
    Xm = Xt @ banded(P) + 0.05 * rng.normal(size=Xt.shape)
    wide = PDS(window=2, n_components=3).fit(Xt, Xm)
    for k in (1, 2, 3):
        fresh = PDS(window=2, n_components=k).fit(Xt, Xm)
        np.testing.assert_allclose(
            wide.with_components(k).transform(Xm), fresh.transform(Xm), atol=1e-10
        )
    # one component is not the full window fit: the path really differs between counts
    assert not np.allclose(wide.with_components(1).coef_, wide.coef_)


def test_pds_edge_windows_only_use_existing_channels():
    Xt, _ = spectra(20, seed=2)
    pds = PDS(window=3).fit(Xt, Xt * 1.1)
    F = pds.transformation_matrix()
    assert F.shape == (P, P)
    assert np.count_nonzero(F[:, 0]) <= 4 and np.count_nonzero(F[:, -1]) <= 4
    assert np.all(F[np.abs(np.subtract.outer(np.arange(P), np.arange(P))) > 3] == 0)
    assert not pds.valid_[0, :3].any() and pds.valid_[0, 3:].all()  # clipped, flagged invalid
    assert np.all(pds.coef_[~pds.valid_] == 0)


def test_pds_rejects_a_bad_window():
    Xt, _ = spectra(10, seed=3)
    with pytest.raises(InputError, match="window"):
        PDS(window=-1).fit(Xt, Xt)
    with pytest.raises(InputError, match="n_components"):
        PDS(window=1, n_components=None).fit(Xt, Xt)  # 'pls' needs a count


def test_ds_recovers_a_full_linear_map_on_the_spectral_subspace():
    Xt, _ = spectra(40, seed=3)
    A = np.eye(P) + 0.01 * np.random.default_rng(0).normal(size=(P, P))
    Xm = Xt @ A + 0.03
    ds = DS(alpha=1e-10).fit(Xt[:15], Xm[:15])
    np.testing.assert_allclose(ds.transform(Xt[15:]), Xm[15:], atol=1e-8)
    np.testing.assert_allclose(
        ds.transform(Xt[15:]), (Xt[15:] - ds.mean_target_) @ ds.F_ + ds.mean_master_, atol=1e-12
    )


def test_epo_projects_out_the_difference_directions():
    Xm, _ = spectra(15, seed=4)
    g = np.exp(-((AXIS - 0.5) ** 2) / 0.02)
    Xt = Xm + np.outer(np.linspace(0.1, 1.0, 15), g)
    epo = EPO(n_components=3).fit(Xt, Xm)
    assert len(epo.components_) == 1  # the differences span one direction only
    np.testing.assert_allclose(epo.transform(g[None]), 0.0, atol=1e-10)
    np.testing.assert_allclose(epo.transform(Xt), epo.transform(Xm), atol=1e-10)


def test_sst_maps_standards_of_an_offset_instrument_onto_the_master():
    Xm, _ = spectra(15, seed=5)
    Xt = Xm + 0.05 + 0.1 * AXIS
    sst = SST(n_components=5).fit(Xt, Xm)
    np.testing.assert_allclose(sst.transform(Xt), Xm, atol=1e-10)


@pytest.mark.parametrize(
    ("correction", "settings"),
    [
        (EPO, [{"n_components": k} for k in (1, 2, 4)]),
        (DS, [{"n_components": k} for k in (1, 3, None)] + [{"regularization": "ridge"}]),
        (SST, [{"n_components": k} for k in (1, 2, 5)]),
        (CORAL, [{"n_components": k} for k in (2, 5)] + [{"eps": 0.1}]),
    ],
)
def test_shared_factors_give_the_same_correction_and_wrong_ones_are_refused(correction, settings):
    """The tuned composites factorize once per sub-fit and pass it to every candidate's fit."""
    Xm, _ = noisy_spectra(15, seed=6)
    Xt = 1.02 * Xm + 0.03 + 0.05 * AXIS
    factors = correction.factorize(Xt, Xm)
    for params in settings:
        alone = correction(**params).fit(Xt, Xm)
        shared = correction(**params).fit(Xt, Xm, factors=factors)
        np.testing.assert_allclose(shared.transform(Xt), alone.transform(Xt), rtol=0, atol=1e-12)
    wrong = correction.factorize(Xt[:, :-1], Xm[:, :-1])
    with pytest.raises(InputError, match=rf"{correction.__name__}.fit factors: .*factorize"):
        correction(**settings[0]).fit(Xt, Xm, factors=wrong)


# ---------------------------------------------------------------- strategies on known shifts


@pytest.mark.parametrize(
    ("name", "params", "to_target"),
    [
        # wavelength-dependent gain and offset (detector response): a per-window map undoes it
        (
            "pds",
            {"window": 1, "n_components": 3},
            lambda X: X * (1.0 + 0.3 * AXIS) + 0.05 * AXIS**2,
        ),
        ("ds", {"n_components": 5, "alpha": 1e-10}, lambda X: 0.9 * X + 0.05 * AXIS),
        ("sst", {"n_components": 5}, lambda X: X + 0.05 + 0.1 * AXIS),
        # a one-channel wavelength shift
        ("sst", {"n_components": 5}, lambda X: np.roll(X, 1, axis=1)),
    ],
)
def test_spectral_transfer_matches_master_model_on_clean_data(name, params, to_target):
    task = make_task(to_target)
    method = make_method(name, **params, **FIXED).fit(task)
    master = make_method("no_transfer", **FIXED).fit(task)  # the same master PLS
    Xm_test, y_test = spectra(20, seed=9)
    Xt_test = to_target(Xm_test)
    np.testing.assert_allclose(method.predict(Xt_test), master.predict(Xm_test), atol=1e-8)
    assert rmse(method.predict(Xt_test), y_test) < 0.01
    assert rmse(master.predict(Xt_test), y_test) > 10 * rmse(method.predict(Xt_test), y_test)
    tunable = {k: v for k, v in params.items() if k in method.TUNABLE}
    # every setting is recorded: the fixed ones given here and the defaults of the others
    expected = {**method.get_params(), **tunable, "master_components": 4, "tuned": []}
    del expected["preprocessing"]
    assert method.params_ == expected
    assert method.preprocessing_ == "none"


def test_pds_with_one_component_per_window_is_close_but_not_exact():
    def to_target(X):
        return X * (1.0 + 0.3 * AXIS) + 0.05 * AXIS**2

    task = make_task(to_target)
    pds = make_method("pds", window=1, n_components=1, **FIXED).fit(task)
    master = make_method("no_transfer", **FIXED).fit(task)
    Xm_test, _ = spectra(20, seed=9)
    gap = np.abs(pds.predict(to_target(Xm_test)) - master.predict(Xm_test)).max()
    assert 1e-8 < gap < 0.01


def test_sbc_recovers_a_pure_slope_and_bias_exactly():
    # Scaling every spectrum (and adding a flat offset) turns master predictions into an exact
    # linear function of themselves, which SBC must invert.
    task = make_task(lambda X: 1.25 * X + 0.07)
    sbc = make_method("sbc", fit_slope=True, **FIXED).fit(task)
    master = make_method("no_transfer", **FIXED).fit(task)
    Xm_test, _ = spectra(20, seed=9)
    Xt_test = 1.25 * Xm_test + 0.07
    np.testing.assert_allclose(sbc.predict(Xt_test), master.predict(Xm_test), atol=1e-8)
    # the fitted line maps master predictions on target spectra back: slope 1 / 1.25
    slope = np.polyfit(master.predict(Xt_test), sbc.predict(Xt_test), 1)[0]
    assert slope == pytest.approx(0.8)
    # bias only cannot undo a gain
    bias_only = make_method("sbc", fit_slope=False, **FIXED).fit(task)
    assert rmse(bias_only.predict(Xt_test), master.predict(Xm_test)) > 0.05


def test_sbc_auto_keeps_a_slope_that_predicts_and_drops_one_that_cannot():
    task = make_task(lambda X: 1.25 * X + 0.07)
    chosen = make_method("sbc", **FIXED).fit(task)
    assert chosen.params_["fit_slope"] is True  # an exact line: zero fold error with a slope
    assert chosen.params_["tuned"] == ["fit_slope"]
    # Three replicate spectra of one sample, with scattered reference values: predictions nearly
    # equal, so an OLS slope would be arbitrary and huge.
    Xm, y = spectra(30, seed=0)
    rng = np.random.default_rng(7)
    reps = Xm[[0, 0, 0]] + 1e-5 * rng.normal(size=(3, P))
    y_std = y[0] + np.array([0.2, -0.15, 0.1])
    degenerate = TransferTask(Xm, y, reps, reps + 0.05, y_std)
    master = make_method("no_transfer", **FIXED).fit(degenerate)
    auto = make_method("sbc", **FIXED).fit(degenerate)
    assert auto.params_["fit_slope"] is False
    forced = make_method("sbc", fit_slope=True, **FIXED).fit(degenerate)
    x = reps + 0.05
    slope = (forced.predict(x)[0] - forced.predict(x)[1]) / (
        master.predict(x)[0] - master.predict(x)[1]
    )
    assert abs(slope) > 10
    np.testing.assert_allclose(
        auto.predict(x) - master.predict(x), np.mean(y_std - master.predict(x))
    )
    assert np.mean(auto.predict(x)) == pytest.approx(np.mean(y_std))


@pytest.mark.parametrize("fit_slope", [True, False, "auto"])
def test_sbc_leaves_zero_mean_bias_on_its_standards(fit_slope):
    rng = np.random.default_rng(5)
    task = make_task(lambda X: 1.1 * X + 0.02 * rng.normal(size=X.shape) + 0.03)
    sbc = make_method("sbc", fit_slope=fit_slope, **FIXED).fit(task)
    bias = np.mean(sbc.predict(task.X_target_std) - task.y_std)
    assert abs(bias) < 1e-10
    master = make_method("no_transfer", **FIXED).fit(task)
    uncorrected = np.mean(master.predict(task.X_target_std) - task.y_std)
    assert abs(uncorrected) > 0.1  # the shift was real


def test_sbc_rejects_a_bad_fit_slope():
    with pytest.raises(InputError, match="fit_slope"):
        make_method("sbc", fit_slope="yes").fit(make_task(lambda X: X))


def test_epo_removes_a_known_interferent():
    g = np.exp(-((AXIS - 0.5) ** 2) / 0.02)
    amplitude = np.random.default_rng(6)

    def add_interferent(X):
        return X + np.outer(amplitude.uniform(0.2, 1.0, len(X)), g) + 0.05

    task = make_task(add_interferent)
    epo = make_method("epo", n_components=2, **FIXED).fit(task)
    Xm_test, y_test = spectra(20, seed=9)
    Xt_test = add_interferent(Xm_test)
    # components span the interferent and the offset: target and master spectra look alike
    np.testing.assert_allclose(epo.predict(Xt_test), epo.predict(Xm_test), atol=1e-8)
    assert rmse(epo.predict(Xt_test), y_test) < 0.01
    assert rmse(make_method("no_transfer", **FIXED).fit(task).predict(Xt_test), y_test) > 0.1


def _unlabeled_problem(to_target):
    """60 noisy samples: 40 calibration rows (10 standards), 20 test rows; target = to_target."""
    X, y = noisy_spectra(60, seed=0)
    cal, test, std = np.arange(40), np.arange(40, 60), np.arange(10)
    return X, to_target(X, cal), y, cal, test, std


def _fit_on(name, params, X, Xt, y, cal, std):
    task = build_task(X, Xt, y, cal, std, AXIS, method_class(name), seed=0)
    return make_method(name, **params).fit(task)


def test_coral_undoes_a_covariance_distortion_that_fools_the_master_model():
    def distort(X, cal):  # a wavelength-dependent gain about the calibration mean, plus offset
        mean = X[cal].mean(axis=0)
        return mean + (X - mean) * (1.0 + 0.8 * AXIS) + 0.05 + 0.1 * AXIS

    X, Xt, y, cal, test, std = _unlabeled_problem(distort)
    coral = _fit_on("coral", {"n_components": 5, **FIXED}, X, Xt, y, cal, std)
    nothing = _fit_on("no_transfer", FIXED, X, Xt, y, cal, std)
    assert rmse(coral.predict(Xt[test]), y[test]) < 0.3 * rmse(nothing.predict(Xt[test]), y[test])
    # without the pool there is nothing to align with
    with pytest.raises(InputError, match="coral"):
        make_method("coral", n_components=5, **FIXED).fit(
            TransferTask(X[cal], y[cal], X[std], Xt[std], y[std], std_index=std)
        )


def test_dipls_ignores_a_target_only_artefact_that_fools_the_master_model():
    g = np.exp(-((AXIS - 0.4) ** 2) / 0.01)  # on the second constituent's band
    amplitude = np.random.default_rng(3).uniform(0.0, 0.5, 60)

    def artefact(X, cal):
        return X + np.outer(amplitude, g)

    X, Xt, y, cal, test, std = _unlabeled_problem(artefact)
    std = std[:8]  # fewer than 9 standards: no CV+ fold models, one di-PLS fit
    dipls = _fit_on("dipls", {"domain_weight": 10.0, **FIXED}, X, Xt, y, cal, std)
    nothing = _fit_on("no_transfer", FIXED, X, Xt, y, cal, std)
    assert rmse(dipls.predict(Xt[test]), y[test]) < 0.3 * rmse(nothing.predict(Xt[test]), y[test])


# ---------------------------------------------------------------- baselines


def test_target_full_needs_the_target_calibration_set():
    task = make_task(lambda X: 1.2 * X + 0.1)
    Xm_test, y_test = spectra(20, seed=9)
    full = make_method("target_full", **FIXED).fit(task)
    assert rmse(full.predict(1.2 * Xm_test + 0.1), y_test) < 1e-6
    no_cal = TransferTask(task.X_master, task.y, task.X_master_std, task.X_target_std, task.y_std)
    with pytest.raises(InputError, match="X_target_cal"):
        make_method("target_full", **FIXED).fit(no_cal)
    with pytest.raises(InputError, match="X_target_cal"):
        make_method("target_full").fit(no_cal)


def test_target_direct_uses_only_the_standards_and_no_transfer_only_the_master():
    task = make_task(lambda X: 1.2 * X + 0.1)
    rng = np.random.default_rng(0)
    Xm_test, _ = spectra(20, seed=9)
    # other master calibration rows: target_direct does not change
    other_master = TransferTask(
        rng.uniform(size=task.X_master.shape),
        task.y[::-1].copy(),
        task.X_master_std,
        task.X_target_std,
        task.y_std,
    )
    direct = make_method("target_direct", **FIXED)
    np.testing.assert_array_equal(
        clone(direct).fit(task).predict(Xm_test), clone(direct).fit(other_master).predict(Xm_test)
    )
    # other standards: no_transfer does not change
    other_std = TransferTask(
        task.X_master, task.y, task.X_master_std[:3], rng.uniform(size=(3, P)), task.y_std[:3] + 5
    )
    nothing = make_method("no_transfer", **FIXED)
    np.testing.assert_array_equal(
        clone(nothing).fit(task).predict(Xm_test), clone(nothing).fit(other_std).predict(Xm_test)
    )
    with pytest.raises(InputError, match="at least 3"):
        make_method("target_direct", **FIXED).fit(
            TransferTask(
                task.X_master, task.y, task.X_master_std[:2], task.X_target_std[:2], task.y_std[:2]
            )
        )


# ---------------------------------------------------------------- the registry


def test_every_registered_method_imports_under_its_own_name():
    for name in METHOD_CLASSES:
        cls = method_class(name)
        assert cls.name == name
        assert is_foundation(name) == name.startswith("spectralfm")
    assert set(CLASSICAL_METHODS) == {n for n in METHOD_CLASSES if not is_foundation(n)}
    assert {"spectralfm", "spectralfm_scratch", "spectralfm_ttt"} <= set(METHOD_CLASSES)
    assert not method_class("no_transfer").needs_standards
    assert not method_class("target_full").needs_standards
    assert method_class("pds").needs_standards
    assert method_class("target_full").uses_target_calibration
    assert {n for n in CLASSICAL_METHODS if method_class(n).uses_unlabeled} == {"coral", "dipls"}
    assert {n for n in CLASSICAL_METHODS if method_class(n).uses_target_calibration} == {
        "target_full"
    }


@pytest.mark.parametrize("name", CLASSICAL_METHODS)
def test_ast_defaults_equal_the_signature_and_tunable_is_the_auto_set(name):
    cls = method_class(name)
    signature = {
        k: p.default for k, p in inspect.signature(cls.__init__).parameters.items() if k != "self"
    }
    assert method_defaults(name) == signature
    auto = {k for k, v in signature.items() if v == AUTO}
    assert set(cls.TUNABLE) == auto - {"preprocessing", "master_components"}
    assert {"preprocessing", "master_components", "max_components", "cv"} <= set(signature)
    for key, grid in cls.TUNABLE.items():
        assert len(grid) >= 2, (name, key)


def test_check_method_params_names_the_method_and_the_parameter():
    with pytest.raises(InputError, match=r"methods\.pds.*windw"):
        check_method_params("pds", {"windw": 3})
    with pytest.raises(InputError, match=r"methods\.pds\.regularization.*'auto'"):
        check_method_params("pds", {"regularization": "auto"})
    with pytest.raises(InputError, match=r"methods\.sbc\.max_components"):
        check_method_params("sbc", {"max_components": "auto"})
    with pytest.raises(InputError, match="known: .*pds"):
        make_method("pdss")
    with pytest.raises(InputError, match="windw"):
        make_method("pds", windw=3)
    check_method_params("pds", {"window": AUTO, "n_components": 2, "preprocessing": "snv"})
    assert make_method("pds", window=7).window == 7


@pytest.mark.parametrize("name", CLASSICAL_METHODS)
def test_clone_and_get_params_round_trip(name):
    method = make_method(name)
    assert clone(method).get_params() == method.get_params() == method_defaults(name)
    changed = make_method(name, cv=3, max_components=4)
    assert clone(changed).get_params()["cv"] == 3
    assert clone(changed).set_params(cv=4).cv == 4


def test_transfer_task_validates_shapes():
    Xm, y = spectra(10, seed=0)
    with pytest.raises(InputError, match="X_target_std"):
        TransferTask(Xm, y, Xm[:3], Xm[:4], y[:3])
    with pytest.raises(InputError, match="y_std"):
        TransferTask(Xm, y, Xm[:3], Xm[:3], y[:2])
    with pytest.raises(InputError, match="X_master_std"):
        TransferTask(Xm, y, Xm[:3, :10], Xm[:3], y[:3])
    with pytest.raises(InputError, match="non-finite"):
        TransferTask(Xm, y * np.nan, Xm[:3], Xm[:3], y[:3])
    with pytest.raises(InputError, match="std_index"):
        TransferTask(Xm, y, Xm[:3], Xm[:3], y[:3], std_index=[0, 1, 10])
    with pytest.raises(InputError, match="give both"):
        TransferTask(Xm, y, Xm[:3], Xm[:3], y[:3], X_target_cal=Xm)
    with pytest.raises(InputError, match="X_target_unlabeled"):
        TransferTask(Xm, y, Xm[:3], Xm[:3], y[:3], X_target_unlabeled=Xm[:, :5])
    fitted = make_method("pds", **FIXED, window=1, n_components=1).fit(make_task(lambda X: X))
    with pytest.raises(InputError, match="pds: expected target spectra"):
        fitted.predict(Xm[:, :10])
    with pytest.raises(InputError, match="non-finite"):
        fitted.predict(Xm * np.nan)
    with pytest.raises(InputError, match="call fit"):
        make_method("pds").predict(Xm)
    with pytest.raises(InputError, match="TransferTask"):
        make_method("pds").fit(Xm)


# ---------------------------------------------------------------- real corn data


@pytest.fixture(scope="module")
def corn(shared_data):
    from spectralfm.datasets import read_corn_mat

    data = read_corn_mat(shared_data / "corn.mat")
    cal, test = kennard_stone_split(data.instrument("m5"), 60)
    return data, np.sort(cal), test


def corn_rmsep(corn, name, target, prop, n_std, **params):
    data, cal, test = corn
    y = data.property(prop)
    Xm, Xt = data.instrument("m5")[cal], data.instrument(target)[cal]
    std = kennard_stone(Xm, n_std)
    task = TransferTask(Xm, y[cal], Xm[std], Xt[std], y[cal][std], Xt, y[cal], std_index=std)
    method = make_method(name, **params).fit(task)
    return rmse(method.predict(data.instrument(target)[test]), y[test])


def test_corn_quality_targets(corn):
    """The project's acceptance numbers (KS 60/20 split, KS standards, RMSEP on the 20 test rows),
    every setting chosen inside fit."""
    assert corn_rmsep(corn, "no_transfer", "mp5", "moisture", 10) > 1.0
    assert corn_rmsep(corn, "target_full", "mp5", "moisture", 10) <= 0.12
    assert corn_rmsep(corn, "target_full", "mp6", "moisture", 10) <= 0.17
    classical = [
        corn_rmsep(corn, m, "mp6", "moisture", 10) for m in ("pds", "ds", "sbc", "epo", "sst")
    ]
    assert min(classical) <= 0.23
    assert corn_rmsep(corn, "pds", "mp6", "protein", 10) <= 0.15
