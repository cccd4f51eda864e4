"""Training one Chapter 7 variant on SHDD (thesis §7.5), shared by the notebooks and the zoo.

* :func:`shdd_root` builds (or finds) the SHDD copy a profile uses;
* :func:`train_variant` trains one :class:`~companion.ch7.variants.Variant` with one seed through
  :func:`companion.engine.loop.train`, with a checkpoint under the work folder (:func:`checkpoint_path`), so a
  rerun (or a killed run) resumes instead of starting over; a zoo entry trained with exactly the same settings
  (:func:`companion.zoo.find` of a :class:`~companion.ch7.variants.VariantSpec`) is loaded instead;
* :func:`validation_pairs` / :func:`validation_psnr`: the validation images (never the test split) behind the
  curves and the zoo's ``val_psnr``.

Used by :mod:`companion.ch7.experiments` (notebooks ``07b_mepsnet_training``, ``07c_ablations``,
``07d_what_experts_learn``) and :mod:`companion.ch7.zoo` (``python -m companion zoo build``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from companion.ch7.datasets import SHDDEval, SHDDTrain
from companion.ch7.shdd import build_shdd
from companion.ch7.variants import Variant, VariantSpec, train_config, variant_key
from companion.data import references
from companion.engine.checkpoint import load_weights
from companion.engine.loop import LOSSES, paired_batch, psnr_on_pairs, train
from companion.models import build_model
from companion.summary import loss_curve
from companion.zoo import digest, find, load_entry

#: Validation: the first versions of the validation photograph(s), restored whole; the PSNR-vs-steps curves,
#: the zoo's ``val_psnr`` and 07b's +1 dB target use them (never the test split).
VAL_IMAGES = 4

#: The loss curve kept in results and zoo sidecars: the mean loss of each block of this many steps.
LOSS_WINDOW = 20


def shdd_root(run, cfg, *, progress: bool = True, build: bool = True) -> Path:
    """Build the SHDD copy of this profile under the work folder (resumable) and return its root.

    The full-size bundled build is the one ``07a_shdd`` makes, so the notebooks share it. ``build=False``
    only names the folder: for worker processes, after the parent built it (a build holds a lock on the
    folder, so workers building at once would refuse each other).
    """
    tag = "datasets" if cfg.source == "data" or not (cfg.references or cfg.reference_crop) \
        else f"datasets-{cfg.references}-{cfg.reference_crop}"
    out = run.work_dir / tag
    if not build:
        return out
    source = references.prepare_source(cfg.source, "DIV2K", limit=cfg.references, crop=cfg.reference_crop,
                                       work_dir=run.work_dir)
    levels = tuple(dict.fromkeys((cfg.train_level, *cfg.eval_levels)))
    build_shdd(source=source, out=out, levels=levels, seed=run.seed, workers=cfg.workers, versions=cfg.versions,
               progress=progress)
    return out


def checkpoint_path(run, variant: Variant, cfg, seed: int) -> Path:
    """Where a variant's work-folder checkpoint lives: named by the model and the digest of its settings."""
    key = variant_key(variant, cfg, seed, run.seed)
    return run.work_dir / "checkpoints" / f"{variant.model}-seed{seed}-{digest(key)[:10]}.pt"


def validation_pairs(root: Path, cfg) -> list:
    """(distorted, clean) 1×3×H×W pairs of the first :data:`VAL_IMAGES` images of the validation split."""
    val = SHDDEval(root, level=cfg.train_level, split="val")
    return [(val[i]["distorted"][None], val[i]["clean"][None]) for i in range(min(VAL_IMAGES, len(val)))]


def validation_psnr(model, root: Path, cfg, device) -> float:
    """Mean PSNR of ``model`` on :func:`validation_pairs`."""
    return psnr_on_pairs(model, validation_pairs(root, cfg), device=device, bf16=cfg.train.bf16,
                         channels_last=cfg.train.channels_last)


def validation_input_psnr(root: Path, cfg) -> float:
    """Mean PSNR of the distorted validation images themselves (the line the validation curves must beat)."""
    return psnr_on_pairs(torch.nn.Identity(), validation_pairs(root, cfg), device="cpu")


def window_loss_curve(losses) -> list[list[float]]:
    """``[[step, mean loss of the last LOSS_WINDOW steps], ...]`` over the whole blocks of a run
    (:func:`companion.summary.loss_curve` with one point per block): a few hundred points instead of every step."""
    blocks = len(losses) // LOSS_WINDOW
    return loss_curve(list(losses)[:blocks * LOSS_WINDOW], points=blocks, digits=7)


@dataclass
class Trained:
    """What :func:`train_variant` hands back besides the model: steps, seconds, validation curve
    ``[(step, PSNR)]``, loss curve (:func:`window_loss_curve`), what ended the run (``"steps"``: all steps done,
    ``"time"``: the time budget), and ``source``: the zoo entry it was loaded from (``zoo:ch7/07b/mepsnet-seed0``)
    or the work-folder checkpoint it trained into."""

    steps_done: int
    seconds: float
    val: list
    loss_curve: list
    stop_reason: str  # "step limit" or "time budget"
    source: str


def train_variant(run, variant: Variant, cfg, seed: int, root: Path, *, progress: bool = True,
                  use_zoo: bool = True):
    """Train ``variant`` with ``seed`` on SHDD ``cfg.train_level``; return ``(model, Trained)``.

    With ``use_zoo`` (the default) a zoo entry trained with exactly these settings (:func:`companion.zoo.find`
    of ``VariantSpec(variant, cfg, run.seed)``) is loaded instead of training.
    """
    if use_zoo:
        entry = find(VariantSpec(variant, cfg, run.seed), seed)
        if entry is not None:
            model, meta = load_entry(entry)
            return model.to(run.device), Trained(meta["steps"], meta["seconds"], [tuple(v) for v in meta["val"]],
                                                 meta["loss_curve"], "steps", f"zoo:{entry.name}")
    torch.manual_seed(seed)
    model = build_model(variant.model, **variant.kwargs(cfg.size))
    dataset = SHDDTrain(root, level=cfg.train_level, patch_size=cfg.patch_size, seed=seed, cache=cfg.cache,
                        permute_channels=cfg.permute_channels)
    settings = train_config(cfg, seed, variant.model)
    validate = None
    if settings.val_every:  # the fixed validation images; their PSNR shows in the progress bar and makes the curves
        pairs = validation_pairs(root, cfg)

        def validate(m):
            return psnr_on_pairs(m, pairs, device=run.device, bf16=settings.bf16, channels_last=settings.channels_last)
    path = checkpoint_path(run, variant, cfg, seed)
    result = train(model, dataset, settings, loss=LOSSES[cfg.loss], batch=paired_batch("distorted", "clean"),
                   model_name=variant.model, device=run.device, checkpoint_path=path,
                   validate=validate, progress=progress)
    source = str(path.relative_to(run.work_dir.parent)) if path.is_relative_to(run.work_dir.parent) else str(path)
    return model, Trained(result.steps_done, result.seconds, list(result.val), window_loss_curve(result.losses),
                          result.stop_reason, source)


def load_variant(run, variant: Variant, cfg, seed: int):
    """The trained model of ``variant``/``seed`` from its checkpoint (built by :func:`train_variant`)."""
    model = build_model(variant.model, **variant.kwargs(cfg.size))
    load_weights(model, checkpoint_path(run, variant, cfg, seed), model_name=variant.model)
    return model.to(run.device).eval()
