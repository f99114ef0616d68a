"""Scores for one set of predictions: regression quality and split-conformal prediction intervals."""

from __future__ import annotations

import math

import numpy as np

from spectralfm.errors import InputError


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=float).ravel()
    y_pred = np.asarray(y_pred, dtype=float).ravel()
    if len(y_true) != len(y_pred) or len(y_true) == 0:
        raise InputError(
            f"y_true/y_pred: need equal, non-zero lengths, got {len(y_true)} and {len(y_pred)}"
        )
    if not (np.all(np.isfinite(y_true)) and np.all(np.isfinite(y_pred))):
        raise InputError("y_true/y_pred: contain non-finite values")
    return y_true, y_pred


def regression_metrics(y_true, y_pred) -> dict:
    """rmsep, r2 (1 - SSE/SST), bias = mean(pred - true), sep = sd(pred - true, ddof=1) (the
    bias-corrected standard error), rpd = sd(y_true, ddof=1) / sep, slope of the OLS line of
    y_pred on y_true. Quantities undefined for the data (one sample, constant y) are NaN."""
    y_true, y_pred = _pair(y_true, y_pred)
    err = y_pred - y_true
    n = len(err)
    sst = float(np.sum((y_true - y_true.mean()) ** 2))
    sep = float(err.std(ddof=1)) if n > 1 else math.nan
    sd_true = float(y_true.std(ddof=1)) if n > 1 else math.nan
    return {
        "rmsep": float(np.sqrt(np.mean(err**2))),
        "r2": 1.0 - float(np.sum(err**2)) / sst if sst > 0 else math.nan,
        "bias": float(err.mean()),
        "sep": sep,
        "rpd": sd_true / sep if sep > 0 else math.nan,
        "slope": float(np.sum((y_true - y_true.mean()) * (y_pred - y_pred.mean())) / sst)
        if sst > 0
        else math.nan,
    }


def conformal_halfwidth(residuals, alpha: float = 0.1) -> float:
    """Split-conformal half-width: the ceil((n+1)(1-alpha))-th smallest |residual| of n held-out
    calibration residuals, so that [pred - h, pred + h] covers a new exchangeable sample with
    probability >= 1 - alpha. When n is too small for that rank (ceil((n+1)(1-alpha)) > n, e.g.
    n < 9 at alpha=0.1) no finite width has the guarantee and +inf is returned."""
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha={alpha!r}: must lie strictly between 0 and 1")
    scores = np.abs(np.asarray(residuals, dtype=float).ravel())
    if not np.all(np.isfinite(scores)):
        raise InputError("residuals: contain non-finite values")
    n = len(scores)
    rank = math.ceil((n + 1) * (1.0 - alpha))
    if rank > n:
        return math.inf
    return float(np.partition(scores, rank - 1)[rank - 1])


def interval_metrics(y_true, y_pred, halfwidth: float) -> tuple[float, float]:
    """(picp, mpiw) of the symmetric intervals pred +- halfwidth: the fraction of true values inside
    (bounds included) and the mean width 2*halfwidth (+inf for an infinite half-width)."""
    y_true, y_pred = _pair(y_true, y_pred)
    halfwidth = float(halfwidth)
    if math.isnan(halfwidth) or halfwidth < 0:
        raise InputError(f"halfwidth={halfwidth!r}: must be >= 0")
    picp = float(np.mean(np.abs(y_true - y_pred) <= halfwidth))
    return picp, 2.0 * halfwidth
