"""Reference points every transfer method is judged against.

no_transfer: the master model applied to target spectra as if nothing changed (the damage to undo).
target_direct: a new PLS on the N target standards only (what a user gets without transfer).
target_full: a PLS on the whole target calibration set (the ceiling a transfer can hope to reach).
"""

from __future__ import annotations

from typing import ClassVar

from spectralfm.errors import InputError
from spectralfm.transfer.tuning import Predictor, TunedTransferMethod, pls_path


class _PLSOn(TunedTransferMethod):
    """A PLS on one labelled set (which: `_training_set`), preprocessing and latent variables
    chosen by K-fold validation over that set."""

    def __init__(self, preprocessing="auto", master_components="auto", max_components: int = 20,
                 cv: int = 5):  # fmt: skip
        self.preprocessing = preprocessing
        self.master_components = master_components
        self.max_components = max_components
        self.cv = cv

    def _training_set(self, task):
        raise NotImplementedError

    def _reference_rows(self, task):
        return self._training_set(task)[0]

    def _fit_candidate(self, task, spec: str, params: dict, cache: dict) -> Predictor:
        return pls_path(*self._training_set(task), self._k_max())


class NoTransfer(_PLSOn):
    """Master-instrument PLS applied unchanged to target spectra."""

    name: ClassVar[str] = "no_transfer"
    needs_standards: ClassVar[bool] = False
    fold_units = "master"
    min_standards = 0

    def _training_set(self, task):
        return task.X_master, task.y


class TargetDirect(_PLSOn):
    """PLS trained only on the N target standards and their reference values."""

    name: ClassVar[str] = "target_direct"
    fold_units = "standards"
    min_standards = 3

    def _training_set(self, task):
        return task.X_target_std, task.y_std


class TargetFull(_PLSOn):
    """PLS on the full target calibration set (the only method allowed to see it)."""

    name: ClassVar[str] = "target_full"
    needs_standards: ClassVar[bool] = False
    uses_target_calibration: ClassVar[bool] = True
    fold_units = "target_cal"
    min_standards = 0

    def _training_set(self, task):
        if task.X_target_cal is None:
            raise InputError("target_full: TransferTask.X_target_cal is required and was not given")
        return task.X_target_cal, task.y_target_cal
