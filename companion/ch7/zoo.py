"""Chapter 7's part of the model zoo (:mod:`companion.zoo`): the quick-size models its notebooks train.

* ``ch7/07b/<model>-seed<k>``: the five models of Table 7.1 (``07b_mepsnet_training``), 3 seeds;
* ``ch7/07c/mepsnet-<settings>-seed<k>``: every distinct MEPSNet of Tables 7.3 / 7.4 and Fig. 7.6
  (``07c_ablations``), 3 seeds;
* the analysis model of ``07d_what_experts_learn`` is ``ch7/07b/mepsnet-seed0`` (the quick profiles train it
  with the same settings, so it is held once);
* ``ch7/07e/<restorer>-<type>-seed<k>`` and ``ch7/07e/classifier-seed<k>``: the routing experiment of
  ``07e_recognition_after_restoration`` (a restorer per distortion type and an SHDD-type classifier, 3 seeds;
  their specs, training and build are :mod:`companion.ch7.routing`'s).

Each is trained exactly as the quick profile of its notebook trains it (:func:`companion.ch7.training.
train_variant`, same data, seed and steps), so a notebook finds its entry by the digest of those settings
(:func:`companion.zoo.find` of a :class:`~companion.ch7.variants.VariantSpec`) and evaluates it instead of
training. The data is the quick profile's SHDD (embedded photographs, data seed 0: the notebooks' default
``SEED``); a notebook run with another ``SEED`` or profile finds no entry and trains.
"""
from __future__ import annotations

import time

import torch

from companion.ch7 import routing
from companion.ch7.config import ABLATIONS, ANALYSIS, RECOGNITION, TRAINING
from companion.ch7.training import VAL_IMAGES, shdd_root, train_variant, validation_psnr
from companion.ch7.variants import VariantSpec, ablation_variants, analysis_variant, baselines, build_key
from companion.errors import CompanionError
from companion.session import NotebookRun, default_figures_dir, git_commit
from companion.zoo import ZooEntry, device_description, save_entry, train_entries

#: group -> (notebook, its quick profile); the data seed is the notebooks' default SEED.
GROUPS = {"07b": ("07b_mepsnet_training", TRAINING["quick"]), "07d": ("07d_what_experts_learn", ANALYSIS["quick"]),
          "07c": ("07c_ablations", ABLATIONS["quick"]),
          "07e": ("07e_recognition_after_restoration", RECOGNITION["quick"])}
DATA_SEED = 0
#: The group whose models are not Table 7.1 variants: 07e's routing models, with their own specs and training.
ROUTING_GROUP = "07e"


def _variants(group: str, cfg):
    if group == "07b":
        return baselines(cfg)
    if group == "07d":
        return [analysis_variant()]
    everything = [v for variants in ablation_variants(cfg).values() for v in variants.values()]
    unique: dict = {}
    for v in everything:  # the first label a shared model has (Table 7.3's "ME+PS (3 experts)")
        unique.setdefault(build_key(v, cfg), v)
    return list(unique.values())


def specs() -> dict[str, tuple[str, VariantSpec, int]]:
    """``{entry name: (group, spec, seed)}`` of every Chapter 7 entry, in :func:`entries`' order: what
    :func:`build_one` trains for each name."""
    out, seen = {}, set()
    for group, (_, cfg) in GROUPS.items():
        if group == ROUTING_GROUP:  # companion.ch7.routing's specs (routing_specs)
            continue
        for variant in _variants(group, cfg):
            spec = VariantSpec(variant, cfg, DATA_SEED)
            for seed in range(DATA_SEED, DATA_SEED + cfg.seeds):
                entry = spec.zoo_entry(seed)
                if entry.digest not in seen:
                    seen.add(entry.digest)
                    out[entry.name] = (group, spec, seed)
    return out


def routing_specs() -> dict:
    """``{entry name: (spec, seed)}`` of 07e's routing models (:func:`companion.ch7.routing.zoo_specs`)."""
    return routing.zoo_specs(GROUPS[ROUTING_GROUP][1], DATA_SEED) if ROUTING_GROUP in GROUPS else {}


def entries() -> list[ZooEntry]:
    """Every Chapter 7 entry: 07b first (Table 7.1), then 07d, then 07c. A model a later group trains with
    exactly the settings of an earlier one (07d's analysis model is 07b's seed-0 MEPSNet) is held once, under
    the earlier name; :func:`companion.zoo.find` gives it to both notebooks. Then 07e's routing models."""
    return [spec.zoo_entry(seed) for _, spec, seed in specs().values()] + \
        [spec.zoo_entry(seed) for spec, seed in routing_specs().values()]


def _zoo_run(notebook: str, cfg, commit: str) -> NotebookRun:
    return NotebookRun(notebook=notebook, profile="quick", seed=DATA_SEED, device="cpu", config=cfg,
                       figures_dir=default_figures_dir("quick"), commit=commit)


def build_one(entry: ZooEntry, threads: int | None = 1, commit: str = "unknown") -> dict:
    """Train one entry (resuming its work-folder checkpoint) and write it into the zoo; returns its sidecar."""
    if threads:
        torch.set_num_threads(threads)
    group, spec, seed = specs()[entry.name]
    notebook, cfg = GROUPS[group]
    run = _zoo_run(notebook, cfg, commit)
    root = shdd_root(run, cfg, build=False)  # build() made it before starting the workers
    model, result = train_variant(run, spec.variant, cfg, seed, root, progress=False, use_zoo=False)
    val_psnr = result.val[-1][1] if result.val and result.val[-1][0] == result.steps_done \
        else validation_psnr(model, root, cfg, run.device)
    meta = {"group": group, "notebook": notebook, "seed": seed, "data_seed": DATA_SEED, "steps": result.steps_done,
            "seconds": round(result.seconds, 1), "device": device_description(run.device), "commit": run.commit,
            "val_psnr": round(float(val_psnr), 3), "val_images": VAL_IMAGES,
            "val": [[s, round(v, 3)] for s, v in result.val], "loss_curve": result.loss_curve,
            "built": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    save_entry(entry, model, meta)
    return meta


def build(entries, *, workers: int = 2, progress: bool = True) -> None:
    """Train ``entries`` (resumable), ``workers`` at a time with one thread each, with a progress bar."""
    commit = git_commit()  # the code the whole build started from
    routed = [e for e in entries if e.name in routing_specs()]
    if routed:  # 07e's routing models: their own specs and training (companion.ch7.routing)
        routing.build_entries(routed, GROUPS[ROUTING_GROUP][1], workers=workers, progress=progress, commit=commit,
                              data_seed=DATA_SEED)
    entries = [e for e in entries if e not in routed]
    groups = specs()
    for group in dict.fromkeys(groups[e.name][0] for e in entries):  # build each dataset once, before the workers
        notebook, cfg = GROUPS[group]
        shdd_root(_zoo_run(notebook, cfg, commit), cfg, progress=progress)
    train_entries(entries, build_one, commit=commit, workers=workers, progress=progress)


def restore_entry(model: str = "mepsnet") -> ZooEntry:
    """The entry ``restore --checkpoint zoo`` and the quickstart use for ``model``: Table 7.1's seed-0 run,
    ``ch7/07b/<model>-seed0``. A one-line error for a model the Chapter 7 zoo does not hold."""
    name = f"ch7/07b/{model}-seed{DATA_SEED}"
    held = entries()
    for entry in held:
        if entry.name == name:
            return entry
    models = [e.name.split("/")[-1].rsplit("-seed", 1)[0] for e in held
              if e.name.startswith("ch7/07b/") and e.name.endswith(f"-seed{DATA_SEED}")]
    raise CompanionError(f"the model zoo has no {model}; choose one of: {', '.join(models)}")
