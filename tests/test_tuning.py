"""Tuning inside fit and CV+ intervals (spectralfm.transfer.tuning).

What must hold: nothing about a test row reaches any choice or fitted state; the inner validation
never lets a held-out standard in through any door (standards, master calibration, unlabeled
pool); the one-SE choice and the CV+ bounds follow their definitions; and CV+ covers at the rate
it promises on a problem with a known instrument change.
"""

import json
import math
from itertools import combinations

import numpy as np
import pytest

from spectralfm.errors import InputError
from spectralfm.metrics import interval_metrics
from spectralfm.preprocessing import parse_preprocessing
from spectralfm.transfer import make_method, protocol
from spectralfm.transfer.base import TransferTask
from spectralfm.transfer.protocol import build_task
from spectralfm.transfer.registry import method_class
from spectralfm.transfer.tuning import (
    ALPHA,
    PREPROCESSING_GRID,
    cv_plus_interval,
    min_units_for_interval,
    shuffled_folds,
)

pytestmark = pytest.mark.usefixtures("one_blas_thread")


P = 40
AXIS = np.linspace(0.0, 1.0, P)
BANDS = np.stack([np.exp(-0.5 * ((AXIS - c) / 0.07) ** 2) for c in (0.25, 0.5, 0.75)])
BETA = np.array([3.0, -1.0, 2.0])


def draw(rng, n, noise=0.005):
    """Master spectra from three bands + noise; the target is the same samples with a gain, an
    offset and a wavelength shift of 1% of the range, plus its own noise; y linear in the
    concentrations plus reference noise."""
    C = rng.uniform(0.0, 1.0, size=(n, 3))
    clean = C @ BANDS + 0.1
    Xm = clean + noise * rng.normal(size=clean.shape)
    shifted = np.stack([np.interp(AXIS + 0.01, AXIS, x) for x in clean])
    Xt = 1.1 * shifted + 0.03 + noise * rng.normal(size=clean.shape)
    y = C @ BETA + 0.1 * rng.normal(size=n)
    return Xm, Xt, y


def synthetic_task(method, n_cal=30, n_std=12, seed=0):
    rng = np.random.default_rng(seed)
    Xm, Xt, y = draw(rng, n_cal)
    std = np.sort(rng.choice(n_cal, n_std, replace=False))
    return build_task(
        Xm, Xt, y, np.arange(n_cal), std, AXIS * 500 + 1000, method_class(method), seed
    )


# ---------------------------------------------------------------- building blocks


def test_shuffled_folds_partition_reproducibly():
    folds = shuffled_folds(23, 5, seed=3)
    assert len(folds) == 5
    assert sorted(np.concatenate(folds).tolist()) == list(range(23))
    assert sorted(len(f) for f in folds) == [4, 4, 5, 5, 5]
    again = shuffled_folds(23, 5, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again, strict=True))
    other = shuffled_folds(23, 5, seed=4)
    assert not all(np.array_equal(a, b) for a, b in zip(folds, other, strict=True))
    # shuffled, not contiguous blocks
    assert not all(np.all(np.diff(np.sort(f)) == 1) for f in folds)
    assert len(shuffled_folds(3, 5, seed=0)) == 3  # never more folds than units


def test_min_units_for_an_interval():
    # the smallest n with ceil((1 - alpha)(n + 1)) <= n
    assert min_units_for_interval(0.1) == 9
    assert min_units_for_interval(0.2) == 4
    assert min_units_for_interval(0.05) == 19


def test_cv_plus_bounds_are_the_order_statistics():
    n = 9  # ceil(0.9 * 10) = 9: the largest of mu + R; floor(0.1 * 10) = 1: the smallest of mu - R
    mu = np.arange(n, dtype=float)[:, None] * np.array([[1.0, -1.0]])  # two test points
    residuals = np.array([1.0, -2.0, 0.5, 0.0, 3.0, -1.0, 0.25, 2.0, -0.5])
    lo, hi = cv_plus_interval(mu, residuals, 0.1)
    r = np.abs(residuals)
    np.testing.assert_allclose(hi, [np.max(mu[:, 0] + r), np.max(mu[:, 1] + r)])
    np.testing.assert_allclose(lo, [np.min(mu[:, 0] - r), np.min(mu[:, 1] - r)])
    # n = 19, alpha 0.1: the 18th smallest of mu + R and the 2nd smallest of mu - R
    rng = np.random.default_rng(0)
    mu19, r19 = rng.normal(size=(19, 3)), rng.normal(size=19)
    lo, hi = cv_plus_interval(mu19, r19, 0.1)
    np.testing.assert_allclose(hi, np.sort(mu19 + np.abs(r19)[:, None], axis=0)[17])
    np.testing.assert_allclose(lo, np.sort(mu19 - np.abs(r19)[:, None], axis=0)[1])
    # too few units: no finite interval
    lo, hi = cv_plus_interval(mu[:8], residuals[:8], 0.1)
    assert np.all(lo == -np.inf) and np.all(hi == np.inf)
    lo, hi = cv_plus_interval(np.empty((0, 2)), np.empty(0), 0.1)
    assert np.all(lo == -np.inf) and np.all(hi == np.inf)


def test_without_standards_drops_their_master_rows_and_renumbers():
    rng = np.random.default_rng(0)
    Xm, y = rng.normal(size=(8, 5)), np.arange(8.0)
    std = np.array([6, 1, 4])
    task = TransferTask(Xm, y, Xm[std], Xm[std] + 1, y[std], Xm + 1, y, std_index=std)
    sub = task.without_standards(np.array([0]))  # standard 0 is master row 6
    np.testing.assert_array_equal(sub.y, [0, 1, 2, 3, 4, 5, 7])
    np.testing.assert_array_equal(sub.y_std, [1, 4])
    np.testing.assert_array_equal(sub.X_master[sub.std_index], sub.X_master_std)
    np.testing.assert_array_equal(sub.y_target_cal, sub.y)
    sub = task.without_calibration_rows(np.array([1, 2]))  # row 1 is standard 1
    np.testing.assert_array_equal(sub.y, [0, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(sub.y_std, [6, 4])
    np.testing.assert_array_equal(sub.X_master[sub.std_index], sub.X_master_std)


def test_one_se_rule_takes_the_fewest_latent_variables_within_one_se():
    method = make_method("sbc", preprocessing="none")
    # 2 candidates x 3 latent-variable counts, 4 folds. Best mean: candidate 1 at 3 LVs (0.9).
    base = np.array([[5.0, 1.00, 0.95], [5.0, 1.02, 0.90]])
    wiggle = np.array([-0.2, 0.2, -0.2, 0.2])  # fold-to-fold spread: se of the best = 0.1
    folds = [base + w for w in wiggle]
    # within 0.9 + 0.1: both at 2 LVs; the lower of those is candidate 0
    assert method._choose(folds, 3) == (0, 1)
    # a tight spread: only the best is within one se
    assert method._choose([base + 0.001 * w for w in wiggle], 3) == (1, 2)
    # nothing tuned: the fixed setting and the fixed count
    assert method._choose(None, 3) == (0, 2)
    # a fixed master count: only the last column may be chosen
    fixed = make_method("sbc", preprocessing="none", master_components=3)
    assert fixed._choose(folds, 3) == (1, 2)
    with pytest.raises(InputError, match="no candidate"):
        method._choose([np.full((2, 3), np.inf)] * 2, 3)


def test_candidates_cover_every_auto_grid_and_only_those():
    pds = make_method("pds")
    candidates = pds._candidates(P)
    assert len(candidates) == len(PREPROCESSING_GRID) * 4 * 2
    assert {spec for spec, _ in candidates} == {"none", "snv", "sg1(15,2)"}
    assert {(c["window"], c["n_components"]) for _, c in candidates} == {
        (w, k) for w in (1, 2, 3, 5) for k in (1, 2)
    }
    fixed = make_method("pds", window=2, preprocessing="snv")._candidates(P)
    assert [spec for spec, _ in fixed] == ["snv", "snv"]
    assert [c for _, c in fixed] == [
        {"window": 2, "n_components": 1},
        {"window": 2, "n_components": 2},
    ]
    with pytest.raises(InputError, match="sg1"):
        make_method("pds", preprocessing="sg1(51,2)")._candidates(P)  # window > 40 channels


def test_params_record_what_was_chosen_and_what_was_tuned():
    task = synthetic_task("pds")
    tuned = make_method("pds", window=2).fit(task)
    assert tuned.params_["window"] == 2
    assert tuned.params_["n_components"] in (1, 2)
    assert 1 <= tuned.params_["master_components"] <= 20
    assert tuned.params_["tuned"] == ["master_components", "n_components", "preprocessing"]
    assert tuned.preprocessing_ in PREPROCESSING_GRID
    assert json.loads(tuned.chosen_params_json()) == tuned.params_
    assert " " not in tuned.chosen_params_json()
    fixed = make_method(
        "pds", window=2, n_components=1, preprocessing="snv", master_components=3
    ).fit(task)
    assert fixed.params_ == {
        "window": 2,
        "n_components": 1,
        "regularization": "pls",
        "alpha": 1e-3,
        "max_components": 20,
        "cv": 5,
        "master_components": 3,
        "tuned": [],
    }
    assert fixed.preprocessing_ == "snv"


def test_params_record_settings_fixed_in_config_without_a_grid():
    task = synthetic_task("pds")
    fitted = make_method(
        "pds",
        regularization="tsvd",
        alpha=1e-4,
        window=1,
        n_components=2,
        preprocessing="none",
        master_components=3,
    ).fit(task)
    assert fitted.params_["regularization"] == "tsvd"
    assert fitted.params_["alpha"] == 1e-4


def test_auto_without_enough_units_to_cross_validate_is_refused():
    task = synthetic_task("sbc", n_std=1)
    with pytest.raises(InputError, match="cannot be cross-validated"):
        make_method("sbc").fit(task)
    fixed = make_method("sbc", fit_slope=False, preprocessing="none", master_components=2)
    assert np.all(np.isfinite(fixed.fit(task).predict(task.X_target_std)))


# ---------------------------------------------------------------- 1. test rows never count

CORN_CASES = [
    ("target_direct", {}),
    ("pds", {}),
    ("ds", {}),
    ("sbc", {}),
    ("epo", {}),
    ("sst", {}),
    ("coral", {}),
    ("dipls", {"max_components": 3}),
    ("no_transfer", {}),
    ("target_full", {}),
    ("spectralfm_scratch", {}),
    ("spectralfm_ttt", {"pretrained": "untrained"}),  # the untrained_model fixture's folder
    ("spectralfm_embed", {"pretrained": "untrained"}),
]


@pytest.fixture(scope="module")
def untrained_model(tmp_path_factory):
    """A pretrain output folder holding a freshly initialised tiny SpectralFM: these tests are
    about what reaches a fit, not about what pretraining learned."""
    import torch

    from spectralfm.models import ModelConfig, SpectralFM
    from spectralfm.training.checkpoint import save_pretrained

    folder = tmp_path_factory.mktemp("untrained")
    cfg = ModelConfig.preset("tiny")
    torch.manual_seed(0)
    save_pretrained(folder, SpectralFM(cfg), cfg)
    return str(folder)


def _with_model_folder(params: dict, folder: str) -> dict:
    return {k: folder if v == "untrained" else v for k, v in params.items()}


@pytest.fixture(scope="module")
def corn(shared_data):
    from spectralfm.datasets import read_corn_mat

    data = read_corn_mat(shared_data / "corn.mat")
    split = protocol.fixed_split(data, "m5", "kennard_stone", 60)
    return data, split


def _with_garbage_test_rows(data, test):
    """The same dataset with every test row replaced by noise, on every instrument and in Y."""
    from dataclasses import replace

    rng = np.random.default_rng(99)
    spectra = {}
    for inst, X in data.spectra.items():
        X = X.copy()
        X[test] = rng.normal(5.0, 10.0, size=(len(test), X.shape[1]))
        spectra[inst] = X
    Y = data.Y.copy()
    Y[test] = rng.normal(0.0, 100.0, size=(len(test), Y.shape[1]))
    return replace(data, spectra=spectra, Y=Y, axes={})


def _run_and_keep_models(monkeypatch, data, split, name, params):
    models = []
    real = protocol.make_method

    def keep(method_name, **kwargs):
        model = real(method_name, **kwargs)
        models.append(model)
        return model

    monkeypatch.setattr(protocol, "make_method", keep)
    # the literature split is a function of the master spectra of all 80 rows; hold it fixed so
    # the master spectra of the test rows can be garbage too
    monkeypatch.setattr(protocol, "fixed_split", lambda *args, **kwargs: split)
    rows = protocol.run_pair(
        data,
        "m5",
        "mp6",
        name,
        params,
        ["moisture"],
        [10],
        ["kennard_stone"],
        [0],
        "kennard_stone",
        60,
    )
    return rows, [m for m in models if hasattr(m, "predictor_")]


@pytest.mark.parametrize(("name", "params"), CORN_CASES, ids=[c[0] for c in CORN_CASES])
def test_test_rows_cannot_influence_any_choice(monkeypatch, corn, untrained_model, name, params):
    data, split = corn
    params = _with_model_folder(params, untrained_model)
    garbage = _with_garbage_test_rows(data, split.test)
    assert not np.allclose(garbage.instrument("m5")[split.test], data.instrument("m5")[split.test])
    real_rows, real_models = _run_and_keep_models(monkeypatch, data, split, name, params)
    bad_rows, bad_models = _run_and_keep_models(monkeypatch, garbage, split, name, params)
    assert len(real_rows) == len(bad_rows) == len(real_models) == len(bad_models) == 1
    real_row, bad_row = real_rows[0], bad_rows[0]
    for col in ("preprocessing", "params", "unlabeled", "n_transfer", "n_test", "split"):
        assert real_row[col] == bad_row[col], col
    assert real_row["rmsep"] != bad_row["rmsep"]  # the garbage did reach the test predictions
    real, bad = real_models[0], bad_models[0]
    assert real.preprocessing_ == bad.preprocessing_ and real.params_ == bad.params_
    assert real.k_ == bad.k_
    probe = data.instrument("mp6")[split.calibration]  # real spectra, never garbage
    np.testing.assert_allclose(real.predict(probe), bad.predict(probe), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(real.residuals_, bad.residuals_, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(real.residual_fold_, bad.residual_fold_)
    for a, b in zip(real.predict_interval(probe), bad.predict_interval(probe), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- 2. held-out standards stay out


def _spy(monkeypatch, cls):
    """Record (spec, task) of every candidate fit, i.e. of every sub-fit of the inner loop."""
    seen = []
    original = cls._fit_candidate

    def spy(self, task, spec, params, cache):
        seen.append((spec, task))
        return original(self, task, spec, params, cache)

    monkeypatch.setattr(cls, "_fit_candidate", spy)
    return seen


def _present(rows, among):
    """For each row of `rows`, whether an equal row (by value) is in `among`."""
    if among is None or len(among) == 0:
        return np.zeros(len(rows), dtype=bool)
    close = np.isclose(rows[:, None, :], among[None, :, :], rtol=0, atol=1e-12).all(axis=2)
    return close.any(axis=1)


def _expected_drops(n_units, cv, seed):
    folds = [frozenset(f.tolist()) for f in shuffled_folds(n_units, cv, seed)]
    return {frozenset()} | set(folds) | {a | b for a, b in combinations(folds, 2)}


STANDARD_FOLD_CASES = [
    ("pds", {}),
    ("ds", {}),
    ("sbc", {}),
    ("epo", {}),
    ("sst", {}),
    ("coral", {}),
    ("dipls", {"max_components": 3, "preprocessing": "snv"}),
    ("target_direct", {}),
]


@pytest.mark.parametrize(
    ("name", "params"), STANDARD_FOLD_CASES, ids=[c[0] for c in STANDARD_FOLD_CASES]
)
def test_inner_validation_never_sees_a_held_out_standard(monkeypatch, name, params):
    task = synthetic_task(name)
    seen = _spy(monkeypatch, method_class(name))
    method = make_method(name, **params).fit(task)
    drops = set()
    for spec, sub in seen:
        pre = parse_preprocessing(spec).fit(task.X_master)  # stateless: the same for any rows
        master_std, target_std = pre.transform(task.X_master_std), pre.transform(task.X_target_std)
        kept = _present(master_std, sub.X_master_std)
        held_out = np.flatnonzero(~kept)
        # a held-out standard is nowhere: not a standard, not a master row, not in the pool
        assert not _present(master_std[held_out], sub.X_master).any()
        assert not _present(target_std[held_out], sub.X_target_std).any()
        assert not _present(target_std, sub.X_target_unlabeled).any()
        # the others are all there, and only the held-out rows left the master calibration
        assert _present(target_std[kept], sub.X_target_std).all()
        assert len(sub.X_master) == len(task.X_master) - len(held_out)
        assert sub.X_target_cal is None
        if task.X_target_unlabeled is not None:
            assert len(sub.X_target_unlabeled) == task.n_unlabeled
        drops.add(frozenset(held_out.tolist()))
    # CV+ with nested tuning: every fold, every pair of folds, and the final fit on everything
    assert drops == _expected_drops(task.n_standards, method.cv, task.seed)
    assert len(method.fold_models_) == 5


@pytest.mark.parametrize("name", ["no_transfer", "target_full"])
def test_inner_validation_over_calibration_rows_holds_them_out(monkeypatch, name):
    task = synthetic_task(name)
    seen = _spy(monkeypatch, method_class(name))
    make_method(name, max_components=5).fit(task)
    units = task.X_master if name == "no_transfer" else task.X_target_cal
    drops = set()
    for spec, sub in seen:
        pre = parse_preprocessing(spec).fit(units)
        rows = pre.transform(units)
        fitted_on = sub.X_master if name == "no_transfer" else sub.X_target_cal
        held_out = np.flatnonzero(~_present(rows, fitted_on))
        drops.add(frozenset(held_out.tolist()))
        if name == "target_full":  # target and master calibration rows leave together
            assert len(sub.X_master) == len(sub.X_target_cal) == len(units) - len(held_out)
    assert drops == _expected_drops(len(units), 5, task.seed)


def test_each_fold_model_of_a_fixed_method_is_the_method_refitted_without_its_fold():
    task = synthetic_task("pds", n_std=14)
    settings = dict(window=1, n_components=1, preprocessing="snv", master_components=3)
    method = make_method("pds", **settings).fit(task)
    folds = shuffled_folds(task.n_standards, method.cv, task.seed)
    assert len(method.fold_models_) == len(folds)
    Xt_probe = task.X_master[:6]
    for f, units in enumerate(folds):
        refit = make_method("pds", **settings).fit(task.without_standards(units))
        predictor, k = method.fold_models_[f]
        np.testing.assert_allclose(predictor(Xt_probe)[:, k], refit.predict(Xt_probe), atol=1e-10)
        np.testing.assert_array_equal(
            method.residual_fold_[method.residual_fold_ == f], np.full(len(units), f)
        )
        mask = np.flatnonzero(method.residual_fold_ == f)
        np.testing.assert_allclose(
            method.residuals_[mask],
            task.y_std[units] - refit.predict(task.X_target_std[units]),
            atol=1e-10,
        )


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("target_direct", {"preprocessing": "none", "max_components": 6}),
        ("sbc", {"preprocessing": "snv", "max_components": 6}),
    ],
)
def test_each_tuned_fold_model_is_the_whole_procedure_run_without_its_fold(
    monkeypatch, name, params
):
    """CV+ with nested tuning: fold model f is what fit gives on the task without fold f when
    its inner folds are the other K - 1 folds (so its choice never saw fold f)."""
    from spectralfm.transfer import tuning

    task = synthetic_task(name, n_std=14, seed=1)
    method = make_method(name, **params).fit(task)
    folds = shuffled_folds(task.n_standards, method.cv, task.seed)
    probe = task.X_master[:6] * 1.05
    for f, units in enumerate(folds):
        kept = np.setdiff1d(np.arange(task.n_standards), units)  # positions in the sub-task
        inner = [np.searchsorted(kept, folds[g]) for g in range(len(folds)) if g != f]
        monkeypatch.setattr(tuning, "shuffled_folds", lambda n, k, seed, inner=inner: inner)
        refit = make_method(name, **params).fit(task.without_standards(units))
        monkeypatch.undo()
        predictor, k = method.fold_models_[f]
        assert k == refit.k_
        np.testing.assert_allclose(predictor(probe)[:, k], refit.predict(probe), atol=1e-10)
    assert len(method.fold_models_) == len(folds)


# ---------------------------------------------------------------- 3. CV+ coverage


def _coverage(name, params, n_draws):
    coverages, widths = [], []
    for seed in range(n_draws):
        rng = np.random.default_rng(seed)
        Xm, Xt, y = draw(rng, 70)
        order = rng.permutation(70)
        cal, test = order[:40], order[40:]  # a random split
        n_std = int(rng.integers(15, 21))
        std = rng.choice(40, n_std, replace=False)  # random standards: exchangeable with test
        task = TransferTask(
            Xm[cal], y[cal], Xm[cal][std], Xt[cal][std], y[cal][std], std_index=std, seed=seed
        )
        model = make_method(name, **params).fit(task)
        lo, hi = model.predict_interval(Xt[test], ALPHA)
        picp, mpiw = interval_metrics(y[test], lo, hi)
        coverages.append(picp)
        widths.append(mpiw)
    return float(np.mean(coverages)), float(np.mean(widths))


@pytest.mark.parametrize(
    ("name", "params", "n_draws"),
    [
        ("sbc", {"fit_slope": True, "preprocessing": "none", "master_components": 3}, 200),
        ("ds", {"n_components": 3, "preprocessing": "none", "master_components": 3}, 200),
        # nested tuning of the latent variables inside every fold model
        ("target_direct", {"preprocessing": "none", "max_components": 5}, 100),
    ],
    ids=["sbc", "ds", "target_direct"],
)
def test_cv_plus_covers_at_the_promised_rate(name, params, n_draws):
    coverage, width = _coverage(name, params, n_draws)
    print(f"CV+ {name}: mean coverage {coverage:.3f} at nominal {1 - ALPHA:.2f}, width {width:.3f}")
    assert coverage >= 1 - 2 * ALPHA  # the CV+ guarantee
    assert coverage <= 0.99  # and not by intervals too wide to mean anything
    assert 0 < width < 2.0  # y spans about 0..5; noise sd 0.1


def test_too_few_standards_give_an_infinite_interval_and_undefined_metrics():
    rng = np.random.default_rng(0)
    Xm, Xt, y = draw(rng, 40)
    cal, test = np.arange(30), np.arange(30, 40)
    for n_std, finite in ((8, False), (9, True)):
        std = np.arange(n_std)
        task = TransferTask(Xm[cal], y[cal], Xm[std], Xt[std], y[std], std_index=std)
        model = make_method("sbc", fit_slope=True, preprocessing="none", master_components=3).fit(
            task
        )
        lo, hi = model.predict_interval(Xt[test])
        assert np.all(np.isfinite(lo) & np.isfinite(hi)) == finite
        assert np.all(lo <= hi)
        picp, mpiw = interval_metrics(y[test], lo, hi)
        assert math.isnan(picp) != finite and math.isnan(mpiw) != finite
        row = protocol.evaluate(
            "sbc",
            {"fit_slope": True, "preprocessing": "none", "master_components": 3},
            task,
            Xt[test],
            y[test],
        )
        assert math.isnan(row["picp90"]) != finite and math.isnan(row["mpiw90"]) != finite
        if not finite:
            assert model.fold_models_ == []
