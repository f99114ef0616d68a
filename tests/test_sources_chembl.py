"""Raman-ChEMBL reader on a tiny synthetic SQLite part in the published schema."""

import json
import pickle
import sqlite3
import zlib

import numpy as np
import pytest

from spectralfm.errors import InputError
from spectralfm.sources.chembl import (
    SECOND_RADIATION_CONSTANT_CM_K,
    decode_blob,
    default_grid,
    read_chembl,
)
from spectralfm.sources.multimodal import read_multimodal
from spectralfm.sources.record import Rejected, SpectrumRecord, molecule_sample_id


def _blob(freq, ir, raman, **extra) -> bytes:
    payload = {"atoms": [6, 8], "coord": [[0, 0, 0], [1, 0, 0]], "freq": freq, **extra}
    payload.update({"IR Inten": ir, "Raman Activ": raman})
    return zlib.compress(json.dumps(payload).encode())


def _database(path, rows):
    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE molecule (id INTEGER PRIMARY KEY, SMILES TEXT, blob_data BLOB)"
    )
    connection.executemany("INSERT INTO molecule VALUES (?, ?, ?)", rows)
    connection.commit()
    connection.close()
    return path


GOOD = [
    (1, "CCO", _blob([1000.0], [10.0], [4.0])),
    (2, "O=C=O", _blob([-50.0, 667.0, 1388.0, 2349.0], [1.0, 30.0, 0.0, 500.0], [0, 1, 20, 0])),
    (3, "c1ccccc1", _blob([500.0, 3000.0], [1.0, 1.0], [7.0, 7.0])),
]
BAD = [
    (4, "C", b"\x00 not zlib at all"),
    (5, "CC", zlib.compress(b"{ truncated json")),
    (6, "CCC", zlib.compress(json.dumps({"freq": [1.0], "IR Inten": [1.0]}).encode())),
    (7, "CCCC", _blob([1.0, 2.0], [1.0], [1.0, 2.0])),
    (8, "N", _blob([-10.0], [1.0], [1.0])),
    (9, "P", zlib.compress(pickle.dumps({"freq": [1.0], "IR Inten": [1.0], "Raman Activ": [1.0]}))),
]


def _records(items):
    return [i for i in items if isinstance(i, SpectrumRecord)]


@pytest.fixture
def part(tmp_path):
    return _database(tmp_path / "Raman-ChEMBL-part1.db", GOOD + BAD)


def test_each_molecule_gives_ir_and_raman_and_bad_rows_are_rejected(part):
    items = list(read_chembl(part, batch_size=4))
    records = [i for i in items if isinstance(i, SpectrumRecord)]
    rejected = {i.item: i.reason for i in items if isinstance(i, Rejected)}
    assert len(records) == 6
    assert [(r.sample_id, r.modality) for r in records[:2]] == [
        (molecule_sample_id("CCO"), "ir"),
        (molecule_sample_id("CCO"), "raman"),
    ]
    assert set(rejected) == {f"Raman-ChEMBL-part1.db:molecule id={i}" for i in range(4, 10)}
    assert "not zlib" in rejected["Raman-ChEMBL-part1.db:molecule id=4"]
    assert "not JSON" in rejected["Raman-ChEMBL-part1.db:molecule id=5"]
    assert "Raman Activ" in rejected["Raman-ChEMBL-part1.db:molecule id=6"]
    assert "differ" in rejected["Raman-ChEMBL-part1.db:molecule id=7"]
    assert "no real vibrational mode" in rejected["Raman-ChEMBL-part1.db:molecule id=8"]
    assert "not JSON" in rejected["Raman-ChEMBL-part1.db:molecule id=9"]  # never unpickled
    co2 = [r for r in records if r.metadata["smiles"] == "O=C=O"][0]
    assert co2.metadata["n_imaginary_modes_dropped"] == 1 and co2.metadata["n_modes"] == 3


def test_ir_band_sits_at_the_mode_with_the_stick_area(part):
    ir = next(r for r in _records(read_chembl(part, fwhm=10.0)) if r.modality == "ir")
    np.testing.assert_array_equal(ir.x, default_grid())
    assert ir.x[np.argmax(ir.y)] == pytest.approx(1000.0)
    area = np.trapezoid(ir.y, ir.x)
    assert area == pytest.approx(10.0, rel=0.01)  # tails beyond the grid lose ~0.5 %
    half = ir.y.max() / 2
    above = ir.x[ir.y >= half]
    assert above.max() - above.min() == pytest.approx(10.0, abs=2.0)  # FWHM, on a 2 cm^-1 grid


def test_raman_activity_to_intensity_conversion(part):
    laser_nm, temperature = 785.0, 300.0
    items = read_chembl(part, laser_nm=laser_nm, temperature_k=temperature, fwhm=4.0)
    raman = [
        r for r in _records(items) if r.modality == "raman" and r.metadata["smiles"] == "c1ccccc1"
    ]
    raman = raman[0]
    nu0 = 1e7 / laser_nm

    def factor(nu):
        bose = 1 - np.exp(-SECOND_RADIATION_CONSTANT_CM_K * nu / temperature)
        return (nu0 - nu) ** 4 / (nu * bose)

    peak = {nu: raman.y[np.argmin(abs(raman.x - nu))] for nu in (500.0, 3000.0)}
    # equal activities, so the peak ratio is the ratio of the scattering factors alone
    assert peak[500.0] / peak[3000.0] == pytest.approx(factor(500.0) / factor(3000.0), rel=1e-3)
    assert raman.metadata["laser_nm"] == laser_nm and raman.metadata["temperature_k"] == temperature


def test_batching_does_not_change_the_spectra(part):
    small = [r for r in read_chembl(part, batch_size=1) if isinstance(r, SpectrumRecord)]
    large = [r for r in read_chembl(part, batch_size=100) if isinstance(r, SpectrumRecord)]
    assert len(small) == len(large) == 6
    for a, b in zip(small, large, strict=True):
        assert a.sample_id == b.sample_id and a.modality == b.modality
        np.testing.assert_allclose(a.y, b.y, rtol=1e-12)


def test_reader_streams_with_fetchmany(part, monkeypatch):
    calls = []
    real_connect = sqlite3.connect

    class Spy:
        def __init__(self, cursor):
            self.cursor = cursor

        def fetchmany(self, size):
            calls.append(size)
            return self.cursor.fetchmany(size)

        def fetchall(self):
            raise AssertionError("fetchall loads a 5 GB part into memory")

    class Connection:
        def __init__(self, *args, **kwargs):
            self.inner = real_connect(*args, **kwargs)

        def execute(self, *args):
            cursor = self.inner.execute(*args)
            return Spy(cursor) if "blob_data FROM" in args[0] else cursor

        def close(self):
            self.inner.close()

    monkeypatch.setattr(sqlite3, "connect", Connection)
    assert len(list(read_chembl(part, batch_size=2))) == 12
    assert calls and set(calls) == {2} and len(calls) >= 5


def test_same_smiles_same_id_as_the_multimodal_source(tmp_path, shared_data):
    sample = shared_data / "samples" / "multimodal_ir_example_1.parquet"
    first = next(read_multimodal(sample))
    part = _database(
        tmp_path / "p.db", [(1, first.metadata["smiles"], _blob([900.0], [1.0], [1.0]))]
    )
    assert {r.sample_id for r in read_chembl(part)} == {first.sample_id}


def test_unreadable_databases_raise_input_error(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="junk.db"):
        list(read_chembl(junk))
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("CREATE TABLE other (a)").connection.close()
    with pytest.raises(InputError, match="no table 'molecule'"):
        list(read_chembl(empty))
    with pytest.raises(InputError, match="laser"):
        list(read_chembl(empty, laser_nm=3000.0))  # 3333 cm^-1 lies inside the grid


def test_decode_blob_refuses_non_objects():
    with pytest.raises(ValueError, match="not an object"):
        decode_blob(zlib.compress(b"[1, 2]"))
