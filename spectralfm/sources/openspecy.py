"""OpenSpecy reference libraries (.rds / .RData / .rda), read with `rdata` (no R, no pickle).

Two layouts hold spectra:
- the v1 `OpenSpecy` object: a list of `wavenumber` (n), `spectra` (n x k data.table or matrix,
  one column per spectrum, NA outside each spectrum's measured range) and `metadata` (k rows);
- the legacy long table (OpenSpecy <= 0.9 Shiny app): columns wavenumber (the old app called it
  `Wavelength`, but its values are Raman shifts / wavenumbers in cm^-1), intensity (or
  `Absorbance`) and optionally `sample_name` to tell several spectra apart.

Metadata-only tables (the legacy ftir_metadata / raman_metadata: SpectrumType, CAS, names, no
intensities) hold no spectra. A file whose objects are all like that raises InputError saying so,
rather than quietly producing an empty shard that would look like a successful parse.

Points where the intensity is NA are dropped (that is how OpenSpecy marks "not measured").
Modality comes from the SpectrumType / spectrum_type metadata, else from the file name
(raman / ftir / ir / nir), else from the `modality` option; without any of them the spectrum is
rejected. sample_id is `openspecy:<sample_name>` when the library names its spectra, else a hash
of the spectrum itself, so one spectrum stored in several files (raman_hdpe.rds, raman_hdpe.RData,
the legacy testdata) gets one id.
"""

from __future__ import annotations

import hashlib
import math
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from spectralfm.errors import InputError
from spectralfm.sources.record import Rejected, SpectrumRecord, spectrum_problem

SOURCE = "openspecy"
_X_COLUMNS = ("wavenumber", "wavelength", "wavenumbers", "x")
_Y_COLUMNS = ("intensity", "absorbance", "intensities", "y")
_TYPE_KEYS = ("SpectrumType", "spectrum_type", "spectrumtype")


def _load(path: Path) -> dict:
    import rdata

    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # "missing constructor for data.table": a data.frame is right
            if path.suffix.lower() == ".rds":
                return {path.stem: rdata.read_rds(path)}
            return dict(rdata.read_rda(path))
    except Exception as exc:  # rdata raises many types for foreign bytes; all mean "unreadable"
        raise InputError(f"{path}: not a readable R data file: {exc}") from exc


def modality_from_text(text: str) -> str | None:
    lowered = text.lower()
    if "raman" in lowered:
        return "raman"
    if re.search(r"(^|[^a-z])nir([^a-z]|$)", lowered) or "near infrared" in lowered:
        return "nir"
    if re.search(r"ftir|(^|[^a-z])ir([^a-z]|$)|infrared|atr", lowered):
        return "ir"
    return None


def _plain(value):
    """A metadata cell as a JSON-friendly value (None for NA / NaN / empty)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float | bool):
        return value
    return str(value)


def _row_metadata(metadata: pd.DataFrame | None, index: int) -> dict:
    if metadata is None or index >= len(metadata):
        return {}
    row = metadata.iloc[index]
    plain = {str(k): _plain(v) for k, v in row.items()}
    return {k: v for k, v in plain.items() if v is not None}


def _content_id(x: np.ndarray, y: np.ndarray) -> str:
    digest = hashlib.sha1(np.ascontiguousarray(x).tobytes() + np.ascontiguousarray(y).tobytes())
    return digest.hexdigest()[:16]


def _make(
    x, y, meta: dict, name_hint: str, fallback: str | None, item: str, extra: dict
) -> SpectrumRecord | Rejected:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(y) & np.isfinite(x)
    x, y = x[keep], y[keep]
    problem = spectrum_problem(x, y)
    if problem:
        return Rejected(SOURCE, item, problem)
    kind = None
    for key in _TYPE_KEYS:
        if meta.get(key):
            kind = modality_from_text(str(meta[key]))
            break
    kind = kind or modality_from_text(name_hint) or fallback
    if kind is None:
        return Rejected(SOURCE, item, "no modality: no SpectrumType, no hint in the file name")
    name = meta.get("sample_name")
    sample_id = f"openspecy:{name}" if name else f"openspecy:{_content_id(x, y)}"
    return SpectrumRecord(x, y, kind, SOURCE, sample_id, {**meta, **extra, "item": item})


def _columns(frame: pd.DataFrame, wanted: tuple[str, ...]) -> str | None:
    lowered = {str(c).lower(): c for c in frame.columns}
    return next((lowered[w] for w in wanted if w in lowered), None)


def _v1_object(obj: dict, name: str, path: Path, fallback: str | None):
    """Records of a v1 OpenSpecy list (wavenumber, spectra, metadata)."""
    wavenumber = np.asarray(obj["wavenumber"], dtype=np.float64).ravel()
    spectra = obj["spectra"]
    if isinstance(spectra, pd.DataFrame):
        labels = [str(c) for c in spectra.columns]
        matrix = spectra.to_numpy(dtype=np.float64, na_value=np.nan)
    else:  # xarray DataArray (matrix or data.table nested in a list) or plain ndarray
        matrix = np.asarray(getattr(spectra, "values", spectra), dtype=np.float64)
        coords = getattr(spectra, "coords", {})
        dims = getattr(spectra, "dims", ())
        labels = (
            [str(v) for v in coords[dims[1]].values]
            if len(dims) == 2 and dims[1] in coords
            else [str(j) for j in range(matrix.shape[-1] if matrix.ndim == 2 else 1)]
        )
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.shape[0] != wavenumber.size:
        raise InputError(
            f"{path}: object {name!r} has {wavenumber.size} wavenumbers but spectra with "
            f"{matrix.shape[0]} rows"
        )
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, pd.DataFrame) else None
    for j in range(matrix.shape[1]):
        meta = _row_metadata(metadata, j)
        item = f"{path.name}:{name}[{labels[j] if j < len(labels) else j}]"
        extra = {"file": path.name, "object": name, "column": labels[j]}
        yield _make(wavenumber, matrix[:, j], meta, path.name, fallback, item, extra)


def _long_table(frame: pd.DataFrame, name: str, path: Path, fallback: str | None):
    """Records of a legacy long table (wavenumber, intensity[, sample_name])."""
    x_col, y_col = _columns(frame, _X_COLUMNS), _columns(frame, _Y_COLUMNS)
    group_col = _columns(frame, ("sample_name",))
    groups = frame.groupby(group_col, sort=False) if group_col else [(None, frame)]
    for key, part in groups:
        x = pd.to_numeric(part[x_col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        y = pd.to_numeric(part[y_col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        meta = {"sample_name": str(key)} if key is not None else {}
        item = f"{path.name}:{name}" + (f"[{key}]" if key is not None else "")
        extra = {"file": path.name, "object": name, "x_column": str(x_col)}
        yield _make(x, y, meta, path.name, fallback, item, extra)


def read_openspecy(
    path: str | Path, modality: str | None = None
) -> Iterator[SpectrumRecord | Rejected]:
    """Spectra of an OpenSpecy .rds/.RData file. `modality` is the fallback when neither the
    metadata nor the file name says Raman or FTIR."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    objects = _load(path)
    readers = []
    skipped = []
    for name, obj in objects.items():
        if isinstance(obj, dict) and "wavenumber" in obj and "spectra" in obj:
            readers.append(_v1_object(obj, str(name), path, modality))
        elif (
            isinstance(obj, pd.DataFrame)
            and _columns(obj, _X_COLUMNS) is not None
            and _columns(obj, _Y_COLUMNS) is not None
        ):
            readers.append(_long_table(obj, str(name), path, modality))
        else:
            shape = getattr(obj, "shape", None)
            skipped.append(f"{name} ({type(obj).__name__}{' ' + str(shape) if shape else ''})")
    if not readers:
        raise InputError(
            f"{path}: holds no spectra, only {', '.join(skipped) or 'nothing'}: metadata-only "
            "tables (e.g. ftir_metadata/raman_metadata) carry no wavenumber/intensity data"
        )
    for reader in readers:
        yield from reader
