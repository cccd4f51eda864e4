"""Downloads against a loopback HTTP server, resume, checksums, hostile archives, and a whole dataset fetch."""
import hashlib
import io
import os
import stat
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from companion.data import download, folders
from companion.data.download import download_dataset, download_file, extract_archive
from companion.data.folders import DatasetSpec, RemoteFile
from companion.errors import CompanionError


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Server:
    """A loopback HTTP server serving in-memory files, with optional Range support and a request log."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None, int]] = []   # (path, Range header, status)
        self.honour_range = True
        self.cut_after: int | None = None                         # send only this many bytes, then hang up
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                data = state.files.get(self.path)
                asked = self.headers.get("Range")
                if data is None:
                    return self._reply(404, b"", asked)
                start = 0
                if asked and state.honour_range:
                    start = int(asked.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        return self._reply(416, b"", asked)
                    return self._reply(206, data[start:], asked, f"bytes {start}-{len(data) - 1}/{len(data)}")
                return self._reply(200, data, asked)

            def _reply(self, status, body, asked, content_range=None):
                state.requests.append((self.path, asked, status))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if content_range:
                    self.send_header("Content-Range", content_range)
                self.end_headers()
                if state.cut_after is not None:
                    body = body[:state.cut_after]
                    self.close_connection = True
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    srv = _Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


PAYLOAD = os.urandom(300_000)


def test_full_download_verifies_and_renames(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    dest = download_file(server.url("f.bin"), tmp_path / "f.bin", sha(PAYLOAD), progress=False, chunk=65536)
    assert dest.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
    download_file(server.url("f.bin"), dest, sha(PAYLOAD).upper(), progress=False)
    assert len(server.requests) == 1                     # a verified file is not fetched again


def test_checksum_mismatch_deletes_and_explains(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    wrong = "0" * 64
    with pytest.raises(CompanionError) as info:
        download_file(server.url("f.bin"), tmp_path / "f.bin", wrong, progress=False)
    message = str(info.value)
    assert wrong in message and sha(PAYLOAD) in message and "--sha256" in message
    assert list(tmp_path.iterdir()) == []


def test_a_sum_is_required(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    for bad in (None, "abc"):
        with pytest.raises(CompanionError, match="--sha256"):
            download_file(server.url("f.bin"), tmp_path / "f.bin", bad, progress=False)
    assert server.requests == [] and list(tmp_path.iterdir()) == []


def test_resume_sends_range_and_appends(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    half = len(PAYLOAD) // 2
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:half])
    dest = download_file(server.url("f.bin"), tmp_path / "f.bin", sha(PAYLOAD), progress=False)
    assert server.requests == [("/f.bin", f"bytes={half}-", 206)]
    assert dest.read_bytes() == PAYLOAD and not (tmp_path / "f.bin.part").exists()


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    server.honour_range = False
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:1000])
    dest = download_file(server.url("f.bin"), tmp_path / "f.bin", sha(PAYLOAD), progress=False)
    assert server.requests == [("/f.bin", "bytes=1000-", 200)]
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_answered_416_is_kept(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD)
    dest = download_file(server.url("f.bin"), tmp_path / "f.bin", sha(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD and [r[2] for r in server.requests] == [416]


def test_interrupted_download_resumes_on_the_next_run(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    server.cut_after = 100_000
    with pytest.raises(CompanionError, match="again"):
        download_file(server.url("f.bin"), tmp_path / "f.bin", sha(PAYLOAD), progress=False, chunk=4096)
    assert (tmp_path / "f.bin.part").stat().st_size == 100_000 and not (tmp_path / "f.bin").exists()
    server.cut_after = None
    dest = download_file(server.url("f.bin"), tmp_path / "f.bin", sha(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[-1] == ("/f.bin", "bytes=100000-", 206)


def test_http_error_is_one_line(server, tmp_path):
    with pytest.raises(CompanionError, match="HTTP 404"):
        download_file(server.url("missing.bin"), tmp_path / "m.bin", "0" * 64, progress=False)


# --- archives ----------------------------------------------------------------------------------------

def make_zip(path, entries):
    """entries: (name, data) for files, or ZipInfo objects with data."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def make_tar(path, entries, mode="w"):
    """entries: (TarInfo-settings dict, data)."""
    with tarfile.open(path, mode) as tf:
        for settings, data in entries:
            info = tarfile.TarInfo(settings.pop("name"))
            for key, value in settings.items():
                setattr(info, key, value)
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            tf.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return path


def _zip_link():
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


ZIP_ATTACKS = {
    "dotdot": ("../evil.txt", b"x"),
    "nested_dotdot": ("a/../../evil.txt", b"x"),
    "absolute": ("/abs.txt", b"x"),
    "backslash": ("..\\evil.txt", b"x"),
    "symlink": (_zip_link(), b"/etc/passwd"),
}

TAR_ATTACKS = {
    "dotdot": {"name": "../evil.txt"},
    "absolute": {"name": "/abs.txt"},
    "symlink": {"name": "link", "type": tarfile.SYMTYPE, "linkname": "/etc"},
    "inner_symlink": {"name": "link", "type": tarfile.SYMTYPE, "linkname": "good.txt"},
    "hardlink": {"name": "hard", "type": tarfile.LNKTYPE, "linkname": "/etc/passwd"},
    "fifo": {"name": "pipe", "type": tarfile.FIFOTYPE},
    "device": {"name": "dev", "type": tarfile.CHRTYPE},
}


def _assert_nothing_written(tmp_path, archive):
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [archive.name]


@pytest.mark.parametrize("attack", ZIP_ATTACKS)
def test_zip_attacks_are_refused_before_writing(tmp_path, attack):
    archive = make_zip(tmp_path / "a.zip", [("good.txt", b"fine"), ZIP_ATTACKS[attack]])
    with pytest.raises(CompanionError, match="a link" if "link" in attack else "refusing"):
        extract_archive(archive, tmp_path / "out" / "target")
    _assert_nothing_written(tmp_path, archive)


@pytest.mark.parametrize("attack", TAR_ATTACKS)
def test_tar_attacks_are_refused_before_writing(tmp_path, attack):
    archive = make_tar(tmp_path / "a.tar.gz", [({"name": "good.txt"}, b"fine"), (dict(TAR_ATTACKS[attack]), b"x")],
                       mode="w:gz")
    with pytest.raises(CompanionError, match="a link" if "link" in attack else "refusing"):
        extract_archive(archive, tmp_path / "out" / "target")
    _assert_nothing_written(tmp_path, archive)


def test_file_and_folder_with_one_name_is_refused(tmp_path):
    archive = make_zip(tmp_path / "a.zip", [("a", b"file"), ("a/b.txt", b"inside")])
    with pytest.raises(CompanionError, match="both a file and a folder"):
        extract_archive(archive, tmp_path / "out")
    _assert_nothing_written(tmp_path, archive)


def test_refused_archive_leaves_existing_target_untouched(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    archive = make_zip(tmp_path / "a.zip", [("keep.txt", b"theirs"), ("../evil.txt", b"x")])
    with pytest.raises(CompanionError):
        extract_archive(archive, target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"] and (target / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("kind", ["zip", "tar", "w:gz", "w:bz2", "w:xz"])
def test_good_archive_extracts(tmp_path, kind):
    files = {"top/a.txt": b"alpha", "top/sub/b.bin": os.urandom(5000), "./c.txt": b"gamma"}
    if kind == "zip":
        archive = make_zip(tmp_path / "g.zip", [("top/", b""), *files.items()])
    else:
        archive = make_tar(tmp_path / "g.tar", [({"name": "top", "type": tarfile.DIRTYPE}, b""),
                                                *(({"name": n}, d) for n, d in files.items())],
                           mode="w" if kind == "tar" else kind)
    target = tmp_path / "out"
    target.mkdir()
    (target / "other.txt").write_text("left alone")
    (target / "top").mkdir()
    (target / "top" / "a.txt").write_text("old")
    written = extract_archive(archive, target)
    assert sorted(p.relative_to(target).as_posix() for p in written) == ["c.txt", "top/a.txt", "top/sub/b.bin"]
    for name, data in files.items():
        assert (target / name).read_bytes() == data
    assert (target / "other.txt").read_text() == "left alone"
    assert not [p for p in target.iterdir() if p.name.startswith(".extract-")]


def test_corrupt_archives_are_refused(tmp_path):
    (tmp_path / "junk.zip").write_bytes(os.urandom(2000))
    with pytest.raises(CompanionError, match="download it again"):
        extract_archive(tmp_path / "junk.zip", tmp_path / "out")
    good = make_tar(tmp_path / "t.tar.gz", [({"name": "a.bin"}, os.urandom(100_000))], mode="w:gz")
    (tmp_path / "cut.tar.gz").write_bytes(good.read_bytes()[:50_000])
    with pytest.raises(CompanionError, match="download it again"):
        extract_archive(tmp_path / "cut.tar.gz", tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- whole datasets ----------------------------------------------------------------------------------

def _fake_zip_bytes():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("Fake/HR/one.png", b"1")
        zf.writestr("Fake/HR/two.png", b"2")
    return buffer.getvalue()


def _install(monkeypatch, server, sha256, **extra):
    data = _fake_zip_bytes()
    server.files["/fake.zip"] = data
    spec = DatasetSpec(name="Fake", description="fake", citation="none", homepage="http://127.0.0.1/",
                       folder="Fake", layout=("Fake/HR/one.png",), extract_to=".",
                       files=(RemoteFile(server.url("fake.zip"), "fake.zip", sha256, len(data)),), **extra)
    monkeypatch.setitem(folders.DATASETS, "Fake", spec)
    return data


def test_download_dataset_end_to_end(monkeypatch, server, tmp_path):
    data = _install(monkeypatch, server, sha(_fake_zip_bytes()))
    root = tmp_path / "root"
    folder = download_dataset("fake", root, progress=False)
    assert folder == root / "Fake"
    assert (folder / "HR" / "one.png").read_bytes() == b"1" and (folder / "HR" / "two.png").read_bytes() == b"2"
    assert (root / "downloads" / "fake.zip").read_bytes() == data
    assert folders.dataset_dir("Fake", root) == folder

    def no_extract(*args):
        raise AssertionError("re-extracted an archive that was already in place")
    monkeypatch.setattr(download, "extract_archive", no_extract)
    assert download_dataset("Fake", root, progress=False) == folder
    assert len(server.requests) == 1                     # neither fetched nor unpacked twice

    (folder / "HR" / "two.png").unlink()                 # a damaged copy is unpacked again
    monkeypatch.undo()
    _install(monkeypatch, server, sha(data))
    download_dataset("Fake", root, progress=False)
    assert (folder / "HR" / "two.png").read_bytes() == b"2"


def test_download_dataset_without_sum_needs_the_flag(monkeypatch, server, tmp_path):
    data = _install(monkeypatch, server, None)
    with pytest.raises(CompanionError, match="--sha256"):
        download_dataset("Fake", tmp_path, progress=False)
    assert server.requests == []
    assert download_dataset("Fake", tmp_path, sha256=sha(data), progress=False) == tmp_path / "Fake"


def test_download_dataset_parts_and_refusals(monkeypatch, server, tmp_path):
    _install(monkeypatch, server, sha(_fake_zip_bytes()), parts={"x2": ()})
    with pytest.raises(CompanionError, match="x2"):
        download_dataset("Fake", tmp_path, parts=["x9"], progress=False)
    with pytest.raises(CompanionError, match="manga109.org"):
        download_dataset("Manga109", tmp_path, progress=False)
    with pytest.raises(CompanionError, match="single file"):
        download_dataset("DIV2K", tmp_path, sha256="0" * 64, progress=False)
    assert server.requests == []


# --- verification by git blob id, released weights ---------------------------------------------------

def git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_git_blob_id_matches_git_hash_object(tmp_path):
    import shutil
    import subprocess

    path = tmp_path / "f.bin"
    for data in (b"", b"hello\n", PAYLOAD):
        path.write_bytes(data)
        assert download.file_git_blob(path, chunk=4096) == git_blob(data)
        if shutil.which("git"):
            out = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True,
                                 cwd=tmp_path, timeout=60)
            assert out.stdout.strip() == git_blob(data)
    assert git_blob(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"   # git's well-known empty blob


def test_git_blob_verification_accepts_a_match(server, tmp_path):
    server.files["/w.pt"] = PAYLOAD
    dest = download_file(server.url("w.pt"), tmp_path / "w.pt", None, git_blob=git_blob(PAYLOAD).upper(),
                         progress=False, chunk=65536)
    assert dest.read_bytes() == PAYLOAD and sorted(p.name for p in tmp_path.iterdir()) == ["w.pt"]
    download_file(server.url("w.pt"), dest, None, git_blob=git_blob(PAYLOAD), progress=False)
    assert len(server.requests) == 1                     # a verified file is not fetched again
    both = download_file(server.url("w.pt"), tmp_path / "both.pt", sha(PAYLOAD), git_blob=git_blob(PAYLOAD),
                         progress=False)
    assert both.read_bytes() == PAYLOAD


def test_git_blob_verification_resumes(server, tmp_path):
    server.files["/w.pt"] = PAYLOAD
    (tmp_path / "w.pt.part").write_bytes(PAYLOAD[:1234])
    dest = download_file(server.url("w.pt"), tmp_path / "w.pt", None, git_blob=git_blob(PAYLOAD), progress=False)
    assert server.requests == [("/w.pt", "bytes=1234-", 206)] and dest.read_bytes() == PAYLOAD


def test_git_blob_mismatch_deletes_and_explains(server, tmp_path):
    server.files["/w.pt"] = PAYLOAD
    wrong = git_blob(PAYLOAD[:-1])
    with pytest.raises(CompanionError) as info:
        download_file(server.url("w.pt"), tmp_path / "w.pt", None, git_blob=wrong, progress=False)
    message = str(info.value)
    assert "\n" not in message and wrong in message and git_blob(PAYLOAD) in message and "deleted" in message
    assert list(tmp_path.iterdir()) == []                # no partial file, no .part
    with pytest.raises(CompanionError, match="40 hex digits"):
        download_file(server.url("w.pt"), tmp_path / "w.pt", None, git_blob="abc", progress=False)
    with pytest.raises(CompanionError, match="checksum mismatch"):   # both given: both must hold
        download_file(server.url("w.pt"), tmp_path / "w.pt", "0" * 64, git_blob=git_blob(PAYLOAD), progress=False)
    assert list(tmp_path.iterdir()) == []


def _official_fake(monkeypatch, server, tmp_path):
    """The catalogue's mepsnet-official entry, pointed at a small reference-layout checkpoint served locally."""
    import torch

    from tests.test_authors_weights import SMALL, randomised, reference_layout

    model = randomised(SMALL, seed=7)
    torch.save(reference_layout(model), tmp_path / "1950.pt")
    data = (tmp_path / "1950.pt").read_bytes()
    (tmp_path / "1950.pt").unlink()
    server.files["/sijinkim/MEPSNet_dev/raw/HEAD/mepsnet/pt/1950.pt"] = data
    real = folders.WEIGHTS["mepsnet-official"]
    monkeypatch.setitem(folders.WEIGHTS, "mepsnet-official", folders.WeightsSpec(
        name=real.name, description=real.description, source=real.source,
        url=server.url("sijinkim/MEPSNet_dev/raw/HEAD/mepsnet/pt/1950.pt"), filename=real.filename,
        git_blob=git_blob(data), converted=real.converted))
    return model, data


def test_official_catalogue_entry():
    spec = folders.weights_spec("MEPSNet-Official")
    assert spec.git_blob == "d1dfe732951e8ddc6df72bf177dfe07bc7545935"
    assert spec.url == "https://github.com/sijinkim/MEPSNet_dev/raw/HEAD/mepsnet/pt/1950.pt"
    assert str(folders.weights_path("mepsnet-official", "/x")) == "/x/weights/mepsnet-official.safetensors"
    with pytest.raises(CompanionError, match="mepsnet-official"):
        folders.weights_spec("mepsnet-unofficial")


def test_download_weights_converts_once_to_safetensors(monkeypatch, server, tmp_path):
    import torch

    from companion.ch7 import authors_weights

    model, data = _official_fake(monkeypatch, server, tmp_path)
    root = tmp_path / "root"
    path = download.download_weights("mepsnet-official", root, convert=authors_weights.convert_official_file,
                                     progress=False)
    assert path == authors_weights.official_weights_path(root) == root / "weights" / "mepsnet-official.safetensors"
    assert (root / "weights" / "mepsnet-official.pt").read_bytes() == data
    assert sorted(p.name for p in path.parent.iterdir()) == ["mepsnet-official.pt", "mepsnet-official.safetensors",
                                                             "mepsnet-official.safetensors.source"]
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("a later load read the pickle"))
    loaded = authors_weights.load_official_mepsnet(root)
    x = torch.rand(1, 3, 9, 11, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=1e-5, atol=1e-6)

    def no_convert(*args):
        raise AssertionError("converted twice")
    assert download.download_weights("mepsnet-official", root, convert=no_convert, progress=False) == path
    assert len(server.requests) == 1                     # neither fetched nor converted again


def test_download_command_fetches_and_converts_the_official_weights(monkeypatch, server, tmp_path, capsys):
    from companion.cli import main

    _official_fake(monkeypatch, server, tmp_path)
    assert main(["download", "mepsnet-official", "--data", str(tmp_path / "root")]) == 0
    out = capsys.readouterr().out
    assert "mepsnet-official: ready in" in out and out.strip().endswith("mepsnet-official.safetensors")
    assert main(["download", "mepsnet-official", "--data", str(tmp_path / "root"), "--part", "x2"]) == 2
    assert main(["download", "ImageNet", "--data", str(tmp_path / "root")]) == 2
    err = capsys.readouterr().err
    assert "--part applies to datasets" in err and "unknown dataset or weights 'ImageNet'" in err
    assert "DIV2K" in err and "mepsnet-official" in err
