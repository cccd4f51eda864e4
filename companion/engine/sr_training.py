"""The one super-resolution trainer: a network trained on paired LR/HR patches with a pixel loss.

Every chapter that trains a super-resolution network with a pixel loss (the thesis' Chapters 2-5: "trained
with L1 loss" on bicubic-downscaled patch pairs) calls :func:`train_sr`. It takes the network (built and
initialised by the caller, so the chapter owns its model and its initialisation), and does the rest the same
way for everyone:

* the patches: :func:`companion.data.sr.training_patches` (MATLAB-bicubic LR of the named embedded photographs,
  or DIV2K's training images, random positions with flips and rotations seeded by ``seed``; the LR images are
  made once per process);
* the loss: a :data:`LOSSES` name (``"l1"``, ``"l2"``);
* the recipe: a :class:`companion.engine.settings.TrainConfig` (steps, batch, Adam, the LR schedule, gradient
  clip), its ``seed`` set to ``seed`` (batches: every run of a seed sees the same patches in the same order);
* validation: a callback ``validate(model) -> float`` every ``recipe.val_every`` steps (none: no validation);
  :func:`psnr_validator` makes one from (LR, HR) pairs;
* ``threads`` (PyTorch CPU threads), ``progress`` (a bar and messages, else silent) and a resumable
  checkpoint (``checkpoint_path``: saved every ``recipe.checkpoint_every`` steps and at the end; a rerun resumes
  it, a finished run only loads);
* Chapter 4's augmentations (``augmentation``: a :class:`companion.data.augments.Augmentation`, e.g.
  ``PRESETS["sr"]`` or ``single("cutblur")``) applied to every batch, seeded by (``seed``, step), with Cutout's
  erased pixels out of the loss (:mod:`companion.engine.augmented`); ``same_grid=True`` for the thesis'
  same-grid models (§4.3.3: the network takes the LR image resized to the HR size, nearest neighbour, and
  returns an image of that size), which CutBlur needs. Without either, batches are exactly as before.

The loop itself is :func:`companion.engine.loop.train`. Used by ``companion.ch2`` (the zoo's single-scale models,
Table 2.3's runs, PCARN-M's L1 stage).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
from torch import nn

from companion.data.augments import NONE, Augmentation, to_hq_grid
from companion.data.sr import training_patches
from companion.engine.augmented import augmented
from companion.engine.loop import LOSSES, TrainResult, paired_batch, psnr_on_pairs, train
from companion.engine.settings import TrainConfig
from companion.errors import CompanionError


def psnr_validator(pairs, *, device="cpu", same_grid: bool = False) -> Callable[[nn.Module], float]:
    """``validate(model)``: the mean RGB PSNR of ``model`` on ``pairs`` ([(LR 3×h×w, HR 3×sh×sw)] tensors;
    :func:`companion.engine.loop.psnr_on_pairs`); ``same_grid``: each LR resized to its HR's size first (a
    same-grid model)."""
    if not pairs:
        raise CompanionError("no validation pairs; pass validate=None to train without validation")
    if same_grid:
        pairs = [(to_hq_grid(lr, tuple(hr.shape[-2:])), hr) for lr, hr in pairs]
    return lambda model: psnr_on_pairs(model, pairs, device=device)


def _silent(_message: str) -> None:
    return None


def train_sr(model: nn.Module, recipe: TrainConfig, *, seed: int, scale: int, patch: int, source: str = "bundled",
             images: Sequence[str] = (), loss: str = "l1", validate: Callable[[nn.Module], float] | None = None,
             device="cpu", threads: int | None = None, progress: bool = True, checkpoint_path=None,
             model_name: str = "sr", data_root=None, augmentation: Augmentation | None = None,
             same_grid: bool = False, patches=None) -> TrainResult:
    """Train ``model`` (its ``forward(lr)`` returns the ×``scale`` image) in place on ``patch``-px LR patches of
    ``images`` (``source="bundled"``) or DIV2K (``source="data"``) with ``loss`` and ``recipe`` (its seed set to
    ``seed``), validating with ``validate`` every ``recipe.val_every`` steps when given. With
    ``checkpoint_path`` the run saves to and resumes from that file (its ``model_name`` is checked on load).
    ``threads`` sets PyTorch's CPU threads. ``augmentation`` augments every batch (None: none); with
    ``same_grid`` the model takes the LR patch resized to the HR size (then validate with
    ``psnr_validator(..., same_grid=True)``). Returns the loop's :class:`companion.engine.loop.TrainResult`."""
    if loss not in LOSSES:
        raise CompanionError(f"unknown loss {loss!r}; choose one of: {', '.join(LOSSES)}")
    if augmentation is not None and not isinstance(augmentation, Augmentation):
        raise CompanionError(f"augmentation must be an Augmentation (companion.data.augments.single(...), "
                             f"PRESETS[...]) or None; got {type(augmentation).__name__}")
    if augmentation is not None and augmentation.needs_same_grid and not same_grid:
        raise CompanionError(f"{augmentation.describe()} can draw CutBlur, which pastes between LR and HR at one "
                             "size: train a same-grid model with same_grid=True, or leave cutblur out")
    if threads:
        torch.set_num_threads(int(threads))
    if patches is None:  # ``patches``: a ready dataset of {"lr", "hr"} items instead (SimUSR's LR-only pairs)
        patches = training_patches(source, images, scale=scale, patch=patch, seed=seed, data_root=data_root)
    recipe = replace(recipe, seed=int(seed))
    if validate is None:
        recipe = replace(recipe, val_every=0)
    batch, loss_fn = paired_batch("lr", "hr"), LOSSES[loss]
    if augmentation is not None or same_grid:
        batch, loss_fn = augmented(batch, loss_fn, augmentation or NONE, seed=int(seed), same_grid=same_grid)
    return train(model, patches, recipe, loss=loss_fn, batch=batch, model_name=model_name,
                 device=device, checkpoint_path=checkpoint_path, validate=validate, progress=progress,
                 log=None if progress else _silent)


__all__ = ["LOSSES", "psnr_validator", "train_sr"]
