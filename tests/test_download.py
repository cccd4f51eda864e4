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
