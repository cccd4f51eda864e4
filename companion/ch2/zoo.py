"""Chapter 2's part of the model zoo (:mod:`companion.zoo`): quick-size CARN-family models trained at ×4.

* ``ch2/carn-x4-seed0``: the quick-size CARN (C = 32, B = U = 3, thesis reading), single-scale ×4;
* ``ch2/carn-m-x4-seed0``: the quick-size CARN-M (G4R: C = 32, G = 4, recursive EResidual, grouped upsampler);
* ``ch2/02d/<variant>-seed<k>``: the models of ``02d_efficiency``'s quick profile (Fig. 2.8's G/R sweep,
  :func:`sweep_model`), trained with that profile's recipe;
* ``ch2/02b/<init>-seed<k>``: the models of ``02b_initialisation``'s quick profile (Table 2.3: each of the six
  initialisations × its seeds; C = 16 CARNs of 0.28 MB), trained by :func:`companion.ch2.init_training.fit`
  with that profile's settings (:data:`companion.ch2.config.INIT_PROFILES`; the same split: seven photographs
  train, coffee validates, the three held-out ones are never seen); their key (:func:`init_key`) is
  :func:`companion.ch2.init_training.run_settings` plus the network's configuration and the split (spec:
  :class:`Table23Run`);
* ``ch2/02c/pcarn-m-gan-seed0`` and ``ch2/02c/pcarn-m-gan-disc-seed0``: ``02c_pcarn``'s quick adversarial stage
  (:func:`companion.ch2.pcarn_training.finetune_gan`: ``ch2/carn-m-x4-seed0`` fine-tuned for 300 steps against the
  quarter-width multi-scale discriminator), its generator (PCARN-M at quick size, float32) and its trained
  discriminator (Fig. 2.3's maps; stored in float16 to halve its 4 MB, loaded back into float32), both written
  by one training run (one job). Their key (:func:`gan_key`) is :func:`companion.ch2.pcarn_training.run_settings` of the
  "gan" stage with the zoo L1 generator as its origin (that entry's name and digest: a rebuilt L1 entry makes
  them stale), plus both networks' configurations and the split (spec: :class:`GANStage`). The discriminator is not a :data:`companion.models.MODELS` model (the registry lists
  generators), so :func:`companion.zoo.load_entry` cannot build it: :func:`companion.ch2.pcarn_training.load_gan_from_zoo`
  builds it with :func:`companion.ch2.pcarn_training.build_discriminator` and loads it strictly.

The others are trained by :func:`companion.ch2.training.train_network` on seven embedded photographs (coffee
validates, china / flower / rocket are never seen; :mod:`companion.ch2.training`), L1 loss, with the fixed recipe
:data:`companion.ch2.config.QUICK_RECIPE` (the 02d sweep: its profile's). A notebook finds an entry by the
digest of :func:`companion.ch2.training.run_key` (spec: :class:`SRModel`) and evaluates it instead of training.

Every model has a spec with ``zoo_entry(seed)`` (:class:`SRModel`, :class:`Table23Run`, :class:`GANStage`;
:func:`declared` lists them all), and a notebook looks one up with :func:`companion.zoo.find` (the current
entry trained with exactly that spec, or None); :func:`build` trains an entry from its spec (:func:`spec_of`).
``python -m companion zoo build ch2`` (re)trains what is stale or missing (``ch2/02b`` only 02b's, ``ch2/02c``
only 02c's GAN stage, after the L1 entry it starts from); the runs resume from checkpoints in the work folder
(``runs/quick/work/checkpoints/ch2-zoo``, 02b's and 02c's in their ``02b`` / ``02c`` sub-folders, or under
``$COMPANION_WORK_DIR``).
"""
from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from companion.ch2 import init_training, pcarn_training
from companion.ch2.config import (EFFICIENCY_PROFILES, INIT_PROFILES, PCARN_PROFILES, EfficiencyConfig, InitConfig,
                                  PCARNConfig, SRTraining, variant_spec)
from companion.ch2.init_schemes import INITS, carn_config
from companion.ch2.pcarn_training import discriminator_config, generator_config
from companion.ch2.training import loss_curve, network_config, run_key, train_network, validation_pairs
from companion.engine.loop import psnr_on_pairs
from companion.errors import CompanionError
from companion.session import git_commit
from companion.zoo import REPO_ROOT, ZooEntry, device_description, save_entry, status, train_entries


#: The two quick-size ×4 models trained with :data:`companion.ch2.config.QUICK_RECIPE`: name stem -> (spec, label).
QUICK_X4_MODELS: dict[str, tuple[SRTraining, str]] = {
    "carn-x4": (SRTraining("carn"), "CARN (quick size, x4)"),
    "carn-m-x4": (SRTraining("carn_m"), "CARN-M (quick size, x4)"),
}
SEEDS = (0,)
#: 02c's GAN stage: the two parts one run trains, and the zoo model name each sidecar gives. The discriminator's
#: name is not a companion.models.MODELS key (see the module docstring).
GAN_PARTS = {"generator": "carn_m", "discriminator": "multiscale_discriminator"}
#: How each part's weights are stored (the discriminator in float16: 2.0 MB instead of 4.0 MB).
GAN_DTYPES = {"generator": "float32", "discriminator": "float16"}


# --------------------------------------------------------------------------------------------------------
# The specs of the zoo's models: each has ``zoo_entry(seed)``, so :func:`companion.zoo.find` looks them up.


@dataclass(frozen=True)
class SRModel:
    """One single-scale model (``ch2/<stem>-seed<k>``): the two ×4 models and 02d's sweep."""

    stem: str                        # e.g. "ch2/carn-x4" or "ch2/02d/g4r"
    spec: SRTraining
    label: str = ""

    def zoo_entry(self, seed: int) -> ZooEntry:
        return ZooEntry(name=f"{self.stem}-seed{seed}", model=self.spec.model, config=network_config(self.spec),
                        key=run_key(self.spec, seed), label=self.label)


@dataclass(frozen=True)
class Table23Run:
    """One initialisation of Table 2.3 under a 02b profile (``ch2/02b/<init>-seed<k>``)."""

    cfg: InitConfig
    init: str

    def zoo_entry(self, seed: int) -> ZooEntry:
        cfg = self.cfg
        return ZooEntry(name=f"ch2/02b/{self.init}-seed{seed}", model="carn",
                        config=carn_config(cfg.size, cfg.scale, cfg.channels), key=init_key(cfg, self.init, seed),
                        label=f"Table 2.3: {INITS[self.init].label}")


@dataclass(frozen=True)
class GANStage:
    """One part (generator or discriminator) of 02c's GAN stage under a 02c profile, fine-tuned from the zoo's
    L1 entry ``<cfg.l1_zoo>-seed<k>`` (``ch2/02c/pcarn-m-gan[-disc]-seed<k>``)."""

    cfg: PCARNConfig
    part: str                        # a GAN_PARTS key

    def zoo_entry(self, seed: int) -> ZooEntry:
        cfg, part = self.cfg, self.part
        l1 = SRModel(cfg.l1_zoo, QUICK_X4_MODELS[cfg.l1_zoo.rsplit("/", 1)[1]][0]).zoo_entry(seed)
        origin = {"zoo": l1.name, "digest": l1.digest}
        name = f"ch2/02c/pcarn-m-gan-seed{seed}" if part == "generator" else f"ch2/02c/pcarn-m-gan-disc-seed{seed}"
        label = ("PCARN-M (quick size, x4), 02c's GAN stage" if part == "generator" else
                 "02c's multi-scale discriminator (1/4 width; companion.ch2.pcarn_training.load_gan_from_zoo loads it)")
        config = generator_config(cfg) if part == "generator" else discriminator_config(cfg)
        return ZooEntry(name=name, model=GAN_PARTS[part], config=config, key=gan_key(cfg, seed, origin, part),
                        label=label)


def init_key(cfg, init: str, seed: int) -> dict:
    """Everything that shapes the weights of Table 2.3's (``init``, ``seed``) under ``cfg``: the notebook's
    :func:`companion.ch2.init_training.run_settings` (scheme, seed, size, data, patch, loss, training settings)
    plus the network's constructor configuration and the data split."""
    images = {**{n: "train" for n in cfg.train_images}, **({cfg.val_image: "val"} if cfg.val_image else {}),
              **{n: "test" for n in cfg.eval_images}}
    return dict(init_training.run_settings(cfg, init, seed), model="carn",
                config=carn_config(cfg.size, cfg.scale, cfg.channels),
                data=dict(images=images, lr="matlab bicubic, 8-bit"), augment="flips + rotations")


def gan_key(cfg, seed: int, l1_origin: dict, part: str) -> dict:
    """Everything that shapes 02c's GAN-stage weights under ``cfg`` (a :class:`companion.ch2.config.PCARNConfig`)
    for ``seed``, starting from the zoo generator ``l1_origin`` (``{"zoo": name, "digest": digest}``):
    :func:`companion.ch2.pcarn_training.run_settings` of the "gan" stage (data, patch, GAN settings, discriminator
    pooling and width, the starting generator) plus both networks' configurations, the split and which
    ``part`` ("generator" or "discriminator") the entry holds."""
    if part not in GAN_PARTS:
        raise CompanionError(f"part must be one of {', '.join(GAN_PARTS)}, got {part!r}")
    images = {**{n: "train" for n in cfg.train_images}, **{n: "test" for n in cfg.eval_images}}
    return dict(pcarn_training.run_settings(cfg, "gan", seed, l1_origin), part=part, dtype=GAN_DTYPES[part],
                generator=dict(model=GAN_PARTS["generator"], config=generator_config(cfg)),
                discriminator=dict(model=GAN_PARTS["discriminator"], config=discriminator_config(cfg)),
                init="discriminator: PyTorch default after torch.manual_seed(seed); generator: the L1 entry's",
                data=dict(images=images, lr="matlab bicubic, 8-bit"), augment="flips + rotations")


def sweep_model(name: str, cfg: EfficiencyConfig) -> SRModel:
    """02d's Fig. 2.8 variant ``name`` under ``cfg`` as a zoo spec (``ch2/02d/<name lowered>``)."""
    return SRModel(f"ch2/02d/{name.lower()}", variant_spec(name, cfg), f"Fig. 2.8 {name} ({cfg.size} size, x{cfg.scale})")


def declared() -> list[tuple[object, int]]:
    """Every (spec, seed) of the Chapter 2 zoo, in order: the two ×4 models, 02d's quick sweep, 02b's Table 2.3
    models (every initialisation × its seeds), 02c's GAN stage (generator, then discriminator, per seed)."""
    out: list[tuple[object, int]] = [(SRModel(f"ch2/{stem}", spec, label), seed)
                                     for stem, (spec, label) in QUICK_X4_MODELS.items() for seed in SEEDS]
    sweep = EFFICIENCY_PROFILES["quick"]
    out += [(sweep_model(name, sweep), seed) for name in sweep.variants for seed in range(sweep.seeds)]
    init = INIT_PROFILES["quick"]
    out += [(Table23Run(init, key), seed) for seed in range(init.seeds) for key in init.inits]
    out += [(GANStage(PCARN_PROFILES["quick"], part), seed) for seed in SEEDS for part in GAN_PARTS]
    return out


def entries() -> list[ZooEntry]:
    """The zoo entries of :func:`declared`, in its order."""
    return [spec.zoo_entry(seed) for spec, seed in declared()]


def init_entries() -> list[ZooEntry]:
    """02b's entries (Table 2.3's quick profile), in the notebook's order."""
    return [spec.zoo_entry(seed) for spec, seed in declared() if isinstance(spec, Table23Run)]


def gan_entries() -> list[ZooEntry]:
    """02c's entries: per seed, the generator then the discriminator (one training run writes both)."""
    return [spec.zoo_entry(seed) for spec, seed in declared() if isinstance(spec, GANStage)]


def spec_of(entry: ZooEntry) -> tuple[object, int]:
    """The (spec, seed) :func:`declared` gives ``entry``; a one-line error for an entry of another zoo."""
    for spec, seed in declared():
        if spec.zoo_entry(seed).name == entry.name:
            return spec, seed
    raise CompanionError(f"{entry.name} is not an entry of the Chapter 2 zoo")


def main_entry(stem: str = "carn-x4", seed: int = 0) -> ZooEntry:
    """``ch2/<stem>-seed<seed>`` (``carn-x4`` or ``carn-m-x4``); a one-line error for another name."""
    if stem in QUICK_X4_MODELS and seed in SEEDS:
        spec, label = QUICK_X4_MODELS[stem]
        return SRModel(f"ch2/{stem}", spec, label).zoo_entry(seed)
    raise CompanionError(f"the Chapter 2 zoo has no ch2/{stem}-seed{seed}; choose one of: "
                         + ", ".join(f"ch2/{s}-seed{k}" for s in QUICK_X4_MODELS for k in SEEDS))


def work_folder() -> Path:
    """Where the zoo's training checkpoints go (resumable): ``$COMPANION_WORK_DIR/checkpoints/ch2-zoo``, else
    ``runs/quick/work/checkpoints/ch2-zoo`` in the checkout."""
    base = os.environ.get("COMPANION_WORK_DIR")
    return (Path(base) if base else REPO_ROOT / "runs" / "quick" / "work") / "checkpoints" / "ch2-zoo"


def build_init_one(entry: ZooEntry, threads: int | None = 1, commit: str = "unknown") -> dict:
    """Train one 02b entry (:func:`companion.ch2.init_training.fit`, resuming its checkpoint in the work folder)
    and write it into the zoo with its validation curve and training record."""
    run, seed = spec_of(entry)
    cfg, init = run.cfg, run.init
    model, result = init_training.fit(cfg, init, seed, threads=threads, checkpoint_dir=work_folder() / "02b")
    record = init_training.training_record(result)
    pairs = init_training.validation_pairs(cfg)
    if record["val"] and record["val"][-1][0] == record["steps"]:
        val_psnr = record["val"][-1][1]
    else:
        val_psnr = round(float(psnr_on_pairs(model.at_scale(cfg.scale), pairs)), 3) if pairs else float("nan")
    meta = {"seed": seed, "init": init, "steps": record["steps"], "seconds": round(record["seconds"], 1),
            "device": device_description("cpu"), "commit": commit, "val_psnr": val_psnr,
            "val_images": [f"{cfg.val_image} (centre {cfg.val_crop} px, RGB PSNR)"] if pairs else [],
            "val": record["val"], "first_loss": round(record["first_loss"], 6),
            "final_loss": round(record["final_loss"], 6), "loss_curve": record["loss_curve"],
            "built": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    save_entry(entry, model, meta)
    return meta


def _significant(values, digits: int = 6) -> list[float]:
    return [float(f"{float(v):.{digits}g}") for v in values]


def build_gan_one(entry: ZooEntry, threads: int | None = 1, commit: str = "unknown", progress: bool = False) -> dict:
    """Train 02c's GAN stage for the entry's seed (:func:`companion.ch2.pcarn_training.finetune_gan` from the current L1
    entry, on ``cfg.cpu_threads`` threads as the notebook runs it, resuming its checkpoint in the work folder's
    ``02c`` sub-folder) and write both of its entries: the generator (float32; its sidecar keeps the per-step
    history the notebook draws) and the discriminator (float16). Returns the generator's sidecar meta."""
    stage, seed = spec_of(entry)
    cfg = stage.cfg
    l1_entry = main_entry(cfg.l1_zoo.rsplit("/", 1)[1], seed)
    if status(l1_entry) != "current":
        raise CompanionError(f"{entry.name} starts from {l1_entry.name}, which is {status(l1_entry)}; build it "
                             f"first: `python -m companion zoo build {l1_entry.name}`")
    before = torch.get_num_threads()
    torch.set_num_threads(int(cfg.cpu_threads or threads or 1))
    try:
        l1_model, l1_info = pcarn_training.load_l1_from_zoo(l1_entry)
        model, info = pcarn_training.finetune_gan(cfg, l1_model, seed, checkpoint_dir=work_folder() / "02c",
                                         progress=progress, l1_origin=l1_info["origin"])
        device = device_description("cpu")  # with the threads it trained on
    finally:
        torch.set_num_threads(before)
    spec = QUICK_X4_MODELS[cfg.l1_zoo.rsplit("/", 1)[1]][0]
    val_psnr = round(float(psnr_on_pairs(model.at_scale(cfg.scale), validation_pairs(spec))), 3)
    history = {k: _significant(v) for k, v in info["history"].items()}
    common = {"seed": seed, "steps": info["steps"], "seconds": round(info["seconds"], 1),
              "device": device, "commit": commit, "l1_origin": l1_info["origin"],
              "checkpoint": info["checkpoint"], "built": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    gen_entry, disc_entry = (GANStage(cfg, part).zoo_entry(seed) for part in GAN_PARTS)
    gen_meta = {**common, "dtype": GAN_DTYPES["generator"], "val_psnr": val_psnr,
                "val_images": [f"{spec.val_image} (centre {spec.val_crop} px, RGB PSNR; the zoo's validation "
                               f"photograph, never trained on)"], "val": [[info["steps"], val_psnr]],
                "loss_curve": loss_curve(info["history"]["g"]), "history": history}
    d = info["history"]["d"]
    disc_meta = {**common, "dtype": GAN_DTYPES["discriminator"], "params": info["disc_params"], "val_psnr": None,
                 "val": [], "loss_curve": loss_curve(d), "first_loss": round(float(d[0]), 6),
                 "final_loss": round(float(d[-1]), 6)}
    disc = copy.deepcopy(info["discriminator"]).to(getattr(torch, GAN_DTYPES["discriminator"]))
    save_entry(disc_entry, disc, disc_meta)
    save_entry(gen_entry, model, gen_meta)  # the generator last: its sidecar carries the history the notebook needs
    return gen_meta


def build_one(entry: ZooEntry, threads: int | None = 1, commit: str = "unknown", progress: bool = False) -> dict:
    """Train one entry (resuming its checkpoint), score it on the validation crop and write it into the zoo."""
    model_spec, seed = spec_of(entry)
    if isinstance(model_spec, Table23Run):
        return build_init_one(entry, threads, commit)
    if isinstance(model_spec, GANStage):
        return build_gan_one(entry, threads, commit, progress)
    spec = model_spec.spec
    model, result = train_network(spec, seed, device="cpu", checkpoint_dir=work_folder(), threads=threads,
                                  progress=progress)
    if result.val and result.val[-1][0] == result.steps_done:
        val_psnr = result.val[-1][1]
    else:
        val_psnr = psnr_on_pairs(model.at_scale(spec.scale), validation_pairs(spec))
    meta = {"seed": seed, "steps": result.steps_done, "seconds": round(result.seconds, 1),
            "device": device_description("cpu"), "commit": commit, "val_psnr": round(float(val_psnr), 3),
            "val_images": [f"{spec.val_image} (centre {spec.val_crop} px, RGB PSNR)"],
            "val": [[s, round(v, 3)] for s, v in result.val], "loss_curve": loss_curve(result.losses),
            "built": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    save_entry(entry, model, meta)
    return meta


def build(entries, *, workers: int = 2, progress: bool = True) -> None:
    """Train ``entries`` (resumable), ``workers`` at a time with one thread each, with a progress bar. 02c's GAN
    stage is one job per seed (its generator and discriminator come from one run), trained after the others, since
    it starts from the L1 entry ``ch2/carn-m-x4-seed<k>``."""
    commit = git_commit()
    specs = {e.name: spec_of(e) for e in entries}
    gan = [e for e in entries if isinstance(specs[e.name][0], GANStage)]
    gan_jobs: dict[int, ZooEntry] = {}
    for e in sorted(gan, key=lambda e: specs[e.name][0].part != "generator"):  # one job per seed, by its generator
        gan_jobs.setdefault(specs[e.name][1], e)
    others = [e for e in entries if e not in gan]
    if others:
        train_entries(others, build_one, commit=commit, workers=workers, progress=progress, desc="zoo build (ch2)",
                      retry="python -m companion zoo build ch2")
    if gan_jobs:
        train_entries(list(gan_jobs.values()), build_one, commit=commit, workers=min(workers, len(gan_jobs)),
                      progress=progress, desc="zoo build (ch2/02c)", retry="python -m companion zoo build ch2/02c")


__all__ = ["QUICK_X4_MODELS", "SEEDS", "GAN_PARTS", "GAN_DTYPES", "SRModel", "Table23Run", "GANStage", "init_key",
           "gan_key", "sweep_model", "declared", "entries", "init_entries", "gan_entries", "spec_of", "main_entry",
           "work_folder", "build_init_one", "build_gan_one", "build_one", "build"]
