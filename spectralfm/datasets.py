"""The calibration-transfer benchmarks: Eigenvector corn and the IDRC 2002 tablet shoot-out.

Both are read from the files the publishers ship; property names, their order, wavelengths and
split labels come from the files, never from constants here (a swapped label is a silent error
in every downstream table). The Eigenvector .mat files hold MATLAB DataSet objects (DSO) saved as
structs: `.data` (n, p), `.label{mode, set}` (names per mode), `.axisscale{mode, set}` (axis values).
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from spectralfm.download import RawFile, fetch, safe_extract, verify
from spectralfm.errors import InputError

CORN_ZIP = RawFile(
    "eigenvector",
    "corn.mat_.zip",
    "https://eigenvector.com/wp-content/uploads/2019/06/corn.mat_.zip",
)
# Of the extracted corn.mat: the zip itself differs between Eigenvector and our mirror.
CORN_MAT_SHA256 = "e28fd4be274a54ca57b1f2c67ef5a8bf4981f8314bcc73e4c64836fe658c46b5"

_CHEMOMETRICSDATA = (
    "https://raw.githubusercontent.com/caseykneale/ChemometricsData.jl/"
    "9aae583acacb28411e471979fb50148d79ed2967/data/IDRC_2002_Pharma_Shootout"
)
TABLET_CSV = {
    "1": RawFile(
        "chemometricsdata",
        "Pharma_Instrument1.csv",
        f"{_CHEMOMETRICSDATA}/Pharma_Instrument1.csv",
        sha256="a760cf1a72a2268b59ee43a651430d0e30cdadfc9a9923dde5e72bef946aaaea",
        size=3823773,
    ),
    "2": RawFile(
        "chemometricsdata",
        "Pharma_Instrument2.csv",
        f"{_CHEMOMETRICSDATA}/Pharma_Instrument2.csv",
        sha256="36e46b5ff67e46e53c885df83da54c962c56206f3df7c6647a6a41b207dc86f2",
        size=3823407,
    ),
}
# No zip checksum: mirrors hold rebuilt zips (see shared/data SOURCES.md); the .mat inside is
# checked instead. (One third-party study recorded the Eigenvector zip as sha256 04c03a43...2125.)
TABLET_MAT_ZIP = RawFile(
    "eigenvector",
    "nir_shootout_2002.mat_.zip",
    "https://eigenvector.com/wp-content/uploads/2019/06/nir_shootout_2002.mat_.zip",
)
TABLET_MAT_SHA256 = "129a32ec9e194e568cbd96a200c88aabeb347156081b5dfbb0120372fdd6c22a"

CORN_INSTRUMENTS = {"m5": "m5spec", "mp5": "mp5spec", "mp6": "mp6spec"}
TABLET_SPLITS = ("calibrate", "validate", "test")  # row order of the assembled dataset
TABLET_INSTRUMENTS = ("1", "2")
# CSV SampleType -> canonical split. The CSVs follow Eigenvector's naming (Train=calibrate);
# the IDRC web page's "validation" means the 460-sample set, so that word is not accepted.
TABLET_SPLIT_LABELS = {
    "train": "calibrate",
    "calibrate": "calibrate",
    "validate": "validate",
    "test": "test",
}


@dataclass
class BenchmarkDataset:
    """Spectra of the same samples on several instruments, with reference values."""

    name: str  # "corn" | "tablet"
    wavelengths_nm: np.ndarray  # (p,)
    spectra: dict[str, np.ndarray]  # instrument -> (n, p) float64, rows aligned across instruments
    properties: list[str]  # lower-case, in file order
    Y: np.ndarray  # (n, k), columns in `properties` order
    split: np.ndarray | None  # (n,) "calibrate"/"validate"/"test", or None
    source_path: str

    @property
    def n_samples(self) -> int:
        return self.Y.shape[0]

    def property(self, name: str) -> np.ndarray:
        key = name.strip().lower()
        if key not in self.properties:
            raise InputError(
                f"{self.source_path}: no property {name!r}; available: {self.properties}"
            )
        return self.Y[:, self.properties.index(key)]

    def instrument(self, name: str) -> np.ndarray:
        if name not in self.spectra:
            raise InputError(
                f"{self.source_path}: no instrument {name!r}; available: {list(self.spectra)}"
            )
        return self.spectra[name]


# ---------------------------------------------------------------- Eigenvector DSO structs


def _mat_bytes_from_zip(path: Path) -> tuple[bytes, str]:
    """The single .mat member of an Eigenvector download zip, read in memory."""
    try:
        with zipfile.ZipFile(path) as zf:
            mats = [n for n in zf.namelist() if n.lower().endswith(".mat")]
            if len(mats) != 1:
                raise InputError(f"{path}: expected exactly one .mat member, found {mats}")
            return zf.read(mats[0]), f"{path}!{mats[0]}"
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise InputError(f"{path}: corrupt or unreadable zip: {e}") from e


def _load_mat(path: str | os.PathLike) -> tuple[dict, str]:
    """Variables of a .mat file, or of the one .mat inside a zip; and the label for messages."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    source, label = path, str(path)
    if path.suffix.lower() == ".zip":
        data, label = _mat_bytes_from_zip(path)
        source = io.BytesIO(data)
    try:
        return scipy.io.loadmat(source, struct_as_record=False, squeeze_me=True), label
    except (OSError, ValueError, TypeError, EOFError, NotImplementedError) as e:
        # scipy reports truncation as "could not read bytes" (OSError), bad headers as ValueError.
        raise InputError(
            f"{label}: not a readable MATLAB v5 file (truncated or corrupt?): {e}"
        ) from e


def _require(mat: dict, names, label: str) -> None:
    missing = [n for n in names if n not in mat]
    if missing:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise InputError(f"{label}: missing variable(s) {missing}; the file holds {found}")


def _cell(field, mode: int, label: str, what: str):
    """Entry {mode, set 1} of a DSO cell field such as label or axisscale (0-based mode)."""
    cells = np.asarray(field, dtype=object)
    if cells.ndim == 2:
        return cells[mode, 0]
    if cells.ndim == 1 and cells.size > mode:  # squeeze_me drops the singleton "set" axis
        return cells[mode]
    raise InputError(f"{label}: {what} is not a DataSet cell array (shape {cells.shape})")


def _dso_data(mat: dict, var: str, label: str) -> np.ndarray:
    obj = mat[var]
    if not hasattr(obj, "data"):
        raise InputError(f"{label}: variable {var!r} is not a DataSet struct (no .data)")
    try:
        data = np.atleast_2d(np.asarray(obj.data, dtype=np.float64))
    except (TypeError, ValueError) as e:
        raise InputError(f"{label}: {var}.data is not numeric ({e})") from e
    if data.ndim != 2 or data.size == 0:
        raise InputError(f"{label}: {var}.data is empty or not a matrix (shape {data.shape})")
    return data


def _dso_axis(mat: dict, var: str, label: str) -> np.ndarray | None:
    """Column-mode axisscale (wavelengths), or None when the DSO has none."""
    obj = mat[var]
    if not hasattr(obj, "axisscale"):
        return None
    axis = np.asarray(_cell(obj.axisscale, 1, label, f"{var}.axisscale"))
    if axis.size == 0 or axis.dtype.kind not in "iuf":
        return None
    return axis.astype(np.float64).ravel()


def _dso_labels(mat: dict, var: str, label: str) -> list[str]:
    """Column-mode labels, stripped and lower-cased (MATLAB pads char rows with blanks)."""
    obj = mat[var]
    if not hasattr(obj, "label"):
        raise InputError(f"{label}: {var} has no .label field to name its columns")
    names = _cell(obj.label, 1, label, f"{var}.label")
    if isinstance(names, str):
        names = [names]
    names = [str(n).strip().lower() for n in np.asarray(names, dtype=object).ravel()]
    if not names or any(not n for n in names):
        raise InputError(f"{label}: {var}.label{{2,1}} holds no column names ({names})")
    if len(set(names)) != len(names):
        raise InputError(f"{label}: {var} has duplicate column names {names}")
    return names


def _spectra_with_axis(mat: dict, variables: dict[str, str], label: str):
    """Spectra per key and the one wavelength axis they all share (every DSO that carries a
    column axisscale must carry the same one; at least one must carry it)."""
    axis = None
    spectra = {inst: _dso_data(mat, var, label) for inst, var in variables.items()}
    for var in variables.values():
        this = _dso_axis(mat, var, label)
        if this is None:
            continue
        if axis is None:
            axis = this
        elif this.shape != axis.shape or not np.array_equal(this, axis):
            raise InputError(f"{label}: {var} has a different wavelength axis from the others")
    if axis is None:
        raise InputError(f"{label}: none of {list(variables.values())} has a wavelength axisscale")
    for inst, var in variables.items():
        if spectra[inst].shape[1] != axis.size:
            raise InputError(
                f"{label}: {var} has {spectra[inst].shape[1]} columns but the axis has {axis.size}"
            )
    return spectra, axis


def read_corn_mat(path: str | os.PathLike) -> BenchmarkDataset:
    """Eigenvector corn.mat (or the zip holding it): instruments m5, mp5, mp6 and propvals."""
    mat, label = _load_mat(path)
    _require(mat, [*CORN_INSTRUMENTS.values(), "propvals"], label)
    spectra, axis = _spectra_with_axis(mat, CORN_INSTRUMENTS, label)
    Y = _dso_data(mat, "propvals", label)
    properties = _dso_labels(mat, "propvals", label)
    if len(properties) != Y.shape[1]:
        raise InputError(f"{label}: propvals has {Y.shape[1]} columns but {len(properties)} labels")
    for inst, X in spectra.items():
        if X.shape[0] != Y.shape[0]:
            raise InputError(
                f"{label}: {CORN_INSTRUMENTS[inst]} has {X.shape[0]} rows, propvals {Y.shape[0]}"
            )
    return BenchmarkDataset("corn", axis, spectra, properties, Y, None, label)


def read_tablet_mat(path: str | os.PathLike) -> BenchmarkDataset:
    """Eigenvector nir_shootout_2002.mat: {calibrate,validate,test}_{1,2,Y} DataSet structs.

    Rows are assembled calibrate, validate, test (the file stores them calibrate, test,
    validate), the same order as the ChemometricsData CSV export.
    """
    mat, label = _load_mat(path)
    _require(mat, [f"{s}_{k}" for s in TABLET_SPLITS for k in (*TABLET_INSTRUMENTS, "Y")], label)
    spectral = {f"{s}_{i}": f"{s}_{i}" for s in TABLET_SPLITS for i in TABLET_INSTRUMENTS}
    blocks, axis = _spectra_with_axis(mat, spectral, label)
    parts, properties = [], None
    for split in TABLET_SPLITS:
        spectra = {inst: blocks[f"{split}_{inst}"] for inst in TABLET_INSTRUMENTS}
        Y = _dso_data(mat, f"{split}_Y", label)
        names = _dso_labels(mat, f"{split}_Y", label)
        if len(names) != Y.shape[1]:
            raise InputError(f"{label}: {split}_Y has {Y.shape[1]} columns, {len(names)} labels")
        if properties is not None and names != properties:
            raise InputError(f"{label}: {split}_Y labels {names} differ from {properties}")
        properties = names
        for inst, X in spectra.items():
            if X.shape[0] != Y.shape[0]:
                raise InputError(
                    f"{label}: {split}_{inst} has {X.shape[0]} rows, {split}_Y {Y.shape[0]}"
                )
        parts.append((split, spectra, Y))
    spectra = {i: np.vstack([p[1][i] for p in parts]) for i in TABLET_INSTRUMENTS}
    Y = np.vstack([p[2] for p in parts])
    split = np.concatenate([np.full(p[2].shape[0], p[0]) for p in parts]).astype(str)
    return BenchmarkDataset("tablet", axis, spectra, properties, Y, split, label)


# ---------------------------------------------------------------- ChemometricsData CSV export


@dataclass
class _TabletCsv:
    wavelengths: np.ndarray
    properties: list[str]
    split: np.ndarray
    Y: np.ndarray
    X: np.ndarray


def _as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _read_tablet_csv_one(path: str | os.PathLike) -> _TabletCsv:
    """One instrument's CSV: SampleType, property columns, then one column per wavelength."""
    label = str(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError as e:
        raise InputError(f"{label}: file not found") from e
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{label}: cannot read as UTF-8 CSV: {e}") from e
    if not rows:
        raise InputError(f"{label}: empty file")
    header = [h.strip() for h in rows[0]]
    if header[0].lower() != "sampletype":
        raise InputError(f"{label}: first column is {header[0]!r}, expected 'SampleType'")
    numeric = [_as_float(h) is not None for h in header]
    first_band = numeric.index(True) if True in numeric else len(header)
    if not all(numeric[first_band:]):
        raise InputError(f"{label}: non-numeric wavelength headers after column {first_band + 1}")
    properties = [h.lower() for h in header[1:first_band]]
    wavelengths = np.array([float(h) for h in header[first_band:]])
    if not properties or wavelengths.size < 2 or np.any(np.diff(wavelengths) <= 0):
        raise InputError(
            f"{label}: expected property columns then increasing wavelengths in the header"
        )
    splits, values = [], []
    for line_no, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue  # trailing blank line
        if len(row) != len(header):
            raise InputError(f"{label}: line {line_no} has {len(row)} fields, header {len(header)}")
        kind = row[0].strip().lower()
        if kind not in TABLET_SPLIT_LABELS:
            raise InputError(
                f"{label}: line {line_no}: unknown SampleType {row[0]!r}; "
                f"expected one of {sorted(TABLET_SPLIT_LABELS)}"
            )
        try:
            values.append([float(c) for c in row[1:]])
        except ValueError as e:
            raise InputError(f"{label}: line {line_no}: non-numeric value ({e})") from e
        splits.append(TABLET_SPLIT_LABELS[kind])
    if not values:
        raise InputError(f"{label}: no data rows")
    table = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(table)):
        bad = int(np.argwhere(~np.isfinite(table))[0, 0]) + 2
        raise InputError(f"{label}: non-finite value on data line {bad}")
    k = len(properties)
    return _TabletCsv(wavelengths, properties, np.array(splits), table[:, :k], table[:, k:])


def read_tablet_csv(
    path_inst1: str | os.PathLike, path_inst2: str | os.PathLike
) -> BenchmarkDataset:
    """IDRC 2002 tablets from the two ChemometricsData CSVs (instrument 1, instrument 2).

    The files must describe the same samples in the same order: same wavelengths, rows,
    property names, split labels and reference values, else InputError naming both files.
    """
    one, two = _read_tablet_csv_one(path_inst1), _read_tablet_csv_one(path_inst2)
    both = f"{path_inst1} vs {path_inst2}"
    if one.wavelengths.shape != two.wavelengths.shape or not np.array_equal(
        one.wavelengths, two.wavelengths
    ):
        raise InputError(f"{both}: wavelength headers disagree")
    if one.X.shape[0] != two.X.shape[0]:
        raise InputError(f"{both}: row counts differ ({one.X.shape[0]} vs {two.X.shape[0]})")
    if one.properties != two.properties:
        raise InputError(f"{both}: property columns differ ({one.properties} vs {two.properties})")
    if not np.array_equal(one.split, two.split):
        row = int(np.argmax(one.split != two.split)) + 2
        raise InputError(f"{both}: SampleType differs first on line {row}; rows are not aligned")
    if not np.array_equal(one.Y, two.Y):
        row = int(np.argmax(np.any(one.Y != two.Y, axis=1))) + 2
        raise InputError(f"{both}: reference values differ first on line {row}; rows not aligned")
    return BenchmarkDataset(
        "tablet",
        one.wavelengths,
        {"1": one.X, "2": two.X},
        one.properties,
        one.Y,
        one.split,
        f"{path_inst1},{path_inst2}",
    )


# ---------------------------------------------------------------- dispatch


def load_benchmark(name: str, paths: list[str | os.PathLike]) -> BenchmarkDataset:
    """Read benchmark `name` ("corn" | "tablet") from its file(s), by file suffix.

    corn: [corn.mat] or [corn.mat_.zip]. tablet: [instrument1.csv, instrument2.csv] (in that
    order) or [nir_shootout_2002.mat] or its zip.
    """
    paths = [Path(p) for p in paths]
    suffixes = [p.suffix.lower() for p in paths]
    readers = {"corn": read_corn_mat, "tablet": read_tablet_mat}
    if name not in readers:
        raise InputError(f"benchmark name {name!r} unknown; available: {sorted(readers)}")
    if name == "tablet" and suffixes == [".csv", ".csv"]:
        return read_tablet_csv(paths[0], paths[1])
    if len(paths) == 1 and suffixes[0] in (".mat", ".zip"):
        return readers[name](paths[0])
    expected = "one .mat or .zip" + (" or two .csv files" if name == "tablet" else "")
    raise InputError(
        f"benchmark {name!r}: cannot read {[str(p) for p in paths]}; expected {expected}"
    )


def fetch_benchmark(
    name: str, raw_dir: str | os.PathLike, mirror: str | None = None, *, progress: bool = False
) -> list[Path]:
    """Fetch benchmark `name` into `raw_dir/<source>/` and return the files load_benchmark reads.

    corn: the Eigenvector zip, then its corn.mat, checked against CORN_MAT_SHA256. tablet: the
    two ChemometricsData CSVs (the .mat is no longer published anywhere we can verify).
    """
    raw_dir = Path(raw_dir)
    if name == "corn":
        archive = fetch(
            CORN_ZIP, raw_dir / CORN_ZIP.source / CORN_ZIP.name, mirror, progress=progress
        )
        [mat] = safe_extract(archive, raw_dir / CORN_ZIP.source, ["corn.mat"])
        try:
            verify(mat, sha256=CORN_MAT_SHA256)
        except InputError:
            mat.unlink(missing_ok=True)
            raise
        return [mat]
    if name == "tablet":
        return [
            fetch(raw, raw_dir / raw.source / raw.name, mirror, progress=progress)
            for raw in TABLET_CSV.values()
        ]
    raise InputError(f"benchmark name {name!r} unknown; available: ['corn', 'tablet']")
