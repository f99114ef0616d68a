"""The evaluation protocol: splits, transfer standards, the unlabeled pool, one row per experiment.

Splits: the literature's fixed split (corn: Kennard-Stone on the master spectra; tablet: the
file's calibrate/test labels), named "kennard_stone" or "file", plus R repeated seeded random splits
of the same sizes ("random:<seed>"), the same for every method. Standards come from the calibration
rows only: Kennard-Stone (one run) and random selection (over `seeds` on the fixed split; one draw
seeded by the split on a random split). The unlabeled pool is the target spectra of the calibration
rows that are not standards, shuffled (no pairing is passed); only methods that declare
`uses_unlabeled` get it, and only `target_full` gets the labelled target calibration set. Test rows
are never seen by any fit, selection, statistic or choice: the task a method fits on holds none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spectralfm.datasets import BenchmarkDataset
from spectralfm.errors import InputError
from spectralfm.metrics import interval_metrics, regression_metrics
from spectralfm.results import ROW_COLUMNS
from spectralfm.transfer import make_method
from spectralfm.transfer.axes import common_grid, resample
from spectralfm.transfer.base import TransferTask
from spectralfm.transfer.registry import method_class
from spectralfm.transfer.selection import kennard_stone, kennard_stone_split, random_selection
from spectralfm.transfer.tuning import ALPHA

FIXED_SPLITS = ("kennard_stone", "file")


@dataclass(frozen=True)
class Split:
    name: str  # "kennard_stone", "file" or "random:<seed>"
    calibration: np.ndarray  # row indices
    test: np.ndarray
    seed: int  # seeds random standard selection on a random split


def fixed_split(data: BenchmarkDataset, master: str, scheme: str, n_calibration: int) -> Split:
    """`kennard_stone`: fixed KS split on the master spectra (corn); `file`: the file's own split
    labels, calibrate -> calibration and test -> test (tablet; its validate rows stay unused)."""
    if scheme == "kennard_stone":
        X = data.instrument(master)
        if not 0 < n_calibration < len(X):
            raise InputError(
                f"{data.source_path}: n_calibration={n_calibration} must lie in 1..{len(X) - 1}"
            )
        cal, test = kennard_stone_split(X, n_calibration)
        return Split("kennard_stone", np.sort(cal), np.sort(test), 0)
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
        return Split("file", cal, test, 0)
    raise InputError(f"unknown split scheme {scheme!r}; expected 'kennard_stone' or 'file'")


def random_splits(fixed: Split, repeats: int) -> list[Split]:
    """R seeded random splits of the fixed split's rows with its calibration and test sizes."""
    rows = np.sort(np.concatenate([fixed.calibration, fixed.test]))
    out = []
    for seed in range(repeats):
        order = np.random.default_rng(seed).permutation(rows)
        n_cal = len(fixed.calibration)
        out.append(Split(f"random:{seed}", np.sort(order[:n_cal]), np.sort(order[n_cal:]), seed))
    return out


def make_splits(data, master: str, scheme: str, n_calibration: int, repeats: int) -> list[Split]:
    if int(repeats) != repeats or repeats < 0:
        raise InputError(f"repeats={repeats!r}: must be an integer >= 0")
    fixed = fixed_split(data, master, scheme, n_calibration)
    return [fixed, *random_splits(fixed, int(repeats))]


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


def pair_spectra(data: BenchmarkDataset, master: str, target: str):
    """Both instruments' spectra on the grid classical methods use (the common grid of the two
    axes, see transfer.axes; identical axes are used as they are), and that grid."""
    axis_m, axis_t = data.axis(master), data.axis(target)
    grid = common_grid(axis_m, axis_t, pair_label=f"{data.name} {master}->{target}")
    Xm, Xt = data.instrument(master), data.instrument(target)
    if not np.array_equal(grid, axis_m):
        Xm = resample(Xm, axis_m, grid)
    if not np.array_equal(grid, axis_t):
        Xt = resample(Xt, axis_t, grid)
    return Xm, Xt, grid


def build_task(Xm, Xt, y, cal, std, grid, method_cls, seed: int) -> TransferTask:
    """What method `method_cls` may see for calibration rows `cal` and standards `std`
    (positions within `cal`): the labelled target calibration set only for target_full, the
    shuffled unlabeled pool only for methods that use it."""
    pool = None
    if method_cls.uses_unlabeled:
        rest = np.setdiff1d(np.arange(len(cal)), std)
        pool = Xt[cal][np.random.default_rng(seed).permutation(rest)]
    full = method_cls.uses_target_calibration
    return TransferTask(
        X_master=Xm[cal],
        y=y[cal],
        X_master_std=Xm[cal][std],
        X_target_std=Xt[cal][std],
        y_std=y[cal][std],
        X_target_cal=Xt[cal] if full else None,
        y_target_cal=y[cal] if full else None,
        wavelengths_nm=grid,
        std_index=std,
        X_target_unlabeled=pool,
        seed=seed,
    )


def evaluate(method_name: str, params: dict, task: TransferTask, X_test, y_test) -> dict:
    """Fit once on the task, predict the target-instrument test spectra, score; the interval
    comes from the method's own CV+ (undefined, i.e. empty, where it cannot promise one)."""
    model = make_method(method_name, **params).fit(task)
    y_pred = np.asarray(model.predict(X_test), dtype=float).ravel()
    row = regression_metrics(y_test, y_pred)
    row["picp90"] = row["mpiw90"] = math.nan
    if hasattr(model, "predict_interval"):
        lo, hi = model.predict_interval(X_test, ALPHA)
        if np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
            row["picp90"], row["mpiw90"] = interval_metrics(y_test, lo, hi)
    row["preprocessing"] = getattr(model, "preprocessing_", "")
    row["params"] = model.chosen_params_json() if hasattr(model, "chosen_params_json") else "{}"
    row["unlabeled"] = task.n_unlabeled
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
    repeats: int = 0,
) -> list[dict]:
    """All experiments of one method on one pair: properties x splits x N x selection (x seed)."""
    make_method(method_name, **params)  # fails early, naming the method, on a bad name or param
    method_cls = method_class(method_name)
    Xm_all, Xt_all, grid = pair_spectra(data, master, target)
    splits = make_splits(data, master, split_scheme, n_calibration, repeats)
    rows = []
    for prop in properties:
        y_all = data.property(prop)
        known = np.isfinite(y_all)  # a missing reference value scores and trains nothing
        for split in splits:
            cal, test = split.calibration[known[split.calibration]], split.test[known[split.test]]
            split_seeds = seeds if split.name in FIXED_SPLITS else [split.seed]
            if method_cls.needs_standards:
                grid_ = [
                    (n, sel, seed)
                    for n in n_transfer
                    if n <= len(cal)
                    for sel in selections
                    # Kennard-Stone is deterministic: one run; random selection repeats.
                    for seed in (split_seeds if sel == "random" else split_seeds[:1])
                ]
            else:
                grid_ = [(0, "none", split_seeds[0])]
            for n, sel, seed in grid_:
                std = (
                    select_standards(Xm_all[cal], n, sel, seed)
                    if method_cls.needs_standards
                    else np.empty(0, dtype=int)
                )
                task = build_task(Xm_all, Xt_all, y_all, cal, std, grid, method_cls, seed)
                scores = evaluate(method_name, params, task, Xt_all[test], y_all[test])
                rows.append(
                    {
                        "dataset": data.name,
                        "source": master,
                        "target": target,
                        "property": prop,
                        "method": method_name,
                        "split": split.name,
                        "n_transfer": len(cal) if method_cls.uses_target_calibration else n,
                        "selection": sel,
                        "seed": seed,
                        "n_test": len(test),
                        **scores,
                    }
                )
    return [{col: row[col] for col in ROW_COLUMNS} for row in rows]
