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
    # wavelengths each instrument records (as the files hold them; a test checks the readers
    # agree): planning refuses a Savitzky-Golay window longer than a pair's spectra with it
    channels: dict[str, int] = field(default_factory=dict)
    ranges_nm: dict[str, tuple[float, float]] = field(default_factory=dict)  # first, last nm


BENCHMARKS: dict[str, Benchmark] = {
    "corn": Benchmark(
        instruments=("m5", "mp5", "mp6"),
        files={"mat": [BenchmarkFile(CORN_ZIP, member="corn.mat", sha256=CORN_MAT_SHA256)]},
        properties=("moisture", "oil", "protein", "starch"),
        channels={"m5": 700, "mp5": 700, "mp6": 700},
        ranges_nm=dict.fromkeys(("m5", "mp5", "mp6"), (1100.0, 2498.0)),
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
        channels={"1": 650, "2": 650},
        ranges_nm=dict.fromkeys(("1", "2"), (600.0, 1898.0)),
    ),
    # IDRC 2016 shoot-out: manufacturer A units A1-A4 (730-1100 nm) and one B unit (570-1100 nm)
    "wheat": Benchmark(
        instruments=tuple(WHEAT_XLSX),
        files={"xlsx": [BenchmarkFile(raw) for raw in WHEAT_XLSX.values()]},
        properties=("protein",),
        channels={"A1": 741, "A2": 741, "A3": 741, "A4": 741, "B": 1061},
        ranges_nm={
            **dict.fromkeys(("A1", "A2", "A3", "A4"), (730.0, 1100.0)),
            "B": (570.0, 1100.0),
        },
    ),
    # Chaix (2020): seven handheld/micro spectrometers on 60 sugarcane samples, different ranges
    "sugarcane": Benchmark(
        instruments=SUGARCANE_INSTRUMENTS,
        files={"csv": [BenchmarkFile(raw) for raw in SUGARCANE_CSV.values()]},
        properties=("ts", "cp", "adf", "ivomd"),
        channels={
            "F750": 231,
            "MicroNIR1700": 125,
            "MicroNIR2200": 125,
            "NIRONE2.2": 201,
            "NIRscanNano": 228,
            "SCiO": 331,
            "TellSpec": 256,
        },
        ranges_nm={
            "F750": (450.0, 1140.0),
            "MicroNIR1700": (908.1, 1676.2),
            "MicroNIR2200": (1158.8, 2169.4),
            "NIRONE2.2": (1750.0, 2150.0),
            "NIRscanNano": (901.028503, 1700.838339),
            "SCiO": (740.0, 1070.0),
            "TellSpec": (900.878296, 1700.416504),
        },
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
#
# One CorpusSource entry per source is all the workflow knows of it: the config block that picks
# its shards (`key`, checked against `schema`), the raw file behind each shard and the reader that
# parses one file. Adding a source: its reader module spectralfm/sources/<name>.py and one entry in
# CORPUS_SOURCES (then the config block sources.<name>).


@dataclass(frozen=True)
class CorpusSource:
    """A pretraining source. Each value listed under `sources.<name>.<key>` in the config is one
    shard, named `item.format(value)`; `files` maps those values to the raw file the shard is
    parsed from (empty for a source whose values name the user's own paths)."""

    reader: str  # "spectralfm.sources.<name>:<function>", imported on first use
    key: str
    files: dict[object, RawFile] = field(default_factory=dict)
    item: str = "{}"
    # the JSON schema of sources.<name>; None: `key` lists values of `files`, plus reader options
    block_schema: dict[str, object] | None = None

    @property
    def schema(self) -> dict[str, object]:
        if self.block_schema is not None:
            return self.block_schema
        return {
            "type": "object",
            "required": [self.key],
            "additionalProperties": False,
            "properties": {
                self.key: {"type": "array", "items": {"enum": list(self.files)}},
                "options": {"type": "object"},
            },
        }

    def items(self, settings: dict[str, object]) -> list[str]:
        return [self.item.format(value) for value in settings[self.key]]

    def raw_file(self, item: str) -> RawFile | None:
        return next((raw for v, raw in self.files.items() if self.item.format(v) == item), None)


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
USPTO_ZENODO = "https://zenodo.org/records/16417648/files"
MULTIMODAL_FILE = "multimodal_spectroscopic_dataset.zip"
MULTIMODAL_URL = f"https://zenodo.org/records/11611178/files/{MULTIMODAL_FILE}?download=1"


def _uspto_chunk(n: int) -> RawFile:
    name = f"IR_data_chunk{n:03d}_of_{USPTO_CHUNKS:03d}.parquet"
    return RawFile("uspto", name, f"{USPTO_ZENODO}/{name}?download=1")


def _nirdata(name: str, repo: str, commit: str, path: str, sha256: str) -> tuple[str, RawFile]:
    """A file of the R/MATLAB NIR sets, published in a git repository at a fixed commit; mirrored
    as nirdata/<name> (the repository name + its file name)."""
    url = f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"
    return name, RawFile("nirdata", name, url, sha256=sha256)


# The non-benchmark NIR sets read by sources/nirdata.py (which says per set what it reads and why
# the others are left out), with the origin repository, commit and sha256 recorded in
# shared/data/SOURCES.md (third pass).
NIRDATA_FILES = dict(
    [
        _nirdata(
            "prospectr_NIRsoil.RData",
            "cran/prospectr",
            "d04fa0dd4c48f5ccbb428171eeb7748864c8c27e",
            "data/NIRsoil.RData",
            "fbd4ecf28d1e6d1ac046ad537d887e794102cb16c826ef150798623cc3012479",
        ),
        _nirdata(
            "pls_gasoline.RData",
            "cran/pls",
            "3b7a1cbfcf07a114676a7da9692f1f70606efb44",
            "data/gasoline.RData",
            "fdfd17ff9a407d9ee04d0c966aab3e4f2e0390c39724cab99334c74b842acbdd",
        ),
        _nirdata(
            "pls_mayonnaise.RData",
            "cran/pls",
            "3b7a1cbfcf07a114676a7da9692f1f70606efb44",
            "data/mayonnaise.RData",
            "5076816e44e7a4e9a311e9b608a8becc481da7d099b9f104b0c1ff90cba0f4da",
        ),
        _nirdata(
            "rchemo_cassav.rda",
            "cran/rchemo",
            "c05b9ab3f16dd34a6d4ec43c31e4af95cea9ae2d",
            "data/cassav.rda",
            "0b3c6ac46f575e84f3e3a364f469bbdfea6a35cf4c76f9d3f2d2b405f9bc7b2b",
        ),
        _nirdata(
            "rchemo_octane.rda",
            "cran/rchemo",
            "c05b9ab3f16dd34a6d4ec43c31e4af95cea9ae2d",
            "data/octane.rda",
            "1de65f5f8105e83c5b02e18bb20ee0511b4bc43a02ff129e28234cb58d48f55e",
        ),
        _nirdata(
            "multiblock_emulsions.rda",
            "cran/multiblock",
            "8b2eb3a26389a32a7a477bc212945015eaa10aef",
            "data/emulsions.rda",
            "1baaf294f799ca439116f6dd84a1f6c723f3cef01118fd689ae79cd5500a4388",
        ),
        _nirdata(
            "spectacles_australia.rda",
            "cran/spectacles",
            "a530406902ac183d876ae168af14ef5b1b09fb42",
            "data/australia.rda",
            "4e7a4ba50f5b6e46e941ac41fb9159381a3012de484bf7299d0cd5d55ffdb9f2",
        ),
        _nirdata(
            "OHPL_beer.rda",
            "nanxstats/OHPL",
            "8e0d9e9fdd06038cfaa24717dcad86fc2266c4d5",
            "data/beer.rda",
            "c4a9f86fdb375eaad673db7cb0d02a538c688c0be07fad9534ab28a7d3905856",
        ),
        _nirdata(
            "OHPL_soil.rda",
            "nanxstats/OHPL",
            "8e0d9e9fdd06038cfaa24717dcad86fc2266c4d5",
            "data/soil.rda",
            "e4087b5255ef78294b9f4f9cf4b8d9cbe2dfc07022dce8e2ff434ee309f533a1",
        ),
        _nirdata(
            "OHPL_wheat.rda",
            "nanxstats/OHPL",
            "8e0d9e9fdd06038cfaa24717dcad86fc2266c4d5",
            "data/wheat.rda",
            "e79f76cfca2037cf5cb9a85cca67c41ae51a967c7a1556632085da933e9bd1b5",
        ),
        _nirdata(
            "ropls_cellulose.rdata",
            "bioc/ropls",
            "e7c2554b0ebd801e08d11d0a2a219304ef7ea8c4",
            "data/cellulose.rdata",
            "5cc43f033aef12e9f571d1278ffb2041df62b3c4dff72a29ed9e4db66d9553af",
        ),
        _nirdata(
            "UCPH_wheat_kernels_NITSingleSeed.MAT",
            "dario-passos/DeepLearning_for_VIS-NIR_Spectra",
            "130202f5572359d617b7d2fe0bddc8060a1724be",
            "notebooks/CuiFearn2018_CNN/NITSingleSeed.MAT",
            "68b3bcbe0526bb223c062f09ef2ecf748f07befde21f9edf42b68f0b5ce30cb6",
        ),
    ]
)

# The Open Soil Spectral Library VisNIR export (sources/ossl.py says what it holds). The bucket
# publishes no checksum and "can be updated without notice": the download records its sha256.
OSSL_BUCKET = "https://storage.googleapis.com/soilspec4gg-public"
OSSL_VISNIR = "ossl_visnir_L0_v1.2.csv.gz"
OSSL_SCHEMA = {  # sources.ossl: {files: [...], options: {max_rows: n}}
    "type": "object",
    "required": ["files"],
    "additionalProperties": False,
    "properties": {
        "files": {"type": "array", "items": {"enum": [OSSL_VISNIR]}},
        "options": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"max_rows": {"type": ["integer", "null"], "minimum": 1}},
        },
    },
}

LOCAL_SCHEMA = {  # sources.local.paths: {name: {path: file or folder, ...reader options}}
    "type": "object",
    "required": ["paths"],
    "additionalProperties": False,
    "properties": {
        "paths": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["path"],
                "properties": {"path": {"type": "string"}},
            },
        }
    },
}

CORPUS_SOURCES: dict[str, CorpusSource] = {
    "rruff": CorpusSource(
        "spectralfm.sources.rruff:read_rruff",
        key="archives",
        files={
            archive: RawFile(
                "rruff",
                f"{archive}.zip",
                f"https://rruff.info/zipped_data_files/{folder}/{archive}.zip",
            )
            for archive, folder in RRUFF_ARCHIVES.items()
        },
    ),
    "openspecy": CorpusSource(
        "spectralfm.sources.openspecy:read_openspecy",
        key="files",
        files={
            name: RawFile("openspecy", name, f"https://osf.io/download/{file_id}/")
            for name, file_id in OPENSPECY_FILES.items()
        },
    ),
    "chembl": CorpusSource(
        "spectralfm.sources.chembl:read_chembl",
        key="parts",
        item="part{}",
        files={
            n: RawFile(
                "chembl",
                f"Raman-ChEMBL-part{n}.db",
                f"https://ndownloader.figshare.com/files/{file_id}",
            )
            for n, file_id in CHEMBL_PARTS.items()
        },
    ),
    "uspto": CorpusSource(
        "spectralfm.sources.uspto:read_uspto",
        key="chunks",
        item="chunk{:03d}",
        files={n: _uspto_chunk(n) for n in range(1, USPTO_CHUNKS + 1)},
    ),
    "multimodal": CorpusSource(
        "spectralfm.sources.multimodal:read_multimodal",
        key="files",
        files={MULTIMODAL_FILE: RawFile("multimodal", MULTIMODAL_FILE, MULTIMODAL_URL)},
    ),
    "local": CorpusSource(
        "spectralfm.sources.local:read_local", key="paths", block_schema=LOCAL_SCHEMA
    ),
    "nirdata": CorpusSource(
        "spectralfm.sources.nirdata:read_nirdata", key="files", files=NIRDATA_FILES
    ),
    "ossl": CorpusSource(
        "spectralfm.sources.ossl:read_ossl",
        key="files",
        files={OSSL_VISNIR: RawFile("ossl", OSSL_VISNIR, f"{OSSL_BUCKET}/{OSSL_VISNIR}")},
        block_schema=OSSL_SCHEMA,
    ),
}


def corpus_source(source: str) -> CorpusSource:
    if source not in CORPUS_SOURCES:
        raise InputError(
            f"config corpus.sources / sources: unknown corpus source {source!r}; "
            f"known: {', '.join(CORPUS_SOURCES)}"
        )
    return CORPUS_SOURCES[source]


def check_source_settings(source: str, settings: object) -> None:
    """InputError naming `sources.<source>` and the offending key when the block breaks its schema."""
    import jsonschema  # installed with snakemake; only planning the workflow needs it

    if settings is None:
        raise InputError(f"config sources.{source}: missing or empty")
    try:
        jsonschema.validate(settings, corpus_source(source).schema)
    except jsonschema.ValidationError as exc:
        where = "".join(f".{part}" for part in exc.absolute_path)
        raise InputError(f"config sources.{source}{where}: {exc.message}") from None


def check_sources(blocks: dict[str, object]) -> None:
    """Every block of the config's `sources` against its entry (unknown source names refused)."""
    for source, settings in blocks.items():
        check_source_settings(source, settings)


def source_raw_file(source: str, item: str) -> RawFile:
    """The raw file a corpus shard `source/item` is parsed from (item names are config values)."""
    raw = corpus_source(source).raw_file(item)
    if raw is None:
        raise InputError(f"config sources.{source}: no downloadable file {item!r} in the catalog")
    return raw


def source_items(source: str, settings: dict) -> list[str]:
    """Shard names of one source from its config block (`sources.<name>`), the block checked."""
    check_source_settings(source, settings)
    return corpus_source(source).items(settings)


def _items_named(source: str, name: str) -> list[str]:
    """The shard items of `source` whose raw file is called `name` (raw_file's lookup)."""
    entry = CORPUS_SOURCES.get(source)
    files = entry.files.items() if entry else ()
    return [entry.item.format(value) for value, raw in files if raw.name == name]
