"""Augmentation stage: spectra shard -> shard with the original plus `copies` perturbed versions.

Perturbations model what differs between instruments measuring the same sample: intensity scale,
a low-frequency baseline, detector noise at a given SNR and a wavenumber calibration offset (the
start/stop of the axis shift; the values stay on their 2048-point grid). SNV is re-applied so every
row has the same normalisation as the originals. The random stream is seeded from (seed, shard
name), so a rerun of a shard is bit-identical and shards get independent streams.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np

from spectralfm.atomic import atomic_path
from spectralfm.errors import InputError
from spectralfm.preprocess import META_STRINGS, SpectraShardWriter, read_shard_meta, snv

BLOCK_ROWS = 1024  # fixed: the random stream is drawn block by block, so this is part of the seed


def shard_seed(seed: int, shard_name: str) -> np.random.Generator:
    """A generator seeded from the user seed and the shard's file name (not its folder)."""
    digest = hashlib.sha256(shard_name.encode("utf-8")).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little")])


def augment_block(
    spectra: np.ndarray,
    axis: np.ndarray,
    rng: np.random.Generator,
    noise_snr_db: float,
    baseline_drift: float,
    shift_cm1: float,
    scale_range: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """One perturbed copy of each row (SNV'd) and its shifted axis.

    scale ~ U(scale_range) multiplies the signal before the baseline and noise are added, so it sets
    their relative size; baseline = quadratic on [-1, 1] with coefficients ~ N(0, baseline_drift)
    in units of the signal's std; noise std = signal std / 10^(snr/20); axis += U(-shift, shift).
    """
    n, n_points = spectra.shape
    lo, hi = scale_range
    scale = rng.uniform(lo, hi, size=(n, 1))
    signal = spectra.astype(np.float64) * scale
    signal_std = signal.std(axis=1, keepdims=True)
    t = np.linspace(-1.0, 1.0, n_points)
    powers = np.stack([np.ones_like(t), t, t * t])  # (3, n_points)
    coefficients = rng.normal(0.0, baseline_drift, size=(n, 3)) * signal_std
    baseline = coefficients @ powers
    noise_std = signal_std / 10.0 ** (noise_snr_db / 20.0)
    noise = rng.normal(0.0, 1.0, size=(n, n_points)) * noise_std
    shift = rng.uniform(-shift_cm1, shift_cm1, size=(n, 1))
    return snv(signal + baseline + noise), axis + shift


def augment_shard(
    spectra_shard: str | Path,
    out_path: str | Path,
    copies: int,
    noise_snr_db: float,
    baseline_drift: float,
    shift_cm1: float,
    scale_range: tuple[float, float],
    seed: int,
) -> dict:
    """Write copy 0 (the original) and `copies` augmented versions of every spectrum.

    Output: the spectra-shard layout plus /meta/aug_copy (int16); rows of one spectrum are adjacent
    (original first). Returns {"rows_in", "rows_out", "copies"}.
    """
    spectra_shard = Path(spectra_shard)
    if copies < 0:
        raise InputError(f"augment_shard: copies must be >= 0, got {copies}")
    lo, hi = scale_range
    if not 0 < lo <= hi:
        raise InputError(f"augment_shard: scale_range must be 0 < low <= high, got {scale_range}")
    if noise_snr_db <= 0 or baseline_drift < 0 or shift_cm1 < 0:
        raise InputError(
            "augment_shard: need noise_snr_db > 0, baseline_drift >= 0 and shift_cm1 >= 0, got "
            f"{noise_snr_db}, {baseline_drift}, {shift_cm1}"
        )
    meta = read_shard_meta(spectra_shard)
    if meta.aug_copy is not None:
        raise InputError(f"{spectra_shard}: already augmented (has /meta/aug_copy)")
    rng = shard_seed(seed, spectra_shard.name)
    n, n_points, per_row = meta.n_rows, meta.n_points, copies + 1
    copy_numbers = np.arange(per_row, dtype=np.int16)
    with h5py.File(spectra_shard, "r") as src:
        with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as dst:
            out = SpectraShardWriter(dst, n_points, augmented=True)
            for a in range(0, n, BLOCK_ROWS):
                b = min(a + BLOCK_ROWS, n)
                block = src["spectra"][a:b]
                block_axis = src["axis"][a:b]
                rows = np.empty((b - a, per_row, n_points), dtype=np.float32)
                axes = np.empty((b - a, per_row, 2), dtype=np.float64)
                rows[:, 0], axes[:, 0] = block, block_axis
                for k in range(1, per_row):
                    rows[:, k], axes[:, k] = augment_block(
                        block, block_axis, rng, noise_snr_db, baseline_drift, shift_cm1, (lo, hi)
                    )
                out.append(
                    rows.reshape(-1, n_points),
                    axes.reshape(-1, 2),
                    {m: np.repeat(meta.strings[m][a:b], per_row) for m in META_STRINGS},
                    np.tile(copy_numbers, b - a),
                )
            dst.attrs["augmentation"] = json.dumps(
                {
                    "copies": copies,
                    "noise_snr_db": noise_snr_db,
                    "baseline_drift": baseline_drift,
                    "shift_cm1": shift_cm1,
                    "scale_range": [lo, hi],
                    "seed": seed,
                    "source_shard": spectra_shard.name,
                }
            )
    return {"rows_in": n, "rows_out": n * per_row, "copies": copies}
