"""OpenSpecy reader on the real .rds/.RData samples (v1 objects, legacy table, metadata-only)."""

import numpy as np
import pytest

from spectralfm.errors import InputError
from spectralfm.sources.openspecy import read_openspecy
from spectralfm.sources.record import Rejected, SpectrumRecord


def test_v1_library_gives_every_spectrum_with_modality_from_metadata(shared_data):
    items = list(read_openspecy(shared_data / "samples" / "openspecy_test_lib.RData"))
    assert len(items) == 57 and all(isinstance(r, SpectrumRecord) for r in items)
    assert sum(r.modality == "ir" for r in items) == 29
    assert sum(r.modality == "raman" for r in items) == 28
    assert len({r.sample_id for r in items}) == 57
    for record in items:
        assert record.metadata["SpectrumType"] in ("FTIR", "Raman")
        assert record.modality == ("ir" if record.metadata["SpectrumType"] == "FTIR" else "raman")
        assert record.sample_id == f"openspecy:{record.metadata['sample_name']}"
        # NA outside the measured range is dropped, the rest lies on the 100-4000 cm^-1 grid
        assert np.all(np.isfinite(record.y)) and 100 <= record.x.min() < record.x.max() <= 4000
    sizes = {r.x.size for r in items}
    assert len(sizes) > 1 and max(sizes) <= 781


def test_one_spectrum_in_three_files_gets_one_id(shared_data):
    samples = shared_data / "samples"
    (rds,) = read_openspecy(samples / "openspecy_raman_hdpe.rds")
    (rdata,) = read_openspecy(samples / "openspecy_raman_hdpe.RData")
    (legacy,) = read_openspecy(samples / "openspecy_testdata.RData", modality="raman")
    assert rds.sample_id == rdata.sample_id == legacy.sample_id
    for record in (rds, rdata, legacy):
        assert record.modality == "raman" and record.x.size == 964
        assert record.x[0] == pytest.approx(301.04) and record.x[-1] == pytest.approx(3198.12)
        np.testing.assert_array_equal(record.y, rds.y)
    assert rds.metadata["spectrum_identity"] == "HDPE"
    assert legacy.metadata["x_column"] == "Wavelength"  # legacy name, wavenumber values


def test_legacy_table_without_modality_hint_is_rejected_not_guessed(shared_data):
    (item,) = read_openspecy(shared_data / "samples" / "openspecy_testdata.RData")
    assert isinstance(item, Rejected) and "no modality" in item.reason


@pytest.mark.parametrize(
    "name", ["openspecy_ftir_metadata.RData", "openspecy_raman_metadata.RData"]
)
def test_metadata_only_tables_are_an_input_error(shared_data, name):
    with pytest.raises(InputError, match=f"{name}.*no spectra.*metadata-only"):
        list(read_openspecy(shared_data / "samples" / name))


def test_garbage_file_is_an_input_error(tmp_path):
    junk = tmp_path / "junk.rds"
    junk.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(InputError, match="junk.rds"):
        list(read_openspecy(junk))
