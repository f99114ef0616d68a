"""The evaluation protocol: fixed splits, transfer-standard grids, one result row per experiment.

Test samples are never seen by any fit, selection or statistic: the split is made once on the master
spectra, standards are chosen from the calibration rows only, and conformal intervals are calibrated on
residuals of training data (never test rows).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from spectralfm.datasets import BenchmarkDataset
from spectralfm.errors import InputError
from spectralfm.metrics import conformal_halfwidth, interval_metrics, regression_metrics
from spectralfm.transfer import make_method
from spectralfm.transfer.base import TransferTask
from spectralfm.transfer.selection import kennard_stone, kennard_stone_split, random_selection

ALPHA = 0.1  # 90% prediction intervals
CROSS_FIT_FOLDS = 5

ROW_COLUMNS = [
    "dataset",
    "source",
    "target",
    "property",
    "method",
    "n_transfer",
    "selection",
    "seed",
    "n_test",
    "rmsep",
    "r2",
    "bias",
    "sep",
    "rpd",
    "slope",
    "picp90",
    "mpiw90",
    "fit_seconds",
]


@dataclass(frozen=True)
class Split:
    calibration: np.ndarray  # row indices
    test: np.ndarray


def make_split(data: BenchmarkDataset, master: str, scheme: str, n_calibration: int) -> Split:
    """`kennard_stone`: fixed KS split on the master spectra (corn); `file`: the file's own split
    labels, calibrate -> calibration and test -> test (tablet; its validate rows stay unused)."""
    if scheme == "kennard_stone":
        X = data.instrument(master)
        if not 0 < n_calibration < len(X):
            raise InputError(
                f"{data.source_path}: n_calibration={n_calibration} must lie in 1..{len(X) - 1}"
            )
        cal, test = kennard_stone_split(X, n_calibration)
        return Split(np.sort(cal), np.sort(test))
    if scheme == "file":
        if data.split is None:
            raise InputError(
                f"{data.source_path}: split 'file' asked for, but it has no split labels"
            )
        cal = np.flatnonzero(data.split == "calibrate")
        test = np.flatnonzero(data.split == "test")
        if len(cal) == 0 or len(test) == 0:
            raise InputError(
                f"{data.source_path}: no 'calibrate' or 'test' rows in its split labels"
            )
        return Split(cal, test)
    raise InputError(f"unknown split scheme {scheme!r}; expected 'kennard_stone' or 'file'")


def select_standards(X_master_cal: np.ndarray, n: int, selection: str, seed: int) -> np.ndarray:
    """Transfer standards as positions within the calibration rows."""
    if n > len(X_master_cal):
        raise InputError(f"n_transfer={n} exceeds the {len(X_master_cal)} calibration samples")
    if selection == "kennard_stone":
        return np.asarray(kennard_stone(X_master_cal, n))
    if selection == "random":
        return np.asarray(random_selection(len(X_master_cal), n, seed))
    raise InputError(
        f"unknown selection scheme {selection!r}; expected 'kennard_stone' or 'random'"
    )


def build_task(
    data: BenchmarkDataset,
    master: str,
    target: str,
    y: np.ndarray,
    cal: np.ndarray,
    std: np.ndarray,
) -> TransferTask:
    Xm, Xt = data.instrument(master)[cal], data.instrument(target)[cal]
    return TransferTask(
        X_master=Xm,
        y=y[cal],
        X_master_std=Xm[std],
        X_target_std=Xt[std],
        y_std=y[cal][std],
        X_target_cal=Xt,
        y_target_cal=y[cal],
        wavelengths_nm=data.wavelengths_nm,
    )


def _drop_standards(task: TransferTask, keep: np.ndarray) -> TransferTask:
    return TransferTask(
        X_master=task.X_master,
        y=task.y,
        X_master_std=task.X_master_std[keep],
        X_target_std=task.X_target_std[keep],
        y_std=task.y_std[keep],
        X_target_cal=task.X_target_cal,
        y_target_cal=task.y_target_cal,
        wavelengths_nm=task.wavelengths_nm,
    )


def _folds(n: int, k: int) -> list[np.ndarray]:
    return [idx for idx in np.array_split(np.arange(n), min(k, n)) if len(idx)]


def calibration_residuals(method_name: str, params: dict, task: TransferTask) -> np.ndarray:
    """Out-of-fold residuals for split-conformal intervals, in the domain the model is used on.

    Methods with transfer standards: cross-fitting over the standards (the only labelled target
    spectra a user has). Too few standards give too few scores, and the interval is then infinite:
    that is what split conformal honestly says. no_transfer: the master model's own cross-validation
    residuals (shows the under-coverage that an uncorrected shift causes). target_full: cross-validation
    on the target calibration set.
    """
    method = make_method(method_name, **params)
    if method.needs_standards:
        n = len(task.y_std)
        if n < int(np.ceil((1 - ALPHA) * (n + 1))):
            return np.empty(0)
        residuals = np.empty(n)
        for fold in _folds(n, CROSS_FIT_FOLDS):
            keep = np.setdiff1d(np.arange(n), fold)
            fitted = make_method(method_name, **params).fit(_drop_standards(task, keep))
            residuals[fold] = task.y_std[fold] - fitted.predict(task.X_target_std[fold])
        return residuals
    # Methods without standards train on a whole calibration set: cross-validate over it.
    use_target = method_name == "target_full"
    X = task.X_target_cal if use_target else task.X_master
    y = task.y_target_cal if use_target else task.y
    residuals = np.empty(len(y))
    for fold in _folds(len(y), CROSS_FIT_FOLDS):
        keep = np.setdiff1d(np.arange(len(y)), fold)
        sub = TransferTask(
            X_master=task.X_master[keep],
            y=task.y[keep],
            X_master_std=task.X_master_std[:0],
            X_target_std=task.X_target_std[:0],
            y_std=task.y_std[:0],
            X_target_cal=None if task.X_target_cal is None else task.X_target_cal[keep],
            y_target_cal=None if task.y_target_cal is None else task.y_target_cal[keep],
            wavelengths_nm=task.wavelengths_nm,
        )
        fitted = make_method(method_name, **params).fit(sub)
        residuals[fold] = y[fold] - fitted.predict(X[fold])
    return residuals


def evaluate(
    method_name: str, params: dict, task: TransferTask, X_test: np.ndarray, y_test: np.ndarray
) -> dict:
    """Fit once, predict the target-instrument test spectra, score; conformal interval from training residuals."""
    start = time.perf_counter()
    model = make_method(method_name, **params).fit(task)
    fit_seconds = time.perf_counter() - start
    y_pred = np.asarray(model.predict(X_test), dtype=float).ravel()
    row = regression_metrics(y_test, y_pred)
    halfwidth = conformal_halfwidth(calibration_residuals(method_name, params, task), alpha=ALPHA)
    row["picp90"], row["mpiw90"] = interval_metrics(y_test, y_pred, halfwidth)
    row["fit_seconds"] = fit_seconds
    return row


def run_pair(
    data: BenchmarkDataset,
    master: str,
    target: str,
    method_name: str,
    params: dict,
    properties: list[str],
    n_transfer: list[int],
    selections: list[str],
    seeds: list[int],
    split_scheme: str,
    n_calibration: int,
) -> list[dict]:
    """All experiments of one method on one instrument pair: properties x N x selection x seed."""
    split = make_split(data, master, split_scheme, n_calibration)
    X_test = data.instrument(target)[split.test]
    X_master_cal = data.instrument(master)[split.calibration]
    probe = make_method(
        method_name, **params
    )  # fails early, naming the method, on a bad name or param
    rows = []
    for prop in properties:
        y = data.property(prop)
        y_test = y[split.test]
        if probe.needs_standards:
            grid = [
                (n, sel, seed)
                for n in n_transfer
                for sel in selections
                # Kennard-Stone is deterministic: one run; random selection repeats over seeds.
                for seed in (seeds if sel == "random" else seeds[:1])
            ]
        else:
            grid = [(0, "none", seeds[0])]
        for n, sel, seed in grid:
            std = (
                select_standards(X_master_cal, n, sel, seed)
                if probe.needs_standards
                else np.empty(0, dtype=int)
            )
            task = build_task(data, master, target, y, split.calibration, std)
            scores = evaluate(method_name, params, task, X_test, y_test)
            rows.append(
                {
                    "dataset": data.name,
                    "source": master,
                    "target": target,
                    "property": prop,
                    "method": method_name,
                    "n_transfer": len(split.calibration) if method_name == "target_full" else n,
                    "selection": sel,
                    "seed": seed,
                    "n_test": len(split.test),
                    **scores,
                }
            )
    return [{col: row[col] for col in ROW_COLUMNS} for row in rows]
