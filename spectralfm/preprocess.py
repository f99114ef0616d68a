"""Resampling onto the model grid, SNV, quality control, the parsed-shard -> spectra-shard stage,
and the spectra-shard HDF5 layout (its one definition; see `SpectraShardWriter`).

Every spectrum is resampled onto `n_points` points uniform over its OWN range [min x, max x]; the
range is kept per spectrum as (start, stop) so the model can place each point on the wavenumber
axis. Spectra sharing one x axis (the usual case: one grid per library, file or instrument) are
resampled as a matrix by one sparse product with weights computed once per axis; the others are
concatenated, each shifted onto its own disjoint interval, and served by a single np.interp call.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pyarrow.parquet as pq
from scipy.sparse import csr_matrix

from spectralfm.atomic import atomic_path
from spectralfm.errors import InputError
from spectralfm.sources.record import SHARD_SCHEMA, list_column_rows
from spectralfm.sources.record import quarantine_path as quarantine_beside

N_POINTS = 2048
MIN_POINTS = 32
MIN_RANGE_CM1 = 50.0
MODALITIES = ("raman", "ir", "nir")
# spectra interpolated per flat call: measured 2-3x faster at 32-64 than at 512+ (large
# temporaries leave the cache and cost page faults on every allocation)
SUB_BATCH = 64
# an axis shared by this many spectra gets its own interpolation matrix: building one costs
# about as much as resampling 5-10 spectra through the flat path (measured)
MIN_SHARED = 8
# spectra per sparse product: the transposed block and the product stay in cache (measured
# 2.8 us/spectrum at 32 rows against 8+ at 512)
SHARED_CHUNK = 32


# ---- the spectra-shard layout
# Written by process_shard (and augment_shard, with aug_copy), read by augment_shard and
# corpus.build_corpus, all through this section:
#   /spectra          float32 (N, n_points), chunked (SHARD_CHUNK_ROWS, n_points) for block reads
#   /axis             float64 (N, 2): start/stop cm^-1 of each row's uniform grid
#   /meta/source, /meta/modality, /meta/sample_id   UTF-8 strings (META_STRINGS)
#   /meta/aug_copy    int16, augmented shards only: 0 = the original, k = its k-th copy
#   attrs: n_points, plus whatever provenance the writing stage records
META_STRINGS = ("source", "modality", "sample_id")
STRING_DTYPE = h5py.string_dtype("utf-8")
SHARD_CHUNK_ROWS = 256
META_CHUNK_ROWS = 4096


class SpectraShardWriter:
    """Appends rows to a new spectra shard in `f` (an h5py.File open for writing)."""

    def __init__(self, f: h5py.File, n_points: int, augmented: bool = False):
        def column(name: str, width: int | None, dtype, chunk: int) -> h5py.Dataset:
            shape = (0,) if width is None else (0, width)
            maxshape = (None,) if width is None else (None, width)
            chunks = (chunk,) if width is None else (chunk, width)
            return f.create_dataset(
                name, shape=shape, maxshape=maxshape, dtype=dtype, chunks=chunks
            )

        self.n_points, self.rows = n_points, 0
        self.columns = {
            "spectra": column("spectra", n_points, np.float32, SHARD_CHUNK_ROWS),
            "axis": column("axis", 2, np.float64, META_CHUNK_ROWS),
            **{m: column(f"meta/{m}", None, STRING_DTYPE, META_CHUNK_ROWS) for m in META_STRINGS},
        }
        if augmented:
            self.columns["aug_copy"] = column("meta/aug_copy", None, np.int16, META_CHUNK_ROWS)
        f.attrs["n_points"] = n_points

    def append(
        self,
        spectra: np.ndarray,
        axis: np.ndarray,
        meta: Mapping[str, Sequence[str]],
        aug_copy: Sequence[int] | None = None,
    ) -> None:
        """Rows (k, n_points) with their axis (k, 2), one meta string per row for each of
        META_STRINGS and, in an augmented shard, their aug_copy numbers."""
        values = {"spectra": spectra, "axis": axis, **{m: list(meta[m]) for m in META_STRINGS}}
        if "aug_copy" in self.columns:
            if aug_copy is None:
                raise ValueError("augmented spectra shard: append needs aug_copy")
            values["aug_copy"] = aug_copy
        k = len(spectra)
        if np.shape(spectra) != (k, self.n_points) or np.shape(axis) != (k, 2):
            raise ValueError(f"spectra shard: rows {np.shape(spectra)}, axis {np.shape(axis)}")
        if any(len(v) != k for v in values.values()):
            raise ValueError(f"spectra shard: columns of {k} rows differ in length")
        start, self.rows = self.rows, self.rows + k
        for name, dataset in self.columns.items():
            dataset.resize(self.rows, axis=0)
            dataset[start : self.rows] = values[name]


@dataclass(frozen=True)
class SpectraShardMeta:
    n_rows: int
    n_points: int
    strings: dict[str, np.ndarray]  # META_STRINGS -> object arrays of str, one per row
    aug_copy: np.ndarray | None  # int16 per row; None: the shard is not augmented


def read_shard_meta(path: str | Path) -> SpectraShardMeta:
    """A spectra shard's shape and meta columns, its layout checked (InputError naming the file)."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not a readable HDF5 spectra shard ({exc})") from exc
    with f:
        for key in ("spectra", "axis", *(f"meta/{m}" for m in META_STRINGS)):
            if key not in f:
                raise InputError(f"{path}: spectra shard lacks /{key}")
        n, n_points = f["spectra"].shape
        if f["axis"].shape != (n, 2):
            raise InputError(f"{path}: /axis has shape {f['axis'].shape}, expected ({n}, 2)")
        strings = {m: f[f"meta/{m}"].asstr()[:].astype(object) for m in META_STRINGS}
        aug_copy = f["meta/aug_copy"][:].astype(np.int16) if "meta/aug_copy" in f else None
    columns = {**strings, **({} if aug_copy is None else {"aug_copy": aug_copy})}
    for key, values in columns.items():
        if len(values) != n:
            raise InputError(f"{path}: /meta/{key} has {len(values)} rows, /spectra has {n}")
    return SpectraShardMeta(n, n_points, strings, aug_copy)


def _sorted_merged(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One spectrum ascending in x with the y of duplicate x values averaged."""
    unique_x, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return unique_x, np.bincount(inverse, weights=y, minlength=len(unique_x)) / counts


def resample_batch(
    xs: list[np.ndarray], ys: list[np.ndarray], n_points: int = N_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """Resample each (x, y) linearly onto n_points uniform over its own [min x, max x].

    Returns spectra float32 (n, n_points) and axis float64 (n, 2) = (start, stop), ascending,
    rows in input order. Descending or unordered x is sorted; y at duplicate x is averaged.
    A spectrum that cannot be resampled (non-finite values, fewer than 2 distinct x) gets a NaN
    row and NaN axis so `qc_reasons` can reject it with a reason instead of crashing.

    Real sources mostly share axes (one grid per library, file or instrument), so spectra are
    grouped by byte-identical x: each shared axis gets its interpolation weights once, as a sparse
    (n_points, len x) matrix applied to the whole group in one product (`_resample_shared`).
    Spectra whose axis nobody else has go through one flat np.interp call (`_resample_flat`).
    """
    if len(xs) != len(ys):
        raise InputError(f"resample_batch: {len(xs)} x arrays but {len(ys)} y arrays")
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    ys = [np.asarray(y, dtype=np.float64) for y in ys]
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if x.ndim != 1 or x.shape != y.shape:
            raise InputError(
                f"resample_batch: spectrum {i} has x shape {x.shape} but y shape {y.shape}"
            )
    n = len(xs)
    # every row is written below (NaN where unusable): no fill pass over a fresh array
    spectra = np.empty((n, n_points), dtype=np.float32)
    axis = np.empty((n, 2), dtype=np.float64)
    shared, single = _axis_groups(xs)
    for rows in shared:
        _resample_shared(xs[rows[0]], [ys[j] for j in rows], rows, n_points, spectra, axis)
    for a in range(0, len(single), SUB_BATCH):
        part = single[a : a + SUB_BATCH]
        part_xs, part_ys = [xs[j] for j in part], [ys[j] for j in part]
        if part[-1] - part[0] == len(part) - 1:  # consecutive rows: written in place
            rows = slice(part[0], part[-1] + 1)
            _resample_flat(part_xs, part_ys, n_points, spectra[rows], axis[rows])
        else:
            values = np.empty((len(part), n_points), dtype=np.float32)
            bounds = np.empty((len(part), 2), dtype=np.float64)
            _resample_flat(part_xs, part_ys, n_points, values, bounds)
            spectra[part], axis[part] = values, bounds
    return spectra, axis


def _axis_groups(xs: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Batch indices split into groups sharing one x axis (at least MIN_SHARED spectra, same
    bytes) and the remaining indices. A fingerprint (length, both ends) finds candidates
    without hashing whole axes; a byte comparison with the group's first axis confirms them, so
    an axis nobody shares is never copied (tobytes of a strided view costs more than its
    resampling).
    """
    # fingerprint -> groups with it, each [first x, its bytes once needed, member indices]
    candidates: dict[tuple, list[list]] = {}
    groups: list[list[int]] = []
    for i, x in enumerate(xs):
        length = x.shape[0]
        if length < 2:  # nothing to share; the flat path leaves it NaN
            groups.append([i])
            continue
        bucket = candidates.setdefault((length, x.item(0), x.item(-1)), [])
        data = x.tobytes() if bucket else None
        for group in bucket:
            if group[1] is None:
                group[1] = group[0].tobytes()
            if group[1] == data:
                group[2].append(i)
                break
        else:
            bucket.append([x, None, [i]])
            groups.append(bucket[-1][2])
    shared = [np.array(g) for g in groups if len(g) >= MIN_SHARED]
    single = sorted(i for g in groups if len(g) < MIN_SHARED for i in g)
    return shared, np.array(single, dtype=np.int64)


def _shared_axis_weights(x: np.ndarray, n_points: int):
    """Sparse float32 W (n_points, len x) with W @ y = y resampled on x's own range, and that
    range; None when x cannot be resampled (non-finite, fewer than 2 distinct values).

    Row k holds grid point k's two linear-interpolation weights. Columns index x as given, so
    descending or unordered axes need no reordering of the spectra; duplicates of one x value
    split its weight equally, which averages their y.
    """
    if not np.isfinite(x).all():
        return None
    distinct, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    m = len(distinct)
    if m < 2:
        return None
    grid = np.linspace(distinct[0], distinct[-1], n_points)
    left = np.clip(np.searchsorted(distinct, grid, side="right") - 1, 0, m - 2)
    weight = np.clip((grid - distinct[left]) / (distinct[left + 1] - distinct[left]), 0.0, 1.0)
    data = np.column_stack([1.0 - weight, weight]).ravel()
    columns = np.column_stack([left, left + 1]).ravel()
    indptr = np.arange(0, 2 * n_points + 1, 2)
    if m == len(x):  # no duplicates: distinct value k is x[position[k]]
        position = np.empty(m, dtype=np.int64)
        position[inverse] = np.arange(m)
        shape = (n_points, m)
        w = csr_matrix((data.astype(np.float32), position[columns], indptr), shape=shape)
    else:
        on_distinct = csr_matrix((data, columns, indptr), shape=(n_points, m))
        merge = csr_matrix((1.0 / counts[inverse], (inverse, np.arange(len(x)))), (m, len(x)))
        w = (on_distinct @ merge).astype(np.float32)
    return w, distinct[0], distinct[-1]


def _resample_shared(x, ys, rows, n_points, spectra, axis):
    """Resample spectra `ys` sharing axis x into spectra[rows], axis[rows]; NaN rows where x or
    a y cannot be resampled.

    float32 throughout: each output is (1 - w) y0 + w y1 summed in float32, a few float32 ulps of
    |y| from np.interp in float64, the same order as storing its result as float32.
    """
    found = _shared_axis_weights(x, n_points)
    if found is None:
        spectra[rows], axis[rows] = np.nan, np.nan
        return
    weights, lo, hi = found
    for a in range(0, len(rows), SHARED_CHUNK):
        chunk = rows[a : a + SHARED_CHUNK]
        with np.errstate(over="ignore"):  # |y| > 3.4e38 becomes inf: its row is set NaN below
            block = np.array(ys[a : a + SHARED_CHUNK], dtype=np.float32)
        # W @ Y.T runs as axpys along the chunk's rows: contiguous and vectorised
        values = (weights @ block.T).T
        # a non-finite y makes its row sum non-finite; a finite row only overflows past 1e34
        suspect = np.flatnonzero(~np.isfinite(block.sum(axis=1)))
        bad = suspect[~np.isfinite(block[suspect]).all(axis=1)]
        values[bad] = np.nan
        spectra[chunk] = values
        axis[chunk] = lo, hi
        axis[chunk[bad]] = np.nan


def _resample_flat(xs, ys, n_points, spectra, axis):
    """Spectra with axes of their own into spectra (n, n_points), axis (n, 2), every row written
    (NaN where unusable): all concatenated, each shifted onto its own disjoint interval, and ONE
    np.interp call over the flat arrays (np.interp walks sorted queries in a single pass).
    """
    n = len(xs)
    spectra[:], axis[:] = np.nan, np.nan  # a few rows at most stay so; the rest are overwritten
    lengths = np.array([len(x) for x in xs], dtype=np.int64)
    usable = lengths >= 2
    if not usable.any():
        return
    flat_x, flat_y = np.concatenate(xs), np.concatenate(ys)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    # a sum is non-finite iff a value is (or it overflows): the exact test only then
    with np.errstate(over="ignore", invalid="ignore"):
        all_finite = np.isfinite(flat_x.sum() + flat_y.sum())
    if not all_finite:  # non-finite spectra stay NaN for QC to name
        finite = np.isfinite(flat_x) & np.isfinite(flat_y)
        n_bad = np.bincount(np.repeat(np.arange(n), lengths), weights=~finite, minlength=n)
        usable &= n_bad == 0
    good = np.flatnonzero(usable)
    if len(good) == 0:  # e.g. a sub-batch of non-finite spectra only
        return
    if len(good) < n:
        lengths, flat_x, flat_y = _subset(xs, ys, good)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
    position, lo, hi = _grid_positions(flat_x, offsets, n_points)
    # positions must rise strictly inside each spectrum (steps across spectra do not count)
    not_rising = ~(np.diff(position) > 0)
    not_rising[offsets[1:-1] - 1] = False
    if not_rising.any():
        # rare path: sort and merge duplicates of the unordered spectra only, then start again
        irregular = np.unique(np.searchsorted(offsets, np.flatnonzero(not_rising), "right") - 1)
        for j in good[irregular]:
            xs[j], ys[j] = _sorted_merged(xs[j], ys[j])
            usable[j] = len(xs[j]) >= 2
        good = np.flatnonzero(usable)
        if len(good) == 0:
            return
        lengths, flat_x, flat_y = _subset(xs, ys, good)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        position, lo, hi = _grid_positions(flat_x, offsets, n_points)
    m = len(good)
    grid = np.arange(n_points * m, dtype=np.float64)
    values = np.interp(grid, position, flat_y).reshape(m, n_points)
    descending = flat_x[offsets[:-1]] > flat_x[offsets[1:] - 1]
    if m == n:  # the usual case: no fancy-indexed copy of the float64 values
        spectra[:] = values
    else:
        spectra[good] = values
    flip = good[descending]  # their grid ran from x_max down
    spectra[flip] = spectra[flip, ::-1]
    axis[good, 0], axis[good, 1] = lo, hi


def _subset(xs, ys, keep):
    lengths = np.array([len(xs[j]) for j in keep], dtype=np.int64)
    if len(keep) == 0:
        return lengths, np.zeros(0), np.zeros(0)
    return lengths, np.concatenate([xs[j] for j in keep]), np.concatenate([ys[j] for j in keep])


def _grid_positions(flat_x, offsets, n_points):
    """Each point's position on the flat grid, where spectrum j's grid points are the numbers
    n_points * j + k (k < n_points): segments stay disjoint (no grid number lies between one
    spectrum's last point and the next one's first), so one np.interp serves all.

    A descending spectrum is mapped mirrored (x_max at k = 0): its positions rise without
    reversing the data, and the interpolated row is flipped afterwards.
    """
    first, last = flat_x[offsets[:-1]], flat_x[offsets[1:] - 1]
    lo, hi = np.minimum(first, last), np.maximum(first, last)
    base = float(n_points) * np.arange(len(first))
    lengths = np.diff(offsets)
    # x_first == x_last gives inf/NaN positions: the caller sees them as not rising and sorts
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = (n_points - 1) / (last - first)  # negative for a descending spectrum
        position = flat_x * np.repeat(scale, lengths) + np.repeat(base - first * scale, lengths)
    position[offsets[:-1]] = base  # exact ends: round-off may not move a point past its grid
    position[offsets[1:] - 1] = base + (n_points - 1)
    return position, lo, hi


def snv(spectra: np.ndarray) -> np.ndarray:
    """Row-wise standard normal variate: each row minus its mean, divided by its std (float32).

    Works in float32 with float64 sums: no float64 copy of the batch (allocations dominate here).
    """
    out = np.array(spectra, dtype=np.float32)  # a copy: the caller's array is left alone
    for _ in range(2):  # the second pass removes the float32 rounding of the first mean
        out -= out.mean(axis=1, dtype=np.float64, keepdims=True).astype(np.float32)
    std = np.sqrt(np.square(out).mean(axis=1, dtype=np.float64, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        out /= std.astype(np.float32)
    return out


def qc_reasons(
    xs: list[np.ndarray],
    ys: list[np.ndarray],
    spectra: np.ndarray,
    min_points: int = MIN_POINTS,
    min_range: float = MIN_RANGE_CM1,
) -> list[str | None]:
    """Why each spectrum must be rejected (None = accepted). `spectra` are resampled, before SNV.

    Reasons start with a fixed category ("non_finite", "too_few_points", "narrow_range", "flat")
    followed by details, so they can be counted by category.
    """
    reasons: list[str | None] = []
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        n_bad = int((~np.isfinite(x)).sum() + (~np.isfinite(y)).sum())
        if n_bad:
            reasons.append(f"non_finite: {n_bad} non-finite x/y values")
            continue
        step = np.diff(x)
        monotonic = (step > 0).all() or (step < 0).all()  # the usual case: no sort needed
        n_distinct = len(x) if monotonic else len(np.unique(x))
        if n_distinct < min_points:
            reasons.append(f"too_few_points: {n_distinct} distinct x < {min_points}")
            continue
        span = float(x.max() - x.min())
        if span < min_range:
            reasons.append(f"narrow_range: {span:.3g} cm^-1 < {min_range:g}")
            continue
        row = np.asarray(spectra[i], dtype=np.float64)
        if not np.isfinite(row).all():
            reasons.append("non_finite: resampled spectrum has non-finite values")
            continue
        # relative test: a constant at 1e3 with float round-off is still flat
        if row.std() <= 1e-7 * np.abs(row).mean():
            reasons.append(f"flat: std {row.std():.3g} ~ 0")
            continue
        reasons.append(None)
    return reasons


def _record_reason(modality, source, sample_id, x, y) -> str | None:
    """Record-level problems found before resampling (missing ids, bad modality, bad shapes)."""
    if not source:
        return "missing_source: empty source"
    if not sample_id:
        return "missing_sample_id: empty sample_id"
    if modality not in MODALITIES:
        return f"bad_modality: {modality!r} not in {MODALITIES}"
    if x is None or y is None:
        return "missing_values: x or y is null"
    if len(x) != len(y):
        return f"length_mismatch: {len(x)} x values but {len(y)} y values"
    return None


def process_shard(
    parsed_path: str | Path,
    out_path: str | Path,
    quarantine_path: str | Path | None = None,
    n_points: int = N_POINTS,
    batch_size: int = 1024,
) -> dict:
    """Parsed shard (Parquet) -> spectra shard (HDF5, resampled + SNV) and a quarantine CSV
    (by default `<item>.quarantine.csv` beside `<item>.h5`, the naming of every stage).

    Streams the Parquet file in batches. The HDF5 and CSV are written atomically. Returns counts:
    {"read", "kept", "quarantined", "reasons": {category: n}}.
    """
    parsed_path = Path(parsed_path)
    if quarantine_path is None:
        quarantine_path = quarantine_beside(out_path)
    try:
        parquet = pq.ParquetFile(parsed_path)
    except Exception as exc:  # pyarrow raises several types for a non-Parquet file
        raise InputError(f"{parsed_path}: not a readable Parquet file ({exc})") from exc
    missing = [c for c in SHARD_SCHEMA.names if c not in parquet.schema_arrow.names]
    if missing:
        raise InputError(f"{parsed_path}: parsed shard lacks columns {missing}")

    read = kept = 0
    reasons_count: Counter[str] = Counter()
    quarantined: list[tuple[str, str, str]] = []
    with atomic_path(out_path) as tmp_h5, atomic_path(quarantine_path) as tmp_csv:
        with h5py.File(tmp_h5, "w") as f:
            shard = SpectraShardWriter(f, n_points)
            columns = ["x", "y", *META_STRINGS]
            for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
                # x/y sliced from Arrow's flat buffers: no Python float lists
                x_rows = list_column_rows(batch.column("x"))
                y_rows = list_column_rows(batch.column("y"))
                strings = {c: batch.column(c).to_pylist() for c in META_STRINGS}
                n = batch.num_rows
                read += n
                xs, ys, kept_rows = [], [], []
                for i in range(n):
                    src, mod = strings["source"][i], strings["modality"][i]
                    sid, x, y = strings["sample_id"][i], x_rows[i], y_rows[i]
                    reason = _record_reason(mod, src, sid, x, y)
                    if reason:
                        quarantined.append((str(src), str(sid), reason))
                        reasons_count[reason.split(":")[0]] += 1
                        continue
                    xs.append(x)
                    ys.append(y)
                    kept_rows.append(i)
                spectra, axis = resample_batch(xs, ys, n_points)
                reasons = qc_reasons(xs, ys, spectra)
                accept = np.array([r is None for r in reasons], dtype=bool)
                for i, reason in zip(kept_rows, reasons, strict=True):
                    if reason is not None:
                        quarantined.append((strings["source"][i], strings["sample_id"][i], reason))
                        reasons_count[reason.split(":")[0]] += 1
                if not accept.any():
                    continue
                accepted = [kept_rows[j] for j in np.flatnonzero(accept)]
                meta = {m: [strings[m][i] for i in accepted] for m in META_STRINGS}
                shard.append(snv(spectra[accept]), axis[accept], meta)
            kept = shard.rows
            f.attrs["parsed_shard"] = parsed_path.name
            f.attrs["counts"] = json.dumps(
                {"read": read, "kept": kept, "quarantined": len(quarantined)}
            )
        with open(tmp_csv, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["source", "sample_id", "reason"])
            writer.writerows(quarantined)
    return {
        "read": read,
        "kept": kept,
        "quarantined": len(quarantined),
        "reasons": dict(sorted(reasons_count.items())),
    }
