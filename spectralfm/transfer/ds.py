"""Direct Standardisation (Wang, Veltkamp & Kowalski 1991): one full-spectrum linear map from target
spectra to master spectra, learned on the transfer standards, then the master model is applied.

With N standards and hundreds of wavelengths the map is hugely under-determined; the regularised
(truncated-SVD or ridge) pseudo-inverse keeps it from fitting noise.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from spectralfm.errors import InputError
from spectralfm.transfer.composite import CorrectedMasterTransfer, check_factors

REGULARIZATIONS = ("tsvd", "ridge")


def regularised_lstsq(A: np.ndarray, B: np.ndarray, regularization: str, alpha: float,
                      n_components: int | None) -> np.ndarray:  # fmt: skip
    """Solve A @ X ~= B through the singular values of A; works on stacks (..., n, m) @ (..., m, k).

    tsvd: keep singular values above alpha * largest, at most n_components of them.
    ridge: Tikhonov with penalty alpha * largest singular value squared (scale-free).
    Zero columns of A (padding) get zero coefficients either way.
    Stacks of narrow matrices (PDS windows, m <= GRAM_MAX_COLUMNS) go through the eigenvectors
    of the small Gram matrices A'A instead of an SVD: several times faster for hundreds of
    windows; squaring halves the resolvable range, so singular values below GRAM_FLOOR times the
    largest count as zero there.
    """
    if regularization not in REGULARIZATIONS:
        raise InputError(f"regularization={regularization!r}: expected one of {REGULARIZATIONS}")
    if A.ndim == 3 and A.shape[-1] <= GRAM_MAX_COLUMNS:
        s2, V = np.linalg.eigh(np.swapaxes(A, -1, -2) @ A)  # ascending eigenvalues
        s2, V = s2[..., ::-1].clip(min=0.0), V[..., ::-1]  # largest first, like the SVD
        s = np.sqrt(s2)
        factor = _filter_factors(s, regularization, max(alpha, GRAM_FLOOR), n_components)
        # X = V diag(factor / s) V' A' B, i.e. the SVD solution written with V and s only.
        scale = np.where(s > 0, factor / np.where(s > 0, s, 1.0), 0.0)
        VtAtB = np.swapaxes(V, -1, -2) @ (np.swapaxes(A, -1, -2) @ B)
        return V @ (scale[..., None] * VtAtB)
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    factor = _filter_factors(s, regularization, alpha, n_components)
    UtB = np.swapaxes(U, -1, -2) @ B
    return np.swapaxes(Vt, -1, -2) @ (factor[..., None] * UtB)


GRAM_MAX_COLUMNS = 32
GRAM_FLOOR = 1e-6


def _filter_factors(s, regularization: str, alpha: float, n_components) -> np.ndarray:
    """Per singular value, the factor replacing 1/s: truncated (tsvd) or damped (ridge)."""
    s_max = s[..., :1]
    if regularization == "tsvd":
        keep = s > max(alpha, 1e-12) * s_max
        if n_components is not None:
            keep[..., int(n_components) :] = False
        return np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    lam = alpha * s_max**2
    return np.where(s > 0, s / (s**2 + lam + (s_max == 0)), 0.0)


def _paired(X_source, X_dest, key: str) -> tuple[np.ndarray, np.ndarray]:
    Xs, Xd = np.asarray(X_source, dtype=float), np.asarray(X_dest, dtype=float)
    if Xs.ndim != 2 or Xs.shape != Xd.shape:
        raise InputError(f"{key}: target and master standards must be 2-D of one shape, got "
                         f"{Xs.shape} and {Xd.shape}")  # fmt: skip
    if len(Xs) < 1 or not (np.all(np.isfinite(Xs)) and np.all(np.isfinite(Xd))):
        raise InputError(f"{key}: need at least one standard and finite values")
    return Xs, Xd


class DS(TransformerMixin, BaseEstimator):
    """Full-spectrum map: fit(X_target_std, X_master_std), transform(target spectra) -> master-like.

    x_master ~= (x_target - mean_target) F + mean_master; F from the regularised pseudo-inverse of
    the centred target standards (the means carry the offset).
    """

    def __init__(self, regularization: str = "tsvd", alpha: float = 1e-3,
                 n_components: int | None = None):  # fmt: skip
        self.regularization = regularization
        self.alpha = alpha
        self.n_components = n_components

    @staticmethod
    def factorize(X_target_std, X_master_std) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(s, Vt, U' (Xm - mean)): the SVD of the centred target standards, with U applied to
        the centred master standards (none of it depends on the regularisation)."""
        Xt, Xm = _paired(X_target_std, X_master_std, "DS.fit")
        U, s, Vt = np.linalg.svd(Xt - Xt.mean(axis=0), full_matrices=False)
        return s, Vt, U.T @ (Xm - Xm.mean(axis=0))

    def fit(self, X_target_std, X_master_std, *, factors=None):
        """`factors`: `DS.factorize` of the same spectra, when already computed."""
        Xt, Xm = _paired(X_target_std, X_master_std, "DS.fit")
        if self.regularization not in REGULARIZATIONS:
            raise InputError(f"DS regularization={self.regularization!r}: expected one of {REGULARIZATIONS}")  # fmt: skip
        self.mean_target_ = Xt.mean(axis=0)
        self.mean_master_ = Xm.mean(axis=0)
        # F = V diag(f) U' (Xm - mean) has rank <= N: keep its two thin factors, never the p x p.
        s, Vt, self.right_ = (
            self.factorize(Xt, Xm) if factors is None else check_factors(factors, Xt.shape[1], "DS")
        )  # right_: (r, p)
        factor = _filter_factors(s, self.regularization, self.alpha, self.n_components)
        self.left_ = Vt.T * factor  # (p, r)
        return self

    @property
    def F_(self) -> np.ndarray:
        """The (p, p) map (for inspection): transform(X) = (X - mean_target_) F_ + mean_master_."""
        check_is_fitted(self, "left_")
        return self.left_ @ self.right_

    def transform(self, X):
        check_is_fitted(self, "left_")
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != len(self.mean_target_):
            raise InputError(f"DS.transform: expected shape (n, {len(self.mean_target_)}), got {X.shape}")  # fmt: skip
        return ((X - self.mean_target_) @ self.left_) @ self.right_ + self.mean_master_


class DSTransfer(CorrectedMasterTransfer):
    """Master PLS applied to DS-standardised target spectra."""

    name: ClassVar[str] = "ds"
    correction = DS
    correction_params = ("regularization", "alpha", "n_components")
    # tsvd rank of the map: at most N - 1 directions exist; larger values are capped by alpha.
    TUNABLE: ClassVar[dict[str, tuple]] = {"n_components": (1, 2, 3, 5, 8)}
    min_standards = 2

    def __init__(self, n_components="auto", regularization: str = "tsvd", alpha: float = 1e-3,
                 preprocessing="auto", master_components="auto", max_components: int = 20,
                 cv: int = 5):  # fmt: skip
        self.n_components = n_components
        self.regularization = regularization
        self.alpha = alpha
        self.preprocessing = preprocessing
        self.master_components = master_components
        self.max_components = max_components
        self.cv = cv
