"""What every calibration-transfer method receives (TransferTask) and how it is called (TransferMethod).

A master instrument has a full calibration set; a target instrument has only N transfer standards,
measured on both. A method fits on the task and then predicts spectra measured on the target.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from spectralfm.errors import InputError
from spectralfm.transfer.pls import PLSRegressionCV


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
        None  # (n_cal, p) full target calibration set: target_full only
    )
    y_target_cal: np.ndarray | None = None
    wavelengths_nm: np.ndarray | None = None  # (p,) axis of the spectra

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
        for key, value in fields.items():
            object.__setattr__(self, key, value)

    @property
    def n_standards(self) -> int:
        return len(self.y_std)


class TransferMethod(RegressorMixin, BaseEstimator, ABC):
    """A calibration-transfer strategy: hyper-parameters in __init__ (so get_params works),
    fit(task), predict(spectra measured on the target instrument)."""

    name: ClassVar[str]
    needs_standards: ClassVar[bool] = True
    # Library modules the method runs beyond its own and the core (base, pls): the workflow
    # fingerprints them, so editing one reruns exactly the methods that use it.
    code_modules: ClassVar[tuple[str, ...]] = ()

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


class MasterModelMixin:
    """Hyper-parameters and construction of the master-instrument PLS shared by most methods."""

    def _master_pls(self) -> PLSRegressionCV:
        return PLSRegressionCV(max_components=self.max_components, cv=self.cv, cv_rule=self.cv_rule)
