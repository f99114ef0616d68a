"""Domain-invariant PLS (Nikzad-Langerodi, Zellinger, Lughofer & Saminger-Platz, Anal. Chem. 2018).

Calibration transfer from labelled source (master) spectra and a pool of UNLABELLED target spectra:
no reference values and no pairing with the source. Each latent variable is chosen so that the
source and target scores have (nearly) the same variance, so the model cannot lean on directions
along which the two instruments differ.

The maths, per latent variable (X_s, X_t the centred and deflated source and target spectra, y the
centred and deflated source reference values):

  ordinary PLS1:  w minimises ||X_s - y w'||^2, giving w = X_s'y / (y'y).
  di-PLS adds     lambda * |w'(C_s - C_t) w|,  C_s = X_s'X_s/(n_s-1), C_t = X_t'X_t/(n_t-1),
                  the difference of the source and target score variances. Like the authors, the
                  absolute value is relaxed to w'|D|w with |D| = U|L|U' (D = C_s - C_t = U L U'),
                  an upper bound that is convex, and setting the gradient to zero gives
  closed form:    w = (y'y I + lambda |D|)^-1 X_s'y  =  (I + lambda/(y'y) |D|)^-1 X_s'y / (y'y),
  then w is normalised, t_s = X_s w, t_t = X_t w, c = y't_s/(t_s't_s),
  and source and target are each deflated with their own scores and loadings:
      X_s <- X_s - t_s p_s',  p_s = X_s't_s/(t_s't_s);   X_t <- X_t - t_t p_t',  p_t = X_t't_t/(t_t't_t);
      y <- y - c t_s.
  With lambda = 0 this is NIPALS PLS1. The regression vector is b = W (P_s'W)^-1 c, and a target
  spectrum x is predicted as (x - mean of the target pool) b + mean(y): source and target are
  centred separately, as in the paper, so a pure offset between instruments never matters.

lambda_ is in the units of the data: the penalty compares lambda |D| with y'y, so its useful range
depends on the spectra's and the reference values' scale (on corn, absorbances with variances
~1e-3 and y'y ~ 10, lambda_ only starts to matter around 1e4).

What it assumes: separate centring takes the target pool's mean composition to be the source's
(best when the pool is the calibration samples measured on the target, shuffled); and only the
score VARIANCES are matched, so an artefact that happens to correlate with the chemistry in the
pool can be traded against chemistry variance instead of being ignored.
"""

from __future__ import annotations

import numbers
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from spectralfm.errors import InputError
from spectralfm.transfer.base import check_spectra
from spectralfm.transfer.tuning import Predictor, TunedTransferMethod


def relaxed_difference_factors(Xs: np.ndarray, Xt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|C_s - C_t| as G diag(s) G' (G orthonormal, s >= 0), for centred Xs, Xt.

    Meant for spectra expressed in `row_space_basis` (r <= n_s + n_t columns, as DIPLS.fit
    uses them): D = C_s - C_t is then r x r and its eigenproblem small, where on raw spectra it
    would be p x p (p wavelengths, often 10x the number of spectra).
    """
    ns, nt = len(Xs), len(Xt)
    L, G = np.linalg.eigh(Xs.T @ Xs / (ns - 1) - Xt.T @ Xt / (nt - 1))
    return G, np.abs(L)


def row_space_basis(Xs: np.ndarray, Xt: np.ndarray) -> np.ndarray:
    """Orthonormal basis (p, r), r <= n_s + n_t, of the row space of the centred [Xs; Xt]."""
    return np.linalg.qr(np.vstack([Xs, Xt]).T)[0]


def domain_invariant_weight(
    Xs: np.ndarray, Xt: np.ndarray, y: np.ndarray, lambda_: float, factors=None
) -> np.ndarray:
    """Unit weight vector w ∝ (y'y I + lambda |C_s - C_t|)^-1 X_s'y for centred, deflated data
    (`factors`: relaxed_difference_factors(Xs, Xt), when already computed)."""
    w = Xs.T @ y
    if lambda_ > 0:
        G, s = relaxed_difference_factors(Xs, Xt) if factors is None else factors
        a, s = y @ y, lambda_ * s
        # (a I + G S G')^-1 v = (v - G diag(s/(a+s)) G'v) / a  (G orthonormal, so the inverse acts
        # eigenvalue by eigenvalue); the 1/a only scales w, which is normalised next.
        w = w - G @ ((s / (a + s)) * (G.T @ w))
    return w / np.linalg.norm(w)


class DIPLS(RegressorMixin, BaseEstimator):
    """Domain-invariant PLS1. fit(X_source, y, X_target_unlabeled); predict(X) for target spectra.

    n_components: latent variables (>= 1, at most n_source - 1 and the number of wavelengths).
    lambda_: domain-regularisation weight (>= 0); 0 gives ordinary PLS1 (sklearn PLSRegression,
    scale=False) on the source, applied to target spectra centred with the target pool's mean.

    Attributes after fit: coef_ (p,), coef_path_ (p, K): the regression vectors of the 1..K
    component sub-models (the first k components of a K-component fit are exactly a k-component
    fit, so these cost nothing extra), x_weights_ (p, K), x_loadings_source_, x_loadings_target_
    (p, K), y_loadings_ (K,), x_mean_source_, x_mean_target_ (p,), y_mean_, intercept_ (for raw
    target spectra), discrepancy_ (K,): var(t_s) - var(t_t) of each latent variable, the quantity
    the penalty drives to zero, and n_components_ (fewer than asked when y is fully explained).
    """

    def __init__(self, n_components: int = 5, lambda_: float = 1.0):
        self.n_components = n_components
        self.lambda_ = lambda_

    def _check_params(self, n_source: int, n_features: int) -> tuple[int, float]:
        k, lam = self.n_components, self.lambda_
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise InputError(f"DIPLS n_components={k!r}: must be an integer >= 1")
        if k > min(n_source - 1, n_features):
            raise InputError(
                f"DIPLS n_components={k}: at most min(n_source - 1, n_wavelengths) = "
                f"{min(n_source - 1, n_features)} for {n_source} source spectra"
            )
        if isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not np.isfinite(lam):
            raise InputError(f"DIPLS lambda_={lam!r}: must be a finite number >= 0")
        if lam < 0:
            raise InputError(f"DIPLS lambda_={lam}: must be >= 0")
        return int(k), float(lam)

    def fit(self, X_source, y, X_target_unlabeled, *, basis=None, factors=None):
        """basis, factors: `row_space_basis` of the centred X_source and X_target_unlabeled and
        `relaxed_difference_factors` of them in that basis, when already computed (they do not
        depend on lambda_: DIPLSTransfer shares them across its domain-weight candidates)."""
        Xs = check_spectra(X_source, "DIPLS.fit X_source")
        p = Xs.shape[1]
        Xt = check_spectra(X_target_unlabeled, "DIPLS.fit X_target_unlabeled", p)
        y = np.asarray(y, dtype=float)
        if y.ndim != 1 or len(y) != len(Xs):
            raise InputError(f"DIPLS.fit y: expected shape ({len(Xs)},), got {y.shape}")
        if not np.all(np.isfinite(y)):
            raise InputError("DIPLS.fit y: contains non-finite values")
        if len(Xs) < 2:
            raise InputError(f"DIPLS.fit X_source: needs at least 2 spectra, got {len(Xs)}")
        if len(Xt) < 2:
            raise InputError(
                f"DIPLS.fit X_target_unlabeled: needs at least 2 spectra to estimate the target "
                f"mean and covariance, got {len(Xt)}"
            )
        k_max, lam = self._check_params(len(Xs), p)

        # Source and target centred separately (the paper's choice).
        self.x_mean_source_ = Xs.mean(axis=0)
        self.x_mean_target_ = Xt.mean(axis=0)
        self.y_mean_ = float(y.mean())
        Xs = Xs - self.x_mean_source_
        Xt = Xt - self.x_mean_target_
        y = y - self.y_mean_
        # Every weight, loading and regression vector lies in the row space of the centred
        # [Xs; Xt] (w is built from Xs'y and |C_s - C_t|, both there), so the fit runs exactly in
        # an orthonormal basis B of it: r <= n_s + n_t coordinates instead of p wavelengths.
        if basis is None:
            if factors is not None:
                raise InputError("DIPLS.fit factors: given without the basis they were computed in")
            basis = row_space_basis(Xs, Xt)  # (p, r)
        elif basis.ndim != 2 or basis.shape[0] != p:
            raise InputError(f"DIPLS.fit basis: expected shape ({p}, r), got {basis.shape}")
        Xs, Xt = Xs @ basis, Xt @ basis
        scale = np.linalg.norm(Xs) * np.linalg.norm(y) + 1e-300

        W, Ps, Pt, c, gap = [], [], [], [], []
        for _ in range(k_max):
            if np.linalg.norm(Xs.T @ y) <= 1e-12 * scale:
                break  # y (numerically) fully explained: further components would fit round-off
            w = domain_invariant_weight(Xs, Xt, y, lam, factors if not W else None)
            ts, tt = Xs @ w, Xt @ w
            tss, ttt = ts @ ts, tt @ tt
            ps = Xs.T @ ts / tss
            # A weight orthogonal to all target variation leaves nothing to deflate there.
            pt = Xt.T @ tt / ttt if ttt > 0 else np.zeros(Xt.shape[1])
            ci = (y @ ts) / tss
            Xs = Xs - np.outer(ts, ps)
            Xt = Xt - np.outer(tt, pt)
            y = y - ci * ts
            W.append(w)
            Ps.append(ps)
            Pt.append(pt)
            c.append(ci)
            gap.append(tss / (len(Xs) - 1) - ttt / (len(Xt) - 1))
        if not W:
            raise InputError("DIPLS.fit y: constant reference values, nothing to regress")

        self.x_weights_ = basis @ np.array(W).T
        self.x_loadings_source_ = basis @ np.array(Ps).T
        self.x_loadings_target_ = basis @ np.array(Pt).T
        self.y_loadings_ = np.array(c)
        self.discrepancy_ = np.array(gap)
        self.n_components_ = len(W)
        W, Ps = np.array(W).T, np.array(Ps).T  # in the basis: (P'W) is the same there
        self.coef_path_ = basis @ np.column_stack(
            [
                W[:, :k] @ np.linalg.solve(Ps[:, :k].T @ W[:, :k], self.y_loadings_[:k])
                for k in range(1, self.n_components_ + 1)
            ]
        )
        self.coef_ = self.coef_path_[:, -1]
        self.intercept_ = self.y_mean_ - self.x_mean_target_ @ self.coef_
        self.n_features_in_ = p
        return self

    def _centred(self, X, domain: str) -> np.ndarray:
        check_is_fitted(self, "coef_")
        if domain not in ("target", "source"):
            raise InputError(f"DIPLS domain={domain!r}: expected 'target' or 'source'")
        X = check_spectra(X, "DIPLS.predict X", self.n_features_in_)
        return X - (self.x_mean_target_ if domain == "target" else self.x_mean_source_)

    def predict(self, X, domain: str = "target") -> np.ndarray:
        """Predictions for spectra of `domain` ('target', the default, or 'source'): each is
        centred with the mean that domain had in fit."""
        return self._centred(X, domain) @ self.coef_ + self.y_mean_

    def predict_path(self, X, domain: str = "target") -> np.ndarray:
        """(n, n_components_) predictions of the 1..n_components_ component sub-models."""
        return self._centred(X, domain) @ self.coef_path_ + self.y_mean_


class DIPLSTransfer(TunedTransferMethod):
    """di-PLS on the master calibration set and the protocol's unlabeled target pool, tuned on the
    transfer standards (their target spectra and reference values: labelled target data).

    domain_weight is scale-free: lambda_ = domain_weight * y'y / ||C_s - C_t||, so 1 weighs the
    largest variance difference between the instruments like the y variance (the absolute
    lambda_ depends on the units of spectra and property; see DIPLS)."""

    name: ClassVar[str] = "dipls"
    uses_unlabeled: ClassVar[bool] = True
    TUNABLE: ClassVar[dict[str, tuple]] = {"domain_weight": (0.1, 1.0, 10.0, 100.0)}

    # max_components 6: each di-PLS component solves an eigenproblem of the pooled rank (the
    # cost of the method: ~10 ms each on wheat's 165 + 155 spectra); the latent-variable count
    # is still chosen inside fit, within 1..6.
    def __init__(self, domain_weight="auto", preprocessing="auto", master_components="auto",
                 max_components: int = 6, cv: int = 5):  # fmt: skip
        self.domain_weight = domain_weight
        self.preprocessing = preprocessing
        self.master_components = master_components
        self.max_components = max_components
        self.cv = cv

    def _fit_candidate(self, task, spec: str, params: dict, cache: dict) -> Predictor:
        Xs, y, Xt = task.X_master, task.y, task.X_target_unlabeled
        if Xt is None or len(Xt) < 2:
            raise InputError(f"{self.name}: needs the unlabeled target pool (>= 2 spectra)")
        if ("basis", spec) not in cache:  # shared by the domain-weight candidates of a sub-fit
            Xs_c, Xt_c = Xs - Xs.mean(axis=0), Xt - Xt.mean(axis=0)
            basis = row_space_basis(Xs_c, Xt_c)
            factors = relaxed_difference_factors(Xs_c @ basis, Xt_c @ basis)
            yc = y - y.mean()
            cache[("basis", spec)] = basis, factors
            cache[("scale", spec)] = float(yc @ yc) / max(
                float(factors[1].max(initial=0.0)), 1e-300
            )
        basis, factors = cache[("basis", spec)]
        k_max = self._k_max()
        model = DIPLS(
            n_components=min(k_max, len(Xs) - 1, Xs.shape[1]),
            lambda_=float(params["domain_weight"]) * cache[("scale", spec)],
        ).fit(Xs, y, Xt, basis=basis, factors=factors)

        def predict(X):
            path = model.predict_path(X)  # fewer columns when y was explained early
            return np.pad(path, ((0, 0), (0, k_max - path.shape[1])), mode="edge")

        return predict
