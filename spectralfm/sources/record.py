"""The spectrum record every source reader yields, and the parsed-shard files that hold them.

A parsed shard `<item>.parquet` is one Parquet file (columns x, y, modality, source, sample_id,
metadata) plus a sibling quarantine table `<item>.quarantine.csv` (`quarantine_path`, the naming of
every stage's quarantine) listing every item a reader refused and why.
Both are written to temporary names and renamed, the quarantine first: a shard that exists is
always complete and always has its quarantine beside it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spectralfm.errors import InputError

MODALITIES = ("raman", "ir", "nir")
QUARANTINE_SUFFIX = ".quarantine.csv"
QUARANTINE_FIELDS = ("source", "item", "reason")

SHARD_SCHEMA = pa.schema(
    [
        ("x", pa.list_(pa.float64())),
        ("y", pa.list_(pa.float64())),
        ("modality", pa.string()),
        ("source", pa.string()),
        ("sample_id", pa.string()),
        ("metadata", pa.string()),
    ]
)


@cache
def source_names() -> tuple[str, ...]:
    """The corpus sources, as registered in spectralfm.catalog.CORPUS_SOURCES (imported on first
    use: the catalog imports the benchmark readers, which may import from this package)."""
    from spectralfm.catalog import CORPUS_SOURCES

    return tuple(CORPUS_SOURCES)


@dataclass
class SpectrumRecord:
    x: np.ndarray  # wavenumber in cm^-1 (float64), any order as read
    y: np.ndarray  # absorbance-like intensities
    modality: str  # "raman" | "ir" | "nir"
    source: str  # one of source_names()
    sample_id: str  # stable: the same physical sample/molecule gets the same id everywhere
    metadata: dict = field(default_factory=dict)  # JSON-serialisable

    def __post_init__(self):
        self.x = np.asarray(self.x, dtype=np.float64)
        self.y = np.asarray(self.y, dtype=np.float64)
        problem = spectrum_problem(self.x, self.y)
        if problem:
            raise InputError(f"spectrum {self.sample_id!r} ({self.source}): {problem}")
        if self.modality not in MODALITIES:
            raise InputError(
                f"spectrum {self.sample_id!r}: modality {self.modality!r} not in {MODALITIES}"
            )
        if self.source not in source_names():
            raise InputError(
                f"spectrum {self.sample_id!r}: source {self.source!r} not in {source_names()}"
            )
        if not self.sample_id:
            raise InputError(f"spectrum from {self.source}: empty sample_id")


@dataclass
class Rejected:
    source: str
    item: str  # file, archive member or row id
    reason: str


def spectrum_problem(x: np.ndarray, y: np.ndarray) -> str | None:
    """Why (x, y) cannot be a spectrum, or None. Readers call it to turn bad items into Rejected."""
    if x.ndim != 1 or y.ndim != 1:
        return f"x and y must be 1-D, got shapes {x.shape} and {y.shape}"
    if x.shape != y.shape:
        return f"x has {x.size} points but y has {y.size}"
    if x.size < 2:
        return f"only {x.size} point(s)"
    if not np.all(np.isfinite(x)):
        return "non-finite x values"
    if not np.any(np.isfinite(y)):
        return "no finite y values"
    return None


def molecule_sample_id(smiles: str) -> str:
    """Sample id of a molecule from its SMILES, identical across the computed-spectra sources.

    The SMILES is taken as written (no RDKit here), so two spellings of one molecule get two ids.
    """
    digest = hashlib.sha1(smiles.strip().encode("utf-8")).hexdigest()[:16]
    return f"mol:{digest}"


def sort_and_merge(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Ascending x with duplicate x values averaged; returns (x, y, number of duplicates merged)."""
    unique_x, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    if unique_x.size == x.size:
        order = np.argsort(x, kind="stable")
        return x[order], y[order], 0
    sums = np.bincount(inverse, weights=y, minlength=unique_x.size)
    return unique_x, sums / counts, int(x.size - unique_x.size)


def json_metadata(metadata: dict, where: str) -> str:
    """Metadata as JSON text; NaN becomes null and numpy scalars plain numbers."""

    def plain(value):
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, np.ndarray):
            return [plain(v) for v in value.tolist()]
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    try:
        return json.dumps(plain(metadata), sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: metadata is not JSON-serialisable: {exc}") from exc


def quarantine_path(shard_path: str | os.PathLike) -> Path:
    """The quarantine table beside a shard, for every stage: `<folder>/<item>.quarantine.csv` for
    the parsed shard `<item>.parquet` and for the spectra shard `<item>.h5` alike."""
    shard_path = Path(shard_path)
    if shard_path.name.endswith(QUARANTINE_SUFFIX):
        return shard_path
    return shard_path.with_name(shard_path.stem + QUARANTINE_SUFFIX)


def _temporary_sibling(path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def _list_array(rows: list[np.ndarray]) -> pa.ListArray:
    """list<float64> column from numpy rows via one flat buffer (no per-value Python objects)."""
    lengths = np.fromiter((row.size for row in rows), dtype=np.int32, count=len(rows))
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(np.concatenate(rows)))


def write_parsed_shard(
    path: str | os.PathLike, items: Iterable[SpectrumRecord | Rejected], batch_size: int = 1000
) -> dict:
    """Stream records into a Parquet shard (row groups of `batch_size`) and rejects into its
    quarantine CSV; returns {"records": n, "rejected": m}. Memory stays bounded by one batch."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    qpath = quarantine_path(path)
    tmp_shard, tmp_quarantine = _temporary_sibling(path), _temporary_sibling(qpath)
    counts = {"records": 0, "rejected": 0}
    columns: dict[str, list] = {name: [] for name in SHARD_SCHEMA.names}

    def flush(writer: pq.ParquetWriter) -> None:
        if columns["x"]:
            arrays = [
                _list_array(columns[name]) if name in ("x", "y") else pa.array(columns[name])
                for name in SHARD_SCHEMA.names
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=SHARD_SCHEMA))
            for values in columns.values():
                values.clear()

    try:
        with (
            open(tmp_quarantine, "w", newline="", encoding="utf-8") as qfile,
            pq.ParquetWriter(
                tmp_shard,
                SHARD_SCHEMA,
                compression="zstd",
                use_dictionary=["modality", "source"],  # float lists gain nothing from it
            ) as writer,
        ):
            quarantine = csv.writer(qfile)
            quarantine.writerow(QUARANTINE_FIELDS)
            for item in items:
                if isinstance(item, Rejected):
                    quarantine.writerow([item.source, item.item, item.reason])
                    counts["rejected"] += 1
                    continue
                if not isinstance(item, SpectrumRecord):
                    raise InputError(f"{path}: cannot write {type(item).__name__} into a shard")
                columns["x"].append(item.x)
                columns["y"].append(item.y)
                columns["modality"].append(item.modality)
                columns["source"].append(item.source)
                columns["sample_id"].append(item.sample_id)
                columns["metadata"].append(
                    json_metadata(item.metadata, f"{path}: sample {item.sample_id}")
                )
                counts["records"] += 1
                if len(columns["x"]) >= batch_size:
                    flush(writer)
            flush(writer)
        # Quarantine first: once the shard name exists, everything beside it is complete too.
        os.replace(tmp_quarantine, qpath)
        os.replace(tmp_shard, path)
    finally:
        tmp_shard.unlink(missing_ok=True)
        tmp_quarantine.unlink(missing_ok=True)
    return counts


def read_parsed_shard(path: str | os.PathLike, batch_size: int = 1000) -> Iterator[SpectrumRecord]:
    """Records of a parsed shard, one row group batch at a time."""
    path = Path(path)
    try:
        shard = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{path}: not a readable parsed shard: {exc}") from exc
    missing = set(SHARD_SCHEMA.names) - set(shard.schema_arrow.names)
    if missing:
        raise InputError(f"{path}: parsed shard lacks columns {sorted(missing)}")
    for batch in shard.iter_batches(batch_size=batch_size, columns=SHARD_SCHEMA.names):
        data = batch.to_pydict()
        for i in range(batch.num_rows):
            yield SpectrumRecord(
                x=np.asarray(data["x"][i], dtype=np.float64),
                y=np.asarray(data["y"][i], dtype=np.float64),
                modality=data["modality"][i],
                source=data["source"][i],
                sample_id=data["sample_id"][i],
                metadata=json.loads(data["metadata"][i]),
            )


def read_quarantine(path: str | os.PathLike) -> list[Rejected]:
    """The rejected items of a shard (pass the shard path or the quarantine CSV itself)."""
    qpath = quarantine_path(path)
    if not qpath.is_file():
        raise InputError(f"{qpath}: quarantine table not found")
    with open(qpath, newline="", encoding="utf-8") as qfile:
        reader = csv.DictReader(qfile)
        if tuple(reader.fieldnames or ()) != QUARANTINE_FIELDS:
            raise InputError(
                f"{qpath}: expected header {QUARANTINE_FIELDS}, got {reader.fieldnames}"
            )
        return [Rejected(row["source"], row["item"], row["reason"]) for row in reader]


def list_column_rows(column: pa.Array) -> list[np.ndarray | None]:
    """Rows of an Arrow list<number> column as float64 arrays (None for null rows), without
    going through Python lists: one flat buffer sliced by the list offsets."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_list(column.type) and not pa.types.is_large_list(column.type):
        raise InputError(f"expected a list column, got {column.type}")
    offsets = column.offsets.to_numpy()
    values = column.values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    return [values[offsets[i] : offsets[i + 1]] if valid[i] else None for i in range(len(column))]


def open_parquet(path: Path, required: tuple[str, ...]) -> pq.ParquetFile:
    """A Parquet file checked to hold `required` columns; InputError naming the file otherwise."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{path}: not a readable Parquet file: {exc}") from exc
    missing = [c for c in required if c not in parquet.schema_arrow.names]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {missing}; has {parquet.schema_arrow.names[:12]}"
        )
    return parquet
