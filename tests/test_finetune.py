import numpy as np
import pytest
import torch
from test_pretrain import TINY, small_cfg, write_tiny_corpus

from spectralfm.errors import InputError
from spectralfm.models.config import ModelConfig
from spectralfm.training.checkpoint import load_pretrained
from spectralfm.training.pretrain import pretrain
from spectralfm.training.ttt import adapt_norm_layers, norm_parameters
from spectralfm.transfer.base import TransferTask
from spectralfm.transfer.foundation import (
    SpectralFMScratch,
    SpectralFMTransfer,
    SpectralFMTTT,
    nir_to_model_input,
)

WL = np.linspace(1100, 2498, 200)


def instrument(y: np.ndarray, shift_nm: float, gain: float, rng) -> np.ndarray:
    """NIR absorbances: band at 1450 nm grows with y, band at 1940 nm shrinks, plus noise."""
    wl = WL[None, :] - shift_nm
    bands = y[:, None] * np.exp(-(((wl - 1450) / 40) ** 2)) + (1 - y[:, None]) * np.exp(
        -(((wl - 1940) / 60) ** 2)
    )
    return gain * (0.3 + 0.0002 * wl + bands) + 0.005 * rng.standard_normal((len(y), len(WL)))


@pytest.fixture(scope="module")
def problem():
    return make_problem()


def make_problem():
    rng = np.random.default_rng(0)
    y_cal, y_test = rng.uniform(0, 1, 40), rng.uniform(0, 1, 20)
    master, target = (0.0, 1.0), (6.0, 1.1)  # the target is shifted by 6 nm, 10% more gain
    X_cal, Xt_cal = instrument(y_cal, *master, rng), instrument(y_cal, *target, rng)
    std = np.arange(0, 40, 5)  # 8 standards
    task = TransferTask(
        X_master=X_cal,
        y=y_cal,
        X_master_std=X_cal[std],
        X_target_std=Xt_cal[std],
        y_std=y_cal[std],
        X_target_cal=Xt_cal,
        y_target_cal=y_cal,
        wavelengths_nm=WL,
    )
    return task, instrument(y_test, *target, rng), y_test


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    d = tmp_path_factory.mktemp("pre")
    corpus = write_tiny_corpus(d / "corpus.h5")
    return str(pretrain(corpus, d / "run", ModelConfig.preset("tiny", **TINY), small_cfg(steps=2)))


FAST = dict(epochs=12, batch_size=16, patience=12, ttt_steps=4)


def rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


def test_nir_to_model_input_is_ascending_wavenumber_snv():
    X = np.random.default_rng(0).uniform(0, 1, (3, len(WL)))
    spectra, axis = nir_to_model_input(X, WL, 2048)
    assert spectra.shape == (3, 2048) and spectra.dtype == torch.float32
    assert axis[0, 0].item() == pytest.approx(1e7 / 2498, rel=1e-5)
    assert axis[0, 1].item() == pytest.approx(1e7 / 1100, rel=1e-5)
    assert torch.allclose(spectra.mean(1), torch.zeros(3), atol=1e-5)
    assert torch.allclose(spectra.std(1, unbiased=False), torch.ones(3), atol=1e-4)
    # absorbance rising with nm must fall along the ascending wavenumber axis
    rising, _ = nir_to_model_input(WL[None, :] ** 2, WL, 2048)
    assert torch.all(torch.diff(rising[0]) < 0)
    with pytest.raises(InputError, match="X_test"):
        nir_to_model_input(np.ones((2, len(WL))), WL, 2048, "X_test")  # flat -> no SNV


def test_spectralfm_needs_pretrained_and_wavelengths(problem, pretrained):
    task, _, _ = problem
    with pytest.raises(InputError, match="pretrained"):
        SpectralFMTransfer().fit(task)
    no_wl = TransferTask(task.X_master, task.y, task.X_master_std, task.X_target_std, task.y_std)
    with pytest.raises(InputError, match="wavelengths_nm"):
        SpectralFMTransfer(pretrained=pretrained).fit(no_wl)


def test_lora_mode_trains_only_lora_and_head(problem, pretrained):
    task, X_test, y_test = problem
    fitted = SpectralFMTransfer(pretrained=pretrained, seed=1, **FAST).fit(task)
    torch.manual_seed(1)
    before = load_pretrained(pretrained, lora_rank=4).state_dict()
    # the fitted head is Sequential(FeatureStandardizer, RegressionHead): compare the head itself
    after = {
        k.replace("regression.1.", "regression."): v
        for k, v in fitted.model_.state_dict().items()
        if not k.startswith("regression.0.")
    }
    assert after.keys() == before.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed, "nothing was trained"
    assert fitted.history_["cached_trunk"]  # frozen front computed once, checked equal
    assert all("lora_" in k or k.startswith("regression.") for k in changed), changed
    assert any("lora_" in k for k in changed) and any(k.startswith("regression.") for k in changed)
    trainable = {n for n, p in fitted.model_.named_parameters() if p.requires_grad}
    assert all("lora_" in n or n.startswith("regression.") for n in trainable)


def test_fit_is_deterministic_and_predict_leaves_model_alone(problem, pretrained):
    task, X_test, _ = problem
    a = SpectralFMTransfer(pretrained=pretrained, seed=3, **FAST).fit(task)
    b = SpectralFMTransfer(pretrained=pretrained, seed=3, **FAST).fit(task)
    state = {k: v.clone() for k, v in a.model_.state_dict().items()}
    pa = a.predict(X_test)
    assert np.array_equal(pa, b.predict(X_test))
    assert np.array_equal(pa, a.predict(X_test))
    # predicting (on test spectra) never trains: early stopping and TTT live in fit(task) only
    assert all(torch.equal(v, a.model_.state_dict()[k]) for k, v in state.items())
    c = SpectralFMTransfer(pretrained=pretrained, seed=4, **FAST).fit(task)
    assert not np.array_equal(pa, c.predict(X_test))


def test_finetuning_improves_over_untrained(problem, pretrained):
    task, X_test, y_test = problem
    untrained = SpectralFMTransfer(pretrained=pretrained, **{**FAST, "epochs": 0}).fit(task)
    trained = SpectralFMTransfer(pretrained=pretrained, **{**FAST, "epochs": 25}).fit(task)
    base, tuned = rmse(untrained.predict(X_test), y_test), rmse(trained.predict(X_test), y_test)
    assert tuned < 0.7 * base, (tuned, base)
    assert trained.history_["train_loss"][-1] < trained.history_["train_loss"][0]


def test_scratch_trains_everything_from_random_weights(problem, pretrained):
    task, X_test, y_test = problem
    untrained = SpectralFMScratch(pretrained=pretrained, **{**FAST, "epochs": 0}).fit(task)
    trained = SpectralFMScratch(pretrained=pretrained, **{**FAST, "epochs": 3}).fit(task)
    assert trained.model_.cfg.lora_rank == 0
    assert not trained.history_["cached_trunk"]  # everything trains: nothing to cache
    assert all(p.requires_grad for p in trained.model_.parameters())
    pre = load_pretrained(pretrained).state_dict()
    # not the pretrained weights: the scratch model never saw them
    assert not torch.equal(
        pre["embed.mask_token"], untrained.model_.state_dict()["embed.mask_token"]
    )
    assert rmse(trained.predict(X_test), y_test) < rmse(untrained.predict(X_test), y_test)


def test_ttt_changes_only_norm_parameters(problem, pretrained):
    task, X_test, _ = problem
    plain = SpectralFMTransfer(pretrained=pretrained, seed=2, **FAST).fit(task)
    ttt = SpectralFMTTT(pretrained=pretrained, seed=2, ttt_restandardize=False, **FAST).fit(task)
    norms = set(norm_parameters(ttt.model_))
    a, b = plain.model_.state_dict(), ttt.model_.state_dict()
    changed = {k for k in a if not torch.equal(a[k], b[k])}
    assert changed and changed <= norms, changed - norms
    assert not np.array_equal(plain.predict(X_test), ttt.predict(X_test))
    # with re-standardisation the head's feature statistics move too, and nothing else
    ttt2 = SpectralFMTTT(pretrained=pretrained, seed=2, **FAST).fit(task)
    c = ttt2.model_.state_dict()
    changed2 = {k for k in a if not torch.equal(a[k], c[k])}
    assert {"regression.0.mean", "regression.0.scale"} <= changed2
    assert changed2 - {"regression.0.mean", "regression.0.scale"} <= norms
    # the TTT spectra are the target calibration spectra from the task, never predict's input
    assert ttt.ttt_["first_loss"] > 0


def test_ttt_restores_requires_grad_and_lowers_recon_loss():
    torch.manual_seed(0)
    model = load_model_tiny()
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    x = torch.randn(8, 2048)
    axis = torch.tensor([[4000.0, 9000.0]]).repeat(8, 1)
    out = adapt_norm_layers(model, x, axis, steps=25, lr=1e-2, batch_size=8)
    assert out["last_loss"] < out["first_loss"]
    assert flags == {n: p.requires_grad for n, p in model.named_parameters()}
    with pytest.raises(InputError, match="TTT"):
        adapt_norm_layers(model, x[:0], axis[:0])


def load_model_tiny():
    from spectralfm.models.spectralfm import SpectralFM

    return SpectralFM(ModelConfig.preset("tiny", **TINY))


def test_registered_names_and_params():
    assert SpectralFMTransfer.name == "spectralfm"
    assert SpectralFMScratch.name == "spectralfm_scratch"
    assert SpectralFMTTT.name == "spectralfm_ttt"
    params = SpectralFMTTT().get_params()
    for key in ("pretrained", "lora_rank", "lr", "epochs", "batch_size", "alignment_weight",
                "patience", "val_fraction", "ttt", "ttt_steps", "seed", "device"):  # fmt: skip
        assert key in params
    assert SpectralFMTTT()._do_ttt and not SpectralFMTransfer()._do_ttt
    assert SpectralFMTransfer(ttt=True)._do_ttt
