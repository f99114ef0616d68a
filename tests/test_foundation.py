"""The SpectralFM transfer methods on synthetic spectra where the right answer is known."""

import numpy as np
import pytest
import torch

from spectralfm.errors import InputError
from spectralfm.models import ModelConfig, SpectralFM
from spectralfm.models.fno import FNO1d, derivatives
from spectralfm.training.checkpoint import save_pretrained
from spectralfm.transfer.base import TransferTask
from spectralfm.transfer.ds import DS
from spectralfm.transfer.foundation import (
    KEEP_PRETRAINED,
    ModelSpace,
    SpectralFMEmbed,
    SpectralFMScratch,
    SpectralFMTransfer,
    SpectralFMTTT,
)

NM = np.linspace(1100, 2498, 350)
N_BANDS = 12


def rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


def spectra(C, shift_nm, rng, gain=1.0, offset=0.0):
    """Absorbance with 12 bands whose heights are the rows of C, seen `shift_nm` off."""
    band = np.random.default_rng(99)
    centres, widths = band.uniform(1150, 2450, N_BANDS), band.uniform(20, 60, N_BANDS)
    w = NM[None, :] - shift_nm
    X = 0.3 + 1e-4 * w
    for i in range(N_BANDS):
        X = X + C[:, i : i + 1] * np.exp(-(((w - centres[i]) / widths[i]) ** 2))
    return gain * X + offset + rng.normal(0, 1e-4, X.shape)


def shifted_problem(n_std=5, shift_nm=4.0, gain=1.0, offset=0.0, seed=0):
    """80 samples on a master and a target `shift_nm` off: 60 calibration, 20 test. Twelve
    independent bands, so N=5 standards cannot span the samples (DS's blind spot)."""
    rng = np.random.default_rng(seed)
    C = rng.uniform(0.1, 1.0, (80, N_BANDS))
    Xm, Xt = spectra(C, 0.0, rng), spectra(C, shift_nm, rng, gain, offset)
    y = C[:, 0] * 10
    std = np.arange(n_std)
    task = TransferTask(
        X_master=Xm[:60],
        y=y[:60],
        X_master_std=Xm[std],
        X_target_std=Xt[std],
        y_std=y[std],
        wavelengths_nm=NM,
        std_index=std,
        X_target_unlabeled=Xt[n_std:60],
    )
    return task, Xm[60:], Xt[60:], y[60:]


@pytest.fixture(scope="module")
def untrained_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("untrained")
    cfg = ModelConfig.preset("tiny")
    torch.manual_seed(0)
    save_pretrained(folder, SpectralFM(cfg), cfg)
    return str(folder)


def test_model_space_round_trip_and_ascending_wavenumber():
    space = ModelSpace(NM, 2048)
    assert space.grid[0] == pytest.approx(1e7 / 2498) and space.grid[-1] == pytest.approx(
        1e7 / 1100
    )
    X = np.vstack([NM**2, np.sin(NM / 50)])
    R, mean, std = space.to_model(X)
    assert R.shape == (2, 2048) and np.all(np.diff(R[0]) < 0)  # rising with nm: falling with cm-1
    np.testing.assert_allclose(space.to_task(R), X, rtol=2e-4, atol=1e-3 * np.ptp(X))
    with pytest.raises(InputError, match="flat"):
        space.to_model(np.ones((1, len(NM))))


def test_derivative_channels_are_the_taylor_terms_of_a_shift():
    n = 2048
    t = torch.linspace(0, 1, n)
    x = torch.exp(-(((t - 0.5) / 0.02) ** 2))[None]
    d = 2 / (n - 1)  # a shift of two grid points
    shifted = torch.exp(-(((t - 0.5 - d) / 0.02) ** 2))[None]
    first = derivatives(x)[:, 0] / (1 / 256 * (n - 1))  # back to per grid step
    np.testing.assert_allclose((x - 2 * first).numpy(), shifted.numpy(), atol=5e-3)


def test_an_untrained_head_is_the_identity():
    head = FNO1d(8, 16, 2)
    x = torch.randn(3, 512)
    axis = torch.tensor([[4000.0, 9000.0]]).repeat(3, 1)
    assert torch.equal(head(x, axis), x)
    assert head.features(x, axis).shape == (3, 8 + 2, 512)


def test_translator_recovers_a_known_shift_better_than_ds_at_n5():
    task, Xm_test, Xt_test, _ = shifted_problem(n_std=5)
    ds = DS().fit(task.X_target_std, task.X_master_std)
    ds_error = rmse(ds.transform(Xt_test), Xm_test)
    method = SpectralFMScratch(seed=0)
    method._prepare(task)
    keep = np.arange(task.n_standards)
    errors = {r: rmse(method._translation(task, keep, r)._transform(Xt_test), Xm_test)
              for r in SpectralFMScratch.TUNABLE["ridge"]}  # fmt: skip
    untranslated = rmse(Xt_test, Xm_test)
    assert errors[KEEP_PRETRAINED] == pytest.approx(untranslated, rel=0.01)  # identity head
    best = min(errors.values())
    assert best < 0.5 * untranslated and best < 0.5 * ds_error


def test_moments_map_an_offset_and_gain():
    task, Xm_test, Xt_test, _ = shifted_problem(shift_nm=0.0, gain=1.1, offset=0.05)
    method = SpectralFMScratch(seed=0)
    method._prepare(task)
    translated = method._translation(task, np.arange(5), KEEP_PRETRAINED)._transform(Xt_test)
    assert rmse(translated, Xm_test) < 0.1 * rmse(Xt_test, Xm_test)


@pytest.mark.parametrize("cls", [SpectralFMScratch, SpectralFMTransfer, SpectralFMTTT])
def test_translator_methods_transfer_a_shifted_calibration(cls, untrained_folder):
    task, _, Xt_test, y_test = shifted_problem(n_std=10)
    kwargs = {} if cls is SpectralFMScratch else {"pretrained": untrained_folder}
    method = cls(**kwargs).fit(task)
    assert set(method.params_["tuned"]) == {"master_components", "preprocessing", "ridge"}
    assert "pretrained" not in method.params_ and "device" not in method.params_
    from spectralfm.transfer.baselines import NoTransfer

    untransferred = rmse(NoTransfer().fit(task).predict(Xt_test), y_test)
    assert rmse(method.predict(Xt_test), y_test) < untransferred
    lo, hi = method.predict_interval(Xt_test)
    assert np.all(lo <= hi) and np.all(np.isfinite(lo))


def test_pool_adaptation_uses_the_pool_and_needs_one(untrained_folder):
    task, _, Xt_test, _ = shifted_problem(n_std=5)
    kwargs = {"pretrained": untrained_folder, "ridge": 0.1, "preprocessing": "none",
              "master_components": 5}  # fmt: skip
    plain = SpectralFMTransfer(**kwargs).fit(task)
    adapted = SpectralFMTTT(**kwargs).fit(task)
    assert not np.allclose(plain.predict(Xt_test), adapted.predict(Xt_test))
    from dataclasses import replace

    with pytest.raises(InputError, match="unlabeled target pool"):
        SpectralFMTTT(**kwargs).fit(replace(task, X_target_unlabeled=None))


def test_pretrained_methods_need_a_pretrained_folder():
    task, *_ = shifted_problem()
    for cls in (SpectralFMTransfer, SpectralFMEmbed):
        with pytest.raises(InputError, match="pretrained"):
            cls().fit(task)


def test_embed_runs_epo_on_frozen_features(untrained_folder):
    task, _, Xt_test, y_test = shifted_problem(n_std=10)
    method = SpectralFMEmbed(pretrained=untrained_folder).fit(task)
    assert method.preprocessing_ == "none" and "pretrained" not in method.params_
    assert method.n_features_in_ == 64 * 32  # tiny: 64 patch tokens x d_model 32
    pred = method.predict(Xt_test)
    assert pred.shape == y_test.shape and np.all(np.isfinite(pred))
    lo, hi = method.predict_interval(Xt_test)
    assert np.all(lo <= hi)
