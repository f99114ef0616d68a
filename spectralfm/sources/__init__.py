"""Source readers for the pretraining corpus: one module per source format.

Every reader takes a path (plus keyword options) and yields SpectrumRecord for each spectrum
it could read and Rejected (with the reason) for each item it could not; a file unreadable as a
whole raises spectralfm.errors.InputError naming it. write_parsed_shard stores both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path

from spectralfm.errors import InputError
from spectralfm.sources.chembl import read_chembl
from spectralfm.sources.local import read_local
from spectralfm.sources.multimodal import read_multimodal
from spectralfm.sources.openspecy import read_openspecy
from spectralfm.sources.record import (
    Rejected,
    SpectrumRecord,
    read_parsed_shard,
    read_quarantine,
    write_parsed_shard,
)
from spectralfm.sources.rruff import read_rruff
from spectralfm.sources.uspto import read_uspto

READERS: dict[str, Callable[..., Iterator[SpectrumRecord | Rejected]]] = {
    "rruff": read_rruff,
    "openspecy": read_openspecy,
    "chembl": read_chembl,
    "uspto": read_uspto,
    "multimodal": read_multimodal,
    "local": read_local,
}


def read_source(source: str, path: str | Path, **options) -> Iterator[SpectrumRecord | Rejected]:
    """The records of `path` read by the reader registered for `source`."""
    if source not in READERS:
        raise InputError(f"source {source!r}: unknown; expected one of {sorted(READERS)}")
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder (source {source!r})")
    try:
        return READERS[source](path, **options)
    except TypeError as exc:  # an option the reader does not take
        raise InputError(f"source {source!r}: bad options {sorted(options)}: {exc}") from exc


def parse_to_shard(source: str, paths: Iterable[str | Path], shard: str | Path, **options) -> dict:
    """Read every path of one source (e.g. the nine USPTO chunks, or one RRUFF archive) into a
    single parsed shard; returns {"records": n, "rejected": m}. Every path is checked before
    anything is written, so a missing input fails fast and leaves no shard."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError(f"{shard}: no input files for source {source!r}")
    readers = [read_source(source, path, **options) for path in paths]
    return write_parsed_shard(shard, chain.from_iterable(readers))


__all__ = [
    "parse_to_shard",
    "READERS",
    "InputError",
    "Rejected",
    "SpectrumRecord",
    "read_parsed_shard",
    "read_quarantine",
    "read_source",
    "write_parsed_shard",
]
