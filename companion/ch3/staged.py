"""Chapter 3's ×8 data and Algorithm 1's staged training (thesis §3.3-3.4), shared by the experiment of
``03_progressive_x8`` (:mod:`companion.ch3.progressive`) and the zoo build (:mod:`companion.ch3.zoo`).

**Data** (§3.4.1: "we downsample the images ×8 scale with Bicubic kernel"). Every HR image is cropped to a
multiple of 8 (:func:`companion.data.sr.modcrop`); its ×8 LR image and the targets of the three stages are
MATLAB-bicubic downscales of it (:func:`companion.data.sr.bicubic_downscale`, 8-bit): stage s (head ×2^s of
the LR image) learns the HR image downscaled by 8 / 2^s, i.e. ×4, ×2 and the HR image itself
(:func:`companion.models.progressive_carn.stage_target_downscale`). One reading where the thesis is silent:
the intermediate targets are downscaled from the HR image directly, not from each other.
:class:`ProgressivePatches` cuts aligned LR / target patches (random position, the same random flips and 90°
rotation on both, §3.4.1) for the current ``stage``; every crop is a function of (seed, stage, step, index).
:func:`evaluation_images` gives the test images with their LR inputs and every head's target.

**Staged training** (Algorithm 1, :func:`fit_stage`): stage 1 trains the entry conv, CARN module 1 and toRGB 1
on ×8 → ×4; stage 2 adds module 2 and toRGB 2 (toRGB 1 is "detached": it is no longer trained) on ×8 → ×2;
stage 3 adds module 3 and toRGB 3 on ×8 → HR. Each stage is one call of the shared loop
:func:`companion.engine.loop.train` with the model's own optimizer groups
(:meth:`companion.models.progressive_carn.ProgressiveCARN.param_groups`: the new module at γ, earlier ones at
0.1× per stage since they were added, Algorithm 1's Γ ← 0.1 Γ; ``decay="prose"`` for the one-off 0.1×), and
a fresh Adam each stage (the thesis does not say whether the moments carry over; Algorithm 1 rebuilds S, so a
new optimizer is read here). Nothing is frozen. The loss is L1 (CARN's, §2.4; Chapter 3 names none). Stage 0
is the single-stage baseline (Table 3.1's CARN-B24U4 reading): every parameter at γ on ×8 → HR for the
stages' total steps.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from companion.ch3.config import ProgressiveSpec, run_settings, stage_train_config
from companion.data import folders
from companion.data.images import centre_crop_at_most, embedded_image, load_image, to_float, to_uint8
from companion.data.sr import benchmark_paths, bicubic_downscale, modcrop
from companion.data.tensors import augment, to_chw
from companion.engine.loop import LOSSES, paired_batch, train
from companion.errors import CompanionError
from companion.models import build_model
from companion.summary import loss_curve
from companion.zoo import digest

#: The output scales of the three stages' heads (vs the ×8 LR input), and the test-set scale.
HEAD_SCALES = (2, 4, 8)
SCALE = 8


# --------------------------------------------------------------------------------------------------------
# Data: ×8 LR images and the three stages' targets.


def stage_images(hr: np.ndarray, scale: int = SCALE) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """(LR, {head scale: target}) of an H×W×3 HR image: the HR image cropped to a multiple of ``scale``, its
    MATLAB-bicubic ×``scale`` downscale (8-bit), and the targets of heads ×2, ×4, … ×``scale`` of the LR image:
    the HR image bicubic-downscaled by ``scale`` / head (the ×``scale`` head's target is the HR image)."""
    hr = modcrop(to_float(hr), scale)
    lr = bicubic_downscale(hr, scale)
    targets = {}
    head = 2
    while head <= scale:
        targets[head] = hr if head == scale else bicubic_downscale(hr, scale // head)
        head *= 2
    return lr, targets


def _load(item) -> tuple[str, np.ndarray]:
    """(name, HR image) of an embedded photograph's name or an image file."""
    if isinstance(item, (str, Path)) and Path(item).suffix:
        return Path(item).stem, load_image(item)
    return str(item), embedded_image(str(item))


class ProgressivePatches(Dataset):
    """Aligned (×8 LR patch, stage target patch) pairs of §3.4.1 for the current :attr:`stage`.

    ``images``: embedded photograph names or HR image paths; ``patch``: the LR patch side; items are dicts
    ``lr`` (3×p×p), ``target`` (3×(p·2^stage)²), ``name``, ``stage``. ``len()`` is images × ``repeat``; the
    engine's loop calls :meth:`set_epoch` with the step. LR images and targets are made once per image (uint8
    in memory) on first use."""

    def __init__(self, images: Sequence, *, patch: int, stage: int = 1, seed: int = 0, repeat: int = 1,
                 augment: bool = True, stages: int = 3):
        images = list(images)
        if not images:
            raise CompanionError("no training images given")
        if isinstance(patch, bool) or not isinstance(patch, int) or patch < 1:
            raise CompanionError(f"patch must be a whole number of LR pixels >= 1, got {patch!r}")
        self.images, self.patch, self.seed, self.repeat, self.augment = images, patch, int(seed), int(repeat), augment
        self.stages = int(stages)
        self.stage = stage
        self.epoch = 0
        self._cache: dict[int, tuple[str, np.ndarray, dict[int, np.ndarray]]] = {}

    @property
    def stage(self) -> int:
        return self._stage

    @stage.setter
    def stage(self, stage: int) -> None:
        if isinstance(stage, bool) or not isinstance(stage, int) or not 1 <= stage <= self.stages:
            raise CompanionError(f"stage must be 1..{self.stages}; got {stage!r}")
        self._stage = stage

    def __len__(self) -> int:
        return len(self.images) * self.repeat

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def pair(self, image: int) -> tuple[str, np.ndarray, dict[int, np.ndarray]]:
        """(name, LR, {head: target}) of training image ``image`` as uint8 arrays, made once."""
        if image not in self._cache:
            name, hr = _load(self.images[image])
            lr, targets = stage_images(hr, 2 ** self.stages)
            if min(lr.shape[:2]) < self.patch:
                raise CompanionError(f"image {name}'s ×{2 ** self.stages} LR image is {lr.shape[1]}×{lr.shape[0]} "
                                     f"px, smaller than patch={self.patch}; use a smaller patch or leave it out")
            self._cache[image] = (name, to_uint8(lr), {s: to_uint8(t) for s, t in targets.items()})
        return self._cache[image]

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        name, lr, targets = self.pair(index % len(self.images))
        s, p = 2 ** self.stage, self.patch
        target = targets[s]
        rng = np.random.default_rng([self.seed, self.stage, self.epoch, index])
        top, left = int(rng.integers(0, lr.shape[0] - p + 1)), int(rng.integers(0, lr.shape[1] - p + 1))
        crops = [lr[top:top + p, left:left + p], target[top * s:(top + p) * s, left * s:(left + p) * s]]
        if self.augment:
            hflip, vflip, rot = bool(rng.integers(2)), bool(rng.integers(2)), int(rng.integers(4))
            crops = [augment(a, hflip, vflip, rot) for a in crops]
        lr_t, target_t = (to_chw(np.ascontiguousarray(a)).float().div_(255.0) for a in crops)
        return {"lr": lr_t, "target": target_t, "name": name, "stage": self.stage}


_DATA: dict = {}  # per process: (kind, settings) -> dataset / test images, built once


def training_patches(spec: ProgressiveSpec, seed: int, data_root=None) -> ProgressivePatches:
    """The training patches of ``spec``: the embedded photographs ``spec.split.train`` (``"bundled"``, each
    repeated 8 times per "epoch") or DIV2K's 800 training images (``"data"``); kept per process, re-seeded."""
    patch = spec.recipe.patch
    key = ("train", spec.source, tuple(spec.split.train), patch, str(data_root))
    if key not in _DATA:
        if spec.source == "data":
            _DATA[key] = ProgressivePatches(folders.div2k_hr_paths(data_root, "train"), patch=patch, seed=seed)
        else:
            _DATA[key] = ProgressivePatches(spec.split.train, patch=patch, seed=seed, repeat=8)
    data = _DATA[key]
    data.seed = int(seed)
    return data


def evaluation_images(spec: ProgressiveSpec, eval_set: str,
                      data_root=None) -> list[tuple[str, np.ndarray, dict[int, np.ndarray]]]:
    """``[(name, LR, {head: target})]`` of one evaluation set: ``"embedded"`` (the test photographs
    ``spec.split.test``) or a :data:`companion.data.sr.BENCHMARKS` name read from the data root; whole or
    centre-cropped to ``spec.eval_crop`` HR px; made once per process. (A :class:`companion.data.splits.Split`
    never holds a test image among its training ones.)"""
    if eval_set == "embedded":
        key = ("test", eval_set, tuple(spec.split.test), spec.eval_crop, str(data_root))
    if key not in _DATA:
        if eval_set == "embedded":
            items = list(spec.split.test)
        elif eval_set == "DIV2K":
            items = folders.div2k_hr_paths(data_root, "valid")
        else:
            items = benchmark_paths(eval_set, data_root)
        out = []
        for item in items:
            name, hr = _load(item)
            if spec.eval_crop:
                hr = centre_crop_at_most(hr, spec.eval_crop)
            out.append((name, *stage_images(hr, SCALE)))
        _DATA[key] = out
    return _DATA[key]


def chw(image: np.ndarray) -> torch.Tensor:
    """An H×W×3 array as a 1×3×H×W float tensor."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()[None]


# --------------------------------------------------------------------------------------------------------
# The model and its stages.


def initial_model(spec: ProgressiveSpec, layout: str = "progressive", seed: int = 0):
    """The progressive CARN of ``spec.size`` (or Table 3.1's CARN-B24U4 reading, ``layout="end"``), with
    PyTorch's default initialisation drawn after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return build_model("progressive_carn", spec.size, layout=layout)


def checkpoint_path(folder, spec: ProgressiveSpec, kind: str, seed: int, stage: int) -> Path:
    """``<folder>/<kind>-stage<stage>-seed<seed>-<digest>.pt``: a rerun with the same settings resumes (a
    finished stage only evaluates); changed settings get a new file."""
    return Path(folder) / f"{kind}-stage{stage}-seed{seed}-{digest(run_settings(spec, kind, seed, stage))[:10]}.pt"


def fit_stage(model, data: ProgressivePatches, spec: ProgressiveSpec, seed: int, stage: int, *, device="cpu",
              checkpoint_dir=None, progress: bool = False) -> dict:
    """Train stage ``stage`` of Algorithm 1 (``stage`` 0: the single-stage baseline, every parameter at γ for
    the recipe's total steps) through :func:`companion.engine.loop.train`; with ``checkpoint_dir`` it saves to
    (and resumes from) :func:`checkpoint_path`. Returns ``steps``, ``seconds``, ``first_loss``, ``final_loss``,
    ``loss_curve`` and ``checkpoint`` (the file's name, or None)."""
    recipe = spec.recipe
    if stage == 0:
        kind, scale, name = "baseline", SCALE, f"progressive_carn-{spec.baseline}"
        params = [p for m in (model.stage_modules(3).values() if spec.baseline == "progressive" else [[model]])
                  for mod in m for p in mod.parameters()]
        groups = [{"name": "all", "params": params}]
        data.stage = 3
    else:
        kind, scale, name = "progressive", 2 ** stage, "progressive_carn"
        groups = model.param_groups(stage, lr=recipe.train.lr, decay=recipe.decay)
        data.stage = stage
    path = None if checkpoint_dir is None else checkpoint_path(checkpoint_dir, spec, kind, seed, stage)
    result = train(model.at_scale(scale), data, stage_train_config(spec, stage, seed), loss=LOSSES[recipe.loss],
                   batch=paired_batch("lr", "target"), model_name=name, device=device, checkpoint_path=path,
                   progress=progress, log=lambda _msg: None, param_groups=groups)
    tail = max(1, len(result.losses) // 10)
    return dict(steps=result.steps_done, seconds=round(result.seconds, 2), first_loss=float(result.losses[0]),
                final_loss=float(np.mean(result.losses[-tail:])), loss_curve=loss_curve(result.losses),
                checkpoint=None if path is None else path.name)
