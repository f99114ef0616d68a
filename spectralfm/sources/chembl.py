"""Computed IR and Raman spectra of ChEMBL molecules (Liang et al. 2025, Figshare SQLite parts).

Schema (as read by public loaders of Raman-ChEMBL-part1/2.db; no sample was available here):
table `molecule` with `id`, `SMILES` and `blob_data` = zlib-compressed JSON holding at least
`freq` (harmonic frequencies, cm^-1), `IR Inten` (km/mol) and `Raman Activ` (A^4/amu), plus
geometry (`atoms`, `coord`, `vib coord`) that is not needed here. Blobs are decoded with zlib and
json only (never pickle), with a size cap against decompression bombs.

Each molecule gives two records with one sample_id (`mol:<sha1 of SMILES>`): IR from the
intensities and Raman from the activities, both broadened by Lorentzians of full width `fwhm`
(area-normalised, so the integral of each band equals its stick value) on a fixed grid.
Raman activities S_i become intensities with the standard scattering factor

    I_i = ((nu0 - nu_i) / nu0)^4 * S_i / (nu_i * (1 - exp(-c2 * nu_i / T)))

where nu0 = 1e7 / laser_nm is the laser wavenumber, c2 = h c / k = 1.438777 cm K and T the
temperature (dividing by nu0^4 only rescales all spectra alike). Modes with freq <= 0 (imaginary
modes written as negative numbers) are left out and counted in the metadata.

Rows are streamed with a cursor (fetchmany) and the broadening is vectorised over each batch.
"""

from __future__ import annotations

import json
import math
import sqlite3
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from spectralfm.errors import InputError
from spectralfm.sources.record import Rejected, SpectrumRecord, molecule_sample_id

SOURCE = "chembl"
SECOND_RADIATION_CONSTANT_CM_K = 1.438776877  # h c / k
MAX_BLOB_BYTES = 256 * 1024 * 1024
BROADENING_BLOCK_ELEMENTS = 1_000_000  # (molecules x modes x grid) per numpy call: 8 MB


def default_grid() -> np.ndarray:
    """400-4000 cm^-1 at 2 cm^-1 (1801 points)."""
    return np.linspace(400.0, 4000.0, 1801)


def decode_blob(blob: bytes) -> dict:
    """zlib + JSON, capped at MAX_BLOB_BYTES decompressed; raises ValueError when malformed."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise ValueError(f"blob_data is {type(blob).__name__}, not bytes")
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(bytes(blob), MAX_BLOB_BYTES)
    except zlib.error as exc:
        raise ValueError(f"not zlib data: {exc}") from exc
    if inflater.unconsumed_tail:
        raise ValueError(f"decompresses to more than {MAX_BLOB_BYTES} bytes")
    try:
        payload = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ValueError(f"JSON is a {type(payload).__name__}, not an object")
    return payload


def vibrational_modes(payload: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(freq, IR intensity, Raman activity) of the real modes, and the count of dropped ones."""
    try:
        arrays = [
            np.asarray(payload[k], dtype=np.float64) for k in ("freq", "IR Inten", "Raman Activ")
        ]
    except KeyError as exc:
        raise ValueError(f"missing key {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:
        raise ValueError(f"non-numeric mode data: {exc}") from exc
    freq, ir, raman = arrays
    if not (freq.ndim == ir.ndim == raman.ndim == 1) or not (freq.size == ir.size == raman.size):
        raise ValueError(
            f"mode arrays differ: freq {freq.shape}, IR {ir.shape}, Raman {raman.shape}"
        )
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise ValueError("non-finite mode data")
    real = freq > 0
    if not np.any(real):
        raise ValueError("no real vibrational mode")
    return freq[real], ir[real], raman[real], int(np.count_nonzero(~real))


def raman_intensity(freq, activity, laser_nm: float, temperature_k: float) -> np.ndarray:
    """Raman scattering intensity from activity (see module docstring for the formula)."""
    freq = np.asarray(freq, dtype=np.float64)
    nu0 = 1e7 / laser_nm
    bose = 1.0 - np.exp(-SECOND_RADIATION_CONSTANT_CM_K * freq / temperature_k)
    return ((nu0 - freq) / nu0) ** 4 * np.asarray(activity) / (freq * bose)


def lorentzian_broaden(freq: np.ndarray, sticks: np.ndarray, grid: np.ndarray, fwhm: float):
    """Broadened spectra (B, G) from zero-padded sticks (B, M): sum_m s_m L(grid - f_m) with
    area-normalised Lorentzians. Padding sticks must be 0. Blocks of molecules keep the
    (B, M, G) intermediate under BROADENING_BLOCK_ELEMENTS."""
    half = fwhm / 2.0
    n_mol, n_modes = sticks.shape
    out = np.empty((n_mol, grid.size), dtype=np.float64)
    block = max(1, BROADENING_BLOCK_ELEMENTS // max(1, n_modes * grid.size))
    for start in range(0, n_mol, block):
        stop = min(n_mol, start + block)
        shape = grid[None, None, :] - freq[start:stop, :, None]
        np.square(shape, out=shape)  # in place: one (b, M, G) buffer per block, not three
        shape += half * half
        np.divide(half / math.pi, shape, out=shape)
        out[start:stop] = np.einsum("bm,bmg->bg", sticks[start:stop], shape)
    return out


def _column_names(connection: sqlite3.Connection, path: Path) -> dict[str, str]:
    try:
        rows = connection.execute("PRAGMA table_info(molecule)").fetchall()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{path}: not a readable SQLite database: {exc}") from exc
    columns = {row[1].lower(): row[1] for row in rows}
    if not columns:
        raise InputError(f"{path}: no table 'molecule' (expected the Raman-ChEMBL schema)")
    if "blob_data" not in columns:
        raise InputError(f"{path}: table 'molecule' has no column 'blob_data'")
    return columns


def _emit_batch(pending, grid, fwhm, laser_nm, temperature_k, path):
    """Records for decoded rows: [(row_id, smiles, freq, ir, raman, dropped)]."""
    n_modes = max(len(p[2]) for p in pending)
    freq = np.full((len(pending), n_modes), 1.0)
    ir = np.zeros((len(pending), n_modes))
    raman = np.zeros((len(pending), n_modes))
    for i, (_, _, f, a, s, _) in enumerate(pending):
        freq[i, : f.size] = f
        ir[i, : f.size] = a
        raman[i, : f.size] = raman_intensity(f, s, laser_nm, temperature_k)
    ir_spectra = lorentzian_broaden(freq, ir, grid, fwhm)
    raman_spectra = lorentzian_broaden(freq, raman, grid, fwhm)
    for i, (row_id, smiles, f, _, _, dropped) in enumerate(pending):
        sample_id = molecule_sample_id(smiles) if smiles else f"chembl:{path.stem}:{row_id}"
        common = {
            "smiles": smiles,
            "row_id": row_id,
            "database": path.name,
            "n_modes": int(f.size),
            "n_imaginary_modes_dropped": dropped,
            "fwhm_cm1": fwhm,
        }
        yield SpectrumRecord(
            grid, ir_spectra[i], "ir", SOURCE, sample_id, {**common, "kind": "IR intensity"}
        )
        yield SpectrumRecord(
            grid,
            raman_spectra[i],
            "raman",
            SOURCE,
            sample_id,
            {
                **common,
                "kind": "Raman intensity",
                "laser_nm": laser_nm,
                "temperature_k": temperature_k,
            },
        )


def read_chembl(
    path: str | Path,
    grid: np.ndarray | None = None,
    fwhm: float = 10.0,
    laser_nm: float = 532.0,
    temperature_k: float = 298.15,
    batch_size: int = 256,
    limit: int | None = None,
) -> Iterator[SpectrumRecord | Rejected]:
    """IR and Raman records of every molecule in a Raman-ChEMBL SQLite part.

    grid: wavenumbers of the output spectra (default 400-4000 cm^-1, 2 cm^-1 step);
    fwhm: Lorentzian full width at half maximum in cm^-1; laser_nm, temperature_k: Raman
    intensity conversion; batch_size: rows per fetchmany and per vectorised broadening.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if fwhm <= 0 or laser_nm <= 0 or temperature_k <= 0:
        raise InputError(f"{path}: fwhm, laser_nm and temperature_k must be positive")
    grid = default_grid() if grid is None else np.array(grid, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 2 or not np.all(np.isfinite(grid)):
        raise InputError(f"{path}: the output grid must be a finite 1-D axis of >= 2 points")
    grid.setflags(write=False)  # one grid array is shared by every record of the part
    if 1e7 / laser_nm <= grid.max():
        raise InputError(f"{path}: laser at {laser_nm} nm lies inside the grid; no Stokes shift")
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        columns = _column_names(connection, path)
        id_col = columns.get("id", "rowid")
        smiles_col = columns.get("smiles")
        smiles_sql = f'"{smiles_col}"' if smiles_col else "NULL"
        select = f'SELECT "{id_col}", {smiles_sql}, blob_data'
        query = f"{select} FROM molecule" + (f" LIMIT {int(limit)}" if limit is not None else "")
        cursor = connection.execute(query)
        while rows := cursor.fetchmany(batch_size):
            pending = []
            for row_id, smiles, blob in rows:
                try:
                    freq, ir, raman, dropped = vibrational_modes(decode_blob(blob))
                except ValueError as exc:
                    yield Rejected(SOURCE, f"{path.name}:molecule id={row_id}", str(exc))
                    continue
                pending.append((row_id, smiles, freq, ir, raman, dropped))
            if pending:
                yield from _emit_batch(pending, grid, fwhm, laser_nm, temperature_k, path)
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{path}: cannot read table 'molecule': {exc}") from exc
    finally:
        connection.close()
