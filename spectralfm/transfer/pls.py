"""PLS1 regression with the number of latent variables chosen by cross-validation.

The trap this guards against: a fixed 15-component PLS fitted on 30 samples. Here the count is
chosen on the training data only, and capped at what every cross-validation fold can support.

`pls1_path` is the numpy PLS1 behind it: the regression vectors of the 1..k_max-component models
in one NIPALS pass, so cross-validating 20 component counts costs one fit per fold, not twenty.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import numbers

import numpy as np
from scipy.linalg import solve_triangular
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import ThreadpoolController

from spectralfm.errors import InputError

CV_RULES = ("one_se", "first_min", "min")

# Residuals this small (relative to the centred data) are round-off: y is fully explained, or X
# has no variance left. A component computed from them would only fit noise.
_EXHAUSTED = 1e-12


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


def pls1_path(X, y, k_max: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Regression vectors of the 1..k_max-component PLS1 models of y on X (centred, unscaled).

    Returns (coefs, x_mean, y_mean) with coefs of shape (p, k_max): the k-component model
    predicts ``(X_new - x_mean) @ coefs[:, k - 1] + y_mean``, the same model as sklearn's
    ``PLSRegression(n_components=k, scale=False)``.

    NIPALS with deflation: the first k components of a K-component fit are exactly those of a
    k-component fit, so one pass gives every k. When y is fully explained or X has no variance
    left before k_max (k beyond the centred rank, at most n - 1), the later columns repeat the
    last regression vector: further components carry only round-off.
    """
    X, y = check_xy(X, y)
    k_max = int(k_max)
    if k_max < 1:
        raise InputError(f"k_max={k_max}: need at least one component")
    if len(X) == 0:
        raise InputError("X: no samples to fit PLS on")
    with one_blas_thread():
        if len(X) < X.shape[1]:  # spectra: fewer samples than wavelengths
            return _kernel_path(X, y, k_max)
        return _nipals_path(X, y, k_max)


def _kernel_path(X: np.ndarray, y: np.ndarray, k_max: int):
    """pls1_path through the n x n kernel K = Xc Xc' (Lindgren, Geladi & Wold 1993): the same
    NIPALS components, each costing O(n^2) instead of O(n p).

    With E_a the deflated spectra and f_a the deflated y, E_a' f_a = Xc' f_a (f_a is orthogonal
    to the earlier scores), so w_a is Xc' f_a normalised and the score is t_a = K_a f_a / sqrt(f_a'
    K_a f_a), K_a = E_a E_a' = P K P with P the projector off the earlier (orthogonal) scores.
    Since P f_a = f_a, K_a f_a = P (K f_a) and f_a' K_a f_a = f_a' K f_a: K is never deflated,
    each component costs one K f and a projection. The regression vectors are coef_k = Xc' F_k
    (T_k' K F_k)^-1 T_k' y (T_k' K F_k is upper triangular, like P'W)."""
    x_mean, y_mean = X.mean(axis=0), float(y.mean())
    Xc, f = X - x_mean, y - y_mean
    K = Xc @ Xc.T
    n = len(X)
    T, F, tt_all = np.zeros((n, k_max)), np.zeros((n, k_max)), np.zeros(k_max)
    x_size, y_size = np.sqrt(max(np.trace(K), 0.0)), np.linalg.norm(f)
    n_comp = 0
    for a in range(k_max):
        if np.linalg.norm(f) <= _EXHAUSTED * y_size:
            break
        Kf = K @ f
        size2 = f @ Kf  # |E_a' f_a|^2
        if size2 <= 0.0:
            break
        if a:
            Kf -= T[:, :a] @ ((T[:, :a].T @ Kf) / tt_all[:a])
        t = Kf / np.sqrt(size2)
        tt = t @ t
        if np.sqrt(tt) <= _EXHAUSTED * x_size:
            break
        T[:, a], F[:, a], tt_all[a] = t, f, tt
        f = f - (f @ t / tt) * t
        n_comp = a + 1
    coefs = np.zeros((X.shape[1], k_max))
    if n_comp:
        M = T[:, :n_comp].T @ K @ F[:, :n_comp]
        Ty = T[:, :n_comp].T @ (y - y_mean)
        Q = np.triu(np.tile(Ty[:, None], (1, n_comp)))
        coefs[:, :n_comp] = Xc.T @ (F[:, :n_comp] @ solve_triangular(M, Q, lower=False))
        coefs[:, n_comp:] = coefs[:, n_comp - 1 : n_comp]
    return coefs, x_mean, y_mean


def _nipals_path(X: np.ndarray, y: np.ndarray, k_max: int):
    """pls1_path on validated arrays."""
    x_mean, y_mean = X.mean(axis=0), float(y.mean())
    E, f = X - x_mean, y - y_mean
    p = X.shape[1]
    W, P, q = np.zeros((p, k_max)), np.zeros((p, k_max)), np.zeros(k_max)
    x_size, y_size = np.linalg.norm(E), np.linalg.norm(f)
    n_comp = 0
    for a in range(k_max):
        if np.linalg.norm(f) <= _EXHAUSTED * y_size:
            break
        w = E.T @ f
        size = np.linalg.norm(w)
        if size == 0.0:  # y residual orthogonal to every wavelength: nothing left to explain
            break
        w /= size
        t = E @ w
        tt = t @ t
        # w lies in E's row space, so a score this small means E itself is round-off.
        if np.sqrt(tt) <= _EXHAUSTED * x_size:
            break
        W[:, a], P[:, a], q[a] = w, E.T @ t / tt, f @ t / tt
        E -= np.outer(t, P[:, a])
        f -= q[a] * t
        n_comp = a + 1
    coefs = np.zeros((p, k_max))
    if n_comp:
        # coef_k = W_k (P_k' W_k)^-1 q_k. P'W is upper triangular in NIPALS, so the leading
        # k x k block of its inverse is the inverse of its leading block, and one small solve
        # serves every k: coefs = W (P'W)^-1 Q with Q[i, k] = q[i] for i <= k.
        PW = P[:, :n_comp].T @ W[:, :n_comp]
        Q = np.triu(np.tile(q[:n_comp, None], (1, n_comp)))
        coefs[:, :n_comp] = W[:, :n_comp] @ solve_triangular(PW, Q, lower=False)
        coefs[:, n_comp:] = coefs[:, n_comp - 1 : n_comp]
    return coefs, x_mean, y_mean


_BLAS_LIMITED = contextvars.ContextVar("blas_limited", default=False)


@contextlib.contextmanager
def one_blas_thread():
    """Context: BLAS (numpy's and scipy's) on one thread. PLS products here are small (n x p with
    n ~ 10-1000): waking BLAS threads costs more than they save, and on a busy 2-core machine
    they made a corn cross-validation 5-20x slower. Re-entrant at no cost: a tuned transfer fit
    enters it once and its thousands of inner PLS fits do not pay the ~0.1 ms limit call again."""
    if _BLAS_LIMITED.get():
        yield
        return
    token = _BLAS_LIMITED.set(True)
    try:
        with _blas_controller().limit(limits=1, user_api="blas"):
            yield
    finally:
        _BLAS_LIMITED.reset(token)


@functools.cache
def _blas_controller() -> ThreadpoolController:
    # Created once: inspecting the loaded libraries takes milliseconds.
    return ThreadpoolController()


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
    """PLS1 (centred, unscaled, as sklearn PLSRegression(scale=False)) with the number of latent
    variables chosen by K-fold CV, or fixed by `n_components`.

    Folds are shuffled with `random_state` (fixed for reproducibility); with fewer samples than `cv`
    folds it becomes leave-one-out. Components are capped at min(max_components, smallest fold's
    training size - 1, n_features). With `n_components` an int, that many components are fitted
    on all samples (capped at n_samples - 1 and n_features) and no CV is run.

    Attributes after fit: n_components_, rmsecv_ (RMSECV for 1..len(rmsecv_) components; None
    when n_components is fixed), coef_ and intercept_ (prediction = X @ coef_ + intercept_, on
    raw spectra), n_features_in_.
    """

    def __init__(self, max_components: int = 20, cv: int = 10, cv_rule: str = "one_se",
                 random_state: int = 0, n_components: int | None = None):  # fmt: skip
        self.max_components = max_components
        self.cv = cv
        self.cv_rule = cv_rule
        self.random_state = random_state
        self.n_components = n_components

    def fit(self, X, y):
        X, y = _validate(self, X, y, reset=True)
        n, p = X.shape
        fixed = self.n_components is not None
        if fixed and not (_is_int(self.n_components) and self.n_components >= 1):
            raise InputError(f"n_components={self.n_components!r}: expected None or an int >= 1")
        if n < (2 if fixed else 3):
            # "n_samples=" is the wording sklearn's estimator checks look for.
            why = "to fit" if fixed else "to cross-validate"
            raise InputError(
                f"PLS needs at least {2 if fixed else 3} samples {why}, got n_samples={n}"
            )
        if fixed:
            # A centred matrix of n rows has rank <= n-1: more components only fit round-off.
            self.n_components_ = int(min(self.n_components, n - 1, p))
            self.rmsecv_ = None
        else:
            self.rmsecv_, self.n_components_ = self._cross_validate(X, y)
        coefs, x_mean, y_mean = pls1_path(X, y, self.n_components_)
        self.coef_ = coefs[:, -1]
        # Centred model -> raw spectra: the intercept is the prediction at X = 0.
        self.intercept_ = float(y_mean - x_mean @ self.coef_)
        return self

    def _cross_validate(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, int]:
        if self.cv_rule not in CV_RULES:
            raise InputError(f"cv_rule={self.cv_rule!r}: expected one of {', '.join(CV_RULES)}")
        if not (_is_int(self.max_components) and _is_int(self.cv)) or (
            self.max_components < 1 or self.cv < 2
        ):
            raise InputError(
                f"max_components={self.max_components!r}, cv={self.cv!r}: need ints >= 1 and >= 2"
            )
        n, p = X.shape
        n_folds = min(int(self.cv), n)
        folds = list(KFold(n_folds, shuffle=True, random_state=self.random_state).split(X))
        smallest_train = min(len(train) for train, _ in folds)
        k_max = max(1, min(int(self.max_components), smallest_train - 1, p))
        fold_mse = np.empty((n_folds, k_max))
        with one_blas_thread():
            for f, (train, test) in enumerate(folds):
                coefs, x_mean, y_mean = pls1_path(X[train], y[train], k_max)
                pred = (X[test] - x_mean) @ coefs + y_mean
                fold_mse[f] = ((pred - y[test, None]) ** 2).mean(axis=0)
        return np.sqrt(fold_mse.mean(axis=0)), choose_n_components(fold_mse, self.cv_rule)

    def predict(self, X):
        check_is_fitted(self, "coef_")
        X = _validate(self, X, reset=False)
        return X @ self.coef_ + self.intercept_


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _validate(estimator, X, y=None, reset: bool = True):
    """sklearn's input validation (also records n_features_in_), with its ValueErrors raised as
    InputError so that callers catch one type for bad input."""
    try:
        if y is None and not reset:
            return validate_data(estimator, X, reset=False)
        return validate_data(estimator, X, y, reset=reset, y_numeric=True)
    except InputError:
        raise
    except ValueError as err:
        raise InputError(f"{type(estimator).__name__}: {err}") from err
