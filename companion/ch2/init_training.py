"""One training run of Table 2.3 (thesis §2.4.4), for ``02b_initialisation`` and the model zoo's ``ch2/02b``:
the single-scale CARN of the profile's size (:func:`companion.ch2.init_schemes.build_carn`), its weights drawn
with one scheme (:func:`companion.ch2.init_schemes.initialise`, zero biases), trained by the one SR trainer
(:func:`companion.engine.sr_training.train_sr`) on SR patches of the profile's training photographs, the same
steps and data order for every scheme of a seed. :func:`run_settings` is everything that shapes the weights
(its digest names checkpoints; :mod:`companion.ch2.zoo` keys the zoo entries on it).
"""
from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from companion.ch2.init_schemes import build_carn, initialise
from companion.data.images import centre_crop_at_most, embedded_image
from companion.data.sr import lr_hr_pair
from companion.engine.sr_training import psnr_validator, train_sr
from companion.errors import CompanionError
from companion.summary import loss_curve
from companion.zoo import digest


# --------------------------------------------------------------------------------------------------------
# One run of Table 2.3.

_VALIDATION_PAIRS: dict = {}  # per process: the validation pairs, built once


def check_split(cfg) -> None:
    """A one-line error when ``cfg`` trains on its validation or a test photograph (embedded photographs only)."""
    leaked = set(cfg.train_images) & ({cfg.val_image} | set(cfg.eval_images)) if cfg.source != "data" else ()
    if leaked:
        raise CompanionError(f"training images {sorted(leaked)} are test or validation images; hold them out")


def validation_pairs(cfg) -> list:
    """``[(LR 3×h×w, HR 3×sh×sw)]`` float tensors of the validation curve: the centre ``cfg.val_crop`` px of the
    embedded photograph ``cfg.val_image`` (neither a training nor a test image); empty when it names none."""
    if not cfg.val_image:
        return []
    if cfg.val_image in cfg.eval_images:
        raise CompanionError(f"the validation image {cfg.val_image} is a test image; choose another")
    key = ("val", cfg.val_image, cfg.val_crop, cfg.scale)
    if key not in _VALIDATION_PAIRS:
        lr, hr = lr_hr_pair(centre_crop_at_most(embedded_image(cfg.val_image), cfg.val_crop), cfg.scale)
        _VALIDATION_PAIRS[key] = [tuple(torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float() for a in (lr, hr))]
    return _VALIDATION_PAIRS[key]


def run_settings(cfg, init: str, seed: int) -> dict:
    """Everything that decides one trained (scheme, seed) model: the scheme, seed, model size and scale, data,
    patch, loss and training settings (not how often it checkpoints). Its digest names the checkpoint."""
    train = {k: v for k, v in asdict(replace(cfg.train, seed=int(seed))).items()
             if k not in ("checkpoint_every", "val_every")}
    return dict(notebook="02b_initialisation", init=init, seed=int(seed), size=cfg.size, channels=cfg.channels,
                scale=cfg.scale, source=cfg.source, train_images=list(cfg.train_images), patch=cfg.patch,
                loss=cfg.loss, bias="zero", train=train)


def checkpoint_path(folder, cfg, init: str, seed: int):
    """``<folder>/<init>-seed<seed>-<digest of run_settings>.pt``: a rerun with the same settings resumes (a
    finished run only evaluates); changed settings get a new file."""
    return Path(folder) / f"{init}-seed{seed}-{digest(run_settings(cfg, init, seed))[:10]}.pt"


def fit(cfg, init: str, seed: int, *, device="cpu", threads: int | None = None, data_root=None,
        checkpoint_dir=None):
    """Train one (scheme, seed) of Table 2.3: build the single-scale CARN of ``cfg.size`` (``cfg.channels``),
    draw its weights with ``init`` (generator seeded by ``seed``, zero biases) and train it by :func:`companion.engine.sr_training.train_sr` for ``cfg.train.steps``
    steps (batches seeded by ``seed``: every scheme of a seed sees the same patches in the same order) with
    ``cfg.loss``; the validation curve (:func:`validation_pairs`, every ``cfg.train.val_every`` steps) when the
    profile names a validation image. With ``checkpoint_dir`` the run saves to (and resumes from)
    :func:`checkpoint_path`. Returns ``(model in eval mode, TrainResult)``."""
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    model = build_carn(cfg.size, cfg.scale, cfg.channels)
    initialise(model, init, generator=torch.Generator().manual_seed(seed))
    check_split(cfg)
    pairs = validation_pairs(cfg)
    path = None if checkpoint_dir is None else checkpoint_path(checkpoint_dir, cfg, init, seed)
    result = train_sr(model.at_scale(cfg.scale), cfg.train, seed=seed, scale=cfg.scale, patch=cfg.patch,
                      source=cfg.source, images=cfg.train_images, loss=cfg.loss,
                      validate=psnr_validator(pairs, device=device) if pairs else None, device=device,
                      progress=False, checkpoint_path=path, model_name="carn", data_root=data_root)
    return model.eval(), result


def training_record(result) -> dict:
    """What a finished run leaves besides its weights: ``steps``, ``seconds``, ``first_loss``, ``final_loss``
    (the mean of the last tenth of the run), ``loss_curve``, ``val`` ([[step, validation PSNR]])."""
    tail = max(1, len(result.losses) // 10)
    return dict(steps=result.steps_done, seconds=round(result.seconds, 2), first_loss=float(result.losses[0]),
                final_loss=float(np.mean(result.losses[-tail:])), loss_curve=loss_curve(result.losses),
                val=[[int(s), round(float(v), 3)] for s, v in result.val])


__all__ = ["check_split", "validation_pairs", "run_settings", "checkpoint_path", "fit", "training_record"]
