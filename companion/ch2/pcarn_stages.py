"""``02c_pcarn``'s two stages, and where each comes from: the model zoo when a current entry matches the profile,
else trained here (thesis §2.3.2, §2.4.1).

* :func:`l1_stage`: stage 1, PCARN-M (L1): the zoo's CARN-M (``cfg.l1_zoo``, :func:`l1_zoo_entry`, which checks
  it against the profile with :func:`zoo_mismatch`) loaded by
  :func:`companion.ch2.pcarn_training.load_l1_from_zoo`, or trained by
  :func:`companion.ch2.pcarn_training.pretrain_l1`;
* :func:`gan_stage`: stage 2, the adversarial fine-tuning: the zoo's generator and discriminator
  (:func:`gan_zoo_entries`, typed specs :class:`companion.ch2.zoo.GANStage` through :func:`companion.zoo.find`)
  loaded by :func:`companion.ch2.pcarn_training.load_gan_from_zoo`, or trained by
  :func:`companion.ch2.pcarn_training.finetune_gan`;
* :func:`config_that_ran`: the profile with the recipe that actually ran, for the results file.

A stage that falls back to training says why in ``info["fallback"]``. Used by :mod:`companion.ch2.pcarn`.
"""
from __future__ import annotations

from dataclasses import replace

from companion.ch2 import zoo as ch2_zoo
from companion.ch2.pcarn_training import (finetune_gan, generator_config, load_gan_from_zoo, load_l1_from_zoo,
                                          pretrain_l1)
from companion.zoo import find, status


def zoo_mismatch(cfg, entry, seed: int) -> str:
    """Why zoo ``entry`` is not ``cfg``'s stage 1 for ``seed`` ("" when it is): another network or
    configuration, scale, patch side, loss, seed, training photographs, or a held-out image it saw."""
    key = entry.key
    images = key.get("data", {}).get("images", {})
    if not isinstance(images, dict) or cfg.source != "bundled":
        return "it was not trained on the embedded photographs this profile trains on"
    checks = (("model", entry.model, "carn_m"), ("network configuration", entry.config, generator_config(cfg)),
              ("scale", key.get("scale"), int(cfg.scale)), ("LR patch side", key.get("patch"), int(cfg.patch)),
              ("loss", key.get("loss"), "l1"), ("seed", key.get("seed"), int(seed)),
              ("training photographs", sorted(n for n, r in images.items() if r == "train"),
               sorted(cfg.train_images)))
    for setting, theirs, ours in checks:
        if theirs != ours:
            return f"its {setting} is {theirs!r}, this profile's {ours!r}"
    seen = sorted(n for n in cfg.eval_images if images.get(n) != "test")
    if seen:
        return f"it did not hold out the test images {seen}"
    return ""


def l1_zoo_entry(cfg, seed: int):
    """``(entry, "")`` when stage 1 can come from the zoo: ``cfg.l1_zoo`` names an entry of the Chapter 2 zoo
    (:func:`companion.ch2.zoo.entries`) for ``seed`` that is current (:func:`companion.zoo.status`) and matches
    ``cfg`` (:func:`zoo_mismatch`); else ``(None, why not)`` in one line (empty when ``cfg.l1_zoo`` is)."""
    if not cfg.l1_zoo:
        return None, ""
    name = f"{cfg.l1_zoo}-seed{int(seed)}"
    entry = next((e for e in ch2_zoo.entries() if e.name == name), None)
    if entry is None:
        return None, f"the model zoo declares no {name}"
    state = status(entry)
    if state != "current":
        return None, (f"zoo entry {name} is {state} (`python -m companion zoo build {name}` builds it, "
                      f"about 40 CPU-minutes)")
    mismatch = zoo_mismatch(cfg, entry, seed)
    if mismatch:
        return None, f"zoo entry {name} does not match this profile: {mismatch}"
    return entry, ""


def l1_stage(cfg, seed: int, *, device="cpu", data_root=None, checkpoint_dir=None, progress: bool = True):
    """Stage 1: the zoo's generator when :func:`l1_zoo_entry` finds one (:func:`load_l1_from_zoo`), else trained
    here (:func:`pretrain_l1`); a fallback's reason goes into ``info["fallback"]``."""
    entry, reason = l1_zoo_entry(cfg, seed)
    if entry is not None:
        return load_l1_from_zoo(entry, device=device)
    model, info = pretrain_l1(cfg, seed, device=device, data_root=data_root, checkpoint_dir=checkpoint_dir,
                              progress=progress)
    info["fallback"] = reason
    return model, info


def gan_zoo_entries(cfg, seed: int, l1_info: dict):
    """``((generator entry, discriminator entry), "")`` when stage 2 can come from the zoo: ``cfg.gan_zoo`` is on,
    stage 1 came from the zoo (``l1_info["source"] == "zoo"``), the Chapter 2 zoo declares the GAN stage trained
    with exactly ``cfg``'s settings from that generator (:func:`companion.zoo.find` of
    :class:`companion.ch2.zoo.GANStage`, both parts current); else ``(None, why not)`` in one line (empty when
    ``cfg.gan_zoo`` is off)."""
    if not cfg.gan_zoo:
        return None, ""
    if l1_info.get("source") != "zoo" or not l1_info.get("origin"):
        return None, "stage 1 was trained here, and the zoo's GAN stage starts from the zoo's L1 generator"
    stages = [ch2_zoo.GANStage(cfg, part) for part in ch2_zoo.GAN_PARTS]
    if any(stage.zoo_entry(seed).key["l1"] != l1_info["origin"] for stage in stages):
        return None, (f"the model zoo holds no GAN stage trained with these settings from {l1_info['origin']['zoo']} "
                      f"(seed {int(seed)})")
    pair = tuple(find(stage, seed) for stage in stages)
    for stage, entry in zip(stages, pair):
        if entry is None:
            declared = stage.zoo_entry(seed)
            return None, (f"zoo entry {declared.name} is {status(declared)} with these settings (`python -m companion "
                          f"zoo build ch2/02c` builds it and its partner, 2-4 minutes on one core)")
    return pair, ""


def gan_stage(cfg, l1_model, l1_info: dict, seed: int, *, device="cpu", data_root=None, checkpoint_dir=None,
              progress: bool = True):
    """Stage 2: the zoo's generator and discriminator when :func:`gan_zoo_entries` finds them
    (:func:`load_gan_from_zoo`), else ``l1_model`` fine-tuned here (:func:`finetune_gan`, from
    ``l1_info["origin"]``); a fallback's reason goes into ``info["fallback"]``."""
    pair, reason = gan_zoo_entries(cfg, seed, l1_info)
    if pair is not None:
        return load_gan_from_zoo(cfg, *pair, device=device)
    model, info = finetune_gan(cfg, l1_model, seed, device=device, data_root=data_root, checkpoint_dir=checkpoint_dir,
                               progress=progress, l1_origin=l1_info.get("origin"))
    info["fallback"] = reason
    return model, info


def config_that_ran(cfg, result: dict):
    """``cfg`` with the settings that actually ran: when stage 1 came from the model zoo, ``pretrain`` is the
    recipe that entry was trained with (from its sidecar, :func:`companion.ch2.pcarn_training.load_l1_from_zoo`),
    not the profile's fallback; a results file records this (``run.config``). Stage 2 from the zoo was trained
    with exactly ``cfg``'s GAN settings (:func:`gan_zoo_entries` matches them), so nothing else changes."""
    l1 = result["l1"]
    return replace(cfg, pretrain=l1["train"]) if l1.get("source") == "zoo" else cfg


__all__ = ["zoo_mismatch", "l1_zoo_entry", "l1_stage", "gan_zoo_entries", "gan_stage", "config_that_ran"]
