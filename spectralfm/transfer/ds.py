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
from spectralfm.transfer.base import MasterModelMixin, TransferMethod, TransferTask

REGULARIZATIONS = ("tsvd", "ridge")


def regularised_lstsq(A: np.ndarray, B: np.ndarray, regularization: str, alpha: float,
                      n_components: int | None) -> np.ndarray:  # fmt: skip
    """Solve A @ X ~= B through the SVD of A; works on stacks (..., n, m) @ (..., m, k).

    tsvd: keep singular values above alpha * largest, at most n_components of them.
    ridge: Tikhonov with penalty alpha * largest singular value squared (scale-free).
    Zero columns of A (padding) get zero coefficients either way.
    """
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    s_max = s[..., :1]
    if regularization == "tsvd":
        keep = s > max(alpha, 1e-12) * s_max
        if n_components is not None:
            keep[..., int(n_components) :] = False
        factor = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    elif regularization == "ridge":
        lam = alpha * s_max**2
        factor = np.where(s > 0, s / (s**2 + lam + (s_max == 0)), 0.0)
    else:
        raise InputError(f"regularization={regularization!r}: expected one of {REGULARIZATIONS}")
    UtB = np.swapaxes(U, -1, -2) @ B
    return np.swapaxes(Vt, -1, -2) @ (factor[..., None] * UtB)


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

    def fit(self, X_target_std, X_master_std):
        Xt, Xm = _paired(X_target_std, X_master_std, "DS.fit")
        self.mean_target_ = Xt.mean(axis=0)
        self.mean_master_ = Xm.mean(axis=0)
        self.F_ = regularised_lstsq(Xt - self.mean_target_, Xm - self.mean_master_,
                                    self.regularization, self.alpha, self.n_components)  # fmt: skip
        return self

    def transform(self, X):
        check_is_fitted(self, "F_")
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != len(self.mean_target_):
            raise InputError(f"DS.transform: expected shape (n, {len(self.mean_target_)}), got {X.shape}")  # fmt: skip
        return (X - self.mean_target_) @ self.F_ + self.mean_master_


class DSTransfer(MasterModelMixin, TransferMethod):
    """Master PLS applied to DS-standardised target spectra."""

    name: ClassVar[str] = "ds"
    needs_standards: ClassVar[bool] = True

    def __init__(self, regularization: str = "tsvd", alpha: float = 1e-3,
                 n_components: int | None = None, max_components: int = 20, cv: int = 10,
                 cv_rule: str = "one_se"):  # fmt: skip
        self.regularization = regularization
        self.alpha = alpha
        self.n_components = n_components
        self.max_components = max_components
        self.cv = cv
        self.cv_rule = cv_rule

    def fit(self, task: TransferTask) -> DSTransfer:
        task = self._check_task(task, min_standards=2)
        self.master_model_ = self._master_pls().fit(task.X_master, task.y)
        self.ds_ = DS(self.regularization, self.alpha, self.n_components).fit(
            task.X_target_std, task.X_master_std
        )
        return self

    def predict(self, X_target) -> np.ndarray:
        check_is_fitted(self, "ds_")
        X = self._check_spectra(X_target, self.master_model_.n_features_in_)
        return self.master_model_.predict(self.ds_.transform(X))
