"""Chapter 5's ZSSR (companion.models.zssr, companion.ch5.zssr): the network's size and residual, fathers and sons
cut from the one test image only, ZSSR's augmentation modes, its online loop (learning, resuming) and inference."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from companion.ch5 import zssr
from companion.ch5.config import PAPER_ZSSR, QUICK, SMOKE
from companion.data.sr import bicubic_downscale, bicubic_upscale
from companion.engine.ensemble import transform
from companion.errors import CompanionError
from companion.models import MODELS, build_model, count_parameters, model_label
from tests.conftest import texture

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = replace(PAPER_ZSSR, size="quick", steps=6, crop=16, batch=2, milestones=(4,), ensemble=False)


def image(h: int = 24, w: int = 28, seed: int = 0) -> np.ndarray:
    return texture(h, w, seed, uint8=False)


# --------------------------------------------------------------------------------------------------------
# The network.


def test_the_network_has_the_thesis_parameters_and_registry_entry():
    paper = build_model("zssr", "paper")
    # 8 conv layers of 64 channels with biases: (27*64 + 64) + 6*(576*64 + 64) + (576*3 + 3)
    assert count_parameters(paper) == 225_091 == (27 * 64 + 64) + 6 * (576 * 64 + 64) + (576 * 3 + 3)
    assert round(count_parameters(paper) / 1e6, 2) == 0.23  # Table 5.4 prints 0.23M
    assert len(paper.convs) == 8 and paper.config == {"depth": 8, "width": 64, "scale": 4}
    assert MODELS["zssr"].cls is type(paper) and model_label("zssr") == "ZSSR"
    assert count_parameters(build_model("zssr", "quick")) < count_parameters(paper) / 3


def test_the_output_is_the_bicubic_image_plus_a_residual():
    model = build_model("zssr", "quick")
    with torch.no_grad():
        model.convs[-1].weight.zero_()
        model.convs[-1].bias.zero_()
    lr = image(10, 12)
    out = zssr.super_resolve(model, lr, 4)
    # the residual is zero: the output is MATLAB's bicubic x4 of the LR image (unrounded)
    assert out.shape == (40, 48, 3)
    assert np.abs(out - np.clip(bicubic_upscale(lr, 4, round8=False), 0, 1)).max() < 1e-5
    with pytest.raises(CompanionError, match="B×3×H×W"):
        model(torch.zeros(1, 1, 8, 8))


# --------------------------------------------------------------------------------------------------------
# Fathers and sons: the one test image, ZSSR's modes.


def _is_dihedral_window(father: torch.Tensor, img: torch.Tensor) -> bool:
    side = father.shape[-1]
    _, _, h, w = img.shape
    for top in range(h - side + 1):
        for left in range(w - side + 1):
            window = img[..., top:top + side, left:left + side]
            for flip in (False, True):
                for k in range(4):
                    if torch.equal(transform(window, flip, k), father):
                        return True
    return False


def test_without_the_affine_mode_every_father_is_a_window_of_the_one_image():
    img = zssr.chw(image())
    recipe = replace(TINY, affine=False, batch=12)
    fathers, modes = zssr.fathers(img, recipe, 4, np.random.default_rng(3))
    assert fathers.shape == (12, 3, 16, 16) and "affine" not in modes
    assert all(_is_dihedral_window(f[None], img) for f in fathers)
    # a window of another image is not one of them
    other = zssr.chw(image(seed=1))
    assert not _is_dihedral_window(other[..., :16, :16], img)


def test_zssrs_modes_follow_its_probabilities_and_the_affine_fathers_stay_in_range():
    img = zssr.chw(image(32, 32))
    recipe = replace(TINY, batch=400)
    fathers, modes = zssr.fathers(img, recipe, 4, np.random.default_rng(0))
    share = {m: modes.count(m) / len(modes) for m in ("as is", "dihedral", "affine")}
    assert abs(share["as is"] - zssr.LEAVE_AS_IS) < 0.04
    assert abs(share["dihedral"] - zssr.NO_INTERPOLATION) < 0.08
    assert abs(share["affine"] - (1 - zssr.LEAVE_AS_IS - zssr.NO_INTERPOLATION)) < 0.08
    assert fathers.min() >= 0 and fathers.max() <= 1
    # the same generator state gives the same fathers: a run is a function of (image, recipe, seed)
    again, _ = zssr.fathers(img, recipe, 4, np.random.default_rng(0))
    assert torch.equal(fathers, again)


def test_sons_are_the_fathers_bicubic_downscale_on_the_8_bit_grid():
    fathers = zssr.chw(image(16, 16))
    sons = zssr.sons(fathers, 4)
    expected = bicubic_downscale(fathers[0].numpy().transpose(1, 2, 0), 4)
    assert sons.shape == (1, 3, 4, 4)
    assert np.abs(sons[0].numpy().transpose(1, 2, 0) - expected).max() < 1e-6


def test_the_online_loop_sees_only_the_image_it_is_given(monkeypatch):
    lr = image()
    seen = []
    real = zssr.fathers

    def spy(img, recipe, scale, rng):
        seen.append(img.clone())
        return real(img, recipe, scale, rng)

    monkeypatch.setattr(zssr, "fathers", spy)
    zssr.train_zssr(lr, TINY, scale=4, seed=0)
    assert len(seen) == TINY.steps
    assert all(torch.equal(s, zssr.chw(lr)) for s in seen)


# --------------------------------------------------------------------------------------------------------
# The loop and inference.


def test_online_training_learns_the_images_own_mapping():
    lr = image(32, 32)
    recipe = replace(TINY, steps=60, crop=32, batch=2, affine=False, milestones=())
    model, record = zssr.train_zssr(lr, recipe, scale=4, seed=0)
    assert record["steps"] == 60 and record["seconds"] > 0
    assert record["final_loss"] < record["first_loss"]
    # the task it trained on: the LR image from its own son, better than bicubic
    son = bicubic_downscale(lr, 4)
    ours = np.abs(zssr.super_resolve(model, son, 4) - lr).mean()
    assert ours < np.abs(bicubic_upscale(son, 4) - lr).mean()


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path):
    lr = image()
    short = replace(TINY, steps=3)
    path = tmp_path / "zssr.pt"
    zssr.train_zssr(lr, short, scale=4, seed=2, checkpoint_path=path)
    resumed, record = zssr.train_zssr(lr, TINY, scale=4, seed=2, checkpoint_path=path)
    straight, _ = zssr.train_zssr(lr, TINY, scale=4, seed=2)
    assert record["steps"] == TINY.steps
    for a, b in zip(resumed.state_dict().values(), straight.state_dict().values()):
        assert torch.equal(a, b)
    # a finished run only loads
    again, _ = zssr.train_zssr(lr, TINY, scale=4, seed=2, checkpoint_path=path)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), straight.state_dict().values()))


def test_run_zssr_times_training_and_inference_and_can_self_ensemble():
    lr = image(16, 16)
    out = zssr.run_zssr(lr, replace(TINY, steps=2, ensemble=True), scale=4, seed=0)
    assert out["sr"].shape == (64, 64, 3) and out["sr"].dtype == np.float32
    assert out["total_seconds"] == pytest.approx(out["train_seconds"] + out["infer_seconds"], abs=2e-3)


def test_clear_errors_for_images_and_recipes_that_cannot_work():
    with pytest.raises(CompanionError, match="too small") as info:
        zssr.train_zssr(image(8, 8), TINY, scale=4, seed=0)
    assert "\n" not in str(info.value)
    with pytest.raises(CompanionError, match="multiple of ×4"):
        zssr.train_zssr(image(), replace(TINY, crop=18), scale=4, seed=0)


def test_the_profiles_keep_the_papers_recipe_where_it_fits():
    assert PAPER_ZSSR.size == "paper" and PAPER_ZSSR.steps == 3000 and PAPER_ZSSR.crop == 128
    assert PAPER_ZSSR.lr == 1e-3 and PAPER_ZSSR.affine and PAPER_ZSSR.min_scale == 0.5
    assert QUICK.zssr.affine and QUICK.zssr.crop % QUICK.scale == 0 and SMOKE.zssr.steps <= 2
