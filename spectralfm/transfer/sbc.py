"""Slope/Bias Correction (Bouveresse et al. 1994): keep the master model, correct its predictions.

The master model predicts the standards from their target spectra; an ordinary least-squares line
y_ref = bias + slope * y_pred is fitted on those pairs and applied to every later prediction. With an
intercept, OLS residuals sum to zero, so the corrected predictions carry zero mean bias on the
standards (the earlier system got this wrong; a test checks it).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from spectralfm.errors import InputError
from spectralfm.transfer.tuning import Predictor, TunedTransferMethod, master_path


class SBCTransfer(TunedTransferMethod):
    """fit_slope: True fits slope and bias; False corrects the bias only; "auto" (default) lets the
    inner validation choose, because a slope from a few standards with nearly equal predictions
    explodes. With fewer than 3 standards or no spread in their predictions only the bias is
    corrected. The correction is fitted per latent-variable count of the master model, so the
    master's complexity is tuned for the corrected predictions."""

    name: ClassVar[str] = "sbc"
    TUNABLE: ClassVar[dict[str, tuple]] = {"fit_slope": (False, True)}

    def __init__(self, fit_slope="auto", preprocessing="auto", master_components="auto",
                 max_components: int = 20, cv: int = 5):  # fmt: skip
        self.fit_slope = fit_slope
        self.preprocessing = preprocessing
        self.master_components = master_components
        self.max_components = max_components
        self.cv = cv

    def _check_params(self) -> None:
        if self.fit_slope not in (True, False, "auto"):
            raise InputError(f"sbc fit_slope={self.fit_slope!r}: expected True, False or 'auto'")

    def _fit_candidate(self, task, spec: str, params: dict, cache: dict) -> Predictor:
        path = master_path(task, spec, self._k_max(), cache)
        pred, y = path(task.X_target_std), task.y_std  # (N, K), (N,)
        spread = pred - pred.mean(axis=0)
        size = np.sum(spread**2, axis=0)
        identifiable = (len(y) >= 3) & (size > 1e-12 * (1.0 + np.sum(pred**2, axis=0)))
        slope = np.ones(pred.shape[1])
        if params["fit_slope"]:
            slope = np.where(
                identifiable, spread.T @ (y - y.mean()) / np.where(size > 0, size, 1), 1.0
            )
        bias = y.mean() - slope * pred.mean(axis=0)
        return lambda X: bias + slope * path(X)
