import numpy as np
import pytest
import torch

from spectralfm.errors import InputError
from spectralfm.models import ModelConfig, SpectralFM

ENCODER_OUTPUTS = ("tokens", "cls", "z_chem", "z_inst", "mu_chem", "mu_inst", "recon", "y_pred")


def _model(seed=0, **overrides):
    torch.manual_seed(seed)
    return SpectralFM(ModelConfig.preset("tiny", n_points=512, **overrides))


def _batch(b=3, n=512, seed=1):
    g = torch.Generator().manual_seed(seed)
    axis = torch.tensor([[4000.0, 10000.0], [400.0, 4000.0], [3500.0, 150.0]])[:b]
    return torch.randn(b, n, generator=g), axis


@pytest.mark.parametrize("expert_type", ["mlp", "kan"])
def test_forward_shapes_and_backward(expert_type):
    model = _model(expert_type=expert_type).train()
    x, axis = _batch()
    mask = model.random_mask(3, 0.5, torch.Generator().manual_seed(0))
    out = model(x, axis, mask=mask, domain=torch.tensor([0, 3, 15]))
    b, t, d, dz = 3, model.n_tokens, model.cfg.d_model, model.cfg.d_z
    shapes = {
        "tokens": (b, t, d), "cls": (b, d), "z_chem": (b, dz), "z_inst": (b, dz),
        "mu_chem": (b, dz), "logvar_chem": (b, dz), "mu_inst": (b, dz), "logvar_inst": (b, dz),
        "kl": (), "moe_aux": (), "recon": (b, 512), "point_mask": (b, 512),
        "domain_logits": (b, 16), "y_pred": (b, 1),
    }  # fmt: skip
    assert {k: tuple(v.shape) for k, v in out.items()} == shapes
    assert torch.equal(out["point_mask"], mask.repeat_interleave(model.cfg.patch_size, 1))
    assert out["point_mask"].sum() == 3 * round(0.5 * t) * model.cfg.patch_size
    assert not model(x, axis)["point_mask"].any()
    loss = ((out["recon"] - x)[out["point_mask"]] ** 2).mean() + out["kl"] + out["moe_aux"]
    loss = loss + out["y_pred"].sum() + out["domain_logits"].logsumexp(-1).mean()
    loss.backward()
    no_grad = [
        n for n, p in model.named_parameters() if p.grad is None and not n.startswith("transfer.")
    ]
    assert no_grad == []
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("scan", ["parallel", "sequential"])
def test_masked_content_never_reaches_the_encoder(scan):
    model = _model(scan=scan).eval()
    x, axis = _batch()
    mask = model.random_mask(3, 0.6, torch.Generator().manual_seed(2))
    domain = torch.tensor([1, 2, 0])
    with torch.no_grad():
        base = model(x, axis, mask=mask, domain=domain)
        point_mask = base["point_mask"]
        # change ONLY masked points, by a lot (also the points right next to visible ones)
        hidden = x.clone()
        hidden[point_mask] = 100.0 * torch.randn(int(point_mask.sum()))
        same = model(hidden, axis, mask=mask, domain=domain)
        for key in ENCODER_OUTPUTS:
            assert (same[key] - base[key]).abs().max() < 1e-6, key
        # while changing ONE visible point moves every encoder output
        visible = x.clone()
        first_visible = int((~point_mask[0]).nonzero()[0])
        visible[0, first_visible] += 1.0
        moved = model(visible, axis, mask=mask, domain=domain)
        for key in ("tokens", "cls", "z_chem", "z_inst"):
            assert (moved[key][0] - base[key][0]).abs().max() > 1e-6, key


def test_positional_encoding_follows_the_wavenumber_axis():
    model = _model().eval()
    x, axis = _batch()
    with torch.no_grad():
        a = model(x, axis)
        b = model(x, axis + 50.0)
    for key in ("tokens", "cls", "z_chem"):
        assert (a[key] - b[key]).abs().max() > 1e-4, key


def test_determinism_under_a_seed():
    x, axis = _batch()
    outs = []
    for _ in range(2):
        model = _model(seed=7).train()
        torch.manual_seed(123)  # VIB sampling draws from the global generator
        mask = model.random_mask(3, 0.4, torch.Generator().manual_seed(5))
        outs.append(model(x, axis, mask=mask))
    for key in outs[0]:
        assert torch.equal(outs[0][key], outs[1][key]), key
    other = _model(seed=8)(x, axis)
    assert not torch.equal(other["cls"], outs[0]["cls"])


def test_vib_samples_in_train_and_returns_the_mean_in_eval():
    model = _model()
    x, axis = _batch()
    model.eval()
    out = model(x, axis)
    assert torch.equal(out["z_chem"], out["mu_chem"]) and torch.equal(out["z_inst"], out["mu_inst"])
    model.train()
    out = model(x, axis)
    assert not torch.allclose(out["z_chem"], out["mu_chem"])
    want = 0.5 * sum(
        (out[f"mu_{k}"] ** 2 + out[f"logvar_{k}"].exp() - 1 - out[f"logvar_{k}"]).sum(-1).mean()
        for k in ("chem", "inst")
    )
    torch.testing.assert_close(out["kl"], want)


def test_random_mask_counts_and_refusals():
    model = _model()
    mask = model.random_mask(5, 0.75, torch.Generator().manual_seed(0))
    assert mask.dtype == torch.bool and mask.shape == (5, model.n_tokens)
    assert (mask.sum(1) == round(0.75 * model.n_tokens)).all()
    assert not torch.equal(mask[0], mask[1])
    with pytest.raises(InputError, match="mask ratio"):
        model.random_mask(2, 1.0)


def test_bad_shapes_raise_input_error_in_forward():
    # shape and dtype checks read no tensor values, so forward keeps them
    model = _model()
    x, axis = _batch()
    with pytest.raises(InputError, match="spectra"):
        model(torch.randn(3, 100), axis)
    with pytest.raises(InputError, match="axis"):
        model(x, axis[:, :1])
    with pytest.raises(InputError, match="mask"):
        model(x, axis, mask=torch.zeros(3, model.n_tokens))
    with pytest.raises(InputError, match="domain"):
        model(x, axis, domain=torch.tensor([0, 1]))
    with pytest.raises(InputError, match="spectra"):
        model.transfer_spectrum(torch.randn(3, 100), axis)
    with pytest.raises(InputError, match="axis"):
        model.transfer_spectrum(x, axis[:2])


def test_bad_values_raise_input_error_at_the_boundary():
    # value checks read the host (a GPU sync), so they live in validate_inputs, not forward
    model = _model()
    x, axis = _batch()
    model.validate_inputs(x, axis, model.random_mask(3, 0.5), torch.tensor([0, 1, 15]))
    with pytest.raises(InputError, match="spectra"):
        model.validate_inputs(torch.randn(3, 100), axis)
    with pytest.raises(InputError, match="axis"):
        model.validate_inputs(x, axis[:, :1])
    with pytest.raises(InputError, match="non-finite"):
        model.validate_inputs(torch.where(x > 2, float("nan"), x), axis)
    with pytest.raises(InputError, match="non-finite"):
        model.validate_inputs(x, torch.where(axis > 5000, float("inf"), axis))
    with pytest.raises(InputError, match="start == stop"):
        model.validate_inputs(x, torch.full((3, 2), 5000.0))
    with pytest.raises(InputError, match="mask"):
        model.validate_inputs(x, axis, mask=torch.zeros(3, model.n_tokens))
    with pytest.raises(InputError, match="domain"):
        model.validate_inputs(x, axis, domain=torch.tensor([0, 1, 16]))
    with pytest.raises(InputError, match="domain"):
        model.validate_inputs(x, axis, domain=torch.tensor([-1, 1, 2]))


def test_fno_transfer_head_starts_as_identity_and_learns_a_shift():
    model = _model()
    x, axis = _batch()
    torch.testing.assert_close(model.transfer_spectrum(x, axis), x)
    target = x + 0.5 * torch.sin(torch.linspace(0, 6.28, 512))  # a smooth instrument difference
    opt = torch.optim.Adam(model.transfer.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        loss = ((model.transfer_spectrum(x, axis) - target) ** 2).mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first


def _corn_spectra(shared_data, n_points):
    path = shared_data / "nir" / "Cargill_Corn" / "m5_spectra.csv"
    nm = np.loadtxt(path, delimiter=",", max_rows=1)
    spectra = np.loadtxt(path, delimiter=",", skiprows=1)
    wavenumber = 1e7 / nm  # descending cm^-1
    grid = np.linspace(wavenumber[0], wavenumber[-1], n_points)
    resampled = np.stack([np.interp(-grid, -wavenumber, s) for s in spectra])
    snv = (resampled - resampled.mean(1, keepdims=True)) / resampled.std(1, keepdims=True)
    axis = np.tile([wavenumber[0], wavenumber[-1]], (len(snv), 1))
    return torch.tensor(snv, dtype=torch.float32), torch.tensor(axis, dtype=torch.float32)


def test_masked_pretraining_steps_on_real_corn_spectra_reduce_the_loss(shared_data):
    torch.manual_seed(0)
    model = SpectralFM(ModelConfig.preset("tiny")).train()  # full 2048 points
    x, axis = _corn_spectra(shared_data, 2048)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(25):
        mask = model.random_mask(16, 0.5, gen)
        out = model(x[:16], axis[:16], mask=mask)
        loss = ((out["recon"] - x[:16])[out["point_mask"]] ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3])


def test_bf16_autocast_forward_and_backward():
    model = _model().train()
    x, axis = _batch()
    mask = model.random_mask(3, 0.5, torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, axis, mask=mask)
        loss = (
            ((out["recon"].float() - x)[out["point_mask"]] ** 2).mean() + out["kl"] + out["moe_aux"]
        )
    assert all(torch.isfinite(v).all() for v in out.values() if v.is_floating_point())
    assert out["tokens"].dtype == torch.float32 and out["z_chem"].dtype == torch.float32
    loss.backward()
    assert torch.isfinite(model.embed.patch_proj.weight.grad).all()
