"""Piecewise Direct Standardisation (Wang, Veltkamp & Kowalski 1991).

Each master wavelength is regressed on a small window of target wavelengths around it, so a shift or
broadening of a few channels is corrected with few parameters per window. Edge windows are clipped
(padded with zero columns, which get zero coefficients). Every window has its own offset.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from spectralfm.errors import InputError
from spectralfm.transfer.base import MasterModelMixin, TransferMethod, TransferTask
from spectralfm.transfer.ds import _paired, regularised_lstsq


def window_indices(n_features: int, half_width: int) -> tuple[np.ndarray, np.ndarray]:
    """(index, valid) arrays of shape (n_features, 2*half_width+1): the target channels feeding
    each master channel; out-of-range positions are clipped and flagged invalid."""
    offsets = np.arange(-half_width, half_width + 1)
    raw = np.arange(n_features)[:, None] + offsets[None, :]
    valid = (raw >= 0) & (raw < n_features)
    return np.clip(raw, 0, n_features - 1), valid


class PDS(TransformerMixin, BaseEstimator):
    """Windowed map: fit(X_target_std, X_master_std), transform(target spectra) -> master-like.

    window: half-width (channels on each side), so each regression sees 2*window+1 channels.
    regularization 'tsvd' keeps singular values above alpha * largest (at most n_components);
    'ridge' penalises with alpha * largest singular value squared; both per window.
    Defaults (half-width 5, one component per window) were tuned on corn m5->mp5/mp6 with
    10 standards: master models with 15-20 latent variables amplify any noise the map adds, and
    a second component per window already made RMSEP several times worse.
    """

    def __init__(self, window: int = 5, regularization: str = "tsvd", alpha: float = 0.03,
                 n_components: int | None = 1):  # fmt: skip
        self.window = window
        self.regularization = regularization
        self.alpha = alpha
        self.n_components = n_components

    def fit(self, X_target_std, X_master_std):
        Xt, Xm = _paired(X_target_std, X_master_std, "PDS.fit")
        if int(self.window) != self.window or self.window < 0:
            raise InputError(f"PDS window={self.window!r}: must be a non-negative integer")
        p = Xt.shape[1]
        self.index_, self.valid_ = window_indices(p, int(self.window))
        mean_t, mean_m = Xt.mean(axis=0), Xm.mean(axis=0)
        # (p, N, w): the centred target window of every channel, padding zeroed.
        blocks = np.transpose((Xt - mean_t)[:, self.index_], (1, 0, 2)) * self.valid_[:, None, :]
        targets = (Xm - mean_m).T[:, :, None]  # (p, N, 1)
        coef = regularised_lstsq(blocks, targets, self.regularization, self.alpha,
                                 self.n_components)[:, :, 0]  # fmt: skip
        self.coef_ = coef * self.valid_
        self.offset_ = mean_m - np.einsum("pw,pw->p", mean_t[self.index_], self.coef_)
        self.n_features_in_ = p
        return self

    def transform(self, X):
        check_is_fitted(self, "coef_")
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise InputError(f"PDS.transform: expected shape (n, {self.n_features_in_}), got {X.shape}")  # fmt: skip
        return np.einsum("npw,pw->np", X[:, self.index_], self.coef_) + self.offset_

    def transformation_matrix(self) -> np.ndarray:
        """The banded (p, p) matrix F with transform(X) = X @ F + offset_ (for inspection)."""
        check_is_fitted(self, "coef_")
        p = self.n_features_in_
        F = np.zeros((p, p))
        rows, cols = np.nonzero(self.valid_)
        F[self.index_[rows, cols], rows] = self.coef_[rows, cols]
        return F


class PDSTransfer(MasterModelMixin, TransferMethod):
    """Master PLS applied to PDS-standardised target spectra."""

    name: ClassVar[str] = "pds"
    needs_standards: ClassVar[bool] = True
    code_modules: ClassVar[tuple[str, ...]] = ("spectralfm.transfer.ds",)  # shared solvers

    def __init__(self, window: int = 5, regularization: str = "tsvd", alpha: float = 0.03,
                 n_components: int | None = 1, max_components: int = 20, cv: int = 10,
                 cv_rule: str = "one_se"):  # fmt: skip
        self.window = window
        self.regularization = regularization
        self.alpha = alpha
        self.n_components = n_components
        self.max_components = max_components
        self.cv = cv
        self.cv_rule = cv_rule

    def fit(self, task: TransferTask) -> PDSTransfer:
        task = self._check_task(task, min_standards=2)
        self.master_model_ = self._master_pls().fit(task.X_master, task.y)
        self.pds_ = PDS(self.window, self.regularization, self.alpha, self.n_components).fit(
            task.X_target_std, task.X_master_std
        )
        return self

    def predict(self, X_target) -> np.ndarray:
        check_is_fitted(self, "pds_")
        X = self._check_spectra(X_target, self.master_model_.n_features_in_)
        return self.master_model_.predict(self.pds_.transform(X))
