"""Chapter 5's SimUSR (companion.ch5.data, companion.ch5.simusr, companion.ch5.zoo): the training pool holds LR
images only and no HR pixel reaches SimUSR's training, the pseudo-pairs are (LR↓4, LR), the supervised reference
differs only in its pairs, the noise and BM3D, the same-grid networks and the zoo's entries."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from companion import zoo
from companion.ch5 import data, simusr
from companion.ch5 import zoo as ch5_zoo
from companion.ch5.config import QUICK, SMOKE
from companion.data.augments import PRESETS
from companion.data.images import embedded_image
from companion.data.splits import Split
from companion.data.sr import SRPatches, bicubic_downscale, lr_hr_pair, modcrop
from companion.errors import CompanionError
from companion.metrics import psnr
from companion.models import build_model, count_parameters
from tests.conftest import texture

pytestmark = pytest.mark.usefixtures("one_thread")
TWO = replace(QUICK, split=Split(train=("chelsea", "ihc"), validation=("coffee",), test=("rocket",)))


# --------------------------------------------------------------------------------------------------------
# No HR image in SimUSR's training.


def test_the_pool_holds_the_lr_images_and_nothing_else():
    pool = data.lr_pool(TWO)
    assert [name for name, _ in pool] == ["chelsea", "ihc"]
    for name, lr in pool:
        hr = modcrop(embedded_image(name), 4)
        assert lr.shape == (hr.shape[0] // 4, hr.shape[1] // 4, 3)
        assert np.array_equal(lr, bicubic_downscale(hr, 4))  # the protocol's 8-bit LR image, exactly
    summary = data.pool_summary(pool, 4)
    assert summary["images"] == 2 and summary["pixels"] == sum(lr.shape[0] * lr.shape[1] for _, lr in pool)
    assert summary["smallest_son_side"] == min(lr.shape[0] for _, lr in pool) // 4


def test_simusrs_training_data_has_no_hr_pixel(monkeypatch):
    """What reaches the SR trainer for SimUSR: patches of the LR images (fathers) and of their downscales (sons),
    never a patch of an HR photograph; the supervised reference gets the photographs by name."""
    captured = {}

    def fake_train_sr(model, recipe, **kwargs):
        captured[kwargs["model_name"]] = kwargs
        return type("R", (), {"steps_done": 0, "seconds": 0.0, "val": [], "losses": [0.0]})()

    monkeypatch.setattr(simusr, "train_sr", fake_train_sr)
    monkeypatch.setattr(data, "denoise", lambda image, sigma: image)  # BM3D is tested on its own below
    for kind in simusr.KINDS:
        simusr.train_network(TWO, kind, "carn", 0)
    pool = dict(data.lr_pool(TWO))
    for kind in ("simusr", "simusr-bm3d"):
        kw = captured[f"{kind}-carn"]
        assert "images" not in kw and isinstance(kw["patches"], SRPatches)
        patches = kw["patches"]
        wanted = dict(data.lr_pool(TWO, denoised=kind == "simusr-bm3d"))
        for i, name in enumerate(wanted):
            son, father = patches.pair(i, 4)
            # the "HR" side of every pair is an LR image of the pool; the input its x4 downscale
            assert father.shape[:2] == modcrop(wanted[name], 4).shape[:2]
            assert np.array_equal(father.astype(np.float32) / 255, modcrop(wanted[name], 4))
            assert np.array_equal(son, np.rint(bicubic_downscale(modcrop(wanted[name], 4), 4) * 255).astype(np.uint8))
            hr = modcrop(embedded_image(name), 4)
            assert father.shape[0] <= hr.shape[0] // 4  # four times smaller than the photograph: not its HR image
        for item in (patches[i] for i in range(0, len(patches), 3)):
            top, left, p = item["top"], item["left"], TWO.simusr.patch
            source = patches.pair(int(item["name"].removeprefix("image")), 4)[1]
            window = source[top * 4:(top + p) * 4, left * 4:(left + p) * 4]
            assert np.array_equal(np.sort((item["hr"].numpy() * 255).round().ravel()),
                                  np.sort(window.transpose(2, 0, 1).astype(np.float64).ravel()))
    assert pool  # the clean pool was built from the same photographs
    supervised = captured["supervised-carn"]
    assert "patches" not in supervised and supervised["images"] == TWO.split.train
    # the same network, recipe and augmentation for all three: only the pairs differ
    for kw in captured.values():
        assert kw["same_grid"] is True and kw["augmentation"] == PRESETS["sr-small"] and kw["patch"] == 12


def test_a_split_without_training_photographs_is_a_clear_error():
    with pytest.raises(CompanionError, match="pool would be empty"):
        data.lr_pool(replace(QUICK, split=Split((), ("coffee",), ("rocket",))))


# --------------------------------------------------------------------------------------------------------
# Noise and BM3D.


def test_the_noise_is_fixed_per_image_and_has_its_sigma():
    clean = np.full((64, 64, 3), 0.5, np.float32)
    a = data.add_noise(clean, 15, seed=0, name="x")
    assert np.array_equal(a, data.add_noise(clean, 15, seed=0, name="x"))
    assert not np.array_equal(a, data.add_noise(clean, 15, seed=0, name="y"))
    assert np.std(a - clean) * 255 == pytest.approx(15, rel=0.08)
    assert np.array_equal(a, np.round(a * 255) / 255)  # 8-bit, as a saved PNG
    with pytest.raises(CompanionError, match="sigma must be > 0"):
        data.add_noise(clean, 0, seed=0, name="x")


def test_bm3d_removes_most_of_the_noise():
    clean = texture(48, 48, 3, uint8=False)
    noisy = data.add_noise(clean, 15, seed=0, name="t")
    denoised = data.denoise(noisy, 15)
    assert denoised.shape == clean.shape and denoised.dtype == np.float32
    assert psnr(denoised, clean) > psnr(noisy, clean) + 3
    with pytest.raises(CompanionError, match="H×W×3"):
        data.denoise(clean[..., 0], 15)


# --------------------------------------------------------------------------------------------------------
# Networks, training, inference.


def test_the_backbones_are_same_grid_and_carn_has_the_printed_parameters():
    config = simusr.network_config("carn", "paper", 4)
    assert config["same_grid"] is True and config["scales"] == [4]
    with torch.device("meta"):
        assert count_parameters(build_model("carn", **config)) == 1_137_795  # Table 5.4: 1.14M
    with pytest.raises(CompanionError, match="unknown backbone"):
        simusr.network_config("unet", "quick", 4)


def test_simusr_trains_on_the_pool_and_infers_in_one_pass():
    model, result = simusr.train_network(SMOKE, "simusr", "carn", 0)
    assert result.steps_done == SMOKE.simusr.train.steps and np.isfinite(result.losses).all()
    assert result.val and all(np.isfinite(v) for _, v in result.val)  # judged on the validation photograph
    lr, hr = lr_hr_pair(texture(32, 40, 1), 4)
    out = simusr.super_resolve(model, lr, 4)
    assert out.shape == hr.shape and out.min() >= 0 and out.max() <= 1


def test_run_keys_name_what_shapes_the_weights():
    keys = {kind: simusr.run_key(QUICK, kind, "carn", 0) for kind in simusr.KINDS}
    assert keys["simusr"]["data"]["pairs"].startswith("(LR downscaled, LR)")
    assert keys["supervised"]["data"]["pairs"] == "(LR, HR)" and "noise" in keys["simusr-bm3d"]["data"]
    assert len({zoo.digest(k) for k in keys.values()}) == 3
    longer = replace(QUICK, simusr=replace(QUICK.simusr, train=replace(QUICK.simusr.train, steps=4000)))
    assert zoo.digest(simusr.run_key(longer, "simusr", "carn", 0)) != zoo.digest(keys["simusr"])
    # how often the loop saves and validates does not shape the weights
    chattier = replace(QUICK, simusr=replace(QUICK.simusr, train=replace(QUICK.simusr.train, val_every=10)))
    assert zoo.digest(simusr.run_key(chattier, "simusr", "carn", 0)) == zoo.digest(keys["simusr"])
    with pytest.raises(CompanionError, match="unknown kind"):
        simusr.run_key(QUICK, "zssr", "carn", 0)


def test_the_zoo_declares_the_quick_profiles_networks():
    names = [e.name for e in ch5_zoo.entries()]
    expected = ([f"ch5/05/simusr-carn-seed{s}" for s in range(QUICK.seeds)]
                + [f"ch5/05/supervised-carn-seed{s}" for s in range(QUICK.seeds)]
                + [f"ch5/05/simusr-bm3d-carn-seed{s}" for s in range(QUICK.noisy_seeds)])
    assert names == expected
    assert "ch5" in zoo.chapter_zoos()
    entry = ch5_zoo.TrainedNetwork(QUICK, "simusr", "carn").zoo_entry(0)
    assert entry.model == "carn" and entry.config["same_grid"] is True and entry.key["seed"] == 0
    with pytest.raises(CompanionError, match="unknown kind"):
        ch5_zoo.TrainedNetwork(QUICK, "bicubic", "carn")
