"""Chapter 6's part of the model zoo (:mod:`companion.zoo`): the quick-size recognisers its notebooks train.

* ``ch6/06b/<model>-<regime>-seed<k>``: Table 6.1's classifiers of ``06b_classification``'s quick profile
  (:class:`companion.ch6.classification.TrainedClassifier`): IQA-CNN+ and IQA-CNN++ trained from scratch, and
  VGG-16, Atrous VGG-16 and ResNet-101 at 1/8 width, each frozen with a new FC and fine-tuned.

Every notebook of the chapter brings its entries as a :class:`Provider` (a name prefix, its ``entries()`` and
its ``build(entries, *, workers, progress)``) appended to :data:`PROVIDERS`; :func:`entries` and :func:`build`,
which :mod:`companion.zoo` calls, go through the providers in order. A notebook's part of this file is one block
ending in ``PROVIDERS.append(...)``; the next notebook's block goes after it.

Each entry is trained exactly as its notebook's quick profile trains it (same function, data, seed and steps),
so the notebook finds it by the digest of those settings (:func:`companion.zoo.find`) and evaluates it instead of
training. The 06b classifiers are stored in float16 (:data:`STORED_DTYPE`): what a notebook loads differs from what
it would train only by that rounding. The data is the quick profile's (embedded photographs, data seed 0: the
notebooks' default ``SEED``); a run with another ``SEED`` or profile finds no entry and trains. This module never imports back into the
experiments: they find their entries through :func:`companion.zoo.find`.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import torch

from companion.ch6 import classification, detection
from companion.errors import CompanionError
from companion.processes import run_per_seed
from companion.profiles import config_for
from companion.session import git_commit
from companion.zoo import REPO_ROOT, ZooEntry, device_description, save_entry


@dataclass(frozen=True)
class Provider:
    """One notebook's entries: names starting with ``prefix`` (``"ch6/06b/"``), listed by ``entries()`` and
    trained by ``build(entries, *, workers, progress)``."""

    prefix: str
    entries: Callable[[], list[ZooEntry]]
    build: Callable[..., None]


#: The chapter's providers, one per notebook, in the zoo's order (each notebook's block appends its own).
PROVIDERS: list[Provider] = []


def entries() -> list[ZooEntry]:
    """Every Chapter 6 entry, provider after provider."""
    return [e for provider in PROVIDERS for e in provider.entries()]


def build(entries, *, workers: int = 2, progress: bool = True) -> None:
    """Train ``entries`` (resumable): each provider builds its own."""
    entries = list(entries)
    unknown = [e.name for e in entries if not any(e.name.startswith(p.prefix) for p in PROVIDERS)]
    if unknown:
        raise CompanionError(f"no Chapter 6 provider builds {', '.join(unknown)}; `python -m companion zoo list` "
                             "shows the entries")
    for provider in PROVIDERS:
        mine = [e for e in entries if e.name.startswith(provider.prefix)]
        if mine:
            provider.build(mine, workers=workers, progress=progress)


def work_folder() -> Path:
    """Where the zoo builds keep data and resumable checkpoints: ``$COMPANION_WORK_DIR``, else the quick
    profile's work folder ``runs/quick/work`` (a notebook run in quick shares the generated data)."""
    base = os.environ.get("COMPANION_WORK_DIR")
    return Path(base) if base else REPO_ROOT / "runs" / "quick" / "work"


# --------------------------------------------------------------------------------------------------------
# 06b_classification: Table 6.1's classifiers.

CLASSIFICATION_PROFILE = (classification.NOTEBOOK, "quick")
#: The classifiers' weights are stored in float16 (half the size; a quick-width VGG-16 holds 2.1M parameters)
#: and loaded back into float32; the sidecar's validation accuracy is that of the stored weights.
STORED_DTYPE = torch.float16
#: The data seed of the entries: the notebooks' default ``SEED``.
DATA_SEED = 0


def classification_specs() -> dict[str, tuple[classification.TrainedClassifier, int]]:
    """``{entry name: (trained classifier, seed)}`` of every 06b entry, in Table 6.1's order."""
    cfg = config_for(*CLASSIFICATION_PROFILE)
    return {trained.zoo_entry(seed).name: (trained, seed) for trained in classification.classifiers(cfg, DATA_SEED)
            for seed in range(DATA_SEED, DATA_SEED + cfg.seeds)}


def classification_entries() -> list[ZooEntry]:
    return [trained.zoo_entry(seed) for trained, seed in classification_specs().values()]


def as_stored(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` (in place) with its floating-point weights rounded through :data:`STORED_DTYPE`, as a notebook
    loads them from the zoo."""
    with torch.no_grad():
        for tensor in model.state_dict().values():  # what the file holds (not the fixed ImageNet statistics)
            if tensor.is_floating_point():
                tensor.copy_(tensor.to(STORED_DTYPE))
    return model


def _classification_data(progress: bool) -> dict:
    cfg = config_for(*CLASSIFICATION_PROFILE)
    root = classification.build_data(cfg, work_folder(), DATA_SEED, progress=progress)
    return classification.load_splits(root, cfg, progress=False)


def build_classifier(name: str, seed: int, *, threads: int | None = 1, commit: str = "unknown",
                     progress: bool = False) -> dict:
    """Train entry ``name`` (for ``seed``; resuming its work-folder checkpoint) and write it into the zoo;
    returns its sidecar's training record."""
    if threads:
        torch.set_num_threads(int(threads))
    trained, entry_seed = classification_specs()[name]
    data = _classification_data(progress=False)  # the parent built it: this only reads it
    got = classification.train_classifier(trained, entry_seed, data, "cpu", progress=progress,
                                          checkpoint_dir=work_folder() / "checkpoints" / "ch6-zoo")
    model = as_stored(got.model)
    val = classification.Crops(data["val"], trained.spec.crop)
    measured = classification.scores(classification.predict(model, val, "cpu"), val.store.targets,
                                     trained.spec.labels)
    meta = {"notebook": classification.NOTEBOOK, "seed": entry_seed, "data_seed": DATA_SEED, "steps": got.steps,
            "seconds": round(got.seconds, 1), "device": device_description("cpu"), "commit": commit,
            "init": got.init, "kept": got.kept, "val_accuracy": round(measured["accuracy"], 4),
            "val_type_accuracy": round(measured["type_accuracy"], 4),
            "val_images": [f"Flickr-Distortion classification val split ({len(val)} images, {trained.spec.crop} px "
                           f"centre crops): accuracy over {classification.class_count(trained.spec.labels)} classes"],
            "val": got.val, "loss_curve": got.loss_curve, "built": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    save_entry(trained.zoo_entry(entry_seed), model.to(STORED_DTYPE), meta)
    return meta


def _build_job(name: str, seed: int, threads: int | None = None, commit: str = "unknown") -> dict:
    """:func:`build_classifier` in :func:`companion.processes.run_per_seed`'s calling form (``threads=None``: one
    process builds them in turn, with one thread)."""
    return build_classifier(name, seed, threads=threads or 1, commit=commit)


def build_classification(entries, *, workers: int = 2, progress: bool = True) -> None:
    """Generate the quick profile's data once, then train ``entries`` ``workers`` at a time (one thread each)."""
    commit = git_commit()
    _classification_data(progress)
    specs = classification_specs()
    jobs = [(e.name, specs[e.name][1]) for e in entries]
    done = run_per_seed(partial(_build_job, commit=commit), jobs, workers=workers, desc="zoo build (ch6/06b)",
                        progress=progress)
    for name, metas in done.items():
        for meta in metas:
            print(f"{name}: {meta['steps']} steps, {meta['seconds']:.0f} s, {meta['kept']}, validation accuracy "
                  f"{meta['val_accuracy']:.3f}")


PROVIDERS.append(Provider("ch6/06b/", classification_entries, build_classification))


# --------------------------------------------------------------------------------------------------------
# 06c_detection: Tables 6.2-6.3's SSD detectors (companion.ch6.detection.TrainedDetector): Atrous VGG-16 and
# ResNet-101 trained on basic, Atrous VGG-16 on difficult; each backbone starts from the 06b entry above of the
# same architecture (fine-tuned), so 06b's block builds first.

DETECTION_PROFILE = ("06c_detection", "quick")


def detection_specs() -> dict[str, tuple[detection.TrainedDetector, int]]:
    """``{entry name: (trained detector, seed)}`` of every 06c entry, in Tables 6.2-6.3's order."""
    cfg = config_for(*DETECTION_PROFILE)
    return {d.zoo_entry(seed).name: (d, seed) for seed in range(DATA_SEED, DATA_SEED + cfg.seeds)
            for d in detection.detectors(cfg, DATA_SEED)}


def detection_entries() -> list[ZooEntry]:
    return [d.zoo_entry(seed) for d, seed in detection_specs().values()]


def _detection_sets(progress: bool) -> dict:
    cfg = config_for(*DETECTION_PROFILE)
    root, source = detection.build_data(cfg, work_folder(), DATA_SEED, progress=progress)
    return detection.detection_sets(root, source, DATA_SEED)


def build_detector(name: str, seed: int, *, threads: int | None = 1, commit: str = "unknown",
                   progress: bool = False) -> dict:
    """Train entry ``name`` (for ``seed``; resuming its work-folder checkpoint) from its 06b classifier's backbone
    and write it into the zoo; returns its sidecar's training record."""
    if threads:
        torch.set_num_threads(int(threads))
    detector, entry_seed = detection_specs()[name]
    sets = _detection_sets(progress=False)  # the parent built it: this only reads it
    got = detection.train_detector(detector, entry_seed, sets, "cpu", work_dir=work_folder(), progress=progress,
                                   checkpoint_dir=work_folder() / "checkpoints" / "ch6-zoo")
    val = sets[detector.train_set, "val"]
    thresholds = detector.spec.iou_thresholds
    maps = detection.mean_average_precision(detection.predict(got.model, val, "cpu", progress=False),
                                            [val.target(i) for i in range(len(val))], thresholds)
    meta = {"notebook": "06c_detection", "seed": entry_seed, "data_seed": DATA_SEED, "steps": got.steps,
            "seconds": round(got.seconds, 1), "device": device_description("cpu"), "commit": commit,
            "start": got.start, "kept": got.kept, "val_map": {f"{t:g}": round(v, 4) for t, v in maps.items()},
            "val_images": [f"Flickr-Distortion detection-{detector.train_set}, the {len(val)} images of the "
                           f"classification-val references: mAP at IoU {' / '.join(f'{t:g}' for t in thresholds)}"],
            "val": got.val, "loss_curve": got.loss_curve, "built": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    save_entry(detector.zoo_entry(entry_seed), got.model, meta)
    return meta


def _build_detection_job(name: str, seed: int, threads: int | None = None, commit: str = "unknown") -> dict:
    """:func:`build_detector` in :func:`companion.processes.run_per_seed`'s calling form."""
    return build_detector(name, seed, threads=threads or 1, commit=commit)


def build_detection(entries, *, workers: int = 2, progress: bool = True) -> None:
    """Generate the quick profile's detection sets once, then train ``entries`` ``workers`` at a time."""
    commit = git_commit()
    _detection_sets(progress)
    specs = detection_specs()
    jobs = [(e.name, specs[e.name][1]) for e in entries]
    done = run_per_seed(partial(_build_detection_job, commit=commit), jobs, workers=workers,
                        desc="zoo build (ch6/06c)", progress=progress)
    for name, metas in done.items():
        for meta in metas:
            print(f"{name}: {meta['steps']} steps, {meta['seconds']:.0f} s, {meta['kept']}, validation mAP "
                  + " / ".join(f"{v:.3f}" for v in meta["val_map"].values()))


PROVIDERS.append(Provider("ch6/06c/", detection_entries, build_detection))
