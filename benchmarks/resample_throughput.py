"""Resample + SNV throughput: batched `resample_batch` vs a per-spectrum scipy interp1d loop.

Synthetic spectra of varied lengths (200-4000 points), ranges and orders (half descending, as
RRUFF IR and nm-converted NIR are). Prints spectra/s for both and the ratio.

    .venv/bin/python benchmarks/resample_throughput.py [--n 20000] [--batch 512]
        [--min-len 200 --max-len 4000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.interpolate import interp1d

from spectralfm.preprocess import resample_batch, snv


def synthetic(n: int, min_len: int = 200, max_len: int = 4000, seed: int = 0):
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


def per_spectrum_loop(xs, ys, n_points=2048):
    out = np.empty((len(xs), n_points), dtype=np.float32)
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        grid = np.linspace(x.min(), x.max(), n_points)
        row = interp1d(x, y, assume_sorted=False)(grid)
        out[i] = (row - row.mean()) / row.std()
    return out


def batched(xs, ys, batch, n_points=2048):
    out = np.empty((len(xs), n_points), dtype=np.float32)
    for a in range(0, len(xs), batch):
        spectra, _ = resample_batch(xs[a : a + batch], ys[a : a + batch], n_points)
        out[a : a + batch] = snv(spectra)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--min-len", type=int, default=200)
    parser.add_argument("--max-len", type=int, default=4000)
    args = parser.parse_args()
    xs, ys = synthetic(args.n, args.min_len, args.max_len)
    points = sum(len(x) for x in xs)
    print(f"{args.n} spectra, {points / args.n:.0f} points on average -> 2048 points + SNV")

    t0 = time.perf_counter()
    fast = batched(xs, ys, args.batch)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = per_spectrum_loop(xs, ys)
    t_slow = time.perf_counter() - t0

    print(f"per-spectrum interp1d loop: {args.n / t_slow:10.0f} spectra/s ({t_slow:.2f} s)")
    print(
        f"resample_batch (batch {args.batch}): {args.n / t_fast:10.0f} spectra/s ({t_fast:.2f} s)"
    )
    print(f"ratio: {t_slow / t_fast:.1f}x")
    print(f"max abs difference (SNV units): {np.abs(fast - slow).max():.2e}")


if __name__ == "__main__":
    main()
