"""The training side of ``02c_pcarn`` (thesis §2.3.2, Eq. 2.4-2.7, §2.4.1): PCARN-M's generator and
multi-scale discriminator, the L1 stage (:func:`pretrain_l1`, the one SR trainer
:func:`companion.engine.sr_training.train_sr`) and the adversarial stage (:func:`finetune_gan`,
:func:`companion.engine.adversarial.train_gan`), the settings that shape them (:func:`run_settings`: its digest
names checkpoints, and :mod:`companion.ch2.zoo` keys the ``ch2/02c`` entries on it), and both stages loaded
back from the model zoo (:func:`load_l1_from_zoo`, :func:`load_gan_from_zoo`). The profiles are
:data:`companion.ch2.config.PCARN_PROFILES`; :mod:`companion.ch2.pcarn` runs the experiment.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, replace
from pathlib import Path

import torch

from companion.data import sr
from companion.engine.adversarial import GANConfig, train_gan
from companion.engine.loop import paired_batch
from companion.engine.perceptual import VGGLoss
from companion.engine.settings import TrainConfig
from companion.engine.sr_training import train_sr
from companion.errors import CompanionError
from companion.models import build_model, model_config
from companion.models.common import count_parameters
from companion.models.discriminators import MultiScaleDiscriminator, check_width_divisor
from companion.zoo import digest, load_entry, read_sidecar


PERCEPTUAL = ("none", "vgg19", "random")


# --------------------------------------------------------------------------------------------------------
# Models.


def build_generator(cfg):
    """PCARN-M's generator: CARN-M (:class:`companion.models.carn_m.CARNM`, thesis reading, G = 4, recursive)
    of ``cfg.size``, single-scale ×``cfg.scale`` (``forward(x)`` needs no scale)."""
    return build_model("carn_m", cfg.size, scales=(int(cfg.scale),), reading="thesis")


def build_discriminator(cfg):
    """Eq. 2.6's multi-scale discriminator (:class:`companion.models.discriminators.MultiScaleDiscriminator`,
    pooling factors ``cfg.disc_factors``) at 1/``cfg.disc_width_divisor`` of Fig. 2.1's widths (64…512 → 16…128
    at 4: the quick profile's substitution, said wherever its numbers are shown).

    A narrowed one is drawn after the full-width one's weights are drawn and dropped, so that its weights under a
    seed are the ones the zoo's ``ch2/02c`` discriminator was trained from (the random stream is the same)."""
    k = int(cfg.disc_width_divisor)
    try:
        check_width_divisor(k)
    except ValueError as error:
        raise CompanionError(str(error).replace("width_divisor", "disc_width_divisor")) from None
    if k > 1:
        MultiScaleDiscriminator(cfg.disc_factors)  # the full-width draws first: the zoo's random stream
    return MultiScaleDiscriminator(cfg.disc_factors, width_divisor=k)


def discriminator_config(cfg) -> dict:
    """:func:`build_discriminator`'s network as JSON (its ``config``: pooling factors, input channels, LeakyReLU
    slope, width divisor), as the zoo's sidecar stores it; computed without building it."""
    return dict(factors=[int(f) for f in cfg.disc_factors], in_channels=3, negative_slope=0.01,
                width_divisor=int(cfg.disc_width_divisor))


def perceptual_loss(cfg, data_root=None):
    """The perceptual term of ``cfg``: None (``"none"``), Eq. 2.5's VGG19 conv5_4 loss from the user's file
    (``"vgg19"``; one line naming where to put it when absent), or the same network with random weights
    (``"random"``: the smoke profile's code path; it means nothing perceptual)."""
    if cfg.perceptual not in PERCEPTUAL:
        raise CompanionError(f"perceptual={cfg.perceptual!r}; choose one of {', '.join(PERCEPTUAL)}")
    if cfg.perceptual == "none":
        return None
    return VGGLoss(random_init=cfg.perceptual == "random", root=data_root)


def gan_settings(cfg, seed: int):
    """The :class:`companion.engine.adversarial.GANConfig` of ``cfg``'s fine-tuning stage."""
    return GANConfig(steps=cfg.gan_steps, batch_size=cfg.gan_batch, lr_g=cfg.lr_g, lr_d=cfg.lr_d,
                     betas=tuple(cfg.pretrain.betas), eps=cfg.pretrain.eps, adversarial_weight=cfg.adversarial_weight,
                     perceptual_weight=cfg.perceptual_weight if cfg.perceptual != "none" else 0.0,
                     content_weight=cfg.content_weight, grad_clip=cfg.grad_clip,
                     checkpoint_every=cfg.gan_checkpoint_every, seed=int(seed))


def check_split(cfg) -> None:
    """A one-line error when ``cfg`` trains on one of its test photographs."""
    leaked = set(cfg.train_images) & set(cfg.eval_images)
    if leaked:
        raise CompanionError(f"test images {sorted(leaked)} are also training images; hold them out")


def training_patches(cfg, seed: int, data_root=None):
    """The SR training patches (:class:`companion.data.sr.SRPatches`): the embedded photographs
    ``cfg.train_images`` (``"bundled"``, never a held-out one) or DIV2K's training images (``"data"``),
    ×``cfg.scale``, ``cfg.patch``-px LR patches with flips and rotations; ``seed`` sets positions and flips."""
    check_split(cfg)
    return sr.training_patches(cfg.source, cfg.train_images, scale=cfg.scale, patch=cfg.patch, seed=seed,
                               data_root=data_root)


# --------------------------------------------------------------------------------------------------------
# Training: stage 1 (L1), stage 2 (adversarial).


def run_settings(cfg, stage: str, seed: int, l1_origin: dict | None = None) -> dict:
    """Everything that decides a stage's result (not how often it checkpoints); its digest names the file.
    The GAN stage includes the L1 stage's settings (it starts from that generator), or ``l1_origin`` when the
    generator came from elsewhere (the zoo: ``{"zoo": name, "digest": its digest}``)."""
    l1 = {k: v for k, v in asdict(replace(cfg.pretrain, seed=int(seed))).items()
          if k not in ("checkpoint_every", "val_every")}
    out = dict(notebook="02c_pcarn", stage="l1", seed=int(seed), size=cfg.size, scale=cfg.scale, source=cfg.source,
               train_images=list(cfg.train_images), patch=cfg.patch, l1=l1)
    if stage == "gan":
        gan = {k: v for k, v in asdict(gan_settings(cfg, seed)).items() if k != "checkpoint_every"}
        out.update(stage="gan", gan=gan, perceptual=cfg.perceptual, disc_factors=list(cfg.disc_factors),
                   disc_width_divisor=cfg.disc_width_divisor)
        if l1_origin:
            out["l1"] = dict(l1_origin)
    elif stage != "l1":
        raise CompanionError(f"stage must be 'l1' or 'gan', got {stage!r}")
    return out


def checkpoint_path(folder, cfg, stage: str, seed: int, l1_origin: dict | None = None):
    """``<folder>/pcarn_m-<stage>-seed<seed>-<digest>.pt``: a rerun with the same settings resumes or only
    evaluates; changed settings (or another starting generator, ``l1_origin``) get a new file."""
    return Path(folder) / f"pcarn_m-{stage}-seed{seed}-{digest(run_settings(cfg, stage, seed, l1_origin))[:10]}.pt"


def pretrain_l1(cfg, seed: int, *, device="cpu", data_root=None, checkpoint_dir=None, progress: bool = True):
    """Stage 1 (§2.4.1): the generator trained with L1 alone (:func:`companion.engine.sr_training.train_sr`, PyTorch's
    default init drawn under ``seed``, batches seeded by ``seed``). Returns ``(model in eval mode, info)``;
    ``info``: ``steps``, ``seconds``, ``losses`` (per step), ``checkpoint`` (file name or None), ``params``."""
    torch.manual_seed(seed)
    model = build_generator(cfg)
    check_split(cfg)
    path = None if checkpoint_dir is None else checkpoint_path(checkpoint_dir, cfg, "l1", seed)
    result = train_sr(model, cfg.pretrain, seed=seed, scale=cfg.scale, patch=cfg.patch, source=cfg.source,
                      images=cfg.train_images, loss="l1", device=device, progress=progress, checkpoint_path=path,
                      model_name="carn_m", data_root=data_root)
    t = cfg.pretrain
    info = dict(stage="l1", source="trained", steps=result.steps_done, seconds=round(result.seconds, 2),
                losses=list(result.losses), checkpoint=None if path is None else path.name,
                params=count_parameters(model), origin=None, fallback="",
                recipe=dict(batch_size=t.batch_size, lr=t.lr, milestones=list(t.milestones), gamma=t.gamma,
                            patch=cfg.patch, images=list(cfg.train_images)))
    return model.eval(), info


def generator_config(cfg) -> dict:
    """Constructor arguments of :func:`build_generator`'s network, JSON-ready (as a zoo sidecar stores them)."""
    config = model_config("carn_m", cfg.size, scales=(int(cfg.scale),), reading="thesis")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def load_l1_from_zoo(entry, *, device="cpu"):
    """Stage 1 from a current zoo ``entry`` (:func:`companion.zoo.load_entry`: safetensors, strict). Returns
    ``(model in eval mode, info)`` like :func:`pretrain_l1`'s; ``info``: ``source="zoo"``, ``checkpoint``
    ("zoo <name>"), ``steps`` / ``seconds`` of its training, ``loss_curve`` ([[step, mean L1 loss]]), ``val_psnr``
    and ``val_images`` (its validation photograph), ``recipe``, ``train`` (the :class:`TrainConfig` it was trained
    with, read from its sidecar's key: what a results file records as the stage's recipe), ``origin`` (name and
    digest, for the GAN stage's checkpoint name)."""
    model, meta = load_entry(entry)
    train = (meta.get("key") or entry.key).get("train", {})
    images = entry.key["data"]["images"]
    info = dict(stage="l1", source="zoo", steps=int(meta["steps"]), seconds=float(meta["seconds"]), losses=[],
                loss_curve=[list(p) for p in meta.get("loss_curve", [])], checkpoint=f"zoo {entry.name}",
                params=count_parameters(model), origin={"zoo": entry.name, "digest": entry.digest}, fallback="",
                val_psnr=meta.get("val_psnr"), val_images=list(meta.get("val_images", [])),
                recipe=dict(batch_size=train.get("batch_size"), lr=train.get("lr"),
                            milestones=list(train.get("milestones", [])), gamma=train.get("gamma"),
                            patch=entry.key.get("patch"), images=sorted(n for n, r in images.items() if r == "train")),
                train=recipe_from_key(train))
    return model.to(device).eval(), info


def recipe_from_key(train: dict) -> TrainConfig:
    """The :class:`TrainConfig` a zoo key's ``train`` part describes (JSON lists back to tuples; the settings a
    key leaves out, how often a run validated and saved, at their defaults)."""
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in train.items()}
    return TrainConfig(**fields)


def finetune_gan(cfg, l1_model, seed: int, *, device="cpu", data_root=None, checkpoint_dir=None,
                 progress: bool = True, l1_origin: dict | None = None):
    """Stage 2 (§2.3.2): a copy of ``l1_model`` fine-tuned against :func:`build_discriminator` (drawn under
    ``seed``) with :func:`companion.engine.adversarial.train_gan` and :func:`gan_settings`; ``l1_origin``
    (``info["origin"]`` of :func:`load_l1_from_zoo`) names where ``l1_model`` came from when it was not trained
    with ``cfg.pretrain``, for the checkpoint's name. Returns
    ``(model in eval mode, info)``; ``info``: ``steps``, ``seconds``, ``history`` (per-step D / G losses and
    D's mean probabilities on HR and SR), ``checkpoint``, ``disc_params``, ``discriminator`` (the trained
    multi-scale discriminator, eval mode: Fig. 2.3's maps)."""
    model = copy.deepcopy(l1_model).train()
    torch.manual_seed(seed)
    disc = build_discriminator(cfg)
    path = None if checkpoint_dir is None else checkpoint_path(checkpoint_dir, cfg, "gan", seed, l1_origin)
    result = train_gan(model, disc, training_patches(cfg, seed, data_root), gan_settings(cfg, seed),
                       batch=paired_batch("lr", "hr"), perceptual=perceptual_loss(cfg, data_root),
                       model_name="carn_m", device=device, checkpoint_path=path, progress=progress,
                       log=lambda _msg: None)
    info = dict(stage="gan", source="trained", steps=result.steps_done, seconds=round(result.seconds, 2),
                history=result.history, checkpoint=None if path is None else path.name,
                disc_params=count_parameters(disc), discriminator=disc.eval(), fallback="")
    return model.eval(), info


def load_gan_from_zoo(cfg, generator_entry, discriminator_entry, *, device="cpu"):
    """Stage 2 from the zoo: the generator (:func:`companion.zoo.load_entry`) and the discriminator, built by
    :func:`build_discriminator` (it is not a registry model) and loaded strictly from its safetensors file
    (stored in float16, loaded into float32). Returns ``(generator in eval mode, info)`` like
    :func:`finetune_gan`'s: ``source="zoo"``, ``checkpoint`` ("zoo <generator> + <discriminator>"), ``steps`` /
    ``seconds`` of the run that built them, ``history`` (the per-step record its sidecar keeps, 6 significant
    digits), ``discriminator`` (eval mode, on ``device``), ``disc_params``."""
    model, meta = load_entry(generator_entry)
    if discriminator_entry.config != discriminator_config(cfg):
        raise CompanionError(f"zoo entry {discriminator_entry.name} holds the discriminator "
                             f"{discriminator_entry.config}, this profile builds {discriminator_config(cfg)}")
    disc, _ = load_entry(discriminator_entry, build_discriminator(cfg))
    history = meta.get("history") or {}
    if not history.get("d"):
        raise CompanionError(f"zoo entry {generator_entry.name} keeps no training history; rebuild it with "
                             f"`python -m companion zoo build {generator_entry.name}`")
    disc_meta = read_sidecar(discriminator_entry) or {}
    info = dict(stage="gan", source="zoo", steps=int(meta["steps"]), seconds=float(meta["seconds"]),
                history={k: [float(x) for x in v] for k, v in history.items()},
                checkpoint=f"zoo {generator_entry.name} + {discriminator_entry.name}",
                disc_params=count_parameters(disc), discriminator=disc.to(device).eval(), fallback="",
                val_psnr=meta.get("val_psnr"), val_images=list(meta.get("val_images", [])),
                disc_dtype=disc_meta.get("dtype", "float32"), device_built=meta.get("device", ""))
    return model.to(device).eval(), info


__all__ = ["PERCEPTUAL", "build_generator", "build_discriminator", "discriminator_config", "perceptual_loss",
           "gan_settings", "check_split", "training_patches", "run_settings", "checkpoint_path", "pretrain_l1",
           "generator_config", "load_l1_from_zoo", "recipe_from_key", "finetune_gan", "load_gan_from_zoo"]
