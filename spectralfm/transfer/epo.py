"""External Parameter Orthogonalisation (Roger, Chauchard & Bellon-Maurel 2003).

The differences between the standards measured on the target and on the master span the directions
the instrument change adds to a spectrum. EPO projects those directions out of every spectrum and
builds the PLS model in the remaining space, so the model becomes blind to the instrument.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from spectralfm.errors import InputError
from spectralfm.transfer.composite import CorrectedMasterTransfer, check_factors
from spectralfm.transfer.ds import _paired


class EPO(TransformerMixin, BaseEstimator):
    """fit(X_target_std, X_master_std): the first `n_components` right singular vectors of the
    (uncentred, so the mean instrument offset counts) difference matrix; transform(X): X with those
    directions projected out, X (I - V V'). Fewer components are used when the standards span
    fewer (e.g. N standards give at most N directions). `factors`: `EPO.factorize` of the same
    spectra, when already computed (it does not depend on n_components)."""

    def __init__(self, n_components: int = 4):
        self.n_components = n_components

    @staticmethod
    def factorize(X_target_std, X_master_std) -> tuple[np.ndarray, np.ndarray]:
        """(s, Vt): the SVD of the difference matrix."""
        Xt, Xm = _paired(X_target_std, X_master_std, "EPO.fit")
        return np.linalg.svd(Xt - Xm, full_matrices=False)[1:]

    def fit(self, X_target_std, X_master_std, *, factors=None):
        Xt, Xm = _paired(X_target_std, X_master_std, "EPO.fit")
        if int(self.n_components) != self.n_components or self.n_components < 0:
            raise InputError(f"EPO n_components={self.n_components!r}: must be an integer >= 0")
        s, Vt = (
            self.factorize(Xt, Xm)
            if factors is None
            else check_factors(factors, Xt.shape[1], "EPO")
        )
        # Directions with (numerically) zero difference carry nothing to remove.
        k = int(min(self.n_components, np.sum(s > 1e-12 * max(s[0], 1e-300))))
        self.components_ = Vt[:k]  # (k, p), orthonormal rows
        self.n_features_in_ = Xt.shape[1]
        return self

    def transform(self, X):
        check_is_fitted(self, "components_")
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise InputError(f"EPO.transform: expected shape (n, {self.n_features_in_}), got {X.shape}")  # fmt: skip
        return X - (X @ self.components_.T) @ self.components_


class EPOTransfer(CorrectedMasterTransfer):
    """PLS built on EPO-projected master spectra and applied to EPO-projected target spectra."""

    name: ClassVar[str] = "epo"
    correction = EPO
    correction_params = ("n_components",)
    corrects_master = True
    TUNABLE: ClassVar[dict[str, tuple]] = {"n_components": (1, 2, 3, 4, 6)}

    def __init__(self, n_components="auto", preprocessing="auto", master_components="auto",
                 max_components: int = 20, cv: int = 5):  # fmt: skip
        self.n_components = n_components
        self.preprocessing = preprocessing
        self.master_components = master_components
        self.max_components = max_components
        self.cv = cv
