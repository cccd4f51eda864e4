"""The command line: one-line errors that name the fix, exit status 2, nothing half-written."""
from __future__ import annotations

import subprocess
import sys

import pytest

from companion.cli import main


def _cli(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "companion", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("args, message", [
    (["run", "no_such_notebook"], "error: unknown notebook 'no_such_notebook'; choose from: 00_quickstart"),
    (["run", "--profile", "medium"], "error: unknown profile 'medium'; choose one of smoke, quick, full"),
    (["run", "--device", "tpu"], "error: unknown device 'tpu'; choose one of auto, cpu, cuda"),
])
def test_bad_run_arguments(args, message, tmp_path):
    code, out, err = _cli(*args, "--runs-dir", str(tmp_path / "runs"), "--figures-dir", str(tmp_path / "figs"))
    assert code == 2
    assert err.strip().splitlines() == [err.strip().splitlines()[0]] and err.startswith(message)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "figs").exists()


def test_cuda_requested_without_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code, _, err = _cli("run", "--device", "cuda", "--runs-dir", str(tmp_path / "runs"))
    assert code == 2 and "no CUDA GPU" in err and "--device auto" in err
    assert not (tmp_path / "runs").exists()


def test_ledger_command_writes_file(tmp_path, capsys):
    assert main(["ledger", "--results", str(tmp_path / "none"), "--out", str(tmp_path / "LEDGER.md")]) == 0
    assert (tmp_path / "LEDGER.md").exists()
    assert "ledger:" in capsys.readouterr().out


def test_list_command(capsys):
    assert main(["list"]) == 0
    assert "00_quickstart" in capsys.readouterr().out


def test_data_with_missing_source_folder(tmp_path):
    code, _, err = _cli("data", "shdd", "--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert code == 2 and err.startswith("error: ") and "nowhere" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_data_with_corrupt_image(tmp_path):
    import numpy as np

    from companion.data.images import save_image

    src = tmp_path / "refs"
    for name in ("a", "b"):
        save_image(src / f"{name}.png", np.full((320, 320, 3), 0.5, np.float32))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    code, _, err = _cli("data", "flickr-distortion", "--source", str(src), "--out", str(tmp_path / "out"))
    assert code == 2 and "broken.png" in err and len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "out").rglob("*.png")) if (tmp_path / "out").exists() else True


def test_download_unknown_dataset_and_missing_checksum(tmp_path):
    code, _, err = _cli("download", "ImageNet", "--data", str(tmp_path))
    assert code == 2 and "ImageNet" in err and "DIV2K" in err
    code, _, err = _cli("download", "Manga109", "--data", str(tmp_path))
    assert code == 2 and "manga109" in err.lower()


def test_train_command_trains_resumes_and_refuses_a_mismatched_checkpoint(tmp_path, capsys, one_thread):
    from PIL import Image

    from companion.ch7.shdd import build_shdd
    from tests.conftest import texture

    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        Image.fromarray(texture(176, 180, i)).save(src / f"im{i}.png")
    build_shdd(src, tmp_path / "out", levels=("moderate",), versions=1, progress=False)
    ckpt = tmp_path / "dncnn.pt"
    common = ["--data", str(tmp_path / "out"), "--checkpoint", str(ckpt), "--batch-size", "2",
              "--patch-size", "32", "--device", "cpu"]
    assert main(["train", "dncnn", "--size", "quick", "--steps", "2", *common]) == 0
    assert "2 steps" in capsys.readouterr().out and ckpt.exists()
    assert main(["train", "dncnn", "--size", "quick", "--steps", "3", *common]) == 0
    assert "3 steps" in capsys.readouterr().out  # resumed from step 2
    before = ckpt.read_bytes()
    assert main(["train", "dncnn", "--size", "paper", "--steps", "4", *common]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "depth" in err and "features" in err
    assert ckpt.read_bytes() == before  # nothing overwritten
