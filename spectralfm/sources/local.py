"""Users' own spectra: a JCAMP-DX or CSV file, or a folder of them (searched recursively).

JCAMP-DX (.jdx/.dx/.jcamp) is parsed by the `jcamp` package, after this module decodes the bytes
itself: UTF-8 when valid, else latin-1 (NIST files carry latin-1 degree / plus-minus signs that
the package would silently drop). Multi-line header values and compressed (DIFDUP) data are the
package's job. XUNITS (1/CM, NANOMETERS, MICROMETERS) set the x conversion, YUNITS the y one
(transmittance -> -log10 T, reflectance -> log10 1/R; see units.py). Modality: the `modality`
option, else DATA TYPE (RAMAN -> raman, NEAR INFRARED -> nir, INFRARED -> ir).

CSV, two layouts (`layout="auto"` tells them apart by the header row):
- "rows": one spectrum per row, the axis in the header row (a header with >= 3 numeric cells).
  Non-numeric header cells are metadata columns (all of them, or those named in
  `metadata_columns`; `id_column` names the one that identifies a sample);
- "columns": one spectrum per column, the axis in the first column, sample names in the header.
x units: the `x_units` option ("cm-1", "nm", "um"), else inferred by this documented rule:
  max <= 30 -> micrometres; all values in 350-2600 and on a 0.5 grid (round grating steps such as
  1100, 1102 ... nm) -> nm; anything else (FTIR axes like 1005.3495, or beyond 2600) -> cm^-1.
  Pass x_units whenever a file can be read both ways (e.g. integer wavenumbers 400-2500).
Modality: the `modality` option, else "nir" for nm axes or for axes lying wholly above
3500 cm^-1 (below 2.86 um), else "ir". y units: the `y_units` option (default: absorbance-like,
kept as is).

sample_id: `local:<path relative to the folder read>` (+ `#<row id or column name>`), so rereading
the same folder gives the same ids.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from spectralfm.errors import InputError
from spectralfm.sources.record import Rejected, SpectrumRecord, spectrum_problem
from spectralfm.sources.units import to_absorbance, to_wavenumber, x_unit_kind

SOURCE = "local"
JCAMP_SUFFIXES = (".jdx", ".dx", ".jcamp")
CSV_SUFFIXES = (".csv",)
_NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")


def _is_number(text: str) -> bool:
    return bool(_NUMBER.match(text))


def infer_x_units(axis: np.ndarray) -> str:
    """The documented inference rule for CSV axes without an x_units option."""
    if axis.max() <= 30:
        return "um"
    on_half_grid = np.allclose(axis * 2, np.round(axis * 2), atol=1e-6)
    if axis.min() >= 350 and axis.max() <= 2600 and on_half_grid:
        return "nm"
    return "cm-1"


def _default_modality(kind: str, wavenumbers: np.ndarray) -> str:
    if kind == "nm" or wavenumbers.min() > 3500:
        return "nir"
    return "ir"


def decode_jcamp_lines(raw: bytes) -> tuple[list[str], str]:
    try:
        text, encoding = raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = raw.decode("latin-1"), "latin-1"
    return text.splitlines(), encoding


def _jcamp_modality(data_type: str) -> str | None:
    label = data_type.upper()
    if "RAMAN" in label:
        return "raman"
    if "NEAR INFRARED" in label or "NIR" in label.split():
        return "nir"
    if "INFRARED" in label or label.startswith("IR"):
        return "ir"
    return None


def read_jcamp(
    path: Path,
    relative: str,
    modality: str | None = None,
    x_units: str | None = None,
    y_units: str | None = None,
) -> Iterator[SpectrumRecord | Rejected]:
    """Records of one JCAMP-DX file (one per XY block); x_units / y_units only fill in for a
    missing XUNITS / YUNITS."""
    import jcamp

    lines, encoding = decode_jcamp_lines(path.read_bytes())
    try:
        parsed = jcamp.read(lines)
    except Exception as exc:  # the package raises bare ValueError/IndexError/KeyError alike
        yield Rejected(SOURCE, relative, f"JCAMP-DX parse failed: {type(exc).__name__}: {exc}")
        return
    blocks = parsed.get("children") or [parsed]
    for index, block in enumerate(blocks):
        item = relative if len(blocks) == 1 else f"{relative}#block{index}"
        if "x" not in block or "y" not in block:
            yield Rejected(SOURCE, item, "JCAMP-DX block without XY data")
            continue
        xunits = block.get("xunits") or x_units
        yunits = block.get("yunits") or y_units
        if not xunits:
            yield Rejected(SOURCE, item, "no ##XUNITS; pass x_units=")
            continue
        try:
            x = to_wavenumber(block["x"], str(xunits))
            y = to_absorbance(block["y"], yunits)
        except InputError as exc:
            yield Rejected(SOURCE, item, str(exc))
            continue
        problem = spectrum_problem(x, y)
        if problem:
            yield Rejected(SOURCE, item, problem)
            continue
        kind = modality or _jcamp_modality(str(block.get("data type", "")))
        if kind is None:
            yield Rejected(SOURCE, item, "DATA TYPE names no modality; pass modality=")
            continue
        metadata = {
            "file": relative,
            "format": "jcamp-dx",
            "encoding": encoding,
            "title": block.get("title"),
            "data_type": block.get("data type"),
            "xunits": xunits,
            "yunits": yunits,
            "owner": block.get("owner"),
            "cas": block.get("cas registry no"),
            "molform": block.get("molform"),
            "state": block.get("state"),
        }
        metadata = {k: str(v) if v is not None else None for k, v in metadata.items()}
        metadata["header"] = {
            str(k): str(v) for k, v in block.items() if k not in ("x", "y", "children")
        }
        yield SpectrumRecord(x, y, kind, SOURCE, f"local:{item}", metadata)


def _parse_floats(cells: list[str]) -> np.ndarray | None:
    try:
        return np.array([float(c) for c in cells], dtype=np.float64)
    except ValueError:
        return None


def read_csv(
    path: Path,
    relative: str,
    modality: str | None = None,
    x_units: str | None = None,
    y_units: str | None = None,
    layout: str = "auto",
    metadata_columns: list[str] | None = None,
    id_column: str | None = None,
) -> Iterator[SpectrumRecord | Rejected]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    table = [row for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    if len(table) < 2:
        raise InputError(f"{path}: CSV needs a header row and at least one data row")
    header = [c.strip() for c in table[0]]
    numeric_header = [i for i, c in enumerate(header) if _is_number(c)]
    if layout == "auto":
        layout = "rows" if len(numeric_header) >= 3 else "columns"
    if layout == "rows":
        yield from _csv_rows(
            path,
            relative,
            table,
            header,
            numeric_header,
            modality,
            x_units,
            y_units,
            metadata_columns,
            id_column,
        )
    elif layout == "columns":
        yield from _csv_columns(path, relative, table, header, modality, x_units, y_units)
    else:
        raise InputError(f"{path}: layout must be 'auto', 'rows' or 'columns', not {layout!r}")


def _axis_in_cm(path: Path, axis: np.ndarray, x_units: str | None) -> tuple[np.ndarray, str]:
    kind = x_unit_kind(x_units) if x_units else infer_x_units(axis)
    try:
        return to_wavenumber(axis, {"nm": "nm", "um": "um", "cm-1": "1/cm"}[kind]), kind
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from exc


def _csv_rows(
    path,
    relative,
    table,
    header,
    numeric_header,
    modality,
    x_units,
    y_units,
    metadata_columns,
    id_column,
):
    if len(numeric_header) < 2:
        raise InputError(
            f"{path}: no numeric axis in the header row (e.g. {header[:3]}); a one-spectrum-per-"
            "row CSV needs the wavelengths/wavenumbers as column names"
        )
    axis = np.array([float(header[i]) for i in numeric_header])
    x, kind = _axis_in_cm(path, axis, x_units)
    label_columns = [i for i, c in enumerate(header) if i not in set(numeric_header)]
    if metadata_columns is not None:
        unknown = set(metadata_columns) - {header[i] for i in label_columns}
        if unknown:
            raise InputError(f"{path}: metadata_columns {sorted(unknown)} not in the header")
        label_columns = [i for i in label_columns if header[i] in metadata_columns]
    if id_column is not None and id_column not in header:
        raise InputError(f"{path}: id_column {id_column!r} not in the header")
    kind_modality = modality or _default_modality(kind, x)
    for number, row in enumerate(table[1:], start=1):
        row_id = row[header.index(id_column)].strip() if id_column else f"row{number}"
        item = f"{relative}#{row_id}"
        if len(row) != len(header):
            yield Rejected(SOURCE, item, f"{len(row)} cells, header has {len(header)}")
            continue
        y = _parse_floats([row[i] for i in numeric_header])
        if y is None:
            yield Rejected(SOURCE, item, "non-numeric or empty spectral value")
            continue
        y = to_absorbance(y, y_units)
        problem = spectrum_problem(x, y)
        if problem:
            yield Rejected(SOURCE, item, problem)
            continue
        metadata = {header[i]: row[i].strip() for i in label_columns}
        metadata.update({"file": relative, "row": number, "x_units": kind, "y_units": y_units})
        yield SpectrumRecord(x, y, kind_modality, SOURCE, f"local:{item}", metadata)


def _csv_columns(path, relative, table, header, modality, x_units, y_units):
    first = _parse_floats([row[0] for row in table[1:]])
    steps = np.diff(first) if first is not None else np.array([])
    if first is None or first.size < 2 or not (np.all(steps > 0) or np.all(steps < 0)):
        # An axis is numeric and strictly monotonic; a property table (e.g. moisture values)
        # or a spectra table without axis (Tecator's absorbance_1..100) is neither.
        raise InputError(
            f"{path}: neither CSV layout fits: the header row has no numeric axis and the "
            "first column is not a strictly monotonic axis"
        )
    if np.any(first <= 0):
        raise InputError(f"{path}: axis in the first column has values <= 0")
    x, kind = _axis_in_cm(path, first, x_units)
    kind_modality = modality or _default_modality(kind, x)
    for j in range(1, len(header)):
        name = header[j] or f"column{j}"
        item = f"{relative}#{name}"
        cells = [row[j] if j < len(row) else "" for row in table[1:]]
        y = _parse_floats(cells)
        if y is None:
            yield Rejected(SOURCE, item, "non-numeric or empty value in the column")
            continue
        y = to_absorbance(y, y_units)
        problem = spectrum_problem(x, y)
        if problem:
            yield Rejected(SOURCE, item, problem)
            continue
        metadata = {"file": relative, "column": name, "x_units": kind, "y_units": y_units}
        yield SpectrumRecord(x, y, kind_modality, SOURCE, f"local:{item}", metadata)


def read_local(
    path: str | Path,
    modality: str | None = None,
    x_units: str | None = None,
    y_units: str | None = None,
    layout: str = "auto",
    metadata_columns: list[str] | None = None,
    id_column: str | None = None,
) -> Iterator[SpectrumRecord | Rejected]:
    """Spectra of a JCAMP-DX/CSV file or of every such file under a folder (sorted, recursive).
    Other files in a folder are quarantined as unsupported, hidden files skipped."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        root = path
    else:
        files, root = [path], path.parent
    options = dict(modality=modality, x_units=x_units, y_units=y_units)
    for file in files:
        relative = file.relative_to(root).as_posix()
        suffix = file.suffix.lower()
        if suffix in JCAMP_SUFFIXES:
            yield from read_jcamp(file, relative, **options)
        elif suffix in CSV_SUFFIXES:
            yield from read_csv(
                file,
                relative,
                layout=layout,
                metadata_columns=metadata_columns,
                id_column=id_column,
                **options,
            )
        elif path.is_dir():
            yield Rejected(SOURCE, relative, "not a JCAMP-DX (.jdx/.dx/.jcamp) or CSV file")
        else:
            raise InputError(f"{path}: expected a JCAMP-DX (.jdx/.dx/.jcamp) or .csv file")
