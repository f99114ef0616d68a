"""RRUFF mineral spectra: `##KEY=value` header lines, then two numeric columns, then `##END=`.

This is RRUFF's own text format, not JCAMP-DX. Archives (excellent_unoriented.zip, LR-Raman.zip,
infrared Processed.zip) are read member by member straight from the zip, never extracted.

What real files do, and what this parser therefore accepts:
- LF, CRLF and both mixed in one file; a UTF-8 BOM; UTF-8 text (cp1252 as a fallback);
- HTML entities in header values (`&#931;` -> Σ);
- numbers like `3.991926e+002`, columns separated by a comma and/or whitespace;
- blank lines anywhere, text after `##END=`;
- header continuation lines without `##`: glued to the previous value when they follow it
  directly, kept under `header_continuation` when a blank line came between (the downloaded
  Aenigmatite file repeats a partial header block that way);
- repeated header keys: the first value is kept;
- descending or duplicate x: sorted ascending, duplicates averaged.

sample_id is `rruff:<RRUFF id>` from the ##RRUFFID header (else the file name), without the `-4`
style suffix of the file name: the suffix numbers a measurement of the same physical sample
(oriented Raman, IR, RAW vs Processed), so every file of sample R040063 shares one id and lands in
one train/validation split. The suffixed name is kept as metadata `rruff_variant`.
"""

from __future__ import annotations

import html
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from spectralfm.errors import InputError
from spectralfm.sources.record import Rejected, SpectrumRecord, sort_and_merge, spectrum_problem

SOURCE = "rruff"
TEXT_SUFFIXES = (".txt", ".rruff")
MAX_MEMBER_BYTES = 64 * 1024 * 1024  # largest real member is ~150 kB; refuse zip bombs
_RRUFF_ID = re.compile(r"\b([RX]\d{6})(-\d+)?\b")
_FILE_ID = re.compile(r"__([RX]\d{6}(?:-\d+)?)__")
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


class RruffFormatError(ValueError):
    """A member or file that is not a readable RRUFF spectrum (becomes a Rejected)."""


def decode_text(raw: bytes) -> tuple[str, str]:
    """Text and the encoding used: UTF-8 (BOM stripped), else cp1252, else latin-1."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding), encoding.replace("-sig", "")
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1"), "latin-1"


def _numbers(line: str) -> list[float] | None:
    """The numeric fields of a data line, or None when the line is not purely numeric."""
    fields = line.replace(",", " ").replace(";", " ").split()
    if not fields or not all(_NUMBER.fullmatch(f) for f in fields):
        return None
    return [float(f) for f in fields]


def parse_rruff_text(text: str) -> tuple[dict[str, str], np.ndarray, np.ndarray, dict]:
    """Header (KEY -> value, entities decoded), x, y (as read) and parse notes."""
    header: dict[str, str] = {}
    continuation: list[str] = []
    repeated: list[str] = []
    xs: list[float] = []
    ys: list[float] = []
    last_key: str | None = None
    blank_since_key = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            blank_since_key = True
            continue
        if stripped.startswith("##"):
            key, _, value = stripped[2:].partition("=")
            key = key.strip().upper()
            if key == "END":
                break
            value = html.unescape(value.strip())
            if key in header:
                repeated.append(key)
            else:
                header[key] = value
            last_key, blank_since_key = key, False
            continue
        values = _numbers(stripped)
        if values is not None:
            if len(values) != 2:
                raise RruffFormatError(f"line {number}: expected 2 columns, got {len(values)}")
            xs.append(values[0])
            ys.append(values[1])
            last_key = None
            continue
        if xs:
            raise RruffFormatError(f"line {number}: not a data line: {stripped[:60]!r}")
        text_value = html.unescape(stripped)
        if last_key is not None and not blank_since_key and last_key not in repeated:
            header[last_key] = f"{header[last_key]} {text_value}".strip()
        else:
            continuation.append(text_value)
    if not xs:
        raise RruffFormatError("no data lines")
    notes = {}
    if continuation:
        notes["header_continuation"] = continuation
    if repeated:
        notes["repeated_header_keys"] = sorted(set(repeated))
    return header, np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64), notes


def _modality(name: str, header: dict[str, str]) -> str | None:
    hints = " ".join([header.get("FILETYPE", ""), name]).lower()
    if "infrared" in hints or "__ir__" in hints:
        return "ir"
    if "raman" in hints or "laser_wavelength" in " ".join(header).lower():
        return "raman"
    return None


def _laser_nm(name: str, header: dict[str, str]) -> float | None:
    for key in ("RAMAN WAVELENGTH", "LASER_WAVELENGTH", "LASER WAVELENGTH"):
        match = _NUMBER.search(header.get(key, ""))
        if match:
            return float(match.group(0))
    match = re.search(r"__Raman__(\d{3,4})__", name) or re.search(r"__(\d{3,4})__", name)
    return float(match.group(1)) if match else None


def _file_type(name: str, header: dict[str, str]) -> str | None:
    for hint in (header.get("FILETYPE", ""), name):
        lowered = hint.lower()
        if "processed" in lowered:
            return "Processed"
        if "raw" in lowered:
            return "RAW"
    return None


def record_from_text(
    raw: bytes, item: str, modality: str | None = None, archive: str | None = None
) -> SpectrumRecord | Rejected:
    """One RRUFF file's bytes -> a record, or a Rejected naming `item` and the problem."""
    name = item.rsplit("/", 1)[-1]
    text, encoding = decode_text(raw)
    try:
        header, x, y, notes = parse_rruff_text(text)
    except RruffFormatError as exc:
        return Rejected(SOURCE, item, str(exc))
    problem = spectrum_problem(x, y)
    if problem:
        return Rejected(SOURCE, item, problem)
    x, y, merged = sort_and_merge(x, y)
    if x.size < 2:
        return Rejected(SOURCE, item, "fewer than 2 distinct x values")
    kind = modality or _modality(name, header)
    if kind is None:
        return Rejected(SOURCE, item, "cannot tell Raman from Infrared (no FILETYPE, no hint)")
    id_match = _RRUFF_ID.search(header.get("RRUFFID", "")) or _RRUFF_ID.search(name)
    file_id = _FILE_ID.search(name)
    if id_match:
        sample_id = f"rruff:{id_match.group(1)}"
    else:  # e.g. "Miargyrite__altered__..." has no RRUFF id: the member stem is all there is
        sample_id = f"rruff:{Path(name).stem}"
    metadata = {
        "names": header.get("NAMES"),
        "rruff_id": id_match.group(1) if id_match else None,
        "rruff_variant": file_id.group(1) if file_id else None,
        "laser_wavelength_nm": _laser_nm(name, header) if kind == "raman" else None,
        "file_type": _file_type(name, header),
        "member": item,
        "archive": archive,
        "encoding": encoding,
        "duplicate_x_merged": merged,
        "header": {k.lower(): v for k, v in header.items()},
        **notes,
    }
    return SpectrumRecord(x, y, kind, SOURCE, sample_id, metadata)


def _iter_zip(path: Path, modality: str | None, limit: int | None):
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path}: not a readable zip archive: {exc}") from exc
    with archive:
        produced = 0
        for info in archive.infolist():
            if info.is_dir():
                continue
            if limit is not None and produced >= limit:
                return
            produced += 1
            item = f"{path.name}:{info.filename}"
            if not info.filename.lower().endswith(TEXT_SUFFIXES):
                yield Rejected(SOURCE, item, "not a RRUFF text member (.txt/.rruff)")
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                yield Rejected(SOURCE, item, f"member of {info.file_size} bytes is too large")
                continue
            try:
                raw = archive.read(info)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:  # e.g. CRC error
                yield Rejected(SOURCE, item, f"cannot read member: {exc}")
                continue
            yield record_from_text(raw, info.filename, modality, archive=path.name)


def read_rruff(
    path: str | Path, modality: str | None = None, limit: int | None = None
) -> Iterator[SpectrumRecord | Rejected]:
    """RRUFF spectra from a zip archive, a single .txt/.rruff file or a folder of them.

    modality: force "raman" or "ir" instead of reading it from FILETYPE / the file name.
    limit: stop after this many archive members (for quick looks at the 115 MB archive).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES)
        yield from (record_from_text(p.read_bytes(), p.name, modality) for p in files[:limit])
    elif zipfile.is_zipfile(path):
        yield from _iter_zip(path, modality, limit)
    elif path.suffix.lower() in TEXT_SUFFIXES:
        yield record_from_text(path.read_bytes(), path.name, modality)
    else:
        raise InputError(f"{path}: expected a RRUFF .zip archive or a .txt/.rruff file")
