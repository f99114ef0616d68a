"""PLS1 regression with the number of latent variables chosen by cross-validation.

The trap this guards against: a fixed 15-component PLS fitted on 30 samples. Here the count is
chosen on the training data only, and capped at what every cross-validation fold can support.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted

from spectralfm.errors import InputError

CV_RULES = ("one_se", "first_min", "min")


def check_xy(X, y, key: str = "X") -> tuple[np.ndarray, np.ndarray]:
    """2-D finite spectra and one finite reference value per spectrum."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2:
        raise InputError(
            f"{key}: expected a 2-D array (samples x wavelengths), got shape {X.shape}"
        )
    if y.ndim != 1 or len(y) != len(X):
        raise InputError(f"y for {key}: expected shape ({len(X)},), got {y.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise InputError(f"{key}: spectra or reference values contain non-finite numbers")
    return X, y


def truncated_coefficients(pls: PLSRegression) -> np.ndarray:
    """Regression vectors (n_features, n_components) of the 1..K-component sub-models of a fitted
    K-component PLS1, without refitting: NIPALS deflation makes the first k components of the
    K-component model exactly those of a k-component fit, so coef_k = W_k (P_k' W_k)^-1 q_k'."""
    W, P = pls.x_weights_, pls.x_loadings_
    q = pls.y_loadings_[0]
    n_comp = W.shape[1]
    coefs = np.empty((W.shape[0], n_comp))
    for k in range(1, n_comp + 1):
        rotations = W[:, :k] @ np.linalg.pinv(P[:, :k].T @ W[:, :k])
        coefs[:, k - 1] = rotations @ q[:k]
    return coefs


def choose_n_components(fold_mse: np.ndarray, rule: str) -> int:
    """Number of latent variables from per-fold mean squared errors (n_folds, K).

    one_se: the fewest components whose mean CV error is within one standard error of the best
    (Hastie et al.; guards against the noise-fitting that a plain minimum picks on small sets).
    first_min: the first local minimum of RMSECV. min: the global minimum.
    """
    mse = fold_mse.mean(axis=0)
    if rule == "min":
        return int(np.argmin(mse)) + 1
    if rule == "first_min":
        for k in range(len(mse) - 1):
            if mse[k + 1] >= mse[k]:
                return k + 1
        return len(mse)
    if rule == "one_se":
        best = int(np.argmin(mse))
        n_folds = fold_mse.shape[0]
        se = fold_mse[:, best].std(ddof=1) / np.sqrt(n_folds) if n_folds > 1 else 0.0
        return int(np.flatnonzero(mse <= mse[best] + se)[0]) + 1
    raise InputError(f"cv_rule={rule!r}: expected one of {', '.join(CV_RULES)}")


class PLSRegressionCV(RegressorMixin, BaseEstimator):
    """PLS1 (sklearn PLSRegression, scale=False) with latent variables chosen by K-fold CV.

    Folds are shuffled with `random_state` (fixed for reproducibility); with fewer samples than `cv`
    folds it becomes leave-one-out. Components are capped at min(max_components, smallest fold's
    training size - 1, n_features). Attributes after fit: n_components_, rmsecv_ (RMSECV for
    1..len(rmsecv_) components), model_ (the final PLSRegression on all samples), coef_, intercept_.
    """

    def __init__(self, max_components: int = 20, cv: int = 10, cv_rule: str = "one_se",
                 random_state: int = 0):  # fmt: skip
        self.max_components = max_components
        self.cv = cv
        self.cv_rule = cv_rule
        self.random_state = random_state

    def fit(self, X, y):
        X, y = check_xy(X, y)
        n, p = X.shape
        if n < 3:
            raise InputError(f"PLS needs at least 3 samples to cross-validate, got {n}")
        if self.cv_rule not in CV_RULES:
            raise InputError(f"cv_rule={self.cv_rule!r}: expected one of {', '.join(CV_RULES)}")
        if int(self.max_components) < 1 or int(self.cv) < 2:
            raise InputError(
                f"max_components={self.max_components}, cv={self.cv}: need >= 1 and >= 2"
            )
        n_folds = min(int(self.cv), n)
        folds = list(KFold(n_folds, shuffle=True, random_state=self.random_state).split(X))
        smallest_train = min(len(train) for train, _ in folds)
        k_max = max(1, min(int(self.max_components), smallest_train - 1, p))
        fold_mse = np.empty((n_folds, k_max))
        for f, (train, test) in enumerate(folds):
            pls = _fit_pls(X[train], y[train], k_max)
            coefs = truncated_coefficients(pls)
            pred = (X[test] - X[train].mean(axis=0)) @ coefs + y[train].mean()
            fold_mse[f] = ((pred - y[test, None]) ** 2).mean(axis=0)
        self.rmsecv_ = np.sqrt(fold_mse.mean(axis=0))
        self.n_components_ = choose_n_components(fold_mse, self.cv_rule)
        self.model_ = _fit_pls(X, y, self.n_components_)
        self.coef_ = self.model_.coef_.ravel()
        # sklearn's intercept_ applies to centred X; ours to raw spectra, read off at X = 0.
        self.intercept_ = float(np.ravel(self.model_.predict(np.zeros((1, p))))[0])
        self.n_features_in_ = p
        return self

    def predict(self, X):
        check_is_fitted(self, "model_")
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise InputError(
                f"X: expected shape (n, {self.n_features_in_}) like the training spectra, got {X.shape}"
            )
        return X @ self.coef_ + self.intercept_


def _fit_pls(X: np.ndarray, y: np.ndarray, n_components: int) -> PLSRegression:
    # A centred matrix of n rows has rank <= n-1: more components only fit round-off.
    k = max(1, min(n_components, len(X) - 1, X.shape[1]))
    with warnings.catch_warnings():
        # y fully explained before k components (noise-free data): sklearn stops adding
        # components, which is the right outcome; the warning would only be noise.
        warnings.filterwarnings("ignore", message="y residual is constant")
        return PLSRegression(n_components=k, scale=False).fit(X, y)
