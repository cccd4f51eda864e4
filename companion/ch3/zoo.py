"""Chapter 3's part of the model zoo (:mod:`companion.zoo`): the models of ``03_progressive_x8``'s quick profile.

* ``ch3/03/progressive-stage<s>-seed<k>`` (s = 1, 2, 3): the quick-size progressive CARN ×8 after stage s of
  Algorithm 1 (:func:`companion.ch3.progressive.fit_stage`); the notebook scores every head after every stage,
  so every stage's weights ship (the stage-3 entry is the finished model);
* ``ch3/03/baseline-<layout>-seed<k>``: the single-stage baseline (Table 3.1's CARN-B24U4 reading,
  ``layout="end"``), trained on ×8 → HR for the stages' total steps.

All with exactly the quick profile's settings (:data:`companion.ch3.config.PROGRESSIVE_PROFILES`): eight embedded
photographs to train on, the three held-out ones never seen. An entry's key (:func:`zoo_key`) is
:func:`companion.ch3.progressive.run_settings` (data, patch, loss, decay and every stage's training settings up
to this one, seed) plus the model's constructor configuration and initialisation; a notebook finds an entry by
that key (:func:`find`) and loads it instead of training. The sidecar's ``val_psnr`` is the head's RGB PSNR on
the centre :data:`FIT_CROP` px of :data:`FIT_IMAGE`, one of the training photographs (03 has no validation
image: all eight train, the three others are the test images), so it is a fit check, not a held-out score.

``python -m companion zoo build ch3`` (re)trains what is stale or missing: the progressive model stage after
stage (a current earlier stage is loaded, not retrained), the baseline side by side; runs resume from
checkpoints in the work folder (``runs/quick/work/checkpoints/ch3-zoo``, or under ``$COMPANION_WORK_DIR``).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from companion.zoo import REPO_ROOT, ZooEntry, device_description, save_entry, status, train_entries

#: The profile whose models the zoo holds.
PROFILE = "03_progressive_x8", "quick"
#: The training photograph (and its centre crop, HR px) of the sidecars' fit check.
FIT_IMAGE, FIT_CROP = "coffee", 256


def quick_config():
    from companion.profiles import config_for

    return config_for(*PROFILE)


def model_layout(cfg, what: str) -> str:
    return "progressive" if what == "progressive" else cfg.baseline


def model_config(cfg, what: str) -> dict:
    """Constructor arguments of the model (JSON-ready: lists, not tuples), as a sidecar stores them."""
    from companion.models import model_config as config

    out = config("progressive_carn", cfg.size, layout=model_layout(cfg, what))
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def zoo_key(cfg, what: str, seed: int, stage: int) -> dict:
    """Everything that shapes the weights of (``what``, ``seed``, ``stage``; stage 0 = the baseline)."""
    from companion.ch3.progressive import run_settings

    return dict(run_settings(cfg, what, seed, stage), model="progressive_carn", config=model_config(cfg, what),
                init="pytorch default after torch.manual_seed(seed)", lr_images="matlab bicubic x8, 8-bit",
                augment="flips + rotations")


def entry_name(cfg, what: str, seed: int, stage: int) -> str:
    return (f"ch3/03/progressive-stage{stage}-seed{seed}" if what == "progressive"
            else f"ch3/03/baseline-{cfg.baseline}-seed{seed}")


def entry_for(cfg, what: str, seed: int, stage: int) -> ZooEntry:
    from companion.ch3.progressive import LABELS, baseline_label

    label = (f"{LABELS['progressive']} after stage {stage} (quick size, x8)" if what == "progressive"
             else f"{baseline_label(cfg.baseline)} (quick size, x8)")
    return ZooEntry(name=entry_name(cfg, what, seed, stage), model="progressive_carn", config=model_config(cfg, what),
                    key=zoo_key(cfg, what, seed, stage), label=label, job=(cfg, what, int(seed), int(stage)))


def entries() -> list[ZooEntry]:
    """Per seed of the quick profile: the progressive model after stages 1, 2, 3, then the baseline."""
    cfg = quick_config()
    out = []
    for seed in range(cfg.seeds):
        out += [entry_for(cfg, "progressive", seed, s) for s in range(1, len(cfg.steps) + 1)]
        if cfg.baseline:
            out.append(entry_for(cfg, "baseline", seed, 0))
    return out


def find(cfg, what: str, seed: int, stage: int) -> ZooEntry | None:
    """The entry trained with exactly (``cfg``, ``what``, ``seed``, ``stage``), or None."""
    wanted = zoo_key(cfg, what, seed, stage)
    return next((e for e in entries() if e.key == wanted), None)


def work_folder() -> Path:
    """Where the zoo's training checkpoints go (resumable): ``$COMPANION_WORK_DIR/checkpoints/ch3-zoo``, else
    ``runs/quick/work/checkpoints/ch3-zoo`` in the checkout."""
    base = os.environ.get("COMPANION_WORK_DIR")
    return (Path(base) if base else REPO_ROOT / "runs" / "quick" / "work") / "checkpoints" / "ch3-zoo"


def fit_check(model, scale: int) -> float:
    """RGB PSNR of ``model``'s ×``scale`` head on the centre :data:`FIT_CROP` px of :data:`FIT_IMAGE` (a training
    photograph) against that head's target (:func:`companion.ch3.progressive.stage_images`)."""
    from companion.ch3.progressive import SCALE, _chw, stage_images
    from companion.data.images import centre_crop_at_most, embedded_image
    from companion.engine.loop import psnr_on_pairs

    lr, targets = stage_images(centre_crop_at_most(embedded_image(FIT_IMAGE), FIT_CROP), SCALE)
    return psnr_on_pairs(model.at_scale(scale), [(_chw(lr)[0], _chw(targets[scale])[0])])


def _meta(record: dict, model, scale: int, seed: int, commit: str) -> dict:
    val = round(float(fit_check(model, scale)), 3)
    return {"seed": seed, "steps": record["steps"], "seconds": round(record["seconds"], 1),
            "device": device_description("cpu"), "commit": commit, "val_psnr": val,
            "val_images": [f"{FIT_IMAGE} (centre {FIT_CROP} px, x{scale} head, RGB PSNR; a training photograph: "
                           f"a fit check, not a held-out score)"],
            "val": [[record["steps"], val]], "first_loss": round(record["first_loss"], 6),
            "final_loss": round(record["final_loss"], 6), "loss_curve": record["loss_curve"],
            "built": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def build_one(entry: ZooEntry, threads: int | None = 1, commit: str = "unknown", progress: bool = False) -> dict:
    """Train one entry (resuming its checkpoints) and write it into the zoo. A progressive stage-s entry trains
    stages 1..s in turn, loading each earlier stage whose entry is current and writing each one it trains."""
    import torch

    from companion.ch3 import progressive as pg

    cfg, what, seed, stage = entry.job
    if threads:
        torch.set_num_threads(int(threads))
    if what != "progressive":
        model = pg.build(cfg, cfg.baseline, seed)
        record = pg.fit_stage(model, pg.training_patches(cfg, seed), cfg, seed, 0, checkpoint_dir=work_folder(),
                              progress=progress)
        meta = _meta(record, model.eval(), pg.SCALE, seed, commit)
        save_entry(entry, model, meta)
        return meta
    model, data, meta = pg.build(cfg, "progressive", seed), None, None
    for s in range(1, stage + 1):
        earlier = entry_for(cfg, "progressive", seed, s)
        if s < stage and status(earlier) == "current":
            pg.load_stage(model, earlier)
            continue
        data = data or pg.training_patches(cfg, seed)
        record = pg.fit_stage(model, data, cfg, seed, s, checkpoint_dir=work_folder(), progress=progress)
        meta = _meta(record, model, 2 ** s, seed, commit)
        save_entry(earlier, model, meta)
    return meta


def build(entries, *, workers: int = 2, progress: bool = True) -> None:
    """Train ``entries`` (resumable), ``workers`` at a time with one thread each, with a progress bar. The
    progressive stages of a seed are one job (the last stage named; it writes the earlier ones it trains)."""
    from companion.session import git_commit

    jobs: dict[tuple, ZooEntry] = {}
    for e in entries:
        cfg, what, seed, stage = e.job
        key = (what, seed)
        if key not in jobs or jobs[key].job[3] < stage:
            jobs[key] = e
    train_entries(list(jobs.values()), build_one, commit=git_commit(), workers=workers, progress=progress,
                  desc="zoo build (ch3)", retry="python -m companion zoo build ch3")
