"""Tiled restoration (companion.engine.inference, with a super-resolution scale) and the SHDD evaluation
loop (companion.ch7.evaluation, Table 7.1 protocol)."""
import numpy as np
import pytest
import torch
from torch import nn

from companion.ch7.evaluation import PAPER_TILES, evaluate_shdd
from companion.ch7.shdd import SHDD_TYPES
from companion.engine.inference import restore
from companion.errors import CompanionError
from companion.metrics import protocol_text, psnr
from companion.models.common import check_image_batch


def small_net(seed: int = 0) -> nn.Module:
    """Three 3×3 convs: receptive field 7×7 (radius 3) < the 16 px overlap."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 3, 3, padding=1), nn.Sigmoid())


class Identity(nn.Module):
    def forward(self, x):
        check_image_batch(x, "Identity")
        return x


class Upsampler(nn.Module):
    """A toy ×s super-resolution net with a small receptive field: conv, ReLU, conv to 3·s² channels, pixel
    shuffle, then a 3×3 conv at the high resolution, a sigmoid. Radius: 2 input px + 1 output px."""

    def __init__(self, scale: int, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.scale = scale
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale),
                                  nn.Conv2d(3, 3, 3, padding=1), nn.Sigmoid())

    def forward(self, x):
        check_image_batch(x, "Upsampler")
        return self.body(x)


def test_paper_tiles_are_the_authors_2x4():
    assert PAPER_TILES == (2, 4)
    import inspect
    assert inspect.signature(evaluate_shdd).parameters["tiles"].default == PAPER_TILES


def test_tiled_equals_whole_image_for_a_small_conv_net():
    net = small_net()
    image = torch.rand(3, 64, 96, generator=torch.Generator().manual_seed(1))
    whole = restore(net, image, tiles=(1, 1))
    tiled = restore(net, image, tiles=(2, 4), overlap=16)
    assert whole.shape == tiled.shape == (3, 64, 96) and tiled.dtype == torch.float32
    assert (tiled - whole).abs().max().item() < 1e-5
    # Without context the seams differ: the overlap is what makes tiling exact.
    seams = restore(net, image, tiles=(2, 4), overlap=0)
    assert (seams - whole).abs().max().item() > 1e-3
    assert net.training  # mode restored


@pytest.mark.parametrize("scale, shape, tiles, overlap", [(2, (3, 40, 56), (2, 4), 6),
                                                         (3, (2, 3, 25, 37), (3, 2), 4)])
def test_super_resolution_tiles_stitch_to_the_whole_image(scale, shape, tiles, overlap):
    net = Upsampler(scale)
    image = torch.rand(*shape, generator=torch.Generator().manual_seed(scale))
    with torch.no_grad():
        direct = net(image if image.ndim == 4 else image[None])
    direct = direct if image.ndim == 4 else direct[0]
    whole = restore(net, image, tiles=(1, 1), scale=scale)
    tiled = restore(net, image, tiles=tiles, overlap=overlap, scale=scale)
    h, w = shape[-2:]
    assert whole.shape == tiled.shape == shape[:-2] + (scale * h, scale * w)
    assert (whole - direct).abs().max().item() < 1e-6
    assert (tiled - whole).abs().max().item() < 1e-5
    # Without context every seam differs: the overlap (in input pixels) is what makes tiling exact.
    seams = restore(net, image, tiles=tiles, overlap=0, scale=scale)
    assert (seams - whole).abs().max().item() > 1e-3
    assert net.training


def test_scale_that_does_not_match_the_model_is_one_line():
    with pytest.raises(CompanionError, match=r"with scale=2 restore expects \(1, 3, 64, 64\).*scale factor") as err:
        restore(small_net(), torch.rand(3, 32, 32), scale=2)
    assert "\n" not in str(err.value)
    with pytest.raises(CompanionError, match="with scale=1 restore expects"):  # an upsampler run as same-size
        restore(Upsampler(2), torch.rand(3, 16, 16), tiles=(2, 2), overlap=4)
    for bad in (0, 1.5, True):
        with pytest.raises(CompanionError, match="scale must be a whole number >= 1"):
            restore(small_net(), torch.rand(3, 16, 16), scale=bad)


def test_restore_batch_and_odd_sizes():
    net = small_net(1)
    batch = torch.rand(2, 3, 50, 70, generator=torch.Generator().manual_seed(2))
    out = restore(net, batch, tiles=(3, 3), overlap=8)
    assert out.shape == (2, 3, 50, 70)
    ref = restore(net, batch, tiles=(1, 1))
    assert (out - ref).abs().max().item() < 1e-5
    assert 0.0 <= out.min().item() and out.max().item() <= 1.0


def test_restore_clamps_and_bf16_runs():
    image = torch.rand(3, 40, 40) * 1.4 - 0.2
    out = restore(Identity(), image, tiles=(2, 2), overlap=4)
    assert torch.equal(out, image.clamp(0, 1))
    out16 = restore(small_net(), image.clamp(0, 1), tiles=(2, 2), overlap=4, bf16=True, channels_last=True)
    assert out16.dtype == torch.float32 and out16.shape == (3, 40, 40)


def test_restore_errors():
    with pytest.raises(CompanionError, match=r"height of 20 px is too small for 2 tiles with 16 px overlap"):
        restore(Identity(), torch.rand(3, 20, 200), tiles=(2, 4), overlap=16)
    with pytest.raises(CompanionError, match="width of 3 px is too small for 4 tiles"):
        restore(Identity(), torch.rand(3, 64, 3), tiles=(1, 4), overlap=0)
    restore(Identity(), torch.rand(3, 5, 5), tiles=(1, 1), overlap=16)  # whole image: overlap unused
    with pytest.raises(CompanionError, match="tiles must be"):
        restore(Identity(), torch.rand(3, 64, 64), tiles=(0, 2))
    with pytest.raises(CompanionError, match="B×3×H×W RGB batch"):  # the model's own check propagates
        restore(Identity(), torch.rand(1, 64, 64), tiles=(1, 1))
    with pytest.raises(CompanionError, match="3×H×W or B×3×H×W"):
        restore(Identity(), torch.rand(64, 64))


def _item(seed: int, name: str, types: tuple[int, int]) -> dict:
    rng = np.random.default_rng(seed)
    clean = rng.random((3, 48, 64)).astype(np.float32)
    label = np.zeros((48, 64), np.int64)
    label[:, :32], label[:, 32:] = types
    distorted = clean.copy()
    for t in types:
        if t:  # identity (0) stays exact
            mask = label == t
            distorted[:, mask] = np.clip(distorted[:, mask] + rng.normal(0, 0.05 * t, (3, mask.sum())), 0, 1)
    return {"distorted": torch.from_numpy(distorted), "clean": torch.from_numpy(clean),
            "label": torch.from_numpy(label), "record": {"regions": []}, "name": name}


def test_evaluate_shdd_identity_model_scores_the_input():
    items = [_item(0, "a", (0, 1)), _item(1, "b", (2, 4))]
    result = evaluate_shdd(Identity(), items, tiles=(2, 4), overlap=8, progress=False)
    assert result["psnr"] == pytest.approx(result["input_psnr"], abs=1e-9)
    assert set(result["psnr_by_type"]) == {SHDD_TYPES[i] for i in (0, 1, 2, 4)}
    assert set(result["ssim_by_type"]) == set(result["psnr_by_type"]) == set(result["input_psnr_by_type"])
    assert result["psnr_by_type"] == result["input_psnr_by_type"]
    assert result["psnr_by_type"]["identity"] == np.inf
    first = result["per_image"][0]
    assert first["name"] == "a" and set(first["psnr_by_type"]) == {"identity", "gaussian_noise"}
    expect = psnr(items[1]["distorted"].numpy().transpose(1, 2, 0), items[1]["clean"].numpy().transpose(1, 2, 0))
    assert result["per_image"][1]["psnr"] == pytest.approx(expect, abs=1e-9)
    assert result["psnr_by_type"]["gaussian_noise"] == first["psnr_by_type"]["gaussian_noise"]  # one image only
    # the per-type breakdown, by hand: the MSE over the pixels of each label
    d, c, lab = (items[1][k].numpy() for k in ("distorted", "clean", "label"))
    for t in (2, 4):
        mse = np.mean((d[:, lab == t].astype(np.float64) - c[:, lab == t]) ** 2)
        assert result["per_image"][1]["psnr_by_type"][SHDD_TYPES[t]] == pytest.approx(10 * np.log10(1 / mse),
                                                                                      abs=1e-9)
    assert 0 < result["ssim"] < 1
    assert result["protocol"] == {"channel": "rgb", "border": 0, "tiles": [2, 4], "overlap": 8, "images": 2,
                                  "bf16": False}
    limited = evaluate_shdd(Identity(), items, tiles=(1, 1), channel="y", border=2, limit=1, progress=False)
    assert limited["protocol"]["images"] == 1 and len(limited["per_image"]) == 1
    with pytest.raises(CompanionError, match="no images"):
        evaluate_shdd(Identity(), [], progress=False)


def test_protocol_text():
    assert protocol_text({"channel": "rgb", "border": 0, "tiles": [2, 4], "overlap": 16, "images": 50,
                          "bf16": False}) == "RGB, no border crop, 2×4 tiles with 16 px overlap, 50 images"
    assert protocol_text({"channel": "y", "border": 4, "tiles": [1, 1], "overlap": 16, "images": 1,
                          "bf16": True}) == "Y (BT.601), 4 px border crop, whole image, 1 image, bf16 autocast"
    assert protocol_text({"channel": "y", "border": 4, "scale": 4}) == "Y (BT.601), 4 px border crop, ×4, whole image"


def test_input_psnr_leaves_out_images_that_drew_identity_everywhere():
    clean = torch.rand(3, 24, 24)
    noisy = (clean + 0.1).clamp(0, 1)
    items = [{"distorted": clean.clone(), "clean": clean, "label": torch.zeros(24, 24, dtype=torch.long),
              "name": "identity"},
             {"distorted": noisy, "clean": clean, "label": torch.ones(24, 24, dtype=torch.long), "name": "noisy"}]
    out = evaluate_shdd(nn.Identity(), items, tiles=(1, 1), progress=False)
    assert out["input_unchanged"] == 1
    assert np.isfinite(out["input_psnr"]) and out["input_psnr"] == pytest.approx(out["per_image"][1]["psnr"])
