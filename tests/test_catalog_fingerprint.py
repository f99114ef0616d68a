"""The raw-file catalog and the code fingerprints that decide what reruns."""

import hashlib
import shutil

import pytest
import yaml

from spectralfm import fingerprint
from spectralfm.catalog import (
    BENCHMARKS,
    CORPUS_SOURCES,
    benchmark_path,
    check_sources,
    raw_file,
    source_items,
    source_raw_file,
)
from spectralfm.errors import InputError


def test_every_benchmark_input_resolves_to_a_catalog_file():
    for bench in BENCHMARKS.values():
        for files in bench.files.values():
            for f in files:
                assert raw_file(f.raw.source, f.raw.name) == f.raw
                assert f.raw.url.startswith("https://")
    corn = BENCHMARKS["corn"].files["mat"][0]
    assert benchmark_path(corn) == "resources/extracted/eigenvector/corn.mat"
    tablet = BENCHMARKS["tablet"].files["csv"][0]
    assert benchmark_path(tablet) == "resources/raw/chemometricsdata/Pharma_Instrument1.csv"


def test_source_files_round_trip_through_their_names():
    config = {
        "rruff": {"archives": ["excellent_unoriented", "Processed"]},
        "chembl": {"parts": [1, 2]},
        "uspto": {"chunks": [3]},
        "openspecy": {"files": ["raman_library.rds"]},
        "multimodal": {"files": ["multimodal_spectroscopic_dataset.zip"]},
        "nirdata": {"files": ["OHPL_wheat.rda", "UCPH_wheat_kernels_NITSingleSeed.MAT"]},
    }
    for source, settings in config.items():
        for item in source_items(source, settings):
            raw = source_raw_file(source, item)
            assert raw.url.startswith("https://")
            assert raw_file(source, raw.name) == raw
    assert source_raw_file("rruff", "Processed").url.endswith("/infrared/Processed.zip")
    assert source_raw_file("uspto", "chunk003").name == "IR_data_chunk003_of_009.parquet"


def test_unknown_files_are_clear_errors():
    with pytest.raises(InputError, match="no raw file rruff/nope.zip"):
        raw_file("rruff", "nope.zip")
    with pytest.raises(InputError, match="sources.chembl"):
        source_raw_file("chembl", "part7")


def test_each_source_block_is_checked_against_its_entry():
    assert source_items("local", {"paths": {"dough": {"path": "d.csv", "x_units": "nm"}}}) == [
        "dough"
    ]
    bad = [
        ("chembl", {"parts": [3]}, r"sources\.chembl\.parts\.0: 3 is not one of \[1, 2\]"),
        ("uspto", {"chunks": [1], "chunk": [2]}, r"sources\.uspto: Additional properties"),
        ("rruff", {}, r"sources\.rruff: 'archives' is a required property"),
        ("local", {"paths": {"x": {"modality": "nir"}}}, r"sources\.local\.paths\.x: 'path'"),
        ("nirdata", {"files": ["chemometrics_NIR.rda"]}, r"sources\.nirdata\.files\.0"),
        ("rruff", None, r"sources\.rruff: missing"),
        ("nope", {}, "unknown corpus source 'nope'"),
    ]
    for source, settings, message in bad:
        with pytest.raises(InputError, match=message):
            source_items(source, settings)


def test_the_shipped_configs_pass_the_source_schemas(repo):
    blocks = [yaml.safe_load((repo / "config.yaml").read_text())["sources"]]
    for overrides in sorted((repo / "profiles").glob("*/overrides.yaml")):
        blocks.append(yaml.safe_load(overrides.read_text()).get("sources") or {})
    for block in blocks:
        check_sources(block)
    with pytest.raises(InputError, match="unknown corpus source 'rruf'"):
        check_sources({"rruf": {"archives": []}})


def test_nirdata_files_are_the_mirrored_bytes(shared_data):
    """Canonical raw URLs at the origin commits; the sha256 recorded matches the mirrored file."""
    files = CORPUS_SOURCES["nirdata"].files
    assert len(files) == 12
    for name, raw in files.items():
        assert raw.source == "nirdata" and raw.name == name
        assert raw.url.startswith("https://raw.githubusercontent.com/")
        data = (shared_data / "mirror" / "nirdata" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == raw.sha256, name


def test_fingerprint_changes_with_the_module_and_only_it(tmp_path, monkeypatch):
    copy = tmp_path / "spectralfm"
    shutil.copytree(fingerprint.PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fingerprint, "PACKAGE_ROOT", copy)
    pds = fingerprint.code_fingerprint("spectralfm.transfer.pds")
    sbc = fingerprint.code_fingerprint("spectralfm.transfer.sbc")
    models = fingerprint.code_fingerprint("spectralfm.models")
    (copy / "transfer/pds.py").write_text((copy / "transfer/pds.py").read_text() + "\n# edit\n")
    assert fingerprint.code_fingerprint("spectralfm.transfer.pds") != pds
    assert fingerprint.code_fingerprint("spectralfm.transfer.sbc") == sbc
    (copy / "models/ssm.py").write_text((copy / "models/ssm.py").read_text() + "\n# edit\n")
    assert fingerprint.code_fingerprint("spectralfm.models") != models  # a package: all its files
    with pytest.raises(ValueError, match="no source"):
        fingerprint.code_fingerprint("spectralfm.nonexistent")
