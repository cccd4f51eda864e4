"""Training one Chapter 7 variant on SHDD (thesis §7.5), shared by the notebooks and the zoo.

* :func:`shdd_root` builds (or finds) the SHDD copy a profile uses;
* :func:`train_variant` trains one :class:`~companion.ch7.variants.Variant` with one seed through
  :func:`companion.engine.loop.train`, with a checkpoint under the work folder (:func:`checkpoint_path`), so a
  rerun (or a killed run) resumes instead of starting over; a zoo entry trained with exactly the same settings
  (:func:`companion.zoo.find` of a :class:`~companion.ch7.variants.VariantSpec`) is loaded instead;
* :func:`validation_pairs` / :func:`validation_psnr`: the validation images (never the test split) behind the
  curves and the zoo's ``val_psnr``;
* ``train_variant(..., augmentation=...)``: the same training with one of Chapter 4's augmentations applied to
  every batch (:func:`companion.engine.augmented.augmented`; thesis §4.3.2's MoA on a restoration task). The
  augmentation joins the settings' key only when one is given (:class:`AugmentedVariantSpec`), so every
  digest of an unaugmented run stays what it was.

Used by :mod:`companion.ch7.experiments` (notebooks ``07b_mepsnet_training``, ``07c_ablations``,
``07d_what_experts_learn``) and :mod:`companion.ch7.zoo` (``python -m companion zoo build``); with an
augmentation by Chapter 4's ``04c_where_to_restore`` (MoA in MEPSNet's training).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from companion.ch7.datasets import SHDDEval, SHDDTrain
from companion.ch7.shdd import build_shdd
from companion.ch7.variants import Variant, VariantSpec, train_config, variant_key
from companion.data import references
from companion.data.augments import Augmentation
from companion.engine.augmented import augmented
from companion.engine.checkpoint import load_weights
from companion.engine.loop import LOSSES, paired_batch, psnr_on_pairs, train
from companion.models import build_model
from companion.summary import loss_curve
from companion.zoo import ZooEntry, digest, find, load_entry

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


def augmentation_tag(augmentation: Augmentation) -> str:
    """A short name for an augmentation in entry and file names: ``moa`` for a mixture, else its one name
    (``cutblur``), ``none`` for none; the digest tells settings with the same tag apart."""
    active = augmentation.active
    return "moa" if len(augmentation.names) > 1 else active[0] if active else "none"


@dataclass(frozen=True)
class AugmentedVariantSpec:
    """A :class:`~companion.ch7.variants.VariantSpec` trained with a Chapter 4 augmentation: the same key plus
    ``"augmentation"`` (:meth:`companion.data.augments.Augmentation.as_dict`), and the zoo entry
    ``<group>/<slug>-<tag>-seed<k>`` (:func:`augmentation_tag`), where ``group`` is the zoo folder of the chapter
    that holds these models (default: the experiment's own, ``ch7/<zoo_group>``). :func:`companion.zoo.find`
    calls :meth:`zoo_entry`."""

    spec: VariantSpec
    augmentation: Augmentation
    group: str = ""

    def key(self, seed: int) -> dict:
        return {**self.spec.key(seed), "augmentation": self.augmentation.as_dict()}

    def zoo_entry(self, seed: int) -> ZooEntry:
        plain = self.spec.zoo_entry(seed)
        group = self.group or plain.name.rsplit("/", 1)[0]
        stem = plain.name.rsplit("/", 1)[1].rsplit("-seed", 1)[0]
        return ZooEntry(name=f"{group}/{stem}-{augmentation_tag(self.augmentation)}-seed{seed}", model=plain.model,
                        config=plain.config, key=self.key(seed),
                        label=f"{plain.label} + {self.augmentation.describe()}")


def zoo_spec(variant: Variant, cfg, data_seed: int, augmentation: Augmentation | None = None, zoo_group: str = ""):
    """What :func:`companion.zoo.find` looks up for a variant: its :class:`VariantSpec`, or with an
    ``augmentation`` the :class:`AugmentedVariantSpec` (``zoo_group``: the zoo folder holding it)."""
    spec = VariantSpec(variant, cfg, data_seed)
    return spec if augmentation is None else AugmentedVariantSpec(spec, augmentation, zoo_group)


def checkpoint_path(run, variant: Variant, cfg, seed: int, augmentation: Augmentation | None = None) -> Path:
    """Where a variant's work-folder checkpoint lives: named by the model and the digest of its settings (the
    augmentation's too, when one is given)."""
    if augmentation is None:
        key = variant_key(variant, cfg, seed, run.seed)
        return run.work_dir / "checkpoints" / f"{variant.model}-seed{seed}-{digest(key)[:10]}.pt"
    key = zoo_spec(variant, cfg, run.seed, augmentation).key(seed)
    tag = augmentation_tag(augmentation)
    return run.work_dir / "checkpoints" / f"{variant.model}-{tag}-seed{seed}-{digest(key)[:10]}.pt"


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
                  use_zoo: bool = True, augmentation: Augmentation | None = None, zoo_group: str = ""):
    """Train ``variant`` with ``seed`` on SHDD ``cfg.train_level``; return ``(model, Trained)``.

    With ``use_zoo`` (the default) a zoo entry trained with exactly these settings (:func:`companion.zoo.find`
    of ``VariantSpec(variant, cfg, run.seed)``) is loaded instead of training.

    ``augmentation`` (a :class:`companion.data.augments.Augmentation`, e.g. ``PRESETS["restoration"]``, MoA with
    p = 0.6): every training batch goes through it (:func:`companion.engine.augmented.augmented`, seeded by
    (``seed``, step); Cutout's erased pixels left out of the loss), and the zoo entry and checkpoint are those of
    :class:`AugmentedVariantSpec` (``zoo_group``: the zoo folder that holds them, e.g. ``ch4/shdd``). Without it
    nothing changes.
    """
    if use_zoo:
        entry = find(zoo_spec(variant, cfg, run.seed, augmentation, zoo_group), seed)
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
    path = checkpoint_path(run, variant, cfg, seed, augmentation)
    batch, loss = paired_batch("distorted", "clean"), LOSSES[cfg.loss]
    if augmentation is not None:
        batch, loss = augmented(batch, loss, augmentation, seed=seed)
    result = train(model, dataset, settings, loss=loss, batch=batch,
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
