"""Chapter 4's augmentations inside the trainers (companion.engine.augmented, train_sr(augmentation=, same_grid=)):
they run, resume bit-identically, keep Cutout's erased pixels out of the loss, and refuse what cannot work."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from companion.data.augments import NONE, PRESETS, single
from companion.engine.augmented import augment_seed, augmented, augmented_batch, masked
from companion.engine.loop import batch_indices, paired_batch, step_seed, train
from companion.engine.settings import TrainConfig
from companion.engine.sr_training import psnr_validator, train_sr
from companion.errors import CompanionError

pytestmark = pytest.mark.usefixtures("one_thread")
RECIPE = TrainConfig(steps=6, batch_size=4, lr=1e-3, checkpoint_every=3)
DATA = dict(scale=2, patch=8, images=("astronaut",), progress=False)


class SameGrid(nn.Module):
    """A same-grid toy SR model (thesis §4.3.3): the input is the LR image on the HR grid, the output its size."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class Upsampling(nn.Module):
    """A toy ×2 SR model that takes the LR image as it is."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, x):
        return self.body(x)


def _weights(model):
    return [v.detach().clone() for v in model.state_dict().values()]


def _equal(a, b):
    return all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(b)))


def test_train_sr_with_moa_runs_on_a_same_grid_model_and_validates_on_the_grid():
    pairs = [(torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(1)),
              torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(2)))]
    model = SameGrid()
    result = train_sr(model, replace(RECIPE, val_every=3), seed=1, augmentation=PRESETS["sr"], same_grid=True,
                      validate=psnr_validator(pairs, same_grid=True), **DATA)
    assert result.steps_done == 6 and all(0 < v < 1 for v in result.losses)
    assert [s for s, _ in result.val] == [3, 6] and all(0 < v < 60 for _, v in result.val)
    assert not _equal(model, SameGrid())


def test_the_augmentation_changes_training_and_none_changes_nothing():
    plain, none, cutblur = SameGrid(), SameGrid(), SameGrid()
    train_sr(plain, RECIPE, seed=2, same_grid=True, **DATA)
    train_sr(none, RECIPE, seed=2, augmentation=NONE, same_grid=True, **DATA)
    train_sr(cutblur, RECIPE, seed=2, augmentation=single("cutblur"), same_grid=True, **DATA)
    assert _equal(plain, none) and not _equal(plain, cutblur)


def test_a_resumed_augmented_run_is_bit_identical(tmp_path):
    setting = PRESETS["sr"]
    whole = SameGrid()
    full = train_sr(whole, RECIPE, seed=3, augmentation=setting, same_grid=True, **DATA)
    path = tmp_path / "run.pt"
    first = SameGrid()
    half = train_sr(first, replace(RECIPE, steps=3), seed=3, augmentation=setting, same_grid=True,
                    checkpoint_path=path, **DATA)
    assert half.steps_done == 3
    second = SameGrid(seed=99)  # other weights: the checkpoint must supply everything
    resumed = train_sr(second, RECIPE, seed=3, augmentation=setting, same_grid=True, checkpoint_path=path, **DATA)
    assert resumed.steps_done == 6 and resumed.losses == full.losses
    assert _equal(whole, second)


def test_size_agnostic_augmentations_train_a_model_that_takes_the_lr_image_as_it_is():
    for setting in (single("mixup"), single("blend"), single("rgb"), single("cutmix"), single("cutout", alpha=0.1)):
        model = Upsampling()
        result = train_sr(model, replace(RECIPE, steps=2), seed=4, augmentation=setting, **DATA)
        assert result.steps_done == 2 and not _equal(model, Upsampling())


def test_a_wrong_combination_raises_one_line():
    for setting in (PRESETS["sr"], single("cutblur")):
        with pytest.raises(CompanionError, match="same_grid=True") as info:
            train_sr(Upsampling(), RECIPE, seed=0, augmentation=setting, **DATA)
        assert "\n" not in str(info.value)
    with pytest.raises(CompanionError, match="must be an Augmentation"):
        train_sr(Upsampling(), RECIPE, seed=0, augmentation="cutblur", **DATA)
    with pytest.raises(CompanionError, match="reduction='none'"):
        masked(lambda out, target: (out - target).abs().mean())(torch.zeros(1, 3, 2, 2),
                                                                (torch.zeros(1, 3, 2, 2), torch.ones(1, 1, 2, 2)))


class Spiky(nn.Module):
    """Outputs 1000 wherever the input is erased (0 in every channel): an unmasked loss would explode."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return x + 0.01 * self.conv(x) + 1000.0 * (x.abs().sum(1, keepdim=True) == 0)


def _pairs(n=8, size=12):
    g = torch.Generator().manual_seed(5)
    return [{"distorted": 0.1 + 0.8 * torch.rand(3, size, size, generator=g),
             "clean": 0.1 + 0.8 * torch.rand(3, size, size, generator=g)} for _ in range(n)]


def test_the_cutout_mask_really_removes_pixels_from_the_loss():
    """The same-size restoration path (Chapter 7's pairs) with one call of ``augmented``."""
    data, setting, seed = _pairs(), single("cutout", alpha=0.3), 6
    batch, loss = augmented(paired_batch("distorted", "clean"), F.l1_loss, setting, seed=seed)
    cfg = TrainConfig(steps=3, batch_size=4, lr=1e-4, seed=seed)
    result = train(Spiky(), data, cfg, loss=loss, batch=batch, model_name="spiky", progress=False)
    # the loss of step 1 is the mean |output - clean| over the kept pixels only, recomputed by hand
    x, (y, mask) = augmented_batch(paired_batch("distorted", "clean"), setting, seed=seed)(data, _indices(cfg), 0)
    erased = mask == 0
    assert 0.25 < erased.float().mean() < 0.35 and torch.equal(erased, (x == 0).all(1, keepdim=True))
    reference = Spiky()
    with torch.no_grad():
        out = reference(x)
    kept = (~erased).expand_as(y)
    assert result.losses[0] == pytest.approx(float((out - y).abs()[kept].mean()), rel=1e-5)
    assert result.losses[0] < 1 < float(F.l1_loss(out, y))  # unmasked, the erased pixels would dominate


def _indices(cfg):
    return batch_indices(len(_pairs()), cfg, 0)


def test_step_seeds_differ_from_the_loops_and_between_steps():
    assert augment_seed(0, 0) != step_seed(0, 0)
    assert len({augment_seed(s, t) for s in range(3) for t in range(3)}) == 9
