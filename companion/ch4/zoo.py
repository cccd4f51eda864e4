"""Chapter 4's part of the model zoo (:mod:`companion.zoo`): the quick profile's trained models of 04b-04d.

Every entry is one :class:`~companion.ch4.config.AugmentedRun` trained with one seed
(:func:`companion.ch4.runs.zoo_entry`: ``ch4/<task>-<model>-<augmentation>[-<pct>pct]-seed<k>``), keyed by
:func:`companion.ch4.config.run_key` plus the network's configuration. A run that several notebooks name is
one entry: 04b's baseline and CutBlur models are rows of Table 4.2, and Table 4.3's full-data EDSR rows are
Table 4.2's baseline and MoA rows. The notebooks find entries with ``companion.zoo.find(RunSpec(run), seed)``
(:func:`companion.ch4.runs.trained_model`); this module never imports a notebook's experiment.

04c's MEPSNet trained with MoA on Chapter 7's quick SHDD (``ch4/shdd/mepsnet-moa-seed<k>``, keyed by Chapter 7's
key plus the augmentation: :class:`companion.ch7.training.AugmentedVariantSpec`) is here too; its baseline is
Chapter 7's own zoo entry.

The sidecar's ``val_psnr`` is the model's RGB PSNR on the validation photograph's centre crop
(:func:`companion.ch4.runs.validation_psnr`), never a test photograph.

``python -m companion zoo build ch4`` (re)trains what is stale or missing, two at a time with one thread each;
runs resume from checkpoints in the work folder (``runs/quick/work/checkpoints/ch4-zoo``, or under
``$COMPANION_WORK_DIR``).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from companion.ch4.config import (NOTEBOOK_FREQUENCIES, NOTEBOOK_TABLES, NOTEBOOK_WHERE, AugmentedRun, FrequencySpec,
                                  TablesSpec, WhereSpec)
from companion.ch4.runs import train_run, zoo_entry
from companion.ch7.training import VAL_IMAGES, shdd_root, train_variant, validation_psnr, zoo_spec
from companion.ch7.variants import analysis_variant
from companion.data.augments import PRESETS
from companion.profiles import config_for
from companion.session import NotebookRun, default_figures_dir, git_commit
from companion.zoo import REPO_ROOT, ZooEntry, device_description, save_entry, train_entries

#: 04c's MEPSNet trained with MoA lives under this zoo folder (``ch4/shdd/mepsnet-moa-seed<k>``); its baseline
#: is Chapter 7's own quick MEPSNet (``ch7/07b/mepsnet-seed<k>``), which the Chapter 7 zoo holds.
MOA_ZOO_GROUP = "ch4/shdd"
#: Chapter 7's data seed (its SHDD copy and the seed its zoo keys carry).
SHDD_DATA_SEED = 0

#: The profile whose models the zoo holds.
PROFILE = "quick"


def planned_runs(frequency: FrequencySpec, where: WhereSpec, tables: TablesSpec) -> list[tuple[AugmentedRun, int]]:
    """Every (run, seed) the three notebooks' specs train, each once: 04b's two models first (the chapter's most
    robust claim), then 04c's denoisers, then Table 4.2's and Table 4.3's other rows."""
    runs = [(r, s) for r in (frequency.baseline, frequency.cutblur) for s in range(frequency.seeds)]
    runs += [(r, s) for r in (where.denoise_baseline, where.denoise_moa) for s in range(where.seeds)]
    for run in (*tables.table_4_2_runs(), *tables.table_4_3_runs()):
        runs += [(run, s) for s in range(tables.seeds)]
    unique: dict[str, tuple[AugmentedRun, int]] = {}
    for run, seed in runs:
        unique.setdefault(zoo_entry(run, seed).name, (run, seed))
    return list(unique.values())


def _planned() -> dict[str, tuple[AugmentedRun, int]]:
    specs = (config_for(NOTEBOOK_FREQUENCIES, PROFILE), config_for(NOTEBOOK_WHERE, PROFILE),
             config_for(NOTEBOOK_TABLES, PROFILE))
    return {zoo_entry(run, seed).name: (run, seed) for run, seed in planned_runs(*specs)}


def _mepsnet_planned() -> dict[str, tuple[object, object, int]]:
    """``{entry name: (MoA spec, Chapter 7 config, seed)}`` of 04c's MEPSNet trained with MoA (quick profile)."""
    where = config_for(NOTEBOOK_WHERE, PROFILE)
    cfg = config_for(where.ch7_notebook, where.ch7_profile)
    spec = zoo_spec(analysis_variant(), cfg, SHDD_DATA_SEED, PRESETS[where.moa_preset], MOA_ZOO_GROUP)
    return {spec.zoo_entry(s).name: (spec, cfg, s) for s in range(SHDD_DATA_SEED, SHDD_DATA_SEED + where.seeds)}


def entries() -> list[ZooEntry]:
    """The quick profile's Chapter 4 models, in :func:`planned_runs`' order, then 04c's MEPSNet with MoA."""
    return [zoo_entry(run, seed) for run, seed in _planned().values()] + \
        [spec.zoo_entry(seed) for spec, _, seed in _mepsnet_planned().values()]


def work_folder() -> Path:
    """Where the zoo's training checkpoints go (resumable): ``$COMPANION_WORK_DIR/checkpoints/ch4-zoo``, else
    ``runs/quick/work/checkpoints/ch4-zoo`` in the checkout."""
    base = os.environ.get("COMPANION_WORK_DIR")
    return (Path(base) if base else REPO_ROOT / "runs" / "quick" / "work") / "checkpoints" / "ch4-zoo"


def _shdd_run(cfg, commit: str) -> NotebookRun:
    where = config_for(NOTEBOOK_WHERE, PROFILE)
    return NotebookRun(notebook=where.ch7_notebook, profile="quick", seed=SHDD_DATA_SEED, device="cpu", config=cfg,
                       figures_dir=default_figures_dir("quick"), commit=commit)


def build_mepsnet_one(entry: ZooEntry, threads: int | None = 1, commit: str = "unknown") -> dict:
    """Train one MEPSNet-with-MoA entry on Chapter 7's quick SHDD (resuming its work-folder checkpoint)."""
    if threads:
        torch.set_num_threads(int(threads))
    spec, cfg, seed = _mepsnet_planned()[entry.name]
    run = _shdd_run(cfg, commit)
    root = shdd_root(run, cfg, build=False)  # build() made it before starting the workers
    model, result = train_variant(run, spec.spec.variant, cfg, seed, root, progress=False, use_zoo=False,
                                  augmentation=spec.augmentation, zoo_group=MOA_ZOO_GROUP)
    val_psnr = result.val[-1][1] if result.val and result.val[-1][0] == result.steps_done \
        else validation_psnr(model, root, cfg, run.device)
    meta = {"group": MOA_ZOO_GROUP, "notebook": NOTEBOOK_WHERE, "seed": seed, "data_seed": SHDD_DATA_SEED,
            "steps": result.steps_done, "seconds": round(result.seconds, 1), "device": device_description(run.device),
            "commit": commit, "val_psnr": round(float(val_psnr), 3), "val_images": VAL_IMAGES,
            "val": [[s, round(v, 3)] for s, v in result.val], "loss_curve": result.loss_curve,
            "augmentation": spec.augmentation.describe(), "built": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    save_entry(entry, model, meta)
    return meta


def build_one(entry: ZooEntry, threads: int | None = 1, commit: str = "unknown", progress: bool = False) -> dict:
    """Train one entry (resuming its checkpoint) and write it into the zoo."""
    if entry.name in _mepsnet_planned():
        return build_mepsnet_one(entry, threads, commit)
    run, seed = _planned()[entry.name]
    if threads:
        torch.set_num_threads(int(threads))
    folder = work_folder()
    folder.mkdir(parents=True, exist_ok=True)
    model, record = train_run(run, seed, checkpoint_path=folder / f"{entry.digest}.pt", progress=progress)
    meta = {"seed": seed, "steps": record.steps, "seconds": round(record.seconds, 1),
            "device": device_description("cpu"), "commit": commit, "val_psnr": record.val_psnr,
            "val_images": [f"{name} (centre crop, RGB PSNR)" for name in run.split.validation],
            "val": [[record.steps, record.val_psnr]], "loss_curve": record.loss_curve,
            "built": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    save_entry(entry, model, meta)
    return meta


def build(entries, *, workers: int = 2, progress: bool = True) -> None:
    """Train ``entries`` (resumable), ``workers`` at a time with one thread each, with a progress bar (Chapter 7's
    quick SHDD is built first when a MEPSNet entry needs it)."""
    commit = git_commit()
    mepsnet = _mepsnet_planned()
    if any(e.name in mepsnet for e in entries):
        _, cfg, _ = next(iter(mepsnet.values()))
        shdd_root(_shdd_run(cfg, commit), cfg, progress=progress)
    train_entries(list(entries), build_one, commit=commit, workers=workers, progress=progress,
                  desc="zoo build (ch4)", retry="python -m companion zoo build ch4")
