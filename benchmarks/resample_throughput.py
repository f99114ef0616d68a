"""Resample + SNV throughput: `resample_batch` + `snv` vs a per-spectrum scipy interp1d loop.

Two cases in one run, each with spectra/s for both, the ratio and the largest difference:
  shared axes   spectra on a few realistic axes, shuffled together as a mixed shard would be:
                a 1801-point 400-4000 cm^-1 grid (ChEMBL-style computed IR, step 2), the
                1800-point multimodal IR axis (linspace 400-4000), a 3000-point non-uniform
                Raman axis (a 532 nm CCD, uniform in nm) and a descending 700-point NIR axis
                (1100-2498 nm in cm^-1).
  unique axes   every spectrum on an axis of its own: lengths 200-4000, varied ranges, half
                descending (as RRUFF IR and nm-converted NIR are).
Both sides do the same job: each spectrum sorted and interpolated onto 2048 points uniform over
its own [min x, max x], then SNV; both run batch by batch as `process_shard` streams a shard.

    .venv/bin/python benchmarks/resample_throughput.py [--n 20000] [--batch 1024]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.interpolate import interp1d

from spectralfm.preprocess import resample_batch, snv

N_POINTS = 2048


def realistic_axes() -> list[np.ndarray]:
    raman_nm = np.linspace(535.0, 650.0, 3000)
    return [
        np.arange(400.0, 4000.1, 2.0),
        np.linspace(400.0, 4000.0, 1800),
        1e7 / 532.0 - 1e7 / raman_nm,
        1e7 / np.arange(1100.0, 2499.0, 2.0),
    ]


def shared_axes(n: int, seed: int = 0):
    """n spectra on `realistic_axes`, the axes in random order; each x is its own array (as
    rows read from a Parquet shard are), not one object repeated."""
    rng = np.random.default_rng(seed)
    axes = realistic_axes()
    xs, ys = [], []
    for k in rng.integers(0, len(axes), n):
        x = axes[k].copy()
        centre = rng.uniform(x.min(), x.max())
        peaks = np.exp(-(((x - centre) / rng.uniform(10, 200)) ** 2))
        xs.append(x)
        ys.append(peaks + 0.1 * np.sin(x / 97.0) + rng.normal(0, 0.01, len(x)))
    return xs, ys


def unique_axes(n: int, min_len: int = 200, max_len: int = 4000, seed: int = 0):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i in range(n):
        length = int(rng.integers(min_len, max_len))
        start = rng.uniform(50, 3000)
        x = np.linspace(start, start + rng.uniform(200, 4000), length)
        x = x[::-1] if i % 2 else x
        xs.append(x)
        ys.append(np.exp(-(((x - x.mean()) / 300) ** 2)) + rng.normal(0, 0.01, length))
    return xs, ys


def per_spectrum_loop(xs, ys, n_points=N_POINTS):
    out = np.empty((len(xs), n_points), dtype=np.float32)
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        grid = np.linspace(x.min(), x.max(), n_points)
        row = interp1d(x, y, assume_sorted=False)(grid)
        out[i] = (row - row.mean()) / row.std()
    return out


def compare(name: str, xs, ys, batch: int) -> None:
    """Both sides batch by batch, as `process_shard` streams a shard: each batch's output is
    compared and dropped (one 20k x 2048 array would time page faults, not resampling)."""
    n = len(xs)
    t_ours = t_resample = t_loop = diff = 0.0
    for a in range(0, n, batch):
        bx, by = xs[a : a + batch], ys[a : a + batch]
        t0 = time.perf_counter()
        spectra, _ = resample_batch(bx, by)
        t1 = time.perf_counter()
        fast = snv(spectra)
        t2 = time.perf_counter()
        slow = per_spectrum_loop(bx, by)
        t3 = time.perf_counter()
        t_resample += t1 - t0
        t_ours += t2 - t0
        t_loop += t3 - t2
        diff = max(diff, float(np.abs(fast - slow).max()))
    points = sum(len(x) for x in xs) / n
    print(f"{name}: {n} spectra, {points:.0f} points on average -> {N_POINTS} points + SNV")
    print(f"  per-spectrum interp1d loop: {n / t_loop:9.0f} spectra/s ({t_loop:.2f} s)")
    print(
        f"  resample_batch + snv:       {n / t_ours:9.0f} spectra/s ({t_ours:.2f} s,"
        f" of which resample {t_resample:.2f} s, snv {t_ours - t_resample:.2f} s)"
    )
    print(f"  ratio: {t_loop / t_ours:.1f}x (resample alone: {n / t_resample:.0f} spectra/s)")
    print(f"  max abs difference (SNV units): {diff:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=1024, help="as process_shard's default")
    args = parser.parse_args()
    compare("shared axes", *shared_axes(args.n), args.batch)
    compare("unique axes", *unique_axes(args.n), args.batch)


if __name__ == "__main__":
    main()
