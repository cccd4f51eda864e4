"""RealSR v1 from an archive the user fetched (``download RealSR --archive FILE_OR_URL --sha256 HEX``): the sum
is checked, the layout is checked before anything is placed, a wrapped or a bare archive both install, a rerun
does nothing. Every archive here is made by the test; the URL case uses a loopback server (nothing downloads)."""
from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from companion.cli import main
from companion.data import download, folders
from companion.data.download import REALSR_CAMERAS, REALSR_SCALES, REALSR_SPLITS, check_realsr_layout, install_archive
from companion.errors import CompanionError


def png_bytes(h: int, w: int, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def realsr_members(top: str = "RealSR(V1)/", *, drop: str | None = None, shrink: str | None = None) -> dict:
    """{archive path: bytes} of a tiny RealSR v1: one scene per camera, split and scale (two for Canon/Test/4);
    ``drop`` leaves that member out, ``shrink`` makes it smaller than its HR image."""
    members = {}
    for camera in REALSR_CAMERAS:
        for split in REALSR_SPLITS:
            for scale in REALSR_SCALES:
                scenes = (3, 5) if (camera, split, scale) == ("Canon", "Test", 4) else (1,)
                for k in scenes:
                    stem = f"{top}{camera}/{split}/{scale}/{camera}_{k:03d}"
                    members[f"{stem}_HR.png"] = png_bytes(12, 16, len(members))
                    members[f"{stem}_LR{scale}.png"] = png_bytes(12, 16, len(members))
    if drop:
        del members[drop]
    if shrink:
        members[shrink] = png_bytes(8, 8, 99)
    return members


def tar_gz(members: dict) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def zip_bytes(members: dict) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def archive(tmp_path):
    data = tar_gz(realsr_members())
    path = tmp_path / "RealSR_V1.tar.gz"
    path.write_bytes(data)
    return path, sha(data)


def test_the_catalogue_says_how_to_get_realsr():
    spec = folders.dataset_spec("realsr")
    assert spec.name == "RealSR" and spec.folder == "RealSR" and spec.files == ()
    assert "--archive" in spec.manual and "--sha256" in spec.manual and "csjcai/RealSR" in spec.manual
    assert all(path.startswith("RealSR/") for path in spec.layout)


def test_a_wrapped_local_archive_installs_and_a_rerun_does_nothing(archive, tmp_path, monkeypatch):
    path, digest = archive
    root = tmp_path / "data"
    folder = install_archive("RealSR", path, sha256=digest.upper(), root=root, progress=False)
    assert folder == root / "RealSR"
    assert (folder / "Canon" / "Test" / "4" / "Canon_005_LR4.png").is_file()
    assert not (folder / "RealSR(V1)").exists()                      # the wrapping folder is gone
    counts = check_realsr_layout(folder)
    assert counts["Canon/Test/4"] == 2 and counts["Nikon/Train/2"] == 1 and len(counts) == 12
    assert [p.name for p in (root / "downloads").iterdir()] == ["RealSR.installed"]  # no staging left
    monkeypatch.setattr(download, "extract_archive", lambda *a: pytest.fail("extracted again"))
    assert install_archive("RealSR", path, sha256=digest, root=root, progress=False) == folder
    (folder / "Nikon" / "Test" / "3" / "Nikon_001_HR.png").unlink()   # a damaged copy is installed again
    monkeypatch.undo()
    install_archive("RealSR", path, sha256=digest, root=root, progress=False)
    assert (folder / "Nikon" / "Test" / "3" / "Nikon_001_HR.png").is_file()


def test_a_bare_zip_installs_too(tmp_path):
    data = zip_bytes(realsr_members(top=""))
    (tmp_path / "v1.zip").write_bytes(data)
    folder = install_archive("RealSR", tmp_path / "v1.zip", sha256=sha(data), root=tmp_path / "d", progress=False)
    assert check_realsr_layout(folder)["Canon/Test/4"] == 2


@pytest.mark.parametrize("members, message", [
    (realsr_members(drop="RealSR(V1)/Nikon/Test/3/Nikon_001_LR3.png"), r"Nikon_001_HR\.png has no Nikon_001_LR3\.png"),
    (realsr_members(drop="RealSR(V1)/Canon/Train/2/Canon_001_HR.png"), r"no Canon/Train/2/\*_HR\.png"),
    (realsr_members(shrink="RealSR(V1)/Canon/Test/4/Canon_003_LR4.png"), r"Canon_003_LR4\.png is 8x8 .* 16x12"),
    ({"photos/a.png": png_bytes(4, 4, 0)}, r"no folder with Canon/, Nikon/"),
])
def test_a_wrong_layout_places_nothing(tmp_path, members, message):
    data = tar_gz(members)
    (tmp_path / "a.tar.gz").write_bytes(data)
    root = tmp_path / "data"
    with pytest.raises(CompanionError, match=message):
        install_archive("RealSR", tmp_path / "a.tar.gz", sha256=sha(data), root=root, progress=False)
    assert not (root / "RealSR").exists()
    assert list((root / "downloads").iterdir()) == []               # the staging folder is removed


def test_the_sum_is_required_and_checked(archive, tmp_path):
    path, digest = archive
    root = tmp_path / "data"
    with pytest.raises(CompanionError, match="--sha256"):
        install_archive("RealSR", path, sha256=None, root=root, progress=False)
    with pytest.raises(CompanionError, match=f"expected SHA-256 {'0' * 64}, got {digest}"):
        install_archive("RealSR", path, sha256="0" * 64, root=root, progress=False)
    with pytest.raises(CompanionError, match="does not exist"):
        install_archive("RealSR", tmp_path / "nothing.tar.gz", sha256=digest, root=root, progress=False)
    with pytest.raises(CompanionError, match="not installed from an archive"):
        install_archive("DIV2K", path, sha256=digest, root=root, progress=False)
    assert not (root / "RealSR").exists()


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    files = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            data = files.get(self.path.split("?", 1)[0])
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Length", str(len(data or b"")))
            self.end_headers()
            self.wfile.write(data or b"")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield files, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_url_is_fetched_into_downloads_and_verified(server, tmp_path):
    files, base = server
    data = tar_gz(realsr_members())
    files["/share/RealSR%20V1.tar.gz"] = data
    root = tmp_path / "data"
    with pytest.raises(CompanionError, match="checksum mismatch"):
        install_archive("RealSR", f"{base}/share/RealSR%20V1.tar.gz?x=1", sha256="1" * 64, root=root, progress=False)
    assert not (root / "RealSR").exists()
    folder = install_archive("RealSR", f"{base}/share/RealSR%20V1.tar.gz?x=1", sha256=sha(data), root=root,
                             progress=False)
    assert (root / "downloads" / "RealSR_V1.tar.gz").read_bytes() == data
    assert check_realsr_layout(folder)["Nikon/Test/4"] == 1


def test_the_download_command(archive, tmp_path, capsys):
    path, digest = archive
    root = tmp_path / "data"
    assert main(["download", "RealSR", "--data", str(root)]) == 2
    err = capsys.readouterr().err
    assert "--archive" in err and len(err.strip().splitlines()) == 1
    assert main(["download", "RealSR", "--data", str(root), "--archive", str(path), "--sha256", "0" * 64]) == 2
    assert "checksum mismatch" in capsys.readouterr().err and not (root / "RealSR").exists()
    assert main(["download", "RealSR", "--data", str(root), "--archive", str(path), "--sha256", digest]) == 0
    assert f"RealSR: ready in {root / 'RealSR'}" in capsys.readouterr().out
    assert main(["download", "carn", "--data", str(root), "--archive", str(path)]) == 2
    assert "--archive applies to datasets" in capsys.readouterr().err
    assert main(["download", "--help"]) == 0
    assert "--archive" in capsys.readouterr().out
