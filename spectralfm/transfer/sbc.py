"""Slope/Bias Correction (Bouveresse et al. 1994): keep the master model, correct its predictions.

The master model predicts the standards from their target spectra; an ordinary least-squares line
y_ref = bias + slope * y_pred is fitted on those pairs and applied to every later prediction. With an
intercept, OLS residuals sum to zero, so the corrected predictions carry zero mean bias on the
standards (the earlier system got this wrong; a test checks it).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted

from spectralfm.transfer.base import MasterModelMixin, TransferMethod, TransferTask


class SBCTransfer(MasterModelMixin, TransferMethod):
    """fit_slope=False corrects the bias only (safer with very few or nearly equal standards).
    When the standards' predictions have no spread, the slope is unidentifiable and left at 1."""

    name: ClassVar[str] = "sbc"
    needs_standards: ClassVar[bool] = True

    def __init__(self, fit_slope: bool = True, max_components: int = 20, cv: int = 10,
                 cv_rule: str = "one_se"):  # fmt: skip
        self.fit_slope = fit_slope
        self.max_components = max_components
        self.cv = cv
        self.cv_rule = cv_rule

    def fit(self, task: TransferTask) -> SBCTransfer:
        task = self._check_task(task, min_standards=1)
        self.master_model_ = self._master_pls().fit(task.X_master, task.y)
        pred = self.master_model_.predict(task.X_target_std)
        spread = pred - pred.mean()
        if self.fit_slope and len(pred) >= 2 and spread @ spread > 1e-12 * (1 + pred @ pred):
            self.slope_ = float(spread @ (task.y_std - task.y_std.mean()) / (spread @ spread))
        else:
            self.slope_ = 1.0
        self.bias_ = float(task.y_std.mean() - self.slope_ * pred.mean())
        return self

    def predict(self, X_target) -> np.ndarray:
        check_is_fitted(self, "slope_")
        X = self._check_spectra(X_target, self.master_model_.n_features_in_)
        return self.bias_ + self.slope_ * self.master_model_.predict(X)
