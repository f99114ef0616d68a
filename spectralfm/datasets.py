"""The calibration-transfer benchmarks: Eigenvector corn, the IDRC 2002 tablet shoot-out, the
IDRC 2016 wheat shoot-out and the Chaix (2020) sugarcane handheld-spectrometer set.

All are read from the files the publishers ship; property names, their order, wavelengths and
split labels come from the files, never from constants here (a swapped label is a silent error
in every downstream table). The Eigenvector .mat files hold MATLAB DataSet objects (DSO) saved as
structs: `.data` (n, p), `.label{mode, set}` (names per mode), `.axisscale{mode, set}` (axis values).

Wheat and sugarcane instruments measure different wavelength ranges: each instrument has its own
axis (`BenchmarkDataset.axes`, `.axis(name)`), and `wavelengths_nm` is None there (it is the one
shared axis only where every instrument has the same one: corn, tablet). Their files are matched
by sample ID: an ID missing from any file is dropped from all of them, logged as a warning and
recorded in `BenchmarkDataset.unmatched` (see `_match_ids`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import os
import zipfile
from dataclasses import dataclass, field
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

# IDRC 2016 wheat shoot-out. Distributed by CNIRS (cnirs.org) to shoot-out participants, with no
# public direct file link; the canonical URLs are therefore the public repository the files were
# taken from (lmmcsu/NIRSpecPFN, pinned commits; the B workbook was deleted there later).
_NIRSPECPFN = "https://raw.githubusercontent.com/lmmcsu/NIRSpecPFN"
_NIRSPECPFN_A = f"{_NIRSPECPFN}/ba93dfb9d67b07f3465196b349f0f83d9baafbc8/Datasets"
_NIRSPECPFN_B = f"{_NIRSPECPFN}/5b3f6c4a077ffc0ec3f6092a3d5705f2f1b29141/Dataset"
# instrument -> workbook, in the order load_benchmark("wheat", ...) takes them. Manufacturer A's
# units A1-A3 are the shoot-out's calibration workbooks; A4 is its "Test_ManufacturerA" unit.
WHEAT_XLSX: dict[str, RawFile] = {
    inst: RawFile("idrc2016", name, f"{base}/{name}", sha256=sha, size=size)
    for inst, name, base, sha, size in [
        (
            "A1",
            "Cal_ManufacturerA1.xlsx",
            _NIRSPECPFN_A,
            "5268a71843d6edb0b7d0630fb3a5cc6c9ed4f99bf5090db62730d9ccd053f959",
            1549882,
        ),
        (
            "A2",
            "Cal_ManufacturerA2.xlsx",
            _NIRSPECPFN_A,
            "a8f17a61167bf447eb4d279fa8315aeaff97534e8c784be50562de6c763a261c",
            1549599,
        ),
        (
            "A3",
            "Cal_ManufacturerA3.xlsx",
            _NIRSPECPFN_A,
            "67cc030125c3b3a912de91b5ea20112e00bc8ff89c8b7c1d127a21774b6e81a1",
            1548497,
        ),
        (
            "A4",
            "Test_ManufacturerA.xlsx",
            _NIRSPECPFN_A,
            "4df9ee283fe66fa52c8542fe2f2d268173f79b7e57a4707148a561b4c4015b4e",
            1887867,
        ),
        (
            "B",
            "Test_ManufacturerB.xlsx",
            _NIRSPECPFN_B,
            "1d28702628128ca7d2c0d037d8f1e7bbf6ec77fe618672ca2c66be03984af214",
            2429767,
        ),
    ]
}
WHEAT_INSTRUMENTS = tuple(WHEAT_XLSX)

# Chaix (2020) sugarcane, published on Mendeley Data (doi 10.17632/rnvvftvmh7.1) without stable
# per-file links; the canonical URLs are the public repository copy (sr2322/SugarcaneNIR, pinned).
_SUGARCANE = (
    "https://raw.githubusercontent.com/sr2322/SugarcaneNIR/"
    "766250dfb6bcf1a38dc3d3385ea920f0a72a2e5f/Chaix_Dataset"
)
# Tidy instrument names (maker's spelling, no spaces or hyphens, so pair slugs "a-to-b" parse):
# Felix F750, Viavi MicroNIR 1700 (three replicate files, averaged) and 2200, Spectral Engines
# NIRONE 2.2, TI NIRscan Nano, Consumer Physics SCiO, TellSpec.
SUGARCANE_SPECTRA: dict[str, tuple[str, ...]] = {
    "F750": ("F750.CSV",),
    "MicroNIR1700": ("Micronir1700rep1.CSV", "Micronir1700rep2.CSV", "Micronir1700rep3.CSV"),
    "MicroNIR2200": ("Micronir2200.CSV",),
    "NIRONE2.2": ("Nirone22.CSV",),
    "NIRscanNano": ("Nirscan_nano.CSV",),
    "SCiO": ("Scio.CSV",),
    "TellSpec": ("Tellspec.CSV",),
}
SUGARCANE_INSTRUMENTS = tuple(SUGARCANE_SPECTRA)
SUGARCANE_REFERENCES = "References.csv"
# file name -> RawFile, in the order load_benchmark("sugarcane", ...) takes them
SUGARCANE_CSV: dict[str, RawFile] = {
    name: RawFile("chaix_sugarcane", name, f"{_SUGARCANE}/{name}", sha256=sha, size=size)
    for name, sha, size in [
        ("F750.CSV", "2520d1a1da4599019fef7d0e4363b4664f3932a0f960da9c8321e5fcc438af9f", 131187),
        (
            "Micronir1700rep1.CSV",
            "ea7e488e81ef620615957d272b42c73cdcdabf3cc52c6c496098dd4f820cdc6d",
            68308,
        ),
        (
            "Micronir1700rep2.CSV",
            "172a6652fca58c8c9fe054fd575eac510a51e6e64168fdd824d9a7faee11b3c5",
            68213,
        ),
        (
            "Micronir1700rep3.CSV",
            "ab4d575adfe15dc9cce2eadd0097ac10fa9245c2a4e2fae0827f82c034172222",
            68255,
        ),
        (
            "Micronir2200.CSV",
            "b816950be7cccb8fcfdb175a6316101dd959afc99cf6a6f0d2b71a235e6aff5c",
            67956,
        ),
        (
            "Nirone22.CSV",
            "92aa4d684e24862d99761cb872f9bf5e5fa20992dc909c7d0d944b9492d2606b",
            108568,
        ),
        (
            "Nirscan_nano.CSV",
            "79be7499bc5b6a183eecbc878f5d9579abdecb2df11cded481fea2f290818992",
            125144,
        ),
        ("Scio.CSV", "a053159dcddb29c9acd5a8bc9489c6348c0e23e5bbcc70708e21cbf43b729a47", 178752),
        (
            "Tellspec.CSV",
            "dd5c77a3a44895ac2ea58c9ced28e6a2a008eb34bb466bdfc95bf3fb025192b0",
            139901,
        ),
        (
            SUGARCANE_REFERENCES,
            "212ac27cf01c44f1ec962e35243f108205b958e30f8fdd87bb15e564187cf7ec",
            1678,
        ),
    ]
}
# Replicate files print their wavelengths with different precision (914.29435 vs 1657.61694 /
# 1657.6169): axes agreeing to this tolerance are the same axis; replicate 1's is used.
REPLICATE_AXIS_TOL_NM = 1e-3
# Cells meaning "no value" in the sugarcane references (compared after strip, case-insensitive)
MISSING_CELLS = ("", "na", "nan")

log = logging.getLogger(__name__)


@dataclass
class BenchmarkDataset:
    """Spectra of the same samples on several instruments, with reference values.

    Rows are aligned across instruments and `Y`. Each instrument has its own wavelength axis in
    `axes` (nm, strictly increasing; `axis(name)`); `wavelengths_nm` is that axis when every
    instrument shares it (corn, tablet, or any set built so), else None (wheat: unit B covers
    570-1100 nm, the A units 730-1100 nm; sugarcane: seven different ranges). Put two instruments
    on one grid with `spectralfm.transfer.axes.common_grid` / `resample`.

    Missing reference values are NaN (score a property on the samples that have it).
    `unmatched`: for each file/instrument, the sample IDs other files have but it lacks (all of
    them dropped); empty when every file holds the same samples. `qc`: quality figures of the
    assembly (sugarcane: MicroNIR 1700 replicate spread). `replicates`: the individual replicate
    spectra (aligned rows) of an instrument whose `spectra` entry is their mean.
    """

    name: str  # "corn" | "tablet" | "wheat" | "sugarcane"
    wavelengths_nm: np.ndarray | None  # (p,) shared by all instruments, or None (see axes)
    spectra: dict[str, np.ndarray]  # instrument -> (n, p_i) float64, rows aligned
    properties: list[str]  # lower-case, in file order
    Y: np.ndarray  # (n, k), columns in `properties` order; NaN = no reference value
    split: np.ndarray | None  # (n,) "calibrate"/"validate"/"test", or None
    source_path: str
    axes: dict[str, np.ndarray] = field(default_factory=dict)  # instrument -> (p_i,) nm
    sample_ids: np.ndarray | None = None  # (n,) str, where the files carry sample IDs
    unmatched: dict[str, list[str]] = field(default_factory=dict)
    qc: dict[str, float | np.ndarray] = field(default_factory=dict)
    replicates: dict[str, list[np.ndarray]] = field(default_factory=dict)
    quarantined: dict[str, str] = field(default_factory=dict)  # sample -> why it was removed

    def __post_init__(self):
        if not self.axes:
            if self.wavelengths_nm is None:
                raise InputError(f"{self.source_path}: no wavelength axis for the instruments")
            self.axes = {inst: self.wavelengths_nm for inst in self.spectra}
        if set(self.axes) != set(self.spectra):
            raise InputError(
                f"{self.source_path}: axes for {sorted(self.axes)} but spectra for "
                f"{sorted(self.spectra)}"
            )
        for inst, X in self.spectra.items():
            axis = self.axes[inst]
            if X.ndim != 2 or X.shape[1] != axis.size or X.shape[0] != self.Y.shape[0]:
                raise InputError(
                    f"{self.source_path}: instrument {inst} has spectra {X.shape}, an axis of "
                    f"{axis.size} points and {self.Y.shape[0]} reference rows"
                )
            if axis.size > 1 and np.any(np.diff(axis) <= 0):
                raise InputError(f"{self.source_path}: instrument {inst}: axis not increasing")
        if self.wavelengths_nm is None:
            first = next(iter(self.axes.values()))
            if all(a.shape == first.shape and np.array_equal(a, first) for a in self.axes.values()):
                self.wavelengths_nm = first

    @property
    def n_samples(self) -> int:
        return self.Y.shape[0]

    @property
    def instruments(self) -> list[str]:
        return list(self.spectra)

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

    def axis(self, name: str) -> np.ndarray:
        """Wavelengths (nm, increasing) of instrument `name`'s columns."""
        self.instrument(name)
        return self.axes[name]


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


# ---------------------------------------------------------------- multi-file sets matched by sample ID


def _blank(cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _sample_id(cell) -> str | None:
    """A sample ID as text: integral numbers without a decimal part, text stripped; None if blank."""
    if _blank(cell):
        return None
    if isinstance(cell, (int, np.integer)) and not isinstance(cell, bool):
        return str(int(cell))
    text = str(cell).strip()
    number = _as_float(text)
    if number is not None and np.isfinite(number) and number == int(number):
        return str(int(number))
    return text


def _value(cell) -> float:
    """A data cell as float; NaN for an empty or NA cell; ValueError for any other text."""
    if cell is None:
        return float("nan")
    if isinstance(cell, bool):
        raise ValueError(f"boolean {cell}")
    if isinstance(cell, (int, float, np.integer, np.floating)):
        return float(cell)
    text = str(cell).strip()
    if text.lower() in MISSING_CELLS:
        return float("nan")
    return float(text)


def _id_key(sample_id: str):
    """Numeric IDs in numeric order, then text IDs."""
    try:
        return (0, int(sample_id), "")
    except ValueError:
        return (1, 0, sample_id)


@dataclass
class _Table:
    label: str  # file (and sheet) for messages
    ids: list[str]
    names: list[str]  # header after the ID column
    values: np.ndarray  # (n, len(names)) float, NaN where a cell is empty or NA


def _table(label: str, header, rows, pad_short_rows: bool) -> _Table:
    """A table whose first column is the sample ID. Blank rows are skipped; cells beyond the
    header must be blank; short rows are padded with empty cells only where `pad_short_rows`
    (spreadsheets omit trailing empty cells, CSV files must not)."""
    header = list(header)
    while header and _blank(header[-1]):
        header.pop()
    width = len(header)
    if width < 2:
        raise InputError(f"{label}: the header has no columns after the sample ID column")
    names = ["" if h is None else str(h).strip() for h in header[1:]]
    ids: list[str] = []
    values: list[list[float]] = []
    seen: dict[str, int] = {}
    for row_no, row in rows:
        cells = list(row)
        if all(_blank(c) for c in cells):
            continue  # trailing empty rows (Test_ManufacturerB.xlsx has one)
        if len(cells) > width:
            if not all(_blank(c) for c in cells[width:]):
                raise InputError(f"{label}: row {row_no} has {len(cells)} fields, header {width}")
            cells = cells[:width]
        elif len(cells) < width:
            if not pad_short_rows:
                raise InputError(f"{label}: row {row_no} has {len(cells)} fields, header {width}")
            cells += [None] * (width - len(cells))
        sample_id = _sample_id(cells[0])
        if sample_id is None:
            raise InputError(f"{label}: row {row_no} has values but no sample ID")
        if sample_id in seen:
            raise InputError(
                f"{label}: sample ID {sample_id} appears on rows {seen[sample_id]} and {row_no}"
            )
        seen[sample_id] = row_no
        parsed = []
        for name, cell in zip(names, cells[1:], strict=True):
            try:
                parsed.append(_value(cell))
            except ValueError:
                raise InputError(
                    f"{label}: row {row_no} (sample {sample_id}), column {name!r}: "
                    f"not a number: {cell!r}"
                ) from None
        ids.append(sample_id)
        values.append(parsed)
    if not ids:
        raise InputError(f"{label}: no data rows")
    return _Table(label, ids, names, np.asarray(values, dtype=np.float64))


def _split_columns(table: _Table) -> tuple[list[str], np.ndarray, int]:
    """Property names (lower-case) and wavelengths of a header `<properties>, <wavelengths>`,
    and the index of the first wavelength column."""
    numeric = [_as_float(n) is not None for n in table.names]
    first = numeric.index(True) if True in numeric else len(numeric)
    if not all(numeric[first:]):
        raise InputError(
            f"{table.label}: non-numeric column header after the first wavelength "
            f"{table.names[first]!r}"
        )
    properties = [n.lower() for n in table.names[:first]]
    if any(not p for p in properties) or len(set(properties)) != len(properties):
        raise InputError(f"{table.label}: blank or duplicate property columns {properties}")
    wavelengths = np.array([float(n) for n in table.names[first:]])
    if wavelengths.size < 2 or np.any(np.diff(wavelengths) <= 0):
        raise InputError(f"{table.label}: the wavelength headers are not strictly increasing")
    return properties, wavelengths, first


def _require_finite_spectra(table: _Table, X: np.ndarray, wavelengths: np.ndarray) -> None:
    if not np.all(np.isfinite(X)):
        row, col = np.argwhere(~np.isfinite(X))[0]
        raise InputError(
            f"{table.label}: sample {table.ids[row]}: missing or non-finite spectral value at "
            f"{wavelengths[col]:g} nm"
        )


def _match_ids(name: str, sources: dict[str, list[str]]) -> tuple[list[str], dict[str, list[str]]]:
    """The sample IDs present in every source (in the first source's order), and for each source
    the IDs that some other source has and it lacks.

    An ID missing from any file is dropped from all of them, so every instrument pair (and every
    property) is evaluated on the same rows; the drop is never silent: it is logged as a warning
    and returned (BenchmarkDataset.unmatched). InputError when no ID is in every file.
    """
    present = [set(ids) for ids in sources.values()]
    everywhere = set.intersection(*present)
    anywhere = set.union(*present)
    unmatched = {
        source: sorted(anywhere - set(ids), key=_id_key)
        for source, ids in sources.items()
        if anywhere - set(ids)
    }
    if not everywhere:
        raise InputError(f"{name}: no sample ID is in every file ({sorted(sources)})")
    if unmatched:
        dropped = sorted(anywhere - everywhere, key=_id_key)
        detail = "; ".join(f"{src} lacks {', '.join(ids)}" for src, ids in unmatched.items())
        log.warning(
            "%s: %d sample ID(s) are not in every file and are dropped from all: %s (%s)",
            name,
            len(dropped),
            ", ".join(dropped),
            detail,
        )
    first = next(iter(sources.values()))
    return [i for i in first if i in everywhere], unmatched


def _rows_of(table: _Table, kept: list[str]) -> np.ndarray:
    index = {sample_id: row for row, sample_id in enumerate(table.ids)}
    return np.array([index[i] for i in kept], dtype=np.int64)


def _ordered_inputs(name: str, paths, expected: list[str]) -> list[Path]:
    """Paths given in the documented order; a known file name in another file's place (swapped
    inputs would silently swap instruments) is an InputError."""
    paths = [Path(p) for p in paths]
    if len(paths) != len(expected):
        raise InputError(
            f"benchmark {name!r}: expected {len(expected)} files ({', '.join(expected)}, in that "
            f"order), got {len(paths)}: {[str(p) for p in paths]}"
        )
    lower = [e.lower() for e in expected]
    for i, path in enumerate(paths):
        if path.name.lower() in lower and lower.index(path.name.lower()) != i:
            raise InputError(
                f"benchmark {name!r}: {path} is given in place of {expected[i]}; the files must "
                f"come in the order {expected}"
            )
    return paths


def _source_label(paths: list[Path]) -> str:
    return ",".join(str(p) for p in paths)


# ---------------------------------------------------------------- IDRC 2016 wheat (xlsx)


def _read_xlsx_table(path: Path) -> _Table:
    """The one sheet of a workbook whose first cell is 'ID' (Sheet1 in the calibration
    workbooks, Wheat in the test ones; the other sheets are empty), read in read-only mode."""
    import xml.etree.ElementTree as ET

    import openpyxl  # a dependency; imported here so workflow planning does not need it
    from openpyxl.utils.exceptions import InvalidFileException

    label = str(path)
    if not path.is_file():
        raise InputError(f"{label}: file not found")
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, EOFError) as e:
        raise InputError(f"{label}: not a readable .xlsx workbook: {e}") from e
    try:
        sheets = []
        for sheet in workbook.worksheets:
            first = next(sheet.iter_rows(max_row=1, values_only=True), None)
            if first and isinstance(first[0], str) and first[0].strip().lower() == "id":
                sheets.append(sheet)
        if len(sheets) != 1:
            raise InputError(
                f"{label}: expected exactly one sheet whose header starts with 'ID', found "
                f"{[s.title for s in sheets]} among sheets {workbook.sheetnames}"
            )
        rows = sheets[0].iter_rows(values_only=True)
        header = next(rows)
        return _table(f"{label}[{sheets[0].title}]", header, enumerate(rows, start=2), True)
    except InputError:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError, ET.ParseError) as e:
        raise InputError(f"{label}: corrupt .xlsx workbook: {e}") from e
    finally:
        workbook.close()


def read_idrc2016_xlsx(paths) -> BenchmarkDataset:
    """IDRC 2016 wheat from its five workbooks, in WHEAT_XLSX order (units A1, A2, A3, A4, B).

    Each holds `ID, Protein, <wavelengths nm>`; rows are matched by ID (see `_match_ids`). The
    reference values must agree between workbooks for every kept sample, else InputError.
    """
    paths = _ordered_inputs("wheat", paths, [raw.name for raw in WHEAT_XLSX.values()])
    tables = {inst: _read_xlsx_table(path) for inst, path in zip(WHEAT_XLSX, paths, strict=True)}
    kept, unmatched = _match_ids(
        "wheat", {path.name: t.ids for path, t in zip(paths, tables.values(), strict=True)}
    )
    spectra, axes = {}, {}
    properties, Y, reference = None, None, None
    for inst, table in tables.items():
        names, wavelengths, first = _split_columns(table)
        if not names:
            raise InputError(f"{table.label}: no property column between ID and the wavelengths")
        rows = _rows_of(table, kept)
        X, values = table.values[rows, first:], table.values[rows, :first]
        _require_finite_spectra(table, table.values[:, first:], wavelengths)
        if properties is None:
            properties, Y, reference = names, values, table
        elif names != properties:
            raise InputError(
                f"{reference.label} vs {table.label}: property columns differ "
                f"({properties} vs {names})"
            )
        elif not np.array_equal(values, Y, equal_nan=True):
            row, col = np.argwhere(~((values == Y) | (np.isnan(values) & np.isnan(Y))))[0]
            raise InputError(
                f"{reference.label} vs {table.label}: {properties[col]} of sample {kept[row]} "
                f"differs ({Y[row, col]} vs {values[row, col]})"
            )
        spectra[inst], axes[inst] = X, wavelengths
    return BenchmarkDataset(
        "wheat",
        None,
        spectra,
        properties,
        Y,
        None,
        _source_label(paths),
        axes=axes,
        sample_ids=np.array(kept),
        unmatched=unmatched,
    )


# ---------------------------------------------------------------- Chaix sugarcane (';' CSV)


def _read_semicolon_csv(path: Path) -> _Table:
    """A ';'-separated table with space-padded cells ('100   ;-0.0179 ;...') and a blank first
    header cell (the sample column), as the Chaix files are written."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise InputError(f"{label}: file not found") from e
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{label}: cannot read as UTF-8 text: {e}") from e
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    if not rows:
        raise InputError(f"{label}: empty file")
    return _table(label, rows[0], enumerate(rows[1:], start=2), False)


def read_chaix_sugarcane_csv(paths) -> BenchmarkDataset:
    """Chaix sugarcane from its ten CSV files, in SUGARCANE_CSV order (spectra, then References).

    Spectra files: `<blank>;<wavelengths nm>`, one row per sample ID. References.csv:
    `Sample;TS;CP;ADF;IVOMD`, 'NA' (or 'NA ', or empty) -> NaN. Files are matched by sample ID
    (see `_match_ids`); a sample absent from References.csv counts as unmatched, a sample with an
    NA reference is kept with NaN. The three MicroNIR 1700 replicate files are averaged per
    sample (one spectrum per sample and instrument, like every other instrument here); the
    individual replicates stay in `replicates["MicroNIR1700"]` and their spread in
    `qc["MicroNIR1700_replicate_rmsd"]`: the RMS deviation of the replicates from their mean over
    all samples and channels (`..._by_sample`: per sample; `..._sample_sd`: RMS over channels of
    the between-sample standard deviation of the means, for scale).
    """
    names = list(SUGARCANE_CSV)
    paths = _ordered_inputs("sugarcane", paths, names)
    by_name = dict(zip(names, paths, strict=True))
    tables: dict[str, tuple[_Table, np.ndarray]] = {}
    for files in SUGARCANE_SPECTRA.values():
        for file in files:
            table = _read_semicolon_csv(by_name[file])
            properties, wavelengths, first = _split_columns(table)
            if properties:
                raise InputError(
                    f"{table.label}: expected only wavelength columns after the sample column, "
                    f"found {properties}"
                )
            _require_finite_spectra(table, table.values, wavelengths)
            tables[file] = (table, wavelengths)
    refs = _read_semicolon_csv(by_name[SUGARCANE_REFERENCES])
    properties = [n.lower() for n in refs.names]
    distinct = len(set(properties)) == len(properties)
    if not distinct or any(not p or _as_float(p) is not None for p in properties):
        raise InputError(
            f"{refs.label}: expected distinct property names after the sample column, got "
            f"{refs.names}"
        )
    sources = {by_name[file].name: t.ids for file, (t, _) in tables.items()}
    sources[by_name[SUGARCANE_REFERENCES].name] = refs.ids
    kept, unmatched = _match_ids("sugarcane", sources)
    spectra, axes, replicates, qc = {}, {}, {}, {}
    for inst, files in SUGARCANE_SPECTRA.items():
        blocks, axis = [], tables[files[0]][1]
        for file in files:
            table, wavelengths = tables[file]
            if wavelengths.shape != axis.shape or np.max(np.abs(wavelengths - axis)) > (
                REPLICATE_AXIS_TOL_NM
            ):
                raise InputError(
                    f"{by_name[files[0]]} vs {table.label}: replicate wavelength axes differ"
                )
            blocks.append(table.values[_rows_of(table, kept)])
        if len(blocks) == 1:
            spectra[inst] = blocks[0]
        else:
            stack = np.stack(blocks)
            mean = stack.mean(axis=0)
            squared = (stack - mean) ** 2
            spectra[inst], replicates[inst] = mean, blocks
            qc[f"{inst}_replicate_rmsd"] = float(np.sqrt(squared.mean()))
            qc[f"{inst}_replicate_rmsd_by_sample"] = np.sqrt(squared.mean(axis=(0, 2)))
            qc[f"{inst}_sample_sd"] = float(np.sqrt((mean.std(axis=0) ** 2).mean()))
        axes[inst] = axis
    return BenchmarkDataset(
        "sugarcane",
        None,
        spectra,
        properties,
        refs.values[_rows_of(refs, kept)],
        None,
        _source_label(paths),
        axes=axes,
        sample_ids=np.array(kept),
        unmatched=unmatched,
        qc=qc,
        replicates=replicates,
    )


# ---------------------------------------------------------------- dispatch


def load_benchmark(name: str, paths: list[str | os.PathLike]) -> BenchmarkDataset:
    """Read benchmark `name` ("corn" | "tablet" | "wheat" | "sugarcane") from its file(s), with
    recording faults quarantined (`quarantine_recording_faults`). Files as `read_benchmark`."""
    return quarantine_recording_faults(read_benchmark(name, paths))


# A spectrum whose largest channel-to-channel step is this many times the median of the same
# instrument's largest steps is a recording fault (a detector segment offset), not chemistry. On
# the four benchmarks the ratios are <= 5.5 except wheat A2's sample 20140190 (80: its 851.5-963 nm
# segment is shifted by about 0.58 absorbance). A spectra-only rule, applied before any split.
STEP_FAULT_RATIO = 20.0


def quarantine_recording_faults(data: BenchmarkDataset) -> BenchmarkDataset:
    """The dataset without samples whose spectrum on any instrument has a step discontinuity
    (STEP_FAULT_RATIO); each is logged and recorded in `data.quarantined` (sample -> reason).
    Samples are paired across instruments, so a fault on one removes the sample from all."""
    bad: dict[int, str] = {}
    for inst, X in data.spectra.items():
        steps = np.abs(np.diff(X, axis=1)).max(axis=1)
        ratio = steps / np.median(steps)
        for row in np.flatnonzero(ratio > STEP_FAULT_RATIO):
            bad.setdefault(int(row), f"{inst}: a {steps[row]:.3g} step between channels, "
                           f"{ratio[row]:.0f}x the instrument's median largest step")  # fmt: skip
    if not bad:
        return data
    keep = np.setdiff1d(np.arange(data.n_samples), sorted(bad))
    ids = data.sample_ids if data.sample_ids is not None else np.arange(data.n_samples).astype(str)
    quarantined = {str(ids[row]): reason for row, reason in sorted(bad.items())}
    for sample, reason in quarantined.items():
        log.warning("%s: sample %s quarantined (recording fault: %s)", data.source_path, sample,
                    reason)  # fmt: skip
    return dataclasses.replace(
        data,
        spectra={inst: X[keep] for inst, X in data.spectra.items()},
        Y=data.Y[keep],
        split=None if data.split is None else data.split[keep],
        sample_ids=None if data.sample_ids is None else data.sample_ids[keep],
        replicates={k: [r[keep] for r in v] for k, v in data.replicates.items()},
        quarantined={**data.quarantined, **quarantined},
    )


def read_benchmark(name: str, paths: list[str | os.PathLike]) -> BenchmarkDataset:
    """Read benchmark `name` ("corn" | "tablet" | "wheat" | "sugarcane") from its file(s), as the
    files hold it.

    corn: [corn.mat] or [corn.mat_.zip]. tablet: [instrument1.csv, instrument2.csv] (in that
    order) or [nir_shootout_2002.mat] or its zip. wheat: the five .xlsx workbooks in WHEAT_XLSX
    order. sugarcane: the ten .csv files in SUGARCANE_CSV order.
    """
    paths = [Path(p) for p in paths]
    suffixes = [p.suffix.lower() for p in paths]
    readers = {"corn": read_corn_mat, "tablet": read_tablet_mat}
    known = sorted([*readers, "wheat", "sugarcane"])
    if name not in known:
        raise InputError(f"benchmark name {name!r} unknown; available: {known}")
    if name == "wheat":
        if paths and all(s == ".xlsx" for s in suffixes):
            return read_idrc2016_xlsx(paths)
        expected = f"the {len(WHEAT_XLSX)} .xlsx workbooks {[r.name for r in WHEAT_XLSX.values()]}"
    elif name == "sugarcane":
        if paths and all(s == ".csv" for s in suffixes):
            return read_chaix_sugarcane_csv(paths)
        expected = f"the {len(SUGARCANE_CSV)} .csv files {list(SUGARCANE_CSV)}"
    else:
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
    two ChemometricsData CSVs (the .mat is no longer published anywhere we can verify). wheat,
    sugarcane: their workbooks / CSV files, each checked against its sha256.
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
    files = {
        "tablet": TABLET_CSV.values(),
        "wheat": WHEAT_XLSX.values(),
        "sugarcane": SUGARCANE_CSV.values(),
    }
    if name in files:
        return [
            fetch(raw, raw_dir / raw.source / raw.name, mirror, progress=progress)
            for raw in files[name]
        ]
    raise InputError(f"benchmark name {name!r} unknown; available: {sorted(['corn', *files])}")
