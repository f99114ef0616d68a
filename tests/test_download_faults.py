"""Damaged archives: a corrupt or truncated zip/tar never lands as a raw file, and says why.

The corn zip of the shared mirror is copied into a tmp mirror (folder, or served over loopback
HTTP) and damaged there: bytes flipped in the middle (bad CRC) or cut to its first half
(truncated). Fetch must refuse it, leave nothing at the destination, name the damage and the
source; after the mirror file is replaced by the good copy, the same fetch succeeds and the
manifest names the mirror source.
"""

import io
import json
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
from http_fixtures import LoopbackServer

from spectralfm import download
from spectralfm.download import (
    RawFile,
    check_archive,
    fetch,
    fetch_and_record,
    file_sha256,
    safe_extract,
)
from spectralfm.errors import InputError

CORN_ZIP_SHA256 = "869a1e950a39631187da97d2500d6c97b24157474768d0be6ba2093fb6b201f4"
CORN_MAT_SHA256 = "e28fd4be274a54ca57b1f2c67ef5a8bf4981f8314bcc73e4c64836fe658c46b5"
# As in the catalog: no zip checksum (mirrors hold rebuilt zips), so only the archive test can
# tell a damaged download from a good one.
CORN = RawFile("eigenvector", "corn.mat_.zip", "https://example.invalid/corn.mat_.zip")


def flipped(data: bytes, at: int, n: int = 16) -> bytes:
    return data[:at] + bytes(b ^ 0xFF for b in data[at : at + n]) + data[at + n :]


DAMAGE = {
    # (how to damage the good bytes, words the error must contain)
    "corrupt": (lambda d: flipped(d, len(d) // 2), "corrupt: bad CRC in member 'corn.mat'"),
    "truncated": (lambda d: d[: len(d) // 2], "truncated: not a zip archive"),
}


@pytest.fixture
def good_corn(shared_data) -> bytes:
    return (shared_data / "mirror" / "eigenvector" / "corn.mat_.zip").read_bytes()


@pytest.fixture
def server(request):
    srv = LoopbackServer()
    request.addfinalizer(srv.stop)
    return srv


def _mirror(tmp_path, data: bytes) -> tuple[Path, Path]:
    root = tmp_path / "mirror"
    (root / "eigenvector").mkdir(parents=True)
    file = root / "eigenvector" / "corn.mat_.zip"
    file.write_bytes(data)
    return root, file


@pytest.mark.parametrize("kind", ["folder", "http"])
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_mirror_zip_is_refused_then_fixed_mirror_just_works(
    good_corn, tmp_path, server, kind, damage
):
    spoil, words = DAMAGE[damage]
    root, mirror_file = _mirror(tmp_path, spoil(good_corn))
    if kind == "folder":
        mirror, location, via = str(root), str(mirror_file), "mirror folder"
    else:
        server.add_folder(root, prefix="/m")  # serves the file as it is at request time
        mirror = server.url("/m")
        location, via = server.url("/m/eigenvector/corn.mat_.zip"), "mirror URL"
    dest = tmp_path / "resources" / "raw" / "eigenvector" / "corn.mat_.zip"
    manifest = tmp_path / "resources" / "manifests" / "eigenvector" / "corn.mat_.zip.json"

    with pytest.raises(InputError) as err:
        fetch_and_record(CORN, dest, manifest, mirror, retries=0)
    message = str(err.value)
    assert words in message
    assert f"from the {via} {location}:" in message
    assert "Replace that file" in message
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()
    assert list(dest.parent.iterdir()) == []
    assert not manifest.exists()

    shutil.copyfile(_good(good_corn, tmp_path), mirror_file)  # the mirror is fixed
    record = fetch_and_record(CORN, dest, manifest, mirror, retries=0)
    assert file_sha256(dest) == CORN_ZIP_SHA256
    assert json.loads(manifest.read_text()) == record
    assert record["url"] == CORN.url  # the canonical URL, as before
    assert record["fetched_via"] == via and record["fetched_from"] == location
    assert record["sha256"] == CORN_ZIP_SHA256 and record["size"] == len(good_corn)
    assert record["archive"] == {"format": "zip", "members": 1}
    [mat] = safe_extract(dest, tmp_path / "x", ["corn.mat"])
    assert file_sha256(mat) == CORN_MAT_SHA256


def _good(data: bytes, tmp_path: Path) -> Path:
    good = tmp_path / "good.zip"
    good.write_bytes(data)
    return good


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_zip_from_the_canonical_url(good_corn, tmp_path, server, damage):
    spoil, words = DAMAGE[damage]
    server.add("/corn.mat_.zip", spoil(good_corn))
    raw = RawFile("eigenvector", "corn.mat_.zip", server.url("/corn.mat_.zip"))
    dest = tmp_path / "corn.mat_.zip"
    with pytest.raises(InputError) as err:
        fetch(raw, dest, retries=0)
    assert words in str(err.value)
    assert f"from the canonical URL {raw.url}:" in str(err.value)
    assert "rerun later, or use a mirror" in str(err.value)
    assert list(tmp_path.iterdir()) == []

    server.add("/corn.mat_.zip", good_corn)
    record = fetch_and_record(raw, dest, tmp_path / "m.json", retries=0)
    assert record["fetched_via"] == "canonical URL" and record["fetched_from"] == raw.url


def test_existing_verified_file_keeps_the_recorded_source(good_corn, tmp_path):
    root, mirror_file = _mirror(tmp_path, good_corn)
    raw = RawFile("eigenvector", "corn.mat_.zip", CORN.url, sha256=CORN_ZIP_SHA256)
    dest, manifest = tmp_path / "raw" / "corn.mat_.zip", tmp_path / "corn.json"
    first = fetch_and_record(raw, dest, manifest, str(root))
    again = fetch_and_record(raw, dest, manifest, str(root))  # kept as is, nothing copied
    assert again["fetched_via"] == first["fetched_via"] == "mirror folder"
    assert again["fetched_from"] == str(mirror_file)
    manifest.unlink()
    third = fetch_and_record(raw, dest, manifest, str(root))
    assert third["fetched_via"] == "existing file" and third["fetched_from"] == str(dest)


def test_stale_part_spliced_into_a_damaged_zip_gets_one_clean_retry(good_corn, tmp_path, server):
    server.add("/m/eigenvector/corn.mat_.zip", good_corn)
    dest = tmp_path / "corn.mat_.zip"
    # An earlier run left the start of another version: resumed, it makes a zip with a bad CRC.
    dest.with_name(dest.name + ".part").write_bytes(flipped(good_corn[:400_000], 200_000))
    fetch(CORN, dest, server.url("/m"), retries=0)
    assert file_sha256(dest) == CORN_ZIP_SHA256
    assert [r.range for r in server.requests] == ["bytes=400000-", None]


def test_mirror_url_credentials_are_not_recorded():
    assert download._redact("http://me:secret@10.0.0.5:8080/m/a.zip") == (
        "http://***@10.0.0.5:8080/m/a.zip"
    )
    assert download._redact("/data/mirror/a.zip") == "/data/mirror/a.zip"


def test_non_archives_are_not_tested(tmp_path):
    root = tmp_path / "mirror"
    (root / "chembl").mkdir(parents=True)
    (root / "chembl" / "part1.db").write_bytes(b"PK not really a zip")
    raw = RawFile("chembl", "part1.db", "https://example.invalid/part1.db")
    assert fetch(raw, tmp_path / "part1.db", str(root)).read_bytes() == b"PK not really a zip"


# --- an existing damaged raw archive at extraction ------------------------------------------


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_extracting_a_damaged_raw_zip_says_delete_it(good_corn, tmp_path, damage):
    spoil, words = DAMAGE[damage]
    archive = tmp_path / "raw" / "eigenvector" / "corn.mat_.zip"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(spoil(good_corn))
    out = tmp_path / "extracted"
    with pytest.raises(InputError) as err:
        safe_extract(archive, out, ["corn.mat"])
    message = str(err.value)
    assert message.startswith(f"{archive}: {words}")
    assert f"delete it (rm '{archive}')" in message
    assert archive.exists()  # never deleted here: it may be the user's own file
    assert not out.exists() or list(out.rglob("*")) == []


def test_damage_in_a_later_member_removes_the_earlier_ones(tmp_path):
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.txt", b"a" * 1000)
        zf.writestr("b.txt", b"b" * 1000)
        offset = zf.getinfo("b.txt").header_offset + 30 + len("b.txt") + 500
    archive.write_bytes(flipped(archive.read_bytes(), offset, 1))
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"corrupt: bad CRC in member 'b\.txt'"):
        safe_extract(archive, out)
    assert [p for p in out.rglob("*") if p.is_file()] == []


# --- check_archive on tar archives --------------------------------------------------------


def _tar(path: Path, mode: str = "w", n: int = 3, size: int = 100_000) -> bytes:
    with tarfile.open(path, mode) as tf:
        for k in range(n):
            info = tarfile.TarInfo(f"m{k}.bin")
            info.size = size
            tf.addfile(info, io.BytesIO(os.urandom(size)))
    return path.read_bytes()


def test_good_archives_pass(tmp_path, good_corn):
    assert check_archive(_good(good_corn, tmp_path)).members == 1
    for name, mode in [
        ("a.tar", "w"),
        ("a.tar.gz", "w:gz"),
        ("a.tgz", "w:gz"),
        ("a.tar.xz", "w:xz"),
    ]:
        _tar(tmp_path / name, mode)
        result = check_archive(tmp_path / name)
        assert (result.format, result.members) == ("tar", 3)


@pytest.mark.parametrize(
    "name, mode, spoil, words",
    [
        (
            "a.tar.gz",
            "w:gz",
            lambda d: d[: len(d) // 2],
            "truncated: the archive ends inside member",
        ),
        ("a.tar.gz", "w:gz", lambda d: d[:20], "truncated:"),
        ("a.tar.gz", "w:gz", lambda d: flipped(d, len(d) // 2), "corrupt:"),
        ("a.tar", "w", lambda d: d[: len(d) // 2], "truncated: the archive ends inside member"),
        ("a.tar", "w", lambda d: d[:300], "truncated: not a tar archive (300 bytes"),
        # cut right after the last member: no end-of-archive marker
        ("a.tar", "w", lambda d: d[: 3 * (512 + 100_000 + 352)], "truncated: no end-of-archive"),
        # the second member's header damaged: tarfile alone would stop there quietly
        ("a.tar", "w", lambda d: flipped(d, 512 + 100_000 + 352 + 10), "corrupt: invalid member"),
        ("a.tar", "w", lambda d: b"", "truncated: not a tar archive (the file is empty)"),
        ("a.tar", "w", lambda d: b"<!DOCTYPE html>" + b"x" * 600, "not a tar archive (it starts"),
    ],
)
def test_damaged_tars_are_named(tmp_path, name, mode, spoil, words):
    path = tmp_path / name
    path.write_bytes(spoil(_tar(path, mode)))
    with pytest.raises(InputError) as err:
        check_archive(path)
    assert str(err.value).startswith(f"{path}: ") and words in str(err.value)


def test_damaged_tar_from_a_folder_mirror_leaves_nothing(tmp_path):
    root = tmp_path / "mirror"
    (root / "src").mkdir(parents=True)
    data = _tar(root / "src" / "x.tar.gz", "w:gz")
    (root / "src" / "x.tar.gz").write_bytes(data[: len(data) // 2])
    raw = RawFile("src", "x.tar.gz", "https://example.invalid/x.tar.gz")
    dest = tmp_path / "raw" / "x.tar.gz"
    with pytest.raises(InputError, match="truncated: the archive ends inside member"):
        fetch(raw, dest, str(root))
    assert list(dest.parent.iterdir()) == []
    (root / "src" / "x.tar.gz").write_bytes(data)
    assert fetch(raw, dest, str(root)).read_bytes() == data


def test_html_page_named_zip_is_not_called_truncated(tmp_path):
    path = tmp_path / "a.zip"
    path.write_bytes(b"<!DOCTYPE html><html>rate limited</html>")
    with pytest.raises(InputError, match=r"not a zip archive \(it starts with b'<!DOCTYPE") as err:
        check_archive(path)
    assert "truncated" not in str(err.value)
