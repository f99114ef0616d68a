import csv
import zipfile

import numpy as np
import pytest
import scipy.io
from http_fixtures import LoopbackServer

from spectralfm.datasets import (
    CORN_MAT_SHA256,
    TABLET_CSV,
    fetch_benchmark,
    load_benchmark,
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
