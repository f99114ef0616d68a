"""Instrument simulator: from one spectrum, draw "instrument views" that differ as instruments do.

Pretraining sees every corpus spectrum through two simulated instruments (``instrument_pair``),
so the model learns what stays the same (the chemistry) and what an instrument changes. Each
view applies, in this order, to a pseudo-absorbance spectrum on the row's own uniform grid:

1. Pseudo-absorbance. Corpus spectra are SNV-normalised, so their absolute absorbance is lost. We
   *assume* one: ``A = level + span * (x - min x) / (max x - min x)``, i.e. A in
   [level, level + span] AU, typical of NIR transmission / log(1/R) spectra. The effects below
   that are non-linear in A (stray light, detector non-linearity) and the size of the additive
   ones relative to the bands depend on this assumption. ``instrument_pair`` draws it once per
   spectrum: both views are one sample measured on two instruments.
2. Axis error (``shift_and_warp``): the instrument's wavenumber scale is off by
   ``delta(nu) = shift + stretch * (nu - centre) + sum_k warp_k cos(k pi u)`` (k = 2, 3; u in
   [0, 1] along the range), so a band at nu0 is reported at about nu0 + delta(nu0). A grating or
   array instrument's pixel-to-wavelength calibration is a low-order polynomial, so its residual
   error is smooth; FT instruments have almost only a stretch (laser reference).
3. Resolution (``broaden``): an extra Gaussian instrument line shape of FWHM ``broadening_cm1``,
   for an instrument with a wider slit / bandwidth than the one that measured the corpus.
4. Scatter and baseline (``scatter_and_baseline``): ``b * A + offset + slope * (nu - c) / range``,
   the multiplicative and additive terms of MSC/EMSC (Martens & Stark 1991; Rinnan et al. 2009):
   path length, particle size, packing and probe contact differ between measurements.
5. Stray light (``stray_light``): light of other wavelengths reaching the detector flattens
   high absorbances (the negative Beer-Lambert deviation).
6. Detector non-linearity (``detector_nonlinearity``): a detector/amplifier whose response
   saturates at high flux.
7. Noise (``add_noise``): white Gaussian noise in absorbance, growing towards the range edges
   where source output and detector responsivity fall off.
8. SNV again, so a view has the corpus's normalisation.

Every effect is on in a view with probability ``p_effect`` (independently), so views also differ
in *which* effects apply. ``draw_view`` returns, with the view, the drawn parameters scaled by
their ranges to [-1, 1], 0 for an effect that is off, in the order of ``PARAM_NAMES``.

Parameter ranges come from instrument specifications and the preprocessing literature (the
comment by each ``SimulatorConfig`` field says which), never from a benchmark instrument pair.
Everything is batched torch on the spectra's device; random numbers come only from the passed
generator (drawn on its device, normally the CPU, then moved), so a seed reproduces a view on any
device, and the draw reads no tensor value back on the host (no synchronisation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from spectralfm.configdict import ConfigDict
from spectralfm.errors import InputError

WARP_ORDERS = (2, 3)  # cos(k pi u) terms of the axis warp; k = 0, 1 are the shift and stretch
MIN_POINTS = 16
_EPS = 1e-8

# the params vector of a view, in order; "warp_k" is the cos(k pi u) coefficient
PARAM_NAMES = (
    "shift_cm1",
    "stretch",
    *(f"warp_{k}" for k in WARP_ORDERS),
    "broadening_cm1",
    "scatter",
    "offset",
    "slope",
    "stray_light",
    "nonlinearity",
    "noise",
    "noise_edge_gain",
)
N_EFFECT_PARAMS = len(PARAM_NAMES)

Range = tuple[float, float]


@dataclass
class SimulatorConfig(ConfigDict):
    """Ranges (low, high) each parameter is drawn from, uniformly, per spectrum and view."""

    config_name = "simulator config"

    # AU. An assumption (SNV lost the absolute scale): NIR transmission and log(1/R) spectra
    # of solids and liquids mostly sit between ~0.05 and ~2 AU.
    absorbance_level: Range = (0.05, 0.5)
    absorbance_span: Range = (0.3, 1.5)
    # cm^-1. USP <1119> wavelength accuracy tolerance is about +-1 nm in the NIR; 1 nm is
    # 1e7 / lambda^2 cm^-1: ~7 cm^-1 at 1200 nm, ~4 at 1600 nm, ~2.5 at 2000 nm.
    shift_cm1: Range = (-8.0, 8.0)
    # relative. A dispersive wavelength scale wrong by ~0.5 nm per 1000 nm (half the USP <1119>
    # tolerance across the range); FT-NIR laser references are far better (~1e-5).
    stretch: Range = (-5e-4, 5e-4)
    # cm^-1, each cos(k pi u) coefficient: residual non-linear pixel-to-wavelength error of
    # array/grating instruments after polynomial calibration, a fraction of the +-1 nm tolerance.
    warp_cm1: Range = (-2.0, 2.0)
    # cm^-1 FWHM of the extra Gaussian line shape. Spectral bandwidths of benchtop dispersive
    # (~5-10 nm) and handheld (~10-20 nm) NIR instruments, i.e. ~20-80 cm^-1 at 1600 nm; going
    # from one to the other adds sqrt(w_hi^2 - w_lo^2), up to ~60 cm^-1. 0: same resolution.
    broadening_cm1: Range = (0.0, 60.0)
    # fraction of the reference intensity. Vendor specs 0.01 % - 1 %; ASTM E387 gives ~0.1 % as
    # typical of a well-designed single monochromator, array instruments being worse.
    stray_light: Range = (1e-4, 1e-2)
    # gamma of R(I) = I (1 - gamma I): the relative transmittance error at low T. Photometric
    # linearity specs of NIR instruments are ~1 % of reading (USP <1119> checks it with
    # reflectance standards of 2-99 %).
    nonlinearity: Range = (0.0, 0.02)
    # multiplicative scatter b of MSC/EMSC, A' = b A (Martens & Stark 1991; Rinnan et al. 2009)
    scatter: Range = (0.8, 1.2)
    # AU, additive baseline a of MSC/EMSC (same sources)
    offset: Range = (-0.1, 0.1)
    # AU, baseline rise from the start to the stop of the range (the EMSC linear term)
    slope: Range = (-0.1, 0.1)
    # AU rms at the range centre: benchtop (~1e-5) to handheld (~1e-3) noise specs
    noise: Range = (1e-5, 1e-3)
    # noise at the range edges is (1 + gain) times the centre's: source output and detector
    # responsivity (InGaAs, PbS) fall towards the ends of an NIR range, by several fold
    noise_edge_gain: Range = (0.0, 3.0)
    # probability that each effect is on in a view
    p_effect: float = 0.8

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "p_effect":
                setattr(self, f.name, _as_range(f.name, getattr(self, f.name)))
        p = self.p_effect
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
            raise InputError(f"simulator config: p_effect={p!r} must be a number in [0, 1]")
        self.p_effect = float(p)
        self._require("absorbance_span", low_above=0.0)
        self._require("broadening_cm1", low_from=0.0)
        self._require("stray_light", low_from=0.0, high_below=1.0)
        self._require("nonlinearity", low_above=-1.0, high_below=1.0)
        self._require("scatter", low_above=0.0)
        self._require("noise", low_from=0.0)
        self._require("noise_edge_gain", low_from=0.0)
        self._require("stretch", low_above=-1.0, high_below=1.0)

    def _require(self, key, low_from=None, low_above=None, high_below=None) -> None:
        low, high = getattr(self, key)
        if low_from is not None and low < low_from:
            raise InputError(f"simulator config: {key}={[low, high]}: low must be >= {low_from}")
        if low_above is not None and low <= low_above:
            raise InputError(f"simulator config: {key}={[low, high]}: low must be > {low_above}")
        if high_below is not None and high >= high_below:
            raise InputError(f"simulator config: {key}={[low, high]}: high must be < {high_below}")


def _as_range(key: str, value) -> Range:
    """(low, high) as floats; JSON/YAML give lists."""
    ok = isinstance(value, list | tuple) and len(value) == 2
    ok = ok and all(not isinstance(v, bool) and isinstance(v, int | float) for v in value)
    if not ok or not all(math.isfinite(v) for v in value):
        raise InputError(f"simulator config: {key}={value!r} must be [low, high], two numbers")
    low, high = float(value[0]), float(value[1])
    if low > high:
        raise InputError(f"simulator config: {key}={value!r}: low > high")
    return low, high


# ---------------------------------------------------------------- helpers


def _column(value, like: torch.Tensor) -> torch.Tensor:
    """A float or per-row (B,) tensor as a (B, 1) or (1, 1) column on ``like``'s device."""
    return torch.as_tensor(value, dtype=like.dtype, device=like.device).reshape(-1, 1)


def wavenumber_grid(axis: torch.Tensor, n_points: int) -> torch.Tensor:
    """(B, n_points) uniform grid from each row's [start, stop], both included."""
    t = torch.linspace(0.0, 1.0, n_points, dtype=torch.float32, device=axis.device)
    start, stop = axis[:, :1].float(), axis[:, 1:2].float()
    return start + (stop - start) * t


def _range_coordinates(wavenumber: torch.Tensor):
    """Per row: start, stop (B, 1) and the position u in [0, 1] along the range (B, N)."""
    start, stop = wavenumber[:, :1], wavenumber[:, -1:]
    return start, stop, (wavenumber - start) / (stop - start)


def snv(x: torch.Tensor) -> torch.Tensor:
    """Row-wise standard normal variate (population std, as spectralfm.preprocess.snv); a
    constant row becomes zeros."""
    x = x - x.mean(dim=-1, keepdim=True)
    std = x.pow(2).mean(dim=-1, keepdim=True).sqrt()
    return x / std.clamp_min(_EPS)


def pseudo_absorbance(spectra: torch.Tensor, level, span) -> torch.Tensor:
    """Map each (SNV) row linearly onto [level, level + span] AU: the assumed true absorbance.
    A constant row maps to ``level``."""
    low = spectra.amin(dim=-1, keepdim=True)
    extent = spectra.amax(dim=-1, keepdim=True) - low
    unit = (spectra - low) / extent.clamp_min(_EPS)
    return _column(level, spectra) + _column(span, spectra) * unit


# ---------------------------------------------------------------- effects


def shift_and_warp(
    absorbance: torch.Tensor, wavenumber: torch.Tensor, shift, stretch, warp
) -> torch.Tensor:
    """The spectrum as an instrument with a wrong wavenumber scale reports it.

    The scale error is ``delta(nu) = shift + stretch * (nu - centre) + sum_j warp[:, j] *
    cos(WARP_ORDERS[j] pi u)``, u = (nu - start) / (stop - start); the output at grid point nu is
    the input at nu - delta(nu), so a band at nu0 moves to nu0 + delta(nu0) (exactly, for a pure
    shift). Linear interpolation on the uniform grid, clamped at the edges (the end values
    repeat). ``shift`` (cm^-1) and ``stretch`` (relative) are floats or (B,); ``warp`` (cm^-1) is
    (B, K) or (K,) with K <= len(WARP_ORDERS).
    """
    n = absorbance.shape[-1]
    wavenumber = torch.broadcast_to(wavenumber, absorbance.shape)
    start, stop, u = _range_coordinates(wavenumber)
    step = (stop - start) / (n - 1)
    warp = torch.as_tensor(warp, dtype=absorbance.dtype, device=absorbance.device)
    warp = warp.reshape(1, -1) if warp.dim() < 2 else warp
    orders = torch.tensor(WARP_ORDERS[: warp.shape[-1]], dtype=u.dtype, device=u.device)
    terms = torch.cos(orders[None, :, None] * math.pi * u[:, None, :])  # (B, K, N)
    delta = (
        _column(shift, absorbance)
        + _column(stretch, absorbance) * (wavenumber - 0.5 * (start + stop))
        + (warp[:, :, None] * terms).sum(dim=1)
    )
    # fractional source index: the grid index minus the error in grid steps (exact for delta 0)
    index = torch.arange(n, dtype=absorbance.dtype, device=absorbance.device)
    source = (index - delta / step).clamp(0.0, n - 1.0)
    left = source.floor().clamp(max=n - 2)
    weight = source - left
    left = left.long()
    return absorbance.gather(-1, left) * (1.0 - weight) + absorbance.gather(-1, left + 1) * weight


def broaden(absorbance: torch.Tensor, step_cm1, fwhm_cm1) -> torch.Tensor:
    """Convolve each row with a normalised Gaussian of FWHM ``fwhm_cm1`` (float or (B,); 0 leaves
    the row unchanged) on a grid of ``step_cm1`` per point (float or (B,)).

    Done as a filter in the frequency domain of the row mirrored at both ends (reflect
    padding of any length, so any width works without a kernel size chosen on the host): the
    transfer function is exp(-2 pi^2 sigma^2 f^2), 1 at f = 0, so the band area (sum) is kept.
    """
    n = absorbance.shape[-1]
    sigma = _column(fwhm_cm1, absorbance) / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    sigma_points = sigma / _column(step_cm1, absorbance)
    mirrored = torch.cat([absorbance, absorbance.flip(-1)], dim=-1)
    freq = torch.fft.rfftfreq(2 * n, device=absorbance.device).to(absorbance.dtype)
    transfer = torch.exp(-2.0 * math.pi**2 * sigma_points**2 * freq**2)
    out = torch.fft.irfft(torch.fft.rfft(mirrored) * transfer, n=2 * n)[..., :n]
    return torch.where(sigma_points > 0, out, absorbance)


def scatter_and_baseline(
    absorbance: torch.Tensor, wavenumber: torch.Tensor, scatter, offset, slope
) -> torch.Tensor:
    """``scatter * A + offset + slope * (nu - centre) / (stop - start)``: the MSC/EMSC model of
    multiplicative scatter and a linear baseline. ``offset`` is the baseline at the range centre,
    ``slope`` its rise from start to stop, both AU; each a float or (B,)."""
    wavenumber = torch.broadcast_to(wavenumber, absorbance.shape)
    _, _, u = _range_coordinates(wavenumber)
    return (
        _column(scatter, absorbance) * absorbance
        + _column(offset, absorbance)
        + _column(slope, absorbance) * (u - 0.5)
    )


def stray_light(absorbance: torch.Tensor, s) -> torch.Tensor:
    """``A' = -log10((10^-A + s) / (1 + s))`` for a stray-light fraction ``s`` (float or (B,)).

    Stray light adds s (relative to the reference intensity) to the sample *and* the reference
    measurement, hence the standard form with 1 + s: a blank still reads 0 AU. A' < A for A > 0,
    the deficit grows with A and A' saturates at log10((1 + s) / s) (4 AU at s = 1e-4)."""
    s = _column(s, absorbance)
    return -torch.log10((torch.pow(10.0, -absorbance) + s) / (1.0 + s))


def detector_nonlinearity(absorbance: torch.Tensor, gamma) -> torch.Tensor:
    """A detector whose response saturates, R(I) = I (1 - gamma I), I relative to the reference.

    The instrument reports T' = R(T) / R(1) = T (1 - gamma T) / (1 - gamma), i.e.
    ``A' = A - log10((1 - gamma T) / (1 - gamma))`` with T = 10^-A (gamma float or (B,)). For
    gamma > 0, A' = A at A = 0 and A' < A above, the deficit growing with A towards
    -log10(1 - gamma); gamma is the relative transmittance error at T -> 0 (a "1 %" photometric
    linearity is gamma ~ 0.01). gamma < 0 is a supralinear detector."""
    gamma = _column(gamma, absorbance)
    ratio = (1.0 - gamma * torch.pow(10.0, -absorbance)) / (1.0 - gamma)
    return absorbance - torch.log10(ratio.clamp_min(_EPS))


def add_noise(
    absorbance: torch.Tensor,
    wavenumber: torch.Tensor,
    sigma,
    edge_gain,
    generator: torch.Generator,
) -> torch.Tensor:
    """Add Gaussian noise of std ``sigma * (1 + edge_gain * x^2)`` AU, x in [-1, 1] from start to
    stop: ``sigma`` at the range centre, (1 + edge_gain) times that at the edges (the detector
    response and source output fall there). ``sigma`` and ``edge_gain`` are floats or (B,).
    The noise is drawn on the generator's device and moved to the spectra's."""
    wavenumber = torch.broadcast_to(wavenumber, absorbance.shape)
    _, _, u = _range_coordinates(wavenumber)
    x = 2.0 * u - 1.0
    std = _column(sigma, absorbance) * (1.0 + _column(edge_gain, absorbance) * x**2)
    draw = torch.randn(
        absorbance.shape, generator=generator, device=generator.device, dtype=absorbance.dtype
    )
    return absorbance + std * draw.to(absorbance.device)


# ---------------------------------------------------------------- views

# the "no effect" value of each parameter (for scaling and for an effect that is off)
_NEUTRAL = {name: 0.0 for name in PARAM_NAMES} | {"scatter": 1.0}


def _field(name: str) -> str:
    return "warp_cm1" if name.startswith("warp_") else name


def _gate_index() -> list[int]:
    """Column -> effect it belongs to: the warp terms share one on/off draw."""
    effects = list(dict.fromkeys(_field(name) for name in PARAM_NAMES))
    return [effects.index(_field(name)) for name in PARAM_NAMES]


def _draw_effects(batch: int, generator: torch.Generator, cfg: SimulatorConfig, device):
    """The effect values (B, N_EFFECT_PARAMS), neutral where off, and their scaled params."""
    gate_index = _gate_index()
    u = torch.rand(batch, N_EFFECT_PARAMS, generator=generator, device=generator.device)
    gate_u = torch.rand(batch, max(gate_index) + 1, generator=generator, device=generator.device)
    u, gate_u = u.to(device), gate_u.to(device)
    on = (gate_u < cfg.p_effect)[:, gate_index]
    noise_col, gain_col = PARAM_NAMES.index("noise"), PARAM_NAMES.index("noise_edge_gain")
    on[:, gain_col] &= on[:, noise_col]  # edge gain only shapes noise that is there
    ranges = [getattr(cfg, _field(name)) for name in PARAM_NAMES]
    neutral = [_NEUTRAL[name] for name in PARAM_NAMES]
    scale = [
        max(abs(lo - n), abs(hi - n)) or 1.0 for (lo, hi), n in zip(ranges, neutral, strict=True)
    ]

    def row(values):
        return torch.tensor(values, dtype=torch.float32, device=device)

    low, high = row([r[0] for r in ranges]), row([r[1] for r in ranges])
    values = torch.where(on, low + (high - low) * u, row(neutral))
    params = (values - row(neutral)) / row(scale)
    return values, params


def _check_inputs(spectra: torch.Tensor, axis: torch.Tensor) -> None:
    if spectra.dim() != 2 or spectra.shape[-1] < MIN_POINTS:
        raise InputError(
            f"simulator: spectra must be (B, N) with N >= {MIN_POINTS}, got {tuple(spectra.shape)}"
        )
    if axis.shape != (spectra.shape[0], 2):
        raise InputError(
            f"simulator: axis must be (B, 2) = [start, stop] for spectra {tuple(spectra.shape)}, "
            f"got {tuple(axis.shape)}"
        )


def _draw_absorbance(spectra, generator, cfg: SimulatorConfig) -> torch.Tensor:
    u = torch.rand(spectra.shape[0], 2, generator=generator, device=generator.device)
    u = u.to(spectra.device)
    (level_lo, level_hi), (span_lo, span_hi) = cfg.absorbance_level, cfg.absorbance_span
    level = level_lo + (level_hi - level_lo) * u[:, 0]
    span = span_lo + (span_hi - span_lo) * u[:, 1]
    return pseudo_absorbance(spectra, level, span)


def _view(absorbance, axis, generator, cfg: SimulatorConfig):
    values, params = _draw_effects(absorbance.shape[0], generator, cfg, absorbance.device)
    v = dict(zip(PARAM_NAMES, values.unbind(dim=1), strict=True))
    n = absorbance.shape[-1]
    wavenumber = wavenumber_grid(axis, n)
    step = (wavenumber[:, -1] - wavenumber[:, 0]) / (n - 1)
    warp = torch.stack([v[f"warp_{k}"] for k in WARP_ORDERS], dim=1)
    a = shift_and_warp(absorbance, wavenumber, v["shift_cm1"], v["stretch"], warp)
    a = broaden(a, step, v["broadening_cm1"])
    a = scatter_and_baseline(a, wavenumber, v["scatter"], v["offset"], v["slope"])
    a = stray_light(a, v["stray_light"])
    a = detector_nonlinearity(a, v["nonlinearity"])
    a = add_noise(a, wavenumber, v["noise"], v["noise_edge_gain"], generator)
    return snv(a), params


def draw_view(
    spectra: torch.Tensor,
    axis: torch.Tensor,
    generator: torch.Generator,
    cfg: SimulatorConfig | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One simulated instrument view of each spectrum.

    ``spectra`` (B, N) SNV rows on the uniform grid ``axis`` (B, 2) = [start, stop] cm^-1
    (start < stop; not checked, that would read the values on the host). Returns the view
    (B, N) SNV float32 on ``spectra.device`` and the drawn effect parameters (B, N_EFFECT_PARAMS)
    float32, in the order of ``PARAM_NAMES``, each scaled by its range to [-1, 1], 0 when the
    effect is off. The absorbance level and span are not effects and not in the params.
    """
    cfg = SimulatorConfig() if cfg is None else cfg
    _check_inputs(spectra, axis)
    spectra = spectra.float()
    absorbance = _draw_absorbance(spectra, generator, cfg)
    return _view(absorbance, axis.to(spectra.device), generator, cfg)


def instrument_pair(
    spectra: torch.Tensor,
    axis: torch.Tensor,
    generator: torch.Generator,
    cfg: SimulatorConfig | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two independent instrument views of each spectrum: ``view_a, view_b, params_a, params_b``
    (as ``draw_view``). The pseudo-absorbance is drawn once and shared: one sample, two
    instruments."""
    cfg = SimulatorConfig() if cfg is None else cfg
    _check_inputs(spectra, axis)
    spectra = spectra.float()
    axis = axis.to(spectra.device)
    absorbance = _draw_absorbance(spectra, generator, cfg)
    view_a, params_a = _view(absorbance, axis, generator, cfg)
    view_b, params_b = _view(absorbance, axis, generator, cfg)
    return view_a, view_b, params_a, params_b
