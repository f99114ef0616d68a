"""Scores for one set of predictions: regression quality and prediction-interval coverage."""

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


def interval_metrics(y_true, lo, hi) -> tuple[float, float]:
    """(picp, mpiw) of the intervals [lo, hi]: the fraction of true values inside (bounds
    included) and the mean width. Both undefined (NaN) when any bound is infinite: a coverage of
    1.0 from an infinite interval says nothing, and averaging it would flatter the method."""
    y_true = np.asarray(y_true, dtype=float).ravel()
    lo, hi = np.asarray(lo, dtype=float).ravel(), np.asarray(hi, dtype=float).ravel()
    if not (len(y_true) == len(lo) == len(hi)) or len(y_true) == 0:
        raise InputError(
            f"y_true/lo/hi: need equal, non-zero lengths, got {len(y_true)}, {len(lo)}, {len(hi)}"
        )
    if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(hi < lo):
        raise InputError("interval bounds: NaN, or an upper bound below its lower bound")
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        return math.nan, math.nan
    picp = float(np.mean((y_true >= lo) & (y_true <= hi)))
    return picp, float(np.mean(hi - lo))
