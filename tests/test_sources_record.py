"""Parsed-shard contract: round trip, row-group streaming, quarantine, atomic writes, registry."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spectralfm.catalog import CORPUS_SOURCES
from spectralfm.errors import InputError
from spectralfm.sources import read_source, source_reader
from spectralfm.sources.record import (
    Rejected,
    SpectrumRecord,
    list_column_rows,
    molecule_sample_id,
    quarantine_path,
    read_parsed_shard,
    read_quarantine,
    sort_and_merge,
    source_names,
    write_parsed_shard,
)


def _record(i: int, n: int = 5) -> SpectrumRecord:
    x = np.linspace(400.0, 4000.0, n) + i
    return SpectrumRecord(x, np.sin(x) + i, "ir", "local", f"local:s{i}", {"i": i, "name": "ü"})


def test_round_trip_keeps_arrays_ids_and_metadata(tmp_path):
    items = [_record(0), Rejected("local", "bad.csv#row2", "non-numeric"), _record(1, 7)]
    counts = write_parsed_shard(tmp_path / "shard.parquet", items)
    assert counts == {"records": 2, "rejected": 1}
    back = list(read_parsed_shard(tmp_path / "shard.parquet"))
    assert [r.sample_id for r in back] == ["local:s0", "local:s1"]
    np.testing.assert_array_equal(back[1].x, items[2].x)
    np.testing.assert_array_equal(back[1].y, items[2].y)
    assert back[1].x.dtype == np.float64 and back[1].metadata == {"i": 1, "name": "ü"}
    assert read_quarantine(tmp_path / "shard.parquet") == [items[1]]
    schema = pq.read_schema(tmp_path / "shard.parquet")
    assert schema.field("x").type == pa.list_(pa.float64())
    assert schema.field("metadata").type == pa.string()


def test_records_are_written_in_row_group_batches(tmp_path):
    path = tmp_path / "shard.parquet"
    write_parsed_shard(path, (_record(i) for i in range(7)), batch_size=3)
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    assert [r.metadata["i"] for r in read_parsed_shard(path, batch_size=2)] == list(range(7))


def test_quarantine_is_always_written_even_when_empty(tmp_path):
    path = tmp_path / "shard.parquet"
    assert write_parsed_shard(path, []) == {"records": 0, "rejected": 0}
    assert quarantine_path(path).read_text().strip() == "source,item,reason"
    # one naming for every stage: <item>.quarantine.csv beside <item>.parquet or <item>.h5
    assert quarantine_path(path) == path.with_name(path.stem + ".quarantine.csv")
    assert quarantine_path(tmp_path / "a.b.h5") == tmp_path / "a.b.quarantine.csv"
    assert read_quarantine(quarantine_path(path)) == []
    assert list(read_parsed_shard(path)) == []


def test_a_crash_mid_stream_leaves_no_shard_and_keeps_the_old_one(tmp_path):
    path = tmp_path / "shard.parquet"
    write_parsed_shard(path, [_record(0)])
    before = path.read_bytes()

    def items():
        for i in range(2500):  # past the first row-group flush
            yield _record(i)
        raise RuntimeError("reader died")

    with pytest.raises(RuntimeError, match="reader died"):
        write_parsed_shard(path, items())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, quarantine_path(path).name]


def test_metadata_nan_becomes_null_and_unserialisable_metadata_is_an_input_error(tmp_path):
    path = tmp_path / "shard.parquet"
    record = _record(0)
    record.metadata = {"laser": float("nan"), "n": np.int64(3)}
    write_parsed_shard(path, [record])
    assert next(read_parsed_shard(path)).metadata == {"laser": None, "n": 3}
    record.metadata = {"bad": object()}
    with pytest.raises(InputError, match="local:s0"):
        write_parsed_shard(tmp_path / "other.parquet", [record])
    assert not (tmp_path / "other.parquet").exists()


def test_reading_something_that_is_not_a_shard_is_an_input_error(tmp_path):
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(InputError, match="junk.parquet"):
        list(read_parsed_shard(junk))
    pq.write_table(pa.table({"x": [1]}), tmp_path / "other.parquet")
    with pytest.raises(InputError, match="lacks columns"):
        list(read_parsed_shard(tmp_path / "other.parquet"))
    with pytest.raises(InputError, match="quarantine"):
        read_quarantine(tmp_path / "missing.parquet")


def test_record_validation_names_the_sample():
    with pytest.raises(InputError, match="s1.*3 points but y has 2"):
        SpectrumRecord([1.0, 2.0, 3.0], [1.0, 2.0], "ir", "local", "s1", {})
    with pytest.raises(InputError, match="modality"):
        SpectrumRecord([1.0, 2.0], [1.0, 2.0], "uv", "local", "s1", {})
    with pytest.raises(InputError, match="non-finite x"):
        SpectrumRecord([1.0, np.nan], [1.0, 2.0], "ir", "local", "s1", {})


def test_sort_and_merge_sorts_and_averages_duplicates():
    x, y, merged = sort_and_merge(
        np.array([3.0, 1.0, 2.0, 1.0]), np.array([30.0, 10.0, 20.0, 12.0])
    )
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(y, [11.0, 20.0, 30.0])
    assert merged == 1


def test_list_column_rows_handles_slices_and_nulls():
    column = pa.array([[1.0, 2.0], None, [3.0], [4.0, 5.0, 6.0]]).slice(1)
    rows = list_column_rows(column)
    assert rows[0] is None
    np.testing.assert_array_equal(rows[1], [3.0])
    np.testing.assert_array_equal(rows[2], [4.0, 5.0, 6.0])


def test_molecule_ids_are_stable_and_whitespace_insensitive():
    assert molecule_sample_id("CCO") == molecule_sample_id(" CCO\n")
    assert molecule_sample_id("CCO") != molecule_sample_id("CCN")
    assert molecule_sample_id("CCO").startswith("mol:")


def test_registry_covers_every_source_and_refuses_unknown_input(tmp_path):
    assert source_names() == tuple(CORPUS_SOURCES)
    for name, entry in CORPUS_SOURCES.items():
        # the parse rule fingerprints spectralfm.sources.<name>: the reader must live there
        assert entry.reader.partition(":")[0] == f"spectralfm.sources.{name}"
        assert callable(source_reader(name))
    with pytest.raises(InputError, match="'nope'"):
        read_source("nope", tmp_path)
    with pytest.raises(InputError, match="missing.zip"):
        read_source("rruff", tmp_path / "missing.zip")
    with pytest.raises(InputError, match="bad options"):
        read_source("rruff", tmp_path, colour="red")


def test_metadata_column_is_json_text(tmp_path):
    path = tmp_path / "shard.parquet"
    write_parsed_shard(path, [_record(0)])
    text = pq.read_table(path, columns=["metadata"]).column(0)[0].as_py()
    assert json.loads(text) == {"i": 0, "name": "ü"}
