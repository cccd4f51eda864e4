"""Chapter 2's part of the model zoo (:mod:`companion.zoo`): quick-size CARN-family models trained at ×4.

* ``ch2/carn-x4-seed0``: the quick-size CARN (C = 32, B = U = 3, thesis reading), single-scale ×4;
* ``ch2/carn-m-x4-seed0``: the quick-size CARN-M (G4R: C = 32, G = 4, recursive EResidual, grouped upsampler);
* ``ch2/02d/<variant>-seed<k>``: the models of ``02d_efficiency``'s quick profile (Fig. 2.8's G/R sweep,
  :func:`companion.ch2.efficiency.sweep_specs`), trained with that profile's recipe;
* ``ch2/02b/<init>-seed<k>``: the models of ``02b_initialisation``'s quick profile (Table 2.3: each of the six
  initialisations × its seeds; C = 16 CARNs of 0.28 MB), trained by :func:`companion.ch2.initialisation.fit`
  with that profile's settings (:data:`companion.ch2.config.INIT_PROFILES`; the same split: seven photographs
  train, coffee validates, the three held-out ones are never seen); their key (:func:`init_key`) is
  :func:`companion.ch2.initialisation.run_settings` plus the network's configuration and the split, and the
  notebook finds them with :func:`find_init`.

The others are trained by :func:`companion.ch2.training.train_network` on seven embedded photographs (coffee
validates, china / flower / rocket are never seen; :mod:`companion.ch2.training`), L1 loss, with the fixed recipe
:data:`companion.ch2.training.QUICK_RECIPE` (the 02d sweep: its profile's). A notebook finds an entry by the
digest of :func:`companion.ch2.training.run_key` (:func:`find`) and evaluates it instead of training.
``python -m companion zoo build ch2`` (re)trains what is stale or missing (``ch2/02b`` only 02b's); the runs
resume from checkpoints in the work folder (``runs/quick/work/checkpoints/ch2-zoo``, 02b's in its ``02b``
sub-folder, or under ``$COMPANION_WORK_DIR``).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from companion.ch2.training import SRTraining
from companion.errors import CompanionError
from companion.zoo import REPO_ROOT, ZooEntry, device_description, save_entry, train_entries

#: The two quick-size ×4 models of issue 10: name stem -> (spec, label).
MAIN: dict[str, tuple[SRTraining, str]] = {
    "carn-x4": (SRTraining("carn"), "CARN (quick size, x4)"),
    "carn-m-x4": (SRTraining("carn_m"), "CARN-M (quick size, x4)"),
}
SEEDS = (0,)


def entry_for(name: str, spec: SRTraining, seed: int, label: str = "") -> ZooEntry:
    from companion.ch2.training import network_config, run_key

    return ZooEntry(name=name, model=spec.model, config=network_config(spec), key=run_key(spec, seed),
                    label=label, job=(spec, seed))


def init_key(cfg, init: str, seed: int) -> dict:
    """Everything that shapes the weights of Table 2.3's (``init``, ``seed``) under ``cfg``: the notebook's
    :func:`companion.ch2.initialisation.run_settings` (scheme, seed, size, data, patch, loss, training settings)
    plus the network's constructor configuration and the data split."""
    from companion.ch2.initialisation import carn_config, run_settings

    images = {**{n: "train" for n in cfg.train_images}, **({cfg.val_image: "val"} if cfg.val_image else {}),
              **{n: "test" for n in cfg.eval_images}}
    return dict(run_settings(cfg, init, seed), model="carn", config=carn_config(cfg.size, cfg.scale, cfg.channels),
                data=dict(images=images, lr="matlab bicubic, 8-bit"), augment="flips + rotations")


def init_entry(cfg, init: str, seed: int) -> ZooEntry:
    from companion.ch2.initialisation import INITS, carn_config

    return ZooEntry(name=f"ch2/02b/{init}-seed{seed}", model="carn", config=carn_config(cfg.size, cfg.scale,
                                                                                         cfg.channels),
                    key=init_key(cfg, init, seed), label=f"Table 2.3: {INITS[init].label}",
                    job=("02b", cfg, init, int(seed)))


def init_entries() -> list[ZooEntry]:
    """02b's quick profile: every initialisation of Table 2.3 × its seeds (0, 1, …), in the notebook's order."""
    from companion.ch2.config import INIT_PROFILES

    cfg = INIT_PROFILES["quick"]
    return [init_entry(cfg, init, seed) for seed in range(cfg.seeds) for init in cfg.inits]


def entries() -> list[ZooEntry]:
    """The two ×4 models first, then 02d's sweep (its quick profile's variants and seeds), then 02b's Table 2.3
    models."""
    from companion.ch2 import efficiency

    out = [entry_for(f"ch2/{stem}-seed{seed}", spec, seed, label) for stem, (spec, label) in MAIN.items()
           for seed in SEEDS]
    for slug, spec, label, seed in efficiency.sweep_specs(efficiency.PROFILES["quick"]):
        out.append(entry_for(f"ch2/02d/{slug}-seed{seed}", spec, seed, label))
    return out + init_entries()


def find_init(cfg, init: str, seed: int) -> ZooEntry | None:
    """The 02b entry trained with exactly (``cfg``, ``init``, ``seed``), or None."""
    wanted = init_key(cfg, init, seed)
    return next((e for e in init_entries() if e.key == wanted), None)


def find(spec: SRTraining, seed: int) -> ZooEntry | None:
    """The entry trained with exactly (``spec``, ``seed``), or None."""
    from companion.ch2.training import run_key

    wanted = run_key(spec, seed)
    return next((e for e in entries() if e.key == wanted), None)


def main_entry(stem: str = "carn-x4", seed: int = 0) -> ZooEntry:
    """``ch2/<stem>-seed<seed>`` (``carn-x4`` or ``carn-m-x4``); a one-line error for another name."""
    name = f"ch2/{stem}-seed{seed}"
    for entry in entries():
        if entry.name == name:
            return entry
    raise CompanionError(f"the Chapter 2 zoo has no {name}; choose one of: "
                         + ", ".join(f"ch2/{s}-seed{k}" for s in MAIN for k in SEEDS))


def work_folder() -> Path:
    """Where the zoo's training checkpoints go (resumable): ``$COMPANION_WORK_DIR/checkpoints/ch2-zoo``, else
    ``runs/quick/work/checkpoints/ch2-zoo`` in the checkout."""
    base = os.environ.get("COMPANION_WORK_DIR")
    return (Path(base) if base else REPO_ROOT / "runs" / "quick" / "work") / "checkpoints" / "ch2-zoo"


def build_init_one(entry: ZooEntry, threads: int | None = 1, commit: str = "unknown") -> dict:
    """Train one 02b entry (:func:`companion.ch2.initialisation.fit`, resuming its checkpoint in the work folder)
    and write it into the zoo with its validation curve and training record."""
    from companion.ch2 import initialisation as ini
    from companion.engine.loop import psnr_on_pairs

    _, cfg, init, seed = entry.job
    model, result = ini.fit(cfg, init, seed, threads=threads, checkpoint_dir=work_folder() / "02b")
    record = ini.training_record(result)
    pairs = ini.validation_pairs(cfg)
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


def build_one(entry: ZooEntry, threads: int | None = 1, commit: str = "unknown", progress: bool = False) -> dict:
    """Train one entry (resuming its checkpoint), score it on the validation crop and write it into the zoo."""
    from companion.ch2.training import loss_curve, train_network, validation_pairs
    from companion.engine.loop import psnr_on_pairs

    if entry.job[0] == "02b":
        return build_init_one(entry, threads, commit)
    spec, seed = entry.job
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
    """Train ``entries`` (resumable), ``workers`` at a time with one thread each, with a progress bar."""
    from companion.session import git_commit

    commit = git_commit()
    train_entries(entries, build_one, commit=commit, workers=workers, progress=progress, desc="zoo build (ch2)",
                  retry="python -m companion zoo build ch2")
