"""Reference points every transfer method is judged against.

no_transfer: the master model applied to target spectra as if nothing changed (the damage to undo).
target_direct: a new PLS on the N target standards only (what a user gets without transfer).
target_full: a PLS on the whole target calibration set (the ceiling a transfer can hope to reach).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted

from spectralfm.errors import InputError
from spectralfm.transfer.base import MasterModelMixin, TransferMethod, TransferTask


class NoTransfer(MasterModelMixin, TransferMethod):
    """Master-instrument PLS applied unchanged to target spectra."""

    name: ClassVar[str] = "no_transfer"
    needs_standards: ClassVar[bool] = False

    def __init__(self, max_components: int = 20, cv: int = 10, cv_rule: str = "one_se"):
        self.max_components = max_components
        self.cv = cv
        self.cv_rule = cv_rule

    def fit(self, task: TransferTask) -> NoTransfer:
        task = self._check_task(task)
        self.master_model_ = self._master_pls().fit(task.X_master, task.y)
        return self

    def predict(self, X_target) -> np.ndarray:
        check_is_fitted(self, "master_model_")
        X = self._check_spectra(X_target, self.master_model_.n_features_in_)
        return self.master_model_.predict(X)


class TargetDirect(MasterModelMixin, TransferMethod):
    """PLS trained only on the N target standards and their reference values; the CV caps the
    latent variables at what N samples support (leave-one-out when N < cv)."""

    name: ClassVar[str] = "target_direct"
    needs_standards: ClassVar[bool] = True

    def __init__(self, max_components: int = 20, cv: int = 10, cv_rule: str = "one_se"):
        self.max_components = max_components
        self.cv = cv
        self.cv_rule = cv_rule

    def fit(self, task: TransferTask) -> TargetDirect:
        task = self._check_task(task, min_standards=3)
        self.model_ = self._master_pls().fit(task.X_target_std, task.y_std)
        return self

    def predict(self, X_target) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.predict(self._check_spectra(X_target, self.model_.n_features_in_))


class TargetFull(MasterModelMixin, TransferMethod):
    """PLS on the full target calibration set (the only method allowed to see it)."""

    name: ClassVar[str] = "target_full"
    needs_standards: ClassVar[bool] = False

    def __init__(self, max_components: int = 20, cv: int = 10, cv_rule: str = "one_se"):
        self.max_components = max_components
        self.cv = cv
        self.cv_rule = cv_rule

    def fit(self, task: TransferTask) -> TargetFull:
        task = self._check_task(task)
        if task.X_target_cal is None:
            raise InputError("target_full: TransferTask.X_target_cal is required and was not given")
        self.model_ = self._master_pls().fit(task.X_target_cal, task.y_target_cal)
        return self

    def predict(self, X_target) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.predict(self._check_spectra(X_target, self.model_.n_features_in_))
