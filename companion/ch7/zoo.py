"""Chapter 7's part of the model zoo (:mod:`companion.zoo`): the quick-size models its notebooks train.

* ``ch7/07b/<model>-seed<k>``: the five models of Table 7.1 (``07b_mepsnet_training``), 3 seeds;
* ``ch7/07c/mepsnet-<settings>-seed<k>``: every distinct MEPSNet of Tables 7.3 / 7.4 and Fig. 7.6
  (``07c_ablations``), 3 seeds;
* the analysis model of ``07d_what_experts_learn`` is ``ch7/07b/mepsnet-seed0`` (the quick profiles train it
  with the same settings, so it is held once).

Each is trained exactly as the quick profile of its notebook trains it (:func:`companion.ch7.experiments.
train_variant`, same data, seed and steps), so a notebook finds its entry by the digest of those settings
(:func:`find`) and evaluates it instead of training. The data is the quick profile's SHDD (embedded
photographs, data seed 0: the notebooks' default ``SEED``); a notebook run with another ``SEED`` or
profile finds no entry and trains.
"""
from __future__ import annotations

import time

from companion.ch7.config import ABLATIONS, ANALYSIS, TRAINING
from companion.errors import CompanionError
from companion.zoo import ZooEntry, device_description, save_entry, train_entries

#: group -> (notebook, its quick profile); the data seed is the notebooks' default SEED.
GROUPS = {"07b": ("07b_mepsnet_training", TRAINING["quick"]), "07d": ("07d_what_experts_learn", ANALYSIS["quick"]),
          "07c": ("07c_ablations", ABLATIONS["quick"])}
DATA_SEED = 0


def _variants(group: str, cfg):
    from companion.ch7 import experiments as ex

    if group == "07b":
        return ex.baselines(cfg)
    if group == "07d":
        return [ex.analysis_variant()]
    everything = [v for variants in ex.ablation_variants(cfg).values() for v in variants.values()]
    unique: dict = {}
    for v in everything:  # the first label a shared model has (Table 7.3's "ME+PS (3 experts)")
        unique.setdefault(ex.build_key(v, cfg), v)
    return list(unique.values())


def slug(variant, cfg) -> str:
    """``mepsnet`` for the profile's own size (07c: its ablation base), else the settings that differ:
    ``mepsnet-experts1-share0``."""
    from companion.models import model_config

    start = dict(cfg.ablation_base) if variant.model == "mepsnet" else {}
    base = model_config(variant.model, cfg.size, **start)
    changed = [f"{k}{int(v) if isinstance(v, bool) else v}" for k, v in sorted(variant.kwargs(cfg.size).items())
               if base.get(k) != v]
    return "-".join([variant.model, *changed])


def entry_for(group: str, variant, cfg, seed: int, data_seed: int = DATA_SEED) -> ZooEntry:
    from companion.ch7 import experiments as ex

    return ZooEntry(name=f"ch7/{group}/{slug(variant, cfg)}-seed{seed}", model=variant.model,
                    config=variant.kwargs(cfg.size), key=ex.variant_key(variant, cfg, seed, data_seed),
                    label=variant.label, job=(group, variant, seed))


def entries() -> list[ZooEntry]:
    """Every Chapter 7 entry: 07b first (Table 7.1), then 07d, then 07c. A model a later group trains with
    exactly the settings of an earlier one (07d's analysis model is 07b's seed-0 MEPSNet) is held once, under
    the earlier name; :func:`find` gives it to both notebooks."""
    out, seen = [], set()
    for group, (_, cfg) in GROUPS.items():
        for variant in _variants(group, cfg):
            for i in range(cfg.seeds):
                entry = entry_for(group, variant, cfg, DATA_SEED + i)
                if entry.digest not in seen:
                    seen.add(entry.digest)
                    out.append(entry)
    return out


def find(variant, cfg, seed: int, data_seed: int) -> ZooEntry | None:
    """The zoo entry trained with exactly these settings (any group), or None."""
    from companion.ch7 import experiments as ex

    wanted = ex.variant_key(variant, cfg, seed, data_seed)
    for entry in entries():
        if entry.key == wanted:
            return entry
    return None


def _zoo_run(notebook: str, cfg, commit: str):
    from companion.session import NotebookRun, default_figures_dir

    return NotebookRun(notebook=notebook, profile="quick", seed=DATA_SEED, device="cpu", config=cfg,
                       figures_dir=default_figures_dir("quick"), commit=commit)


def build_one(entry: ZooEntry, threads: int | None = 1, commit: str = "unknown") -> dict:
    """Train one entry (resuming its work-folder checkpoint) and write it into the zoo; returns its sidecar."""
    import torch

    from companion.ch7 import experiments as ex

    if threads:
        torch.set_num_threads(threads)
    group, variant, seed = entry.job
    notebook, cfg = GROUPS[group]
    run = _zoo_run(notebook, cfg, commit)
    root = ex.shdd_root(run, cfg, build=False)  # build() made it before starting the workers
    model, result = ex.train_variant(run, variant, cfg, seed, root, progress=False, use_zoo=False)
    val_psnr = result.val[-1][1] if result.val and result.val[-1][0] == result.steps_done \
        else ex.validation_psnr(model, root, cfg, run.device)
    meta = {"group": group, "notebook": notebook, "seed": seed, "data_seed": DATA_SEED, "steps": result.steps_done,
            "seconds": round(result.seconds, 1), "device": device_description(run.device), "commit": run.commit,
            "val_psnr": round(float(val_psnr), 3), "val_images": ex.VAL_IMAGES,
            "val": [[s, round(v, 3)] for s, v in result.val], "loss_curve": result.loss_curve,
            "built": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    save_entry(entry, model, meta)
    return meta


def build(entries, *, workers: int = 2, progress: bool = True) -> None:
    """Train ``entries`` (resumable), ``workers`` at a time with one thread each, with a progress bar."""
    from companion.ch7 import experiments as ex
    from companion.session import git_commit

    commit = git_commit()  # the code the whole build started from
    for group in dict.fromkeys(e.job[0] for e in entries):  # build each dataset once, before the workers
        notebook, cfg = GROUPS[group]
        ex.shdd_root(_zoo_run(notebook, cfg, commit), cfg, progress=progress)
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
