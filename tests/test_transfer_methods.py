import numpy as np
import pytest
from sklearn.base import clone

from spectralfm.errors import InputError
from spectralfm.transfer import CLASSICAL_METHODS, METHODS, make_method
from spectralfm.transfer.base import TransferTask
from spectralfm.transfer.ds import DS
from spectralfm.transfer.epo import EPO
from spectralfm.transfer.pds import PDS
from spectralfm.transfer.selection import kennard_stone, kennard_stone_split

P = 80
AXIS = np.linspace(0.0, 1.0, P)
PURE = np.stack([np.exp(-((AXIS - c) ** 2) / 0.005) for c in (0.2, 0.4, 0.6, 0.8)])


def spectra(n, seed):
    """Noise-free spectra of 4 constituents on a flat baseline; y is a mix of constituents."""
    C = np.random.default_rng(seed).uniform(0.2, 1.0, size=(n, 4))
    return C @ PURE + 0.1, C @ np.array([2.0, -1.0, 0.5, 1.0])


def make_task(transform, n_cal=40, n_std=15):
    """Master calibration set, standards = first n_std of it, target = transform(master)."""
    Xm, y = spectra(n_cal, seed=0)
    Xt = transform(Xm)
    return TransferTask(Xm, y, Xm[:n_std], Xt[:n_std], y[:n_std], Xt, y, AXIS * 1000 + 1000)


def banded(p, weights=(0.15, 0.8, 0.1)):
    F = np.zeros((p, p))
    for offset, w in zip((-1, 0, 1), weights, strict=True):
        F += w * np.eye(p, k=offset)
    return F


# ---------------------------------------------------------------- building blocks


def test_pds_recovers_a_banded_transform_exactly():
    # Unstructured spectra make every 3-channel window full rank, so the band is identifiable.
    Xt = np.random.default_rng(1).uniform(size=(40, P))
    F, offset = banded(P), 0.02 + 0.05 * AXIS
    Xm = Xt @ F + offset
    pds = PDS(window=1, n_components=None, alpha=1e-12).fit(Xt[:15], Xm[:15])
    np.testing.assert_allclose(pds.transformation_matrix(), F, atol=1e-8)
    np.testing.assert_allclose(pds.transform(Xt[15:]), Xm[15:], atol=1e-10)
    assert pds.get_params()["window"] == 1


def test_pds_edge_windows_only_use_existing_channels():
    Xt, _ = spectra(20, seed=2)
    pds = PDS(window=3).fit(Xt, Xt * 1.1)
    F = pds.transformation_matrix()
    assert F.shape == (P, P)
    assert np.count_nonzero(F[:, 0]) <= 4 and np.count_nonzero(F[:, -1]) <= 4
    assert np.all(F[np.abs(np.subtract.outer(np.arange(P), np.arange(P))) > 3] == 0)


def test_ds_recovers_a_full_linear_map_on_the_spectral_subspace():
    Xt, _ = spectra(40, seed=3)
    A = np.eye(P) + 0.01 * np.random.default_rng(0).normal(size=(P, P))
    Xm = Xt @ A + 0.03
    ds = DS(alpha=1e-10).fit(Xt[:15], Xm[:15])
    np.testing.assert_allclose(ds.transform(Xt[15:]), Xm[15:], atol=1e-8)


def test_epo_projects_out_the_difference_directions():
    Xm, _ = spectra(15, seed=4)
    g = np.exp(-((AXIS - 0.5) ** 2) / 0.02)
    Xt = Xm + np.outer(np.linspace(0.1, 1.0, 15), g)
    epo = EPO(n_components=3).fit(Xt, Xm)
    assert len(epo.components_) == 1  # the differences span one direction only
    np.testing.assert_allclose(epo.transform(g[None]), 0.0, atol=1e-10)
    np.testing.assert_allclose(epo.transform(Xt), epo.transform(Xm), atol=1e-10)


# ---------------------------------------------------------------- strategies on known shifts


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


@pytest.mark.parametrize(
    ("name", "params", "to_target"),
    [
        # wavelength-dependent gain and offset (detector response): a diagonal PDS map undoes it
        ("pds", {"window": 1, "n_components": None, "alpha": 1e-12},
         lambda X: X * (1.0 + 0.3 * AXIS) + 0.05 * AXIS**2),
        ("ds", {"alpha": 1e-10}, lambda X: 0.9 * X + 0.05 * AXIS),
        ("sst", {"n_components": 5}, lambda X: X + 0.05 + 0.1 * AXIS),
        # a one-channel wavelength shift
        ("sst", {"n_components": 5}, lambda X: np.roll(X, 1, axis=1)),
    ],
)  # fmt: skip
def test_spectral_transfer_matches_master_model_on_clean_data(name, params, to_target):
    task = make_task(to_target)
    method = make_method(name, **params).fit(task)
    no_transfer = make_method("no_transfer").fit(task)
    Xm_test, y_test = spectra(20, seed=9)
    Xt_test = to_target(Xm_test)
    master_pred = method.master_model_.predict(Xm_test)
    np.testing.assert_allclose(method.predict(Xt_test), master_pred, atol=1e-6)
    assert rmse(method.predict(Xt_test), y_test) < 0.01
    assert rmse(no_transfer.predict(Xt_test), y_test) > 10 * rmse(method.predict(Xt_test), y_test)


def test_sbc_recovers_a_pure_slope_and_bias_exactly():
    # Scaling every spectrum (and adding a flat offset) turns master predictions into an exact
    # linear function of themselves, which SBC must invert.
    task = make_task(lambda X: 1.25 * X + 0.07)
    sbc = make_method("sbc", fit_slope=True).fit(task)
    master = sbc.master_model_
    Xm_test, _ = spectra(20, seed=9)
    np.testing.assert_allclose(
        sbc.predict(1.25 * Xm_test + 0.07), master.predict(Xm_test), atol=1e-8
    )
    assert sbc.slope_ == pytest.approx(0.8)


def test_sbc_auto_keeps_a_slope_that_predicts_and_drops_one_that_cannot():
    task = make_task(lambda X: 1.25 * X + 0.07)
    assert make_method("sbc").fit(task).slope_ == pytest.approx(0.8)  # exact line: LOO error 0
    # Three replicate spectra of one sample, with scattered reference values: predictions nearly
    # equal, so an OLS slope would be arbitrary and huge.
    Xm, y = spectra(30, seed=0)
    rng = np.random.default_rng(7)
    reps = Xm[[0, 0, 0]] + 1e-5 * rng.normal(size=(3, P))
    y_std = y[0] + np.array([0.2, -0.15, 0.1])
    degenerate = TransferTask(Xm, y, reps, reps + 0.05, y_std)
    auto = make_method("sbc").fit(degenerate)
    assert auto.slope_ == 1.0
    assert abs(make_method("sbc", fit_slope=True).fit(degenerate).slope_) > 10
    assert np.mean(auto.predict(reps + 0.05)) == pytest.approx(np.mean(y_std))


@pytest.mark.parametrize("fit_slope", [True, False, "auto"])
def test_sbc_leaves_zero_mean_bias_on_its_standards(fit_slope):
    rng = np.random.default_rng(5)
    task = make_task(lambda X: 1.1 * X + 0.02 * rng.normal(size=X.shape) + 0.03)
    sbc = make_method("sbc", fit_slope=fit_slope).fit(task)
    bias = np.mean(sbc.predict(task.X_target_std) - task.y_std)
    assert abs(bias) < 1e-10
    uncorrected = np.mean(sbc.master_model_.predict(task.X_target_std) - task.y_std)
    assert abs(uncorrected) > 0.1  # the shift was real


def test_epo_removes_a_known_interferent():
    g = np.exp(-((AXIS - 0.5) ** 2) / 0.02)
    amplitude = np.random.default_rng(6)

    def add_interferent(X):
        return X + np.outer(amplitude.uniform(0.2, 1.0, len(X)), g) + 0.05

    task = make_task(add_interferent)
    epo = make_method("epo", n_components=2).fit(task)
    Xm_test, y_test = spectra(20, seed=9)
    Xt_test = add_interferent(Xm_test)
    # components span the interferent and the offset: target and master spectra look alike
    np.testing.assert_allclose(epo.predict(Xt_test), epo.predict(Xm_test), atol=1e-8)
    assert rmse(epo.predict(Xt_test), y_test) < 0.01
    assert rmse(make_method("no_transfer").fit(task).predict(Xt_test), y_test) > 0.1


# ---------------------------------------------------------------- baselines and the registry


def test_baselines_use_what_they_are_allowed_to():
    task = make_task(lambda X: 1.2 * X + 0.1)
    Xm_test, y_test = spectra(20, seed=9)
    Xt_test = 1.2 * Xm_test + 0.1
    no_transfer = make_method("no_transfer").fit(task)
    np.testing.assert_allclose(
        no_transfer.predict(Xm_test), no_transfer.master_model_.predict(Xm_test)
    )
    assert rmse(make_method("target_full").fit(task).predict(Xt_test), y_test) < 0.01
    direct = make_method("target_direct").fit(
        TransferTask(
            task.X_master, task.y, task.X_master_std[:5], task.X_target_std[:5], task.y_std[:5]
        )  # fmt: skip
    )
    assert direct.model_.n_components_ <= 3  # leave-one-out on 5 standards
    no_cal = TransferTask(task.X_master, task.y, task.X_master_std, task.X_target_std, task.y_std)
    with pytest.raises(InputError, match="X_target_cal"):
        make_method("target_full").fit(no_cal)


def test_registry_and_scikit_learn_protocol():
    assert set(CLASSICAL_METHODS) <= set(METHODS)
    assert {"spectralfm", "spectralfm_scratch", "spectralfm_ttt"} <= set(METHODS)
    for name, cls in METHODS.items():
        assert cls.name == name
        method = make_method(name)
        assert clone(method).get_params() == method.get_params()
    assert not METHODS["no_transfer"].needs_standards and not METHODS["target_full"].needs_standards
    assert METHODS["pds"].needs_standards
    with pytest.raises(InputError, match="known: .*pds"):
        make_method("pdss")
    with pytest.raises(InputError, match="windw"):
        make_method("pds", windw=3)
    assert make_method("pds", window=7).window == 7


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
    fitted = make_method("pds").fit(make_task(lambda X: X))
    with pytest.raises(InputError, match="pds: expected target spectra"):
        fitted.predict(Xm[:, :10])
    with pytest.raises(InputError, match="non-finite"):
        fitted.predict(Xm * np.nan)


# ---------------------------------------------------------------- real corn data


@pytest.fixture(scope="module")
def corn(shared_data):
    folder = shared_data / "nir/Cargill_Corn"
    spectra_ = {
        name: np.loadtxt(folder / f"{name}_spectra.csv", delimiter=",", skiprows=1)
        for name in ("m5", "mp5", "mp6")
    }
    props = np.loadtxt(folder / "property_values.csv", delimiter=",", skiprows=1)
    cal, test = kennard_stone_split(spectra_["m5"], 60)
    return (
        spectra_,
        dict(zip(("moisture", "oil", "protein", "starch"), props.T, strict=True)),
        cal,
        test,
    )


def corn_rmsep(corn, name, target, prop, n_std, **params):
    X, props, cal, test = corn
    y = props[prop]
    Xm, Xt = X["m5"][cal], X[target][cal]
    std = kennard_stone(Xm, n_std)
    task = TransferTask(Xm, y[cal], Xm[std], Xt[std], y[cal][std], Xt, y[cal])
    method = make_method(name, **params).fit(task)
    return rmse(method.predict(X[target][test]), y[test])


def test_corn_quality_targets(corn):
    """The project's acceptance numbers (KS 60/20 split, KS standards, RMSEP on the 20 test rows)."""
    assert corn_rmsep(corn, "no_transfer", "mp5", "moisture", 10) > 1.0
    assert corn_rmsep(corn, "target_full", "mp5", "moisture", 10) <= 0.12
    assert corn_rmsep(corn, "target_full", "mp6", "moisture", 10) <= 0.17
    classical = [
        corn_rmsep(corn, m, "mp6", "moisture", 10) for m in ("pds", "ds", "sbc", "epo", "sst")
    ]
    assert min(classical) <= 0.23
    assert corn_rmsep(corn, "pds", "mp6", "protein", 10) <= 0.15


def test_code_modules_name_every_library_module_a_method_uses():
    """The workflow reruns a method's jobs when its module, the core or its code_modules change;
    a helper imported from elsewhere but not declared would go stale silently."""
    import importlib

    core = {"spectralfm.errors", "spectralfm.transfer.base", "spectralfm.transfer.pls"}
    for cls in (METHODS[name] for name in CLASSICAL_METHODS):
        module = importlib.import_module(cls.__module__)
        used = {getattr(obj, "__module__", None) for obj in vars(module).values() if callable(obj)}
        used = {m for m in used if m and m.startswith("spectralfm.")}
        assert used - core - {cls.__module__} <= set(cls.code_modules), cls.name
