import logging

import pytest
import torch

from spectralfm.errors import InputError
from spectralfm.losses import (
    LossWeights,
    domain_classification_loss,
    domain_ot_loss,
    masked_reconstruction_loss,
    pretrain_loss,
    sinkhorn_divergence,
    smoothness_prior,
    snv_consistency,
)


def _fake_output(batch=8, n_points=64, d_z=4, n_domains=3, seed=0):
    """A forward dict with the contract's keys, every tensor a leaf so gradients can be checked."""
    g = torch.Generator().manual_seed(seed)
    point_mask = torch.zeros(batch, n_points, dtype=torch.bool)
    point_mask[:, 16:32] = True
    return {
        "recon": torch.randn(batch, n_points, generator=g).requires_grad_(),
        "point_mask": point_mask,
        "kl": torch.tensor(0.7, requires_grad=True),
        "moe_aux": torch.tensor(1.3, requires_grad=True),
        "domain_logits": torch.randn(batch, n_domains, generator=g).requires_grad_(),
        "z_chem": torch.randn(batch, d_z, generator=g).requires_grad_(),
    }


def test_reconstruction_ignores_unmasked_points():
    target = torch.zeros(2, 10)
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[:, :3] = True
    recon = torch.zeros(2, 10)
    recon[:, 3:] = 100.0  # huge error on visible points only
    assert masked_reconstruction_loss(recon, target, mask) == 0.0
    recon[:, 0] = 2.0
    # 2 of 6 masked points are off by 2 -> 8 / 6
    assert masked_reconstruction_loss(recon, target, mask).item() == pytest.approx(8 / 6)


def test_reconstruction_gradient_only_at_masked_points():
    target = torch.zeros(1, 10)
    mask = torch.zeros(1, 10, dtype=torch.bool)
    mask[0, 4:6] = True
    recon = torch.ones(1, 10, requires_grad=True)
    masked_reconstruction_loss(recon, target, mask).backward()
    assert torch.all(recon.grad[0, 4:6] != 0)
    assert torch.all(recon.grad[0, :4] == 0) and torch.all(recon.grad[0, 6:] == 0)


def test_reconstruction_rejects_shape_mismatch():
    with pytest.raises(InputError, match="shapes"):
        masked_reconstruction_loss(torch.zeros(2, 4), torch.zeros(2, 5), torch.zeros(2, 5))


def test_smoothness_fires_on_rough_residual_only():
    mask = torch.ones(1, 50, dtype=torch.bool)
    x = torch.linspace(0, 6, 50)[None]
    peaky = torch.sin(x) + (torch.arange(50) == 25).float()[None] * 5  # a sharp band
    assert smoothness_prior(peaky, peaky, mask) == 0.0  # a sharp band that is really there is fine
    noisy = peaky + 0.3 * torch.randn(1, 50, generator=torch.Generator().manual_seed(0))
    noisy.requires_grad_()
    loss = smoothness_prior(noisy, peaky, mask)
    assert loss > 0.1
    loss.backward()
    assert noisy.grad.abs().sum() > 0


def test_snv_consistency():
    z = torch.randn(4, 2048, generator=torch.Generator().manual_seed(0))
    snv = (z - z.mean(1, keepdim=True)) / z.std(1, keepdim=True, unbiased=False)
    assert snv_consistency(snv) < 1e-10
    off = (snv * 3 + 2).requires_grad_()
    loss = snv_consistency(off)
    assert loss.item() == pytest.approx(4 + 4, rel=1e-4)
    loss.backward()
    assert off.grad.abs().sum() > 0


def test_ot_zero_for_identical_positive_for_shifted():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 8, generator=g)
    assert abs(sinkhorn_divergence(x, x.clone()).item()) < 1e-5
    y = (x + 2.0).requires_grad_()
    d = sinkhorn_divergence(x, y)
    assert d.item() > 0.5
    d.backward()
    assert y.grad.abs().sum() > 0
    # more shift, more divergence
    assert sinkhorn_divergence(x, x + 4.0) > d


def test_domain_ot_skips_single_domain_and_fires_on_two():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(16, 4, generator=g).requires_grad_()
    loss, reason = domain_ot_loss(z, torch.zeros(16, dtype=torch.long))
    assert loss.item() == 0.0 and "skipped" in reason
    domain = torch.tensor([0] * 8 + [1] * 8)
    shifted = z + torch.cat([torch.zeros(8, 4), 3 * torch.ones(8, 4)])
    loss, reason = domain_ot_loss(shifted, domain)
    assert reason is None and loss.item() > 0.5
    loss.backward()
    assert z.grad.abs().sum() > 0


def test_domain_classification_fires_and_checks_ids():
    logits = torch.zeros(4, 3, requires_grad=True)
    loss = domain_classification_loss(logits, torch.tensor([0, 1, 2, 1]))
    assert loss.item() == pytest.approx(torch.log(torch.tensor(3.0)).item())
    loss.backward()
    assert logits.grad.abs().sum() > 0
    with pytest.raises(InputError, match="n_domains=3"):
        domain_classification_loss(logits, torch.tensor([0, 3, 1, 1]))


def test_pretrain_loss_every_term_fires_with_gradient():
    out = _fake_output()
    spectra = torch.randn(8, 64, generator=torch.Generator().manual_seed(5))
    domain = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    total, parts = pretrain_loss(out, {"spectra": spectra, "domain": domain}, LossWeights())
    for key in ("recon", "smooth", "snv", "kl", "domain", "ot", "moe"):
        assert parts[key] > 0, key
    assert "ot_skipped" not in parts
    total.backward()
    for key in ("recon", "kl", "moe_aux", "domain_logits", "z_chem"):
        assert out[key].grad is not None and out[key].grad.abs().sum() > 0, key
    # the weighted sum is what it says
    w = LossWeights()
    expect = sum(
        getattr(w, k) * parts[k] for k in ("recon", "smooth", "snv", "kl", "domain", "ot", "moe")
    )
    assert parts["total"] == pytest.approx(expect, rel=1e-5)


def test_pretrain_loss_single_domain_batch_logs_skip(caplog):
    out = _fake_output()
    batch = {"spectra": torch.zeros(8, 64), "domain": torch.full((8,), 2)}
    with caplog.at_level(logging.WARNING, logger="spectralfm.losses"):
        import spectralfm.losses as losses

        losses._logged_reasons.clear()
        _, parts = pretrain_loss(out, batch, LossWeights())
    assert parts["ot_skipped"] == 1.0 and parts["ot"] == 0.0
    assert "OT term skipped" in caplog.text


def test_loss_weights_round_trip_and_unknown_key():
    w = LossWeights(kl=0.5)
    assert LossWeights.from_dict(w.to_dict()) == w
    with pytest.raises(InputError, match="bogus"):
        LossWeights.from_dict({"bogus": 1.0})
