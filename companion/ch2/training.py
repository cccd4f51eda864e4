"""Train a CARN-family model single-scale under the SR protocol, and score it against bicubic (thesis §2.4.1).

Chapter 2's models are trained "with L1 loss" on bicubic-downscaled patch pairs (§2.4.1; the authors' code:
Adam, a stepped learning rate, gradient norm clipped to 10). At small scale, on a CPU, this module does the same
with the embedded photographs:

* :class:`SRTraining`: everything that shapes one trained model: the network (a :data:`companion.models.MODELS`
  name, its size and constructor ``overrides`` such as Fig. 2.8's ``groups`` / ``recursive``), the scale, the LR
  patch side, the :class:`companion.engine.settings.TrainConfig`, the loss, and the data: training photographs
  and one validation photograph (never a test one);
* :func:`build_network`: the single-scale network with PyTorch's default initialisation (Table 2.3's best and
  the authors' code: weights *and* biases from U(±√(1/F))), seeded;
* :func:`training_patches` / :func:`validation_pairs`: :class:`companion.data.sr.SRPatches` of the training
  photographs (MATLAB-bicubic LR, random positions, flips and rotations), or DIV2K's 800 training images for a
  full-scale spec (``source="data"``); the validation photograph's centre crop as (LR, HR) tensors;
* :func:`train_network`: the shared loop (:func:`companion.engine.loop.train`) with a resumable checkpoint named
  by the digest of :func:`run_key`, validation PSNR (RGB, :func:`companion.engine.loop.psnr_on_pairs`) on the
  validation crop now and then;
* :func:`evaluate_embedded`: the model and MATLAB-bicubic upscaling on every embedded photograph under the SR
  protocol (:func:`companion.ch2.evaluation.evaluate_sr`: Y of BT.601, a border of ``scale`` px, 8-bit
  outputs), split into the held-out test photographs and the rest; :func:`score_lines` prints it.

Splits (:data:`VAL_IMAGE`, :data:`FIT_IMAGES`, :data:`companion.ch2.config.HELD_OUT`): of the eleven embedded
photographs, china, flower and rocket are the test images (02b holds out the same three); coffee is the
validation image (it only draws the validation curve; no setting was chosen on it either: the settings of
:data:`QUICK_RECIPE` were fixed before the first run); the other seven train. Nothing is tuned on a test image.
"""
from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from companion.ch2.config import HELD_OUT, HELD_OUT as TEST, SRTraining, VAL_IMAGE
from companion.ch2.evaluation import evaluate_sr
from companion.data import sr
from companion.data.images import EMBEDDED_IMAGES, centre_crop_at_most, embedded_image
from companion.data.sr import lr_hr_pair
from companion.engine.sr_training import LOSSES, psnr_validator, train_sr
from companion.errors import CompanionError
from companion.models import MODELS, build_model, model_config
from companion.summary import loss_curve as summary_loss_curve
from companion.zoo import digest


#: What :func:`run_key` leaves out: how often the loop reports and saves does not shape the weights.
_NOT_SHAPING = ("checkpoint_every", "val_every", "max_seconds")


def network_config(spec: SRTraining) -> dict:
    """Constructor arguments of ``spec``'s network: the model's ``spec.size`` configuration, single-scale at
    ``spec.scale``, with ``spec.overrides``; JSON-ready (lists, not tuples), as a zoo sidecar stores them."""
    config = model_config(spec.model, spec.size, scales=(int(spec.scale),), **dict(spec.overrides))
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def build_network(spec: SRTraining, seed: int):
    """``spec``'s network, its weights and biases drawn by PyTorch's default initialisation from ``seed``."""
    torch.manual_seed(int(seed))
    return build_model(spec.model, **network_config(spec))


def run_key(spec: SRTraining, seed: int) -> dict:
    """Everything that decides the weights of (``spec``, ``seed``); its digest names checkpoints and zoo entries."""
    train = {k: v for k, v in asdict(replace(spec.train, seed=int(seed))).items() if k not in _NOT_SHAPING}
    data = (dict(images={**{n: "train" for n in spec.train_images}, spec.val_image: "val",
                         **{n: "test" for n in HELD_OUT}}, lr="matlab bicubic, 8-bit")
            if spec.source == "bundled" else dict(images="DIV2K train 0001-0800", lr="matlab bicubic, 8-bit"))
    return dict(task="single-scale SR", model=spec.model, config=network_config(spec), init="pytorch default",
                scale=int(spec.scale), patch=int(spec.patch), loss=spec.loss, augment="flips + rotations",
                train=train, data=data, seed=int(seed))


def checkpoint_path(folder, spec: SRTraining, seed: int) -> Path:
    """``<folder>/<model>-x<scale>-seed<seed>-<digest>.pt``: a rerun with the same settings resumes."""
    return Path(folder) / f"{spec.model}-x{spec.scale}-seed{seed}-{digest(run_key(spec, seed))[:10]}.pt"


_DATA: dict = {}  # per process: the validation pairs, built once


def training_patches(spec: SRTraining, seed: int, data_root=None):
    """:class:`companion.data.sr.SRPatches` of ``spec``: the embedded ``spec.train_images`` (``"bundled"``) or
    DIV2K's training images (``"data"``) at ×``spec.scale``, ``spec.patch``-px LR patches with flips and
    rotations, positions seeded by ``seed``. The LR images are made once per process
    (:func:`companion.data.sr.training_patches`)."""
    return sr.training_patches(spec.source, spec.train_images, scale=spec.scale, patch=spec.patch, seed=seed,
                               data_root=data_root)


def validation_pairs(spec: SRTraining) -> list:
    """``[(LR 3×h×w, HR 3×sh×sw)]`` float tensors: the centre ``spec.val_crop`` px of ``spec.val_image``."""

    key = ("val", spec.val_image, spec.val_crop, spec.scale)
    if key not in _DATA:
        lr, hr = lr_hr_pair(centre_crop_at_most(embedded_image(spec.val_image), spec.val_crop), spec.scale)
        _DATA[key] = [tuple(torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float() for a in (lr, hr))]
    return _DATA[key]


def loss_curve(losses, points: int = 40) -> list[list[float]]:
    """``[[step, mean loss]]`` over ``points`` equal windows of the run, to 5 decimals
    (:func:`companion.summary.loss_curve`)."""
    return summary_loss_curve(losses, points, digits=5)


def train_network(spec: SRTraining, seed: int, *, device="cpu", checkpoint_dir=None, threads: int | None = None,
                  progress: bool = True, data_root=None):
    """Build ``spec``'s network (:func:`build_network`) and train it with the one SR trainer
    (:func:`companion.engine.sr_training.train_sr`), validating on :func:`validation_pairs`; returns ``(model in
    eval mode, TrainResult)``. With ``checkpoint_dir`` the run saves to and resumes from :func:`checkpoint_path`
    (a finished run only loads). ``threads`` sets PyTorch's CPU threads."""
    spec.check()
    if spec.model not in MODELS:
        raise CompanionError(f"unknown model {spec.model!r}; choose one of: {', '.join(sorted(MODELS))}")
    if spec.loss not in LOSSES:
        raise CompanionError(f"unknown loss {spec.loss!r}; choose one of: {', '.join(LOSSES)}")
    model = build_network(spec, seed)
    path = None if checkpoint_dir is None else checkpoint_path(checkpoint_dir, spec, seed)
    label = spec.model + "".join(f"-{k}{int(v) if isinstance(v, bool) else v}" for k, v in spec.overrides)
    result = train_sr(model.at_scale(spec.scale), spec.train, seed=seed, scale=spec.scale, patch=spec.patch,
                      source=spec.source, images=spec.train_images, loss=spec.loss,
                      validate=psnr_validator(validation_pairs(spec), device=device), device=device, threads=threads,
                      progress=progress, checkpoint_path=path, model_name=label, data_root=data_root)
    return model.eval(), result


def split_scores(scores: dict) -> dict:
    """From :func:`companion.ch2.evaluation.evaluate_sr`'s result: mean PSNR / bicubic / gain and wins over the
    ``test`` photographs (:data:`companion.ch2.config.HELD_OUT`) and over the ``seen`` ones (trained on or
    validation), and the smallest gain of any image (``worst``: name, dB)."""
    per = scores["per_image"]
    out = {}
    for part, names in (("test", [n for n in per if n in HELD_OUT]), ("seen", [n for n in per if n not in HELD_OUT])):
        if names:
            out[part] = dict(images=names, psnr=float(np.mean([per[n]["psnr"] for n in names])),
                             bicubic_psnr=float(np.mean([per[n]["bicubic_psnr"] for n in names])),
                             wins=sum(per[n]["psnr"] > per[n]["bicubic_psnr"] for n in names))
            out[part]["gain"] = out[part]["psnr"] - out[part]["bicubic_psnr"]
    worst = min(per, key=lambda n: per[n]["psnr"] - per[n]["bicubic_psnr"])
    out["worst"] = (worst, per[worst]["psnr"] - per[worst]["bicubic_psnr"])
    return out


def evaluate_embedded(model, scale: int, *, names=None, crop: int = 0, device="cpu", with_ssim: bool = False) -> dict:
    """``model`` and bicubic on the embedded photographs ``names`` (all eleven by default), whole or centre
    crops of ``crop`` HR px, ×``scale``, under the SR protocol (:func:`companion.ch2.evaluation.evaluate_sr`);
    adds ``split`` (:func:`split_scores`)."""
    names = list(EMBEDDED_IMAGES) if names is None else list(names)
    unknown = [n for n in names if n not in EMBEDDED_IMAGES]
    if unknown:
        raise CompanionError(f"unknown embedded images {unknown}; choose from: {', '.join(EMBEDDED_IMAGES)}")
    pairs = []
    for n in names:
        hr = embedded_image(n)
        pairs.append((n, *lr_hr_pair(centre_crop_at_most(hr, crop) if crop else hr, scale)))
    scores = evaluate_sr(model, pairs, scale, device=device, with_ssim=with_ssim)
    scores["split"] = split_scores(scores)
    return scores


def score_lines(scores: dict, label: str = "model") -> list[str]:
    """Printable lines: per image PSNR (Y) of ``label`` and bicubic and the gain, test photographs marked, then
    the means over the test and the seen photographs."""
    lines = [f"{'image':>18s} {'split':>5s} {label:>10s} {'bicubic':>8s} {'gain':>7s}"]
    for name, s in scores["per_image"].items():
        split = "test" if name in TEST else ("val" if name == VAL_IMAGE else "train")
        lines.append(f"{name:>18s} {split:>5s} {s['psnr']:10.2f} {s['bicubic_psnr']:8.2f} "
                     f"{s['psnr'] - s['bicubic_psnr']:+7.2f}")
    for part, row in scores["split"].items():
        if part != "worst":
            lines.append(f"mean over the {len(row['images'])} {part} photographs: {row['psnr']:.2f} dB vs bicubic "
                         f"{row['bicubic_psnr']:.2f} dB ({row['gain']:+.2f} dB; beats it on {row['wins']} of "
                         f"{len(row['images'])})")
    return lines


def timed(fn, *args, **kwargs):
    """``(fn(*args, **kwargs), seconds)``."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


__all__ = ["network_config", "build_network", "run_key", "checkpoint_path", "training_patches", "validation_pairs",
           "loss_curve", "train_network", "split_scores", "evaluate_embedded", "score_lines", "timed"]
