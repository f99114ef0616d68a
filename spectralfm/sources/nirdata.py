"""Real NIR sets published with R packages (.rda/.RData) and one MATLAB file (mirror `nirdata/`).

None of them is a benchmark of this project (corn, tablet, IDRC 2016 wheat, Chaix sugarcane): the
OHPL wheat set is Kalivas' 100 ground-wheat samples at 1100-2500 nm, not the 248 IDRC 2016 kernels
at 730-1100 nm. Origins and checksums are in spectralfm.catalog.NIRDATA_FILES.

R files are read with `rdata`: parsed with `rdata.parser.parse_file` and converted with a
data.frame constructor that keeps matrix columns (R's `I(matrix)`, as in pls' gasoline and
mayonnaise, prospectr's NIRsoil and multiblock's emulsions), which rdata's default pandas
conversion refuses. The MATLAB file is read with scipy.io.loadmat.

Each set (`SETS`, keyed by file name) names the matrices holding spectra and where their
wavelength axis comes from: the column names where the file has them, otherwise the range its
documentation states (a uniform grid over it; the comment of each such set says so). Wavelengths
in nm become wavenumbers (1e7 / nm) as for every NIR source; y stays absorbance-like (log 1/R or
absorbance as published) except where a set holds reflectance, which becomes log10(1/R).
Modality "nir" (several sets reach into the visible from 350-400 nm).

sample_id: `nirdata:<file stem>:<row id>`, the row id being the set's own sample name (row names
or an id column) where it has one, else the matrix name and row number; replicate measurements
of one sample share the id.

Left out (files in the mirror but not in SETS): chemometrics_NIR.rda (first-derivative spectra),
chemometrics_cereal.rda (derivative spectra), rchemo_forages.rda (published only after SNV and a
Savitzky-Golay 2nd derivative), pls_yarn.RData (no wavelength axis in the file or its docs),
rchemo_asdgap.rda (5 ASD spectra kept with their detector-junction steps, a test case for splice
correction, not representative measurements), fds_Moisturevalues.rda (reference values only),
and the Raman block of multiblock_emulsions.rda (the ChemometricsData.jl Raman_PUFA spectra; this
source is NIR).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spectralfm.errors import InputError
from spectralfm.sources.record import Rejected, SpectrumRecord, spectrum_problem
from spectralfm.sources.units import nm_to_wavenumber, to_absorbance

SOURCE = "nirdata"
_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")


@dataclass(frozen=True)
class NIRSet:
    matrices: tuple[str, ...]  # "object/member" paths of the spectra matrices (rows = spectra)
    nm: tuple[float, float] | None = None  # documented range, for matrices without column names
    columns: str | None = None  # a data.frame's spectral columns, by a regex on their names
    id_column: str | None = None  # a data.frame column naming each sample
    labels: str | None = None  # a variable holding the wavelength labels (MATLAB files)
    replicates: int = 1  # consecutive rows measured on one sample
    y_units: str | None = None  # "reflectance" where the file holds R; None: absorbance-like


SETS: dict[str, NIRSet] = {
    # Chimiometrie 2006 soil library (CRA-W): spc 825 x 700, column names 1100..2498 nm
    "prospectr_NIRsoil.RData": NIRSet(("NIRsoil/spc",)),
    # Kalivas gasoline, log(1/R): NIR 60 x 401, column names "900 nm".."1700 nm"
    "pls_gasoline.RData": NIRSet(("gasoline/NIR",)),
    # Indahl mayonnaise: NIR 162 x 351 without column names; the pls documentation states
    # 1100-2500 nm every 4 nm (351 points). 54 samples measured in triplicate, consecutive rows.
    "pls_mayonnaise.RData": NIRSet(("mayonnaise/NIR",), nm=(1100.0, 2500.0), replicates=3),
    # CIAT/CIRAD cassava, log10(1/R): Xtrain 200 and Xtest 80 x 1050, column names 400..2498 nm,
    # row names the sample numbers
    "rchemo_cassav.rda": NIRSet(("cassav/Xtrain", "cassav/Xtest")),
    # Esbensen gasoline octane, absorbance: X 39 x 226, column names 1102..1552 nm
    "rchemo_octane.rda": NIRSet(("octane/X",)),
    # Afseth emulsions: NIR 69 x 301, column names 1400..2000 nm (the Raman block is left out)
    "multiblock_emulsions.rda": NIRSet(("emulsions/NIR",)),
    # CSIRO Australian soils, Vis-NIR reflectance: columns X350..X2500 (1 nm), sr_no the sample
    "spectacles_australia.rda": NIRSet(
        ("australia",), columns=r"^X\d+$", id_column="sr_no", y_units="reflectance"
    ),
    # Norgaard beer: xtrain 40 and xtest 20 x 576 without column names; the OHPL documentation
    # states 1100-2250 nm every 2 nm (576 points)
    "OHPL_beer.rda": NIRSet(("beer/xtrain", "beer/xtest"), nm=(1100.0, 2250.0)),
    # Rinnan arctic soils: x 108 x 700 without column names. The documentation gives the
    # instrument's 400-2500 nm, which 700 points do not divide; they are 1100-2498 nm every 2 nm
    # (the NIR part of a NIRSystems scan): on that grid the water bands of the mean spectrum fall
    # at 1444 and 1930 nm and C-H at 1730 nm, on a 400-2500 nm grid at 1346 and 1646/1962 nm.
    "OHPL_soil.rda": NIRSet(("soil/x",), nm=(1100.0, 2498.0)),
    # Kalivas wheat, log(1/R): x 100 x 701 without column names; the OHPL documentation states
    # 1100-2500 nm every 2 nm (701 points)
    "OHPL_wheat.rda": NIRSet(("wheat/x",), nm=(1100.0, 2500.0)),
    # Akzo Nobel cellulose sheets, Vis-NIR: nirMN 180 x 1201, column names 400..2500 nm (1.75 nm),
    # row names O1..O180
    "ropls_cellulose.rdata": NIRSet(("cellulose/nirMN",)),
    # UCPH single wheat kernels, NIT: Calibration_X 415 and Validation_X 108 x 100, the axis in
    # VarLabels_X ("850".."1048" nm)
    "UCPH_wheat_kernels_NITSingleSeed.MAT": NIRSet(
        ("Calibration_X", "Validation_X"), labels="VarLabels_X"
    ),
}


@dataclass
class _Frame:
    """An R data.frame as read here: its columns (vectors or matrices) and its row names."""

    columns: dict[str, Any]
    row_names: list[str] | None


def _row_names(names: Any) -> list[str] | None:
    """R row names as strings; None for R's compact default (c(NA, -n)) or none at all."""
    if names is None:
        return None
    values = np.ma.asarray(names)
    if values.dtype.kind in "iu" and len(values) == 2:
        if np.ma.is_masked(values[0]) or values[0] == np.iinfo(np.int32).min:
            return None
    return [str(v) for v in values.tolist()]


def _frame(obj: Mapping[str, Any], attrs: Mapping[str, Any]) -> _Frame:
    return _Frame(dict(obj), _row_names(attrs.get("row.names")))


def _load_r(path: Path) -> dict[str, Any]:
    import rdata

    constructors = {
        **rdata.conversion.DEFAULT_CLASS_MAP,
        "data.frame": _frame,
        "AsIs": lambda obj, attrs: obj,  # I(matrix): the matrix itself
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Unknown encoding. Assumed ASCII." and the like
            return dict(rdata.conversion.convert(rdata.parser.parse_file(path), constructors))
    except Exception as exc:  # rdata raises many types for foreign bytes; all mean "unreadable"
        raise InputError(f"{path}: not a readable R data file: {exc}") from exc


def _load_mat(path: Path) -> dict[str, Any]:
    import scipy.io

    try:
        return scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises ValueError/TypeError/... for foreign bytes
        raise InputError(f"{path}: not a readable MATLAB file: {exc}") from exc


def _member(objects: Mapping[str, Any], where: str, path: Path) -> Any:
    value: Any = objects
    for part in where.split("/"):
        members = value.columns if isinstance(value, _Frame) else value
        if not isinstance(members, Mapping) or part not in members:
            raise InputError(f"{path}: no {where!r} in the file")
        value = members[part]
    return value


def _labels(values: Any, dim: int) -> list[str] | None:
    """Dimension names of an R matrix read as an xarray DataArray (None when it has none)."""
    coords = getattr(values, "coords", None)
    if coords is None or values.dims[dim] not in coords:
        return None
    return [str(v).strip() for v in coords[values.dims[dim]].values.tolist()]


def _nm_of(labels: list[str], where: str) -> np.ndarray:
    numbers = [_NUMBER.search(label) for label in labels]
    if not all(numbers):
        raise InputError(f"{where}: column names {labels[:3]}... are not wavelengths")
    return np.array([float(m.group()) for m in numbers])


def _spectra(
    spec: NIRSet, objects: Mapping[str, Any], where: str, path: Path
) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """(rows, wavelengths nm, row ids or None) of one matrix of a set."""
    value = _member(objects, where, path)
    label = f"{path}: {where}"
    if isinstance(value, _Frame):  # spectra as one data.frame column per wavelength
        pattern = re.compile(spec.columns or r"^$")
        names = [name for name in value.columns if pattern.match(name)]
        if not names:
            raise InputError(f"{label}: no columns matching {pattern.pattern!r}")
        rows = np.column_stack([np.asarray(value.columns[n], dtype=np.float64) for n in names])
        ids = value.row_names
        if spec.id_column is not None:
            ids = [
                str(v) for v in np.asarray(_member(value.columns, spec.id_column, path)).tolist()
            ]
        return rows, _nm_of(names, label), ids
    rows = np.asarray(value, dtype=np.float64)
    if rows.ndim != 2:
        raise InputError(f"{label}: expected a matrix, got shape {rows.shape}")
    if spec.labels is not None:
        columns = [str(v).strip() for v in np.ravel(_member(objects, spec.labels, path))]
    else:
        columns = _labels(value, 1)
    if columns is not None:
        nm = _nm_of(columns, label)
    elif spec.nm is not None:
        nm = np.linspace(spec.nm[0], spec.nm[1], rows.shape[1])
    else:
        raise InputError(f"{label}: no wavelength names and no documented range")
    if len(nm) != rows.shape[1]:
        raise InputError(f"{label}: {len(nm)} wavelengths for {rows.shape[1]} columns")
    return rows, nm, _labels(value, 0)


def read_nirdata(path: str | Path) -> Iterator[SpectrumRecord | Rejected]:
    """NIR records of one file of the set list `SETS` (the file name says which set it is)."""
    path = Path(path)
    if path.name not in SETS:
        raise InputError(f"{path}: not one of the nirdata sets ({', '.join(SETS)})")
    spec = SETS[path.name]
    objects = _load_mat(path) if path.suffix.lower() == ".mat" else _load_r(path)
    stem = path.name.rsplit(".", 1)[0]
    for where in spec.matrices:
        rows, nm, ids = _spectra(spec, objects, where, path)
        x = nm_to_wavenumber(nm)
        matrix = where.rsplit("/", 1)[-1]
        for i, row in enumerate(rows):
            if ids is not None:
                name = ids[i]
            elif spec.replicates > 1:
                name = f"{matrix}-{i // spec.replicates + 1}"
            else:
                name = f"{matrix}-{i + 1}"
            item = f"{path.name}:{matrix} row {i + 1}"
            y = to_absorbance(row, spec.y_units)
            problem = spectrum_problem(x, y)
            if problem:
                yield Rejected(SOURCE, item, problem)
                continue
            metadata = {"file": path.name, "matrix": matrix, "row": i + 1}
            if spec.replicates > 1:
                metadata["replicate"] = i % spec.replicates + 1
            yield SpectrumRecord(x, y, "nir", SOURCE, f"{SOURCE}:{stem}:{name}", metadata)
