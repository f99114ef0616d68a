"""Fetch raw files from their canonical URL or a mirror, verify them, and extract archives safely.

Every raw file of the pipeline goes through `fetch`: it lands at `dest` only when complete and
verified (streamed to `dest.part`, renamed at the end), so Snakemake never sees a partial file.
A mirror (config `data.mirror` or env SPECTRALFM_MIRROR) holds the same files at
`<mirror>/<source>/<name>`; it is either a local folder or an http(s) base URL.

An archive (.zip, .tar, .tar.gz, ... by its catalog name) is also read through, every member,
before that rename: a truncated or corrupt one is deleted and the InputError says which it is and
where the bytes came from, so a raw archive never sits in place damaged (fix the source, rerun).
`fetch_and_record` also writes the manifest, which names the source actually read.
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import http.client
import json
import logging
import lzma
import os
import re
import shutil
import ssl
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from spectralfm import __version__
from spectralfm.atomic import atomic_path
from spectralfm.errors import InputError

log = logging.getLogger(__name__)

MIRROR_ENV = "SPECTRALFM_MIRROR"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
CHUNK = 1 << 16
MAX_RETRY_AFTER = 600.0  # a server asking for longer than this is treated as down, not waited on

# Indirection so tests can record waits instead of sleeping.
_sleep = time.sleep


@dataclass(frozen=True)
class RawFile:
    """One downloadable file: where it lives canonically and how to check it."""

    source: str  # folder under resources/raw and under the mirror, e.g. "eigenvector"
    name: str  # file name, e.g. "corn.mat_.zip"
    url: str  # canonical https URL
    sha256: str | None = None
    md5: str | None = None  # Zenodo/Figshare publish md5
    size: int | None = None


def resolve_mirror(config_value: str | os.PathLike | None) -> str | None:
    """The mirror to use: config `data.mirror` wins, else env SPECTRALFM_MIRROR, else None."""
    if config_value is not None and str(config_value).strip():
        return str(config_value).strip()
    env = os.environ.get(MIRROR_ENV, "").strip()
    return env or None


def _is_http(location: str) -> bool:
    return location.lower().startswith(("http://", "https://"))


def _mirror_folder(mirror: str) -> Path:
    if mirror.lower().startswith("file://"):
        return Path(urllib.parse.unquote(urllib.parse.urlparse(mirror).path))
    return Path(mirror).expanduser()


def source_url(raw: RawFile, mirror: str | os.PathLike | None) -> str:
    """Where `raw` is fetched from: `<mirror>/<source>/<name>` when a mirror is set, else raw.url."""
    if mirror is None or not str(mirror).strip():
        return raw.url
    mirror = str(mirror).strip()
    if _is_http(mirror):
        quoted = "/".join(urllib.parse.quote(part) for part in (raw.source, raw.name))
        return f"{mirror.rstrip('/')}/{quoted}"
    return str(_mirror_folder(mirror) / raw.source / raw.name)


def file_sha256(path: str | os.PathLike) -> str:
    return _digest(Path(path), "sha256")


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def verify(
    path: str | os.PathLike, sha256: str | None = None, md5: str | None = None, *, label=None
) -> None:
    """Raise InputError naming the file, the expected and the actual digest on any mismatch."""
    path = Path(path)
    label = label or path
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected is None:
            continue
        actual = _digest(path, algorithm)
        if actual.lower() != expected.strip().lower():
            raise InputError(
                f"{label}: {algorithm} mismatch: expected {expected.strip().lower()}, got {actual}"
            )


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


@dataclass(frozen=True)
class Fetched:
    """What `fetch_with_source` did: the verified file and where its bytes came from."""

    path: Path
    via: str  # "mirror folder", "mirror URL", "canonical URL" or "existing file" (kept as is)
    location: str  # the mirror file path, the mirror URL or the canonical URL actually read
    archive: ArchiveCheck | None = None  # set when the file is an archive and was tested


def _redact(location: str) -> str:
    """`location` without user:password@ (a mirror URL may carry credentials)."""
    if not _is_http(location):
        return location
    parsed = urllib.parse.urlsplit(location)
    if parsed.username is None and parsed.password is None:
        return location
    host = parsed.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"***@{host}" + (f":{parsed.port}" if parsed.port else "")
    return urllib.parse.urlunsplit(parsed._replace(netloc=netloc))


def _check_complete(part: Path, raw: RawFile, where: str, via: str, dest: Path):
    """Size, checksums, then (archives) integrity; on failure the .part is deleted so nothing
    partial or damaged survives. Returns the ArchiveCheck of an archive, else None."""
    try:
        if raw.size is not None and part.stat().st_size != raw.size:
            raise InputError(
                f"{where}: expected {raw.size} bytes for {raw.name}, got {part.stat().st_size}"
            )
        verify(part, raw.sha256, raw.md5, label=f"{raw.name} (from {where})")
        fmt = archive_format(raw.name)
        if fmt is None:
            return None
        try:
            return _check_archive(part, fmt)
        except _Damaged as e:
            raise InputError(
                f"{raw.name} from the {via} {_redact(where)}: {e}; nothing was kept at {dest}. "
                + _DAMAGED_HINT[via]
            ) from None
    except InputError:
        part.unlink(missing_ok=True)
        raise


_DAMAGED_HINT = {
    "mirror folder": "Replace that file in the mirror with a good copy and rerun.",
    "mirror URL": "Replace that file on the mirror with a good copy and rerun.",
    "canonical URL": "The server sent a damaged file; rerun later, or use a mirror.",
}


def _publish(part: Path, dest: Path) -> Path:
    with open(part, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(part, dest)
    return dest


def fetch(
    raw: RawFile,
    dest: str | os.PathLike,
    mirror: str | os.PathLike | None = None,
    *,
    retries: int = 5,
    timeout: float = 60,
    backoff: float = 1.0,
    progress: bool = False,
) -> Path:
    """Download (or copy from a folder mirror) `raw` to `dest`, verified; return `dest`.

    A `dest` that already exists and matches the given checksum is kept as is. A failed attempt
    (5xx, 429, connection error) is retried at most `retries` times in a row, waiting
    Retry-After or `backoff * 2**k` seconds; an attempt that delivered bytes before the
    connection was cut resets that count (it made progress) and is resumed at once with Range.
    An archive (by its name: .zip, .tar, .tar.gz, ...) is also read through, every member, before
    it is renamed into place: a truncated or corrupt one raises InputError and leaves nothing.
    """
    return fetch_with_source(
        raw, dest, mirror, retries=retries, timeout=timeout, backoff=backoff, progress=progress
    ).path


def fetch_with_source(
    raw: RawFile,
    dest: str | os.PathLike,
    mirror: str | os.PathLike | None = None,
    *,
    retries: int = 5,
    timeout: float = 60,
    backoff: float = 1.0,
    progress: bool = False,
) -> Fetched:
    """`fetch`, returning also where the bytes came from (see `Fetched`)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file() and (raw.sha256 or raw.md5):
        try:
            verify(dest, raw.sha256, raw.md5)
            return Fetched(dest, "existing file", str(dest))
        except InputError:
            pass  # stale or corrupt: fetch it again
    mirror = None if mirror is None or not str(mirror).strip() else str(mirror).strip()
    if mirror is None:
        raw = with_published_md5(raw, timeout)
    location = source_url(raw, mirror)
    if mirror is not None and not _is_http(mirror):
        return _copy_from_folder(raw, Path(location), dest)
    via = "canonical URL" if mirror is None else "mirror URL"
    _check_scheme(location, allow_plain_http=mirror is not None)
    part = _part_path(dest)
    stale = part.exists()  # left by an interrupted earlier run: resume it, but trust it less
    _http_download(raw, location, part, retries, timeout, backoff, progress, mirror is not None)
    try:
        checked = _check_complete(part, raw, location, via, dest)
    except InputError:
        if not stale:
            raise
        # The old .part may have come from a different version of the file: one clean retry.
        _http_download(raw, location, part, retries, timeout, backoff, progress, mirror is not None)
        checked = _check_complete(part, raw, location, via, dest)
    return Fetched(_publish(part, dest), via, location, checked)


def manifest_record(raw: RawFile, fetched: Fetched, previous: dict | None = None) -> dict:
    """The manifest of one fetched raw file: canonical URL, the source actually read, size and
    sha256 as fetched (the record for sources that publish no checksum, e.g. RRUFF).

    For a file that was already in place (`via` "existing file"), the source recorded in
    `previous` (its earlier manifest) is kept when that manifest describes the same bytes."""
    path = fetched.path
    sha256 = file_sha256(path)
    via, location = fetched.via, _redact(fetched.location)
    if via == "existing file" and previous and previous.get("sha256") == sha256:
        via = previous.get("fetched_via", via)
        location = previous.get("fetched_from", location)
    return {
        "source": raw.source,
        "name": raw.name,
        "url": raw.url,
        "fetched_via": via,
        "fetched_from": location,
        "size": path.stat().st_size,
        "sha256": sha256,
        "published_sha256": raw.sha256,
        "published_md5": raw.md5,
        "archive": dataclasses.asdict(fetched.archive) if fetched.archive else None,
        "fetched_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def fetch_and_record(
    raw: RawFile,
    dest: str | os.PathLike,
    manifest: str | os.PathLike,
    mirror: str | os.PathLike | None = None,
    **kwargs,
) -> dict:
    """`fetch` `raw` to `dest` and write its `manifest_record` (JSON) to `manifest`, atomically.

    The manifest is written only after the file is in place, so it never describes a file that
    failed its checks. Returns the record."""
    manifest = Path(manifest)
    previous = None
    if manifest.is_file():
        try:
            previous = json.loads(manifest.read_text())
        except (OSError, ValueError):
            previous = None
    fetched = fetch_with_source(raw, dest, mirror, **kwargs)
    record = manifest_record(raw, fetched, previous if isinstance(previous, dict) else None)
    with atomic_path(manifest) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return record


ZENODO_FILE = re.compile(r"^(https?://[^/]+)/records?/(\d+)/files/([^/?#]+)")


def with_published_md5(raw: RawFile, timeout: float = 60) -> RawFile:
    """`raw` with the md5 Zenodo publishes for it (its records API), when it has no checksum yet.

    Other hosts, or an API that does not answer, leave `raw` as it is (the download then records
    the sha256 it got, see the workflow's manifests)."""
    match = ZENODO_FILE.match(raw.url)
    if raw.sha256 or raw.md5 or not match:
        return raw
    base, record, name = match.group(1), match.group(2), urllib.parse.unquote(match.group(3))
    api = f"{base}/api/records/{record}"
    try:
        request = urllib.request.Request(api, headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            files = json.loads(response.read(4 << 20)).get("files", [])
    except (OSError, ValueError) as e:
        log.warning("%s: no checksum from the Zenodo API (%s); downloading unverified", api, e)
        return raw
    for entry in files:
        checksum = str(entry.get("checksum", ""))
        if entry.get("key") == name and checksum.startswith("md5:"):
            return dataclasses.replace(raw, md5=checksum[4:])
    log.warning("%s lists no md5 for %s; downloading unverified", api, name)
    return raw


def _copy_from_folder(raw: RawFile, src: Path, dest: Path) -> Fetched:
    if not src.is_file():
        raise InputError(f"{raw.name}: not found in the mirror folder; looked for {src}")
    part = _part_path(dest)
    try:
        shutil.copyfile(src, part)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise InputError(f"{src}: cannot copy {raw.name} from the mirror: {e}") from e
    checked = _check_complete(part, raw, str(src), "mirror folder", dest)
    return Fetched(_publish(part, dest), "mirror folder", str(src), checked)


def _check_scheme(url: str, allow_plain_http: bool) -> None:
    parsed = urllib.parse.urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme == "https":
        return
    if scheme == "http" and (allow_plain_http or (parsed.hostname or "") in LOOPBACK_HOSTS):
        return
    raise InputError(
        f"{url}: refusing {scheme or 'schemeless'} URL; canonical downloads must use https "
        "(plain http only for localhost or a mirror you configured)"
    )


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects (Range header kept) but never downgrade to plain http elsewhere."""

    def __init__(self, allow_plain_http: bool):
        super().__init__()
        self.allow_plain_http = allow_plain_http

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        _check_scheme(newurl, self.allow_plain_http)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds)


def _total_from_content_range(value: str | None) -> int | None:
    """The TOTAL of 'bytes START-END/TOTAL' or 'bytes */TOTAL' (416 answers)."""
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    """Parse 'bytes START-END/TOTAL' into (START, TOTAL or None)."""
    if not value or not value.strip().lower().startswith("bytes "):
        return None
    try:
        span, total = value.strip()[6:].split("/")
        start = int(span.split("-")[0])
        return start, None if total.strip() == "*" else int(total)
    except ValueError:
        return None


def _http_download(
    raw: RawFile,
    url: str,
    part: Path,
    retries: int,
    timeout: float,
    backoff: float,
    progress: bool,
    from_mirror: bool,
) -> None:
    """Stream `url` into `part`, resuming with Range after cuts. Raises InputError when it gives up."""
    opener = urllib.request.build_opener(_CheckedRedirects(allow_plain_http=from_mirror))
    failures = 0
    last_problem = ""
    furthest = part.stat().st_size if part.exists() else 0
    # Each pass either gets further into the file than ever before (progress) or counts a
    # failure; failures are capped by `retries` and progress by the file size, so the loop is
    # bounded even when a server ignores Range and cuts every answer at the same place.
    while True:
        offset = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": f"spectralfm/{__version__}", "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        wait = None
        try:
            with opener.open(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
                complete = _stream_response(raw, url, r, part, offset, progress)
            if complete:
                return
            last_problem = "connection closed before the end of the file"
        except urllib.error.HTTPError as e:
            if e.code == 416 and offset:
                # Our .part is at least as long as the server's file: complete when the server's
                # total (Content-Range "bytes */N") or the known size equals it, else restart.
                total = _total_from_content_range(
                    e.headers.get("Content-Range") if e.headers else None
                )
                total = total if total is not None else raw.size
                if total == offset:
                    return
                part.unlink(missing_ok=True)
                last_problem = f"HTTP 416 for a .part of {offset} bytes"
            elif e.code == 429 or 500 <= e.code < 600:
                wait = _retry_after_seconds(e.headers.get("Retry-After") if e.headers else None)
                last_problem = f"HTTP {e.code} {e.reason}"
            else:
                raise InputError(f"{url}: HTTP {e.code} {e.reason} (fetching {raw.name})") from e
        except InputError:
            raise
        except (
            urllib.error.URLError,
            http.client.HTTPException,
            ConnectionError,
            TimeoutError,
        ) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, ssl.SSLError | ssl.CertificateError):
                raise InputError(f"{url}: TLS error: {reason}") from e
            last_problem = f"{type(e).__name__}: {reason}"
        size = part.stat().st_size if part.exists() else 0
        if size > furthest:
            furthest = size
            failures = 0
            continue
        failures += 1
        if failures > retries:
            raise InputError(
                f"{url}: giving up on {raw.name} after {failures} failed attempts: {last_problem}"
            )
        if wait is None:
            wait = backoff * 2 ** (failures - 1)
        if wait > MAX_RETRY_AFTER:
            raise InputError(f"{url}: server asks to retry after {wait:.0f} s ({last_problem})")
        _sleep(wait)


def _stream_response(raw: RawFile, url: str, response, part: Path, offset: int, progress: bool):
    """Write one response into `part`; return whether the file is now complete."""
    status = response.status
    total = None
    if status == 206:
        span = _content_range(response.headers.get("Content-Range"))
        if span is None or span[0] != offset:
            # A range we did not ask for: do not splice it in, start again from zero.
            part.unlink(missing_ok=True)
            raise http.client.HTTPException(f"unexpected Content-Range {span} for offset {offset}")
        total = span[1]
        mode = "ab"
    elif status == 200:
        offset = 0  # the server ignored Range (or none was sent): restart cleanly
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        mode = "wb"
    else:
        raise InputError(f"{url}: unexpected HTTP {status} (fetching {raw.name})")
    if total is None:
        total = raw.size
    received = 0
    cut = False
    with (
        open(part, mode) as out,
        tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            desc=raw.name,
            disable=not progress,
            leave=False,
        ) as bar,
    ):
        try:
            while block := response.read(CHUNK):
                out.write(block)
                received += len(block)
                bar.update(len(block))
                if total is not None and offset + received > total:
                    break
        except (http.client.IncompleteRead, ConnectionError, TimeoutError):
            cut = True  # keep what arrived; the caller resumes from here
    size = offset + received
    if total is not None and size > total:
        part.unlink(missing_ok=True)
        raise InputError(f"{url}: server sent more than the {total} bytes announced for {raw.name}")
    if total is None:
        # No length anywhere: a clean end of stream is the only completion signal we have.
        return not cut
    return size == total


# --- Archives: integrity check and safe extraction -------------------------------------------

ZIP_SUFFIXES = (".zip",)
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")
TAR_BLOCK = 512
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")  # gzip, bzip2, xz
# What reading a damaged archive raises (zipfile/tarfile wrap little of it). OSError covers
# gzip.BadGzipFile and bz2's "Invalid data stream".
_READ_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,
)


@dataclass(frozen=True)
class ArchiveCheck:
    """An archive read through without error: its format and how many members it holds."""

    format: str  # "zip" or "tar"
    members: int


class _Damaged(Exception):
    """Internal: what is wrong with an archive, worded "truncated: ...", "corrupt: ...", ..."""


def archive_format(name: str | os.PathLike) -> str | None:
    """ "zip" or "tar" when the file name says it is an archive (.zip, .tar, .tar.gz, .tgz, ...)."""
    lower = Path(name).name.lower()
    if lower.endswith(ZIP_SUFFIXES):
        return "zip"
    if lower.endswith(TAR_SUFFIXES):
        return "tar"
    return None


def check_archive(path: str | os.PathLike, fmt: str | None = None) -> ArchiveCheck:
    """Read every member of a zip or tar archive through; InputError naming `path` and the damage.

    `fmt` ("zip" or "tar") defaults to what the file name says, else what the content looks
    like. Zip: every member is decompressed and its CRC-32 checked. Tar: every header is parsed,
    every member read to its end (compressed tars: the stream's own CRC is checked at its end)
    and the end-of-archive marker required. The data of an uncompressed tar carries no checksum,
    so flipped bytes inside a member's data cannot be seen there.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: archive not found")
    fmt = fmt or archive_format(path) or _sniff_format(path)
    try:
        if fmt is None:
            raise _Damaged(f"not a zip or tar archive (it starts with {_head(path, 16)!r})")
        return _check_archive(path, fmt)
    except _Damaged as e:
        raise InputError(f"{path}: {e}") from None


def _head(path: Path, n: int) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _sniff_format(path: Path) -> str | None:
    if zipfile.is_zipfile(path):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    return None


def _why(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _check_archive(path: Path, fmt: str) -> ArchiveCheck:
    if fmt == "zip":
        return _check_zip(path)
    if fmt == "tar":
        return _check_tar(path)
    raise ValueError(f"unknown archive format {fmt!r}")


def _open_zip(path: Path) -> zipfile.ZipFile:
    """ZipFile of `path`, or _Damaged saying whether it is truncated, corrupt or no zip at all."""
    size = path.stat().st_size
    if size == 0:
        raise _Damaged("truncated: not a zip archive (the file is empty)")
    if not zipfile.is_zipfile(path):
        head = _head(path, 16)
        if head.startswith(b"PK"):
            raise _Damaged(
                "truncated: not a zip archive (it starts like one but has no end-of-central-"
                f"directory record; {size} bytes)"
            )
        raise _Damaged(f"not a zip archive (it starts with {head!r})")
    try:
        return zipfile.ZipFile(path)
    except _READ_ERRORS as e:
        raise _Damaged(f"corrupt: unreadable zip central directory ({_why(e)})") from e


def _zip_member_problem(name: str, e: BaseException) -> str:
    if isinstance(e, zipfile.BadZipFile) and "CRC" in str(e):
        return f"corrupt: bad CRC in member {name!r}"
    if isinstance(e, NotImplementedError | RuntimeError):  # compression method, encryption
        return f"unsupported: member {name!r} cannot be read ({_why(e)})"
    return f"corrupt: member {name!r} is unreadable ({_why(e)})"


def _check_zip(path: Path) -> ArchiveCheck:
    with _open_zip(path) as zf:
        infos = zf.infolist()
        for info in infos:
            if info.is_dir():
                continue
            try:
                with zf.open(info) as stream:
                    while stream.read(CHUNK):
                        pass
            except (*_READ_ERRORS, NotImplementedError, RuntimeError) as e:
                raise _Damaged(_zip_member_problem(info.filename, e)) from e
        return ArchiveCheck("zip", len(infos))


def _open_tar(path: Path) -> tarfile.TarFile:
    size = path.stat().st_size
    if size == 0:
        raise _Damaged("truncated: not a tar archive (the file is empty)")
    try:
        return tarfile.open(path)
    except EOFError as e:
        raise _Damaged(f"truncated: the compressed stream ends early ({_why(e)})") from e
    except _READ_ERRORS as e:
        head = _head(path, TAR_BLOCK)
        if head.startswith(_COMPRESSED_MAGIC):
            raise _Damaged(f"corrupt: unreadable compressed tar stream ({_why(e)})") from e
        if size < TAR_BLOCK:
            raise _Damaged(
                f"truncated: not a tar archive ({size} bytes, less than one {TAR_BLOCK}-byte "
                "header)"
            ) from e
        if head[257:262] == b"ustar":
            raise _Damaged(f"corrupt: invalid first member header ({_why(e)})") from e
        raise _Damaged(f"not a tar archive (it starts with {head[:16]!r})") from e


def _tar_read_problem(name: str | None, e: BaseException) -> str:
    where = f"member {name!r}" if name else "the first header"
    if isinstance(e, EOFError) or "unexpected end of data" in str(e):
        return f"truncated: the archive ends inside {where} ({_why(e)})"
    if "CRC" in str(e):
        return f"corrupt: bad CRC in the compressed stream, at or after {where} ({_why(e)})"
    return f"corrupt: {where} is unreadable ({_why(e)})"


def _check_tar_end(tf: tarfile.TarFile, last: str | None) -> None:
    """tarfile stops quietly at a damaged header after the first: require that what follows the
    last member is the end-of-archive marker (zero blocks) and nothing else."""
    after = f"after member {last!r}" if last else "at the start"
    fileobj = tf.fileobj
    fileobj.seek(tf.offset)
    rest = 0
    while block := fileobj.read(CHUNK):
        if block.count(0) != len(block):
            if rest + len(block) < TAR_BLOCK:
                raise _Damaged(f"truncated: the archive ends inside the header {after}")
            raise _Damaged(f"corrupt: invalid member header at offset {tf.offset} ({after})")
        rest += len(block)
    if rest < TAR_BLOCK:
        raise _Damaged(f"truncated: no end-of-archive marker {after}")


def _check_tar(path: Path) -> ArchiveCheck:
    with _open_tar(path) as tf:
        count, name = 0, None
        try:
            for info in tf:
                name = info.name
                if info.isfile():
                    stream = tf.extractfile(info)
                    while stream.read(CHUNK):
                        pass
                count += 1
            _check_tar_end(tf, name)
        except _READ_ERRORS as e:
            raise _Damaged(_tar_read_problem(name, e)) from e
        return ArchiveCheck("tar", count)


def _damaged_at_extraction(archive: Path, problem: str) -> InputError:
    return InputError(
        f"{archive}: {problem}. This raw file is damaged: delete it (rm '{archive}') and rerun, "
        "so that it is downloaded again (if it came from a mirror, replace it there first)."
    )


def _member_target(archive: Path, name: str, dest_dir: Path) -> Path:
    """The path a member extracts to; InputError for absolute paths and `..` escapes."""
    clean = name.replace("\\", "/")
    pure = PurePosixPath(clean)
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":") or pure.is_absolute():
        raise InputError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    if any(part == ".." for part in pure.parts):
        raise InputError(f"{archive}: member {name!r} escapes the target folder; refusing")
    target = (dest_dir / pure).resolve()
    root = dest_dir.resolve()
    if target != root and root not in target.parents:
        raise InputError(f"{archive}: member {name!r} resolves outside {dest_dir}; refusing")
    return target


def _write_atomically(stream, target: Path, problem) -> None:
    """Copy `stream` to `target` via a temporary name. A read error (the archive's fault) is
    raised as _Damaged(problem(error)); a write error (the disk's) propagates as it is."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                try:
                    block = stream.read(CHUNK)
                except (*_READ_ERRORS, NotImplementedError, RuntimeError) as e:
                    raise _Damaged(problem(e)) from e
                if not block:
                    break
                out.write(block)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def safe_extract(
    archive: str | os.PathLike, dest_dir: str | os.PathLike, members: list[str] | None = None
) -> list[Path]:
    """Extract files of a zip or tar archive into dest_dir; return the extracted file paths.

    Every selected member is checked before anything is written: absolute paths, `..` escapes
    and (tar) links or device files raise InputError naming the member. Each file is written to
    a temporary name and renamed, so an interrupted extraction leaves no half file; when the
    archive turns out damaged (bad CRC, truncated), the files this call wrote are removed too and
    the InputError names the archive, the damage, and says to delete the archive. The archive
    itself is never deleted here: it may be a file the user supplied.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    if not archive.is_file():
        raise InputError(f"{archive}: archive not found")
    fmt = _sniff_format(archive)
    if fmt is None:
        fmt = archive_format(archive)
        if fmt is None:
            raise InputError(
                f"{archive}: not a zip or tar archive (it starts with {_head(archive, 16)!r})"
            )
        try:
            _check_archive(archive, fmt)
        except _Damaged as e:
            raise _damaged_at_extraction(archive, str(e)) from None
        raise InputError(f"{archive}: not a readable {fmt} archive")  # pragma: no cover
    dest_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        if fmt == "zip":
            _extract_zip(archive, dest_dir, members, written)
        else:
            _extract_tar(archive, dest_dir, members, written)
    except _Damaged as e:
        _remove(written)
        raise _damaged_at_extraction(archive, str(e)) from None
    except BaseException:
        _remove(written)
        raise
    return written


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _select(archive: Path, names: list[str], members: list[str] | None) -> list[str]:
    if members is None:
        return names
    missing = [m for m in members if m not in names]
    if missing:
        raise InputError(f"{archive}: no member(s) {missing}; it holds {names[:20]}")
    return list(members)


def _extract_zip(archive: Path, dest_dir: Path, members: list[str] | None, out: list[Path]):
    with _open_zip(archive) as zf:
        infos = {info.filename: info for info in zf.infolist()}
        chosen = _select(archive, list(infos), members)
        plan = [(infos[n], _member_target(archive, n, dest_dir)) for n in chosen]
        for info, target in plan:
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue

            def problem(e, name=info.filename):
                return _zip_member_problem(name, e)

            try:
                stream = zf.open(info)
            except (*_READ_ERRORS, NotImplementedError, RuntimeError) as e:
                raise _Damaged(problem(e)) from e
            with stream:
                _write_atomically(stream, target, problem)
            out.append(target)


def _extract_tar(archive: Path, dest_dir: Path, members: list[str] | None, out: list[Path]):
    with _open_tar(archive) as tf:
        infos: dict[str, tarfile.TarInfo] = {}
        last = None
        try:
            for info in tf:
                infos[info.name] = info
                last = info.name
            _check_tar_end(tf, last)  # a damaged header would otherwise hide the members after it
        except _READ_ERRORS as e:
            raise _Damaged(_tar_read_problem(last, e)) from e
        chosen = _select(archive, list(infos), members)
        plan = []
        for name in chosen:
            info = infos[name]
            target = _member_target(archive, name, dest_dir)
            if not (info.isfile() or info.isdir()):
                raise InputError(f"{archive}: member {name!r} is a link or special file; refusing")
            plan.append((info, target))
        for info, target in plan:
            if info.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue

            def problem(e, name=info.name):
                return _tar_read_problem(name, e)

            try:
                stream = tf.extractfile(info)
            except _READ_ERRORS as e:
                raise _Damaged(problem(e)) from e
            _write_atomically(stream, target, problem)
            out.append(target)
