"""Recognise benchmark spectra (corn, tablet, wheat, sugarcane) so they never enter the corpus.

Two checks, both on spectra as the corpus stores them (resampled to the model grid and SNV'd):
1. exact: a hash of each row rounded to 3 decimals plus its axis rounded to 0.1 cm^-1;
2. tolerant: each benchmark set gets a reference grid (its common wavenumber range, trimmed by
   TRIM of the width at each end so a slightly cropped re-export still covers it). A candidate that
   covers the grid is interpolated onto it, SNV'd there, and projected on the benchmark set's
   principal components. Projection onto orthonormal components never lengthens a difference, so
   every true match lies within `tolerance` in the projection too; a candidate near a benchmark
   row there is then confirmed (or not) with the full RMS difference on the grid. Measured on corn:
   a CSV re-export with 1e-5 relative noise and a 1% crop lies ~6e-5 from its original; the closest
   non-benchmark NIR set here (Dough, same 1100-2498 nm range) lies >= 0.06 from every corn row.
   Distinct corn samples can lie within 0.002 of each other, so the check recognises "a corn
   benchmark spectrum", not one particular row; that is what leakage prevention needs.

A dataset whose instruments share one axis (corn, tablet) is one set, named after the dataset.
Where instruments measure different ranges (wheat: unit B starts at 570 nm, the A units at 730;
sugarcane: seven ranges, some disjoint) one common range would be empty or would ignore most of
each spectrum, so every instrument is its own set, `<dataset>/<instrument>`, on its own range.
An instrument's set holds its `spectra` and, where those are replicate means (sugarcane MicroNIR
1700), each replicate too: a corpus holding one replicate file is refused as well.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from spectralfm.errors import InputError
from spectralfm.preprocess import resample_batch, snv
from spectralfm.sources.units import nm_to_wavenumber

GRID_POINTS = 256
TRIM = 0.03
N_COMPONENTS = 16
TOLERANCE = 0.005  # RMS difference of SNV'd spectra on the reference grid


def row_hashes(spectra: np.ndarray, axis: np.ndarray) -> list[bytes]:
    """Hashes of rows rounded to 3 decimals with their axis rounded to 0.1 cm^-1."""
    rounded = np.round(np.asarray(spectra, dtype=np.float64), 3) + 0.0  # + 0.0 folds -0.0 into 0.0
    rounded_axis = np.round(np.asarray(axis, dtype=np.float64), 1) + 0.0
    return [
        hashlib.blake2b(r.tobytes() + a.tobytes(), digest_size=16).digest()
        for r, a in zip(rounded, rounded_axis, strict=True)
    ]


def on_grid(spectra: np.ndarray, axis: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Values of uniform-grid rows (start/stop in `axis`) at wavenumbers `grid`; NaN outside."""
    spectra = np.asarray(spectra, dtype=np.float64)
    n, n_points = spectra.shape
    start, stop = axis[:, :1], axis[:, 1:]
    position = (grid[None, :] - start) / (stop - start) * (n_points - 1)
    inside = (position >= -1e-9) & (position <= n_points - 1 + 1e-9)
    position = np.clip(position, 0, n_points - 1)
    left = np.minimum(np.floor(position).astype(np.int64), n_points - 2)
    frac = position - left
    a = np.take_along_axis(spectra, left, axis=1)
    b = np.take_along_axis(spectra, left + 1, axis=1)
    values = a + frac * (b - a)
    values[~inside] = np.nan
    return values


class BenchmarkFingerprints:
    """Fingerprints of named benchmark sets; `find_benchmark_rows` flags corpus rows matching one."""

    def __init__(
        self, hashes: set[bytes], sets: dict[str, dict[str, np.ndarray]], tolerance: float
    ):
        self.hashes = hashes
        self.sets = sets  # name -> grid, mean, components, projected, on_grid
        self.tolerance = float(tolerance)

    @classmethod
    def from_spectra(
        cls,
        benchmark_sets: dict[str, tuple[list[np.ndarray], list[np.ndarray]]],
        n_points: int = 2048,
        tolerance: float = TOLERANCE,
    ) -> BenchmarkFingerprints:
        """Build from raw benchmark spectra: {name: (xs in cm^-1, ys)}, processed as the corpus is."""
        hashes: set[bytes] = set()
        sets: dict[str, dict[str, np.ndarray]] = {}
        for name, (xs, ys) in benchmark_sets.items():
            if len(xs) == 0:
                raise InputError(f"benchmark set {name!r} has no spectra")
            spectra, axis = resample_batch(list(xs), list(ys), n_points)
            if not np.isfinite(spectra).all():
                raise InputError(f"benchmark set {name!r} has spectra that cannot be resampled")
            spectra = snv(spectra)
            hashes.update(row_hashes(spectra, axis))
            lo, hi = axis[:, 0].max(), axis[:, 1].min()
            if hi <= lo:
                raise InputError(f"benchmark set {name!r}: its spectra share no wavenumber range")
            trim = TRIM * (hi - lo)
            grid = np.linspace(lo + trim, hi - trim, GRID_POINTS)
            values = snv(on_grid(spectra, axis, grid)).astype(np.float64)
            mean = values.mean(axis=0)
            # top principal axes from the small (grid x grid) scatter matrix, cheaper than an SVD
            _, vectors = np.linalg.eigh((values - mean).T @ (values - mean))
            components = vectors[:, ::-1][:, : min(N_COMPONENTS, len(values))].T
            sets[name] = {
                "grid": grid,
                "mean": mean,
                "components": components,
                "projected": (values - mean) @ components.T,
                "on_grid": values,
            }
        return cls(hashes, sets, tolerance)

    def find_benchmark_rows(self, spectra: np.ndarray, axis: np.ndarray) -> np.ndarray:
        """Boolean mask of rows (SNV'd, on their own grid given by axis start/stop) that match."""
        spectra = np.asarray(spectra)
        axis = np.asarray(axis, dtype=np.float64)
        mask = np.array([h in self.hashes for h in row_hashes(spectra, axis)], dtype=bool)
        radius = self.tolerance * np.sqrt(GRID_POINTS)  # RMS tolerance as a Euclidean distance
        for fp in self.sets.values():
            grid = fp["grid"]
            covers = (axis[:, 0] <= grid[0]) & (axis[:, 1] >= grid[-1]) & ~mask
            rows = np.flatnonzero(covers)
            if len(rows) == 0:
                continue
            values = snv(on_grid(spectra[rows], axis[rows], grid)).astype(np.float64)
            projected = (values - fp["mean"]) @ fp["components"].T
            d2 = (
                (projected**2).sum(1)[:, None]
                + (fp["projected"] ** 2).sum(1)[None, :]
                - 2.0 * projected @ fp["projected"].T
            )
            near_row, near_bench = np.nonzero(d2 <= radius**2 * (1 + 1e-9) + 1e-12)
            if len(near_row) == 0:
                continue
            full = np.sqrt(((values[near_row] - fp["on_grid"][near_bench]) ** 2).mean(axis=1))
            mask[rows[near_row[full <= self.tolerance]]] = True
        return mask

    def save(self, path: str | Path) -> None:
        """Save as .npz (no pickle); the hashes as a fixed-width byte array."""
        arrays = {"hashes": np.array(sorted(self.hashes), dtype="S16")}
        arrays["tolerance"] = np.array(self.tolerance)
        arrays["names"] = np.array(list(self.sets), dtype=str)
        for i, fp in enumerate(self.sets.values()):
            for key, value in fp.items():
                arrays[f"set{i}_{key}"] = value
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> BenchmarkFingerprints:
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a benchmark fingerprint file ({exc})") from exc
        keys = ("grid", "mean", "components", "projected", "on_grid")
        try:
            sets = {
                str(name): {k: data[f"set{i}_{k}"] for k in keys}
                for i, name in enumerate(data["names"])
            }
            return cls(set(bytes(h) for h in data["hashes"]), sets, float(data["tolerance"]))
        except KeyError as exc:
            raise InputError(f"{path}: benchmark fingerprint file lacks {exc}") from exc


def benchmark_sets(dataset) -> dict[str, tuple[list[np.ndarray], list[np.ndarray]]]:
    """{name: (xs in cm^-1, ys)} with every instrument's spectra of a `datasets.BenchmarkDataset`:
    one set `dataset.name` when all instruments share one axis, else one `name/instrument` each."""
    axes = getattr(dataset, "axes", None) or {
        inst: dataset.wavelengths_nm for inst in dataset.spectra
    }
    shared = dataset.wavelengths_nm is not None
    sets: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    for instrument, spectra in dataset.spectra.items():
        axis = np.asarray(axes[instrument], dtype=np.float64)
        x = nm_to_wavenumber(axis)
        replicates = getattr(dataset, "replicates", {}).get(instrument, [])
        xs, ys = sets.setdefault(
            dataset.name if shared else f"{dataset.name}/{instrument}", ([], [])
        )
        for block in [spectra, *replicates]:
            block = np.atleast_2d(np.asarray(block, dtype=np.float64))
            if block.shape[1] != len(x):
                raise InputError(
                    f"{dataset.source_path}: instrument {instrument} has {block.shape[1]} columns "
                    f"but {len(x)} wavelengths"
                )
            xs += [x] * len(block)
            ys += list(block)
    return sets
