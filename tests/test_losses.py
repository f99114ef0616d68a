import pytest
import torch

from spectralfm.errors import InputError
from spectralfm.losses import (
    LossWeights,
    domain_classification_loss,
    masked_reconstruction_loss,
    pair_terms,
    pretrain_loss,
    single_view_terms,
    sinkhorn_divergence,
    smoothness_prior,
    snv_consistency,
    view_invariance_loss,
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
        "mu_chem": torch.randn(batch, d_z, generator=g).requires_grad_(),
        "z_inst": torch.randn(batch, d_z, generator=g).requires_grad_(),
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


def test_snv_consistency_acts_on_the_spliced_spectrum():
    z = torch.randn(4, 2048, generator=torch.Generator().manual_seed(0))
    snv = (z - z.mean(1, keepdim=True)) / z.std(1, keepdim=True, unbiased=False)
    none = torch.zeros_like(snv, dtype=torch.bool)
    every = torch.ones_like(snv, dtype=torch.bool)
    # nothing masked: the spliced spectrum is the (SNV) input, whatever the reconstruction
    assert snv_consistency(snv * 3 + 2, snv, none) < 1e-10
    off = (snv * 3 + 2).requires_grad_()
    loss = snv_consistency(off, snv, every)
    assert loss.item() == pytest.approx(4 + 4, rel=1e-4)
    loss.backward()
    assert off.grad.abs().sum() > 0
    # half masked: only the masked half's reconstruction gets a gradient
    half = torch.zeros_like(none)
    half[:, :1024] = True
    off.grad = None
    snv_consistency(off, snv, half).backward()
    assert off.grad[:, :1024].abs().sum() > 0 and off.grad[:, 1024:].abs().sum() == 0


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


def test_view_invariance_low_for_matching_views_high_for_shuffled():
    g = torch.Generator().manual_seed(2)
    mu = torch.randn(16, 8, generator=g)
    matched = view_invariance_loss(mu, mu + 0.01 * torch.randn(16, 8, generator=g))
    shuffled = view_invariance_loss(mu, mu[torch.randperm(16, generator=g)])
    assert matched < 0.5 < shuffled
    collapsed = view_invariance_loss(torch.ones(16, 8), torch.ones(16, 8))
    assert collapsed == pytest.approx(torch.log(torch.tensor(16.0)).item(), rel=1e-5)


def test_domain_classification_fires():
    logits = torch.zeros(4, 3, requires_grad=True)
    loss = domain_classification_loss(logits, torch.tensor([0, 1, 2, 1]))
    assert loss.item() == pytest.approx(torch.log(torch.tensor(3.0)).item())
    loss.backward()
    assert logits.grad.abs().sum() > 0


def test_pretrain_loss_every_term_fires_with_gradient():
    out_a, out_b = _fake_output(seed=0), _fake_output(seed=1)
    g = torch.Generator().manual_seed(5)
    view_a = torch.randn(8, 64, generator=g)
    translated = torch.randn(8, 64, generator=g).requires_grad_()
    pred = (torch.randn(8, 5, generator=g).requires_grad_(), torch.randn(8, 5, generator=g))
    params = (torch.rand(8, 5, generator=g), torch.rand(8, 5, generator=g))
    domain = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    terms = single_view_terms(out_a, view_a, domain)
    terms.update(pair_terms(out_a, out_b, translated, view_a, pred, params))
    total, parts = pretrain_loss(terms, LossWeights())
    for key in LossWeights().to_dict():
        assert parts[key] > 0, key
    total.backward()
    for key in ("recon", "kl", "moe_aux", "domain_logits", "z_chem", "mu_chem"):
        assert out_a[key].grad is not None and out_a[key].grad.abs().sum() > 0, key
    assert translated.grad.abs().sum() > 0 and pred[0].grad.abs().sum() > 0
    # the weighted sum is what it says
    w = LossWeights()
    expect = sum(getattr(w, k) * parts[k] for k in w.to_dict())
    assert parts["total"] == pytest.approx(expect, rel=1e-5)
    with pytest.raises(InputError, match="unknown terms"):
        pretrain_loss({"bogus": total}, w)


def test_loss_weights_round_trip_and_unknown_key():
    w = LossWeights(kl=0.5)
    assert LossWeights.from_dict(w.to_dict()) == w
    with pytest.raises(InputError, match="bogus"):
        LossWeights.from_dict({"bogus": 1.0})
