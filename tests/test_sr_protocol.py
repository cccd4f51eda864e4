"""The super-resolution protocol shared by Chapters 2-5: MATLAB-bicubic LR images (cross-checked against a
second construction and against PIL/torch), PSNR/SSIM on Y with border = scale on 8-bit outputs (computed two
ways), training patches with one scale per batch, and the benchmark sets in the download layout."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.ndimage import gaussian_filter

from companion.data.images import embedded_image, save_image
from companion.data.sr import (OneScaleBatchSampler, SRBenchmark, SRPatches, bicubic_downscale, bicubic_upscale,
                               check_scale, collate_sr, lr_hr_pair, modcrop, sr_batch)
from companion.errors import CompanionError
from companion.metrics import downscale_method_shift, protocol_text, sr_protocol, sr_psnr, sr_scores, sr_ssim
from tests.conftest import texture

pytestmark = pytest.mark.usefixtures("one_thread")

REALSR = Path(__file__).resolve().parents[2] / "shared" / "data" / "realsr" / "Canon_003_HR.png"


def _levels(a, b) -> np.ndarray:
    """|a - b| in 8-bit levels (0..255 units), float64."""
    return np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) * 255.0


def _symmetric_torch_reference(hr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB's imresize(hr, 1/scale, 'bicubic') built a second way: pad with MATLAB's symmetric rule
    (np.pad 'symmetric' = [a, a, b, ...]) by 3·scale px, downscale with torch's antialiased bicubic (Keys
    a = -0.5 widened by the scale, half-pixel grid: MATLAB's kernel, but truncated at borders -- which the
    padding keeps away from the image), and crop the 3 padded LR pixels. Unrounded, 0..1."""
    p = 3 * scale
    padded = np.pad(hr.astype(np.float64), ((p, p), (p, p), (0, 0)), mode="symmetric")
    x = torch.from_numpy(padded.transpose(2, 0, 1).copy())[None] * 255.0
    h, w = padded.shape[0] // scale, padded.shape[1] // scale
    y = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False, antialias=True)[0]
    return y.numpy().transpose(1, 2, 0)[3:-3, 3:-3] / 255.0


# --------------------------------------------------------------------------------------------------------
# LR images: MATLAB bicubic.


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_matlab_bicubic_matches_a_second_construction_everywhere(scale):
    hr = modcrop(embedded_image("chelsea")[:200, :240], scale)
    ours = bicubic_downscale(hr, scale, round8=False)
    ref = _symmetric_torch_reference(hr, scale)
    assert ours.shape == (hr.shape[0] // scale, hr.shape[1] // scale, 3)
    assert _levels(ours, ref).max() < 2e-3  # float32 arithmetic in the library; borders included


def test_half_pixel_grid_on_a_ramp():
    """Keys' cubic reproduces linear functions, so inside the image a horizontal ramp x (HR pixel index) comes out
    as the ramp sampled at MATLAB's LR pixel centres: s·j + (s-1)/2."""
    for scale in (2, 3, 4):
        ramp = np.tile(np.arange(96, dtype=np.float32)[None, :, None], (24, 1, 3)) / 255.0
        lr = bicubic_downscale(ramp, scale, round8=False)[..., 0] * 255.0
        j = np.arange(lr.shape[1])
        centres = scale * j + (scale - 1) / 2
        inner = slice(2, -2)  # the symmetric border bends the ramp within 2 LR pixels of each edge
        assert np.abs(lr[:, inner] - centres[inner]).max() < 1e-3
        assert np.abs(lr[:, 0] - centres[0]).max() > 0.05  # and it does bend it there


def test_round8_follows_matlab_uint8():
    hr = modcrop(embedded_image("astronaut")[:128, :128], 4)
    raw = bicubic_downscale(hr, 4, round8=False)
    lr = bicubic_downscale(hr, 4)
    assert lr.dtype == np.float32 and lr.min() >= 0 and lr.max() <= 1
    assert np.array_equal(np.rint(lr * 255.0), lr * 255.0)  # on the 8-bit grid
    assert raw.min() < 0 or raw.max() > 1  # bicubic overshoots; the 8-bit version is clipped
    expected = np.floor(np.clip(raw * 255.0, 0, 255) + 0.5)
    assert _levels(lr, expected / 255.0).max() == 0
    # uint8 input gives the same as its float version
    assert np.array_equal(bicubic_downscale((hr * 255).round().astype(np.uint8), 4), lr)


def _pil_float(hr: np.ndarray, scale: int) -> np.ndarray:
    """PIL's bicubic on each channel in float ('F') mode: no 8-bit rounding between passes."""
    h, w = hr.shape[0] // scale, hr.shape[1] // scale
    chans = [np.asarray(Image.fromarray(hr[..., c].astype(np.float32) * 255.0, mode="F")
                        .resize((w, h), Image.Resampling.BICUBIC)) for c in range(3)]
    return np.stack(chans, -1) / 255.0


def _pil_torch_against_matlab(hr: np.ndarray, scale: int) -> dict:
    matlab = bicubic_downscale(hr, scale, round8=False)
    band = 2  # the widened kernel reaches 2 LR px past each output pixel's centre: only that band differs
    out = {}
    for name, other in (("torch", bicubic_downscale(hr, scale, method="torch", round8=False)),
                        ("pil_float", _pil_float(hr, scale)),
                        ("pil_8bit", bicubic_downscale(hr, scale, method="pil"))):
        d = _levels(other, matlab if name != "pil_8bit" else bicubic_downscale(hr, scale))
        out[name] = (float(d[band:-band, band:-band].max()), float(d.max()))
    return out


@pytest.mark.parametrize("scale", [2, 4])
def test_pil_and_torch_agree_inside_and_differ_at_the_border(scale):
    """The cross-check the brief asks for, measured: PIL's and torch's antialiased bicubic share MATLAB's kernel
    (Keys a = -0.5 widened by the scale) and grid, so away from a 2 LR px band they agree with it to float
    precision; at the border they truncate the kernel where MATLAB mirrors the image, and differ by levels.
    Measured on chelsea (×2 / ×4): inside < 1e-4 levels for torch and PIL-float, border up to 2.3 / 3.8
    levels; PIL's 8-bit path (rounded between passes, clipped) up to 1 level inside (astronaut: up to 6)."""
    hr = modcrop(embedded_image("chelsea"), scale)
    m = _pil_torch_against_matlab(hr, scale)
    for name in ("torch", "pil_float"):
        inside, whole = m[name]
        assert inside < 2e-3, (name, m)
        assert whole > 0.5, (name, m)  # the border does differ
    inside8, whole8 = m["pil_8bit"]
    assert 1 <= inside8 <= 6 and whole8 >= inside8, m


def test_cross_check_on_the_realsr_photograph():
    if not REALSR.is_file():
        pytest.skip(f"{REALSR} is absent (the shared RealSR HR/LR pair); the embedded images cover the check")
    from companion.data.images import load_image
    hr = load_image(REALSR)
    h, w = hr.shape[:2]
    crop = hr[h // 2 - 192:h // 2 + 192, w // 2 - 192:w // 2 + 192]
    assert _levels(bicubic_downscale(crop, 4, round8=False), _symmetric_torch_reference(crop, 4)).max() < 2e-3
    inside, whole = _pil_torch_against_matlab(crop, 4)["torch"]
    assert inside < 2e-3 and whole > 0.5


def test_upscale_is_matlab_bicubic_too():
    lr = bicubic_downscale(modcrop(embedded_image("chelsea")[:120, :160], 4), 4)
    up = bicubic_upscale(lr, 4)
    assert up.shape == (120, 160, 3) and np.array_equal(np.rint(up * 255), up * 255)
    flat = np.full((10, 12, 3), 0.4, np.float32)
    assert _levels(bicubic_upscale(flat, 3, round8=False), 0.4).max() < 1e-3
    # torch's bicubic upscale (a = -0.75, clamped borders) is a different baseline
    assert _levels(bicubic_upscale(lr, 4, method="torch"), up).max() > 1


def test_bad_input_is_one_line_errors():
    img = np.zeros((16, 16, 3), np.float32)
    for bad in (1, 9, 2.5, True, "4"):
        with pytest.raises(CompanionError, match="scale must be a whole number from 2 to 8"):
            bicubic_downscale(img, bad)
    with pytest.raises(CompanionError, match=r"not a multiple of ×3; crop it with modcrop"):
        bicubic_downscale(img, 3)
    with pytest.raises(CompanionError, match="H×W×3"):
        bicubic_downscale(img[..., 0], 2)
    with pytest.raises(CompanionError, match="unknown resize method"):
        bicubic_downscale(img, 2, method="opencv")
    assert check_scale(np.int64(8)) == 8
    assert modcrop(np.zeros((13, 10, 3)), 4).shape == (12, 8, 3)


# --------------------------------------------------------------------------------------------------------
# PSNR / SSIM of the SR protocol.


def _y_matlab(rgb8: np.ndarray) -> np.ndarray:
    """MATLAB's rgb2ycbcr(im2double(rgb))(:, :, 1) * 255, written out: Y in [16, 235]."""
    r, g, b = (rgb8[..., c].astype(np.float64) / 255.0 for c in range(3))
    return 16.0 + 65.481 * r + 128.553 * g + 24.966 * b


def _ssim_wang(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. 2004 SSIM with a Gaussian window (sigma 1.5, 11×11), L = 255, mean over the valid region."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    f = lambda x: gaussian_filter(x, 1.5, truncate=3.5, mode="reflect")  # noqa: E731
    mu_a, mu_b = f(a), f(b)
    va, vb, cov = f(a * a) - mu_a ** 2, f(b * b) - mu_b ** 2, f(a * b) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))
    return float(m[5:-5, 5:-5].mean())


def test_bicubic_x4_y_psnr_and_ssim_computed_two_ways():
    """The known value: MATLAB-convention Y PSNR/SSIM of Bicubic ×4 on chelsea, via sr_scores and written out."""
    lr, hr = lr_hr_pair(embedded_image("chelsea"), 4)
    sr = bicubic_upscale(lr, 4, round8=False) + 0.3 / 255  # off the 8-bit grid: rounding must matter
    scores = sr_scores(sr, hr, 4)
    sr8 = np.floor(np.clip(sr.astype(np.float64), 0, 1) * 255 + 0.5).astype(np.uint8)
    hr8 = np.rint(hr * 255).astype(np.uint8)
    y_sr, y_hr = _y_matlab(sr8)[4:-4, 4:-4], _y_matlab(hr8)[4:-4, 4:-4]
    expected_psnr = 10 * np.log10(255.0 ** 2 / np.mean((y_sr - y_hr) ** 2))
    assert scores["psnr"] == pytest.approx(expected_psnr, abs=1e-9)
    assert scores["ssim"] == pytest.approx(_ssim_wang(y_sr, y_hr), abs=1e-6)
    assert 28 < scores["psnr"] < 36 and 0.7 < scores["ssim"] < 0.95  # Bicubic ×4 on a natural photograph
    assert scores["protocol"] == {"scale": 4, "channel": "y", "border": 4, "rounding": "8-bit"}
    assert protocol_text(scores["protocol"]) == ("Y (BT.601), 4 px border crop, ×4, whole image, "
                                                 "outputs rounded to 8 bits")
    # the options change the number and say so
    unrounded = sr_scores(sr, hr, 4, round8=False)
    assert unrounded["psnr"] != scores["psnr"] and unrounded["protocol"]["rounding"] == "none"
    assert "unrounded float outputs" in protocol_text(unrounded["protocol"])
    rgb = sr_scores(sr, hr, 4, channel="rgb", border=0)
    assert rgb["protocol"]["channel"] == "rgb" and rgb["protocol"]["border"] == 0 and rgb["psnr"] < scores["psnr"]
    assert sr_psnr(sr, hr, 4) == scores["psnr"] and sr_ssim(sr, hr, 4) == scores["ssim"]


def test_sr_metric_errors():
    img = np.zeros((16, 16, 3))
    with pytest.raises(CompanionError, match="differ in shape"):
        sr_scores(img, img[:8], 2)
    with pytest.raises(CompanionError, match="nothing left"):
        sr_scores(img[:8, :8], img[:8, :8], 4)
    with pytest.raises(CompanionError, match="scale must be"):
        sr_protocol(1)
    with pytest.raises(CompanionError, match="unknown channel"):
        sr_protocol(2, channel="ycbcr")
    assert sr_scores(img, img, 2)["psnr"] == float("inf")


def test_psnr_shift_of_pil_and_torch_bicubic():
    """What the ledger says: making LR with PIL's / torch's antialiased bicubic instead of MATLAB's moves the
    Bicubic baseline's Y PSNR by a few thousandths of a dB (the border band lies mostly inside the s px crop);
    torch's bicubic without antialiasing moves it by about a dB."""
    images = {"chelsea": embedded_image("chelsea")}
    pil, tch, noaa = (downscale_method_shift(images, 4, other=o) for o in ("pil", "torch", "torch_no_antialias"))
    assert abs(pil["mean_shift_db"]) < 0.01 and abs(tch["mean_shift_db"]) < 0.01
    assert abs(noaa["mean_shift_db"]) > 0.3
    assert 50 < pil["mean_lr_psnr"] < tch["mean_lr_psnr"]  # PIL's 8-bit passes add interior differences
    assert tch["interior_max_levels"] <= 1 and pil["interior_max_levels"] <= 6
    assert "LR by pil bicubic instead of MATLAB's (×4, 1 images)" in pil["text"]
    assert pil["protocol"]["rounding"] == "8-bit"
    with pytest.raises(CompanionError, match="other must be one of"):
        downscale_method_shift(images, 4, other="matlab")


# --------------------------------------------------------------------------------------------------------
# Training patches.


def _hr_images():
    return [texture(70, 90, seed=1), texture(64, 100, seed=2, freq=(0.3, 0.9)), texture(80, 80, seed=3)]


def test_patches_are_aligned_and_augmented():
    ds = SRPatches(_hr_images(), scales=3, patch=12, augment=False, seed=5)
    item = ds[1]
    assert item["lr"].shape == (3, 12, 12) and item["hr"].shape == (3, 36, 36) and item["scale"] == 3
    lr_full, hr_full = ds.pair(1, 3)
    t, l = item["top"], item["left"]
    assert np.array_equal(item["lr"].numpy().transpose(1, 2, 0), lr_full[t:t + 12, l:l + 12] / np.float32(255))
    hr_crop = hr_full[3 * t:3 * t + 36, 3 * l:3 * l + 36]
    assert np.array_equal(item["hr"].numpy().transpose(1, 2, 0), hr_crop / np.float32(255))
    assert hr_full.shape == (63, 99, 3)  # cropped to a multiple of 3 before downscaling
    # with flips/rotations, the LR patch is still the MATLAB downscale of the HR patch (inside the 2 px band)
    aug = SRPatches(_hr_images(), scales=4, patch=16, seed=0)
    for i in range(12):
        aug.set_epoch(i)
        it = aug[i % 3]
        lr, hr = it["lr"].numpy().transpose(1, 2, 0), it["hr"].numpy().transpose(1, 2, 0)
        assert _levels(bicubic_downscale(hr, 4), lr)[2:-2, 2:-2].max() <= 1
    assert aug.cache_bytes > 0


def test_seeded_patches_are_reproducible():
    a, b = SRPatches(_hr_images(), scales=2, patch=8, seed=3), SRPatches(_hr_images(), scales=2, patch=8, seed=3)
    for ds in (a, b):
        ds.set_epoch(7)
    assert torch.equal(a[2]["hr"], b[2]["hr"])
    a.set_epoch(8)
    assert not torch.equal(a[2]["hr"], b[2]["hr"])



def test_training_patches_are_made_once_per_process_and_reseeded():
    from companion.data import sr

    names = ("coffee", "chelsea")
    a = sr.training_patches("bundled", names, scale=4, patch=8, seed=1)
    a.set_epoch(3)
    first = a[5]["hr"].clone()
    b = sr.training_patches("bundled", names, scale=4, patch=8, seed=2)
    assert b is a and a.seed == 2 and len(a) == 2 * 8  # the same LR images, new positions
    assert not torch.equal(b[5]["hr"], first)
    assert torch.equal(sr.training_patches("bundled", names, scale=4, patch=8, seed=1)[5]["hr"], first)
    assert sr.training_patches("bundled", names, scale=2, patch=8, seed=1) is not a  # other data, other set
    with pytest.raises(CompanionError, match="source must be"):
        sr.training_patches("div2k", names, scale=4, patch=8, seed=0)

def test_one_scale_per_batch_for_the_engine_and_a_dataloader():
    ds = SRPatches(_hr_images(), scales=(2, 3, 4), patch=10, seed=0, repeat=4)
    assert len(ds) == 12
    seen = set()
    for step in range(30):
        lr, hr, scale = sr_batch(ds, [0, 5, 7, 11], step)
        seen.add(scale)
        assert lr.shape == (4, 3, 10, 10) and hr.shape == (4, 3, 10 * scale, 10 * scale)
    assert seen == {2, 3, 4}
    # the engine's own single-scale path
    from companion.engine.loop import paired_batch
    x, y = paired_batch("lr", "hr")(SRPatches(_hr_images(), scales=4, patch=10), [0, 1], 0)
    assert x.shape == (2, 3, 10, 10) and y.shape == (2, 3, 40, 40)
    # a DataLoader: (index, scale) keys, one scale per batch
    sampler = OneScaleBatchSampler(len(ds), 3, ds.scales, batches=9, seed=1)
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate_sr)
    batches = list(loader)
    assert len(batches) == 9 and {s for _, _, s in batches} <= {2, 3, 4} and len({s for _, _, s in batches}) > 1
    for lr, hr, s in batches:
        assert hr.shape[-1] == lr.shape[-1] * s
    with pytest.raises(CompanionError, match="mixes scales"):
        collate_sr([ds[(0, 2)], ds[(0, 3)]])


def test_patch_errors():
    with pytest.raises(CompanionError, match=r"smaller than patch=48; use patch <= 16"):
        SRPatches([texture(64, 70)], scales=4, patch=48)[0]
    with pytest.raises(CompanionError, match="scale must be"):
        SRPatches([texture(64, 70)], scales=(2, 10))
    with pytest.raises(CompanionError, match="download DIV2K"):
        SRPatches("/nonexistent/hr-folder")
    with pytest.raises(CompanionError, match="patch must be"):
        SRPatches([texture(64, 70)], patch=0)


def test_embedded_images_by_default():
    ds = SRPatches(scales=4, patch=24)
    assert "chelsea" in ds.names
    i = ds.names.index("chelsea")
    item = ds[i]
    assert item["name"] == "chelsea" and item["hr"].shape == (3, 96, 96)


# --------------------------------------------------------------------------------------------------------
# Evaluation sets.


def test_benchmark_defaults_to_embedded_and_crops_to_the_scale():
    bench = SRBenchmark(scale=4, names=["chelsea"])
    item = bench[0]
    assert item["hr"].shape == (3, 300, 448) and item["lr"].shape == (3, 75, 112)  # 300×451 -> 300×448
    lr, hr = lr_hr_pair(embedded_image("chelsea"), 4)
    assert np.array_equal(item["lr"].numpy().transpose(1, 2, 0), lr)
    assert bench.protocol()["set"] == "embedded" and "multiple of 4" in bench.protocol()["hr"]


def _fake_root(tmp_path: Path) -> Path:
    """A data root in the download layout: Set5 with HR and LR_bicubic/X2, DIV2K validation HR and X2 LR."""
    set5 = tmp_path / "benchmark" / "Set5"
    for k, name in enumerate(("baby", "bird")):
        hr = texture(40 + k, 50, seed=k)
        save_image(set5 / "HR" / f"{name}.png", hr)
        save_image(set5 / "LR_bicubic" / "X2" / f"{name}x2.png", bicubic_downscale(modcrop(hr, 2), 2))
    div2k = tmp_path / "DIV2K"
    hr = texture(48, 52, seed=9)
    save_image(div2k / "DIV2K_valid_HR" / "0801.png", hr)
    save_image(div2k / "DIV2K_valid_LR_bicubic" / "X2" / "0801x2.png", bicubic_downscale(hr, 2))
    return tmp_path


def test_benchmarks_read_the_download_layout(tmp_path):
    root = _fake_root(tmp_path)
    made = SRBenchmark("set5", 2, root=root)
    files = SRBenchmark("Set5", 2, root=root, lr="files")
    assert made.names == ["baby", "bird"] and made.name == "Set5"
    for a, b in zip(made, files):
        assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["hr"], b["hr"])
    assert made[1]["hr"].shape == (3, 40, 50)  # 41 rows cropped to 40
    div = SRBenchmark("DIV2K", 2, root=root, lr="files")
    assert div.names == ["0801"] and div[0]["lr"].shape == (3, 24, 26)
    assert SRBenchmark("Set5", 8, root=root)[0]["lr"].shape == (3, 5, 6)


def test_benchmark_errors_name_the_fix(tmp_path):
    (tmp_path / "benchmark").mkdir()
    with pytest.raises(CompanionError, match="python -m companion download Set14"):
        SRBenchmark("Set14", 4, root=tmp_path)
    with pytest.raises(CompanionError, match="manga109.org"):
        SRBenchmark("Manga109", 4, root=tmp_path)
    with pytest.raises(CompanionError, match="python -m companion download DIV2K"):
        SRBenchmark("DIV2K", 4, root=tmp_path)
    with pytest.raises(CompanionError, match="unknown SR benchmark"):
        SRBenchmark("Set6", 4, root=tmp_path)
    root = _fake_root(tmp_path)
    with pytest.raises(CompanionError, match=r"download Set5"):
        SRBenchmark("Set5", 3, root=root, lr="files")[0]
    with pytest.raises(CompanionError, match="×2, ×3 and ×4 only"):
        SRBenchmark("Set5", 8, root=root, lr="files")
    with pytest.raises(CompanionError, match="unknown embedded image"):
        SRBenchmark(names=["lena"])


def _user_root() -> Path | None:
    root = os.environ.get("COMPANION_DATA")
    return Path(root) if root else Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize("name", ["Set5", "Set14"])
def test_our_lr_images_match_the_archives_matlab_files(name):
    """With EDSR's benchmark.tar in the data root: our LR images against its MATLAB-made LR_bicubic/X4 files."""
    root = _user_root()
    folder = root / "benchmark" / name / "LR_bicubic" / "X4"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (run `python -m companion download {name}` to check our LR images "
                    "against the archive's MATLAB-made ones)")
    made, files = SRBenchmark(name, 4, root=root), SRBenchmark(name, 4, root=root, lr="files")
    for i in range(len(made)):
        lr_made, lr_file = made.pair(i)[0], files.pair(i)[0]
        d = _levels(lr_made, lr_file)
        assert d.max() <= 1 and np.mean(d > 0) < 1e-3, (made.names[i], d.max(), np.mean(d > 0))
