import hashlib
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from http_fixtures import LoopbackServer

from spectralfm import download
from spectralfm.download import (
    RawFile,
    fetch,
    file_sha256,
    resolve_mirror,
    safe_extract,
    source_url,
    verify,
    with_published_md5,
)
from spectralfm.errors import InputError

CORN_ZIP_SHA256 = "869a1e950a39631187da97d2500d6c97b24157474768d0be6ba2093fb6b201f4"
CORN_MAT_SHA256 = "e28fd4be274a54ca57b1f2c67ef5a8bf4981f8314bcc73e4c64836fe658c46b5"
PAYLOAD = bytes(range(256)) * 800  # 204,800 bytes, every offset distinguishable mod 256


@pytest.fixture
def server(request):
    srv = LoopbackServer()
    request.addfinalizer(srv.stop)
    return srv


@pytest.fixture
def waits(monkeypatch):
    """Record back-off waits instead of sleeping, so retry tests take milliseconds."""
    recorded: list[float] = []
    monkeypatch.setattr(download, "_sleep", recorded.append)
    return recorded


def raw_for(server, path, data=PAYLOAD, **kw):
    return RawFile("test", Path(path).name, server.url(path), **kw)


def test_resume_after_cut_fetches_no_byte_twice(server, tmp_path, waits):
    server.add("/f.bin", PAYLOAD, script=[{"cut_after": 50_000}, {"cut_after": 70_000}])
    raw = raw_for(server, "/f.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest())
    out = fetch(raw, tmp_path / "f.bin")
    assert out.read_bytes() == PAYLOAD
    served = server.requests_for("/f.bin")
    assert [r.status for r in served] == [200, 206, 206]
    assert [r.range for r in served] == [None, "bytes=50000-", "bytes=120000-"]
    assert server.served_bytes("/f.bin") == len(PAYLOAD)
    assert waits == []  # cuts that made progress are resumed at once
    assert not (tmp_path / "f.bin.part").exists()


def test_server_ignoring_range_restarts_cleanly(server, tmp_path, waits):
    server.add("/f.bin", PAYLOAD, script=[{"cut_after": 10_000}, {"ignore_range": True}])
    raw = raw_for(server, "/f.bin", md5=hashlib.md5(PAYLOAD).hexdigest())
    assert fetch(raw, tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert [r.status for r in server.requests_for("/f.bin")] == [200, 200]


def test_server_that_ignores_range_and_always_cuts_is_bounded(server, tmp_path, waits):
    server.add("/f.bin", PAYLOAD, honour_range=False, script=[{"cut_after": 1000}] * 50)
    with pytest.raises(InputError, match="giving up"):
        fetch(raw_for(server, "/f.bin"), tmp_path / "f.bin", retries=3)
    assert len(server.requests) == 5  # one that made progress, then 1 + 3 retries
    assert not (tmp_path / "f.bin").exists()


def test_stale_part_from_earlier_run_is_resumed(server, tmp_path):
    server.add("/f.bin", PAYLOAD)
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:1234])
    raw = raw_for(server, "/f.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest())
    assert fetch(raw, tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert server.served_bytes("/f.bin") == len(PAYLOAD) - 1234


def test_stale_part_of_another_version_is_redone(server, tmp_path):
    server.add("/f.bin", PAYLOAD)
    (tmp_path / "f.bin.part").write_bytes(b"x" * 1234)  # junk from an older file
    raw = raw_for(server, "/f.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest())
    assert fetch(raw, tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    server.add("/f.bin", PAYLOAD)
    raw = raw_for(server, "/f.bin", sha256="0" * 64)
    with pytest.raises(InputError) as err:
        fetch(raw, tmp_path / "f.bin")
    msg = str(err.value)
    assert "f.bin" in msg and "0" * 64 in msg and hashlib.sha256(PAYLOAD).hexdigest() in msg
    assert list(tmp_path.iterdir()) == []


def test_size_mismatch_is_an_error(server, tmp_path):
    server.add("/f.bin", PAYLOAD)
    with pytest.raises(InputError, match="expected 10 bytes"):
        fetch(raw_for(server, "/f.bin", size=10), tmp_path / "f.bin")
    assert list(tmp_path.iterdir()) == []


def test_redirect_is_followed(server, tmp_path):
    server.add("/new/f.bin", PAYLOAD)
    server.add("/old/f.bin", redirect_to=server.url("/new/f.bin"))
    out = fetch(raw_for(server, "/old/f.bin"), tmp_path / "f.bin")
    assert out.read_bytes() == PAYLOAD
    assert [r.status for r in server.requests] == [302, 200]


def test_redirect_to_plain_http_elsewhere_is_refused(server, tmp_path):
    server.add("/old/f.bin", redirect_to="http://example.invalid/f.bin")
    with pytest.raises(InputError, match="https"):
        fetch(raw_for(server, "/old/f.bin"), tmp_path / "f.bin")
    assert not (tmp_path / "f.bin").exists()


def test_429_retry_after_is_honoured(server, tmp_path, waits):
    server.add("/f.bin", PAYLOAD, script=[{"status": 429, "headers": {"Retry-After": "1"}}])
    assert fetch(raw_for(server, "/f.bin"), tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert waits == [1.0]
    assert [r.status for r in server.requests] == [429, 200]


def test_5xx_backs_off_exponentially_and_gives_up(server, tmp_path, waits):
    server.add("/f.bin", PAYLOAD, status=503)
    with pytest.raises(InputError, match=r"giving up.*3 failed attempts.*503"):
        fetch(raw_for(server, "/f.bin"), tmp_path / "f.bin", retries=2, backoff=0.5)
    assert waits == [0.5, 1.0]
    assert len(server.requests) == 3
    assert not (tmp_path / "f.bin").exists()


def test_5xx_then_success(server, tmp_path, waits):
    server.add("/f.bin", PAYLOAD, script=[{"status": 500}, {"status": 502}])
    assert fetch(raw_for(server, "/f.bin"), tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert waits == [1.0, 2.0]


def test_404_names_the_url_without_retrying(server, tmp_path, waits):
    url = server.url("/missing.bin")
    with pytest.raises(InputError, match="404") as err:
        fetch(RawFile("test", "missing.bin", url), tmp_path / "missing.bin")
    assert url in str(err.value)
    assert waits == [] and len(server.requests) == 1


def test_403_is_immediate(server, tmp_path, waits):
    server.add("/f.bin", PAYLOAD, status=403)
    with pytest.raises(InputError, match="403"):
        fetch(raw_for(server, "/f.bin"), tmp_path / "f.bin")
    assert waits == []


@pytest.mark.parametrize("url", ["http://example.invalid/f.bin", "ftp://example.invalid/f.bin"])
def test_non_https_canonical_urls_are_refused(tmp_path, url):
    with pytest.raises(InputError, match="https"):
        fetch(RawFile("x", "f.bin", url), tmp_path / "f.bin")


def test_progress_bar_reports_the_file(server, tmp_path, capsys):
    server.add("/f.bin", PAYLOAD)
    fetch(raw_for(server, "/f.bin"), tmp_path / "f.bin", progress=True)
    assert "f.bin" in capsys.readouterr().err


def test_existing_verified_file_is_kept(server, tmp_path):
    (tmp_path / "f.bin").write_bytes(PAYLOAD)
    raw = raw_for(server, "/f.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest())
    fetch(raw, tmp_path / "f.bin")
    assert server.requests == []


def test_folder_mirror_hit_and_miss(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "src").mkdir(parents=True)
    (mirror / "src" / "a.bin").write_bytes(PAYLOAD)
    raw = RawFile(
        "src",
        "a.bin",
        "https://example.invalid/a.bin",
        sha256=file_sha256(mirror / "src" / "a.bin"),
    )
    out = fetch(raw, tmp_path / "raw" / "src" / "a.bin", mirror=str(mirror))
    assert out.read_bytes() == PAYLOAD
    missing = RawFile("src", "b.bin", "https://example.invalid/b.bin")
    with pytest.raises(InputError) as err:
        fetch(missing, tmp_path / "raw" / "src" / "b.bin", mirror=str(mirror))
    assert "b.bin" in str(err.value) and str(mirror / "src" / "b.bin") in str(err.value)
    assert not (tmp_path / "raw" / "src" / "b.bin").exists()


def test_mirror_precedence(monkeypatch):
    monkeypatch.setenv("SPECTRALFM_MIRROR", "/env/mirror")
    assert resolve_mirror("/config/mirror") == "/config/mirror"
    assert resolve_mirror(None) == "/env/mirror"
    assert resolve_mirror("") == "/env/mirror"
    monkeypatch.delenv("SPECTRALFM_MIRROR")
    assert resolve_mirror(None) is None


def test_source_url():
    raw = RawFile("eigenvector", "corn.mat_.zip", "https://eigenvector.com/x/corn.mat_.zip")
    assert source_url(raw, None) == raw.url
    assert source_url(raw, "http://10.0.0.5/m/") == "http://10.0.0.5/m/eigenvector/corn.mat_.zip"
    assert source_url(raw, "/data/m") == "/data/m/eigenvector/corn.mat_.zip"


def test_verify_names_file_and_digests(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc")
    verify(f, sha256=hashlib.sha256(b"abc").hexdigest(), md5=hashlib.md5(b"abc").hexdigest())
    with pytest.raises(InputError, match=r"a\.bin: md5 mismatch: expected 00+, got 9001"):
        verify(f, md5="0" * 32)


def _zip_with(tmp_path, names):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(zipfile.ZipInfo(name), b"payload")
    return path


@pytest.mark.parametrize("bad", ["../evil", "/abs/path", "ok/../../evil", "..\\evil"])
def test_safe_extract_rejects_escapes(tmp_path, bad):
    archive = _zip_with(tmp_path, ["good.txt", bad])
    dest = tmp_path / "out"
    with pytest.raises(InputError) as err:
        safe_extract(archive, dest)
    assert repr(bad) in str(err.value) and "evil.zip" in str(err.value)
    assert not any(p.is_file() for p in dest.rglob("*"))  # checked before anything is written
    assert not (tmp_path / "evil").exists()


def test_safe_extract_tar_rejects_links_and_escapes(tmp_path):
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    with pytest.raises(InputError, match="link"):
        safe_extract(path, tmp_path / "out")
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("../evil")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(InputError, match="evil"):
        safe_extract(path, tmp_path / "out")
    assert not (tmp_path / "evil").exists()


def test_safe_extract_selected_members(tmp_path):
    archive = _zip_with(tmp_path, ["a/b.txt", "c.txt"])
    assert safe_extract(archive, tmp_path / "out", ["a/b.txt"]) == [
        (tmp_path / "out" / "a" / "b.txt").resolve()
    ]
    with pytest.raises(InputError, match="nope"):
        safe_extract(archive, tmp_path / "out", ["nope"])
    assert not list((tmp_path / "out").glob("**/.*.part"))


def test_real_corn_zip_via_folder_mirror(shared_data, tmp_path):
    raw = RawFile(
        "eigenvector",
        "corn.mat_.zip",
        "https://example.invalid/corn.mat_.zip",
        sha256=CORN_ZIP_SHA256,
    )
    out = fetch(
        raw, tmp_path / "raw" / "eigenvector" / "corn.mat_.zip", mirror=str(shared_data / "mirror")
    )
    [mat] = safe_extract(out, tmp_path / "x", ["corn.mat"])
    assert file_sha256(mat) == CORN_MAT_SHA256


def test_real_corn_zip_via_loopback_http_mirror(shared_data, server, tmp_path, monkeypatch):
    server.add_folder(shared_data / "mirror" / "eigenvector", prefix="/m/eigenvector")
    route = server.routes["/m/eigenvector/corn.mat_.zip"]
    route.script = [{"cut_after": 300_000}]
    monkeypatch.setenv("SPECTRALFM_MIRROR", server.url("/m"))
    raw = RawFile(
        "eigenvector",
        "corn.mat_.zip",
        "https://example.invalid/corn.mat_.zip",
        sha256=CORN_ZIP_SHA256,
    )
    out = fetch(raw, tmp_path / "corn.mat_.zip", mirror=resolve_mirror(None))
    assert file_sha256(out) == CORN_ZIP_SHA256
    assert server.served_bytes("/m/eigenvector/corn.mat_.zip") == os.path.getsize(out)
    [mat] = safe_extract(out, tmp_path / "x")
    assert file_sha256(mat) == CORN_MAT_SHA256


def test_zenodo_md5_is_looked_up_and_verified(server, tmp_path):
    body = b"parquet bytes" * 1000
    md5 = hashlib.md5(body).hexdigest()
    server.add("/records/42/files/IR_data.parquet", body)
    server.add(
        "/api/records/42",
        json.dumps(
            {
                "files": [
                    {"key": "other.parquet", "checksum": "md5:" + "0" * 32},
                    {"key": "IR_data.parquet", "checksum": f"md5:{md5}"},
                ]
            }
        ).encode(),
    )
    raw = RawFile("uspto", "IR_data.parquet", server.url("/records/42/files/IR_data.parquet"))
    assert with_published_md5(raw).md5 == md5
    assert fetch(raw, tmp_path / "IR_data.parquet").read_bytes() == body
    assert server.requests_for("/api/records/42")


def test_zenodo_md5_mismatch_leaves_no_file(server, tmp_path):
    server.add("/records/7/files/x.parquet", b"tampered")
    server.add(
        "/api/records/7",
        json.dumps({"files": [{"key": "x.parquet", "checksum": "md5:" + "1" * 32}]}).encode(),
    )
    raw = RawFile("uspto", "x.parquet", server.url("/records/7/files/x.parquet"))
    with pytest.raises(InputError, match="md5"):
        fetch(raw, tmp_path / "x.parquet")
    assert not list(tmp_path.iterdir())


def test_zenodo_api_down_downloads_unverified(server, tmp_path):
    server.add("/records/9/files/y.parquet", b"data")
    server.add("/api/records/9", b"", status=404)
    raw = RawFile("uspto", "y.parquet", server.url("/records/9/files/y.parquet"))
    assert with_published_md5(raw, timeout=5) is raw
    assert fetch(raw, tmp_path / "y.parquet").read_bytes() == b"data"
