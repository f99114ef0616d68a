"""Spectral correction, then the master model: the one composite behind PDS, DS, EPO, SST, CORAL.

    target spectrum -> preprocessing -> correction -> master PLS -> prediction

The preprocessing is fitted on the master calibration rows (MSC's reference) and applied
identically to master, standards and target spectra. The correction is a transformer
`fit(X_target, X_master)` / `transform(X_target)`: fitted on the paired standards (PDS, DS, SST,
EPO) or on the unlabeled target pool against the master calibration spectra (CORAL). EPO removes
directions rather than mapping them, so the master model is built on corrected master spectra too
(`corrects_master`). Everything `auto` is chosen by the inner validation of `TunedTransferMethod`.
"""

from __future__ import annotations

from typing import ClassVar

from spectralfm.errors import InputError
from spectralfm.transfer.tuning import Predictor, TunedTransferMethod, master_path, pls_path


def check_factors(factors: tuple, n_features: int, name: str) -> tuple:
    """`factors` as a correction's `factorize` returns them, refused if they cannot be of the
    spectra: (s, Vt, ...) with one right singular vector of n_features per singular value."""
    s, Vt = factors[0], factors[1]
    if Vt.ndim != 2 or Vt.shape[1] != n_features or len(s) != len(Vt):
        raise InputError(
            f"{name}.fit factors: singular vectors of shape {Vt.shape} cannot factorize spectra "
            f"of {n_features} values; pass {name}.factorize of the same spectra"
        )
    return factors


class CorrectedMasterTransfer(TunedTransferMethod):
    correction: ClassVar[type]
    correction_params: ClassVar[tuple[str, ...]] = ()  # constructor arguments of `correction`
    corrects_master: ClassVar[bool] = False
    paired: ClassVar[bool] = True  # False: fitted on the unlabeled pool (unpaired)

    def _fit_candidate(self, task, spec: str, params: dict, cache: dict) -> Predictor:
        """`task` is already preprocessed with `spec`; `cache` is shared by the candidates of
        one sub-fit, so the master model of a preprocessing is fitted once."""
        settings = {k: params.get(k, getattr(self, k)) for k in self.correction_params}
        correction = self._fit_correction(task, spec, settings, cache)
        if self.corrects_master:
            path = pls_path(correction.transform(task.X_master), task.y, self._k_max())
        else:
            path = master_path(task, spec, self._k_max(), cache)
        return lambda X: path(correction.transform(X))

    def _correction_spectra(self, task) -> tuple:
        """(target, master) spectra the correction is fitted on."""
        if self.paired:
            return task.X_target_std, task.X_master_std
        if task.X_target_unlabeled is None or len(task.X_target_unlabeled) < 2:
            raise InputError(f"{self.name}: needs the unlabeled target pool (>= 2 spectra)")
        return task.X_target_unlabeled, task.X_master

    def _fit_correction(self, task, spec: str, settings: dict, cache: dict):
        """The correction with `settings`, fitted on this sub-fit's (preprocessed) task. A
        correction with a `factorize` (what its fit computes whatever the settings: an SVD) has
        it computed once per sub-fit and preprocessing, shared by the candidates."""
        spectra = self._correction_spectra(task)
        if not hasattr(self.correction, "factorize"):
            return self.correction(**settings).fit(*spectra)
        if ("factors", spec) not in cache:
            cache[("factors", spec)] = self.correction.factorize(*spectra)
        return self.correction(**settings).fit(*spectra, factors=cache[("factors", spec)])
