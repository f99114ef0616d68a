"""CORrelation ALignment (Sun, Feng & Saenko, AAAI 2016), adapted to spectra with p >> n.

CORAL makes the second-order statistics of the target instrument's spectra match the master's,
from UNPAIRED spectra (a pool of target spectra and the master calibration set; the rows need not
be the same samples). The original whitens with the full p x p target covariance and re-colours
with the master's; with 700 wavelengths and 60 spectra both are singular, so here it is done in a
k-dimensional subspace where they can be estimated.

fit(X_target, X_master):
  V (p x k): the first k principal directions of the centred master spectra (k = n_components,
      capped by the master's numerical rank and by n_master - 1 and n_target - 1, so that both
      covariances below are estimable).
  Z_m = (X_m - mean_m) V,  Z_t = (X_t - mean_t) V: subspace scores.
  C_m = cov(Z_m) + eps tr(cov(Z_m))/k I,  C_t likewise: eps is relative to the mean eigenvalue.
  A = C_t^-1/2 C_m^1/2 (symmetric matrix square roots): whiten with the target covariance,
      re-colour with the master's, so (Z_t A)' (Z_t A)/(n_t-1) = C_m.
transform(X) = mean_m + (X - mean_t) + ((X - mean_t) V A - (X - mean_t) V) V':
  inside the subspace the centred scores are re-coloured; outside it (the rest of each spectrum)
  nothing is changed except the shift by mean_m - mean_t. So the mean difference is removed over
  the whole spectrum, but target-only variation outside the master's subspace is left as it is.
"""

from __future__ import annotations

import numbers
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from spectralfm.errors import InputError
from spectralfm.transfer.base import check_spectra
from spectralfm.transfer.composite import CorrectedMasterTransfer, check_factors


def _regularised_cov(Z: np.ndarray, eps: float) -> np.ndarray:
    C = np.cov(Z, rowvar=False).reshape(Z.shape[1], Z.shape[1])
    return C + eps * np.trace(C) / len(C) * np.eye(len(C))


def _sym_power(C: np.ndarray, power: float) -> np.ndarray:
    """C^power for a symmetric positive semi-definite C, through its eigendecomposition."""
    vals, vecs = np.linalg.eigh(C)
    # Eigenvalues at round-off level (eps = 0 on a rank-deficient covariance) would blow up under
    # a negative power: floor them at a tiny fraction of the largest.
    vals = np.maximum(vals, 1e-12 * max(vals.max(), 1e-300))
    return (vecs * vals**power) @ vecs.T


class CORAL(TransformerMixin, BaseEstimator):
    """fit(X_target, X_master) on unpaired spectra; transform(X) maps target spectra onto the
    master's mean and (subspace) covariance. See the module docstring for the exact map.

    n_components: subspace dimension k (>= 1); fewer are used when the spectra cannot support k.
    eps: ridge added to both subspace covariances, as a fraction of their mean eigenvalue (>= 0).

    Attributes after fit: components_ (k, p) orthonormal master principal directions,
    n_components_, mean_target_, mean_master_ (p,), covariance_target_, covariance_master_ (k, k)
    regularised, alignment_ (k, k) = C_t^-1/2 C_m^1/2, acting on row vectors of scores.
    """

    def __init__(self, n_components: int = 10, eps: float = 1e-3):
        self.n_components = n_components
        self.eps = eps

    @staticmethod
    def factorize(X_target, X_master) -> tuple[np.ndarray, np.ndarray]:
        """(s, Vt): singular values and right singular vectors of the centred master spectra
        (to their numerical rank), from the n x n Gram matrix (n << p): several times cheaper
        than an SVD inside tuning loops."""
        Xm = check_spectra(X_master, "CORAL.fit X_master")
        centred = Xm - Xm.mean(axis=0)
        s2, U = np.linalg.eigh(centred @ centred.T)
        s2, U = s2[::-1].clip(min=0.0), U[:, ::-1]
        s = np.sqrt(s2)
        rank = int(np.sum(s > 1e-7 * s[0])) if s[0] > 0 else 0
        return s[:rank], (U[:, :rank] / s[:rank]).T @ centred

    def fit(self, X_target, X_master, *, factors=None):
        """`factors`: `CORAL.factorize` of the same spectra, when already computed (it does not
        depend on n_components or eps)."""
        Xm = check_spectra(X_master, "CORAL.fit X_master")
        p = Xm.shape[1]
        Xt = check_spectra(X_target, "CORAL.fit X_target", p)
        k, eps = self.n_components, self.eps
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise InputError(f"CORAL n_components={k!r}: must be an integer >= 1")
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not np.isfinite(eps):
            raise InputError(f"CORAL eps={eps!r}: must be a finite number >= 0")
        if eps < 0:
            raise InputError(f"CORAL eps={eps}: must be >= 0")
        for key, X in (("X_target", Xt), ("X_master", Xm)):
            if len(X) < 3:
                raise InputError(
                    f"CORAL.fit {key}: needs at least 3 spectra to estimate a covariance, got {len(X)}"
                )

        self.mean_target_ = Xt.mean(axis=0)
        self.mean_master_ = Xm.mean(axis=0)
        s, Vt = self.factorize(Xt, Xm) if factors is None else check_factors(factors, p, "CORAL")
        rank = len(s)
        if rank == 0:
            raise InputError(
                "CORAL.fit X_master: all spectra are identical, no covariance to match"
            )
        # A covariance from n rows has rank <= n - 1: a larger subspace would whiten pure ridge.
        k = min(int(k), rank, len(Xm) - 1, len(Xt) - 1)
        self.components_ = Vt[:k]
        self.n_components_ = k

        V = self.components_.T
        self.covariance_master_ = _regularised_cov((Xm - self.mean_master_) @ V, eps)
        self.covariance_target_ = _regularised_cov((Xt - self.mean_target_) @ V, eps)
        self.alignment_ = _sym_power(self.covariance_target_, -0.5) @ _sym_power(
            self.covariance_master_, 0.5
        )
        self.n_features_in_ = p
        return self

    def transform(self, X):
        check_is_fitted(self, "alignment_")
        X = check_spectra(X, "CORAL.transform X", self.n_features_in_)
        Xc = X - self.mean_target_
        Z = Xc @ self.components_.T
        return self.mean_master_ + Xc + (Z @ self.alignment_ - Z) @ self.components_

    def fit_transform(self, X_target, X_master):
        """fit(X_target, X_master), then the aligned X_target."""
        return self.fit(X_target, X_master).transform(X_target)


class CORALTransfer(CorrectedMasterTransfer):
    """Master PLS applied to target spectra aligned by CORAL on the protocol's unlabeled pool."""

    name: ClassVar[str] = "coral"
    uses_unlabeled: ClassVar[bool] = True
    correction = CORAL
    correction_params = ("n_components", "eps")
    paired = False
    TUNABLE: ClassVar[dict[str, tuple]] = {"n_components": (2, 5, 10, 20)}

    def __init__(self, n_components="auto", eps: float = 1e-3, preprocessing="auto",
                 master_components="auto", max_components: int = 20, cv: int = 5):  # fmt: skip
        self.n_components = n_components
        self.eps = eps
        self.preprocessing = preprocessing
        self.master_components = master_components
        self.max_components = max_components
        self.cv = cv
