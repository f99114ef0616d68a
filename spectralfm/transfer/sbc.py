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

from spectralfm.errors import InputError
from spectralfm.transfer.base import MasterModelMixin, TransferMethod, TransferTask


def _loo_press(pred: np.ndarray, y: np.ndarray, with_slope: bool) -> float:
    """Leave-one-out prediction error sum of squares of the correction line, in closed form."""
    n = len(y)
    if not with_slope:  # bias only: the fitted value is the mean of y - pred
        residual = (y - pred) - (y - pred).mean()
        return float(np.sum((residual * n / (n - 1)) ** 2))
    spread = pred - pred.mean()
    leverage = 1.0 / n + spread**2 / (spread @ spread)
    slope = spread @ (y - y.mean()) / (spread @ spread)
    residual = y - y.mean() - slope * spread
    return float(np.sum((residual / (1.0 - leverage)) ** 2))


class SBCTransfer(MasterModelMixin, TransferMethod):
    """fit_slope: True fits slope and bias; False corrects the bias only; "auto" (default) fits the
    slope only when it predicts left-out standards better than bias alone (closed-form
    leave-one-out), because a slope from a few standards with nearly equal predictions explodes.
    With fewer than 3 standards or no spread in their predictions only the bias is corrected."""

    name: ClassVar[str] = "sbc"
    needs_standards: ClassVar[bool] = True

    def __init__(self, fit_slope: bool | str = "auto", max_components: int = 20, cv: int = 10,
                 cv_rule: str = "one_se"):  # fmt: skip
        self.fit_slope = fit_slope
        self.max_components = max_components
        self.cv = cv
        self.cv_rule = cv_rule

    def fit(self, task: TransferTask) -> SBCTransfer:
        task = self._check_task(task, min_standards=1)
        if self.fit_slope not in (True, False, "auto"):
            raise InputError(f"sbc fit_slope={self.fit_slope!r}: expected True, False or 'auto'")
        self.master_model_ = self._master_pls().fit(task.X_master, task.y)
        pred, y = self.master_model_.predict(task.X_target_std), task.y_std
        spread = pred - pred.mean()
        identifiable = len(pred) >= 3 and spread @ spread > 1e-12 * (1.0 + pred @ pred)
        use_slope = identifiable and (
            self.fit_slope is True
            or (
                self.fit_slope == "auto"
                and _loo_press(pred, y, with_slope=True) < _loo_press(pred, y, with_slope=False)
            )
        )
        self.slope_ = float(spread @ (y - y.mean()) / (spread @ spread)) if use_slope else 1.0
        self.bias_ = float(y.mean() - self.slope_ * pred.mean())
        return self

    def predict(self, X_target) -> np.ndarray:
        check_is_fitted(self, "slope_")
        X = self._check_spectra(X_target, self.master_model_.n_features_in_)
        return self.bias_ + self.slope_ * self.master_model_.predict(X)
