"""Multimodal (real example shards) and USPTO (synthetic chunk in the published layout) readers."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spectralfm.errors import InputError
from spectralfm.sources.multimodal import MULTIMODAL_IR_AXIS, read_multimodal
from spectralfm.sources.record import Rejected, SpectrumRecord, molecule_sample_id
from spectralfm.sources.uspto import read_uspto


def test_multimodal_axis_matches_the_dataset_axis_file(shared_data):
    dims = json.loads((shared_data / "samples" / "multimodal_spectrum_dimensions.json").read_text())
    ir = dims["ir_spectra"]
    assert ir["range"] == [400, 4000] and ir["points"] == 1800
    np.testing.assert_allclose(MULTIMODAL_IR_AXIS, ir["dimensions"], rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    "name", ["multimodal_ir_example_1.parquet", "multimodal_ir_example_2.parquet"]
)
def test_multimodal_real_examples(shared_data, name):
    path = shared_data / "samples" / name
    table = pq.read_table(path, columns=["smiles", "ir_spectra"])
    items = list(read_multimodal(path, batch_size=32))
    assert len(items) == table.num_rows == 100
    assert all(isinstance(r, SpectrumRecord) for r in items)
    for i in (0, 57, 99):
        record = items[i]
        assert record.modality == "ir" and record.source == "multimodal"
        assert record.sample_id == molecule_sample_id(table["smiles"][i].as_py())
        np.testing.assert_array_equal(record.y, np.asarray(table["ir_spectra"][i].as_py()))
        assert record.x[0] == 400.0 and record.x[-1] == 4000.0 and record.x.size == 1800
        assert record.metadata["molecular_formula"] and record.metadata["row"] == i


def test_multimodal_reads_only_the_columns_it_needs(shared_data, monkeypatch):
    seen = []
    original = pq.ParquetFile.iter_batches

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("columns"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    list(read_multimodal(shared_data / "samples" / "multimodal_ir_example_1.parquet"))
    assert seen == [["smiles", "ir_spectra", "molecular_formula", "__index_level_0__"]]


def test_multimodal_wrong_length_and_missing_values_are_rejected(tmp_path):
    path = tmp_path / "shard.parquet"
    pq.write_table(
        pa.table(
            {"smiles": ["C", None, "CC"], "ir_spectra": [[0.1] * 1800, [0.2] * 1800, [0.1] * 10]}
        ),
        path,
    )
    items = list(read_multimodal(path))
    assert isinstance(items[0], SpectrumRecord)
    assert isinstance(items[1], Rejected) and "missing" in items[1].reason
    assert isinstance(items[2], Rejected) and "10 points" in items[2].reason
    with pytest.raises(InputError, match="ir_spectra"):
        list(read_multimodal(path, spectrum_column="ir_spectra_missing"))


def _uspto_chunk(path, with_axis=True):
    axis = np.linspace(400.0, 4000.0, 8).tolist()
    columns = {
        "id": [10, 11, 12, 13, 14],
        "smiles": ["CCO", "CCN", "CCC", None, "CCCl"],
        "ir_spectra": [[0.1] * 8, [0.2] * 8, None, [0.3] * 8, [0.4] * 7],
        "h_nmr_spectra": [[1.0] * 1000] * 5,  # large unrelated column that must not be read
    }
    if with_axis:
        columns["Frequency(cm^-1)"] = [axis] * 5
    pq.write_table(pa.table(columns), path, row_group_size=2)
    return path


def test_uspto_rows_stream_by_row_group_with_their_own_axis(tmp_path, monkeypatch):
    path = _uspto_chunk(tmp_path / "IR_data_chunk001_of_009.parquet")
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    seen = []
    original = pq.ParquetFile.iter_batches

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("columns"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    items = list(read_uspto(path, batch_size=2))
    assert seen == [["smiles", "ir_spectra", "Frequency(cm^-1)", "id"]]
    records = [i for i in items if isinstance(i, SpectrumRecord)]
    rejected = {i.item: i.reason for i in items if isinstance(i, Rejected)}
    assert [r.sample_id for r in records] == [molecule_sample_id("CCO"), molecule_sample_id("CCN")]
    assert records[1].metadata == {"smiles": "CCN", "file": path.name, "row": 1, "id": 11}
    np.testing.assert_allclose(records[0].x, np.linspace(400.0, 4000.0, 8))
    assert set(rejected) == {f"{path.name}:row {i} id={10 + i}" for i in (2, 3, 4)}
    assert "7" in rejected[f"{path.name}:row 4 id=14"]  # 7 intensities against 8 axis points


def test_uspto_without_axis_column_needs_an_explicit_axis(tmp_path):
    path = _uspto_chunk(tmp_path / "chunk.parquet", with_axis=False)
    with pytest.raises(InputError, match="Frequency"):
        list(read_uspto(path))
    records = [
        i for i in read_uspto(path, axis=np.arange(8.0) + 500) if isinstance(i, SpectrumRecord)
    ]
    assert len(records) == 2 and records[0].x[0] == 500.0


def test_not_parquet_is_an_input_error(tmp_path):
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"nope")
    with pytest.raises(InputError, match="junk.parquet"):
        list(read_uspto(junk))
    with pytest.raises(InputError, match="junk.parquet"):
        list(read_multimodal(junk))


def test_shared_axis_cannot_be_edited_through_a_record(shared_data):
    record = next(read_multimodal(shared_data / "samples" / "multimodal_ir_example_1.parquet"))
    with pytest.raises(ValueError, match="read-only"):
        record.x *= 2
    assert MULTIMODAL_IR_AXIS[0] == 400.0
