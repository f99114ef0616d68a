"""What every calibration-transfer method receives (TransferTask) and how it is called (TransferMethod).

A master instrument has a full calibration set; a target instrument has only N transfer standards,
measured on both (the standards are rows of the master calibration set: `std_index`). A method fits
on the task and then predicts spectra measured on the target. What a method may see is decided by
the protocol, not by the method: the labelled target calibration set only for `target_full`, the
unlabeled target pool only for methods that declare `uses_unlabeled`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from spectralfm.errors import InputError


def check_spectra(X, key: str, n_features: int | None = None) -> np.ndarray:
    """A finite 2-D float array (samples x wavelengths), of `n_features` columns if given."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise InputError(
            f"{key}: expected a 2-D array (samples x wavelengths), got shape {X.shape}"
        )
    if n_features is not None and X.shape[1] != n_features:
        raise InputError(f"{key}: has {X.shape[1]} wavelengths, expected {n_features}")
    if not np.all(np.isfinite(X)):
        raise InputError(f"{key}: contains non-finite values")
    return X


def _matrix(value, key: str, n_cols: int | None = None) -> np.ndarray:
    X = np.asarray(value, dtype=float)
    if X.ndim != 2:
        raise InputError(f"TransferTask.{key}: expected a 2-D array, got shape {X.shape}")
    if n_cols is not None and X.shape[1] != n_cols:
        raise InputError(f"TransferTask.{key}: has {X.shape[1]} wavelengths, X_master has {n_cols}")
    if not np.all(np.isfinite(X)):
        raise InputError(f"TransferTask.{key}: contains non-finite values")
    return X


def _vector(value, key: str, n: int) -> np.ndarray:
    y = np.asarray(value, dtype=float)
    if y.ndim != 1 or len(y) != n:
        raise InputError(f"TransferTask.{key}: expected shape ({n},), got {y.shape}")
    if not np.all(np.isfinite(y)):
        raise InputError(f"TransferTask.{key}: contains non-finite values")
    return y


@dataclass(frozen=True)
class TransferTask:
    X_master: np.ndarray  # (n_cal, p) master-instrument calibration spectra
    y: np.ndarray  # (n_cal,) reference values of the calibration samples
    X_master_std: np.ndarray  # (N, p) transfer standards measured on the master
    X_target_std: np.ndarray  # (N, p) the same standards measured on the target
    y_std: np.ndarray  # (N,) reference values of the standards
    X_target_cal: np.ndarray | None = (
        None  # (n_cal, p) labelled target calibration: target_full only
    )
    y_target_cal: np.ndarray | None = None
    wavelengths_nm: np.ndarray | None = None  # (p,) axis of the spectra
    # Rows of X_master that are the standards (inner validation drops a held-out standard from the
    # master calibration too). None: the standards are not calibration rows.
    std_index: np.ndarray | None = None
    # Unlabeled, unpaired target spectra (never a test sample's); only for methods that use them.
    X_target_unlabeled: np.ndarray | None = None
    seed: int = 0  # shuffles the inner folds

    def __post_init__(self):
        # Validate once here so every method can trust shapes; frozen, hence object.__setattr__.
        Xm = _matrix(self.X_master, "X_master")
        p = Xm.shape[1]
        fields = {
            "X_master": Xm,
            "y": _vector(self.y, "y", len(Xm)),
            "X_master_std": _matrix(self.X_master_std, "X_master_std", p),
            "X_target_std": _matrix(self.X_target_std, "X_target_std", p),
        }
        n_std = len(fields["X_master_std"])
        if len(fields["X_target_std"]) != n_std:
            raise InputError(
                f"TransferTask.X_target_std: {len(fields['X_target_std'])} standards, "
                f"X_master_std has {n_std}"
            )
        fields["y_std"] = _vector(self.y_std, "y_std", n_std)
        if (self.X_target_cal is None) != (self.y_target_cal is None):
            raise InputError("TransferTask.X_target_cal and y_target_cal: give both or neither")
        if self.X_target_cal is not None:
            Xtc = _matrix(self.X_target_cal, "X_target_cal", p)
            fields["X_target_cal"] = Xtc
            fields["y_target_cal"] = _vector(self.y_target_cal, "y_target_cal", len(Xtc))
        if self.wavelengths_nm is not None:
            fields["wavelengths_nm"] = _vector(self.wavelengths_nm, "wavelengths_nm", p)
        if self.std_index is not None:
            index = np.asarray(self.std_index, dtype=int)
            if index.shape != (n_std,) or np.any(index < 0) or np.any(index >= len(Xm)):
                raise InputError(
                    f"TransferTask.std_index: expected {n_std} row numbers of X_master, got {index}"
                )
            fields["std_index"] = index
        if self.X_target_unlabeled is not None:
            fields["X_target_unlabeled"] = _matrix(self.X_target_unlabeled, "X_target_unlabeled", p)
        for key, value in fields.items():
            object.__setattr__(self, key, value)

    @property
    def n_standards(self) -> int:
        return len(self.y_std)

    @property
    def n_unlabeled(self) -> int:
        return 0 if self.X_target_unlabeled is None else len(self.X_target_unlabeled)

    def without_standards(self, drop: np.ndarray) -> TransferTask:
        """The task a fold model trains on: standards `drop` removed, and with them their rows of
        the master calibration set, so the fit never sees those samples anywhere."""
        keep_std = np.setdiff1d(np.arange(self.n_standards), drop)
        keep_cal = np.arange(len(self.y))
        if self.std_index is not None:
            keep_cal = np.setdiff1d(keep_cal, self.std_index[drop])
        return self._subset(keep_cal, keep_std)

    def without_calibration_rows(self, drop: np.ndarray) -> TransferTask:
        """Calibration rows `drop` removed (for methods that train on a calibration set); any
        standard among them goes too."""
        keep_cal = np.setdiff1d(np.arange(len(self.y)), drop)
        keep_std = np.arange(self.n_standards)
        if self.std_index is not None:
            keep_std = np.flatnonzero(~np.isin(self.std_index, drop))
        return self._subset(keep_cal, keep_std)

    def _subset(self, keep_cal: np.ndarray, keep_std: np.ndarray) -> TransferTask:
        std_index = None
        if self.std_index is not None:
            # positions of the kept standards among the kept calibration rows
            std_index = np.searchsorted(keep_cal, self.std_index[keep_std])
        return replace(
            self,
            X_master=self.X_master[keep_cal],
            y=self.y[keep_cal],
            X_master_std=self.X_master_std[keep_std],
            X_target_std=self.X_target_std[keep_std],
            y_std=self.y_std[keep_std],
            X_target_cal=None if self.X_target_cal is None else self.X_target_cal[keep_cal],
            y_target_cal=None if self.y_target_cal is None else self.y_target_cal[keep_cal],
            std_index=std_index,
        )


class TransferMethod(RegressorMixin, BaseEstimator, ABC):
    """A calibration-transfer strategy: hyper-parameters in __init__ (so get_params works),
    fit(task), predict(spectra measured on the target instrument).

    After fit, `preprocessing_` (canonical spec) and `params_` (every setting used, with the key
    "tuned" listing those chosen inside fit) describe what was used; `predict_interval(X, alpha)`
    gives prediction intervals (or +-inf where the method cannot promise one).
    """

    name: ClassVar[str]
    needs_standards: ClassVar[bool] = True
    uses_unlabeled: ClassVar[bool] = False  # given the protocol's unlabeled target pool
    uses_target_calibration: ClassVar[bool] = False  # given the labelled target calibration set

    @abstractmethod
    def fit(self, task: TransferTask) -> TransferMethod: ...

    @abstractmethod
    def predict(self, X_target) -> np.ndarray: ...

    def _check_task(self, task: TransferTask, min_standards: int = 0) -> TransferTask:
        if not isinstance(task, TransferTask):
            raise InputError(f"{self.name}: fit expects a TransferTask, got {type(task).__name__}")
        if task.n_standards < min_standards:
            raise InputError(
                f"{self.name}: needs at least {min_standards} transfer standard(s), "
                f"got {task.n_standards}"
            )
        return task

    def _check_spectra(self, X, n_features: int) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != n_features:
            raise InputError(
                f"{self.name}: expected target spectra of shape (n, {n_features}), got {X.shape}"
            )
        if not np.all(np.isfinite(X)):
            raise InputError(f"{self.name}: target spectra contain non-finite values")
        return X
