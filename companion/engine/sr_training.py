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
  it, a finished run only loads).

The loop itself is :func:`companion.engine.loop.train`. Used by ``companion.ch2`` (the zoo's single-scale models,
Table 2.3's runs, PCARN-M's L1 stage).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
from torch import nn

from companion.data.sr import training_patches
from companion.engine.loop import LOSSES, TrainResult, paired_batch, psnr_on_pairs, train
from companion.engine.settings import TrainConfig
from companion.errors import CompanionError


def psnr_validator(pairs, *, device="cpu") -> Callable[[nn.Module], float]:
    """``validate(model)``: the mean RGB PSNR of ``model`` on ``pairs`` ([(LR 3×h×w, HR 3×sh×sw)] tensors;
    :func:`companion.engine.loop.psnr_on_pairs`)."""
    if not pairs:
        raise CompanionError("no validation pairs; pass validate=None to train without validation")
    return lambda model: psnr_on_pairs(model, pairs, device=device)


def _silent(_message: str) -> None:
    return None


def train_sr(model: nn.Module, recipe: TrainConfig, *, seed: int, scale: int, patch: int, source: str = "bundled",
             images: Sequence[str] = (), loss: str = "l1", validate: Callable[[nn.Module], float] | None = None,
             device="cpu", threads: int | None = None, progress: bool = True, checkpoint_path=None,
             model_name: str = "sr", data_root=None) -> TrainResult:
    """Train ``model`` (its ``forward(lr)`` returns the ×``scale`` image) in place on ``patch``-px LR patches of
    ``images`` (``source="bundled"``) or DIV2K (``source="data"``) with ``loss`` and ``recipe`` (its seed set to
    ``seed``), validating with ``validate`` every ``recipe.val_every`` steps when given. With
    ``checkpoint_path`` the run saves to and resumes from that file (its ``model_name`` is checked on load).
    ``threads`` sets PyTorch's CPU threads. Returns the loop's :class:`companion.engine.loop.TrainResult`."""
    if loss not in LOSSES:
        raise CompanionError(f"unknown loss {loss!r}; choose one of: {', '.join(LOSSES)}")
    if threads:
        torch.set_num_threads(int(threads))
    patches = training_patches(source, images, scale=scale, patch=patch, seed=seed, data_root=data_root)
    recipe = replace(recipe, seed=int(seed))
    if validate is None:
        recipe = replace(recipe, val_every=0)
    return train(model, patches, recipe, loss=LOSSES[loss], batch=paired_batch("lr", "hr"), model_name=model_name,
                 device=device, checkpoint_path=checkpoint_path, validate=validate, progress=progress,
                 log=None if progress else _silent)


__all__ = ["LOSSES", "psnr_validator", "train_sr"]
