"""Fetch raw files from their canonical URL or a mirror, verify them, and extract archives safely.

Every raw file of the pipeline goes through `fetch`: it lands at `dest` only when complete and
verified (streamed to `dest.part`, renamed at the end), so Snakemake never sees a partial file.
A mirror (config `data.mirror` or env SPECTRALFM_MIRROR) holds the same files at
`<mirror>/<source>/<name>`; it is either a local folder or an http(s) base URL.
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import http.client
import json
import logging
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from spectralfm import __version__
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


def _check_complete(part: Path, raw: RawFile, where: str) -> None:
    """Size then checksums; on failure the .part is deleted so nothing partial survives."""
    try:
        if raw.size is not None and part.stat().st_size != raw.size:
            raise InputError(
                f"{where}: expected {raw.size} bytes for {raw.name}, got {part.stat().st_size}"
            )
        verify(part, raw.sha256, raw.md5, label=f"{raw.name} (from {where})")
    except InputError:
        part.unlink(missing_ok=True)
        raise


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
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file() and (raw.sha256 or raw.md5):
        try:
            verify(dest, raw.sha256, raw.md5)
            return dest
        except InputError:
            pass  # stale or corrupt: fetch it again
    mirror = None if mirror is None or not str(mirror).strip() else str(mirror).strip()
    if mirror is None:
        raw = with_published_md5(raw, timeout)
    location = source_url(raw, mirror)
    if mirror is not None and not _is_http(mirror):
        return _copy_from_folder(raw, Path(location), dest)
    _check_scheme(location, allow_plain_http=mirror is not None)
    part = _part_path(dest)
    stale = part.exists()  # left by an interrupted earlier run: resume it, but trust it less
    _http_download(raw, location, part, retries, timeout, backoff, progress, mirror is not None)
    try:
        _check_complete(part, raw, location)
    except InputError:
        if not stale:
            raise
        # The old .part may have come from a different version of the file: one clean retry.
        _http_download(raw, location, part, retries, timeout, backoff, progress, mirror is not None)
        _check_complete(part, raw, location)
    return _publish(part, dest)


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


def _copy_from_folder(raw: RawFile, src: Path, dest: Path) -> Path:
    if not src.is_file():
        raise InputError(f"{raw.name}: not found in the mirror folder; looked for {src}")
    part = _part_path(dest)
    try:
        shutil.copyfile(src, part)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise InputError(f"{src}: cannot copy {raw.name} from the mirror: {e}") from e
    _check_complete(part, raw, str(src))
    return _publish(part, dest)


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


def _write_atomically(stream, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(stream, out, CHUNK)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def safe_extract(
    archive: str | os.PathLike, dest_dir: str | os.PathLike, members: list[str] | None = None
) -> list[Path]:
    """Extract files of a zip or tar archive into dest_dir; return the extracted file paths.

    Every selected member is checked before anything is written: absolute paths, `..` escapes
    and (tar) links or device files raise InputError naming the member. Each file is written to
    a temporary name and renamed, so an interrupted extraction leaves no half file.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    if not archive.is_file():
        raise InputError(f"{archive}: archive not found")
    dest_dir.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            return _extract_zip(archive, dest_dir, members)
        if tarfile.is_tarfile(archive):
            return _extract_tar(archive, dest_dir, members)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        raise InputError(f"{archive}: corrupt or unreadable archive: {e}") from e
    raise InputError(f"{archive}: not a zip or tar archive")


def _select(archive: Path, names: list[str], members: list[str] | None) -> list[str]:
    if members is None:
        return names
    missing = [m for m in members if m not in names]
    if missing:
        raise InputError(f"{archive}: no member(s) {missing}; it holds {names[:20]}")
    return list(members)


def _extract_zip(archive: Path, dest_dir: Path, members: list[str] | None) -> list[Path]:
    with zipfile.ZipFile(archive) as zf:
        infos = {info.filename: info for info in zf.infolist()}
        chosen = _select(archive, list(infos), members)
        plan = [(infos[n], _member_target(archive, n, dest_dir)) for n in chosen]
        out = []
        for info, target in plan:
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            with zf.open(info) as stream:
                _write_atomically(stream, target)
            out.append(target)
        return out


def _extract_tar(archive: Path, dest_dir: Path, members: list[str] | None) -> list[Path]:
    with tarfile.open(archive) as tf:
        infos = {info.name: info for info in tf.getmembers()}
        chosen = _select(archive, list(infos), members)
        plan = []
        for name in chosen:
            info = infos[name]
            target = _member_target(archive, name, dest_dir)
            if not (info.isfile() or info.isdir()):
                raise InputError(f"{archive}: member {name!r} is a link or special file; refusing")
            plan.append((info, target))
        out = []
        for info, target in plan:
            if info.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            _write_atomically(tf.extractfile(info), target)
            out.append(target)
        return out
