"""Honest tuning inside `fit`, and CV+ prediction intervals from the same folds.

A tuned method has candidate settings: every hyper-parameter left `auto` ranges over its grid
(`TUNABLE`), the preprocessing over `PREPROCESSING_GRID`, and the master model's latent variables
over 1..max_components (free: one PLS fit gives every count). Candidates are scored by K-fold
validation over the method's labelled training units only:

* methods fitted with transfer standards (PDS, DS, EPO, SST, SBC, CORAL, di-PLS, target_direct):
  the folds hold out standards; a held-out standard is removed from the standards *and* from the
  master calibration set, and is scored through its target spectrum, i.e. the error that matters
  for transfer;
* no_transfer: folds over the master calibration rows (scored on master spectra: it never sees
  the target); target_full: folds over the target calibration rows.

The choice follows the one-standard-error rule (see `_choose`): the fewest master latent variables
within one standard error of the best mean fold error, then the lowest error (ties: the first in
grid order, simple to complex). Test rows never enter: the task holds none.

CV+ (Barber, Candes, Ramdas & Tibshirani 2021, "Predictive inference with the jackknife+"): each
fold model is the *whole* procedure, tuning included, run without its fold (its own inner folds
are the other K-1 folds, so every sub-fit drops at most two folds and the fits are shared). The
interval for x is [q_lo{mu_-k(i)(x) - R_i}, q_hi{mu_-k(i)(x) + R_i}] over the n out-of-fold
residuals R_i. Guarantee: coverage >= 1 - 2 alpha minus a small K-fold term, for a test sample
exchangeable with the held-out units (random standards and a random split; Kennard-Stone standards
are chosen to span the set and are not exchangeable with test samples). With fewer than
ceil((1 - alpha)(n + 1)) > n units no finite interval exists: +-inf.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
from sklearn.model_selection import KFold

from spectralfm.errors import InputError
from spectralfm.preprocessing import canonical_preprocessing, parse_preprocessing
from spectralfm.transfer.base import TransferMethod, TransferTask
from spectralfm.transfer.pls import one_blas_thread, pls1_path

AUTO = "auto"
COMMON_AUTO = ("preprocessing", "master_components")  # tuned by the engine for every method
ALPHA = 0.1  # 90% intervals
# Fixed before any benchmark was run: what a chemometrician tries first (none, a scatter
# correction, a first derivative), simplest first. MSC stays available in config
# (methods.<name>.preprocessing: msc); it is left out of the search because it does what SNV does
# for these spectra and, learning its reference from the training rows, must be refitted per fold.
PREPROCESSING_GRID = ("none", "snv", "sg1(15,2)")

# A fitted candidate's head: preprocessed spectra (n, p) -> (n, K) predictions, K latent variables.
Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LinearPath:
    """Predictions for 1..K latent variables: (X - x_mean) @ coefs + y_mean, coefs (p, K)."""

    x_mean: np.ndarray
    coefs: np.ndarray
    y_mean: float

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return (X - self.x_mean) @ self.coefs + self.y_mean


def pls_path(X: np.ndarray, y: np.ndarray, k_max: int) -> LinearPath:
    coefs, x_mean, y_mean = pls1_path(X, y, k_max)
    return LinearPath(x_mean, coefs, y_mean)


def master_path(task: TransferTask, spec: str, k_max: int, cache: dict) -> LinearPath:
    """The master PLS path on (preprocessed) task.X_master, shared by a sub-fit's candidates."""
    if ("master", spec) not in cache:
        cache[("master", spec)] = pls_path(task.X_master, task.y, k_max)
    return cache[("master", spec)]


def transform(pre, X: np.ndarray) -> np.ndarray:
    """A fitted preprocessing pipeline applied without sklearn's per-call validation (the inner
    loops call it thousands of times on arrays already checked by TransferTask)."""
    for _, step in pre.steps:
        X = step._transform(X)
    return X


def is_stateless(spec: str) -> bool:
    """True when the preprocessing learns nothing from its fit rows (all but MSC), so its output
    for a row is the same in every fold and can be computed once."""
    return "msc" not in spec


def _preprocess_task(task: TransferTask, pre) -> TransferTask:
    def apply(X):
        return X if X is None or len(X) == 0 else transform(pre, X)

    return replace(
        task,
        X_master=apply(task.X_master),
        X_master_std=apply(task.X_master_std),
        X_target_std=apply(task.X_target_std),
        X_target_cal=apply(task.X_target_cal),
        X_target_unlabeled=apply(task.X_target_unlabeled),
    )


@dataclass(frozen=True)
class _Predictor:
    pre: object
    head: Predictor

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.head(transform(self.pre, X))


def shuffled_folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    """min(k, n) folds of range(n), shuffled with the seed (never contiguous blocks)."""
    k = min(int(k), n)
    return [test for _, test in KFold(k, shuffle=True, random_state=seed).split(np.zeros(n))]


def cv_plus_interval(mu: np.ndarray, residuals: np.ndarray, alpha: float) -> tuple:
    """CV+ bounds: mu (n_units, n_test) fold-model predictions for each unit's fold, residuals
    (n_units,) out-of-fold. Returns (lo, hi) arrays (n_test,), +-inf when n is too small."""
    n = len(residuals)
    r = np.abs(residuals)[:, None]
    k_hi = math.ceil((1 - alpha) * (n + 1))
    k_lo = math.floor(alpha * (n + 1))
    n_test = mu.shape[1]
    if n == 0 or k_hi > n or k_lo < 1:
        return np.full(n_test, -np.inf), np.full(n_test, np.inf)
    hi = np.sort(mu + r, axis=0)[k_hi - 1]
    lo = np.sort(mu - r, axis=0)[k_lo - 1]
    return lo, hi


def min_units_for_interval(alpha: float = ALPHA) -> int:
    n = 1
    while math.ceil((1 - alpha) * (n + 1)) > n:
        n += 1
    return n


class TunedTransferMethod(TransferMethod):
    """Base of the tuned methods. A subclass gives `TUNABLE` (param -> grid for `auto`) and
    `_fit_candidate(task, preprocess, params, cache) -> Predictor`; common params are
    `preprocessing`, `master_components` (latent variables), `max_components` and `cv` (folds)."""

    TUNABLE: ClassVar[dict[str, tuple]] = {}
    fold_units: ClassVar[str] = "standards"  # or "master" / "target_cal"
    min_standards: ClassVar[int] = 1

    # ------------------------------------------------------------ candidates

    def _auto_params(self) -> list[str]:
        return [k for k in self.TUNABLE if getattr(self, k) == AUTO]

    def _candidates(self, n_features: int) -> list[tuple[str, dict]]:
        key = f"methods.{self.name}.preprocessing"
        if self.preprocessing == AUTO:
            specs = [canonical_preprocessing(s, key) for s in PREPROCESSING_GRID]
        else:
            specs = [canonical_preprocessing(self.preprocessing, key)]
        for spec in specs:
            parse_preprocessing(spec, key, n_features=n_features)  # window vs spectrum length
        auto = self._auto_params()
        fixed = {k: getattr(self, k) for k in self.TUNABLE if k not in auto}
        grids = [self.TUNABLE[k] for k in auto]
        return [
            (spec, {**fixed, **dict(zip(auto, values, strict=True))})
            for spec in specs
            for values in itertools.product(*grids)
        ]

    def _k_max(self) -> int:
        if self.master_components == AUTO:
            k = int(self.max_components)
        else:
            k = int(self.master_components)
        if k < 1:
            raise InputError(f"methods.{self.name}: latent variables must be >= 1, got {k}")
        return k

    # ------------------------------------------------------------ units and folds

    def _n_units(self, task: TransferTask) -> int:
        if self.fold_units == "standards":
            return task.n_standards
        if self.fold_units == "target_cal":
            if task.X_target_cal is None:
                raise InputError(f"{self.name}: TransferTask.X_target_cal is required")
            return len(task.y_target_cal)
        return len(task.y)

    def _without(self, task: TransferTask, units: np.ndarray) -> TransferTask:
        if self.fold_units == "standards":
            return task.without_standards(units)
        return task.without_calibration_rows(units)

    def _held_out(self, task: TransferTask, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.fold_units == "standards":
            return task.X_target_std[units], task.y_std[units]
        if self.fold_units == "target_cal":
            return task.X_target_cal[units], task.y_target_cal[units]
        return task.X_master[units], task.y[units]

    # ------------------------------------------------------------ fitting

    def _reference_rows(self, task: TransferTask) -> np.ndarray:
        """Rows the preprocessing is fitted on (MSC's reference): the master calibration."""
        return task.X_master

    def _fit_subset(self, task: TransferTask, drop: np.ndarray, candidates, stateless) -> list:
        """Every candidate fitted on the task without `drop` units: (pre, head) or None."""
        sub = self._without(task, drop) if len(drop) else task
        fitted, prepared, cache = [], {}, {}
        for spec, params in candidates:
            if spec not in prepared:
                if spec in stateless:  # row-wise: transformed once per fit, subset here
                    pre, full = stateless[spec]
                    prepared[spec] = (pre, self._without(full, drop) if len(drop) else full)
                else:
                    pre = parse_preprocessing(spec).fit(self._reference_rows(sub))
                    prepared[spec] = (pre, _preprocess_task(sub, pre))
            pre, task_pp = prepared[spec]
            try:
                fitted.append((pre, self._fit_candidate(task_pp, spec, params, cache)))
            except (InputError, np.linalg.LinAlgError) as err:
                fitted.append(None)  # e.g. too few standards left in a fold for this setting
                self.last_failure_ = err
        return fitted

    def _stateless_preprocessing(self, task: TransferTask, candidates) -> dict:
        """{spec: (fitted pipeline, task transformed once)} for the candidates' row-wise
        preprocessings, shared by every sub-fit (see `is_stateless`)."""
        stateless = {}
        for spec in {spec for spec, _ in candidates}:
            pre = parse_preprocessing(spec).fit(self._reference_rows(task))
            if is_stateless(spec):
                stateless[spec] = (pre, _preprocess_task(task, pre))
        return stateless

    def _sse(self, fitted, X, y, k_max) -> np.ndarray:
        """(n_candidates, K) summed squared errors on held-out raw rows (inf: failed fit)."""
        out = np.full((len(fitted), k_max), np.inf)
        transformed = {}
        for c, item in enumerate(fitted):
            if item is None:
                continue
            pre, head = item
            if id(pre) not in transformed:
                transformed[id(pre)] = transform(pre, X)
            err = head(transformed[id(pre)]) - y[:, None]
            out[c] = np.where(np.isfinite(err), err**2, np.inf).sum(axis=0)
        return out

    def fit(self, task: TransferTask) -> TunedTransferMethod:
        with one_blas_thread():
            return self._fit(task)

    def _fit(self, task: TransferTask) -> TunedTransferMethod:
        task = self._check_task(task, min_standards=self.min_standards)
        self._check_params()
        candidates = self._candidates(task.X_master.shape[1])
        k_max = self._k_max()
        n_units = self._n_units(task)
        tune = len(candidates) > 1 or self.master_components == AUTO
        folds = shuffled_folds(n_units, self.cv, task.seed) if n_units >= 2 else []
        with_intervals = len(folds) >= 2 and n_units >= min_units_for_interval()
        if tune and len(folds) < 2:
            raise InputError(
                f"{self.name}: {n_units} training unit(s) cannot be cross-validated; fix "
                f"methods.{self.name}.* in config instead of auto"
            )
        stateless = self._stateless_preprocessing(task, candidates)
        subsets = [(g,) for g in range(len(folds))] if (tune or with_intervals) else []
        if with_intervals and tune:
            subsets += list(itertools.combinations(range(len(folds)), 2))
        sse: dict[tuple, np.ndarray] = {}  # (subset, held-out fold) -> (n_cand, K)
        fold_fits: dict[int, list] = {}
        for subset in subsets:
            drop = np.concatenate([folds[g] for g in subset])
            fitted = self._fit_subset(task, drop, candidates, stateless)
            for g in subset:
                X, y = self._held_out(task, folds[g])
                sse[(subset, g)] = self._sse(fitted, X, y, k_max)
            if len(subset) == 1:
                fold_fits[subset[0]] = fitted
        choice = self._choose(
            [sse[((g,), g)] / len(folds[g]) for g in range(len(folds))] if tune else None, k_max
        )
        final = self._fit_subset(task, np.empty(0, int), [candidates[choice[0]]], stateless)[0]
        if final is None:
            raise InputError(
                f"{self.name}: the chosen setting could not be fitted on the task: "
                f"{getattr(self, 'last_failure_', 'unknown error')}"
            )
        self.predictor_, self.k_ = _Predictor(*final), choice[1]
        spec, params = candidates[choice[0]]
        self.preprocessing_ = spec
        # every setting used: the chosen ones and those fixed in config or by default
        fixed = {k: v for k, v in self.get_params().items() if k not in COMMON_AUTO}
        self.params_ = {**fixed, **params, "master_components": choice[1] + 1}
        tuned = list(self._auto_params())
        if self.master_components == AUTO:
            tuned.append("master_components")
        if self.preprocessing == AUTO:
            tuned.append("preprocessing")
        self.params_["tuned"] = sorted(tuned)
        self.n_features_in_ = task.X_master.shape[1]
        self._fit_intervals(task, folds, candidates, k_max, sse, fold_fits, tune, with_intervals)
        return self

    def _choose(self, fold_errors, k_max) -> tuple[int, int]:
        """(candidate index, latent variables - 1) from per-fold mean squared errors
        [(n_cand, K) per held-out fold]; the fixed setting when nothing is tuned (None).

        One-standard-error rule (Hastie, Tibshirani & Friedman), as PLSRegressionCV uses: among
        the settings whose mean fold error is within one standard error of the best, the one with
        the fewest master latent variables (then the lowest error): every latent variable the
        master model adds is one more direction an instrument difference can leak through, and
        a plain minimum over a grid scored on a few standards picks noise."""
        if fold_errors is None:
            return 0, k_max - 1
        errors = np.stack(fold_errors)  # (n_folds, n_cand, K)
        mean = errors.mean(axis=0)
        if self.master_components != AUTO:
            mean = np.where(np.arange(k_max) == k_max - 1, mean, np.inf)
        if not np.any(np.isfinite(mean)):
            raise InputError(
                f"{self.name}: no candidate setting could be fitted in any fold: "
                f"{getattr(self, 'last_failure_', 'unknown error')}"
            )
        c, k = np.unravel_index(int(np.argmin(mean)), mean.shape)
        se = errors[:, c, k].std(ddof=1) / np.sqrt(len(errors)) if len(errors) > 1 else 0.0
        within = mean <= mean[c, k] + se
        k = int(np.flatnonzero(within.any(axis=0))[0])  # fewest latent variables
        c = int(np.argmin(np.where(within[:, k], mean[:, k], np.inf)))
        return c, k

    def _fit_intervals(self, task, folds, candidates, k_max, sse, fold_fits, tune,
                       with_intervals) -> None:  # fmt: skip
        """CV+: each fold model repeats the tuning on the other folds; keep it and its residuals."""
        self.fold_models_, self.residuals_, self.residual_fold_ = [], np.empty(0), np.empty(0, int)
        if not with_intervals:
            return
        residuals, owner = [], []
        for f, units in enumerate(folds):
            if tune:
                others = [g for g in range(len(folds)) if g != f]
                inner = [sse[(tuple(sorted((f, g))), g)] / len(folds[g]) for g in others]
                c, k = self._choose(inner, k_max)
            else:
                c, k = 0, k_max - 1
            if fold_fits[f][c] is None:
                self.fold_models_ = []
                return
            predictor = _Predictor(*fold_fits[f][c])
            X, y = self._held_out(task, units)
            residuals.append(y - predictor(X)[:, k])
            owner.append(np.full(len(units), f))
            self.fold_models_.append((predictor, k))
        self.residuals_ = np.concatenate(residuals)
        self.residual_fold_ = np.concatenate(owner)

    def _check_params(self) -> None:
        for key, grid in self.TUNABLE.items():
            value = getattr(self, key)
            if value != AUTO and grid and isinstance(grid[0], str) and value not in grid:
                raise InputError(
                    f"methods.{self.name}.{key}={value!r}: expected 'auto' or one of {list(grid)}"
                )

    # ------------------------------------------------------------ predict

    def predict(self, X_target) -> np.ndarray:
        if not hasattr(self, "predictor_"):
            raise InputError(f"{self.name}: call fit before predict")
        X = self._check_spectra(X_target, self.n_features_in_)
        return self.predictor_(X)[:, self.k_]

    def predict_interval(self, X_target, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
        """CV+ interval bounds (lo, hi) for target spectra; +-inf where none can be promised."""
        X = self._check_spectra(X_target, self.n_features_in_)
        if not self.fold_models_:
            return np.full(len(X), -np.inf), np.full(len(X), np.inf)
        per_fold = np.stack([predict(X)[:, k] for predict, k in self.fold_models_])
        return cv_plus_interval(per_fold[self.residual_fold_], self.residuals_, alpha)

    def chosen_params_json(self) -> str:
        """Compact JSON of every setting used (the table's `params` column)."""
        return json.dumps(self.params_, sort_keys=True, separators=(",", ":"), default=_plain)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {value!r}")
