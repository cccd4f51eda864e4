"""Which model ``restore`` runs (issue 19, §3): the model of a checkpoint file, the default chosen on validation,
super-resolution with CARN / CARN-M on the fast CPU path, a checkpoint of another --size in one line, the tiling
from a memory budget, EXIF orientation and the conversion hint."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from companion.ch7.commands import DEFAULT_MODEL, GOOD_FOR
from companion.cli import main
from companion.data.images import ImageFileError, check_image_file, load_image
from companion.engine.checkpoint import save_checkpoint
from companion.engine.fast_inference import accelerate
from companion.engine.inference import auto_tiles, bytes_per_pixel, restore
from companion.models import build_model
from companion.zoo import zoo_dir
from tests.conftest import REPO, texture

pytestmark = pytest.mark.usefixtures("one_thread")
AUTHORS_CARN_M = REPO.parent / "shared" / "weights" / "carn_m.pth"


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "in" / "p.png"
    path.parent.mkdir()
    Image.fromarray(texture(40, 56, 1)).save(path)
    return path


def _eager(model, path, scale=1) -> np.ndarray:
    image = torch.from_numpy(load_image(path)).permute(2, 0, 1)
    return restore(model, image, scale=scale).permute(1, 2, 0).numpy()


def test_a_checkpoint_file_says_its_model_and_configuration(tmp_path, photo, capsys):
    torch.manual_seed(4)
    dncnn = build_model("dncnn", "quick", depth=3).eval()
    ckpt = save_checkpoint(tmp_path / "dncnn.pt", model=dncnn, model_name="dncnn", step=1)
    assert main(["restore", str(photo), "--checkpoint", str(ckpt), "--precision", "fp32", "--device", "cpu"]) == 0
    assert "DnCNN" in capsys.readouterr().out.strip().splitlines()[-1]
    got = load_image(photo.parent / "restored" / "p_restored.png")
    assert np.abs(got - _eager(dncnn, photo)).max() <= 1 / 255 + 1e-6


def test_the_default_model_is_the_best_on_validation_in_the_zoo():
    means = {}
    for model in GOOD_FOR:
        sidecars = sorted((REPO / "checkpoints" / "ch7" / "07b").glob(f"{model}-seed*.safetensors.json"))
        assert sidecars, model
        values = [json.loads(p.read_text())["val_psnr"] for p in sidecars]
        data = json.loads(sidecars[0].read_text())["key"]["data"]["images"]
        assert [name for name, role in data.items() if role == "val"] == ["chelsea"]
        means[model] = sum(values) / len(values)
    ranked = sorted(means, key=means.get, reverse=True)
    assert DEFAULT_MODEL == ranked[0] and list(GOOD_FOR) == ranked, means


def test_a_checkpoint_of_another_size_says_which_size_in_one_line(tmp_path, capsys):
    from companion.ch7.commands import check_size
    from companion.errors import CompanionError

    ckpt = save_checkpoint(tmp_path / "d.pt", model=build_model("dncnn", "quick"), model_name="dncnn", step=1)
    with pytest.raises(CompanionError) as caught:
        check_size(ckpt, "dncnn", "paper")
    assert str(caught.value).startswith("this checkpoint is `--size quick`") and len(str(caught.value)) < 200
    check_size(ckpt, "dncnn", "quick")  # fits: no error
    check_size(ckpt, "mepsnet", "paper")  # another model's: left to the loop's full check


# --- super-resolution ---------------------------------------------------------------------------------------

def _zoo_carn_m_current() -> bool:
    from companion.ch2.zoo import main_entry
    from companion.zoo import status

    return status(main_entry("carn-m-x4")) == "current"


def test_carn_m_upscales_x4_from_the_zoo_on_the_fast_path(tmp_path, photo, capsys):
    if not _zoo_carn_m_current():
        pytest.skip(f"ch2/carn-m-x4-seed0 is not current in {zoo_dir()}")
    from companion.ch2.zoo import main_entry
    from companion.zoo import load_entry

    argv = ["restore", str(photo), "--model", "carn-m", "--scale", "4", "--data", str(tmp_path / "no-data"),
            "--device", "cpu", "--precision", "fp32"]
    assert main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("upscaled ×4 1 image in ") and "from zoo ch2/carn-m-x4-seed0" in last
    assert "ONNX Runtime fp32" in last or "PyTorch fp32" in last
    got = load_image(photo.parent / "restored" / "p_x4.png")
    model, _ = load_entry(main_entry("carn-m-x4"))
    assert got.shape == (160, 224, 3)
    assert np.abs(got - _eager(model.at_scale(4), photo, 4)).max() <= 1 / 255 + 1e-6
    assert main(argv) == 2 and "--overwrite" in _one_error_line(capsys)  # the same rules as restoring


def test_the_zoo_carn_m_checkpoint_file_upscales_too(tmp_path, photo, capsys):
    if not _zoo_carn_m_current():
        pytest.skip(f"ch2/carn-m-x4-seed0 is not current in {zoo_dir()}")
    weights = REPO / "checkpoints" / "ch2" / "carn-m-x4-seed0.safetensors"
    assert main(["restore", str(photo), "--checkpoint", str(weights), "--device", "cpu", "--precision", "fp32"]) == 0
    assert load_image(photo.parent / "restored" / "p_x4.png").shape == (160, 224, 3)


def test_scale_2_without_the_authors_weights_is_one_line(tmp_path, photo, capsys):
    assert main(["restore", str(photo), "--model", "carn-m", "--scale", "2", "--data", str(tmp_path / "none")]) == 2
    err = _one_error_line(capsys)
    assert "×4 only" in err and "python -m companion download carn-m" in err
    assert main(["restore", str(photo), "--model", "carn-m", "--scale", "5"]) == 2
    assert "not ×5" in _one_error_line(capsys)
    assert main(["restore", str(photo), "--model", "dncnn", "--scale", "2"]) == 2
    assert "--scale is for the super-resolution models" in _one_error_line(capsys)
    assert not (photo.parent / "restored").exists()


def test_carn_m_takes_the_authors_weights_when_downloaded(tmp_path, photo, capsys):
    if not AUTHORS_CARN_M.is_file():
        pytest.skip(f"the authors' CARN-M weights are not at {AUTHORS_CARN_M} (a developer's ../shared folder)")
    from companion.ch2.authors_weights import load_authors_carn

    (tmp_path / "data" / "weights").mkdir(parents=True)
    shutil.copy(AUTHORS_CARN_M, tmp_path / "data" / "weights" / "carn-m.pth")
    assert main(["restore", str(photo), "--model", "carn-m", "--scale", "2", "--data", str(tmp_path / "data"),
                 "--device", "cpu", "--precision", "fp32"]) == 0
    assert "from the authors' CARN-M weights" in capsys.readouterr().out.strip().splitlines()[-1]
    got = load_image(photo.parent / "restored" / "p_x2.png")
    expected = _eager(load_authors_carn(AUTHORS_CARN_M).at_scale(2), photo, 2)
    assert got.shape == (80, 112, 3) and np.abs(got - expected).max() <= 1 / 255 + 1e-6


def test_the_bf16_path_stays_close_to_fp32():
    torch.manual_seed(0)
    model = build_model("carn_m", "quick").eval()
    image = torch.from_numpy(texture(32, 40, 2, uint8=False)).permute(2, 0, 1)[None]
    fp32 = model.at_scale(4)(image).clamp(0, 1)
    fast = accelerate(model, scale=4, precision="bf16", report=None)
    assert fast.backend == "bf16" and fast.max_abs_diff <= 0.05
    bf16 = fast(image).clamp(0, 1)
    psnr = 10 * torch.log10(1 / (bf16 - fp32).pow(2).mean())
    assert psnr > 40, float(psnr)  # bf16 against fp32, an untrained model's output


# --- tiling from a memory budget ------------------------------------------------------------------------------

def test_auto_tiles_fit_the_budget_with_as_few_tiles_as_possible():
    assert auto_tiles(100, 100, 100, budget=10**7) == (1, 1)
    rows, cols = auto_tiles(2000, 3000, 1000, budget=1 << 30)
    tile = (-(-2000 // rows) + 32) * (-(-3000 // cols) + 32) * 1000
    assert rows * cols > 1 and tile <= 1 << 30
    fewer = [(r, c) for r in range(1, rows + 1) for c in range(1, cols + 1) if r * c < rows * cols]
    assert all(((-(-2000 // r) + 32 * (r > 1)) * (-(-3000 // c) + 32 * (c > 1))) * 1000 > 1 << 30 for r, c in fewer)
    model = build_model("dncnn", "quick")
    assert bytes_per_pixel(model) == 4 * 4 * 32
    assert bytes_per_pixel(build_model("carn_m", "quick"), 4) == 16 * bytes_per_pixel(build_model("carn_m", "quick"))


def test_restore_without_tiles_uses_the_memory_budget(tmp_path, photo, capsys):
    ckpt = save_checkpoint(tmp_path / "d.pt", model=build_model("dncnn", "quick"), model_name="dncnn", step=1)
    assert main(["restore", str(photo), "--checkpoint", str(ckpt), "--device", "cpu", "--precision", "fp32",
                 "--memory-gb", "0.0001", "--overlap", "4"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[0]
    assert ", 1×1 tiles" not in line and " tiles (" in line


# --- reading photographs ----------------------------------------------------------------------------------------

def test_exif_orientation_is_applied_on_reading(tmp_path):
    pixels = texture(30, 50, 3)
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display turns it 90° clockwise
    Image.fromarray(pixels).save(path, quality=100, exif=exif)
    stored = np.asarray(Image.open(path).convert("RGB"))
    got = load_image(path)
    assert got.shape == (50, 30, 3) and check_image_file(path) == (30, 50)
    assert np.array_equal((got * 255).round().astype(np.uint8), np.rot90(stored, k=-1))


def test_the_conversion_hint_names_a_new_file(tmp_path):
    path = tmp_path / "grey.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    with pytest.raises(ImageFileError) as caught:
        load_image(path)
    message = str(caught.value)
    assert f".save('{tmp_path / 'grey_rgb.png'}')" in message and f".save('{path}')" not in message
