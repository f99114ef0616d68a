"""The Open Soil Spectral Library (OSSL v1.2) VisNIR export, read as a stream (mirror `ossl/`).

The file: `ossl_visnir_L0_v1.2.csv.gz` in the public bucket
https://storage.googleapis.com/soilspec4gg-public/ (a gzip-compressed CSV, large once
decompressed; the `.qs` files beside it are R serialisations and are not read). One row per soil
layer: identifier and scan metadata columns, then one reflectance column per wavelength.

Confirmed from the OSSL manual (soilspectroscopy/ossl-manual, 030-database_description.Rmd "VisNIR
scans" and 040-database_access.Rmd) and the import code (soilspectroscopy/ossl-imports, README
"Exporting visnir L0"):
- the URL and file name above, and that the bucket "can be updated without notice": no checksum is
  published, so the download records the sha256 it got in its manifest;
- identifier columns `id.layer_uuid_txt` (the OSSL unique id: an md5 of the dataset code and the
  layer's local id, so stable across releases of the same layer) and `id.scan_local_c`, with
  `dataset.code_ascii_txt` first; metadata named `scan.visnir.<what>_<type>` (e.g.
  `scan.visnir.model.name_utf8_txt`, `scan.visnir.method.preparation_any_txt`,
  `scan.visnir.date.begin_iso.8601_yyyy.mm.dd`);
- reflectance columns `scan_visnir.350_ref` ... `scan_visnir.2500_ref`, 350-2500 nm "with an
  interval of 2 nm" (1076 columns), values "in reflectance units ... ranging between 0 and 1 as
  fraction" ("Reflectance in fraction unit"; examples 0.104, 0.362), not percent;
- the v1.2 import code writes the VisNIR L0 table as columns selected from the whole L0 export,
  which also holds MIR-only layers (76,773 of 141,762 rows by its own counts: KSSL, AfSIS, CAF,
  ...) whose reflectance cells are then all missing;
- the LUCAS import (ossl-imports dataset/LUCAS, a later revision) keeps 400-2500 nm only.

Assumed (not checkable here: no real sample of the file is available offline): the .csv.gz holds
the same table as the .qs beside it; LUCAS rows (about 40k) have their 350-398 nm cells missing in
v1.2 as well; missing cells are written `NA` (readr's write_csv, which the import code uses for its
CSV exports) or left empty; the text is UTF-8 (undecodable bytes, possible only in metadata, are
replaced). Not assumed: the column order (reflectance columns are found by name and sorted by
wavelength) or the metadata names (taken as the header has them, not from a fixed list).

Each spectrum becomes a SpectrumRecord: modality nir, x the wavelengths converted to cm^-1,
y the pseudo-absorbance log10(1/R) (units.to_absorbance "reflectance"), sample_id
`ossl:<id.layer_uuid_txt>`, metadata the file, its data row number, every non-missing
non-spectral cell, and how many points were interpolated. Rows are quarantined (a Rejected with
the reason, in `<item>.quarantine.csv`), never dropped silently:
- no VisNIR scan (every reflectance cell missing: an MIR-only layer);
- a reflectance <= 0 or > 1.5 (not a 0-1 fraction; a percent value would be > 1.5);
- fewer than 90% of the reflectance cells present;
- a gap of more than MAX_GAP consecutive missing cells inside the measured range;
- an unreadable cell, a row whose field count differs from the header, no id.layer_uuid_txt.
Missing cells at either end are trimmed (the spectrum keeps its own measured range, e.g. LUCAS
400-2500 nm); a gap of at most MAX_GAP cells (10 nm) inside it is filled by linear interpolation
between its neighbours and counted in metadata["interpolated"].

The file is read row by row through gzip and csv (memory: one row), so the whole library never
sits in memory. `max_rows` (config `sources.ossl.options.max_rows`) stops after that many data
rows, spectra and quarantined rows together, for a quick subset (the row order of the export is
not documented: a capped subset is the file's first rows, MIR-only ones included).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from spectralfm.errors import InputError
from spectralfm.sources.record import Rejected, SpectrumRecord
from spectralfm.sources.units import nm_to_wavenumber, to_absorbance

SOURCE = "ossl"
ID_COLUMN = "id.layer_uuid_txt"
MISSING = frozenset({"", "NA", "NaN", "nan", "NULL", "null"})
MAX_REFLECTANCE = 1.5
MIN_PRESENT = 0.9  # fraction of the reflectance cells a row must hold
MAX_GAP = 5  # longest run of missing cells inside the range that is interpolated (2 nm each)

_REFLECTANCE = re.compile(r"^scan_visnir\.(\d+(?:\.\d+)?)_ref$")
_GZIP_MAGIC = b"\x1f\x8b"


def _open_text(path: Path) -> io.TextIOBase:
    """The file as text, through gzip when it starts like one (the published .csv.gz)."""
    with open(path, "rb") as f:
        head = f.read(2)
    raw = gzip.open(path, "rb") if head == _GZIP_MAGIC else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def _layout(header: list[str], path: Path) -> tuple[np.ndarray, np.ndarray, list[int], int]:
    """(wavelengths nm ascending, their column indices, metadata column indices, id index)."""
    spectral = [
        (float(m.group(1)), i) for i, name in enumerate(header) if (m := _REFLECTANCE.match(name))
    ]
    if len(spectral) < 2:
        raise InputError(
            f"{path}: not the OSSL VisNIR export: no scan_visnir.<nm>_ref reflectance columns "
            f"in the header (it starts {header[:4]})"
        )
    if ID_COLUMN not in header:
        raise InputError(f"{path}: not the OSSL VisNIR export: no {ID_COLUMN} column")
    spectral.sort()
    nm = np.array([w for w, _ in spectral])
    if np.any(np.diff(nm) == 0):
        raise InputError(f"{path}: a wavelength appears twice among the scan_visnir columns")
    columns = np.array([i for _, i in spectral])
    taken = set(columns.tolist())
    metadata = [i for i in range(len(header)) if i not in taken]
    return nm, columns, metadata, header.index(ID_COLUMN)


def _values(cells: list[str], nm: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """Reflectance cells as floats (NaN where missing), or (None, why) for an unreadable cell."""
    try:
        return np.array(cells, dtype=np.float64), None
    except ValueError:
        pass
    out = np.full(len(cells), np.nan)
    for k, cell in enumerate(cells):
        text = cell.strip()
        if text in MISSING:
            continue
        try:
            out[k] = float(text)
        except ValueError:
            return None, f"unreadable reflectance {cell[:20]!r} at {nm[k]:g} nm"
    return out, None


def _gaps(missing: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index runs of True in `missing`."""
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _spectrum(r: np.ndarray, nm: np.ndarray) -> tuple[slice, np.ndarray, int] | str:
    """(the measured range as a slice of the columns, its reflectance, points interpolated) of
    one row, or why it is refused."""
    n = len(r)
    present = np.isfinite(r)
    count = int(present.sum())
    if count == 0:
        return f"no VisNIR scan: all {n} reflectance values missing"
    low, high = present & (r <= 0), present & (r > MAX_REFLECTANCE)
    for bad, what in ((low, "<= 0"), (high, f"> {MAX_REFLECTANCE:g} (not a 0-1 fraction)")):
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            where = f"first {r[k]:g} at {nm[k]:g} nm"
            return f"reflectance {what} at {int(bad.sum())} wavelength(s), {where}"
    if count < MIN_PRESENT * n:
        return f"only {count} of {n} reflectance values present (< {MIN_PRESENT:.0%})"
    first, last = np.flatnonzero(present)[[0, -1]]
    kept = slice(int(first), int(last) + 1)
    r, nm, present = r[kept], nm[kept], present[kept]
    gaps = _gaps(~present)
    for a, b in gaps:
        if b - a > MAX_GAP:
            return (
                f"a gap of {b - a} missing values ({nm[a]:g}-{nm[b - 1]:g} nm) inside the spectrum"
            )
    if gaps:
        r = r.copy()
        r[~present] = np.interp(nm[~present], nm[present], r[present])
    return kept, r, int((~present).sum())


def read_ossl(path: str | Path, max_rows: int | None = None) -> Iterator[SpectrumRecord | Rejected]:
    """NIR records of the OSSL VisNIR export, row by row; `max_rows` caps the data rows read."""
    path = Path(path)
    if max_rows is not None and (
        isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1
    ):
        raise InputError(
            f"source 'ossl': max_rows must be a positive integer or null, got {max_rows!r}"
        )
    return _read(path, max_rows)


def _read(path: Path, max_rows: int | None) -> Iterator[SpectrumRecord | Rejected]:
    row = 0
    try:
        with _open_text(path) as text:
            rows = csv.reader(text)
            header = next(rows, None)
            if header is None:
                raise InputError(f"{path}: empty file, expected the OSSL VisNIR CSV header")
            nm, columns, meta_columns, id_index = _layout(header, path)
            x_all = nm_to_wavenumber(nm)
            while max_rows is None or row < max_rows:  # checked before reading on
                cells = next(rows, None)
                if cells is None:
                    return
                if not cells:  # a blank line (e.g. at the end) is no data row
                    continue
                row += 1
                yield _record(path, row, cells, header, nm, x_all, columns, meta_columns, id_index)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise InputError(
            f"{path}: truncated or corrupt gzip stream after data row {row}: {exc}"
        ) from exc
    except csv.Error as exc:
        raise InputError(f"{path}: unreadable CSV at data row {row + 1}: {exc}") from exc


def _record(
    path: Path,
    row: int,
    cells: list[str],
    header: list[str],
    nm: np.ndarray,
    x_all: np.ndarray,
    columns: np.ndarray,
    meta_columns: list[int],
    id_index: int,
) -> SpectrumRecord | Rejected:
    uuid = cells[id_index].strip() if id_index < len(cells) else ""
    item = f"{path.name} row {row}" + (f" ({uuid})" if uuid else "")
    if len(cells) != len(header):
        return Rejected(SOURCE, item, f"the row has {len(cells)} fields, the header {len(header)}")
    if uuid in MISSING:
        return Rejected(SOURCE, item, f"no {ID_COLUMN}")
    r, why = _values([cells[i] for i in columns], nm)
    if r is None:
        return Rejected(SOURCE, item, why)
    spectrum = _spectrum(r, nm)
    if isinstance(spectrum, str):
        return Rejected(SOURCE, item, spectrum)
    kept, reflectance, interpolated = spectrum
    x = x_all[kept]
    metadata: dict = {"file": path.name, "row": row}
    for i in meta_columns:
        value = cells[i].strip()
        if value not in MISSING:
            metadata[header[i]] = value
    if interpolated:
        metadata["interpolated"] = interpolated
    y = to_absorbance(reflectance, "reflectance")
    return SpectrumRecord(x, y, "nir", SOURCE, f"{SOURCE}:{uuid}", metadata)
