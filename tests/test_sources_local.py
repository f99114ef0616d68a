"""Local reader: the real JCAMP-DX samples and ChemometricsData CSVs, plus synthetic layouts."""

import shutil

import jcamp
import numpy as np
import pytest

from spectralfm.errors import InputError
from spectralfm.sources.local import infer_x_units, read_local
from spectralfm.sources.record import Rejected, SpectrumRecord

# name -> (points, x min, x max, yunits)
JCAMP = {
    "acetone.jdx": (14106, 574.928, 3975.077, "(micromol/mol)-1m-1 (base 10)"),
    "fitr_nitrocellulose.jdx": (7154, 599.91952, 7498.994, "Reflectance"),
    "infrared_ethanol.jdx": (3570, 461.563, 3807.5, "TRANSMITTANCE"),
    "toluene.jdx": (3329, 456.0, 3784.0, "TRANSMITTANCE"),
    "water.jdx": (880, 450.0, 3966.0, "ABSORBANCE"),
}


def _only(items):
    items = list(items)
    assert len(items) == 1 and isinstance(items[0], SpectrumRecord), items
    return items[0]


def test_every_real_jcamp_sample(shared_data):
    folder = shared_data / "samples" / "jcamp"
    assert sorted(p.name for p in folder.iterdir()) == sorted(JCAMP)
    for name, (n, xmin, xmax, yunits) in JCAMP.items():
        record = _only(read_local(folder / name))
        assert record.modality == "ir" and record.source == "local"
        assert record.sample_id == f"local:{name}"
        assert record.x.size == n
        assert record.x.min() == pytest.approx(xmin) and record.x.max() == pytest.approx(xmax)
        assert record.metadata["yunits"] == yunits and np.all(np.isfinite(record.y))


def test_transmittance_and_reflectance_become_absorbance(shared_data):
    folder = shared_data / "samples" / "jcamp"
    for name in ("infrared_ethanol.jdx", "fitr_nitrocellulose.jdx"):
        raw = jcamp.readfile(str(folder / name))
        record = _only(read_local(folder / name))
        np.testing.assert_allclose(record.y, -np.log10(np.asarray(raw["y"])), rtol=1e-12)
    water_raw = jcamp.readfile(str(folder / "water.jdx"))
    np.testing.assert_allclose(_only(read_local(folder / "water.jdx")).y, water_raw["y"])


def test_latin1_header_bytes_and_multiline_values(shared_data):
    folder = shared_data / "samples" / "jcamp"
    assert b"\xb0" in (folder / "fitr_nitrocellulose.jdx").read_bytes()
    nitro = _only(read_local(folder / "fitr_nitrocellulose.jdx"))
    assert nitro.metadata["encoding"] == "latin-1"
    assert "60° field of view" in nitro.metadata["header"]["detector (dia. det. port in sphere)"]
    ethanol = _only(read_local(folder / "infrared_ethanol.jdx"))
    assert (
        ethanol.metadata["owner"].count("\n") == 2
        and "All rights reserved" in ethanol.metadata["owner"]
    )
    assert ethanol.metadata["cas"] == "64-17-5"


def test_folder_is_read_recursively_with_stable_ids(tmp_path, shared_data):
    jdx = shared_data / "samples" / "jcamp" / "water.jdx"
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(jdx, tmp_path / "a" / "b" / "water.jdx")
    (tmp_path / "a" / "notes.txt").write_text("hello")
    (tmp_path / ".hidden").mkdir()
    shutil.copy(jdx, tmp_path / ".hidden" / "water.jdx")
    (tmp_path / "table.csv").write_text("name,1100,1102,1104\ns1,0.1,0.2,0.3\ns2,0.1,oops,0.3\n")
    first = list(read_local(tmp_path))
    second = list(read_local(tmp_path))
    assert [getattr(i, "sample_id", i) for i in first] == [
        getattr(i, "sample_id", i) for i in second
    ]
    records = [i for i in first if isinstance(i, SpectrumRecord)]
    rejected = {i.item: i.reason for i in first if isinstance(i, Rejected)}
    assert [r.sample_id for r in records] == ["local:a/b/water.jdx", "local:table.csv#row1"]
    assert set(rejected) == {"a/notes.txt", "table.csv#row2"}
    assert "non-numeric" in rejected["table.csv#row2"]


def test_dough_rows_in_nm_with_metadata_columns(shared_data):
    path = shared_data / "nir" / "Dough_NIR" / "Dough_NIR.csv"
    records = list(read_local(path))
    assert len(records) == 72 and all(r.modality == "nir" for r in records)
    first = records[0]
    assert first.metadata["x_units"] == "nm" and first.x.size == 700
    assert first.x.max() == pytest.approx(1e7 / 1100) and first.x.min() == pytest.approx(1e7 / 2498)
    assert first.metadata["train"] == "true" and first.metadata["fat"] == "21.08"
    assert first.y[0] == pytest.approx(0.249846)  # the 1100 nm value, now at 9090.9 cm^-1
    only_fat = next(read_local(path, metadata_columns=["fat"]))
    assert "train" not in only_fat.metadata and only_fat.metadata["fat"] == "21.08"
    with pytest.raises(InputError, match="Dough_NIR.csv.*colour"):
        list(read_local(path, metadata_columns=["colour"]))


def test_fresh_meats_header_in_wavenumbers(shared_data):
    path = shared_data / "nir" / "Fresh_Meats" / "Fresh_meats.csv"
    records = list(read_local(path, id_column="sample"))
    assert len(records) == 120 and all(r.modality == "ir" for r in records)
    assert records[0].metadata["x_units"] == "cm-1"
    assert records[0].x[0] == pytest.approx(1005.3495) and records[0].x[-1] == pytest.approx(
        1867.864
    )
    assert (
        records[0].metadata["meat"] == "Chicken"
        and records[0].sample_id == "local:Fresh_meats.csv#1"
    )


@pytest.mark.parametrize(
    "relative, n, modality",
    [
        ("Cargill_Corn/m5_spectra.csv", 80, "nir"),
        ("Fruit_Puree_Adulteration/MIR_Fruit_purees.csv", 983, "ir"),
        ("Olive_Oils_Quadrum/Olive_Oils_Quadrum.csv", 120, "ir"),
        ("Instant_Coffee_Quadrum/Instant_Coffee_Quadrum.csv", 56, "ir"),
    ],
)
def test_other_real_csv_tables(shared_data, relative, n, modality):
    records = list(read_local(shared_data / "nir" / relative))
    assert len(records) == n and {r.modality for r in records} == {modality}
    assert all(isinstance(r, SpectrumRecord) for r in records)


@pytest.mark.parametrize(
    "relative", ["Tecator_Meat_Data/tecator.csv", "Cargill_Corn/property_values.csv"]
)
def test_tables_without_an_axis_are_an_input_error(shared_data, relative):
    with pytest.raises(InputError, match="neither CSV layout fits"):
        list(read_local(shared_data / "nir" / relative))


def test_column_layout_with_percent_transmittance_and_explicit_units(tmp_path):
    path = tmp_path / "columns.csv"
    path.write_text("wavelength_um,sampleA,sampleB\n2.5,10,100\n5.0,1,50\n10.0,100,bad\n")
    items = list(read_local(path, y_units="%T"))
    record, rejected = items
    assert record.sample_id == "local:columns.csv#sampleA" and record.modality == "ir"  # mid-IR
    np.testing.assert_allclose(record.x, [4000.0, 2000.0, 1000.0])
    np.testing.assert_allclose(record.y, [1.0, 2.0, 0.0])
    assert isinstance(rejected, Rejected) and rejected.item == "columns.csv#sampleB"
    forced = next(read_local(path, y_units="%T", x_units="cm-1", modality="raman"))
    np.testing.assert_allclose(forced.x, [2.5, 5.0, 10.0])
    assert forced.modality == "raman"


def test_csv_with_bom_and_unknown_units(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffid,900.5,901.5,902.5\nx,1,2,3\n".encode())
    record = next(read_local(path, id_column="id"))
    assert record.sample_id == "local:bom.csv#x" and record.metadata["x_units"] == "nm"
    with pytest.raises(InputError, match="furlong"):
        list(read_local(path, x_units="furlong"))


def test_x_unit_inference_rule():
    assert infer_x_units(np.arange(1100.0, 2500.0, 2.0)) == "nm"
    assert infer_x_units(np.array([1005.3495, 1007.279, 1009.2085])) == "cm-1"
    assert infer_x_units(np.array([4000.0, 6000.0, 9000.0])) == "cm-1"
    assert infer_x_units(np.array([2.5, 10.0, 25.0])) == "um"
