"""The OSSL VisNIR source on a small fixture in the documented v1.2 layout (no real sample of the
multi-GB file is available offline): downloaded from a loopback mirror, streamed, converted to
log10(1/R) on a wavenumber axis, bad rows quarantined with their reason, the row cap honoured,
and a corn spectrum planted among the soils refused at corpus assembly."""

import csv
import gzip
import hashlib
import io
import tracemalloc

import h5py
import numpy as np
import pytest
from http_fixtures import LoopbackServer

from spectralfm.catalog import CORPUS_SOURCES, OSSL_VISNIR, raw_file, source_items
from spectralfm.corpus import build_corpus
from spectralfm.datasets import load_benchmark
from spectralfm.download import fetch
from spectralfm.errors import InputError
from spectralfm.leakage import BenchmarkFingerprints, benchmark_sets
from spectralfm.preprocess import process_shard
from spectralfm.sources import parse_to_shard, read_parsed_shard, read_quarantine, read_source
from spectralfm.sources.record import Rejected, SpectrumRecord

NM = np.arange(350, 2501, 2)  # the documented grid: 1076 columns
METADATA = [  # as named in the OSSL manual (030-database_description, "VisNIR scans")
    "dataset.code_ascii_txt",
    "id.layer_uuid_txt",
    "id.scan_local_c",
    "scan.visnir.date.begin_iso.8601_yyyy.mm.dd",
    "scan.visnir.model.name_utf8_txt",
    "scan.visnir.method.optics_any_txt",
    "scan.visnir.method.preparation_any_txt",
    "scan.visnir.license.title_ascii_txt",
]
HEADER = METADATA + [f"scan_visnir.{w}_ref" for w in NM]


def uuid(dataset: str, n: int) -> str:
    """As OSSL makes id.layer_uuid_txt: md5 of the dataset code and the layer's local id."""
    return hashlib.md5(f"{dataset}{n}".encode()).hexdigest()


def soil(seed: int) -> np.ndarray:
    """A smooth soil-like reflectance (0-1): rising baseline, water and clay bands."""
    rng = np.random.default_rng(seed)
    base = 0.08 + rng.uniform(0.25, 0.4) * (NM - 350) / 2150 + 0.1 * np.sqrt((NM - 350) / 2150)
    for centre, width in ((1414, 20), (1914, 30), (2206, 15)):
        base *= 1 - rng.uniform(0.05, 0.2) * np.exp(-(((NM - centre) / width) ** 2))
    return base


def meta(dataset: str, n: int, model="ASD Labspec 2500 with Muglight accessory") -> list[str]:
    return [
        dataset,
        uuid(dataset, n),
        f"{n:06d}MD01",
        "2015-03-05",
        model,
        "4.5 W halogen lamp, optics: 8°, fibre",  # a comma and non-ASCII: quoted, UTF-8
        "Sieved <2 mm",
        "CC-BY",
    ]


def cells(r: np.ndarray) -> list[str]:
    return [repr(float(v)) for v in r]  # round-trips exactly


def good_rows() -> list[list[str]]:
    return [meta("KSSL.SSL", n) + cells(soil(n)) for n in range(6)]


def fixture_rows() -> list[list[str]]:
    """6 good rows, 2 kept with repairs (LUCAS from 400 nm; two isolated missing cells), 7 bad."""
    rows = good_rows()
    lucas = cells(soil(6))
    lucas[:25] = ["NA"] * 25  # 350-398 nm not measured
    rows.append(meta("LUCAS.SSL", 6, model="FOSS XDS Rapid Content Analyzer") + lucas)
    holes = cells(soil(7))
    holes[325], holes[327] = "NA", ""  # 1000 nm and 1004 nm: missing, both spellings
    rows.append(meta("KSSL.SSL", 7) + holes)
    rows.append(meta("KSSL.SSL", 8)[:2] + [""] * 6 + ["NA"] * len(NM))  # an MIR-only layer
    zero = soil(9)
    zero[0] = 0.0
    rows.append(meta("KSSL.SSL", 9) + cells(zero))
    rows.append(meta("KSSL.SSL", 10) + cells(100 * soil(10)))  # percent, not a fraction
    gap = cells(soil(11))
    gap[575:595] = ["NA"] * 20  # 1500-1538 nm
    rows.append(meta("KSSL.SSL", 11) + gap)
    short = cells(soil(12))
    short[-200:] = ["NA"] * 200  # ends at 2098 nm: 876 of 1076 present
    rows.append(meta("KSSL.SSL", 12) + short)
    text = cells(soil(13))
    text[100] = "n.d."
    rows.append(meta("KSSL.SSL", 13) + text)
    rows.append(meta("KSSL.SSL", 14) + cells(soil(14))[:500])  # a row cut short
    return rows


def csv_gz(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return gzip.compress(text.getvalue().encode("utf-8"), compresslevel=1)


@pytest.fixture
def visnir(tmp_path):
    """The fixture served as the mirror's ossl/<file> and fetched by the download code."""
    raw = CORPUS_SOURCES["ossl"].files[OSSL_VISNIR]
    data = csv_gz(fixture_rows())
    with LoopbackServer() as server:
        server.add(f"/ossl/{OSSL_VISNIR}", data)
        path = fetch(raw, tmp_path / "raw" / "ossl" / OSSL_VISNIR, mirror=server.base_url)
        assert [r.status for r in server.requests_for(f"/ossl/{OSSL_VISNIR}")] == [200]
    assert path.read_bytes() == data
    return path


def test_catalog_entry_has_the_canonical_https_url_and_mirror_place():
    raw = raw_file("ossl", OSSL_VISNIR)
    assert raw.url == f"https://storage.googleapis.com/soilspec4gg-public/{OSSL_VISNIR}"
    assert (raw.source, raw.name, raw.sha256) == ("ossl", OSSL_VISNIR, None)  # none published
    assert source_items("ossl", {"files": [OSSL_VISNIR], "options": {"max_rows": 5000}}) == [
        OSSL_VISNIR
    ]
    bad = [
        ({"files": ["ossl_mir_L0_v1.2.csv.gz"]}, r"sources\.ossl\.files\.0"),
        ({"files": [OSSL_VISNIR], "options": {"max_rows": 0}}, r"options\.max_rows"),
        ({"files": [OSSL_VISNIR], "options": {"max_row": 5}}, r"sources\.ossl\.options"),
    ]
    for settings, message in bad:
        with pytest.raises(InputError, match=message):
            source_items("ossl", settings)


def test_downloaded_file_parses_into_a_shard_and_its_quarantine(visnir, tmp_path):
    shard = tmp_path / "parsed" / f"{OSSL_VISNIR}.parquet"
    assert parse_to_shard("ossl", [visnir], shard) == {"records": 8, "rejected": 7}
    records = list(read_parsed_shard(shard))
    assert [r.metadata["row"] for r in records] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [len(r.x) for r in records] == [1076] * 6 + [1051, 1076]
    reasons = {q.item: q.reason for q in read_quarantine(shard)}
    assert all(item.startswith(f"{OSSL_VISNIR} row ") for item in reasons)
    expected = {
        9: "no VisNIR scan: all 1076 reflectance values missing",
        10: "reflectance <= 0 at 1 wavelength(s), first 0 at 350 nm",
        11: "reflectance > 1.5 (not a 0-1 fraction) at 1076 wavelength(s)",
        12: "a gap of 20 missing values (1500-1538 nm) inside the spectrum",
        13: "only 876 of 1076 reflectance values present (< 90%)",
        14: "unreadable reflectance 'n.d.' at 550 nm",
        15: f"the row has {len(METADATA) + 500} fields, the header {len(HEADER)}",
    }
    by_row = {int(item.split(" row ")[1].split()[0]): reason for item, reason in reasons.items()}
    assert sorted(by_row) == sorted(expected)
    for row, reason in expected.items():
        assert by_row[row].startswith(reason), (row, by_row[row])
    assert f"({uuid('KSSL.SSL', 8)})" in next(i for i in reasons if " row 9 " in i)


def test_axis_is_wavenumber_and_values_log_reflectance(visnir):
    got = [r for r in read_source("ossl", visnir) if isinstance(r, SpectrumRecord)]
    first = got[0]
    assert first.modality == "nir" and first.source == "ossl"
    assert first.sample_id == f"ossl:{uuid('KSSL.SSL', 0)}"
    np.testing.assert_allclose(first.x, 1e7 / NM)  # 28571.4 .. 4000 cm^-1, as published
    assert first.x[0] == pytest.approx(1e7 / 350) and first.x[-1] == pytest.approx(4000.0)
    np.testing.assert_allclose(first.y, np.log10(1 / soil(0)), rtol=0, atol=1e-12)
    assert first.metadata["scan.visnir.model.name_utf8_txt"].startswith("ASD Labspec")
    assert first.metadata["scan.visnir.method.optics_any_txt"].endswith("8°, fibre")
    assert first.metadata["file"] == OSSL_VISNIR and "interpolated" not in first.metadata
    lucas = got[6]
    assert lucas.metadata["dataset.code_ascii_txt"] == "LUCAS.SSL"
    np.testing.assert_allclose(1e7 / lucas.x[[0, -1]], [400.0, 2500.0])  # its own range
    np.testing.assert_allclose(lucas.y, np.log10(1 / soil(6)[25:]), atol=1e-12)
    holes = got[7]
    assert holes.metadata["interpolated"] == 2
    r = soil(7)
    for k in (325, 327):  # linear in reflectance between the neighbours, then log10(1/R)
        assert holes.y[k] == pytest.approx(np.log10(2 / (r[k - 1] + r[k + 1])), abs=1e-12)
    assert np.isfinite(holes.y).all()


def test_max_rows_caps_the_rows_read(visnir, tmp_path):
    assert len(list(read_source("ossl", visnir, max_rows=3))) == 3
    items = list(read_source("ossl", visnir, max_rows=10))
    assert len(items) == 10 and sum(isinstance(i, Rejected) for i in items) == 2
    shard = tmp_path / "quick.parquet"
    assert parse_to_shard("ossl", [visnir], shard, max_rows=9) == {"records": 8, "rejected": 1}
    for bad in (0, -1, 2.5, "10", True):
        with pytest.raises(InputError, match="max_rows must be a positive integer"):
            read_source("ossl", visnir, max_rows=bad)


def test_the_file_is_streamed(tmp_path):
    """A damaged end is never reached under the cap (nothing reads ahead), and reading a file
    of ~5 MB of text holds a small part of it in memory (one row at a time; a list of its
    records would take about twice the text)."""
    spectra = [[f"{v:.6f}" for v in soil(k)] for k in range(7)]
    rows = [meta("KSSL.SSL", n) + spectra[n % 7] for n in range(500)]
    data = csv_gz(rows)
    text_size = len(gzip.decompress(data))
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) // 2])
    assert len(list(read_source("ossl", cut, max_rows=20))) == 20
    with pytest.raises(InputError, match=r"cut.csv.gz: truncated or corrupt gzip stream after"):
        list(read_source("ossl", cut))
    whole = tmp_path / "whole.csv.gz"
    whole.write_bytes(data)
    tracemalloc.start()
    try:
        n = sum(1 for item in read_source("ossl", whole) if isinstance(item, SpectrumRecord))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 500
    assert text_size > 4e6 and peak < text_size / 4, (peak, text_size)


def test_a_file_of_another_layout_is_a_clear_error(tmp_path):
    mir = ["id.layer_uuid_txt", *(f"scan_mir.{w}_abs" for w in range(600, 4001, 2))]
    cases = {
        "mir.csv.gz": (csv_gz([], header=mir), r"mir.csv.gz: not the OSSL VisNIR export: no scan"),
        "noid.csv.gz": (
            csv_gz([], header=HEADER[:1] + HEADER[2:]),
            r"noid.csv.gz: not the OSSL VisNIR export: no id.layer_uuid_txt column",
        ),
        "empty.csv.gz": (gzip.compress(b""), r"empty.csv.gz: empty file"),
        "twice.csv.gz": (
            csv_gz([], header=HEADER + ["scan_visnir.350_ref"]),
            r"twice.csv.gz: a wavelength appears twice",
        ),
        "corrupt.csv.gz": (b"\x1f\x8b" + b"\x00" * 64, r"corrupt.csv.gz: truncated or corrupt"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match=message):
            list(read_source("ossl", tmp_path / name))
    # the header alone: a valid file with no rows
    (tmp_path / "header.csv.gz").write_bytes(csv_gz([]))
    assert list(read_source("ossl", tmp_path / "header.csv.gz")) == []


def test_a_corn_spectrum_planted_among_the_soils_is_refused(tmp_path, shared_data):
    """Through the real stages (fetch-free here: the reader, parse -> spectra shard -> corpus):
    corn m5 spectra written as OSSL reflectance rows (R = 10^-A on 1100-2498 nm, the edge values
    held to 350 and 2500 nm) are found and the corpus refuses the shard; the soils are not."""
    corn = load_benchmark("corn", [shared_data / "corn.mat"])
    tablet = load_benchmark(
        "tablet", [shared_data / "Pharma_Instrument1.csv", shared_data / "Pharma_Instrument2.csv"]
    )
    fingerprints = BenchmarkFingerprints.from_spectra(
        {**benchmark_sets(corn), **benchmark_sets(tablet)}
    )
    corn_nm = np.asarray(corn.wavelengths_nm, dtype=np.float64)
    planted = [
        meta("CORN.PLANTED", i) + cells(np.interp(NM, corn_nm, 10.0**-a))
        for i, a in enumerate(corn.spectra["m5"][:4])
    ]
    rows = fixture_rows()
    rows[3:3] = planted[:2]
    rows.extend(planted[2:])
    path = tmp_path / OSSL_VISNIR
    path.write_bytes(csv_gz(rows))
    parsed, spectra = tmp_path / "ossl.parquet", tmp_path / "ossl.h5"
    assert parse_to_shard("ossl", [path], parsed) == {"records": 12, "rejected": 7}
    process_shard(parsed, spectra)
    with h5py.File(spectra) as f:
        found = fingerprints.find_benchmark_rows(f["spectra"][:], f["axis"][:])
        ids = [s.decode() if isinstance(s, bytes) else s for s in f["meta/sample_id"][:]]
    flagged = sorted(ids[i] for i in np.flatnonzero(found))
    assert flagged == sorted(f"ossl:{uuid('CORN.PLANTED', i)}" for i in range(4))
    with pytest.raises(InputError, match=r"ossl.h5: 4 rows match benchmark spectra.*\['ossl'\]"):
        build_corpus([spectra], tmp_path / "corpus.h5", 0.1, 0, fingerprints=fingerprints)
    assert not (tmp_path / "corpus.h5").exists()
    # the same soils without the planted rows pass the check
    clean_parsed, clean = tmp_path / "clean.parquet", tmp_path / "clean.h5"
    path.write_bytes(csv_gz(fixture_rows()))
    parse_to_shard("ossl", [path], clean_parsed)
    process_shard(clean_parsed, clean)
    stats = build_corpus([clean], tmp_path / "corpus.h5", 0.1, 0, fingerprints=fingerprints)
    assert stats["n_rows"] == 8 and list(stats["rows_by_source"]) == ["ossl"]
    assert list(stats["rows_by_modality"]) == ["nir"]
