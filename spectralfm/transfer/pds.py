"""Piecewise Direct Standardisation (Wang, Veltkamp & Kowalski 1991).

Each master wavelength is regressed on a small window of target wavelengths around it, so a shift or
broadening of a few channels is corrected with few parameters per window. Edge windows are clipped
(padded with zero columns, which get zero coefficients). Every window has its own offset.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from spectralfm.errors import InputError
from spectralfm.transfer.composite import CorrectedMasterTransfer
from spectralfm.transfer.ds import _paired, regularised_lstsq


def window_indices(n_features: int, half_width: int) -> tuple[np.ndarray, np.ndarray]:
    """(index, valid) arrays of shape (n_features, 2*half_width+1): the target channels feeding
    each master channel; out-of-range positions are clipped and flagged invalid."""
    offsets = np.arange(-half_width, half_width + 1)
    raw = np.arange(n_features)[:, None] + offsets[None, :]
    valid = (raw >= 0) & (raw < n_features)
    return np.clip(raw, 0, n_features - 1), valid


def window_pls(blocks: np.ndarray, targets: np.ndarray, n_components: int | None) -> np.ndarray:
    """PLS1 regression vectors of every window at once: blocks (p, N, w) centred, targets (p, N)
    centred -> (k, p, w), the vectors of the 1..k component models (k = n_components, or fewer
    when the windows' rank is smaller; later entries then repeat the last). NIPALS with the rotations r_a = w_a - sum_b r_b (p_b . w_a), so no
    per-window linear-algebra call is needed (hundreds of tiny LAPACK calls dominate otherwise)."""
    if n_components is None or int(n_components) < 1:
        raise InputError(f"PDS n_components={n_components!r}: 'pls' needs an integer >= 1")
    E, f = blocks.copy(), targets.copy()
    coef = np.zeros(blocks.shape[::2])
    rotations, loadings, path = [], [], []
    for _ in range(min(int(n_components), blocks.shape[1] - 1, blocks.shape[2])):
        w = np.einsum("pnw,pn->pw", E, f)
        size = np.linalg.norm(w, axis=1, keepdims=True)
        w = np.where(size > 0, w / np.where(size > 0, size, 1.0), 0.0)
        t = np.einsum("pnw,pw->pn", E, w)
        tt = np.sum(t * t, axis=1)
        inv = np.where(tt > 0, 1.0 / np.where(tt > 0, tt, 1.0), 0.0)
        load = np.einsum("pnw,pn->pw", E, t) * inv[:, None]
        q = np.sum(f * t, axis=1) * inv
        r = w.copy()
        for r_b, p_b in zip(rotations, loadings, strict=True):
            r -= r_b * np.sum(p_b * w, axis=1, keepdims=True)
        rotations.append(r)
        loadings.append(load)
        coef = coef + r * q[:, None]
        path.append(coef)
        E -= t[:, :, None] * load[:, None, :]
        f -= q[:, None] * t
    path += [coef] * (int(n_components) - len(path))
    return np.stack(path)


class PDS(TransformerMixin, BaseEstimator):
    """Windowed map: fit(X_target_std, X_master_std), transform(target spectra) -> master-like.

    window: half-width (channels on each side), so each regression sees 2*window+1 channels.
    regularization 'pls' (default): a PLS1 with n_components latent variables per window, as in
    Wang et al.'s local PLS/PCR models, computed for all windows at once with array operations;
    'tsvd' keeps singular values above alpha * largest (at most n_components); 'ridge' penalises
    with alpha * largest singular value squared; both per window.
    Defaults: half-width 2 (5 channels, within the 3-11 channel windows of Wang et al. 1991),
    one component per window, alpha 1e-3 (a numerical floor); none was tuned on benchmark rows.
    """

    def __init__(self, window: int = 2, regularization: str = "pls", alpha: float = 1e-3,
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
        if self.regularization == "pls":
            self.coef_path_ = window_pls(blocks, targets[:, :, 0], self.n_components) * self.valid_
            coef = self.coef_path_[-1]
        else:
            coef = regularised_lstsq(blocks, targets, self.regularization, self.alpha,
                                     self.n_components)[:, :, 0]  # fmt: skip
        self.coef_ = coef * self.valid_
        self.mean_target_, self.mean_master_ = mean_t, mean_m
        self.offset_ = mean_m - np.einsum("pw,pw->p", mean_t[self.index_], self.coef_)
        self.n_features_in_ = p
        return self

    def transform(self, X):
        check_is_fitted(self, "coef_")
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise InputError(f"PDS.transform: expected shape (n, {self.n_features_in_}), got {X.shape}")  # fmt: skip
        return np.einsum("npw,pw->np", X[:, self.index_], self.coef_) + self.offset_

    def with_components(self, n_components: int) -> PDS:
        """The same windows with `n_components` <= the fitted count ('pls' only): its model
        is the fitted path's k-th entry, so a grid over n_components costs one fit."""
        check_is_fitted(self, "coef_path_")
        other = copy.copy(self)
        other.n_components = n_components
        other.coef_ = self.coef_path_[int(n_components) - 1]
        other.offset_ = self.mean_master_ - np.einsum(
            "pw,pw->p", self.mean_target_[self.index_], other.coef_
        )
        return other

    def transformation_matrix(self) -> np.ndarray:
        """The banded (p, p) matrix F with transform(X) = X @ F + offset_ (for inspection)."""
        check_is_fitted(self, "coef_")
        p = self.n_features_in_
        F = np.zeros((p, p))
        rows, cols = np.nonzero(self.valid_)
        F[self.index_[rows, cols], rows] = self.coef_[rows, cols]
        return F


class PDSTransfer(CorrectedMasterTransfer):
    """Master PLS applied to PDS-standardised target spectra."""

    name: ClassVar[str] = "pds"
    correction = PDS
    correction_params = ("window", "regularization", "alpha", "n_components")
    TUNABLE: ClassVar[dict[str, tuple]] = {"window": (1, 2, 3, 5), "n_components": (1, 2)}
    min_standards = 2

    def _fit_correction(self, task, spec: str, settings: dict, cache: dict):
        if settings["regularization"] != "pls":
            return super()._fit_correction(task, spec, settings, cache)
        # one windowed PLS path per window serves every n_components of the grid
        key = ("pds", spec, settings["window"])
        if key not in cache:
            widest = max(self.TUNABLE["n_components"] + (settings["n_components"],))
            cache[key] = PDS(**{**settings, "n_components": widest}).fit(
                task.X_target_std, task.X_master_std
            )
        return cache[key].with_components(settings["n_components"])

    def __init__(self, window="auto", n_components="auto", regularization: str = "pls",
                 alpha: float = 1e-3, preprocessing="auto", master_components="auto",
                 max_components: int = 20, cv: int = 5):  # fmt: skip
        self.window = window
        self.n_components = n_components
        self.regularization = regularization
        self.alpha = alpha
        self.preprocessing = preprocessing
        self.master_components = master_components
        self.max_components = max_components
        self.cv = cv
