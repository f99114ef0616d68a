"""Alberts et al. 2024 multimodal spectroscopic dataset (Parquet shards, Zenodo 11611178).

Only `smiles`, `ir_spectra` and `molecular_formula` are read, one row group at a time: the
shards also hold NMR, HSQC and MS/MS columns that are ten times larger than the IR.
`ir_spectra` has 1800 points on 400-4000 cm^-1. The dataset's own axis file
(meta_data/spectrum_dimensions.json, "ir_spectra") lists exactly np.linspace(400, 4000, 1800),
which is what MULTIMODAL_IR_AXIS is. Intensities are the simulated absorbance-like IR, kept as
they are. sample_id is the molecule id from the SMILES (shared with the other computed sources).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from spectralfm.sources.record import (
    Rejected,
    SpectrumRecord,
    list_column_rows,
    molecule_sample_id,
    open_parquet,
    spectrum_problem,
)

SOURCE = "multimodal"
MULTIMODAL_IR_AXIS = np.linspace(400.0, 4000.0, 1800)
MULTIMODAL_IR_AXIS.setflags(write=False)  # shared by every record: no in-place edits
_OPTIONAL = ("molecular_formula", "__index_level_0__")


def read_multimodal(
    path: str | Path,
    smiles_column: str = "smiles",
    spectrum_column: str = "ir_spectra",
    batch_size: int = 256,
) -> Iterator[SpectrumRecord | Rejected]:
    """IR records of one multimodal-dataset Parquet shard."""
    path = Path(path)
    parquet = open_parquet(path, (smiles_column, spectrum_column))
    optional = [c for c in _OPTIONAL if c in parquet.schema_arrow.names]
    row = 0
    for batch in parquet.iter_batches(
        batch_size=batch_size, columns=[smiles_column, spectrum_column, *optional]
    ):
        spectra = list_column_rows(batch.column(spectrum_column))
        smiles = batch.column(smiles_column).to_pylist()
        extras = {name: batch.column(name).to_pylist() for name in optional}
        for i, y in enumerate(spectra):
            item = f"{path.name}:row {row + i}"
            if y is None or not smiles[i]:
                yield Rejected(SOURCE, item, "missing smiles or ir_spectra")
                continue
            if y.size != MULTIMODAL_IR_AXIS.size:
                yield Rejected(SOURCE, item, f"ir_spectra has {y.size} points, expected 1800")
                continue
            problem = spectrum_problem(MULTIMODAL_IR_AXIS, y)
            if problem:
                yield Rejected(SOURCE, item, problem)
                continue
            metadata = {"smiles": smiles[i], "file": path.name, "row": row + i}
            if "molecular_formula" in extras:
                metadata["molecular_formula"] = extras["molecular_formula"][i]
            if "__index_level_0__" in extras:
                metadata["dataset_index"] = extras["__index_level_0__"][i]
            yield SpectrumRecord(
                MULTIMODAL_IR_AXIS, y.copy(), "ir", SOURCE, molecule_sample_id(smiles[i]), metadata
            )
        row += batch.num_rows
