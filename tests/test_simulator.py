import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from spectralfm.errors import InputError
from spectralfm.simulator import (
    N_EFFECT_PARAMS,
    PARAM_NAMES,
    SimulatorConfig,
    add_noise,
    broaden,
    detector_nonlinearity,
    draw_view,
    instrument_pair,
    pseudo_absorbance,
    scatter_and_baseline,
    shift_and_warp,
    snv,
    stray_light,
    wavenumber_grid,
)

N = 2048
START, STOP = 4000.0, 10000.0
STEP = (STOP - START) / (N - 1)
FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def grid(batch: int = 1, n: int = N) -> torch.Tensor:
    return wavenumber_grid(torch.tensor([[START, STOP]] * batch), n)


def band(wn: torch.Tensor, centre: float = 6000.0, fwhm: float = 30.0) -> torch.Tensor:
    return torch.exp(-0.5 * ((wn - centre) / (fwhm * FWHM_TO_SIGMA)) ** 2)


def centroid(a: torch.Tensor, wn: torch.Tensor) -> torch.Tensor:
    return (a * wn).sum(-1) / a.sum(-1)


def fwhm(a: torch.Tensor, step: float) -> float:
    """Width at half maximum of one band, half-max crossings interpolated linearly."""
    a = a.double()
    half = a.max() / 2
    above = torch.nonzero(a >= half).flatten()
    i, j = above[0].item(), above[-1].item()
    left = i - 1 + (half - a[i - 1]) / (a[i] - a[i - 1])
    right = j + (a[j] - half) / (a[j] - a[j + 1])
    return float((right - left) * step)


def corpus_batch(batch: int = 6, n: int = N, seed: int = 0):
    """SNV'd band spectra with a tilt, on per-row axes of different ranges."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, n)
    centres = torch.rand(batch, 4, generator=g) * 0.8 + 0.1
    widths = torch.rand(batch, 4, generator=g) * 0.03 + 0.01
    x = torch.exp(-(((t - centres[..., None]) / widths[..., None]) ** 2)).sum(1)
    x = x + torch.rand(batch, 1, generator=g) * t
    starts = 4000.0 + 1000.0 * torch.arange(batch, dtype=torch.float32) / batch
    axis = torch.stack([starts, starts + 5000.0 + 500.0 * torch.rand(batch, generator=g)], 1)
    return snv(x), axis


# ---------------------------------------------------------------- effects


def test_shift_moves_a_band_by_the_shift():
    wn = grid()
    a = band(wn)
    for shift in (5.3, -7.9, 0.4):
        moved = shift_and_warp(a, wn, shift, 0.0, torch.zeros(2))
        assert (centroid(moved, wn) - centroid(a, wn)).item() == pytest.approx(
            shift, abs=0.05 * STEP
        )


def test_stretch_and_warp_move_a_band_by_the_axis_error_there():
    wn = grid()
    centre, nu0 = 0.5 * (START + STOP), 8000.0
    a = band(wn, nu0)
    stretch = 4e-4
    moved = shift_and_warp(a, wn, 0.0, stretch, torch.zeros(2))
    expected = stretch * (nu0 - centre)
    assert (centroid(moved, wn) - nu0).item() == pytest.approx(expected, abs=0.05 * STEP)
    warp = torch.tensor([1.5, -2.0])
    u0 = (nu0 - START) / (STOP - START)
    expected = 1.5 * math.cos(2 * math.pi * u0) - 2.0 * math.cos(3 * math.pi * u0)
    moved = shift_and_warp(a, wn, 0.0, 0.0, warp)
    assert (centroid(moved, wn) - nu0).item() == pytest.approx(expected, abs=0.05 * STEP)


def test_shift_zero_is_identity_and_edges_are_clamped():
    wn = grid(2)
    a = torch.randn(2, N, generator=torch.Generator().manual_seed(1))
    assert torch.equal(shift_and_warp(a, wn, 0.0, 0.0, torch.zeros(2)), a)
    far = shift_and_warp(a, wn, torch.tensor([50 * STEP, -50 * STEP]), 0.0, torch.zeros(2))
    assert torch.allclose(far[0, :50], a[0, :1].expand(1, 50))  # start value repeats
    assert torch.allclose(far[1, -50:], a[1, -1:].expand(1, 50))
    assert torch.allclose(far[0, 50:], a[0, :-50], atol=1e-5)  # whole steps: pure index shift


def test_broadening_keeps_area_and_adds_widths_in_quadrature():
    wn = grid(3)
    a = band(wn, 6000.0, 30.0)
    widths = torch.tensor([0.0, 20.0, 50.0])
    out = broaden(a, torch.full((3,), STEP), widths)
    assert torch.equal(out[0], a[0])  # 0 is the identity
    area = a.sum(-1) * STEP
    assert torch.allclose(out.sum(-1) * STEP, area, rtol=1e-3)
    for row, w in zip(out[1:], widths[1:].tolist(), strict=True):
        assert fwhm(row, STEP) == pytest.approx(math.hypot(30.0, w), rel=0.02)
    assert fwhm(a[0], STEP) == pytest.approx(30.0, rel=0.02)


def test_broadening_near_an_edge_keeps_area():
    wn = grid()
    a = band(wn, START + 20.0, 30.0)
    out = broaden(a, STEP, 80.0)
    assert (out.sum() / a.sum()).item() == pytest.approx(1.0, rel=1e-3)
    assert torch.isfinite(out).all()


def test_stray_light_compresses_high_absorbance_more():
    a = torch.linspace(0.0, 3.0, 301)[None]
    out = stray_light(a, 1e-3)
    deficit = a - out
    assert torch.all(out[:, 1:] < a[:, 1:])
    assert torch.all(torch.diff(deficit) > 0)  # compresses high A more than low
    assert torch.all(torch.diff(out) > 0)  # still monotone
    assert out[0, 0].abs().item() < 1e-6  # a blank reads 0 AU
    expected = -math.log10((10**-2.0 + 1e-3) / (1 + 1e-3))
    assert out[0, 200].item() == pytest.approx(expected, rel=1e-5)
    assert torch.allclose(stray_light(a, 0.0), a, atol=1e-6)


def test_detector_nonlinearity_reduces_high_absorbance():
    a = torch.linspace(0.0, 3.0, 301, dtype=torch.float64)[None]  # the deficit saturates
    gamma = 0.02
    out = detector_nonlinearity(a, gamma)
    deficit = a - out
    assert out[0, 0].abs().item() < 1e-6
    assert torch.all(out[:, 1:] < a[:, 1:])
    assert torch.all(torch.diff(deficit) > 0)  # grows with A ...
    assert deficit.max().item() < -math.log10(1 - gamma)  # ... towards -log10(1 - gamma)
    assert torch.all(torch.diff(out) > 0)
    t = 10**-1.0
    expected = 1.0 - math.log10((1 - gamma * t) / (1 - gamma))
    assert out[0, 100].item() == pytest.approx(expected, rel=1e-5)
    assert torch.allclose(detector_nonlinearity(a, 0.0), a, atol=1e-6)


def test_scatter_and_baseline_is_the_affine_model():
    wn = torch.tensor([[4000.0, 5000.0, 6000.0], [1000.0, 1500.0, 2000.0]])
    a = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]])
    out = scatter_and_baseline(
        a, wn, torch.tensor([1.1, 0.9]), torch.tensor([0.05, -0.1]), torch.tensor([0.2, 0.1])
    )
    expected = torch.tensor(
        [
            [1.1 - 0.1 + 0.05, 2.2 + 0.05, 3.3 + 0.1 + 0.05],
            [0.45 - 0.05 - 0.1, 0.45 - 0.1, 0.45 + 0.05 - 0.1],
        ]
    )
    assert torch.allclose(out, expected, atol=1e-6)


def test_noise_std_at_centre_and_growth_at_edges():
    n, rows = 257, 400
    wn = grid(rows, n)
    a = torch.zeros(rows, n)
    sigma = 1e-3
    flat = add_noise(a, wn, sigma, 0.0, torch.Generator().manual_seed(0))
    centre = slice(n // 2 - 8, n // 2 + 9)
    assert flat[:, centre].std().item() == pytest.approx(sigma, rel=0.05)
    assert flat[:, :8].std().item() == pytest.approx(sigma, rel=0.05)
    grown = add_noise(a, wn, sigma, 2.0, torch.Generator().manual_seed(0))
    assert grown[:, centre].std().item() == pytest.approx(sigma, rel=0.05)
    assert grown[:, :4].std().item() == pytest.approx(3 * sigma, rel=0.08)
    assert grown[:, -4:].std().item() == pytest.approx(3 * sigma, rel=0.08)
    again = add_noise(a, wn, sigma, 2.0, torch.Generator().manual_seed(0))
    assert torch.equal(grown, again)


def test_pseudo_absorbance_spans_level_to_level_plus_span():
    x, _ = corpus_batch(3)
    a = pseudo_absorbance(x, torch.tensor([0.1, 0.2, 0.3]), torch.tensor([1.0, 0.5, 0.3]))
    assert torch.allclose(a.amin(-1), torch.tensor([0.1, 0.2, 0.3]))
    assert torch.allclose(a.amax(-1), torch.tensor([1.1, 0.7, 0.6]))
    constant = pseudo_absorbance(torch.zeros(2, 32), 0.1, 1.0)
    assert torch.allclose(constant, torch.full((2, 32), 0.1))


# ---------------------------------------------------------------- views


def test_draw_view_shapes_normalisation_and_params():
    x, axis = corpus_batch()
    view, params = draw_view(x, axis, torch.Generator().manual_seed(0))
    assert view.shape == x.shape and view.dtype == torch.float32 and view.device == x.device
    assert params.shape == (x.shape[0], N_EFFECT_PARAMS) == (x.shape[0], len(PARAM_NAMES))
    assert params.dtype == torch.float32
    assert torch.isfinite(view).all() and torch.isfinite(params).all()
    assert torch.allclose(view.mean(-1), torch.zeros(len(x)), atol=1e-5)
    assert torch.allclose(view.std(-1, unbiased=False), torch.ones(len(x)), atol=1e-4)
    assert params.abs().max().item() <= 1.0
    assert not torch.allclose(view, x, atol=1e-3)


def test_effects_off_give_the_spectrum_back_and_zero_params():
    x, axis = corpus_batch()
    view, params = draw_view(
        x, axis, torch.Generator().manual_seed(0), SimulatorConfig(p_effect=0.0)
    )
    assert torch.equal(params, torch.zeros_like(params))
    # with no effect the view is the SNV of an affine map of an SNV row: the row itself
    assert torch.allclose(view, x, atol=1e-4)
    _, params = draw_view(x, axis, torch.Generator().manual_seed(0), SimulatorConfig(p_effect=1))
    assert torch.all(params != 0)


def test_effects_are_switched_per_view():
    x, axis = corpus_batch(64, n=64)
    _, params = draw_view(x, axis, torch.Generator().manual_seed(0), SimulatorConfig(p_effect=0.5))
    off = params == 0
    assert 0.3 < off.float().mean().item() < 0.7
    warp = [PARAM_NAMES.index(f"warp_{k}") for k in (2, 3)]
    assert torch.equal(off[:, warp[0]], off[:, warp[1]])  # one switch for the whole warp
    noise, gain = PARAM_NAMES.index("noise"), PARAM_NAMES.index("noise_edge_gain")
    assert torch.all(off[:, gain] | ~off[:, noise])  # no edge gain without noise


def test_draw_view_is_reproducible_by_seed():
    x, axis = corpus_batch()
    a, pa = draw_view(x, axis, torch.Generator().manual_seed(7))
    b, pb = draw_view(x, axis, torch.Generator().manual_seed(7))
    c, pc = draw_view(x, axis, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and torch.equal(pa, pb)
    assert not torch.allclose(a, c) and not torch.allclose(pa, pc)


def test_instrument_pair_gives_two_different_views():
    x, axis = corpus_batch()
    view_a, view_b, params_a, params_b = instrument_pair(x, axis, torch.Generator().manual_seed(0))
    for view, params in ((view_a, params_a), (view_b, params_b)):
        assert view.shape == x.shape and params.shape == (len(x), N_EFFECT_PARAMS)
        assert torch.allclose(view.std(-1, unbiased=False), torch.ones(len(x)), atol=1e-4)
    assert not torch.allclose(view_a, view_b, atol=1e-3)
    assert torch.all((params_a != params_b).any(dim=1))
    # same chemistry: the two views stay close to the spectrum and to each other
    assert torch.nn.functional.cosine_similarity(view_a, view_b).min().item() > 0.8


def test_short_spectra_and_float64_input():
    x, axis = corpus_batch(4, n=16)
    view, params = draw_view(x.double(), axis.double(), torch.Generator().manual_seed(0))
    assert view.dtype == params.dtype == torch.float32 and torch.isfinite(view).all()
    with pytest.raises(InputError, match="N >= 16"):
        draw_view(x[:, :8], axis, torch.Generator())
    with pytest.raises(InputError, match="axis"):
        draw_view(x, axis[:2], torch.Generator())


def test_constant_spectrum_stays_finite():
    x = torch.zeros(3, 64)
    axis = torch.tensor([[4000.0, 10000.0]] * 3)
    for p in (0.0, 1.0):
        view, _ = draw_view(x, axis, torch.Generator().manual_seed(0), SimulatorConfig(p_effect=p))
        assert torch.isfinite(view).all()


class _NoHostReads(TorchDispatchMode):
    """Fails on what .item(), bool(tensor), .tolist() and boolean indexing dispatch to."""

    forbidden = (torch.ops.aten._local_scalar_dense.default, torch.ops.aten.nonzero.default)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in self.forbidden:
            raise AssertionError(f"host read of a tensor value: {func}")
        return func(*args, **(kwargs or {}))


def test_no_host_reads_inside_the_draw():
    x, axis = corpus_batch(4, n=128)
    with pytest.raises(AssertionError, match="host read"), _NoHostReads():
        torch.ones(2).sum().item()  # the mode does catch a read
    with _NoHostReads():
        draw_view(x, axis, torch.Generator().manual_seed(0))
        instrument_pair(x, axis, torch.Generator().manual_seed(0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_views_on_cuda_match_cpu():
    x, axis = corpus_batch()
    cpu_view, cpu_params = draw_view(x, axis, torch.Generator().manual_seed(0))
    view, params = draw_view(x.cuda(), axis.cuda(), torch.Generator().manual_seed(0))
    assert view.device.type == params.device.type == "cuda"
    assert torch.allclose(view.cpu(), cpu_view, atol=1e-3)
    assert torch.allclose(params.cpu(), cpu_params)


# ---------------------------------------------------------------- config


@pytest.mark.parametrize(
    "key, value",
    [
        ("shift_cm1", (5.0, -5.0)),
        ("stray_light", (-1e-3, 1e-2)),
        ("stray_light", (0.0, 1.0)),
        ("broadening_cm1", (-1.0, 10.0)),
        ("absorbance_span", (0.0, 1.0)),
        ("scatter", (0.0, 1.2)),
        ("noise", (-1e-4, 1e-3)),
        ("nonlinearity", (0.0, 1.0)),
        ("offset", (0.0,)),
        ("slope", ("a", 1.0)),
        ("warp_cm1", (0.0, float("nan"))),
        ("p_effect", 1.5),
    ],
)
def test_config_rejects_bad_values_naming_the_key(key, value):
    with pytest.raises(InputError, match=key):
        SimulatorConfig(**{key: value})


def test_config_round_trips_through_a_mapping():
    cfg = SimulatorConfig(shift_cm1=[-2, 2], p_effect=1)
    assert cfg.shift_cm1 == (-2.0, 2.0) and cfg.p_effect == 1.0
    assert SimulatorConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(InputError, match="unknown"):
        SimulatorConfig.from_dict({"shfit_cm1": [0, 1]})
