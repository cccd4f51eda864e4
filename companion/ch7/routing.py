"""Image-level routing on SHDD, an experiment none of the papers has (notebook ``07e_recognition_after_restoration``).

A Chapter 6 classifier, or seed 001's path router, gives one label per image and sends the whole image to one
restorer. SHDD (thesis §7.3) mixes distortions inside one image; this module measures what that costs, from
SHDD's label maps and with models trained here:

1. **How often the top-1 label misses most of the damage** (:func:`top1_coverage`): per image, the distorted
   pixels (label not identity) are counted by type, and :func:`top1_share` is the top-1 (majority distorted)
   type's share of them; the question is how often it is below one half.
2. **Three ways of restoring SHDD's test images** (:func:`compare`), the restorers of one seed in each:
   (1) the whole image routed to the restorer of the label that a classifier over SHDD's types gives
   (:func:`classify`, :func:`route_image`), and, beside it, the same with the true top-1 label (the best an
   image-level router can do); (2) each region routed to the restorer of its true type (:func:`route_regions`,
   an oracle); (3) MEPSNet's per-pixel fusion (Chapter 7's zoo MEPSNet of the same seed).

The models (zoo entries ``ch7/07e/…``, built through :func:`build_entries`):

* one restorer per distortion type (:class:`RestorerSpec`; identity needs none: an image or region routed there
  is left as it is), trained by Chapter 7's quick recipe on **whole-image single distortions**
  (:class:`WholeImageDistortions`): each training photograph of the SHDD copy distorted whole by that type,
  ``type_versions`` times, strengths uniform in SHDD's ranges (:data:`companion.ch7.shdd.SHDD_RANGES`), by the
  code that distorts one SHDD region (:func:`companion.data.regions.distort_regions`), kept 8-bit as SHDD's PNGs;
* a classifier over SHDD's five types (:class:`SHDDTypeClassifier`, :class:`ClassifierSpec`), trained as 06b
  trains its classifiers: cross-entropy through :func:`companion.engine.loop.train`, here on random crops of the
  same whole-image distortions of all five types (identity: the clean photograph).

Readings chosen (the experiment is ours; these are its settings):

* the classifier's image-level label is the arg max of its logits for the whole image (its features averaged
  over the whole image);
* region routing restores each region's rectangle alone (the SHDD record's rectangles, from which the label map
  is drawn): the restorer sees only its own type, as in training;
* the top-1 label and the regions come from the label maps and records, never from the images;
* f-noise over a whole photograph is normalised over the photograph (SHDD normalises it over each region), so a
  crop of it varies less than an SHDD region of the same strength: part of what "whole-image training" means;
* seed s's restorers, classifier and MEPSNet make seed s's scores, so the paired intervals of
  :func:`companion.summary.check_claims` resample training seeds and test images together;
* a test image whose regions all drew identity has nothing to restore (every method returns it exactly, PSNR
  infinite): it is left out of the comparison and counted.

This module is the routing models' training as well as the experiment: :mod:`companion.ch7.zoo` calls
:func:`zoo_entries` and :func:`build_entries`; it never imports the zoo module back.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from companion.ch7.config import RecognitionConfig
from companion.ch7.datasets import SHDDEval
from companion.ch7.shdd import SHDD_RANGES, SHDD_TYPES, clean_images, sample_shdd_strength
from companion.ch7.training import shdd_root, train_variant, window_loss_curve
from companion.ch7.variants import Variant
from companion.data.generation import stable_int
from companion.data.images import load_image, load_label_map, to_float, to_uint8
from companion.data.regions import distort_regions
from companion.data.tensors import augment, to_chw
from companion.engine.inference import restore
from companion.engine.loop import LOSSES, paired_batch, psnr_on_pairs, train
from companion.errors import CompanionError
from companion.metrics import restoration_scores
from companion.models import MODELS, build_model, model_label
from companion.models.common import check_image_batch
from companion.session import NotebookRun, default_figures_dir
from companion.summary import check_claims, markdown_table, mean_std, pm
from companion.zoo import ZooEntry, device_description, find, load_entry, save_entry, train_entries

#: The types that have a restorer (identity is left as it is).
ROUTED_TYPES = SHDD_TYPES[1:]
#: Whole-image distorted copies of each validation photograph per type (restorers' PSNR, classifier's accuracy).
VAL_VERSIONS = 4
CLASSIFIER = "shdd_type_classifier"
#: The strategies :func:`compare` scores, in its table's order.
IMAGE_CLASSIFIER, IMAGE_TOP1 = "image-level, classifier's label", "image-level, true top-1 label"
REGION_ORACLE, MEPSNET = "region-level, true labels (oracle)", "MEPSNet (per-pixel fusion)"
STRATEGIES = (IMAGE_CLASSIFIER, IMAGE_TOP1, REGION_ORACLE, MEPSNET)
INPUT = "distorted input"


# --------------------------------------------------------------------------------------------------------
# Label maps: how much of the damage the top-1 label covers.


def type_counts(labels: np.ndarray) -> np.ndarray:
    """Pixels of each SHDD type in a label map (index = :data:`companion.ch7.shdd.SHDD_TYPES` index)."""
    return np.bincount(np.asarray(labels).ravel(), minlength=len(SHDD_TYPES))[:len(SHDD_TYPES)]


def top1_share(labels: np.ndarray) -> float | None:
    """The top-1 distorted type's share of an image's distorted pixels; None when nothing is distorted."""
    distorted = type_counts(labels)[1:]
    total = int(distorted.sum())
    return None if total == 0 else float(distorted.max() / total)


def top1_label(labels: np.ndarray) -> str:
    """The type covering most distorted pixels (``identity`` when nothing is distorted; ties: the first type)."""
    distorted = type_counts(labels)[1:]
    return "identity" if distorted.sum() == 0 else ROUTED_TYPES[int(np.argmax(distorted))]


def top1_coverage(root, level: str, splits=("train", "val", "test")) -> dict:
    """:func:`top1_share` over every image of an SHDD copy's ``level``: ``{split: {"shares": [...], "images",
    "undistorted", "below_half"}}`` and ``"all"`` pooled; ``below_half`` is the fraction of images with a
    distorted pixel whose top-1 share is under 0.5."""
    out, pooled = {}, {"shares": [], "images": 0, "undistorted": 0}
    for split in splits:
        files = sorted((Path(root) / "shdd" / level / split / "labels").glob("*.png"))
        if not files:
            raise CompanionError(f"no label maps in {Path(root) / 'shdd' / level / split / 'labels'}; build SHDD first "
                                 f"(`python -m companion data shdd --level {level}`)")
        shares = [top1_share(load_label_map(f)) for f in files]
        kept = [s for s in shares if s is not None]
        out[split] = {"shares": kept, "images": len(files), "undistorted": len(files) - len(kept)}
        pooled["shares"] += kept
        pooled["images"] += len(files)
        pooled["undistorted"] += len(files) - len(kept)
    out["all"] = pooled
    for cell in out.values():
        cell["below_half"] = float(np.mean(np.asarray(cell["shares"]) < 0.5)) if cell["shares"] else float("nan")
    return out


# --------------------------------------------------------------------------------------------------------
# Whole-image single distortions, and the classifier.


def photographs(root, split: str) -> list[Path]:
    """The clean photographs of an SHDD copy's ``split`` (``<root>/shdd/<split>/clean/*.png``)."""
    files = sorted((Path(root) / "shdd" / split / "clean").glob("*.png"))
    if not files:
        raise CompanionError(f"no clean {split} images in {Path(root) / 'shdd' / split / 'clean'}; build SHDD first")
    return files


def copy_seed(data_seed: int, stem: str, kind: str, version: int) -> np.random.SeedSequence:
    """The seed of one whole-image distorted copy: (data seed, photograph, type, version), its own stream."""
    return np.random.SeedSequence([data_seed, stable_int(stem), SHDD_TYPES.index(kind), version, stable_int("07e")])


def distort_whole(image: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """``image`` distorted whole by ``kind`` at a strength uniform in SHDD's range, 8-bit; returns (uint8, strength)."""
    strength = sample_shdd_strength(kind, rng)
    h, w = image.shape[:2]
    whole = {"ymin": 0, "xmin": 0, "ymax": h, "xmax": w, "type": kind, "strength": strength}
    distorted, _ = distort_regions(image, [whole], rng, names=SHDD_TYPES)
    return to_uint8(distorted), strength


class WholeImageDistortions(Dataset):
    """Random aligned crops of whole-image single distortions: every photograph of ``paths`` distorted whole by
    each type of ``kinds``, ``versions`` times (:func:`distort_whole`, seeded by :func:`copy_seed`; made once, kept
    8-bit in memory). An item is ``{"distorted", "clean"}`` (3×P×P float32) and ``"label"`` (the type's
    :data:`~companion.ch7.shdd.SHDD_TYPES` index), with SHDDTrain's crop, flips and rotation, and with
    ``permute_channels`` one random RGB order for both. ``patch_size=None`` gives whole images, no augmentation
    (validation). Crops depend on (``crop_seed``, epoch, index), as :class:`companion.ch7.datasets.SHDDTrain`'s."""

    def __init__(self, paths, kinds, versions: int, *, data_seed: int, patch_size: int | None = None,
                 crop_seed: int = 0, augment: bool = True, permute_channels: bool = False):
        unknown = [k for k in kinds if k not in SHDD_TYPES]
        if unknown or not kinds or versions < 1:
            raise CompanionError(f"kinds must be SHDD types ({', '.join(SHDD_TYPES)}) and versions >= 1; got "
                                 f"{list(kinds)}, {versions}")
        self.patch_size, self.crop_seed, self.epoch = patch_size, int(crop_seed), 0
        self.augment, self.permute_channels = bool(augment), bool(permute_channels)
        self.clean, self.items = [], []
        for i, path in enumerate(paths):
            image = load_image(path)
            if patch_size is not None and min(image.shape[:2]) < patch_size:
                raise CompanionError(f"{path} is smaller than patch_size={patch_size}")
            self.clean.append(to_uint8(image))
            for kind in kinds:
                for version in range(versions):
                    rng = np.random.default_rng(copy_seed(data_seed, Path(path).stem, kind, version))
                    distorted, strength = distort_whole(image, kind, rng)
                    self.items.append({"photo": i, "kind": kind, "strength": strength, "distorted": distorted})

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        distorted, clean = item["distorted"], self.clean[item["photo"]]
        if self.patch_size is not None:
            rng = np.random.default_rng([self.crop_seed, self.epoch, index])
            h, w, p = clean.shape[0], clean.shape[1], self.patch_size
            top, left = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
            distorted, clean = distorted[top:top + p, left:left + p], clean[top:top + p, left:left + p]
            if self.augment:
                hflip, vflip, rot = bool(rng.integers(2)), bool(rng.integers(2)), int(rng.integers(4))
                distorted, clean = augment(distorted, hflip, vflip, rot), augment(clean, hflip, vflip, rot)
            if self.permute_channels:
                order = rng.permutation(3)
                distorted, clean = distorted[..., order], clean[..., order]
        return {"distorted": to_chw(to_float(distorted)), "clean": to_chw(to_float(clean)),
                "label": torch.tensor(SHDD_TYPES.index(item["kind"]))}


class SHDDTypeClassifier(nn.Module):
    """A small fully convolutional classifier over SHDD's five types: three stages of two 3×3 convolutions with
    ReLU (``width``, 2·``width``, 4·``width`` channels; the second and third stages start with stride 2, the first
    keeps full resolution, where noise and blur show), features averaged over the whole input, one linear layer.
    Any image size; the logits of one image are its label's scores (PyTorch's default initialisation)."""

    def __init__(self, width: int = 16, classes: int = len(SHDD_TYPES)):
        super().__init__()
        self.config = dict(width=int(width), classes=int(classes))
        layers, channels = [], 3
        for stage, out in enumerate((width, 2 * width, 4 * width)):
            layers += [nn.Conv2d(channels, out, 3, 2 if stage else 1, 1), nn.ReLU(inplace=True),
                       nn.Conv2d(out, out, 3, 1, 1), nn.ReLU(inplace=True)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, "SHDDTypeClassifier", min_side=4)
        return self.head(self.features(x).mean(dim=(2, 3)))


@torch.no_grad()
def classify(classifier: nn.Module, image: torch.Tensor, device="cpu") -> str:
    """The image-level label of a 3×H×W image: the arg max of the classifier's logits for the whole image."""
    classifier.eval()
    return SHDD_TYPES[int(classifier(image[None].to(device)).argmax(1).item())]


# --------------------------------------------------------------------------------------------------------
# Specs and zoo entries.


def _data_key(cfg: RecognitionConfig, data_seed: int) -> dict:
    """The data behind a routing model: the SHDD copy's photographs and split, the copies per type, data seed."""
    shdd = cfg.routing_shdd
    data = {"source": shdd.source, "references": shdd.references, "crop": shdd.reference_crop, "seed": data_seed,
            "versions": cfg.type_versions, "ranges": {k: list(v) for k, v in SHDD_RANGES.items()}}
    if shdd.source == "bundled":
        data["images"] = {c.stem: c.split for c in clean_images("bundled")} if not shdd.references else shdd.references
    return data


def _train_key(train_cfg, seed: int) -> dict:
    settings = asdict(replace(train_cfg, seed=seed))
    return {k: v for k, v in settings.items() if k not in ("checkpoint_every", "val_every")}


@dataclass(frozen=True)
class RestorerSpec:
    """The restorer of SHDD type ``kind`` (not identity) trained under ``experiment`` on data made with
    ``data_seed``; :func:`companion.zoo.find` calls :meth:`zoo_entry`."""

    kind: str
    experiment: RecognitionConfig
    data_seed: int = 0

    def key(self, seed: int) -> dict:
        cfg = self.experiment
        return {"model": cfg.restorer_model, "kwargs": dict(cfg.restorer_config),
                "init": MODELS[cfg.restorer_model].init, "train": _train_key(cfg.restorer_train, seed), "loss": "l2", "patch": cfg.routing_shdd.patch_size,
                "permute_channels": cfg.routing_shdd.permute_channels,
                "data": {**_data_key(cfg, self.data_seed), "type": self.kind}}

    def zoo_entry(self, seed: int) -> ZooEntry:
        cfg = self.experiment
        return ZooEntry(name=f"ch7/{cfg.zoo_group}/{cfg.restorer_model}-{self.kind.replace('_', '-')}-seed{seed}",
                        model=cfg.restorer_model, config=dict(cfg.restorer_config), key=self.key(seed),
                        label=f"{model_label(cfg.restorer_model)} for {self.kind}")


@dataclass(frozen=True)
class ClassifierSpec:
    """The SHDD-type classifier trained under ``experiment`` on data made with ``data_seed``."""

    experiment: RecognitionConfig
    data_seed: int = 0

    def config(self) -> dict:
        return {"width": self.experiment.classifier_width, "classes": len(SHDD_TYPES)}

    def key(self, seed: int) -> dict:
        cfg = self.experiment
        return {"model": CLASSIFIER, "kwargs": self.config(), "init": "PyTorch's default",
                "train": _train_key(cfg.classifier_train, seed), "loss": "cross_entropy",
                "patch": cfg.classifier_patch, "permute_channels": cfg.routing_shdd.permute_channels,
                "data": {**_data_key(cfg, self.data_seed), "type": list(SHDD_TYPES)}}

    def zoo_entry(self, seed: int) -> ZooEntry:
        return ZooEntry(name=f"ch7/{self.experiment.zoo_group}/classifier-seed{seed}", model=CLASSIFIER,
                        config=self.config(), key=self.key(seed), label="SHDD-type classifier")


def zoo_specs(cfg: RecognitionConfig, data_seed: int = 0) -> dict[str, tuple[object, int]]:
    """``{entry name: (spec, seed)}`` of every routing model: the restorers by type, then the classifiers."""
    specs = [RestorerSpec(kind, cfg, data_seed) for kind in ROUTED_TYPES] + [ClassifierSpec(cfg, data_seed)]
    return {spec.zoo_entry(seed).name: (spec, seed) for spec in specs
            for seed in range(data_seed, data_seed + cfg.seeds)}


def zoo_entries(cfg: RecognitionConfig, data_seed: int = 0) -> list[ZooEntry]:
    return [spec.zoo_entry(seed) for spec, seed in zoo_specs(cfg, data_seed).values()]


# --------------------------------------------------------------------------------------------------------
# Training (or loading from the zoo).


def _work_checkpoint(run, entry: ZooEntry) -> Path:
    return run.work_dir / "checkpoints" / f"07e-{entry.name.rsplit('/', 1)[1]}-{entry.digest[:10]}.pt"


def validation_set(root, kinds, data_seed: int) -> WholeImageDistortions:
    """The validation photograph(s) distorted whole by ``kinds``, :data:`VAL_VERSIONS` copies each, whole images."""
    return WholeImageDistortions(photographs(root, "val"), kinds, VAL_VERSIONS, data_seed=data_seed)


def validation_accuracy(classifier: nn.Module, dataset: WholeImageDistortions, device="cpu") -> float:
    """The classifier's accuracy on whole images (:func:`classify`)."""
    items = [dataset[i] for i in range(len(dataset))]
    return float(np.mean([classify(classifier, it["distorted"], device) == SHDD_TYPES[int(it["label"])]
                          for it in items]))


def train_model(run, spec, seed: int, root, *, progress: bool = True, use_zoo: bool = True) -> tuple[nn.Module, dict]:
    """Train a :class:`RestorerSpec` or :class:`ClassifierSpec` with ``seed`` on the SHDD copy ``root``; returns
    ``(model, meta)``: ``source`` (``zoo:<name>`` or the work-folder checkpoint), ``steps``, ``seconds``,
    ``loss_curve`` and the validation score (``val_psnr`` and ``val_input_psnr`` for a restorer,
    ``val_accuracy`` for the classifier). A zoo entry with exactly these settings is loaded instead (``use_zoo``)."""
    entry = spec.zoo_entry(seed)
    restorer = isinstance(spec, RestorerSpec)
    if use_zoo and find(spec, seed) is not None:
        model, meta = load_entry(entry, model=None if restorer else SHDDTypeClassifier(**entry.config))
        return model.to(run.device), {**meta, "source": f"zoo:{entry.name}"}
    cfg, shdd = spec.experiment, spec.experiment.routing_shdd
    kinds = (spec.kind,) if restorer else SHDD_TYPES
    torch.manual_seed(seed)
    model = build_model(entry.model, **entry.config) if restorer else SHDDTypeClassifier(**entry.config)
    dataset = WholeImageDistortions(photographs(root, "train"), kinds, cfg.type_versions, data_seed=spec.data_seed,
                                    patch_size=shdd.patch_size if restorer else cfg.classifier_patch,
                                    crop_seed=seed, permute_channels=shdd.permute_channels)
    settings = replace(cfg.restorer_train if restorer else cfg.classifier_train, seed=seed)
    path = _work_checkpoint(run, entry)
    result = train(model, dataset, settings, loss=LOSSES["l2"] if restorer else F.cross_entropy,
                   batch=paired_batch("distorted", "clean" if restorer else "label"), model_name=entry.model,
                   device=run.device, checkpoint_path=path, progress=progress)
    model.eval()
    val = validation_set(root, kinds, spec.data_seed)
    meta = {"steps": result.steps_done, "seconds": round(result.seconds, 1),
            "loss_curve": window_loss_curve(result.losses), "source": str(path)}
    if restorer:
        pairs = [(it["distorted"], it["clean"]) for it in (val[i] for i in range(len(val)))]
        meta.update(val_psnr=round(psnr_on_pairs(model, pairs, device=run.device), 3),
                    val_input_psnr=round(psnr_on_pairs(nn.Identity(), pairs), 3))
    else:
        meta.update(val_psnr=None, val_accuracy=round(validation_accuracy(model, val, run.device), 4))
    return model, meta


def seed_models(run, cfg: RecognitionConfig, root, *, progress: bool = True) -> dict[int, dict]:
    """Every seed's models: ``{seed: {"restorers": {type: model}, "classifier", "mepsnet", "meta": {name: meta}}}``,
    seeds ``run.seed`` … ``+ cfg.seeds - 1``; the MEPSNet is :func:`companion.ch7.training.train_variant`'s
    (the zoo's ``ch7/07b`` model when it matches ``cfg.routing_shdd``)."""
    out = {}
    seeds = range(run.seed, run.seed + cfg.seeds)
    bar = tqdm(total=len(seeds) * (len(ROUTED_TYPES) + 2), desc="routing models", disable=not progress)
    for seed in seeds:
        models = {"restorers": {}, "meta": {}}
        for kind in ROUTED_TYPES:
            models["restorers"][kind], models["meta"][kind] = train_model(run, RestorerSpec(kind, cfg, run.seed), seed,
                                                                          root, progress=False)
            bar.update()
        models["classifier"], models["meta"]["classifier"] = train_model(run, ClassifierSpec(cfg, run.seed), seed,
                                                                         root, progress=False)
        bar.update()
        mepsnet, trained = train_variant(run, Variant("MEPSNet", "mepsnet"), cfg.routing_shdd, seed, root,
                                         progress=False)
        models["mepsnet"] = mepsnet.eval()
        models["meta"]["mepsnet"] = {"source": trained.source, "steps": trained.steps_done,
                                     "seconds": round(trained.seconds, 1)}
        bar.update()
        out[seed] = models
    bar.close()
    return out


# --------------------------------------------------------------------------------------------------------
# Routing.


def route_image(restorers: dict[str, nn.Module], label: str, image: torch.Tensor, device="cpu") -> torch.Tensor:
    """The whole 3×H×W image through the restorer of ``label`` (``identity``: the image as it is)."""
    if label == "identity":
        return image.clone()
    return restore(restorers[label], image, device=device)


def route_regions(restorers: dict[str, nn.Module], image: torch.Tensor, regions: list[dict],
                  device="cpu") -> torch.Tensor:
    """Each region of an SHDD record (``ymin, xmin, ymax, xmax, type``) restored alone by its type's restorer
    (identity regions left as they are), pasted back in place."""
    out = image.clone()
    for r in regions:
        y0, x0, y1, x1 = r["ymin"], r["xmin"], r["ymax"], r["xmax"]
        out[:, y0:y1, x0:x1] = route_image(restorers, r["type"], image[:, y0:y1, x0:x1].contiguous(), device)
    return out


def _hwc(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.clamp(0, 1).numpy().transpose(1, 2, 0))


def compare(run, cfg: RecognitionConfig, root, models: dict[int, dict], *, progress: bool = True) -> dict:
    """Restore SHDD's ``cfg.routing_level`` test images (the first ``eval_versions`` of each photograph) by every
    strategy of :data:`STRATEGIES` with every seed's ``models`` (:func:`seed_models`); RGB PSNR and PSNR per type
    (:func:`companion.metrics.restoration_scores`).

    Returns ``{"seeds", "names", "psnr": {strategy: seeds × images}, "psnr_by_type": {strategy: {type: seeds ×
    images (NaN where absent)}}, "input_psnr": images, "input_psnr_by_type": {type: images}, "top1": images,
    "top1_share": images, "predicted": seeds × images, "undistorted": [names left out], "example"}``; the example is
    the most mixed test image (lowest top-1 share) restored by each strategy with the first seed's models."""
    shdd = cfg.routing_shdd
    dataset = SHDDEval(root, level=cfg.routing_level, split="test", versions=shdd.eval_versions or None)
    seeds = sorted(models)
    out = {"seeds": seeds, "names": [], "psnr": {s: [[] for _ in seeds] for s in STRATEGIES},
           "psnr_by_type": {s: {t: [[] for _ in seeds] for t in SHDD_TYPES} for s in STRATEGIES},
           "input_psnr": [], "input_psnr_by_type": {t: [] for t in SHDD_TYPES}, "top1": [], "top1_share": [],
           "predicted": [[] for _ in seeds], "undistorted": [], "example": None}
    device = run.device
    for index in tqdm(range(len(dataset)), desc="routing", unit="img", disable=not progress):
        item = dataset[index]
        labels = item["label"].numpy()
        share = top1_share(labels)
        if share is None:
            out["undistorted"].append(item["name"])
            continue
        distorted, clean = item["distorted"], _hwc(item["clean"])
        before = restoration_scores(_hwc(distorted), clean, labels, names=SHDD_TYPES, with_ssim=False)
        out["names"].append(item["name"])
        out["top1"].append(top1_label(labels))
        out["top1_share"].append(share)
        out["input_psnr"].append(before["psnr"])
        for t in SHDD_TYPES:
            out["input_psnr_by_type"][t].append(before["psnr_by_type"].get(t, float("nan")))
        example = out["example"] is None or share < out["example"]["top1_share"]
        for s_index, seed in enumerate(seeds):
            m = models[seed]
            predicted = classify(m["classifier"], distorted, device)
            restored = {IMAGE_CLASSIFIER: route_image(m["restorers"], predicted, distorted, device)}
            restored[IMAGE_TOP1] = restored[IMAGE_CLASSIFIER] if predicted == out["top1"][-1] else \
                route_image(m["restorers"], out["top1"][-1], distorted, device)
            restored[REGION_ORACLE] = route_regions(m["restorers"], distorted, item["record"]["regions"], device)
            restored[MEPSNET] = restore(m["mepsnet"], distorted, tiles=tuple(shdd.tiles), overlap=shdd.overlap,
                                        device=device)
            out["predicted"][s_index].append(predicted)
            for strategy, image in restored.items():
                scores = restoration_scores(_hwc(image), clean, labels, names=SHDD_TYPES, with_ssim=False)
                out["psnr"][strategy][s_index].append(scores["psnr"])
                for t in SHDD_TYPES:
                    out["psnr_by_type"][strategy][t][s_index].append(scores["psnr_by_type"].get(t, float("nan")))
            if example and s_index == 0:
                out["example"] = {"name": item["name"], "top1_share": share, "top1": out["top1"][-1],
                                  "predicted": predicted, "record": item["record"], "labels": labels,
                                  "clean": clean, "distorted": _hwc(distorted),
                                  "restored": {k: _hwc(v) for k, v in restored.items()}}
    if not out["names"]:
        raise CompanionError("every test image of this SHDD copy is undistorted (all regions drew identity); "
                             "nothing to compare")
    return out


# --------------------------------------------------------------------------------------------------------
# Summary, claims, records.


def summarise(result: dict) -> dict:
    """``{strategy or "distorted input": {"psnr": (mean, std) over seeds of each seed's mean, "per_seed",
    "by_type": {type: (mean, std)}}}``."""
    out = {}
    for strategy in STRATEGIES:
        grid = np.asarray(result["psnr"][strategy], dtype=float)
        by_type = {t: mean_std([np.nanmean(row) for row in np.asarray(result["psnr_by_type"][strategy][t], float)
                                if np.isfinite(row).any()]) for t in ROUTED_TYPES}
        out[strategy] = {"psnr": mean_std(grid.mean(axis=1)), "per_seed": [float(v) for v in grid.mean(axis=1)],
                         "by_type": by_type}
    inputs = np.asarray(result["input_psnr"], dtype=float)
    out[INPUT] = {"psnr": (float(inputs.mean()), 0.0), "per_seed": [float(inputs.mean())],
                  "by_type": {t: (float(np.nanmean(result["input_psnr_by_type"][t])), 0.0) for t in ROUTED_TYPES
                              if np.isfinite(result["input_psnr_by_type"][t]).any()}}
    return out


def table_markdown(summary: dict) -> str:
    """:func:`summarise` as a Markdown table: PSNR (mean ± std over seeds) and the gain inside each type's regions."""
    types = [t for t in ROUTED_TYPES if t in summary[INPUT]["by_type"]]
    rows = [[name, pm(row["psnr"])] + [f"{row['by_type'][t][0] - summary[INPUT]['by_type'][t][0]:+.2f}" for t in types]
            for name, row in summary.items()]
    return markdown_table(["restored by", "PSNR (dB)"] + [f"{t} gain" for t in types], rows)


def agreement(result: dict) -> dict:
    """How often the classifier's label is the true top-1 label, and how often it says identity (per seed)."""
    top1 = np.asarray(result["top1"])
    return {"top1": [float(np.mean(np.asarray(p) == top1)) for p in result["predicted"]],
            "identity": [float(np.mean(np.asarray(p) == "identity")) for p in result["predicted"]]}


#: The claims of the experiment: (better, worse), each judged on paired PSNR per seed and test image.
CLAIMS = ((REGION_ORACLE, IMAGE_CLASSIFIER), (REGION_ORACLE, IMAGE_TOP1), (MEPSNET, IMAGE_CLASSIFIER),
          (REGION_ORACLE, MEPSNET), (IMAGE_CLASSIFIER, INPUT))
ENTRY = "routing (in no paper)"


def routing_claims(result: dict) -> list[dict]:
    """:data:`CLAIMS` judged by :func:`companion.summary.check_claims` ("agrees": the 95 % interval of the paired
    difference over seeds × images lies above zero)."""
    def grid(name):
        if name == INPUT:
            return np.repeat(np.asarray(result["input_psnr"], float)[None], len(result["seeds"]), axis=0)
        return np.asarray(result["psnr"][name], dtype=float)

    return check_claims([(ENTRY, f"{better} beats {worse}", grid(better), grid(worse)) for better, worse in CLAIMS])


def record(run, cfg: RecognitionConfig, coverage: dict, result: dict, summary: dict, claims: list[dict],
           models: dict[int, dict]) -> None:
    """Keep the experiment's numbers in the results file (beside no paper entry)."""
    level = cfg.routing_level
    for split, cell in coverage.items():
        run.record(f"routing/top1_below_half/{split}", round(cell["below_half"], 4),
                   protocol=f"SHDD {level} label maps of the {split} images ({cell['images']} images, "
                            f"{cell['undistorted']} with no distorted pixel left out): fraction whose top-1 distorted "
                            "type covers less than half of the distorted pixels")
    protocol = (f"SHDD {level} test, {len(result['names'])} images ({len(result['undistorted'])} undistorted left "
                f"out), whole images, RGB PSNR; per-type restorers {cfg.restorer_model} {dict(cfg.restorer_config)} "
                f"trained {cfg.restorer_train.steps} steps on whole-image single distortions; mean ± std over "
                f"{len(result['seeds'])} seeds")
    for strategy, row in summary.items():
        run.record(f"routing/psnr/{strategy}", [round(row["psnr"][0], 3), round(row["psnr"][1], 3)], protocol=protocol,
                   note="[mean, std] over seeds of each seed's mean PSNR")
        run.record(f"routing/psnr_per_seed/{strategy}", [round(v, 4) for v in row["per_seed"]], protocol=protocol)
    agree = agreement(result)
    run.record("routing/classifier_is_top1", [round(v, 4) for v in agree["top1"]], protocol=protocol,
               note="per seed: fraction of test images where the classifier's label is the true top-1 label")
    for claim in claims:
        run.record(f"routing/claim/{claim['claim']}", claim["verdict"], note=claim["detail"])
    for seed, m in models.items():
        for name, meta in m["meta"].items():
            value = meta.get("val_accuracy") if name == "classifier" else meta.get("val_psnr")
            if value is None:  # a model loaded without a validation score (07b's MEPSNet: 07b records its own)
                continue
            run.record(f"routing/model/{name}/seed{seed}", value, protocol=(
                "validation accuracy, whole images" if name == "classifier" else "validation PSNR (dB)"),
                note=f"{meta.get('steps')} steps, {meta.get('seconds')} s; {meta.get('source')}")


# --------------------------------------------------------------------------------------------------------
# The zoo build (called by companion.ch7.zoo).


def _zoo_run(cfg: RecognitionConfig, data_seed: int, commit: str) -> NotebookRun:
    return NotebookRun(notebook="07e_recognition_after_restoration", profile="quick", seed=data_seed, device="cpu",
                       config=cfg, figures_dir=default_figures_dir("quick"), commit=commit)


def build_one(entry: ZooEntry, threads: int | None = 1, commit: str = "unknown", *, cfg: RecognitionConfig,
              data_seed: int = 0) -> dict:
    """Train one routing entry (resuming its work-folder checkpoint) and write it into the zoo; returns its sidecar."""
    if threads:
        torch.set_num_threads(threads)
    spec, seed = zoo_specs(cfg, data_seed)[entry.name]
    run = _zoo_run(cfg, data_seed, commit)
    root = shdd_root(run, cfg.routing_shdd, build=False)
    model, meta = train_model(run, spec, seed, root, progress=False, use_zoo=False)
    kinds = [spec.kind] if isinstance(spec, RestorerSpec) else list(SHDD_TYPES)
    meta = {**{k: v for k, v in meta.items() if k != "source"}, "group": cfg.zoo_group,
            "notebook": run.notebook, "seed": seed, "data_seed": data_seed, "device": device_description(run.device),
            "commit": commit, "built": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "val_images": [f"the validation photograph(s) distorted whole by {', '.join(kinds)}, {VAL_VERSIONS} "
                           "copies each, whole, " + ("RGB PSNR" if isinstance(spec, RestorerSpec) else
                                                     "accuracy (val_accuracy)")]}
    save_entry(entry, model, meta)
    return meta


def build_entries(entries, cfg: RecognitionConfig, *, workers: int = 2, progress: bool = True, commit: str = "unknown",
                  data_seed: int = 0) -> None:
    """Train the routing ``entries`` (resumable), ``workers`` at a time, after building the SHDD copy once."""
    shdd_root(_zoo_run(cfg, data_seed, commit), cfg.routing_shdd, progress=progress)
    train_entries(entries, partial(build_one, cfg=cfg, data_seed=data_seed), commit=commit, workers=workers,
                  progress=progress, desc="zoo build ch7/07e")
