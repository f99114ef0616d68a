"""SpectralFM as calibration-transfer methods for the evaluation table.

Three table methods share one estimator:

* ``spectralfm``: pretrained SpectralFM (``pretrained`` = a pretrain output folder) + LoRA on the
  attention projections; only LoRA and the regression head are trained.
* ``spectralfm_scratch``: the same architecture (read from ``pretrained``'s model_config.json when
  given, else ``ModelConfig.preset(model_preset)``), randomly initialised, no LoRA, and every
  parameter trained (see ``spectralfm.training.finetune`` for why).
* ``spectralfm_ttt``: ``spectralfm`` followed by test-time training of the normalisation layers
  on the protocol's unlabeled target pool ``task.X_target_unlabeled`` (the same pool, under the
  same rule, as CORAL and di-PLS: target spectra of calibration samples that are not standards,
  never a test sample's; the transfer standards when the task has none). With
  ``ttt_restandardize`` (default) the head's feature standardiser is then re-estimated on those
  same unlabeled target spectra (AdaBN-style); on corn with a barely pretrained tiny model this
  matters more than the norm-layer adaptation itself.

Inputs: NIR spectra on ``task.wavelengths_nm`` are converted to wavenumbers (1e7 / nm, sorted
ascending), resampled to the model's n_points over their own range and SNV-normalised, as the
pretraining corpus was. y is standardised with the training rows' mean and std.

Training rows: the master calibration spectra with ``task.y`` plus the transfer standards
measured on the target with ``task.y_std``. A random ``val_fraction`` of the master rows is held
out for early stopping; the target standards always train. The alignment term pairs
``X_master_std[i]`` with ``X_target_std[i]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from spectralfm.errors import InputError
from spectralfm.models.config import ModelConfig
from spectralfm.models.spectralfm import SpectralFM
from spectralfm.preprocess import resample_batch, snv
from spectralfm.sources.units import nm_to_wavenumber
from spectralfm.training.checkpoint import CONFIG_FILE, load_pretrained
from spectralfm.training.finetune import FinetuneConfig, deterministic, finetune, restandardize
from spectralfm.training.ttt import adapt_norm_layers
from spectralfm.transfer.base import TransferMethod, TransferTask


def nir_to_model_input(
    X: np.ndarray, wavelengths_nm: np.ndarray, n_points: int, where: str = "spectra"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, p) absorbances on a nm axis -> SNV spectra (n, n_points) and axis (n, 2) in cm^-1."""
    X = np.asarray(X, dtype=np.float64)
    nm = np.asarray(wavelengths_nm, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(nm):
        raise InputError(f"{where}: expected shape (n, {len(nm)}), got {X.shape}")
    if not np.all(np.isfinite(X)) or not np.all(nm > 0):
        raise InputError(f"{where}: non-finite values or non-positive wavelengths")
    wavenumber = nm_to_wavenumber(nm)
    order = np.argsort(wavenumber)
    xs = [wavenumber[order]] * len(X)
    spectra, axis = resample_batch(xs, list(X[:, order]), n_points)
    spectra = snv(spectra)
    if not np.all(np.isfinite(spectra)):
        raise InputError(f"{where}: a spectrum is flat (zero std) or could not be resampled")
    return torch.from_numpy(spectra), torch.from_numpy(axis.astype(np.float32))


class SpectralFMTransfer(TransferMethod):
    """Pretrained SpectralFM fine-tuned with LoRA on master calibration + target standards."""

    name: ClassVar[str] = "spectralfm"
    needs_standards: ClassVar[bool] = True
    uses_pretrained_weights: ClassVar[bool] = True
    ttt_by_default: ClassVar[bool] = False

    def __init__(
        self,
        pretrained: str | None = None,
        lora_rank: int = 4,
        lora_alpha: float = 16.0,
        lr: float = 3e-3,
        epochs: int = 60,
        batch_size: int = 32,
        weight_decay: float = 0.0,
        alignment_weight: float = 1.0,
        patience: int = 15,
        val_fraction: float = 0.2,
        ttt: bool | None = None,  # None: the method's default (on for spectralfm_ttt only)
        ttt_steps: int = 10,
        ttt_lr: float = 1e-4,
        ttt_restandardize: bool = True,
        model_preset: str = "tiny",
        seed: int = 0,
        device: str = "cpu",
    ):
        self.pretrained = pretrained
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.alignment_weight = alignment_weight
        self.patience = patience
        self.val_fraction = val_fraction
        self.ttt = ttt
        self.ttt_steps = ttt_steps
        self.ttt_lr = ttt_lr
        self.ttt_restandardize = ttt_restandardize
        self.model_preset = model_preset
        self.seed = seed
        self.device = device

    # ------------------------------------------------------------ model

    def _build_model(self) -> SpectralFM:
        torch.manual_seed(self.seed)  # LoRA factors / scratch weights: reproducible init
        if self.uses_pretrained_weights:
            if self.pretrained is None:
                raise InputError(
                    f"{self.name}: needs pretrained=<folder written by spectralfm pretraining>"
                )
            return load_pretrained(
                self.pretrained, lora_rank=self.lora_rank, lora_alpha=self.lora_alpha
            )
        if self.pretrained is not None:
            cfg_file = Path(self.pretrained) / CONFIG_FILE  # same architecture, no weights
            if not cfg_file.is_file():
                raise InputError(
                    f"{cfg_file}: missing; pretrained must be a pretrain output folder"
                )
            cfg = ModelConfig.from_dict({**json.loads(cfg_file.read_text()), "lora_rank": 0})
        else:
            cfg = ModelConfig.preset(self.model_preset)
        return SpectralFM(cfg)

    @property
    def _do_ttt(self) -> bool:
        return self.ttt_by_default if self.ttt is None else bool(self.ttt)

    # ------------------------------------------------------------ fit / predict

    def fit(self, task: TransferTask) -> SpectralFMTransfer:
        task = self._check_task(task, min_standards=1)
        if task.wavelengths_nm is None:
            raise InputError(f"{self.name}: TransferTask.wavelengths_nm is needed (nm -> cm^-1)")
        if not 0.0 <= self.val_fraction < 1.0:
            raise InputError(f"{self.name}: val_fraction={self.val_fraction} must be in [0, 1)")
        with deterministic(self.seed):
            model = self._build_model()
        n_points = model.cfg.n_points
        wl = task.wavelengths_nm

        def prep(X, where):
            return nir_to_model_input(X, wl, n_points, f"{self.name}: {where}")

        xm, am = prep(task.X_master, "X_master")
        xts, ats = prep(task.X_target_std, "X_target_std")
        xms, ams = prep(task.X_master_std, "X_master_std")
        y = np.concatenate([task.y, task.y_std])
        self.y_mean_, self.y_scale_ = float(y.mean()), float(y.std()) or 1.0
        y_t = torch.from_numpy(((y - self.y_mean_) / self.y_scale_).astype(np.float32))
        n_master = len(task.X_master)
        rng = np.random.default_rng(self.seed)
        n_val = int(round(self.val_fraction * n_master))
        val = np.zeros(len(y), dtype=bool)
        val[rng.choice(n_master, size=n_val, replace=False)] = True

        device = torch.device(self.device)
        model = model.to(device)
        cfg = FinetuneConfig(
            lr=self.lr,
            epochs=self.epochs,
            batch_size=self.batch_size,
            weight_decay=self.weight_decay,
            alignment_weight=self.alignment_weight,
            patience=self.patience,
            seed=self.seed,
            train_all=not self.uses_pretrained_weights,
        )
        self.history_ = finetune(
            model,
            torch.cat([xm, xts]).to(device),
            torch.cat([am, ats]).to(device),
            y_t.to(device),
            torch.from_numpy(val).to(device),
            cfg,
            pairs=(xms.to(device), ams.to(device), xts.to(device), ats.to(device)),
        )
        if self._do_ttt:
            unlabeled = task.X_target_unlabeled if task.n_unlabeled else task.X_target_std
            xu, au = prep(unlabeled, "target spectra for TTT")
            with deterministic(self.seed):
                self.ttt_ = adapt_norm_layers(
                    model,
                    xu.to(device),
                    au.to(device),
                    steps=self.ttt_steps,
                    lr=self.ttt_lr,
                    batch_size=self.batch_size,
                    seed=self.seed,
                )
            if self.ttt_restandardize:
                restandardize(model, xu.to(device), au.to(device))
        model.eval()
        self.model_ = model
        self.wavelengths_nm_ = wl
        # What the table records: the model's own input normalisation, and its settings.
        self.preprocessing_ = "model_input(snv)"
        self.params_ = {
            k: v for k, v in self.get_params().items() if k not in ("pretrained", "device")
        }
        self.n_features_in_ = len(wl)
        return self

    def chosen_params_json(self) -> str:
        return json.dumps(self.params_, sort_keys=True, separators=(",", ":"))

    def predict(self, X_target) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise InputError(f"{self.name}: call fit before predict")
        X = self._check_spectra(X_target, self.n_features_in_)
        spectra, axis = nir_to_model_input(
            X, self.wavelengths_nm_, self.model_.cfg.n_points, f"{self.name}: X_target"
        )
        device = next(self.model_.parameters()).device
        preds = []
        self.model_.eval()
        with torch.no_grad():
            for i in range(0, len(spectra), 64):
                out = self.model_(spectra[i : i + 64].to(device), axis[i : i + 64].to(device))
                preds.append(out["y_pred"][:, 0].cpu())
        y = torch.cat(preds).double().numpy() if preds else np.zeros(0)
        return y * self.y_scale_ + self.y_mean_


class SpectralFMScratch(SpectralFMTransfer):
    """The same fine-tuning from random initial weights, every parameter trained."""

    name: ClassVar[str] = "spectralfm_scratch"
    uses_pretrained_weights: ClassVar[bool] = False


class SpectralFMTTT(SpectralFMTransfer):
    """``spectralfm`` plus test-time training of norm layers on unlabeled target spectra."""

    name: ClassVar[str] = "spectralfm_ttt"
    ttt_by_default: ClassVar[bool] = True
    uses_unlabeled: ClassVar[bool] = True
