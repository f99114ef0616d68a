"""Wheat and sugarcane benchmark spectra are recognised at corpus assembly, on every instrument.

As in test_corpus: the candidate spectra are read from the real files independently of the
benchmark readers and go through the real stage (parsed shard -> process_shard -> spectra shard).
"""

import csv

import h5py
import numpy as np
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spectralfm.corpus import build_corpus
from spectralfm.datasets import (
    SUGARCANE_CSV,
    SUGARCANE_INSTRUMENTS,
    SUGARCANE_SPECTRA,
    WHEAT_XLSX,
    load_benchmark,
    read_benchmark,
)
from spectralfm.errors import InputError
from spectralfm.leakage import BenchmarkFingerprints, benchmark_sets
from spectralfm.preprocess import process_shard


def spectra_shard(tmp_path, stem, nm, table):
    """A spectra shard of `table` (rows on wavelengths `nm`) made by the real processing stage."""
    n = len(table)
    columns = {
        "x": [list(map(float, 1e7 / np.asarray(nm)))] * n,
        "y": [list(map(float, row)) for row in table],
        "modality": ["nir"] * n,
        "source": ["local"] * n,
        "sample_id": [f"{stem}-{i}" for i in range(n)],
        "metadata": ["{}"] * n,
    }
    pq.write_table(pa.table(columns), tmp_path / f"{stem}.parquet")
    out = tmp_path / f"{stem}.h5"
    process_shard(tmp_path / f"{stem}.parquet", out, tmp_path / f"{stem}.q.csv")
    return out


def flagged(fingerprints, shard):
    with h5py.File(shard) as f:
        return int(fingerprints.find_benchmark_rows(f["spectra"][:], f["axis"][:]).sum())


def chaix_csv(path):
    rows = [[c.strip() for c in r] for r in csv.reader(open(path), delimiter=";")]
    return np.array(rows[0][1:], dtype=float), np.array([r[1:] for r in rows[1:]], dtype=float)


def workbook_table(path):
    workbook = openpyxl.load_workbook(path, read_only=True)
    [sheet] = [s for s in workbook.worksheets if s.max_row > 1]
    header, *rows = [r for r in sheet.iter_rows(values_only=True) if r[0] is not None]
    workbook.close()
    return np.array(header[2:], dtype=float), np.array([r[2:] for r in rows], dtype=float)


def reexport(table):
    """4 significant digits, as a careless CSV export would write them."""
    return np.array([[float(f"{v:.4g}") for v in row] for row in table])


@pytest.fixture(scope="module")
def wheat(shared_data):
    folder = shared_data / "mirror" / "idrc2016"
    return read_benchmark("wheat", [folder / raw.name for raw in WHEAT_XLSX.values()])


@pytest.fixture(scope="module")
def sugarcane(shared_data):
    folder = shared_data / "mirror" / "chaix_sugarcane"
    return read_benchmark("sugarcane", [folder / name for name in SUGARCANE_CSV])


@pytest.fixture(scope="module")
def fingerprints(wheat, sugarcane):
    return BenchmarkFingerprints.from_spectra(
        {**benchmark_sets(wheat), **benchmark_sets(sugarcane)}
    )


def test_one_set_per_instrument_where_axes_differ(wheat, sugarcane, shared_data):
    assert sorted(benchmark_sets(wheat)) == [f"wheat/{u}" for u in ("A1", "A2", "A3", "A4", "B")]
    sets = benchmark_sets(sugarcane)
    assert sorted(sets) == sorted(f"sugarcane/{i}" for i in SUGARCANE_INSTRUMENTS)
    xs, ys = sets["sugarcane/MicroNIR1700"]
    assert len(ys) == 60 * 4  # the means and each of the three replicates
    assert len(sets["sugarcane/SCiO"][1]) == 60
    corn = load_benchmark("corn", [shared_data / "corn.mat"])
    assert list(benchmark_sets(corn)) == ["corn"]  # a shared axis: one set, as before


def test_every_wheat_workbook_is_refused(tmp_path, shared_data, fingerprints):
    folder = shared_data / "mirror" / "idrc2016"
    for raw in WHEAT_XLSX.values():
        nm, X = workbook_table(folder / raw.name)
        shard = spectra_shard(tmp_path, raw.name[:-5], nm, X)
        assert flagged(fingerprints, shard) == 248, raw.name
    with pytest.raises(InputError, match=r"Test_ManufacturerB.h5: 248 rows match benchmark"):
        build_corpus([shard], tmp_path / "c.h5", 0.2, 0, fingerprints=fingerprints)
    assert not (tmp_path / "c.h5").exists()
    # a re-export of unit A2 at 4 digits, first and last 2 nm cropped
    nm, X = workbook_table(folder / "Cal_ManufacturerA2.xlsx")
    shard = spectra_shard(tmp_path, "a2_reexport", nm[4:-4], reexport(X[:40, 4:-4]))
    assert flagged(fingerprints, shard) == 40


def test_every_sugarcane_file_is_refused_including_each_replicate(
    tmp_path, shared_data, fingerprints
):
    folder = shared_data / "mirror" / "chaix_sugarcane"
    for files in SUGARCANE_SPECTRA.values():
        for name in files:
            nm, X = chaix_csv(folder / name)
            assert flagged(fingerprints, spectra_shard(tmp_path, name[:-4], nm, X)) == 60, name
            cropped = spectra_shard(tmp_path, f"{name[:-4]}_r", nm[1:], reexport(X[:, 1:]))
            assert flagged(fingerprints, cropped) == 60, f"{name} re-export"


def test_other_nir_sets_on_overlapping_ranges_pass(tmp_path, shared_data, fingerprints):
    """Dough and corn (1100-2498 nm) cover MicroNIR 2200 and NIRONE 2.2; the tablets
    (600-1898 nm) cover the wheat A units, MicroNIR 1700, SCiO, NIRscan, TellSpec."""
    nm = np.arange(1100.0, 2499.0, 2.0)
    dough = np.genfromtxt(shared_data / "nir/Dough_NIR/Dough_NIR.csv", delimiter=",")[1:, 5:]
    corn = np.loadtxt(shared_data / "nir/Cargill_Corn/m5_spectra.csv", delimiter=",", skiprows=1)
    tablet = np.loadtxt(
        shared_data / "Pharma_Instrument1.csv", delimiter=",", skiprows=1, usecols=range(4, 654)
    )[::5]
    shards = [
        spectra_shard(tmp_path, "dough", nm, dough),
        spectra_shard(tmp_path, "corn", nm, corn),
        spectra_shard(tmp_path, "tablet", np.arange(600.0, 1899.0, 2.0), tablet),
    ]
    for shard in shards:
        assert flagged(fingerprints, shard) == 0, shard.name
    stats = build_corpus(shards, tmp_path / "c.h5", 0.2, 0, fingerprints=fingerprints)
    assert stats["n_rows"] == len(dough) + len(corn) + len(tablet)


def test_per_instrument_fingerprints_round_trip(tmp_path, shared_data, sugarcane):
    fingerprints = BenchmarkFingerprints.from_spectra(benchmark_sets(sugarcane))
    fingerprints.save(tmp_path / "fp.npz")
    loaded = BenchmarkFingerprints.load(tmp_path / "fp.npz")
    assert sorted(loaded.sets) == sorted(fingerprints.sets)
    nm, X = chaix_csv(shared_data / "mirror" / "chaix_sugarcane" / "Nirone22.CSV")
    assert flagged(loaded, spectra_shard(tmp_path, "nirone", nm, X[:7])) == 7
