"""Every raw file the pipeline can download: canonical URL, mirror folder name, checksums.

A mirror holds the same files at `<mirror>/<source>/<name>`. Where the publisher gives no checksum
(RRUFF), the download records size and sha256 in a manifest next to the file instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spectralfm.download import RawFile
from spectralfm.errors import InputError

CHEMOMETRICSDATA = (
    "https://raw.githubusercontent.com/caseykneale/ChemometricsData.jl/"
    "9aae583acacb28411e471979fb50148d79ed2967/data/IDRC_2002_Pharma_Shootout"
)

RAW_FILES: dict[tuple[str, str], RawFile] = {
    (raw.source, raw.name): raw
    for raw in [
        # Eigenvector's zip bytes are not published with a checksum; the extracted member's is pinned below.
        RawFile(
            "eigenvector",
            "corn.mat_.zip",
            "https://eigenvector.com/wp-content/uploads/2019/06/corn.mat_.zip",
        ),
        RawFile(
            "eigenvector",
            "nir_shootout_2002.mat_.zip",
            "https://eigenvector.com/wp-content/uploads/2019/06/nir_shootout_2002.mat_.zip",
        ),
        RawFile(
            "chemometricsdata",
            "Pharma_Instrument1.csv",
            f"{CHEMOMETRICSDATA}/Pharma_Instrument1.csv",
            sha256="a760cf1a72a2268b59ee43a651430d0e30cdadfc9a9923dde5e72bef946aaaea",
        ),
        RawFile(
            "chemometricsdata",
            "Pharma_Instrument2.csv",
            f"{CHEMOMETRICSDATA}/Pharma_Instrument2.csv",
            sha256="36e46b5ff67e46e53c885df83da54c962c56206f3df7c6647a6a41b207dc86f2",
        ),
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
    instruments: tuple[str, ...]
    files: dict[str, list[BenchmarkFile]] = field(default_factory=dict)  # format -> inputs


BENCHMARKS: dict[str, Benchmark] = {
    "corn": Benchmark(
        instruments=("m5", "mp5", "mp6"),
        files={
            "mat": [
                BenchmarkFile(
                    RAW_FILES[("eigenvector", "corn.mat_.zip")],
                    member="corn.mat",
                    sha256="e28fd4be274a54ca57b1f2c67ef5a8bf4981f8314bcc73e4c64836fe658c46b5",
                )
            ]
        },
    ),
    "tablet": Benchmark(
        instruments=("1", "2"),
        files={
            "csv": [
                BenchmarkFile(RAW_FILES[("chemometricsdata", "Pharma_Instrument1.csv")]),
                BenchmarkFile(RAW_FILES[("chemometricsdata", "Pharma_Instrument2.csv")]),
            ],
            "mat": [
                BenchmarkFile(
                    RAW_FILES[("eigenvector", "nir_shootout_2002.mat_.zip")],
                    member="nir_shootout_2002.mat",
                    sha256="129a32ec9e194e568cbd96a200c88aabeb347156081b5dfbb0120372fdd6c22a",
                )
            ],
        },
    ),
}


def raw_file(source: str, name: str) -> RawFile:
    try:
        return RAW_FILES[(source, name)]
    except KeyError:
        known = ", ".join(f"{s}/{n}" for s, n in RAW_FILES)
        raise InputError(f"no raw file {source}/{name} in the catalog; known: {known}") from None


def benchmark_path(file: BenchmarkFile) -> str:
    """Where the workflow keeps a benchmark input (relative to the working directory)."""
    if file.member is None:
        return f"resources/raw/{file.raw.source}/{file.raw.name}"
    return f"resources/extracted/{file.raw.source}/{file.member}"
