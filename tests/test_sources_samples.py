"""Every file under shared/data/samples goes through its source's reader via the registry, and
parse_to_shard writes them: nothing in the sample folder is left unread."""

import pytest

from spectralfm.errors import InputError
from spectralfm.sources import parse_to_shard, read_parsed_shard, read_quarantine, read_source


def _source_of(name: str) -> str | None:
    if name.endswith((".txt", ".rruff")):
        return "rruff"
    if name.startswith("openspecy_"):
        return "openspecy"
    if name.startswith("multimodal_ir_example"):
        return "multimodal"
    if name.endswith(".jdx"):
        return "local"
    return None


METADATA_ONLY = {"openspecy_ftir_metadata.RData", "openspecy_raman_metadata.RData"}
AXIS_FILES = {"multimodal_spectrum_dimensions.json"}  # checked in test_sources_parquet


def test_every_sample_file_is_read_by_its_reader(shared_data):
    files = sorted(p for p in (shared_data / "samples").rglob("*") if p.is_file())
    assert len(files) == 25
    counts = {}
    for path in files:
        if path.name in AXIS_FILES:
            continue
        source = _source_of(path.name)
        assert source is not None, f"no reader for sample {path.name}"
        options = {"modality": "raman"} if path.name == "openspecy_testdata.RData" else {}
        if path.name in METADATA_ONLY:
            with pytest.raises(InputError, match="no spectra"):
                list(read_source(source, path, **options))
            continue
        items = list(read_source(source, path, **options))
        assert items and all(hasattr(i, "sample_id") for i in items), path.name
        counts[source] = counts.get(source, 0) + len(items)
    assert counts == {"rruff": 11, "openspecy": 60, "multimodal": 200, "local": 5}


def test_parse_to_shard_chains_files_of_one_source(tmp_path, shared_data):
    samples = shared_data / "samples"
    shard = tmp_path / "multimodal.parquet"
    paths = [samples / f"multimodal_ir_example_{i}.parquet" for i in (1, 2)]
    assert parse_to_shard("multimodal", paths, shard) == {"records": 200, "rejected": 0}
    assert sum(1 for _ in read_parsed_shard(shard)) == 200 and read_quarantine(shard) == []
    with pytest.raises(InputError, match="missing.parquet"):
        parse_to_shard(
            "multimodal", [paths[0], tmp_path / "missing.parquet"], tmp_path / "x.parquet"
        )
    assert not (tmp_path / "x.parquet").exists()
