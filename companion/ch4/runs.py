"""Training and scoring one Chapter 4 model (:class:`~companion.ch4.config.AugmentedRun`), shared by the
notebooks 04b-04d and the zoo.

* **Super-resolution** (``task="sr"``, thesis §4.4): a same-grid network (the LR image resized to the HR size
  by nearest neighbour, :func:`companion.data.augments.to_hq_grid`, then a pixel-unshuffle inside the model)
  trained by the one SR trainer, :func:`companion.engine.sr_training.train_sr`, with the run's augmentation
  (:func:`augmentation_of`) applied to every batch on the HR grid, on ``fraction`` of the training data.
* **Denoising** (``task="denoise"``, §4.5.2): a scale-1 network trained on clean patches of the training
  photographs with additive Gaussian noise of σ = ``noise_sigma`` (0–255 scale; a fresh draw every step,
  seeded by the step), through :func:`companion.engine.loop.train` with the same augmenting batch function.

Scores (:func:`sr_test_scores`, :func:`denoise_test_scores`) are the SR protocol's Y PSNR
(:func:`companion.metrics.sr_scores`) for SR and RGB PSNR for denoising (the thesis' metrics, §4.4), on
centre crops of the test photographs; :func:`validation_psnr` uses the validation photograph only. A model is
loaded from the zoo when it holds one trained with exactly the run's settings (:func:`trained_model`).
Used by :mod:`companion.ch4.frequencies`, :mod:`companion.ch4.where`, :mod:`companion.ch4.tables` and
:mod:`companion.ch4.zoo`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from companion.ch4.config import AugmentedRun, run_key
from companion.data.augments import NONE, PRESETS, Augmentation, single, to_hq_grid
from companion.data.images import centre_crop_at_most, embedded_image
from companion.data.sr import SRPatches, bicubic_downscale, modcrop
from companion.data.tensors import to_chw
from companion.engine.augmented import augmented
from companion.engine.loop import LOSSES, paired_batch, psnr_on_pairs, train
from companion.engine.sr_training import train_sr
from companion.errors import CompanionError
from companion.metrics import psnr, sr_scores
from companion.models import build_model, model_config
from companion.summary import loss_curve
from companion.zoo import ZooEntry, digest, find, load_entry

#: The validation photograph's centre crop (HR px) behind ``val_psnr`` and every quick-profile choice.
VALIDATION_CROP = 256


def augmentation_of(run: AugmentedRun) -> Augmentation:
    """The :class:`companion.data.augments.Augmentation` a run names: none, one of Table 4.1 alone, or MoA
    with the run's preset (:attr:`AugmentedRun.preset`)."""
    if run.augmentation == "none":
        return NONE
    if run.augmentation == "moa":
        return PRESETS[run.preset]
    return single(run.augmentation)


def network_config(run: AugmentedRun) -> dict:
    """Constructor arguments of the run's network (JSON-ready): same-grid at ×scale for SR, scale 1 for
    denoising."""
    if run.task == "sr":
        return dict(_registry_config(run.model, run.size, scale=run.recipe.scale), same_grid=True)
    return _registry_config(run.model, run.size, scale=1)


def _registry_config(model: str, size: str, *, scale: int) -> dict:
    config = model_config(model, size)
    if "scales" in config:      # the multi-scale CARN: one branch at this scale
        config["scales"] = [scale]
    elif "scale" in config or model != "srcnn":
        config["scale"] = scale
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def initial_network(run: AugmentedRun, seed: int) -> nn.Module:
    """The run's network with PyTorch's default initialisation after ``torch.manual_seed(seed)``."""
    torch.manual_seed(int(seed))
    return build_model(run.model, **network_config(run))


def zoo_entry(run: AugmentedRun, seed: int) -> ZooEntry:
    """The zoo entry of ``run`` trained with ``seed`` (``ch4/<task>-<model>-<augmentation>[-<pct>pct]-seed<k>``)."""
    percent = f"-{round(run.fraction * 100)}pct" if run.fraction < 1 else ""
    name = f"ch4/{run.task}-{run.model}-{run.augmentation}{percent}-seed{seed}"
    return ZooEntry(name=name, model=run.model, config=network_config(run),
                    key=dict(run_key(run, seed), config=network_config(run), init="pytorch default"),
                    label=run.label())


@dataclass(frozen=True)
class RunSpec:
    """A run as the zoo looks it up (:func:`companion.zoo.find`)."""

    run: AugmentedRun

    def zoo_entry(self, seed: int) -> ZooEntry:
        return zoo_entry(self.run, seed)


# --------------------------------------------------------------------------------------------------------
# Data.


def training_images(run: AugmentedRun) -> list[np.ndarray]:
    """The training photographs, each cropped to its centred ``fraction`` of the area (the same aspect)."""
    if run.source != "bundled":
        raise CompanionError("only the embedded photographs (source='bundled') have a data fraction here; the "
                             "full profile's DIV2K runs use companion.data.sr.SRPatches.div2k")
    images = []
    for name in run.split.train:
        image = embedded_image(name)
        if run.fraction < 1:
            h, w = image.shape[:2]
            side = float(np.sqrt(run.fraction))
            ch, cw = max(8, int(round(h * side))), max(8, int(round(w * side)))
            top, left = (h - ch) // 2, (w - cw) // 2
            image = image[top:top + ch, left:left + cw]
        images.append(np.ascontiguousarray(image))
    return images


def sr_patches(run: AugmentedRun, seed: int) -> SRPatches:
    """The SR training patches of ``run``: :func:`training_images` (each photograph's centred ``fraction``),
    MATLAB-bicubic LR, random ``patch``-px LR positions with flips and rotations, seeded by ``seed``; each
    photograph 8 times per pass, as :func:`companion.data.sr.training_patches` does."""
    return SRPatches(training_images(run), scales=run.recipe.scale, patch=run.recipe.patch, seed=int(seed), repeat=8)


def lr_on_grid(hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(the MATLAB-bicubic ×``scale`` LR image resized to the HR grid by nearest neighbour, the HR image cropped to
    a multiple of the scale), both H×W×3 float32."""
    hr = modcrop(hr, scale)
    lr = bicubic_downscale(hr, scale)
    return np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1), hr


def add_noise(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """``image`` + Gaussian noise of σ = ``sigma`` / 255 (seeded), clipped to [0, 1] (§4.5.2's synthetic noise)."""
    rng = np.random.default_rng(int(seed))
    noisy = image + rng.normal(0.0, sigma / 255.0, image.shape).astype(np.float32)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32)


class NoisyPatches(torch.utils.data.Dataset):
    """Random ``patch``-px crops of ``images`` with fresh Gaussian noise of σ = ``sigma`` (0–255) every step:
    items ``{"distorted", "clean"}`` (3×p×p float32), a pure function of (seed, step, index)."""

    def __init__(self, images, *, patch: int, sigma: float, seed: int, repeat: int = 8):
        self.images, self.patch, self.sigma, self.seed, self.repeat = list(images), int(patch), float(sigma), int(seed), repeat
        self.epoch = 0
        if any(min(im.shape[:2]) < self.patch for im in self.images):
            raise CompanionError(f"a training image is smaller than the {self.patch}-px patch")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.images) * self.repeat

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng((self.seed, self.epoch, int(index)))
        image = self.images[index % len(self.images)]
        h, w = image.shape[:2]
        top, left = int(rng.integers(0, h - self.patch + 1)), int(rng.integers(0, w - self.patch + 1))
        clean = np.ascontiguousarray(image[top:top + self.patch, left:left + self.patch])
        clean = np.rot90(clean[:, ::-1] if rng.random() < 0.5 else clean, int(rng.integers(0, 4))).copy()
        noisy = np.clip(clean + rng.normal(0, self.sigma / 255.0, clean.shape), 0, 1).astype(np.float32)
        return {"distorted": to_chw(noisy).float(), "clean": to_chw(clean).float()}


def validation_pairs(run: AugmentedRun, crop: int = VALIDATION_CROP) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(input, target) tensors of the validation photograph(s): the LR image on the HR grid for SR, a noisy
    copy (seed 0) for denoising."""
    pairs = []
    for name in run.split.validation:
        hr = centre_crop_at_most(embedded_image(name), crop)
        if run.task == "sr":
            lq, hr = lr_on_grid(hr, run.recipe.scale)
        else:
            lq = add_noise(hr, run.noise_sigma, seed=0)
        pairs.append((to_chw(lq).float(), to_chw(np.ascontiguousarray(hr)).float()))
    return pairs


def validation_psnr(model: nn.Module, run: AugmentedRun) -> float:
    """Mean RGB PSNR of ``model`` on :func:`validation_pairs` (the number every quick-profile choice is judged by)."""
    return psnr_on_pairs(model, validation_pairs(run))


# --------------------------------------------------------------------------------------------------------
# Training.


@dataclass
class Trained:
    """What training (or the zoo) gave: steps, seconds, the loss curve, the validation PSNR, and ``source``
    (``zoo:<name>`` or the checkpoint path)."""

    steps: int
    seconds: float
    loss_curve: list
    val_psnr: float
    source: str


def train_run(run: AugmentedRun, seed: int, *, checkpoint_path: Path | None = None, progress: bool = True,
              threads: int | None = None, device="cpu") -> tuple[nn.Module, Trained]:
    """Train ``run`` with ``seed`` (resuming ``checkpoint_path`` when given); return the model and a record."""
    model = initial_network(run, seed)
    recipe = replace(run.recipe.train, seed=int(seed))
    augmentation = augmentation_of(run)
    if run.task == "sr":
        result = train_sr(model, recipe, seed=seed, scale=run.recipe.scale, patch=run.recipe.patch,
                          source=run.source, patches=sr_patches(run, seed) if run.source == "bundled" else None,
                          loss=run.recipe.loss, device=device, threads=threads, progress=progress,
                          checkpoint_path=checkpoint_path, model_name=run.model, augmentation=augmentation,
                          same_grid=True)
    elif run.task == "denoise":
        if threads:
            torch.set_num_threads(int(threads))
        data = NoisyPatches(training_images(run), patch=run.recipe.patch, sigma=run.noise_sigma, seed=seed)
        batch, loss = augmented(paired_batch("distorted", "clean"), LOSSES[run.recipe.loss], augmentation, seed=seed)
        result = train(model, data, replace(recipe, val_every=0), loss=loss, batch=batch,
                       model_name=run.model, device=device, checkpoint_path=checkpoint_path, progress=progress)
    else:
        raise CompanionError(f"unknown task {run.task!r}; a Chapter 4 run is 'sr' or 'denoise'")
    model.eval()
    record = Trained(steps=result.steps_done, seconds=float(result.seconds),
                     loss_curve=loss_curve(result.losses, points=30, digits=6),
                     val_psnr=round(validation_psnr(model, run), 3),
                     source=str(checkpoint_path) if checkpoint_path else "memory")
    return model, record


def trained_model(run: AugmentedRun, seed: int, *, use_zoo: bool, work_dir: Path | None = None,
                  progress: bool = True, device="cpu") -> tuple[nn.Module, Trained]:
    """The run's model for ``seed``: from the zoo when ``use_zoo`` and it holds this exact run, else trained
    (resuming a checkpoint named by the run's digest under ``work_dir``)."""
    if use_zoo:
        entry = find(RunSpec(run), seed)
        if entry is not None:
            model, meta = load_entry(entry)
            return model.to(device).eval(), Trained(int(meta["steps"]), float(meta["seconds"]), meta["loss_curve"],
                                                    float(meta["val_psnr"]), f"zoo:{entry.name}")
    path = None
    if work_dir is not None:
        path = Path(work_dir) / f"ch4-{digest(run_key(run, seed))}.pt"
    return train_run(run, seed, checkpoint_path=path, progress=progress, device=device)


# --------------------------------------------------------------------------------------------------------
# Inference and scores.


@torch.no_grad()
def apply(model: nn.Module, image: np.ndarray) -> np.ndarray:
    """``model`` on one H×W×3 image (already on the output grid), clipped to [0, 1], as H×W×3 float32."""
    device = next(model.parameters()).device
    out = model.eval()(to_chw(np.ascontiguousarray(image)).float()[None].to(device))
    return out[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(np.float32)


def test_images(run: AugmentedRun, crop: int) -> dict[str, np.ndarray]:
    """The test photographs, each its centre ``crop`` px (0 = whole)."""
    return {name: (centre_crop_at_most(embedded_image(name), crop) if crop else embedded_image(name))
            for name in run.split.test}


def sr_test_scores(model: nn.Module, run: AugmentedRun, crop: int) -> dict[str, dict]:
    """``{image: {"psnr", "ssim"}}``: the SR protocol (Y channel, border = scale) on the test photographs."""
    scores = {}
    for name, hr in test_images(run, crop).items():
        lq, hr = lr_on_grid(hr, run.recipe.scale)
        s = sr_scores(apply(model, lq), hr, run.recipe.scale)
        scores[name] = {"psnr": float(s["psnr"]), "ssim": float(s["ssim"])}
    return scores


def denoise_test_scores(model: nn.Module, run: AugmentedRun, crop: int, sigma: float) -> dict[str, float]:
    """``{image: RGB PSNR}`` of ``model`` on the test photographs with noise σ = ``sigma`` (seed 0)."""
    return {name: psnr(apply(model, add_noise(clean, sigma, seed=0)), clean)
            for name, clean in test_images(run, crop).items()}
