"""scikit-learn transformers for NIR spectra, and the compact preprocessing spec of config files.

Every transformer works on an (n_samples, n_wavelengths) matrix, row by row, vectorised over rows.
All of them learn nothing from the data except MSC (its reference spectrum) and the number of
wavelengths, so a fitted pipeline applies unchanged to master and target spectra.

The spec: steps joined by ``+``, applied left to right. A step is ``none``, ``snv``, ``msc``,
``detrend`` or ``detrend(order)``, ``sg0`` / ``sg1`` / ``sg2`` (Savitzky-Golay smoothing, 1st and
2nd derivative) or with explicit ``(window,polyorder)``. Example: ``snv+sg1(15,2)``. Case and
spaces are ignored. `canonical_preprocessing` writes the normalised form (defaults explicit, no
``none`` inside a chain), the value the results table records.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import savgol_filter
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, validate_data

from spectralfm.errors import InputError
from spectralfm.preprocessing_spec import (  # noqa: F401  (canonical_preprocessing: re-exported)
    DETREND_DEFAULT_ORDER,
    SG_DEFAULT_POLYORDER,
    SG_DEFAULT_WINDOW,
    SG_DERIV,
    canonical_preprocessing,
    is_int,
    parse_spec,
    sg_problem,
)


class _SpectraTransformer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Shared plumbing: validation, n_features_in_ at fit, the same width required at transform."""

    def fit(self, X, y=None):
        self._check_params()
        X = _validate(self, X, reset=True)
        self._check_width(X.shape[1])
        self._fit(X)
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = _validate(self, X, reset=False)
        self._check_width(X.shape[1])
        return self._transform(X)

    def _check_params(self) -> None:
        pass

    def _check_width(self, n_features: int) -> None:
        pass

    def _fit(self, X: np.ndarray) -> None:
        pass

    def _transform(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class NoPreprocessing(_SpectraTransformer):
    """Identity: returns a copy of the spectra (so later in-place steps cannot alter the input)."""

    def _transform(self, X):
        return X.copy()


class SNV(_SpectraTransformer):
    """Standard normal variate: each row minus its mean, divided by its standard deviation.

    The standard deviation is the population one (ddof=0, numpy's default, as chemotools and
    spectralfm.preprocess.snv), so every output row has mean 0 and np.std 1. A constant row
    (standard deviation 0) cannot be scaled and raises InputError.
    """

    def _transform(self, X):
        centred = X - X.mean(axis=1, keepdims=True)
        sd = np.sqrt(np.mean(centred**2, axis=1, keepdims=True))
        flat = np.flatnonzero(sd[:, 0] == 0)
        if len(flat):
            raise InputError(f"SNV: row {flat[0]} is constant (standard deviation 0)")
        return centred / sd


class MSC(_SpectraTransformer):
    """Multiplicative scatter correction against the mean of the rows passed to fit.

    fit stores ``reference_`` (the mean spectrum of the fit rows); transform regresses each row x on
    it by least squares, x ~ a + b * reference_, and returns (x - a) / b.
    """

    def _check_width(self, n_features):
        # A line through one point is undetermined.
        if n_features < 2:
            raise InputError(f"MSC: needs at least 2 wavelengths, got {n_features} feature(s)")

    def _fit(self, X):
        reference = X.mean(axis=0)
        if np.all(reference == reference[0]):
            raise InputError("MSC: the mean spectrum of the fit rows is flat; cannot regress on it")
        self.reference_ = reference

    def _transform(self, X):
        ref = self.reference_
        ref_c = ref - ref.mean()
        x_mean = X.mean(axis=1)
        slope = (X - x_mean[:, None]) @ ref_c / (ref_c @ ref_c)
        zero = np.flatnonzero(slope == 0)
        if len(zero):
            raise InputError(
                f"MSC: row {zero[0]} has slope 0 on the reference; cannot divide by it"
            )
        offset = x_mean - slope * ref.mean()
        return (X - offset[:, None]) / slope[:, None]


class SavitzkyGolay(_SpectraTransformer):
    """Savitzky-Golay smoothing (deriv=0) or derivative along the wavelength axis.

    scipy.signal.savgol_filter along axis=1 with mode="interp" (the edges come from the polynomial
    fitted to the first / last window). Derivatives are per channel (delta=1), so they do not
    depend on the wavelength units. `window` must be odd, larger than `polyorder`, at most the
    number of wavelengths; `deriv` at most `polyorder`.
    """

    def __init__(self, window: int = SG_DEFAULT_WINDOW, polyorder: int = SG_DEFAULT_POLYORDER,
                 deriv: int = 1):  # fmt: skip
        self.window = window
        self.polyorder = polyorder
        self.deriv = deriv

    def _check_params(self):
        problem = sg_problem(self.window, self.polyorder, self.deriv)
        if problem:
            raise InputError(f"SavitzkyGolay: {problem}")

    def _check_width(self, n_features):
        # The wording "n_features=" is also what sklearn's estimator checks look for.
        if self.window > n_features:
            raise InputError(
                f"SavitzkyGolay: window={self.window} is longer than the spectrum "
                f"(n_features={n_features})"
            )

    def _transform(self, X):
        return savgol_filter(X, self.window, self.polyorder, deriv=self.deriv, axis=1)


class Detrend(_SpectraTransformer):
    """Remove from each row its least-squares polynomial of degree `order` in the channel index.

    The channel index is mapped onto [-1, 1] first (better conditioned, same fitted polynomial).
    Needs more wavelengths than `order`, else nothing would be left.
    """

    def __init__(self, order: int = DETREND_DEFAULT_ORDER):
        self.order = order

    def _check_params(self):
        if not (is_int(self.order) and self.order >= 0):
            raise InputError(f"Detrend: order={self.order!r} must be an int >= 0")

    def _check_width(self, n_features):
        if n_features <= self.order:
            raise InputError(
                f"Detrend: order={self.order} needs more than {self.order} wavelengths, "
                f"got n_features={n_features}"
            )

    def _transform(self, X):
        index = np.linspace(-1.0, 1.0, X.shape[1])
        # Orthonormal basis of the polynomials: the fit is a projection, the same for all rows.
        basis, _ = np.linalg.qr(np.vander(index, self.order + 1))
        return X - (X @ basis) @ basis.T


def parse_preprocessing(
    spec: str, key: str = "preprocessing", n_features: int | None = None
) -> Pipeline:
    """Pipeline of the steps in `spec` (see spectralfm.preprocessing_spec), in order; ``none``
    alone gives an identity pipeline. With `n_features`, also checks each step fits spectra that
    wide. Raises InputError naming `key` for anything malformed or inconsistent."""
    named, seen = [], {}
    for name, args in parse_spec(spec, key, n_features):
        seen[name] = seen.get(name, 0) + 1
        label = name if seen[name] == 1 else f"{name}_{seen[name]}"  # unique step names
        named.append((label, _transformer(name, args)))
    return Pipeline(named)


def _transformer(name: str, args: tuple[int, ...]):
    if name == "none":
        return NoPreprocessing()
    if name == "snv":
        return SNV()
    if name == "msc":
        return MSC()
    if name == "detrend":
        return Detrend(order=args[0])
    return SavitzkyGolay(window=args[0], polyorder=args[1], deriv=SG_DERIV[name])


def _validate(estimator, X, reset: bool) -> np.ndarray:
    """sklearn's checks (2-D, finite, numeric, n_features_in_), raised as InputError."""
    try:
        return validate_data(estimator, X, reset=reset, dtype=np.float64)
    except ValueError as err:
        if isinstance(err, InputError):
            raise
        raise InputError(f"{type(estimator).__name__}: {err}") from err
