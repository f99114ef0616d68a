"""The nirdata source on the real files of the shared mirror: every set read, its axis and ids, and
none of its spectra taken for a benchmark's."""

from collections import Counter

import h5py
import numpy as np
import pytest

from spectralfm.catalog import CORPUS_SOURCES
from spectralfm.datasets import load_benchmark
from spectralfm.errors import InputError
from spectralfm.leakage import BenchmarkFingerprints, benchmark_sets
from spectralfm.preprocess import process_shard, resample_batch, snv
from spectralfm.sources import parse_to_shard, read_source
from spectralfm.sources.nirdata import SETS
from spectralfm.sources.record import Rejected

# file -> (spectra, distinct samples, first nm, last nm, points)
EXPECTED = {
    "prospectr_NIRsoil.RData": (825, 825, 1100.0, 2498.0, 700),
    "pls_gasoline.RData": (60, 60, 900.0, 1700.0, 401),
    "pls_mayonnaise.RData": (162, 54, 1100.0, 2500.0, 351),
    "rchemo_cassav.rda": (280, 280, 400.0, 2498.0, 1050),
    "rchemo_octane.rda": (39, 39, 1102.0, 1552.0, 226),
    "multiblock_emulsions.rda": (69, 69, 1400.0, 2000.0, 301),
    "spectacles_australia.rda": (100, 100, 350.0, 2500.0, 2151),
    "OHPL_beer.rda": (60, 60, 1100.0, 2250.0, 576),
    "OHPL_soil.rda": (108, 108, 1100.0, 2498.0, 700),
    "OHPL_wheat.rda": (100, 100, 1100.0, 2500.0, 701),
    "ropls_cellulose.rdata": (180, 180, 400.0, 2500.0, 1201),
    "UCPH_wheat_kernels_NITSingleSeed.MAT": (523, 523, 850.0, 1048.0, 100),
}


@pytest.fixture(scope="module")
def records(shared_data):
    folder = shared_data / "mirror" / "nirdata"
    return {name: list(read_source("nirdata", folder / name)) for name in SETS}


def test_every_set_in_the_catalog_has_a_reader_entry_and_back():
    assert set(SETS) == set(CORPUS_SOURCES["nirdata"].files) == set(EXPECTED)


def test_each_set_is_read_with_its_axis_in_wavenumbers(records):
    for name, (n, samples, first_nm, last_nm, points) in EXPECTED.items():
        got = records[name]
        assert not [r for r in got if isinstance(r, Rejected)], name
        assert len(got) == n, name
        assert len({r.sample_id for r in got}) == samples, name
        for r in got:
            assert r.source == "nirdata" and r.modality == "nir"
            assert r.sample_id.startswith(f"nirdata:{name.rsplit('.', 1)[0]}:")
            assert np.isfinite(r.y).all() and r.y.shape == (points,)
        nm = 1e7 / got[0].x
        assert nm[0] == pytest.approx(first_nm) and nm[-1] == pytest.approx(last_nm), name
        assert np.all(np.diff(nm) > 0), name  # the axis as published, ascending nm


def test_ids_come_from_the_sets_own_sample_names(records):
    cassav = [r.sample_id for r in records["rchemo_cassav.rda"]]
    assert cassav[0] == "nirdata:rchemo_cassav:26" and cassav[-1] == "nirdata:rchemo_cassav:5145"
    australia = records["spectacles_australia.rda"]
    assert australia[0].sample_id == "nirdata:spectacles_australia:28"  # the sr_no column
    cellulose = records["ropls_cellulose.rdata"]
    assert cellulose[-1].sample_id == "nirdata:ropls_cellulose:O180"
    beer = [r.sample_id for r in records["OHPL_beer.rda"]]
    assert beer[0].endswith(":xtrain-1") and beer[-1].endswith(":xtest-20")
    # mayonnaise: 54 samples in triplicate, consecutive rows
    mayonnaise = records["pls_mayonnaise.RData"]
    assert Counter(r.sample_id for r in mayonnaise) == {
        f"nirdata:pls_mayonnaise:NIR-{k}": 3 for k in range(1, 55)
    }
    assert [r.metadata["replicate"] for r in mayonnaise[:4]] == [1, 2, 3, 1]


def test_values_are_as_published_or_log_reflectance(records, shared_data):
    import scipy.io

    kernels = scipy.io.loadmat(shared_data / "mirror/nirdata/UCPH_wheat_kernels_NITSingleSeed.MAT")
    got = records["UCPH_wheat_kernels_NITSingleSeed.MAT"]
    np.testing.assert_array_equal(got[0].y, kernels["Calibration_X"][0])
    np.testing.assert_array_equal(got[-1].y, kernels["Validation_X"][-1])
    # the Australian soils are reflectance (0-1): stored as log10(1/R), so larger = more absorbed
    australia = np.array([r.y for r in records["spectacles_australia.rda"]])
    assert 0.0 < australia.min() and australia.max() < 2.0


def test_unknown_and_unreadable_files_name_the_file(tmp_path):
    cases = {
        "chemometrics_NIR.rda": "chemometrics_NIR.rda: not one of the nirdata sets",
        "OHPL_beer.rda": "OHPL_beer.rda: not a readable R data file",
        "UCPH_wheat_kernels_NITSingleSeed.MAT": "NITSingleSeed.MAT: not a readable MATLAB file",
    }
    for name, message in cases.items():
        (tmp_path / name).write_bytes(b"neither R nor MATLAB data")
        with pytest.raises(InputError, match=message):
            list(read_source("nirdata", tmp_path / name))


def test_no_nirdata_spectrum_is_taken_for_a_benchmark_but_corn_still_is(tmp_path, shared_data):
    """Through the real stages (parse -> spectra shard): the leakage check flags no nirdata row
    against corn or tablet, and still flags corn rows put among them."""
    folder = shared_data / "mirror" / "nirdata"
    counts = parse_to_shard("nirdata", [folder / n for n in SETS], tmp_path / "nirdata.parquet")
    assert counts == {"records": 2506, "rejected": 0}
    process_shard(tmp_path / "nirdata.parquet", tmp_path / "nirdata.h5")
    corn = load_benchmark("corn", [shared_data / "corn.mat"])
    tablet = load_benchmark(
        "tablet", [shared_data / "Pharma_Instrument1.csv", shared_data / "Pharma_Instrument2.csv"]
    )
    fingerprints = BenchmarkFingerprints.from_spectra(
        {**benchmark_sets(corn), **benchmark_sets(tablet)}
    )
    with h5py.File(tmp_path / "nirdata.h5") as f:
        spectra, axis = f["spectra"][:], f["axis"][:]
    assert len(spectra) == 2506
    assert not fingerprints.find_benchmark_rows(spectra, axis).any()
    corn_sets = benchmark_sets(corn)["corn"]
    corn_rows, corn_axis = resample_batch(corn_sets[0][:5], corn_sets[1][:5])
    mixed = np.concatenate([spectra[:50], snv(corn_rows)])
    mixed_axis = np.concatenate([axis[:50], corn_axis])
    assert np.flatnonzero(fingerprints.find_benchmark_rows(mixed, mixed_axis)).tolist() == list(
        range(50, 55)
    )
