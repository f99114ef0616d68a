"""Corpus read throughput: CorpusDataset block reads vs per-index random h5py reads.

Writes a synthetic corpus in the corpus layout (/spectra float32 (N, 2048) chunked (256, 2048),
/axis, /meta/split, /meta/domain) to a temporary folder, then reads the train split once with
CorpusDataset (shuffled blocks, shuffled rows within blocks) and a random sample of rows one index
at a time (what a map-style Dataset with a random sampler does). Prints rows/s and the ratio.

    .venv/bin/python benchmarks/corpus_read_throughput.py [--n 50000] [--random-reads 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from spectralfm.corpus import CHUNK_ROWS
from spectralfm.preprocess import STRING_DTYPE
from spectralfm.training.corpus_dataset import CorpusDataset


def write_synthetic_corpus(path: Path, n: int, n_points: int = 2048, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        spectra = f.create_dataset(
            "spectra", shape=(n, n_points), dtype=np.float32, chunks=(CHUNK_ROWS, n_points)
        )
        for a in range(0, n, 4096):
            b = min(a + 4096, n)
            spectra[a:b] = rng.standard_normal((b - a, n_points), dtype=np.float32)
        f["axis"] = np.stack([np.full(n, 400.0), np.full(n, 4000.0)], axis=1)
        split = np.where(rng.random(n) < 0.1, "val", "train").astype(object)
        f.create_dataset("meta/split", data=split, dtype=STRING_DTYPE)
        f["meta/domain"] = rng.integers(0, 8, n).astype(np.int32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50000)
    parser.add_argument("--random-reads", type=int, default=5000)
    parser.add_argument("--block-size", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.h5"
        t0 = time.perf_counter()
        write_synthetic_corpus(path, args.n)
        print(f"synthetic corpus {args.n} x 2048 written in {time.perf_counter() - t0:.1f} s")

        dataset = CorpusDataset(path, "train", block_size=args.block_size, seed=0)
        t0 = time.perf_counter()
        rows = sum(1 for _ in dataset)
        t_blocks = time.perf_counter() - t0
        assert rows == dataset.n_rows

        train = np.flatnonzero(dataset.in_split)
        picks = np.random.default_rng(1).choice(train, size=args.random_reads, replace=False)
        with h5py.File(path, "r") as f:
            spectra, axis = f["spectra"], f["axis"]
            t0 = time.perf_counter()
            for i in picks:
                spectra[i], axis[i]
            t_random = time.perf_counter() - t0

    block_rate = rows / t_blocks
    random_rate = args.random_reads / t_random
    print(f"CorpusDataset (blocks of {args.block_size}): {block_rate:10.0f} rows/s ({rows} rows)")
    print(f"per-index random h5py reads:       {random_rate:10.0f} rows/s ({len(picks)} rows)")
    print(f"ratio: {block_rate / random_rate:.1f}x")


if __name__ == "__main__":
    main()
