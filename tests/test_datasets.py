import csv
import zipfile

import numpy as np
import openpyxl
import pytest
import scipy.io
from http_fixtures import LoopbackServer

from spectralfm.catalog import BENCHMARKS, benchmark_path, raw_file
from spectralfm.datasets import (
    CORN_MAT_SHA256,
    SUGARCANE_CSV,
    SUGARCANE_INSTRUMENTS,
    SUGARCANE_REFERENCES,
    SUGARCANE_SPECTRA,
    TABLET_CSV,
    WHEAT_INSTRUMENTS,
    WHEAT_XLSX,
    fetch_benchmark,
    load_benchmark,
    quarantine_recording_faults,
    read_benchmark,
    read_corn_mat,
    read_tablet_csv,
    read_tablet_mat,
)
from spectralfm.download import file_sha256, verify
from spectralfm.errors import InputError


@pytest.fixture(scope="module")
def corn(shared_data):
    return read_corn_mat(shared_data / "corn.mat")


@pytest.fixture(scope="module")
def tablet_paths(shared_data):
    return shared_data / "Pharma_Instrument1.csv", shared_data / "Pharma_Instrument2.csv"


@pytest.fixture(scope="module")
def tablet(tablet_paths):
    return read_tablet_csv(*tablet_paths)


def _csv_matrix(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], np.array(rows[1:], dtype=np.float64)


# ---------------------------------------------------------------- corn


def test_corn_shapes_axis_and_properties(corn, shared_data):
    assert file_sha256(shared_data / "corn.mat") == CORN_MAT_SHA256
    assert list(corn.spectra) == ["m5", "mp5", "mp6"]
    for X in corn.spectra.values():
        assert X.shape == (80, 700) and X.dtype == np.float64
    np.testing.assert_array_equal(corn.wavelengths_nm, np.arange(1100, 2499, 2))
    assert corn.properties == ["moisture", "oil", "protein", "starch"]
    assert corn.Y.shape == (80, 4) and corn.split is None


def test_corn_values_equal_independent_csv_export(corn, shared_data):
    folder = shared_data / "nir" / "Cargill_Corn"
    header, Y = _csv_matrix(folder / "property_values.csv")
    assert [h.lower() for h in header] == corn.properties
    np.testing.assert_array_equal(corn.Y, Y)
    for inst in ("m5", "mp5", "mp6"):
        header, X = _csv_matrix(folder / f"{inst}_spectra.csv")
        np.testing.assert_array_equal(np.array(header, dtype=float), corn.wavelengths_nm)
        np.testing.assert_array_equal(corn.instrument(inst), X)
    np.testing.assert_array_equal(corn.property("Moisture"), Y[:, 0])
    np.testing.assert_array_equal(corn.property("starch"), Y[:, 3])


def test_corn_from_download_zip_equals_mat(corn, shared_data):
    from_zip = load_benchmark("corn", [shared_data / "mirror" / "eigenvector" / "corn.mat_.zip"])
    assert from_zip.properties == corn.properties
    for inst in corn.spectra:
        np.testing.assert_array_equal(from_zip.instrument(inst), corn.instrument(inst))
    assert from_zip.source_path.endswith("corn.mat_.zip!corn.mat")


def test_missing_property_and_instrument_name_file_and_choices(corn):
    with pytest.raises(InputError, match=r"corn\.mat.*'fat'.*moisture"):
        corn.property("fat")
    with pytest.raises(InputError, match=r"corn\.mat.*'mp7'.*m5"):
        corn.instrument("mp7")


def test_truncated_mat_is_an_input_error(shared_data, tmp_path):
    data = (shared_data / "corn.mat").read_bytes()
    cut = tmp_path / "corn.mat"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=f"{cut}: not a readable MATLAB"):
        read_corn_mat(cut)
    with pytest.raises(InputError, match="file not found"):
        read_corn_mat(tmp_path / "absent.mat")
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.writestr("a.mat", b"")
        zf.writestr("b.mat", b"")
    with pytest.raises(InputError, match=r"two\.zip: expected exactly one \.mat member"):
        load_benchmark("corn", [two])


def test_mat_without_expected_variables(tmp_path):
    path = tmp_path / "other.mat"
    scipy.io.savemat(path, {"spectra": np.ones((3, 4))})
    with pytest.raises(InputError, match=r"other\.mat: missing variable.*m5spec.*spectra"):
        read_corn_mat(path)
    with pytest.raises(InputError, match=r"other\.mat: missing variable.*calibrate_1"):
        read_tablet_mat(path)


def test_corn_labels_are_read_not_assumed(shared_data, tmp_path):
    """Reorder propvals columns and labels together: the reader must follow the labels."""
    mat = scipy.io.loadmat(shared_data / "corn.mat", struct_as_record=False, squeeze_me=True)
    keep = ["m5spec", "mp5spec", "mp6spec"]
    out = {k: _dso(mat[k].data, axis=mat[k].axisscale[1, 0]) for k in keep}
    order = [3, 1, 0, 2]
    names = ["Starch", "Oil", "Moisture", "Protein"]
    out["propvals"] = _dso(mat["propvals"].data[:, order], labels=names)
    path = tmp_path / "corn_reordered.mat"
    scipy.io.savemat(path, out)
    ds = read_corn_mat(path)
    assert ds.properties == ["starch", "oil", "moisture", "protein"]
    np.testing.assert_array_equal(ds.property("moisture"), mat["propvals"].data[:, 0])


# ---------------------------------------------------------------- tablet CSV


def test_tablet_csv_shapes_splits_and_properties(tablet, tablet_paths):
    for path, raw in zip(tablet_paths, TABLET_CSV.values(), strict=True):
        verify(path, sha256=raw.sha256)
    assert list(tablet.spectra) == ["1", "2"]
    for X in tablet.spectra.values():
        assert X.shape == (655, 650)
    np.testing.assert_array_equal(tablet.wavelengths_nm, np.arange(600, 1899, 2))
    assert tablet.properties == ["weight", "hardness", "assay"]
    labels, counts = np.unique(tablet.split, return_counts=True)
    assert dict(zip(labels.tolist(), counts.tolist(), strict=True)) == {
        "calibrate": 155,
        "validate": 40,
        "test": 460,
    }
    # CSV row order is Train, Validate, Test.
    assert tablet.split[0] == "calibrate" and tablet.split[155] == "validate"
    assert tablet.split[195] == "test"


def test_tablet_reference_values_identical_between_instruments(tablet_paths, tablet):
    header1, table1 = _read_raw(tablet_paths[0])
    header2, table2 = _read_raw(tablet_paths[1])
    assert header1[1:4] == header2[1:4] == ["weight", "hardness", "assay"]
    Y1, Y2 = table1[:, :3], table2[:, :3]
    np.testing.assert_array_equal(Y1, Y2)
    np.testing.assert_array_equal(tablet.Y, Y1)
    np.testing.assert_array_equal(tablet.property("assay"), Y1[:, 2])


def test_tablet_first_record_matches_eigenvector_golden(tablet):
    """Per-record values of nir_shootout_2002.mat from nirs4all-formats' golden summary."""
    x1, x2 = tablet.instrument("1")[0], tablet.instrument("2")[0]
    assert (x1[0], x1[-1]) == (3.222009, 4.131819)
    assert x1.sum() == pytest.approx(2394.013801, abs=1e-5)
    assert (x2[0], x2[-1]) == (3.051661, 4.30238)
    assert x2.sum() == pytest.approx(2416.590663, abs=1e-5)


def _read_raw(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], np.array([r[1:] for r in rows[1:]], dtype=np.float64)


def _write_small_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _small_pair(tmp_path, tablet_paths, n=6):
    """The first n rows of the real CSVs (header intact), as two small files."""
    out = []
    for i, src in enumerate(tablet_paths, start=1):
        with open(src, newline="") as f:
            rows = list(csv.reader(f))
        out.append((tmp_path / f"inst{i}.csv", rows[0], rows[1 : n + 1]))
    return out


def test_tablet_csv_wavelength_headers_disagree(tmp_path, tablet_paths):
    (p1, h1, r1), (p2, h2, r2) = _small_pair(tmp_path, tablet_paths)
    h2 = h2[:4] + [str(float(h) + 1) for h in h2[4:]]
    _write_small_csv(p1, h1, r1)
    _write_small_csv(p2, h2, r2)
    assert read_tablet_csv(p1, p1).Y.shape == (6, 3)
    with pytest.raises(InputError, match=r"inst1\.csv vs .*inst2\.csv: wavelength headers"):
        read_tablet_csv(p1, p2)


def test_tablet_csv_row_counts_differ(tmp_path, tablet_paths):
    (p1, h1, r1), (p2, h2, r2) = _small_pair(tmp_path, tablet_paths)
    _write_small_csv(p1, h1, r1)
    _write_small_csv(p2, h2, r2[:-1])
    with pytest.raises(InputError, match=r"inst2\.csv: row counts differ \(6 vs 5\)"):
        read_tablet_csv(p1, p2)


def test_tablet_csv_misaligned_reference_values(tmp_path, tablet_paths):
    (p1, h1, r1), (p2, h2, r2) = _small_pair(tmp_path, tablet_paths)
    r2[3][3] = "123.0"  # assay of line 5
    _write_small_csv(p1, h1, r1)
    _write_small_csv(p2, h2, r2)
    with pytest.raises(InputError, match="reference values differ first on line 5"):
        read_tablet_csv(p1, p2)


def test_tablet_csv_bad_rows_name_file_and_line(tmp_path, tablet_paths):
    (p1, h1, r1), _ = _small_pair(tmp_path, tablet_paths)
    r1[2][0] = "Validation"  # ambiguous IDRC naming is refused, not guessed
    _write_small_csv(p1, h1, r1)
    with pytest.raises(InputError, match=r"inst1\.csv: line 4: unknown SampleType 'Validation'"):
        read_tablet_csv(p1, p1)
    r1[2][0] = "Train"
    r1[1][10] = "n/a"
    _write_small_csv(p1, h1, r1)
    with pytest.raises(InputError, match=r"inst1\.csv: line 3: non-numeric"):
        read_tablet_csv(p1, p1)


# ---------------------------------------------------------------- tablet .mat (synthetic)


def _cell22(entry):
    cells = np.empty((2, 2), dtype=object)
    for i in range(2):
        for j in range(2):
            cells[i, j] = np.zeros((0, 0))
    cells[1, 0] = entry
    return cells


def _dso(data, labels=None, axis=None):
    """A struct laid out like Eigenvector's saved DataSet objects (as in corn.mat)."""
    return {
        "data": np.asarray(data, dtype=np.float64),
        "label": _cell22(np.array(labels) if labels is not None else np.zeros((0, 0))),
        "axisscale": _cell22(np.asarray(axis) if axis is not None else np.zeros((0, 0))),
        "type": "data",
    }


def _synthetic_shootout(path, tablet, per_split=None, y_order=(2, 0, 1), mutate=None):
    """Real CSV rows repacked as nir_shootout_2002.mat: Y columns permuted, splits stored
    calibrate, test, validate as Eigenvector does."""
    per_split = per_split or {"calibrate": 5, "test": 4, "validate": 3}
    names = [tablet.properties[i].capitalize() for i in y_order]
    variables, expected_rows = {}, {}
    for split, n in per_split.items():
        rows = np.flatnonzero(tablet.split == split)[:n]
        expected_rows[split] = rows
        for inst in ("1", "2"):
            variables[f"{split}_{inst}"] = _dso(
                tablet.spectra[inst][rows], axis=tablet.wavelengths_nm
            )
        variables[f"{split}_Y"] = _dso(tablet.Y[rows][:, list(y_order)], labels=names)
    if mutate:
        mutate(variables)
    scipy.io.savemat(path, variables)
    return np.concatenate([expected_rows[s] for s in ("calibrate", "validate", "test")])


def test_tablet_mat_reads_labels_and_orders_splits(tmp_path, tablet):
    path = tmp_path / "nir_shootout_2002.mat"
    rows = _synthetic_shootout(path, tablet)
    ds = read_tablet_mat(path)
    assert ds.properties == ["assay", "weight", "hardness"]
    assert ds.split.tolist() == ["calibrate"] * 5 + ["validate"] * 3 + ["test"] * 4
    np.testing.assert_array_equal(ds.wavelengths_nm, tablet.wavelengths_nm)
    for prop in ("weight", "hardness", "assay"):
        np.testing.assert_array_equal(ds.property(prop), tablet.property(prop)[rows])
    for inst in ("1", "2"):
        np.testing.assert_array_equal(ds.instrument(inst), tablet.instrument(inst)[rows])
    zipped = tmp_path / "nir_shootout_2002.mat_.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.write(path, "nir_shootout_2002.mat")
    via_zip = load_benchmark("tablet", [zipped])
    np.testing.assert_array_equal(via_zip.Y, ds.Y)


def test_tablet_mat_inconsistent_labels_or_rows(tmp_path, tablet):
    def relabel(v):
        v["test_Y"]["label"] = _cell22(np.array(["Weight", "Hardness", "Assay"]))

    path = tmp_path / "relabelled.mat"
    _synthetic_shootout(path, tablet, mutate=relabel)
    with pytest.raises(InputError, match=r"relabelled\.mat: test_Y labels"):
        read_tablet_mat(path)

    def drop_row(v):
        v["validate_2"]["data"] = v["validate_2"]["data"][:-1]

    path = tmp_path / "short.mat"
    _synthetic_shootout(path, tablet, mutate=drop_row)
    with pytest.raises(InputError, match=r"short\.mat: validate_2 has 2 rows, validate_Y 3"):
        read_tablet_mat(path)


def test_tablet_mat_axis_from_any_dso_and_consistent(tmp_path, tablet):
    def axis_only_on_test_2(v):
        for name in v:
            if not name.endswith("_Y") and name != "test_2":
                v[name]["axisscale"] = _cell22(np.zeros((0, 0)))

    path = tmp_path / "one_axis.mat"
    _synthetic_shootout(path, tablet, mutate=axis_only_on_test_2)
    np.testing.assert_array_equal(read_tablet_mat(path).wavelengths_nm, tablet.wavelengths_nm)

    def shifted_axis(v):
        v["validate_1"]["axisscale"] = _cell22(tablet.wavelengths_nm + 1)

    path = tmp_path / "shifted.mat"
    _synthetic_shootout(path, tablet, mutate=shifted_axis)
    with pytest.raises(InputError, match=r"shifted\.mat: validate_1 has a different wavelength"):
        read_tablet_mat(path)


def test_load_benchmark_dispatch_errors(tablet_paths, shared_data):
    assert load_benchmark("tablet", list(tablet_paths)).Y.shape == (655, 3)
    with pytest.raises(InputError, match="'gasoline' unknown"):
        load_benchmark("gasoline", [shared_data / "corn.mat"])
    with pytest.raises(InputError, match="expected one .mat or .zip"):
        load_benchmark("corn", list(tablet_paths))


def test_fetch_benchmark_through_mirrors(shared_data, tmp_path, corn, tablet):
    """corn from the folder mirror; tablet CSVs from a loopback HTTP mirror of the real files."""
    [mat] = fetch_benchmark("corn", tmp_path / "raw", str(shared_data / "mirror"))
    assert mat == (tmp_path / "raw" / "eigenvector" / "corn.mat").resolve()
    np.testing.assert_array_equal(load_benchmark("corn", [mat]).Y, corn.Y)
    with LoopbackServer() as server:
        for raw in TABLET_CSV.values():
            server.add(f"/m/{raw.source}/{raw.name}", shared_data / raw.name)
        paths = fetch_benchmark("tablet", tmp_path / "raw", server.url("/m"))
    assert [p.name for p in paths] == ["Pharma_Instrument1.csv", "Pharma_Instrument2.csv"]
    np.testing.assert_array_equal(load_benchmark("tablet", paths).Y, tablet.Y)
    # A mirror that lacks the tablet files: built here, since the shared mirror now holds them.
    corn_only = tmp_path / "corn_only_mirror" / "eigenvector"
    corn_only.mkdir(parents=True)
    (corn_only / "corn.mat_.zip").write_bytes(
        (shared_data / "mirror" / "eigenvector" / "corn.mat_.zip").read_bytes()
    )
    with pytest.raises(InputError, match="not found in the mirror folder"):
        fetch_benchmark("tablet", tmp_path / "raw2", str(corn_only.parent))


def test_fetch_tablet_from_the_shared_mirror(shared_data, tmp_path, tablet):
    paths = fetch_benchmark("tablet", tmp_path / "raw", str(shared_data / "mirror"))
    np.testing.assert_array_equal(load_benchmark("tablet", paths).Y, tablet.Y)


# ---------------------------------------------------------------- IDRC 2016 wheat (xlsx)

WHEAT_IDS = [str(i) for i in range(20140001, 20140251) if i not in (20140042, 20140043)]


@pytest.fixture(scope="module")
def wheat_paths(shared_data):
    return [shared_data / "mirror" / "idrc2016" / raw.name for raw in WHEAT_XLSX.values()]


@pytest.fixture(scope="module")
def wheat(wheat_paths):
    return read_benchmark("wheat", wheat_paths)  # as the files hold it (no quarantine)


def test_recording_faults_are_quarantined_and_named(wheat, wheat_paths, corn, tablet):
    """Wheat A2's sample 20140190 has a 0.58 absorbance step inside its spectrum: load_benchmark
    removes it from every unit and says why; nothing else on the benchmarks is touched."""
    cleaned = load_benchmark("wheat", wheat_paths)
    assert list(cleaned.quarantined) == ["20140190"]
    assert "A2" in cleaned.quarantined["20140190"] and "step" in cleaned.quarantined["20140190"]
    assert cleaned.n_samples == 247 and "20140190" not in cleaned.sample_ids.tolist()
    kept = wheat.sample_ids != "20140190"
    for inst in cleaned.spectra:
        np.testing.assert_array_equal(cleaned.instrument(inst), wheat.instrument(inst)[kept])
    np.testing.assert_array_equal(cleaned.Y, wheat.Y[kept])
    for clean in (quarantine_recording_faults(corn), quarantine_recording_faults(tablet)):
        assert clean.quarantined == {}


def _sheet_rows(path, sheet):
    workbook = openpyxl.load_workbook(path, read_only=True)
    rows = [r for r in workbook[sheet].iter_rows(values_only=True) if r[0] is not None]
    workbook.close()
    return rows


def test_wheat_shapes_ids_axes_and_protein(wheat, wheat_paths):
    for path, raw in zip(wheat_paths, WHEAT_XLSX.values(), strict=True):
        verify(path, sha256=raw.sha256)
    assert list(wheat.spectra) == ["A1", "A2", "A3", "A4", "B"] == list(WHEAT_INSTRUMENTS)
    assert wheat.sample_ids.tolist() == WHEAT_IDS and wheat.n_samples == 248
    for inst in ("A1", "A2", "A3", "A4"):
        assert wheat.instrument(inst).shape == (248, 741)
        np.testing.assert_array_equal(wheat.axis(inst), np.arange(730, 1100.25, 0.5))
    assert wheat.instrument("B").shape == (248, 1061)
    np.testing.assert_array_equal(wheat.axis("B"), np.arange(570, 1100.25, 0.5))
    assert wheat.wavelengths_nm is None  # B's axis differs from the A units'
    assert wheat.properties == ["protein"] and wheat.split is None and wheat.unmatched == {}
    protein = wheat.property("protein")
    assert protein.min() == 7.97 and protein.max() == 18.69 and np.isfinite(protein).all()
    for a, b in [("A1", "A2"), ("A1", "A4"), ("A2", "A3")]:
        assert not np.allclose(wheat.instrument(a), wheat.instrument(b))
    with pytest.raises(InputError, match=r"no instrument 'C'"):
        wheat.axis("C")


def test_wheat_equals_the_workbooks_read_directly(wheat, wheat_paths):
    """Sheet1 in a calibration workbook, Wheat in the B workbook (which ends in an empty row):
    the protein of every ID is the same on each unit, and the rows follow the IDs."""
    for path, sheet, inst in [(wheat_paths[0], "Sheet1", "A1"), (wheat_paths[4], "Wheat", "B")]:
        header, *rows = _sheet_rows(path, sheet)
        assert header[:2] == ("ID", "Protein")
        by_id = {str(r[0]): r for r in rows}
        assert sorted(by_id) == WHEAT_IDS
        np.testing.assert_array_equal([by_id[i][1] for i in WHEAT_IDS], wheat.property("protein"))
        np.testing.assert_array_equal(
            np.array([by_id[i][2:] for i in WHEAT_IDS], dtype=float), wheat.instrument(inst)
        )
        np.testing.assert_array_equal(np.array(header[2:], dtype=float), wheat.axis(inst))


def _write_xlsx(path, ids, protein, wavelengths=(730.0, 730.5, 731.0), sheet="Sheet1", empty=()):
    workbook = openpyxl.Workbook()
    for name in empty:  # empty sheets before the data, as in the calibration workbooks' order
        workbook.create_sheet(name, 0)
    ws = workbook.active if not empty else workbook.worksheets[-1]
    ws.title = sheet
    ws.append(["ID", "Protein", *wavelengths])
    for i, (sample_id, p) in enumerate(zip(ids, protein, strict=True)):
        ws.append([sample_id, p, *(0.1 * i + 0.01 * k for k in range(len(wavelengths)))])
    ws.append([None] * (2 + len(wavelengths)))  # trailing empty row
    workbook.save(path)
    return path


def test_wheat_ids_missing_on_one_unit_are_reported_and_dropped(tmp_path, caplog):
    ids = [1, 2, 3, 4, 5]
    protein = {i: 10.0 + i for i in [*ids, 9]}
    files = []
    for name, these in [
        ("a1.xlsx", ids),
        ("a2.xlsx", [1, 2, 4, 5]),  # lacks 3
        ("a3.xlsx", ids),
        ("a4.xlsx", ids),
        ("b.xlsx", [*ids, 9]),  # an ID nobody else has
    ]:
        files.append(_write_xlsx(tmp_path / name, these, [protein[i] for i in these]))
    _write_xlsx(tmp_path / "a3.xlsx", ids, [protein[i] for i in ids], sheet="Wheat", empty=["S"])
    with caplog.at_level("WARNING", logger="spectralfm.datasets"):
        ds = load_benchmark("wheat", files)
    assert ds.sample_ids.tolist() == ["1", "2", "4", "5"]
    assert ds.unmatched == {
        "a1.xlsx": ["9"],
        "a2.xlsx": ["3", "9"],
        "a3.xlsx": ["9"],
        "a4.xlsx": ["9"],
    }
    assert "wheat: 2 sample ID(s) are not in every file" in caplog.text
    assert "a2.xlsx lacks 3, 9" in caplog.text
    np.testing.assert_array_equal(ds.property("protein"), [11, 12, 14, 15])
    # rows follow the IDs: a2 has sample 4 on its third data row, a1 on its fourth
    np.testing.assert_allclose(ds.instrument("A2")[2], ds.instrument("A1")[2] - 0.1)


def test_wheat_bad_workbooks_are_input_errors(tmp_path, wheat_paths):
    good = [_write_xlsx(tmp_path / f"u{i}.xlsx", [1, 2], [10.0, 11.0]) for i in range(5)]
    other = _write_xlsx(tmp_path / "other.xlsx", [1, 2], [10.0, 11.5])
    with pytest.raises(InputError, match=r"u0.xlsx\[Sheet1\] vs .*other.xlsx.*protein of sample 2"):
        load_benchmark("wheat", [*good[:4], other])
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a workbook")
    with pytest.raises(InputError, match=r"junk.xlsx: not a readable .xlsx"):
        load_benchmark("wheat", [*good[:4], junk])
    nosheet = tmp_path / "nosheet.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["Sample", "Protein", 730])
    workbook.save(nosheet)
    with pytest.raises(InputError, match=r"nosheet.xlsx: expected exactly one sheet.*'ID'"):
        load_benchmark("wheat", [*good[:4], nosheet])
    text = tmp_path / "text.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["ID", "Protein", 730, 730.5])
    workbook.active.append([1, 10.0, 0.5, "n/a"])
    workbook.save(text)
    with pytest.raises(InputError, match=r"text.xlsx\[Sheet\]: row 2 \(sample 1\), column '730.5'"):
        load_benchmark("wheat", [*good[:4], text])
    with pytest.raises(InputError, match=r"Test_ManufacturerB.xlsx is given in place of"):
        load_benchmark("wheat", [*wheat_paths[:3], wheat_paths[4], wheat_paths[3]])
    with pytest.raises(InputError, match=r"expected 5 files"):
        load_benchmark("wheat", wheat_paths[:2])


# ---------------------------------------------------------------- Chaix sugarcane (';' CSV)


@pytest.fixture(scope="module")
def sugarcane_paths(shared_data):
    return [shared_data / "mirror" / "chaix_sugarcane" / name for name in SUGARCANE_CSV]


@pytest.fixture(scope="module")
def sugarcane(sugarcane_paths):
    return load_benchmark("sugarcane", sugarcane_paths)


def _chaix_csv(path):
    """Independent parse: ';' separated, cells padded with spaces, blank first header cell."""
    rows = [[c.strip() for c in r] for r in csv.reader(open(path), delimiter=";")]
    return (
        np.array(rows[0][1:], dtype=float),
        [r[0] for r in rows[1:]],
        np.array([r[1:] for r in rows[1:]], dtype=float),
    )


SUGARCANE_AXES = {  # instrument: (channels, first nm, last nm)
    "F750": (231, 450.0, 1140.0),
    "MicroNIR1700": (125, 908.1, 1676.2),
    "MicroNIR2200": (125, 1158.8, 2169.4),
    "NIRONE2.2": (201, 1750.0, 2150.0),
    "NIRscanNano": (228, 901.028503, 1700.838339),
    "SCiO": (331, 740.0, 1070.0),
    "TellSpec": (256, 900.878296, 1700.416504),
}


def test_sugarcane_instruments_axes_ids_and_padded_cells(sugarcane, sugarcane_paths):
    for path, raw in zip(sugarcane_paths, SUGARCANE_CSV.values(), strict=True):
        verify(path, sha256=raw.sha256)
    assert list(sugarcane.spectra) == list(SUGARCANE_AXES) == list(SUGARCANE_INSTRUMENTS)
    assert sugarcane.sample_ids.tolist() == [str(i) for i in range(100, 160)]
    assert sugarcane.wavelengths_nm is None and sugarcane.unmatched == {}
    for inst, (p, lo, hi) in SUGARCANE_AXES.items():
        assert sugarcane.instrument(inst).shape == (60, p)
        assert sugarcane.axis(inst)[0] == lo and sugarcane.axis(inst)[-1] == hi
    # '100   ;-0.0179 ;-0.0202 ;...' with the header '  ;450;453;...'
    assert (sugarcane_paths[0].read_text().split("\n")[1]).startswith("100   ;-0.0179 ;")
    np.testing.assert_array_equal(sugarcane.instrument("F750")[0, :2], [-0.0179, -0.0202])
    for inst, files in SUGARCANE_SPECTRA.items():
        if len(files) == 1:
            axis, ids, X = _chaix_csv(sugarcane_paths[0].parent / files[0])
            assert ids == sugarcane.sample_ids.tolist()
            np.testing.assert_array_equal(axis, sugarcane.axis(inst))
            np.testing.assert_array_equal(X, sugarcane.instrument(inst))


def test_sugarcane_references_keep_na_as_nan(sugarcane, sugarcane_paths):
    assert sugarcane.properties == ["ts", "cp", "adf", "ivomd"]
    text = sugarcane_paths[-1].read_text()
    assert "\n111;NA ;" in text.replace("\r", "") and "\n103;NA;" in text.replace("\r", "")
    ts = sugarcane.property("TS")
    assert sugarcane.sample_ids[np.isnan(ts)].tolist() == ["103", "105", "111"]
    assert np.isfinite(sugarcane.Y[:, 1:]).all()
    assert sugarcane.property("cp")[0] == 7.03
    rows = [r for r in csv.reader(text.splitlines(), delimiter=";")][1:]
    np.testing.assert_array_equal(sugarcane.property("cp"), [float(r[2]) for r in rows])
    np.testing.assert_array_equal(
        sugarcane.property("ts"), [float("nan") if "NA" in r[1] else float(r[1]) for r in rows]
    )


def test_sugarcane_micronir1700_replicates_are_averaged(sugarcane, sugarcane_paths):
    folder = sugarcane_paths[0].parent
    reps = [_chaix_csv(folder / f) for f in SUGARCANE_SPECTRA["MicroNIR1700"]]
    stack = np.stack([X for _, _, X in reps])
    np.testing.assert_allclose(
        sugarcane.instrument("MicroNIR1700"), stack.mean(axis=0), rtol=0, atol=1e-15
    )
    np.testing.assert_array_equal(sugarcane.axis("MicroNIR1700"), reps[0][0])
    assert np.abs(reps[1][0] - reps[0][0]).max() > 0  # the files print the axis differently
    assert len(sugarcane.replicates["MicroNIR1700"]) == 3
    rmsd = np.sqrt(((stack - stack.mean(axis=0)) ** 2).mean())
    assert sugarcane.qc["MicroNIR1700_replicate_rmsd"] == pytest.approx(rmsd)
    assert 0.005 < rmsd < 0.02  # replicate spread, well below the between-sample spread
    assert sugarcane.qc["MicroNIR1700_sample_sd"] > 3 * rmsd
    assert sugarcane.qc["MicroNIR1700_replicate_rmsd_by_sample"].shape == (60,)


def _write_chaix(folder, ids_by_file, refs, axes=None):
    """Ten small files laid out like the Chaix ones: padded cells, blank first header cell."""
    folder.mkdir(exist_ok=True)
    paths = []
    for name in SUGARCANE_CSV:
        path = folder / name
        if name == SUGARCANE_REFERENCES:
            lines = ["Sample;TS;CP;ADF;IVOMD"]
            lines += [f"{i};{';'.join(v)}" for i, v in refs.items()]
            path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
        else:
            axis = (axes or {}).get(name, [900.0, 905.5, 911.0])
            lines = ["  ;" + ";".join(f"{a:g}" for a in axis)]
            for k, i in enumerate(ids_by_file.get(name, [100, 101, 102])):
                lines.append(f"{i}   ;" + ";".join(f"{0.1 * k + j:.4f} " for j in range(len(axis))))
            path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


def test_sugarcane_unmatched_ids_and_bad_cells(tmp_path, caplog):
    refs = {100: ["1.0", "2", "3", "4"], 101: ["NA ", "2", "3", "4"], 103: ["1", "2", "3", "4"]}
    paths = _write_chaix(tmp_path / "c", {"Scio.CSV": [100, 101]}, refs)
    with caplog.at_level("WARNING", logger="spectralfm.datasets"):
        ds = load_benchmark("sugarcane", paths)
    assert ds.sample_ids.tolist() == ["100", "101"]
    lacking_102 = {name: ["102", "103"] for name in ("Scio.CSV", SUGARCANE_REFERENCES)}
    expected = {n: ["103"] for n in SUGARCANE_CSV if n not in lacking_102}
    expected["Scio.CSV"] = ["102", "103"]
    expected[SUGARCANE_REFERENCES] = ["102"]
    assert ds.unmatched == expected
    assert "sugarcane: 2 sample ID(s) are not in every file" in caplog.text
    assert np.isnan(ds.property("ts")[1]) and ds.property("ts")[0] == 1.0
    assert ds.qc["MicroNIR1700_replicate_rmsd"] == pytest.approx(0.0, abs=1e-12)
    # a replicate on another axis, text in a spectrum, NA in a spectrum, swapped files
    shifted = _write_chaix(
        tmp_path / "d", {}, refs, axes={"Micronir1700rep2.CSV": [900.0, 905.5, 911.1]}
    )
    with pytest.raises(InputError, match=r"Micronir1700rep1.CSV vs .*rep2.CSV: replicate wave"):
        load_benchmark("sugarcane", shifted)
    bad = _write_chaix(tmp_path / "e", {}, refs)
    bad[5].write_text("  ;900;905\n100 ;0.1 ;abc \n")
    with pytest.raises(InputError, match=r"Nirone22.CSV: row 2 \(sample 100\), column '905'"):
        load_benchmark("sugarcane", bad)
    bad[5].write_text("  ;900;905\n100 ;0.1 ;NA \n")
    with pytest.raises(InputError, match=r"Nirone22.CSV: sample 100: missing or non-finite.*905"):
        load_benchmark("sugarcane", bad)
    bad[5].write_text("  ;900;905\n100 ;0.1 \n")
    with pytest.raises(InputError, match=r"Nirone22.CSV: row 2 has 2 fields, header 3"):
        load_benchmark("sugarcane", bad)
    swapped = [*paths]
    swapped[0], swapped[7] = swapped[7], swapped[0]
    with pytest.raises(InputError, match=r"Scio.CSV is given in place of F750.CSV"):
        load_benchmark("sugarcane", swapped)


# ---------------------------------------------------------------- catalog and dispatch


def test_catalog_properties_and_instruments_equal_what_the_readers_return(
    corn, tablet, wheat, sugarcane
):
    read = {"corn": corn, "tablet": tablet, "wheat": wheat, "sugarcane": sugarcane}
    assert set(read) == set(BENCHMARKS)
    for name, bench in BENCHMARKS.items():
        assert list(bench.properties) == read[name].properties, name
        assert list(bench.instruments) == list(read[name].spectra), name


def test_catalog_entries_of_wheat_and_sugarcane(shared_data):
    for name, source, fmt in [
        ("wheat", "idrc2016", "xlsx"),
        ("sugarcane", "chaix_sugarcane", "csv"),
    ]:
        files = BENCHMARKS[name].files[fmt]
        for f in files:
            assert f.raw.source == source and f.raw.url.startswith("https://raw.githubusercontent")
            assert raw_file(source, f.raw.name) == f.raw
            mirrored = shared_data / "mirror" / source / f.raw.name
            assert mirrored.stat().st_size == f.raw.size
            assert benchmark_path(f) == f"resources/raw/{source}/{f.raw.name}"
    assert len(BENCHMARKS["wheat"].files["xlsx"]) == 5
    assert len(BENCHMARKS["sugarcane"].files["csv"]) == 10


def test_corn_and_tablet_axes_are_their_shared_axis(corn, tablet):
    for ds in (corn, tablet):
        for inst in ds.spectra:
            assert ds.axis(inst) is ds.wavelengths_nm


def test_fetch_and_load_wheat_and_sugarcane_from_the_shared_mirror(
    shared_data, tmp_path, wheat, sugarcane
):
    for name, ds in [("sugarcane", sugarcane), ("wheat", wheat)]:
        paths = fetch_benchmark(name, tmp_path / "raw", str(shared_data / "mirror"))
        again = read_benchmark(name, paths)
        np.testing.assert_array_equal(again.Y, ds.Y)
        for inst in ds.spectra:
            np.testing.assert_array_equal(again.instrument(inst), ds.instrument(inst))
    with pytest.raises(InputError, match=r"expected the 5 .xlsx workbooks"):
        load_benchmark("wheat", [shared_data / "corn.mat"])
    with pytest.raises(InputError, match=r"'soil' unknown"):
        fetch_benchmark("soil", tmp_path / "raw")
