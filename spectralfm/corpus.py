"""The pretraining corpus: one HDF5 assembled from spectra shards (its training reader, which needs
torch, is spectralfm.training.corpus_dataset).

Layout: /spectra float32 (N, n_points) chunked (256, n_points) for block reads; /axis (N, 2)
start/stop cm^-1; /meta/{source, modality, sample_id, split} UTF-8; /meta/aug_copy int16;
/meta/domain int32 (one id per (source, modality), the mapping in the "domains" attribute).

Assembly streams: pass 1 reads each shard block by block to hash rows (exact duplicates removed)
and refuse benchmark spectra; pass 2 writes every kept row into the output region ("bucket") that
holds its final shuffled position; pass 3 loads one bucket at a time and reorders it in memory.
So the output is a full seeded shuffle while memory holds one block or one bucket, never a shard.
The split is a hash of (seed, sample_id): every spectrum and augmented copy of a sample shares it.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import json
import platform
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np

import spectralfm
from spectralfm.atomic import atomic_path
from spectralfm.errors import InputError
from spectralfm.leakage import BenchmarkFingerprints
from spectralfm.preprocess import META_STRINGS, STRING_DTYPE, read_shard_meta

SPLITS = ("train", "val")
CHUNK_ROWS = 256
READ_BLOCK_ROWS = 4096
BUCKET_ROWS = 8192  # a multiple of CHUNK_ROWS, so buckets start on chunk boundaries


def split_of(sample_ids: np.ndarray, seed: int, val_fraction: float) -> np.ndarray:
    """'train' or 'val' per sample id, from a hash of (seed, sample_id): stable across runs."""
    out = np.empty(len(sample_ids), dtype=object)
    cache: dict[str, str] = {}
    for i, sid in enumerate(sample_ids):
        if sid not in cache:
            digest = hashlib.blake2b(f"{seed}\x00{sid}".encode(), digest_size=8).digest()
            u = int.from_bytes(digest, "little") / 2.0**64
            cache[sid] = "val" if u < val_fraction else "train"
        out[i] = cache[sid]
    return out


def _row_hashes(spectra: np.ndarray, axis: np.ndarray) -> list[bytes]:
    spectra = np.ascontiguousarray(spectra, dtype=np.float32)
    axis = np.ascontiguousarray(axis, dtype=np.float64)
    return [
        hashlib.blake2b(s.tobytes() + a.tobytes(), digest_size=16).digest()
        for s, a in zip(spectra, axis, strict=True)
    ]


def _read_shard_meta(path: Path) -> tuple[int, int, dict[str, np.ndarray]]:
    """A spectra shard's (rows, points, meta columns), aug_copy 0 for a shard never augmented."""
    shard = read_shard_meta(path)
    aug_copy = shard.aug_copy
    if aug_copy is None:
        aug_copy = np.zeros(shard.n_rows, dtype=np.int16)
    return shard.n_rows, shard.n_points, {**shard.strings, "aug_copy": aug_copy}


def _blocks(n: int, size: int):
    for a in range(0, n, size):
        yield a, min(a + size, n)


def _scan_shards(shards: list[Path], fingerprints: BenchmarkFingerprints | None):
    """Pass 1: which rows to keep (first of each exact duplicate, finite), their meta and axis."""
    seen: set[bytes] = set()
    kept_rows: list[np.ndarray] = []
    meta: dict[str, list[np.ndarray]] = defaultdict(list)
    axes: list[np.ndarray] = []
    duplicates: Counter[str] = Counter()
    non_finite: Counter[str] = Counter()
    n_points = None
    for path in shards:
        n, points, shard_meta = _read_shard_meta(path)
        if n_points is None:
            n_points = points
        elif points != n_points:
            raise InputError(
                f"{path}: {points} points per spectrum, earlier shards have {n_points}"
            )
        keep = np.zeros(n, dtype=bool)
        benchmark_rows = np.zeros(n, dtype=bool)
        with h5py.File(path, "r") as f:
            for a, b in _blocks(n, READ_BLOCK_ROWS):
                spectra, axis = f["spectra"][a:b], f["axis"][a:b]
                finite = np.isfinite(spectra).all(axis=1) & np.isfinite(axis).all(axis=1)
                if fingerprints is not None:
                    benchmark_rows[a:b] = fingerprints.find_benchmark_rows(spectra, axis) & finite
                for i, h in enumerate(_row_hashes(spectra, axis)):
                    source = shard_meta["source"][a + i]
                    if not finite[i]:
                        non_finite[source] += 1
                    elif h in seen:
                        duplicates[source] += 1
                    else:
                        seen.add(h)
                        keep[a + i] = True
                axes.append(axis[keep[a:b]])
        if benchmark_rows.any():
            sources = sorted(set(shard_meta["source"][benchmark_rows]))
            raise InputError(
                f"{path}: {int(benchmark_rows.sum())} rows match benchmark spectra (corn/tablet) "
                f"from source(s) {sources}; benchmark data must not enter the pretraining corpus"
            )
        kept_rows.append(np.flatnonzero(keep))
        for key, values in shard_meta.items():
            meta[key].append(values[keep])
    if n_points is None:
        raise InputError("build_corpus: no shards given")
    columns = {key: np.concatenate(values) for key, values in meta.items()}
    axis = np.concatenate(axes) if axes else np.zeros((0, 2))
    return kept_rows, columns, axis, n_points, duplicates, non_finite


def _scatter_to_buckets(shards, kept_rows, destination, out: h5py.Dataset) -> np.ndarray:
    """Pass 2: copy kept rows into the bucket of their final position; return each row's slot."""
    bucket = destination // BUCKET_ROWS
    fill = np.arange(0, len(destination), BUCKET_ROWS)  # next free slot per bucket
    slot = np.empty(len(destination), dtype=np.int64)
    g = 0  # global index of the next kept row
    for path, rows in zip(shards, kept_rows, strict=True):
        with h5py.File(path, "r") as f:
            for a, b in _blocks(len(rows), READ_BLOCK_ROWS):
                idx = rows[a:b]
                # one contiguous read covering the kept rows of this block, then select
                block = f["spectra"][idx[0] : idx[-1] + 1][idx - idx[0]]
                glob = np.arange(g + a, g + b)
                order = np.argsort(bucket[glob], kind="stable")
                buckets_here, starts = np.unique(bucket[glob][order], return_index=True)
                ends = np.append(starts[1:], len(order))
                for bk, s, e in zip(buckets_here, starts, ends, strict=True):
                    members = order[s:e]
                    first = fill[bk]
                    out[first : first + len(members)] = block[members]
                    slot[glob[members]] = np.arange(first, first + len(members))
                    fill[bk] += len(members)
        g += len(rows)
    return slot


def _shuffle_buckets(destination: np.ndarray, slot: np.ndarray, out: h5py.Dataset) -> None:
    """Pass 3: within each bucket, move rows from arrival slot to final position (in memory)."""
    n = len(destination)
    by_bucket = np.argsort(destination // BUCKET_ROWS, kind="stable")
    bounds = np.searchsorted(destination[by_bucket] // BUCKET_ROWS, np.arange(n // BUCKET_ROWS + 2))
    for bk, (s, e) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        if s == e:
            continue
        start = bk * BUCKET_ROWS
        members = by_bucket[s:e]
        arrived = out[start : start + len(members)]
        final = np.empty_like(arrived)
        final[destination[members] - start] = arrived[slot[members] - start]
        out[start : start + len(members)] = final


def build_corpus(
    shards: list[Path],
    out_path: Path,
    val_fraction: float,
    seed: int,
    fingerprints: BenchmarkFingerprints | None = None,
    config_fingerprint: str = "",
) -> dict:
    """Assemble spectra shards into the corpus HDF5 (atomically); return the stats dict."""
    shards = [Path(s) for s in shards]
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"build_corpus: val_fraction must be in [0, 1), got {val_fraction}")
    kept_rows, meta, axis, n_points, duplicates, non_finite = _scan_shards(shards, fingerprints)
    n = len(axis)
    if n == 0:
        raise InputError(f"build_corpus: no spectra left in {len(shards)} shard(s)")
    destination = np.random.default_rng(seed).permutation(n)  # final row of each kept row

    split = split_of(meta["sample_id"], seed, val_fraction)
    pairs = sorted(set(zip(meta["source"], meta["modality"], strict=True)))
    domain_of = {pair: i for i, pair in enumerate(pairs)}
    domain = np.array(
        [domain_of[p] for p in zip(meta["source"], meta["modality"], strict=True)], dtype=np.int32
    )

    def in_final_order(values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[destination] = values
        return out

    stats = {
        "n_rows": n,
        "n_points": n_points,
        "n_shards": len(shards),
        "rows_by_split": dict(Counter(split)),
        "rows_by_source": _nested_counts(meta["source"], split),
        "rows_by_modality": _nested_counts(meta["modality"], split),
        "duplicates_removed": sum(duplicates.values()),
        "duplicates_by_source": dict(duplicates),
        "non_finite_removed": sum(non_finite.values()),
        "non_finite_by_source": dict(non_finite),
        "domains": [list(p) for p in pairs],
        "val_fraction": val_fraction,
        "seed": seed,
        "config_fingerprint": config_fingerprint,
    }
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as f:
        spectra = f.create_dataset(
            "spectra",
            shape=(n, n_points),
            dtype=np.float32,
            chunks=(min(CHUNK_ROWS, n), n_points),
        )
        slot = _scatter_to_buckets(shards, kept_rows, destination, spectra)
        _shuffle_buckets(destination, slot, spectra)
        f.create_dataset("axis", data=in_final_order(axis).astype(np.float64))
        for key in META_STRINGS:
            f.create_dataset(f"meta/{key}", data=in_final_order(meta[key]), dtype=STRING_DTYPE)
        f.create_dataset("meta/split", data=in_final_order(split), dtype=STRING_DTYPE)
        f.create_dataset("meta/aug_copy", data=in_final_order(meta["aug_copy"]))
        f.create_dataset("meta/domain", data=in_final_order(domain))
        f.attrs["domains"] = json.dumps(stats["domains"])
        f.attrs["counts"] = json.dumps(
            {
                k: stats[k]
                for k in ("n_rows", "rows_by_split", "rows_by_source", "duplicates_removed")
            }
        )
        f.attrs["config_fingerprint"] = config_fingerprint
        f.attrs["versions"] = json.dumps(_versions())
        f.attrs["created"] = datetime.now(UTC).isoformat(timespec="seconds")
        f.attrs["n_points"] = n_points
    return stats


def _nested_counts(keys: np.ndarray, split: np.ndarray) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SPLITS, 0))
    for key, s in zip(keys, split, strict=True):
        out[str(key)][s] += 1
    return dict(sorted(out.items()))


def _installed(package: str) -> str:
    """A package's installed version without importing it (the corpus job does not need torch)."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _versions() -> dict[str, str]:
    return {
        "spectralfm": spectralfm.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
        "torch": _installed("torch"),
    }


def quarantine_counts(quarantine_csvs: list[Path]) -> dict:
    """Totals of the quarantine CSVs (source, sample_id, reason) by source and reason category."""
    by_source: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    for path in quarantine_csvs:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or not {"source", "reason"} <= set(reader.fieldnames):
                raise InputError(f"{path}: quarantine CSV needs columns source, sample_id, reason")
            for row in reader:
                by_source[row["source"]] += 1
                by_reason[row["reason"].split(":")[0]] += 1
    return {
        "total": sum(by_source.values()),
        "by_source": dict(sorted(by_source.items())),
        "by_reason": dict(sorted(by_reason.items())),
    }


def write_stats(stats: dict, path: Path, quarantine_csvs: list[Path] = ()) -> dict:
    """Write stats.json (atomically) with the quarantine totals added; return what was written."""
    out = dict(stats)
    out["quarantined"] = quarantine_counts([Path(p) for p in quarantine_csvs])
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def plot_examples(corpus_path: Path, png_path: Path, per_source: int = 4) -> None:
    """A PNG with one panel per source showing `per_source` original (aug_copy 0) spectra."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with h5py.File(corpus_path, "r") as f:
        sources = f["meta/source"].asstr()[:]
        original = f["meta/aug_copy"][:] == 0
        names = sorted(set(sources))
        fig, panels = plt.subplots(
            len(names), 1, figsize=(8, 2.2 * len(names)), squeeze=False, constrained_layout=True
        )
        for panel, name in zip(panels[:, 0], names, strict=True):
            rows = np.flatnonzero((sources == name) & original)[:per_source]
            if len(rows) == 0:  # only augmented copies of this source
                rows = np.flatnonzero(sources == name)[:per_source]
            spectra, axis = f["spectra"][rows], f["axis"][rows]
            for spectrum, (start, stop) in zip(spectra, axis, strict=True):
                panel.plot(np.linspace(start, stop, len(spectrum)), spectrum, lw=0.8)
            panel.set_title(f"{name} ({int((sources == name).sum())} rows)", fontsize=9)
            panel.set_ylabel("SNV")
        panels[-1, 0].set_xlabel("wavenumber (cm$^{-1}$)")
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
