"""Spectral Space Transformation (Du et al. 2011, Anal. Chim. Acta 690:64-70).

The standards measured on both instruments are joined side by side, [X_master | X_target], and
decomposed by SVD: the first components are the spectral subspace the two instruments share, seen
through each instrument's loadings (P_master, P_target). A target spectrum's part lying in that
subspace is re-expressed with the master loadings; the rest of it is left untouched:
x -> x + x pinv(P_target') (P_master' - P_target').
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from spectralfm.errors import InputError
from spectralfm.transfer.composite import CorrectedMasterTransfer, check_factors
from spectralfm.transfer.ds import _paired


class SST(TransformerMixin, BaseEstimator):
    """fit(X_target_std, X_master_std), transform(target spectra) -> master-like spectra.

    Uncentred SVD as published, so the first component carries the mean spectrum and with it any
    offset between the instruments.
    """

    def __init__(self, n_components: int = 2):
        self.n_components = n_components

    @staticmethod
    def factorize(X_target_std, X_master_std) -> tuple[np.ndarray, np.ndarray]:
        """(s, Vt): the SVD of [X_master | X_target]."""
        Xt, Xm = _paired(X_target_std, X_master_std, "SST.fit")
        return np.linalg.svd(np.hstack([Xm, Xt]), full_matrices=False)[1:]

    def fit(self, X_target_std, X_master_std, *, factors=None):
        """`factors`: `SST.factorize` of the same spectra, when already computed."""
        Xt, Xm = _paired(X_target_std, X_master_std, "SST.fit")
        if int(self.n_components) != self.n_components or self.n_components < 1:
            raise InputError(f"SST n_components={self.n_components!r}: must be an integer >= 1")
        p = Xt.shape[1]
        s, Vt = self.factorize(Xt, Xm) if factors is None else check_factors(factors, 2 * p, "SST")
        k = int(min(self.n_components, np.sum(s > 1e-12 * max(s[0], 1e-300))))
        P_master, P_target = Vt[:k, :p], Vt[:k, p:]  # (k, p) loadings seen by each instrument
        # F = pinv(P_target) (P_master - P_target) has rank k: keep its two thin factors.
        self.coordinates_ = np.linalg.pinv(P_target)  # (p, k)
        self.correction_ = P_master - P_target  # (k, p)
        self.n_features_in_ = p
        return self

    def transform(self, X):
        check_is_fitted(self, "correction_")
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise InputError(f"SST.transform: expected shape (n, {self.n_features_in_}), got {X.shape}")  # fmt: skip
        return X + (X @ self.coordinates_) @ self.correction_


class SSTTransfer(CorrectedMasterTransfer):
    """Master PLS applied to SST-transformed target spectra."""

    name: ClassVar[str] = "sst"
    correction = SST
    correction_params = ("n_components",)
    TUNABLE: ClassVar[dict[str, tuple]] = {"n_components": (1, 2, 3, 4, 6)}

    def __init__(self, n_components="auto", preprocessing="auto", master_components="auto",
                 max_components: int = 20, cv: int = 5):  # fmt: skip
        self.n_components = n_components
        self.preprocessing = preprocessing
        self.master_components = master_components
        self.max_components = max_components
        self.cv = cv
