"""USPTO computed IR spectra (Zipoli, Alberts, Laino 2025; Zenodo 16417648,
`IR_data_chunk00N_of_009.parquet`, ~20,000 molecules and ~900 MB per chunk).

No chunk could be opened here, so the layout is taken from public code that reads these files:
columns `id`, `smiles`, `ir_spectra` (list of intensities) and `Frequency(cm^-1)` (the x axis of
each row, in cm^-1; a loader resamples it to 400-4000 cm^-1). Every column name is an option, and
when a file has no axis column an explicit `axis` must be given (else InputError). Only those
columns are read, one row group batch at a time (ParquetFile.iter_batches(columns=...)).
Intensities are MD-derived absorbance-like IR, kept as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from spectralfm.errors import InputError
from spectralfm.sources.record import (
    Rejected,
    SpectrumRecord,
    list_column_rows,
    molecule_sample_id,
    open_parquet,
    spectrum_problem,
)

SOURCE = "uspto"


def read_uspto(
    path: str | Path,
    smiles_column: str = "smiles",
    spectrum_column: str = "ir_spectra",
    axis_column: str = "Frequency(cm^-1)",
    id_column: str = "id",
    axis=None,
    batch_size: int = 256,
) -> Iterator[SpectrumRecord | Rejected]:
    """IR records of one USPTO IR chunk. `axis`: fixed x values (cm^-1) for files whose rows
    carry no axis column."""
    path = Path(path)
    parquet = open_parquet(path, (smiles_column, spectrum_column))
    names = parquet.schema_arrow.names
    has_axis = axis_column in names
    fixed_axis = None if axis is None else np.asarray(axis, dtype=np.float64)
    if not has_axis and fixed_axis is None:
        raise InputError(f"{path}: no axis column {axis_column!r}; pass axis=<wavenumbers>")
    columns = [smiles_column, spectrum_column]
    columns += [axis_column] if has_axis and fixed_axis is None else []
    columns += [id_column] if id_column in names else []
    row = 0
    for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
        spectra = list_column_rows(batch.column(spectrum_column))
        axes = (
            list_column_rows(batch.column(axis_column))
            if fixed_axis is None
            else [fixed_axis] * batch.num_rows
        )
        smiles = batch.column(smiles_column).to_pylist()
        ids = batch.column(id_column).to_pylist() if id_column in columns else [None] * len(smiles)
        for i, y in enumerate(spectra):
            item = f"{path.name}:row {row + i}" + (f" id={ids[i]}" if ids[i] is not None else "")
            x = axes[i]
            if y is None or x is None or not smiles[i]:
                yield Rejected(SOURCE, item, "missing smiles, spectrum or axis")
                continue
            problem = spectrum_problem(x, y)
            if problem:
                yield Rejected(SOURCE, item, problem)
                continue
            metadata = {"smiles": smiles[i], "file": path.name, "row": row + i, "id": ids[i]}
            yield SpectrumRecord(
                x.copy(), y.copy(), "ir", SOURCE, molecule_sample_id(smiles[i]), metadata
            )
        row += batch.num_rows
