"""Every raw file the pipeline can download: canonical URL, mirror folder name, checksums.

A mirror holds the same files at `<mirror>/<source>/<name>`. Where the publisher gives no checksum
(RRUFF), the download records size and sha256 in a manifest next to the file instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spectralfm.datasets import (
    CORN_MAT_SHA256,
    CORN_ZIP,
    SUGARCANE_CSV,
    SUGARCANE_INSTRUMENTS,
    TABLET_CSV,
    TABLET_MAT_SHA256,
    TABLET_MAT_ZIP,
    WHEAT_XLSX,
)
from spectralfm.download import RawFile
from spectralfm.errors import InputError

RAW_FILES: dict[tuple[str, str], RawFile] = {
    (raw.source, raw.name): raw
    for raw in [
        CORN_ZIP,
        TABLET_MAT_ZIP,
        *TABLET_CSV.values(),
        *WHEAT_XLSX.values(),
        *SUGARCANE_CSV.values(),
    ]
}


@dataclass(frozen=True)
class BenchmarkFile:
    """A benchmark input: a downloaded file itself, or one member extracted from a downloaded archive."""

    raw: RawFile
    member: str | None = None
    sha256: str | None = None  # of the member (the archive itself may have none)


@dataclass(frozen=True)
class Benchmark:
    """A calibration-transfer set: its instrument names, its input files per format, and the
    property names as its files spell them (lower-cased, file order), so the workflow can check
    config properties at planning time without reading the files."""

    instruments: tuple[str, ...]
    files: dict[str, list[BenchmarkFile]] = field(default_factory=dict)  # format -> inputs
    properties: tuple[str, ...] = ()


BENCHMARKS: dict[str, Benchmark] = {
    "corn": Benchmark(
        instruments=("m5", "mp5", "mp6"),
        files={"mat": [BenchmarkFile(CORN_ZIP, member="corn.mat", sha256=CORN_MAT_SHA256)]},
        properties=("moisture", "oil", "protein", "starch"),
    ),
    "tablet": Benchmark(
        instruments=("1", "2"),
        files={
            "csv": [
                BenchmarkFile(TABLET_CSV["1"]),
                BenchmarkFile(TABLET_CSV["2"]),
            ],
            "mat": [
                BenchmarkFile(
                    TABLET_MAT_ZIP, member="nir_shootout_2002.mat", sha256=TABLET_MAT_SHA256
                )
            ],
        },
        properties=("weight", "hardness", "assay"),
    ),
    # IDRC 2016 shoot-out: manufacturer A units A1-A4 (730-1100 nm) and one B unit (570-1100 nm)
    "wheat": Benchmark(
        instruments=tuple(WHEAT_XLSX),
        files={"xlsx": [BenchmarkFile(raw) for raw in WHEAT_XLSX.values()]},
        properties=("protein",),
    ),
    # Chaix (2020): seven handheld/micro spectrometers on 60 sugarcane samples, different ranges
    "sugarcane": Benchmark(
        instruments=SUGARCANE_INSTRUMENTS,
        files={"csv": [BenchmarkFile(raw) for raw in SUGARCANE_CSV.values()]},
        properties=("ts", "cp", "adf", "ivomd"),
    ),
}


def raw_file(source: str, name: str) -> RawFile:
    """Any downloadable file by its place under resources/raw (benchmark or corpus source)."""
    if (source, name) in RAW_FILES:
        return RAW_FILES[(source, name)]
    for item in _items_named(source, name):
        return source_raw_file(source, item)
    raise InputError(f"no raw file {source}/{name} in the catalog")


def benchmark_path(file: BenchmarkFile) -> str:
    """Where the workflow keeps a benchmark input (relative to the working directory)."""
    if file.member is None:
        return f"resources/raw/{file.raw.source}/{file.raw.name}"
    return f"resources/extracted/{file.raw.source}/{file.member}"


# ---- pretraining sources: the files each corpus shard is parsed from
# Canonical locations as published; not reachable from the machines this was built on, where the
# mirror stands in (see README). RRUFF publishes no checksums: downloads record size and sha256.

RRUFF_ARCHIVES = {  # archive -> folder on rruff.info
    "excellent_oriented": "raman",
    "excellent_unoriented": "raman",
    "fair_oriented": "raman",
    "fair_unoriented": "raman",
    "poor_oriented": "raman",
    "poor_unoriented": "raman",
    "unrated_oriented": "raman",
    "unrated_unoriented": "raman",
    "LR-Raman": "raman",
    "Processed": "infrared",
    "RAW": "infrared",
}
OPENSPECY_FILES = {"raman_library.rds": "jdwx9", "ftir_library.rds": "cxrsq"}  # OSF file ids
CHEMBL_PARTS = {1: 54662735, 2: 54662885}  # Figshare file ids of Raman-ChEMBL-part{n}.db
USPTO_CHUNKS = 9
MULTIMODAL_FILES = ("multimodal_spectroscopic_dataset.zip",)


def source_raw_file(source: str, item: str) -> RawFile:
    """The raw file a corpus shard `source/item` is parsed from (item names are config values)."""
    if source == "rruff" and item in RRUFF_ARCHIVES:
        folder = RRUFF_ARCHIVES[item]
        return RawFile(
            "rruff", f"{item}.zip", f"https://rruff.info/zipped_data_files/{folder}/{item}.zip"
        )
    if source == "openspecy" and item in OPENSPECY_FILES:
        return RawFile("openspecy", item, f"https://osf.io/download/{OPENSPECY_FILES[item]}/")
    if source == "chembl" and item.startswith("part") and int(item[4:] or 0) in CHEMBL_PARTS:
        file_id = CHEMBL_PARTS[int(item[4:])]
        name = f"Raman-ChEMBL-{item}.db"
        return RawFile("chembl", name, f"https://ndownloader.figshare.com/files/{file_id}")
    if source == "uspto" and item.startswith("chunk") and 1 <= int(item[5:] or 0) <= USPTO_CHUNKS:
        name = f"IR_data_chunk{int(item[5:]):03d}_of_{USPTO_CHUNKS:03d}.parquet"
        return RawFile(
            "uspto", name, f"https://zenodo.org/records/16417648/files/{name}?download=1"
        )
    if source == "multimodal" and item in MULTIMODAL_FILES:
        return RawFile(
            "multimodal", item, f"https://zenodo.org/records/11611178/files/{item}?download=1"
        )
    raise InputError(f"config sources.{source}: no downloadable file {item!r} in the catalog")


def source_items(source: str, settings: dict) -> list[str]:
    """Shard names of one source from its config block (`sources.<name>`)."""
    if source == "rruff":
        return list(settings["archives"])
    if source == "openspecy":
        return list(settings["files"])
    if source == "chembl":
        return [f"part{n}" for n in settings["parts"]]
    if source == "uspto":
        return [f"chunk{n:03d}" for n in settings["chunks"]]
    if source == "multimodal":
        return list(settings["files"])
    if source == "local":
        return list(settings["paths"])
    raise InputError(f"config corpus.sources: unknown source {source!r}")


def _items_named(source: str, name: str) -> list[str]:
    """Inverse of source_raw_file's naming: the shard item whose raw file is called `name`."""
    candidates = {
        "rruff": list(RRUFF_ARCHIVES),
        "openspecy": list(OPENSPECY_FILES),
        "chembl": [f"part{n}" for n in CHEMBL_PARTS],
        "uspto": [f"chunk{n:03d}" for n in range(1, USPTO_CHUNKS + 1)],
        "multimodal": list(MULTIMODAL_FILES),
    }.get(source, [])
    return [item for item in candidates if source_raw_file(source, item).name == name]
