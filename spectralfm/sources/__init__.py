"""Source readers for the pretraining corpus: one module per source format.

Every reader takes a path (plus keyword options) and yields SpectrumRecord for each spectrum
it could read and Rejected (with the reason) for each item it could not; a file unreadable as a
whole raises spectralfm.errors.InputError naming it. write_parsed_shard stores both. Which reader
serves which source is the `reader` of its entry in spectralfm.catalog.CORPUS_SOURCES, imported on
first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path

from spectralfm.errors import InputError
from spectralfm.sources.record import (
    Rejected,
    SpectrumRecord,
    read_parsed_shard,
    read_quarantine,
    write_parsed_shard,
)

Reader = Callable[..., Iterator[SpectrumRecord | Rejected]]


def source_reader(source: str) -> Reader:
    """The reader function registered for `source` (InputError for an unknown source)."""
    from spectralfm.catalog import corpus_source  # the catalog may import from this package

    module, _, function = corpus_source(source).reader.partition(":")
    return getattr(importlib.import_module(module), function)


def read_source(source: str, path: str | Path, **options) -> Iterator[SpectrumRecord | Rejected]:
    """The records of `path` read by the reader registered for `source`."""
    reader = source_reader(source)
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder (source {source!r})")
    try:
        return reader(path, **options)
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
    "InputError",
    "Rejected",
    "SpectrumRecord",
    "read_parsed_shard",
    "read_quarantine",
    "read_source",
    "source_reader",
    "write_parsed_shard",
]
