"""Shared fixtures: tiny notebooks for runner tests, and a repository-root path."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook

REPO = Path(__file__).resolve().parents[1]


def make_notebook(path: Path, cells: list[str], *, tag_first: bool = True) -> Path:
    """Write a notebook whose first cell is the tagged parameters cell (unless ``tag_first`` is False)."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for i, src in enumerate(cells):
        cell = new_code_cell(src)
        if i == 0 and tag_first:
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def texture(h: int, w: int, seed: int = 0, *, freq=(0.1, 0.5), amplitude: float = 0.3, uint8: bool = True):
    """A smooth, seeded colour texture (sums of sinusoids about 0.5): a stand-in photograph for tests."""
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((h, w, 3), np.float32)
    for c in range(3):
        fy, fx, p = rng.uniform(*freq, 3)
        out[..., c] = 0.5 + amplitude * np.sin(xx * fx + p) * np.cos(yy * fy)
    return (out * 255).round().astype(np.uint8) if uint8 else out


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def one_thread():
    """Run a test on one intra-op thread: tiny convs on a shared 2-core machine run far faster on one thread
    than on two (the two wait on each other when the cores are busy). Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class RecordingRun:
    """Stands in for a notebook run: keeps every ``record(key, value, **where)`` call in ``records``."""

    def __init__(self):
        self.records = []

    def record(self, key, value, **where):
        self.records.append((key, value, where))
        return value


def load_script(path: Path):
    """A script of the checkout (a pilot, a benchmark) imported as a module, so its functions can be tested."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rgb16_png(path, h: int = 4, w: int = 5):
    """A 16-bit RGB PNG written by hand (Pillow cannot write one, and would silently read it as 8-bit RGB)."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    pixels = np.random.default_rng(0).integers(0, 65536, (h, w, 3)).astype(">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def zoo(tmp_path, monkeypatch):
    """A temporary model zoo holding a current ch7/07b/mepsnet-seed0 (an untrained quick-size MEPSNet)."""
    import torch

    from companion.ch7.zoo import restore_entry
    from companion.models import build_model
    from companion.zoo import save_entry

    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "zoo"))
    entry = restore_entry("mepsnet")
    torch.manual_seed(3)
    model = build_model("mepsnet", **entry.config)
    save_entry(entry, model, {"steps": 1, "seconds": 0.1, "val_psnr": 20.0, "val": [], "loss_curve": []})
    return entry, model.eval()
