"""RRUFF reader on every real sample file, a few members of the real archives, and synthetic
text for the edge cases no real file has (BOM, whitespace columns, duplicate x, cp1252)."""

import zipfile

import numpy as np
import pytest

from spectralfm.errors import InputError
from spectralfm.sources.record import Rejected, SpectrumRecord, write_parsed_shard
from spectralfm.sources.rruff import parse_rruff_text, read_rruff, record_from_text

SAMPLES = "samples/rruff"
# file prefix -> (sample_id, modality, points, x min, x max, laser nm, file type, variant)
EXPECTED = {
    "Actinolite__R040063-4__Raman__514__0-000____Raman_Data_Processed": (
        "rruff:R040063",
        "raman",
        1076,
        146.865,
        1518.526,
        514.0,
        "Processed",
        "R040063-4",
    ),
    "Actinolite__R040063-4__Raman__514__0-000____Raman_Data_RAW": (
        "rruff:R040063",
        "raman",
        1076,
        146.865,
        1518.526,
        514.0,
        "RAW",
        "R040063-4",
    ),
    "Actinolite__R040063__Raman__514__0__unoriented": (
        "rruff:R040063",
        "raman",
        1077,
        139.243,
        1513.235,
        514.0,
        "Processed",
        "R040063",
    ),
    "Aenigmatite__R061088-8": (
        "rruff:R061088",
        "raman",
        1243,
        141.129,
        1545.525,
        514.0,
        "RAW",
        "R061088-8",
    ),
    "Albite__R050253-1": (
        "rruff:R050253",
        "ir",
        338,
        50.14013,
        700.0332,
        None,
        "Processed",
        "R050253-1",
    ),
    "Bukovskyite__R050630-1": (
        "rruff:R050630",
        "ir",
        1868,
        399.1926,
        3999.64,
        None,
        "Processed",
        "R050630-1",
    ),
    "Calcite__R040070-1__Infrared": (
        "rruff:R040070",
        "ir",
        1868,
        399.1926,
        3999.64,
        None,
        "Processed",
        "R040070-1",
    ),
    "Calcite__R040070__Raman": (
        "rruff:R040070",
        "raman",
        2406,
        128.7962,
        1288.286,
        532.0,
        "Processed",
        "R040070",
    ),
    "Corundum__R040096": (
        "rruff:R040096",
        "raman",
        2357,
        149.4147,
        1285.281,
        780.0,
        "Processed",
        "R040096",
    ),
    "Vladimirivanovite__R130034": (
        "rruff:R130034",
        "ir",
        7528,
        369.82973,
        3999.17572,
        None,
        "Processed",
        "R130034",
    ),
    "raman_soddyite": ("rruff:R060361", "raman", 2444, 107.9252, 1285.736, 780.0, None, None),
}


def _expected(name):
    matches = [v for k, v in EXPECTED.items() if name.startswith(k)]
    assert len(matches) == 1, name
    return matches[0]


def _one(path):
    items = list(read_rruff(path))
    assert len(items) == 1
    return items[0]


def test_every_real_sample_file_parses_as_expected(shared_data):
    files = sorted((shared_data / SAMPLES).iterdir())
    assert len(files) == len(EXPECTED) == 11
    for path in files:
        record = _one(path)
        assert isinstance(record, SpectrumRecord), (path.name, record)
        sample_id, modality, n, xmin, xmax, laser, file_type, variant = _expected(path.name)
        assert record.sample_id == sample_id
        assert record.modality == modality and record.source == "rruff"
        assert record.x.size == n and np.all(np.diff(record.x) > 0), path.name
        assert record.x[0] == pytest.approx(xmin) and record.x[-1] == pytest.approx(xmax)
        assert np.all(np.isfinite(record.y))
        assert record.metadata["laser_wavelength_nm"] == laser
        assert record.metadata["file_type"] == file_type
        assert record.metadata["rruff_variant"] == variant
        assert record.metadata["member"] == path.name


def test_raw_and_processed_of_one_sample_share_id_and_grid(shared_data):
    folder = shared_data / SAMPLES
    raw = _one(next(folder.glob("Actinolite__R040063-4*RAW*")))
    processed = _one(next(folder.glob("Actinolite__R040063-4*Processed*")))
    unoriented = _one(next(folder.glob("Actinolite__R040063__*")))
    assert raw.sample_id == processed.sample_id == unoriented.sample_id == "rruff:R040063"
    np.testing.assert_array_equal(raw.x, processed.x)
    assert raw.metadata["header"]["filetype"] == "Raman RAW"
    calcite_ir = _one(next(folder.glob("Calcite__R040070-1__Infrared*")))
    calcite_raman = _one(next(folder.glob("Calcite__R040070__Raman*")))
    assert calcite_ir.sample_id == calcite_raman.sample_id  # one crystal, two modalities


def test_html_entities_and_utf8_in_headers(shared_data):
    record = _one(next((shared_data / SAMPLES).glob("Actinolite__R040063__*")))
    header = record.metadata["header"]
    assert "Σ=5" in header["ideal chemistry"] and "&#" not in header["ideal chemistry"]
    assert "Σ=2" in header["measured chemistry"]
    assert record.metadata["names"] == "Actinolite"


def test_mixed_line_endings_and_three_digit_exponents(shared_data):
    path = next((shared_data / SAMPLES).glob("Calcite__R040070__Raman*"))
    raw = path.read_bytes()
    assert b"\r\n" in raw and b"O_3_\n" in raw  # LF header, CRLF data: the real mix
    assert _one(path).x.size == 2406
    ir_path = next((shared_data / SAMPLES).glob("Calcite__R040070-1__Infrared*"))
    assert b"3.991926e+002, 0.000000e+000" in ir_path.read_bytes()
    assert _one(ir_path).x[0] == pytest.approx(399.1926)


def test_descending_axis_is_sorted_with_its_intensities(shared_data):
    path = next((shared_data / SAMPLES).glob("Vladimirivanovite*"))
    lines = [line for line in path.read_text().splitlines() if line[:1].isdigit()]
    first, last = (tuple(map(float, line.split(","))) for line in (lines[0], lines[-1]))
    assert first[0] > last[0]
    record = _one(path)
    assert (record.x[0], record.y[0]) == pytest.approx(last)
    assert (record.x[-1], record.y[-1]) == pytest.approx(first)


def test_malformed_aenigmatite_header(shared_data):
    record = _one(next((shared_data / SAMPLES).glob("Aenigmatite*")))
    header = record.metadata["header"]
    # continuation right after ##PIN_ID is glued to it; the one after the blank line is kept apart
    assert header["pin_id"].startswith("L00919 Fiducial mark")
    assert record.metadata["header_continuation"] == [
        "Fiducial mark perpendicular to laser is parallel to a [1 0 0]"
    ]
    assert "CELL PARAMETERS" in record.metadata["repeated_header_keys"]
    assert header["cell parameters"].startswith("a: 10.416 b:")  # first block wins
    assert header["raman wavelength"] == "514"


SYNTHETIC = (
    "\ufeff##NAMES=Testite\r\n##RRUFFID=R999999\n##DESCRIPTION=first part\n  second part\n"
    "##FILETYPE=Raman Processed\r##RAMAN WAVELENGTH=785 nm\n\n"
    "300.0\t5\n100.0   1.0e+000\n\n200,2\n200 , 4\n##END=\nrandom trailer 1, 2, 3\n"
)


def test_synthetic_edge_cases_bom_whitespace_duplicates_continuations():
    record = record_from_text(SYNTHETIC.encode("utf-8"), "Testite__R999999-2__Raman.txt")
    assert isinstance(record, SpectrumRecord)
    np.testing.assert_array_equal(record.x, [100.0, 200.0, 300.0])
    np.testing.assert_array_equal(record.y, [1.0, 3.0, 5.0])  # duplicate x=200 averaged
    assert record.metadata["duplicate_x_merged"] == 1
    assert record.metadata["names"] == "Testite"  # BOM did not end up in the key
    assert record.metadata["header"]["description"] == "first part second part"
    assert record.metadata["laser_wavelength_nm"] == 785.0
    assert record.sample_id == "rruff:R999999"
    assert record.metadata["rruff_variant"] == "R999999-2"


def test_cp1252_bytes_fall_back_instead_of_failing():
    raw = "##NAMES=Caf\xe9ite\n##FILETYPE=Infrared Processed\n1,2\n3,4\n".encode("cp1252")
    record = record_from_text(raw, "x.txt")
    assert record.metadata["names"] == "Caféite" and record.metadata["encoding"] == "cp1252"
    assert record.modality == "ir"


@pytest.mark.parametrize(
    "text, reason",
    [
        ("##NAMES=A\n##FILETYPE=Raman\n1, 2, 3\n", "expected 2 columns"),
        ("##NAMES=A\n##FILETYPE=Raman\n1, 2\nbroken line\n3, 4\n", "not a data line"),
        ("##NAMES=A\n##FILETYPE=Raman\n##END=\n", "no data lines"),
        ("##NAMES=A\n1, 2\n3, 4\n", "cannot tell Raman from Infrared"),
        ("##NAMES=A\n##FILETYPE=Raman\n1, 2\n", "only 1 point"),
    ],
)
def test_malformed_text_is_rejected_with_reason(text, reason):
    item = record_from_text(text.encode(), "member.txt")
    assert isinstance(item, Rejected) and reason in item.reason and item.item == "member.txt"


def test_zip_members_read_without_extraction_and_bad_members_quarantined(tmp_path, shared_data):
    archive = tmp_path / "mixed.zip"
    good = next((shared_data / SAMPLES).glob("Corundum*")).read_bytes()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Corundum__R040096__Raman__780__0__unoriented__Raman_Data_Processed.txt", good)
        zf.writestr("README.pdf", b"%PDF")
        zf.writestr("../evil__R000001__Raman.txt", "##FILETYPE=Raman\nnot numbers\n")
    counts = write_parsed_shard(tmp_path / "out" / "rruff.parquet", read_rruff(archive))
    assert counts == {"records": 1, "rejected": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mixed.zip", "out"]  # nothing extracted


def test_real_archives_first_members(shared_data):
    mirror = shared_data / "mirror" / "rruff"
    raman = list(read_rruff(mirror / "excellent_unoriented.zip", limit=5))
    assert len(raman) == 5 and all(isinstance(r, SpectrumRecord) for r in raman)
    assert {r.modality for r in raman} == {"raman"}
    assert all(r.metadata["laser_wavelength_nm"] in (514.0, 532.0, 780.0, 785.0) for r in raman)
    assert all(r.metadata["archive"] == "excellent_unoriented.zip" for r in raman)
    infrared = list(read_rruff(mirror / "Processed.zip", limit=20))
    assert len(infrared) == 20 and {r.modality for r in infrared} == {"ir"}
    lr = list(read_rruff(mirror / "LR-Raman.zip", limit=10))
    assert {r.metadata["file_type"] for r in lr} <= {"RAW", "Processed"}
    assert all(r.sample_id.startswith("rruff:R") for r in raman + infrared + lr)


def test_unreadable_files_raise_input_error_naming_them(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InputError, match="fake.zip"):
        list(read_rruff(fake))
    with pytest.raises(InputError, match="nothere"):
        list(read_rruff(tmp_path / "nothere.zip"))


def test_parse_keeps_values_as_read():
    header, x, y, notes = parse_rruff_text("##A=1\n##A=2\n5.0e+002, 1E-03\n")
    assert header == {"A": "1"} and notes["repeated_header_keys"] == ["A"]
    assert (x[0], y[0]) == (500.0, 0.001)
