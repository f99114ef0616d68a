"""SpectralFM as calibration-transfer methods for the evaluation table.

Four table methods, all on the benchmark's protocol, splits, standards and unlabeled pool, and all
tuned by the same inner validation over the standards as the classical methods
(`spectralfm.transfer.tuning`):

* ``spectralfm``: the pretrained translator. The FNO transfer head, pretrained to map one
  simulated instrument view of a spectrum onto another (``spectralfm.losses``: ``translation``),
  maps each target spectrum into the master's space; then the master PLS with the same
  preprocessing and latent-variable tuning as the classical methods. Fine-tuning on the N paired
  standards refits the head's last layer (a linear map, at each point, of the operator's
  ``width`` features and of the spectrum's first and second derivatives, see
  ``spectralfm.models.fno``; plus a bias) by ridge regression *towards its pretrained weights*: ``ridge`` is the strength
  (on standardised features, so relative to each feature's own scale; 1e6 keeps the pretrained
  head as it is), chosen in the inner validation from ``TUNABLE``. The body stays frozen, so every
  sub-fit of the validation is a small linear solve on features computed once per spectrum.
* ``spectralfm_scratch``: exactly ``spectralfm`` with the head's random initial weights (the
  ablation: what the pretraining buys).
* ``spectralfm_ttt``: ``spectralfm`` adapted at test time on the protocol's unlabeled target pool
  (target spectra of calibration samples that are not standards, never a test sample's): the
  ridge fit also asks the mean translated pool spectrum to match the mean master calibration
  spectrum, with the weight of ``pool_weight`` standards.
* ``spectralfm_embed``: frozen pretrained encoder features (the final-layer patch tokens,
  flattened) with the EPO correction and a PLS head, tuned as EPO is.

The model space: spectra on ``task.wavelengths_nm`` are converted to wavenumbers (1e7 / nm,
ascending), resampled to the model's ``n_points`` over their own range and SNV-normalised, as the
pretraining corpus was. The head corrects the SNV shape; the level and scale it removed are
mapped separately from the standards (master mean - target mean, and the master / target std
ratio, averaged over the standards). The translated spectrum goes back to the task's grid as a
correction added to the measured spectrum, so an identity head changes nothing but the moments.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from spectralfm.errors import InputError
from spectralfm.models.config import ModelConfig
from spectralfm.models.fno import FNO1d
from spectralfm.models.spectralfm import SpectralFM
from spectralfm.sources.units import nm_to_wavenumber
from spectralfm.training.checkpoint import CONFIG_FILE, load_pretrained
from spectralfm.transfer.axes import resample
from spectralfm.transfer.base import TransferTask
from spectralfm.transfer.epo import EPOTransfer
from spectralfm.transfer.tuning import TunedTransferMethod, master_path

KEEP_PRETRAINED = 1e6  # a ridge this strong leaves the pretrained head where it is
FEATURE_BATCH = 64


class ModelSpace:
    """Spectra on a task's nm grid <-> the model's grid: n_points uniform in wavenumber."""

    def __init__(self, wavelengths_nm: np.ndarray, n_points: int):
        wavenumber = nm_to_wavenumber(np.asarray(wavelengths_nm, dtype=np.float64))
        self.order = np.argsort(wavenumber)
        self.wavenumber = wavenumber[self.order]
        self.grid = np.linspace(self.wavenumber[0], self.wavenumber[-1], n_points)
        self.axis = np.array([self.grid[0], self.grid[-1]], dtype=np.float32)

    def to_model(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n, p) -> resampled spectra (n, n_points), their means (n,) and stds (n,)."""
        R = resample(X[:, self.order], self.wavenumber, self.grid)
        std = R.std(axis=1)
        if np.any(std == 0):
            raise InputError("spectralfm: a spectrum is flat (zero std); SNV is undefined")
        return R, R.mean(axis=1), std

    def to_task(self, D: np.ndarray) -> np.ndarray:
        """(n, n_points) on the model grid -> (n, p) on the task's grid and order."""
        out = np.empty((len(D), len(self.order)))
        out[:, self.order] = resample(D, self.grid, self.wavenumber)
        return out


def load_model(
    pretrained: str | None, model_preset: str, with_weights: bool, name: str
) -> SpectralFM:
    """The pretrained SpectralFM, or (with_weights=False) the same architecture freshly
    initialised: the config of `pretrained` when given, else the preset."""
    if with_weights:
        if pretrained is None:
            raise InputError(f"{name}: needs pretrained=<folder written by spectralfm pretraining>")
        return load_pretrained(pretrained)
    if pretrained is not None:
        cfg_file = Path(pretrained) / CONFIG_FILE
        if not cfg_file.is_file():
            raise InputError(f"{cfg_file}: missing; pretrained must be a pretrain output folder")
        cfg = ModelConfig.from_dict({**json.loads(cfg_file.read_text()), "lora_rank": 0})
    else:
        cfg = ModelConfig.preset(model_preset)
    return SpectralFM(cfg)


class FrozenFeatures:
    """Frozen per-spectrum features of a torch module, computed once per distinct input array
    (the inner validation transforms the same held-out spectra for every candidate)."""

    def __init__(self, compute, space: ModelSpace):
        self.compute = compute  # (B, n_points) SNV tensor, (B, 2) axis -> tensor (B, ...)
        self.space = space
        self._cache: dict[bytes, tuple] = {}

    def __call__(self, X: np.ndarray) -> tuple[np.ndarray, ...]:
        """(n, p) -> (features (n, ...), resampled R (n, n_points), its SNV x, means, stds)."""
        key = hashlib.sha1(np.ascontiguousarray(X).view(np.uint8)).digest() + repr(X.shape).encode()
        if key not in self._cache:
            R, mean, std = self.space.to_model(X)
            x = (R - mean[:, None]) / std[:, None]
            snv = torch.from_numpy(x.astype(np.float32))
            axis = torch.from_numpy(np.tile(self.space.axis, (len(X), 1)))
            with torch.no_grad():
                parts = [
                    self.compute(snv[i : i + FEATURE_BATCH], axis[i : i + FEATURE_BATCH])
                    for i in range(0, len(X), FEATURE_BATCH)
                ]
            feats = torch.cat(parts).double().numpy() if parts else np.zeros((0,))
            self._cache[key] = (feats, R, x, mean, std)
        return self._cache[key]

    def clear(self) -> None:
        self._cache.clear()


@dataclass
class Translation:
    """A fitted translator: the head's refitted last layer (w, b) and the moment map. Used as
    the first step of a preprocessing pipeline (tuning.transform calls `_transform`)."""

    features: FrozenFeatures
    w: np.ndarray  # (width,)
    b: float
    mean_shift: float
    std_ratio: float

    def _transform(self, X: np.ndarray) -> np.ndarray:
        G, R, x, mean, std = self.features(X)
        shape = x + np.einsum("icj,c->ij", G, self.w) + self.b
        T = (mean + self.mean_shift)[:, None] + (std * self.std_ratio)[:, None] * shape
        return X + self.features.space.to_task(T - R)


@dataclass
class TranslateThen:
    """Translation, then a fitted preprocessing pipeline: what a candidate applies to target
    spectra (master spectra get the preprocessing only)."""

    translation: Translation
    pre: object

    @property
    def steps(self) -> list:
        return [("translate", self.translation), *self.pre.steps]


class SpectralFMTransfer(TunedTransferMethod):
    """The pretrained FNO translator refitted on the standards, then the master PLS."""

    name: ClassVar[str] = "spectralfm"
    uses_pretrained_weights: ClassVar[bool] = True
    adapts_on_pool: ClassVar[bool] = False
    TUNABLE: ClassVar[dict[str, tuple]] = {"ridge": (KEEP_PRETRAINED, 10.0, 1.0, 0.1, 0.01)}

    def __init__(self, pretrained: str | None = None, ridge="auto", pool_weight: float = 1.0,
                 preprocessing="auto", master_components="auto", max_components: int = 20,
                 cv: int = 5, model_preset: str = "tiny", seed: int = 0,
                 device: str = "cpu"):  # fmt: skip
        self.pretrained = pretrained
        self.ridge = ridge
        self.pool_weight = pool_weight
        self.preprocessing = preprocessing
        self.master_components = master_components
        self.max_components = max_components
        self.cv = cv
        self.model_preset = model_preset
        self.seed = seed
        self.device = device

    # ------------------------------------------------------------ the head

    def _prepare(self, task: TransferTask) -> None:
        """Frozen features and per-standard normal equations for every sub-fit of this fit."""
        if task.wavelengths_nm is None:
            raise InputError(f"{self.name}: TransferTask.wavelengths_nm is needed (nm -> cm^-1)")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)  # scratch: a reproducible random head
            model = load_model(
                self.pretrained, self.model_preset, self.uses_pretrained_weights, self.name
            )
        head: FNO1d = model.transfer.to(self.device).eval()
        device = torch.device(self.device)
        space = ModelSpace(task.wavelengths_nm, model.cfg.n_points)
        self.features_ = FrozenFeatures(
            lambda x, a: head.features(x.to(device), a.to(device)).cpu(), space
        )
        self.w0_ = head.out.weight.detach().double().cpu().numpy()[0, :, 0]
        self.b0_ = float(head.out.bias.detach().double().cpu()[0])
        G_t, _, x_t, m_t, s_t = self.features_(task.X_target_std)
        _, _, x_m, m_m, s_m = self.features_(task.X_master_std)
        # least squares per standard: phi_ij = [G[i, :, j], 1], target x_m - x_t
        phi = np.concatenate([G_t, np.ones((len(G_t), 1, G_t.shape[2]))], axis=1)
        self.A_std_ = np.einsum("icj,idj->icd", phi, phi)
        self.c_std_ = np.einsum("icj,ij->ic", phi, x_m - x_t)
        self.mean_shift_std_ = m_m - m_t
        self.std_ratio_std_ = s_m / s_t

    def _pool_equations(self, task: TransferTask) -> tuple[np.ndarray, np.ndarray]:
        """The pool term: mean translated pool spectrum = mean master calibration spectrum."""
        if task.X_target_unlabeled is None or len(task.X_target_unlabeled) < 2:
            raise InputError(f"{self.name}: needs the unlabeled target pool (>= 2 spectra)")
        G_p, _, x_p, _, _ = self.features_(task.X_target_unlabeled)
        x_c = self.features_(task.X_master)[2]
        gap = x_c.mean(0) - x_p.mean(0)
        phi = np.concatenate([G_p.mean(0), np.ones((1, G_p.shape[2]))])  # (width + 1, n_points)
        return phi @ phi.T, phi @ gap

    def _translations(self, task: TransferTask, keep: np.ndarray, ridges) -> dict:
        """{ridge: the head refitted on standards `keep` (and the pool for TTT), ridge towards
        w0}: the normal equations are summed once, then solved per ridge."""
        A, c = self.A_std_[keep].sum(0), self.c_std_[keep].sum(0)
        if self.adapts_on_pool:
            A_p, c_p = self._pool_equations(task)
            A, c = A + self.pool_weight * A_p, c + self.pool_weight * c_p
        # ridge in standardised coordinates: every feature (and the bias) penalised alike
        theta0 = np.append(self.w0_, self.b0_)
        d = np.sqrt(np.maximum(np.diag(A), 1e-12))
        A_std, c_std = A / np.outer(d, d), c / d
        mean_shift = float(self.mean_shift_std_[keep].mean())
        std_ratio = float(self.std_ratio_std_[keep].mean())
        out = {}
        for ridge in ridges:
            theta = np.linalg.solve(A_std + ridge * np.eye(len(A)), c_std + ridge * d * theta0) / d
            out[ridge] = Translation(
                self.features_, theta[:-1], float(theta[-1]), mean_shift, std_ratio
            )
        return out

    def _translation(self, task: TransferTask, keep: np.ndarray, ridge: float) -> Translation:
        return self._translations(task, keep, [ridge])[ridge]

    # ------------------------------------------------------------ the tuning engine's hooks

    def _fit_subset(self, task, drop, candidates, stateless) -> list:
        keep = np.setdiff1d(np.arange(task.n_standards), drop)
        sub = self._without(task, drop) if len(drop) else task
        ridges = sorted({float(p["ridge"]) for _, p in candidates})
        translations = self._translations(sub, keep, ridges)
        fitted = super()._fit_subset(task, drop, candidates, stateless)
        return [
            None
            if item is None
            else (TranslateThen(translations[float(p["ridge"])], item[0]), item[1])
            for item, (_, p) in zip(fitted, candidates, strict=True)
        ]

    def _fit_candidate(self, task, spec: str, params: dict, cache: dict):
        return master_path(task, spec, self._k_max(), cache)

    def fit(self, task: TransferTask) -> SpectralFMTransfer:
        task = self._check_task(task, min_standards=1)
        self._prepare(task)
        super().fit(task)
        self.features_.clear()  # held for the inner validation only
        for attr in ("A_std_", "c_std_"):
            delattr(self, attr)
        for key in ("pretrained", "device"):  # where the run keeps files, not a setting
            self.params_.pop(key)
        return self


class SpectralFMScratch(SpectralFMTransfer):
    """``spectralfm`` from the head's random initial weights (the pretraining ablation)."""

    name: ClassVar[str] = "spectralfm_scratch"
    uses_pretrained_weights: ClassVar[bool] = False


class SpectralFMTTT(SpectralFMTransfer):
    """``spectralfm`` with the head also adapted on the unlabeled target pool."""

    name: ClassVar[str] = "spectralfm_ttt"
    uses_unlabeled: ClassVar[bool] = True
    adapts_on_pool: ClassVar[bool] = True


class SpectralFMEmbed(EPOTransfer):
    """EPO and a PLS head on frozen pretrained encoder features (flattened patch tokens)."""

    name: ClassVar[str] = "spectralfm_embed"
    uses_pretrained_weights: ClassVar[bool] = True

    def __init__(self, pretrained: str | None = None, n_components="auto",
                 preprocessing: str = "none", master_components="auto",
                 max_components: int = 20, cv: int = 5, device: str = "cpu"):  # fmt: skip
        self.pretrained = pretrained
        self.n_components = n_components
        self.preprocessing = preprocessing
        self.master_components = master_components
        self.max_components = max_components
        self.cv = cv
        self.device = device

    def _embed(self, X: np.ndarray) -> np.ndarray:
        feats = self.encoder_(X)[0]
        return feats.reshape(len(feats), -1)

    def fit(self, task: TransferTask) -> SpectralFMEmbed:
        task = self._check_task(task, min_standards=1)
        if task.wavelengths_nm is None:
            raise InputError(f"{self.name}: TransferTask.wavelengths_nm is needed (nm -> cm^-1)")
        model = load_model(self.pretrained, "tiny", True, self.name).to(self.device).eval()
        device = torch.device(self.device)
        space = ModelSpace(task.wavelengths_nm, model.cfg.n_points)
        self.encoder_ = FrozenFeatures(
            lambda x, a: model(x.to(device), a.to(device))["tokens"].float().cpu(), space
        )
        self.n_wavelengths_ = task.X_master.shape[1]
        features = TransferTask(
            X_master=self._embed(task.X_master),
            y=task.y,
            X_master_std=self._embed(task.X_master_std),
            X_target_std=self._embed(task.X_target_std),
            y_std=task.y_std,
            std_index=task.std_index,
            seed=task.seed,
        )
        super().fit(features)
        self.encoder_.clear()
        for key in ("pretrained", "device"):  # where the run keeps files, not a setting
            self.params_.pop(key)
        return self

    def predict(self, X_target) -> np.ndarray:
        X = self._check_spectra(X_target, self.n_wavelengths_)
        return super().predict(self._embed(X))

    def predict_interval(self, X_target, alpha: float = 0.1):
        X = self._check_spectra(X_target, self.n_wavelengths_)
        return super().predict_interval(self._embed(X), alpha)
