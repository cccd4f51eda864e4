"""Distortion classification (thesis §6.3, Table 6.1, Fig. 6.2): the experiment of ``06b_classification``.

The thesis asks which distortion corrupts a whole image, on Flickr-Distortion's classification set (§6.2.1:
every reference under 8 types × 3 levels, split 60/20/20 by reference), with five networks (Table 6.1): the
shallow IQA-CNN+ and IQA-CNN++ trained from scratch (:mod:`companion.models.iqa_cnn_plus`,
:mod:`companion.models.iqa_cnn_plusplus`), and VGG-16, Atrous VGG-16 and ResNet-101 (:mod:`companion.models.
recognisers`) in two regimes: a frozen backbone with a new FC layer ("w/o finetuning"), and fine-tuned. It
reports accuracy and frames per second, and shows misclassified images (Fig. 6.2: quantization taken for
f-noise, salt & pepper for Gaussian white noise "and vice versa"). This module reads top to bottom:

1. **Classes** (:func:`class_id`): §6.3.2 adds "a new fully-connected layer suited for the number of classes of
   our dataset"; the companion reads the classes as §6.2.1's 24 distorted versions of a reference, the 8 types ×
   3 levels (``labels="type_level"``; ``"type"`` gives the 8 types). The accuracy over the 24 classes, the
   *type accuracy* (the type right, whatever the level) and the accuracy per type are all reported.
2. **Data** (:func:`build_data`, :class:`ImageStore`, :class:`Crops`): the generator's classification set
   (:func:`companion.ch6.flickr_distortion.build_flickr_distortion`), read with
   :class:`companion.ch6.datasets.FlickrClassification`. Validation and test score the centre ``crop`` of each
   image (§6.3.2: "we center-crop the images so the size fits the input layer"). Training takes the same centre
   crop (``train_crops="centre"``, the thesis) or random crops of the image (``"random"``: the quick profile's
   seven references give 168 images, and a homogeneous distortion is the same in every crop); IQA-CNN+/++ train
   on random 32 × 32 patches of the same region, as Kang et al. train on patches. A random crop is a pure
   function of (seed, step, index), so a resumed run sees the same batches.
3. **Training** (:func:`train_classifier`): the shared loop (:func:`companion.engine.loop.train`) with
   ``F.cross_entropy``; the frozen regime passes only the new FC to the optimiser (``param_groups``). The
   weights kept are those of the validation step with the best accuracy, ties going to the lower validation
   cross-entropy (:func:`selection_score`); the test split is scored once, after.
4. **Evaluation** (:func:`scores`): accuracy, type accuracy, accuracy per type, the 24 × 24 and 8 × 8 confusion
   matrices (``sklearn.metrics.confusion_matrix``); the most confused type pairs (:func:`confused_pairs`) and the
   thesis' two pairs read off the measured matrix (:func:`thesis_pairs`). Frames per second
   (:func:`frames_per_second`): one image a call, after warm-up, the median call's rate, on this run's device and
   threads; every model at the same input side (the profile's ``crop``, and with ``paper_fps`` the paper-width
   networks at ``fps_size`` with random weights: speed does not depend on the weights).
5. **Verdicts** (:func:`claims`): Table 6.1's claims on the paired per-image correctness of the test images
   (seeds × images), judged by :func:`companion.summary.check_claims`.

Readings chosen where §6.3 says nothing: the optimiser is the shared loop's Adam; the profile gives batch,
rate and steps (``ClassificationConfig.recipe`` / ``iqa_recipe``); the IQA networks see the grey, locally
normalised image (their papers'), the recognisers the RGB image normalised with ImageNet's statistics.

The zoo (:mod:`companion.ch6.zoo`) holds the quick profile's classifiers (:class:`TrainedClassifier`,
``ch6/06b/<model>-<regime>-seed<k>``); the notebook loads a current entry instead of training.
"""
from __future__ import annotations

import hashlib
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from companion import zoo
from companion.ch6.config import ClassificationConfig
from companion.ch6.datasets import FlickrClassification
from companion.ch6.flickr_distortion import FLICKR_LEVELS, FLICKR_TYPES, build_flickr_distortion
from companion.data import references
from companion.engine.loop import train, tuple_batch
from companion.errors import CompanionError
from companion.ledger import load_paper
from companion.models import build_model, count_parameters, model_config, model_label
from companion.models.iqa_cnn_plus import PATCH
from companion.models.recognisers import ARCHITECTURES, build_recogniser, initialisation, initialisation_text
from companion.summary import check_claims, loss_curve

NOTEBOOK = "06b_classification"
#: The shallow baselines (trained from scratch, §6.3.2) and the ImageNet architectures (two regimes).
IQA_MODELS = ("iqa_cnn_plus", "iqa_cnn_plusplus")
RECOGNISERS = tuple(ARCHITECTURES)
#: A trained classifier's regime: the recognisers frozen with a new FC, or fine-tuned; the IQA networks from
#: scratch (Table 6.1 prints them in the "w/ finetuning" column).
REGIMES = {"frozen": "frozen backbone, new FC", "fine-tuned": "fine-tuned", "scratch": "trained from scratch"}
#: Table 6.1's columns (companion/paper/thesis.json) each regime stands beside.
COLUMNS = {"frozen": "Acc w/o finetuning", "fine-tuned": "Acc w/ finetuning", "scratch": "Acc w/ finetuning"}
#: How the thesis names the types (§6.2), for tables and figures.
TYPE_NAMES = {"gaussian_noise": "GWN", "gaussian_blur": "GB", "salt_and_pepper": "S&P",
              "quantization": "quantization", "jpeg": "JPEG", "low_resolution": "low-pass",
              "nl_means_denoising": "denoising", "f_noise": "f-noise"}
#: Fig. 6.2's confusions as (true type, predicted type): quantization taken for f-noise; salt & pepper taken
#: for Gaussian white noise "and vice versa".
THESIS_PAIRS = (("quantization", "f_noise"), ("salt_and_pepper", "gaussian_noise"),
                ("gaussian_noise", "salt_and_pepper"))
LEVELS = len(next(iter(FLICKR_LEVELS.values())))


# --------------------------------------------------------------------------------------------------------
# 1. Classes.


def class_count(labels: str) -> int:
    """24 classes for ``"type_level"`` (8 types × 3 levels), 8 for ``"type"``."""
    if labels not in ("type_level", "type"):
        raise CompanionError(f"unknown labels {labels!r}; choose 'type_level' (24 classes) or 'type' (8)")
    return len(FLICKR_TYPES) * (LEVELS if labels == "type_level" else 1)


def class_id(row: dict, labels: str) -> int:
    """The class of a labels.csv row: type index × 3 + level − 1 (``"type_level"``), or the type index."""
    class_count(labels)
    return row["class_id"] * LEVELS + row["level"] - 1 if labels == "type_level" else row["class_id"]


def type_of(classes, labels: str) -> np.ndarray:
    """The type index of each class id in ``classes``."""
    classes = np.asarray(classes)
    return classes // LEVELS if labels == "type_level" else classes


def class_names(labels: str) -> list[str]:
    """``"GWN 1"`` … ``"f-noise 3"`` (level 1 mild … 3 severe), or the type names."""
    if labels == "type":
        return [TYPE_NAMES[t] for t in FLICKR_TYPES]
    class_count(labels)
    return [f"{TYPE_NAMES[t]} {level}" for t in FLICKR_TYPES for level in range(1, LEVELS + 1)]


# --------------------------------------------------------------------------------------------------------
# 2. Data.


def build_data(cfg: ClassificationConfig, work_dir: Path, seed: int, *, progress: bool = True) -> Path:
    """Generate the profile's classification set (resumable) under ``work_dir``; returns its root."""
    source = references.prepare_source(cfg.source, "flickr_references", limit=cfg.references,
                                       crop=cfg.reference_crop, work_dir=work_dir)
    out = Path(work_dir) / f"flickr-classification-{cfg.references}-{cfg.reference_crop}-seed{seed}"
    build_flickr_distortion(source=source, out=out, sets=("classification",), seed=seed, workers=cfg.data_workers,
                            progress=progress)
    return out


def centre(image: torch.Tensor, side: int) -> torch.Tensor:
    """The centre ``side``×``side`` crop of a C×H×W tensor."""
    h, w = image.shape[-2:]
    top, left = (h - side) // 2, (w - side) // 2
    return image[..., top:top + side, left:left + side]


class ImageStore:
    """One split's images in memory as 8-bit tensors (the PNGs are 8-bit, so nothing is lost), each cut to its
    centre ``region`` px (None: whole), with their class ids (``labels``) and labels.csv rows."""

    def __init__(self, split: FlickrClassification, labels: str, region: int | None, *, progress: bool = False):
        self.rows, self.labels, self.region = split.rows, labels, region
        self.targets = [class_id(row, labels) for row in split.rows]
        self.images = []
        for i in tqdm(range(len(split)), desc=f"load {split.folder.name}", unit="image", disable=not progress,
                      leave=False):
            image = split[i][0]
            if min(image.shape[-2:]) < (region or 1):
                raise CompanionError(f"{split.folder / self.rows[i]['file']} is {image.shape[-1]}×{image.shape[-2]} "
                                     f"px, smaller than the {region} px crop; use larger references")
            image = centre(image, region) if region else image
            self.images.append((image * 255).round().to(torch.uint8))

    def __len__(self) -> int:
        return len(self.images)

    @property
    def references(self) -> list[str]:
        """The reference images this split's images were distorted from."""
        return sorted({reference_of(row["file"]) for row in self.rows})


def reference_of(file: str) -> str:
    """The reference of a classification image, from its name ``<reference>_<type>_<level>.png``."""
    for kind in FLICKR_TYPES:
        if f"_{kind}_" in file:
            return file[:file.rindex(f"_{kind}_")]
    raise CompanionError(f"{file} is not named <reference>_<type>_<level>.png")


class Crops(Dataset):
    """(3×crop×crop float image in [0, 1], class id) items of an :class:`ImageStore`: the centre crop, or with
    ``random_crops`` a crop drawn from (``seed``, the loop's step via :meth:`set_epoch`, the index)."""

    def __init__(self, store: ImageStore, crop: int, *, random_crops: bool = False, seed: int = 0):
        small = [i for i, im in enumerate(store.images) if min(im.shape[-2:]) < crop]
        if small:
            raise CompanionError(f"{len(small)} images are smaller than the {crop} px crop (first: "
                                 f"{store.rows[small[0]]['file']}); use larger references or a smaller crop")
        self.store, self.crop, self.random_crops, self.seed, self.step = store, int(crop), random_crops, int(seed), 0

    def set_epoch(self, step: int) -> None:
        self.step = int(step)

    def __len__(self) -> int:
        return len(self.store)

    def position(self, index: int) -> tuple[int, int]:
        """Top-left corner of item ``index``'s crop at the current step."""
        h, w = self.store.images[index].shape[-2:]
        if not self.random_crops:
            return (h - self.crop) // 2, (w - self.crop) // 2
        digest = hashlib.blake2b(f"{self.seed}:{self.step}:{index}".encode(), digest_size=8).digest()
        g = torch.Generator().manual_seed(int.from_bytes(digest, "little"))
        top = int(torch.randint(0, h - self.crop + 1, (1,), generator=g))
        left = int(torch.randint(0, w - self.crop + 1, (1,), generator=g))
        return top, left

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        top, left = self.position(index)
        image = self.store.images[index][:, top:top + self.crop, left:left + self.crop]
        return image.float() / 255, self.store.targets[index]

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """Items ``indices`` stacked: (B×3×crop×crop, B class ids)."""
        items = [self[i] for i in indices]
        return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


def load_splits(root: Path, cfg: ClassificationConfig, *, progress: bool = True) -> dict[str, ImageStore]:
    """The train / val / test splits of the generated set in memory: training images whole (random crops) or
    cut to the centre crop, validation and test images cut to the centre crop."""
    region = None if cfg.train_crops == "random" else cfg.crop
    if cfg.train_crops not in ("random", "centre"):
        raise CompanionError(f"unknown train_crops {cfg.train_crops!r}; choose 'centre' (the thesis) or 'random'")
    out = {"train": ImageStore(FlickrClassification(root, "train"), cfg.labels, region, progress=progress)}
    for split in ("val", "test"):
        out[split] = ImageStore(FlickrClassification(root, split), cfg.labels, cfg.crop, progress=progress)
    for split, store in out.items():
        if not len(store):
            raise CompanionError(f"the classification {split} split has no images; use more references")
    return out


# --------------------------------------------------------------------------------------------------------
# 3. Models and their training.


def regimes(model: str) -> tuple[str, ...]:
    """The regimes Table 6.1 trains ``model`` in."""
    if model in IQA_MODELS:
        return ("scratch",)
    if model in RECOGNISERS:
        return ("frozen", "fine-tuned")
    raise CompanionError(f"unknown classifier {model!r}; choose among {', '.join(IQA_MODELS + RECOGNISERS)}")


def label_of(model: str) -> str:
    """How Table 6.1 names ``model``."""
    return ARCHITECTURES[model] if model in ARCHITECTURES else model_label(model)


@dataclass(frozen=True)
class TrainedClassifier:
    """One classifier of a :class:`~companion.ch6.config.ClassificationConfig`: ``model`` trained in ``regime``
    on the profile's data (``data_seed``); ``zoo_entry(seed)`` is its zoo entry."""

    spec: ClassificationConfig
    model: str
    regime: str
    data_seed: int = 0

    def __post_init__(self) -> None:
        if self.regime not in regimes(self.model):
            raise CompanionError(f"{self.model} trains in {' or '.join(regimes(self.model))}, not {self.regime!r}")

    @property
    def name(self) -> str:
        return f"{self.model}-{self.regime}"

    @property
    def label(self) -> str:
        return f"{label_of(self.model)} ({REGIMES[self.regime]})"

    @property
    def is_iqa(self) -> bool:
        return self.model in IQA_MODELS

    def model_config(self) -> dict:
        """Constructor arguments (JSON-ready): the registry's paper-size IQA network, or the recogniser."""
        classes = class_count(self.spec.labels)
        if self.is_iqa:
            config = model_config(self.model, "paper", classes=classes)
        else:
            config = dict(architecture=self.model, classes=classes, width=float(self.spec.width),
                          frozen=self.regime == "frozen")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}

    def init(self) -> str:
        """``"random"`` or ``"imagenet:<file>"`` (:func:`companion.models.recognisers.initialisation`)."""
        if self.is_iqa or not self.spec.imagenet:
            return "random"
        return initialisation(self.model, self.spec.width)

    def init_text(self) -> str:
        if self.is_iqa:
            return "random initialisation (trained from scratch, as the thesis does)"
        if not self.spec.imagenet:
            return "random initialisation (the profile does not use ImageNet weights)"
        return initialisation_text(self.init(), self.spec.width)

    def recipe(self, seed: int):
        return replace(self.spec.iqa_recipe if self.is_iqa else self.spec.recipe, seed=int(seed))

    def train_crop(self) -> int:
        """The side of a training input: one 32 px patch for the IQA networks, else the profile's crop."""
        return PATCH if self.is_iqa else self.spec.crop

    def zoo_key(self, seed: int) -> dict:
        """Everything that shapes the weights: the model and its start, the data, the crops and the training."""
        train_cfg = {k: v for k, v in asdict(self.recipe(seed)).items() if k != "checkpoint_every"}
        return {"notebook": NOTEBOOK, "model": self.model, "regime": self.regime, "config": self.model_config(),
                "seed": int(seed), "init": f"{self.init()} (torch.manual_seed(seed) first)",
                "data": {"source": self.spec.source, "references": self.spec.references,
                         "reference_crop": self.spec.reference_crop, "data_seed": int(self.data_seed),
                         "labels": self.spec.labels, "levels": {k: list(v) for k, v in FLICKR_LEVELS.items()}},
                "crops": {"train": self.spec.train_crops, "train_side": self.train_crop(), "eval": self.spec.crop},
                "loss": "cross-entropy", "train": train_cfg,
                "keep": "best validation accuracy (ties: lower validation cross-entropy)"}

    def zoo_entry(self, seed: int) -> zoo.ZooEntry:
        return zoo.ZooEntry(name=f"ch6/06b/{self.name}-seed{seed}", model=self.model, config=self.model_config(),
                            key=self.zoo_key(seed), label=f"{self.label}, quick profile")

    def build(self, seed: int) -> torch.nn.Module:
        """The untrained classifier of ``seed`` (weights drawn after ``torch.manual_seed(seed)``)."""
        torch.manual_seed(int(seed))
        config = self.model_config()
        if self.is_iqa:
            return build_model(self.model, **config)
        return build_recogniser(config["architecture"], config["classes"], config["width"], config["frozen"],
                                init=self.init())


def models_text(cfg: ClassificationConfig, data_seed: int = 0) -> str:
    """One line per classifier of the profile: its trainable parameters at the paper's size and as this profile
    trains it, and how it starts (counted on PyTorch's meta device: nothing is allocated)."""
    lines = [f"{'trainable parameters of':<42} {'paper size':>12} {'this profile':>13}  start"]
    for trained in classifiers(cfg, data_seed):
        with torch.device("meta"):
            ours = count_parameters(trained.build(0)) if trained.init() == "random" else None
            paper = replace(trained, spec=replace(cfg, width=1.0, imagenet=False))
            full = count_parameters(paper.build(0))
        ours = full if ours is None else ours  # ImageNet-started networks are the paper's
        lines.append(f"{trained.label:<42} {full:>12,} {ours:>13,}  {trained.init_text()}")
    return "\n".join(lines)


@dataclass
class Classifier:
    """A trained (or loaded) classifier and what its training did."""

    model: torch.nn.Module
    source: str                      # "zoo:<entry name>" or "trained"
    steps: int
    seconds: float
    kept: str
    val: list                        # [(step, selection score)]
    loss_curve: list
    init: str


def selection_score(accuracy: float, loss: float) -> float:
    """What selects the kept step: validation accuracy, ties broken by the lower validation cross-entropy
    (``accuracy − 10⁻⁷ · min(loss, 100)``: less than one image's worth of accuracy on a split of fewer than
    100,000 images)."""
    return float(accuracy) - 1e-7 * min(float(loss), 100.0)


@torch.inference_mode()
def predict(model: torch.nn.Module, images: Crops, device, *, batch_size: int = 32) -> torch.Tensor:
    """Logits (N × classes, on the CPU) of every item of ``images``, in evaluation mode."""
    device = torch.device(device)
    was = model.training
    model.eval().to(device)
    try:
        out = [model(images.batch(range(i, min(i + batch_size, len(images))))[0].to(device)).float().cpu()
               for i in range(0, len(images), batch_size)]
    finally:
        model.train(was)
    return torch.cat(out)


def validation_score(model: torch.nn.Module, images: Crops, device) -> float:
    """:func:`selection_score` of ``model`` on the validation crops."""
    logits = predict(model, images, device)
    targets = torch.tensor(images.store.targets)
    accuracy = float((logits.argmax(1) == targets).float().mean())
    return selection_score(accuracy, float(F.cross_entropy(logits, targets)))


def train_classifier(trained: TrainedClassifier, seed: int, data: dict[str, ImageStore], device, *,
                     checkpoint_dir: Path | None, progress: bool = True) -> Classifier:
    """Train ``trained`` for ``seed`` with the shared loop (module docstring, item 3), keeping the weights of the
    best validation step; resumes from ``checkpoint_dir`` when a checkpoint of these settings is there."""
    model = trained.build(seed)
    spec = trained.spec
    crops = Crops(data["train"], trained.train_crop(), random_crops=trained.is_iqa or spec.train_crops == "random",
                  seed=seed)
    val = Crops(data["val"], spec.crop)
    entry = trained.zoo_entry(seed)
    path = (Path(checkpoint_dir) / f"{entry.name.replace('/', '_')}-{entry.digest}.pt") if checkpoint_dir else None
    groups = [{"params": model.head_parameters(), "name": "new FC"}] if trained.regime == "frozen" else None
    result = train(model, crops, trained.recipe(seed), loss=F.cross_entropy, batch=tuple_batch,
                   model_name=f"{trained.name}", device=device, checkpoint_path=path, progress=progress,
                   keep="best", validate=lambda m: validation_score(m, val, device), param_groups=groups)
    return Classifier(model=model.eval(), source="trained", steps=result.steps_done, seconds=result.seconds,
                      kept=result.kept, val=[[int(s), round(float(v), 6)] for s, v in result.val],
                      loss_curve=loss_curve(result.losses, 40, 5), init=trained.init())


def load_classifier(trained: TrainedClassifier, entry: zoo.ZooEntry) -> Classifier:
    """A current zoo entry's classifier, with the training record its sidecar keeps."""
    model, meta = zoo.load_entry(entry, model=trained.build(0))
    return Classifier(model=model, source=f"zoo:{entry.name}", steps=int(meta["steps"]),
                      seconds=float(meta["seconds"]), kept=str(meta.get("kept", "")), val=meta.get("val", []),
                      loss_curve=meta.get("loss_curve", []), init=str(meta.get("init", trained.init())))


def obtain_classifier(trained: TrainedClassifier, seed: int, data: dict[str, ImageStore], device, *,
                      use_zoo: bool, checkpoint_dir: Path | None, progress: bool = True) -> Classifier:
    """The zoo's current entry when ``use_zoo`` (:func:`companion.zoo.find`), else trained here."""
    entry = zoo.find(trained, seed) if use_zoo else None
    if entry is not None:
        return load_classifier(trained, entry)
    return train_classifier(trained, seed, data, device, checkpoint_dir=checkpoint_dir, progress=progress)


# --------------------------------------------------------------------------------------------------------
# 4. Evaluation.


def scores(logits: torch.Tensor, targets, labels: str) -> dict:
    """What the test split says of one classifier: ``accuracy`` over the classes, ``type_accuracy`` (the type
    right, whatever the level), ``per_type`` accuracy and type accuracy, the per-image ``correct`` (0/1), the
    ``predicted`` classes and the ``confusion`` (classes × classes) and ``type_confusion`` (8 × 8) matrices
    (rows: true, columns: predicted)."""
    predicted = logits.argmax(1).numpy()
    targets = np.asarray(targets)
    true_type, predicted_type = type_of(targets, labels), type_of(predicted, labels)
    correct = (predicted == targets).astype(float)
    per_type = {}
    for k, kind in enumerate(FLICKR_TYPES):
        mask = true_type == k
        if mask.any():
            per_type[kind] = {"accuracy": float(correct[mask].mean()),
                              "type_accuracy": float((predicted_type[mask] == k).mean()), "images": int(mask.sum())}
    return {"accuracy": float(correct.mean()), "type_accuracy": float((predicted_type == true_type).mean()),
            "per_type": per_type, "correct": correct.tolist(), "predicted": predicted.tolist(),
            "confusion": confusion_matrix(targets, predicted, labels=range(class_count(labels))).tolist(),
            "type_confusion": confusion_matrix(true_type, predicted_type, labels=range(len(FLICKR_TYPES))).tolist()}


def confused_pairs(type_confusion, top: int = 3) -> list[dict]:
    """The ``top`` off-diagonal cells of a type confusion matrix with the most images: ``{"true", "predicted",
    "count", "share"}`` (share: of the true type's images), most first (ties in type order); cells with no
    image are left out."""
    matrix = np.asarray(type_confusion)
    totals = matrix.sum(1)
    cells = [(int(matrix[i, j]), -i, -j) for i in range(len(matrix)) for j in range(len(matrix)) if i != j
             and matrix[i, j] > 0]
    out = []
    for count, i, j in sorted(cells, reverse=True)[:top]:
        out.append({"true": FLICKR_TYPES[-i], "predicted": FLICKR_TYPES[-j], "count": count,
                    "share": count / totals[-i] if totals[-i] else float("nan")})
    return out


def thesis_pairs(type_confusion) -> list[dict]:
    """Fig. 6.2's pairs (:data:`THESIS_PAIRS`) in a measured type confusion matrix: ``{"true", "predicted",
    "count", "of", "rank"}``: how many of the true type's ``of`` images were predicted as the other type, and the
    cell's rank among the off-diagonal cells by count (1 = the most confused pair; None when the count is 0)."""
    matrix = np.asarray(type_confusion)
    off = sorted((int(matrix[i, j]) for i in range(len(matrix)) for j in range(len(matrix)) if i != j), reverse=True)
    out = []
    for true, predicted in THESIS_PAIRS:
        i, j = FLICKR_TYPES.index(true), FLICKR_TYPES.index(predicted)
        count = int(matrix[i, j])
        out.append({"true": true, "predicted": predicted, "count": count, "of": int(matrix[i].sum()),
                    "rank": off.index(count) + 1 if count else None})
    return out


@torch.inference_mode()
def frames_per_second(model: torch.nn.Module, side: int, device, *, repeats: int = 10, warmup: int = 1) -> float:
    """Images per second of ``model`` on one ``side``×``side`` image a call: the median of ``repeats`` timed calls
    after ``warmup`` untimed ones, on ``device`` with this process's threads."""
    device = torch.device(device)
    was = model.training
    model.eval().to(device)
    x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0)).to(device)
    times = []
    try:
        for i in range(warmup + max(1, repeats)):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    finally:
        model.train(was)
    return 1.0 / statistics.median(times)


def paper_width_fps(cfg: ClassificationConfig, device, *, progress: bool = True) -> dict[str, float]:
    """``{model: frames per second}`` of the paper's networks (the IQA networks at their paper size, the
    recognisers at width 1) at ``cfg.fps_size``, randomly initialised (speed does not depend on the weights)."""
    out = {}
    for model in tqdm(cfg.models, desc="paper-width FPS", unit="model", disable=not progress, leave=False):
        torch.manual_seed(0)
        classes = class_count(cfg.labels)
        net = build_model(model, "paper", classes=classes) if model in IQA_MODELS else \
            build_recogniser(model, classes, 1.0)
        out[model] = frames_per_second(net, cfg.fps_size, device, repeats=cfg.fps_repeats)
        del net
    return out


# --------------------------------------------------------------------------------------------------------
# 5. The experiment of 06b_classification.


def classifiers(cfg: ClassificationConfig, data_seed: int) -> list[TrainedClassifier]:
    """What the notebook trains: every model of the profile in each of its regimes, in Table 6.1's order."""
    return [TrainedClassifier(cfg, m, r, data_seed) for m in cfg.models for r in regimes(m)]


def run_experiment(cfg: ClassificationConfig, data: dict[str, ImageStore], *, data_seed: int, device,
                   checkpoint_dir: Path | None, progress: bool = True) -> dict:
    """Obtain (zoo or training) every classifier for every seed, score it on validation and, once, on test, and
    time it. Returns ``{"runs": {name: {"label", "model", "regime", "parameters", "fps", "seeds": [...]}},
    "paper_fps": {model: fps} (empty unless ``cfg.paper_fps``), "threads"}``; each seed's record holds where the
    weights came from, the training record, ``val`` and ``test`` (:func:`scores`)."""
    val, test = Crops(data["val"], cfg.crop), Crops(data["test"], cfg.crop)
    runs = {}
    for trained in classifiers(cfg, data_seed):
        seeds = []
        for seed in range(data_seed, data_seed + cfg.seeds):
            got = obtain_classifier(trained, seed, data, device, use_zoo=cfg.use_zoo, checkpoint_dir=checkpoint_dir,
                                    progress=progress)
            seeds.append({"seed": seed, "source": got.source, "steps": got.steps, "seconds": round(got.seconds, 1),
                          "kept": got.kept, "val_curve": got.val, "loss_curve": got.loss_curve, "init": got.init,
                          "val": scores(predict(got.model, val, device), val.store.targets, cfg.labels),
                          "test": scores(predict(got.model, test, device), test.store.targets, cfg.labels)})
        runs[trained.name] = {"label": trained.label, "model": trained.model, "regime": trained.regime,
                              "init_text": trained.init_text(), "parameters": count_parameters(got.model),
                              "fps": frames_per_second(got.model, cfg.crop, device, repeats=cfg.fps_repeats),
                              "seeds": seeds}
    return {"runs": runs, "paper_fps": paper_width_fps(cfg, device, progress=progress) if cfg.paper_fps else {},
            "threads": torch.get_num_threads(), "device": str(device), "crop": cfg.crop, "labels": cfg.labels,
            "test_images": len(test), "val_images": len(val)}


def _mean(values) -> float:
    return float(np.mean(values))


def table_rows(results: dict, cfg: ClassificationConfig) -> list[dict]:
    """Table 6.1 as measured, one row per model in the profile's order: ``{"model", "label", "frozen",
    "tuned"}`` (mean test accuracy over seeds; None where the model has no such regime), the same for
    ``type_frozen`` / ``type_tuned`` (type accuracy), ``fps`` (the trained network at the profile's crop),
    ``paper_fps`` (the paper-width network at ``fps_size``; None unless timed) and ``init``."""
    rows = []
    for model in cfg.models:
        row = {"model": model, "label": label_of(model), "frozen": None, "tuned": None, "type_frozen": None,
               "type_tuned": None, "fps": None, "paper_fps": results["paper_fps"].get(model), "init": None}
        for regime in regimes(model):
            run = results["runs"][f"{model}-{regime}"]
            slot = "frozen" if regime == "frozen" else "tuned"
            row[slot] = _mean([s["test"]["accuracy"] for s in run["seeds"]])
            row[f"type_{slot}"] = _mean([s["test"]["type_accuracy"] for s in run["seeds"]])
            row["fps"], row["init"] = run["fps"], run["init_text"]
        rows.append(row)
    return rows


def selected(results: dict) -> str:
    """The classifier the confusion matrix and Fig. 6.2 show: the highest mean validation score (validation,
    never test, chooses; ties to the earlier in Table 6.1's order)."""
    def score(name):
        return _mean([s["val"]["accuracy"] for s in results["runs"][name]["seeds"]])
    names = list(results["runs"])
    return max(names, key=lambda n: (score(n), -names.index(n)))


def pooled_type_confusion(results: dict, name: str) -> np.ndarray:
    """The 8 × 8 test type confusion of classifier ``name``, summed over its seeds."""
    return np.sum([np.asarray(s["test"]["type_confusion"]) for s in results["runs"][name]["seeds"]], axis=0)


def accuracy_by_type(results: dict) -> dict[str, dict[str, float]]:
    """``{classifier name: {distortion type: test accuracy}}``: the share of each type's test images whose
    predicted class has the right type (the level ignored), from the type confusion summed over seeds; None for
    a type with no test image."""
    out = {}
    for name in results["runs"]:
        matrix = pooled_type_confusion(results, name)
        totals = matrix.sum(axis=1)
        out[name] = {kind: (float(matrix[i, i] / totals[i]) if totals[i] else None)
                     for i, kind in enumerate(FLICKR_TYPES)}
    return out


def record_accuracy_by_type(run, results: dict) -> str:
    """Record each classifier's test accuracy per distortion type (:func:`accuracy_by_type`) and return it as a
    text table, one row per classifier, one column per type."""
    table = accuracy_by_type(results)
    labels = {name: results["runs"][name]["label"] for name in table}
    width = max(map(len, labels.values()), default=0) + 2
    lines = [f"{'':<{width}}" + "".join(f"{TYPE_NAMES[k]:>13}" for k in FLICKR_TYPES)]
    for name, by_type in table.items():
        for kind, value in by_type.items():
            if value is not None:
                run.record(f"table6_1/{name}/accuracy_by_type/{kind}", round(value, 4),
                           protocol=f"test images of type {kind}: share whose predicted class has that type "
                                    "(level ignored), summed over seeds")
        lines.append(f"{labels[name]:<{width}}" + "".join(f"{'–' if v is None else f'{v:.2f}':>13}"
                                                          for v in by_type.values()))
    return "\n".join(lines)


def misclassified(results: dict, name: str, data: dict[str, ImageStore], labels: str, limit: int) -> list[dict]:
    """Up to ``limit`` test images the first seed of classifier ``name`` gets wrong, Fig. 6.2's pairs first, then
    the most confused type pairs, then the rest: ``{"index", "file", "true", "predicted"}`` (class ids)."""
    test = data["test"]
    predicted = results["runs"][name]["seeds"][0]["test"]["predicted"]
    wrong = [i for i, (p, t) in enumerate(zip(predicted, test.targets)) if p != t]
    kinds = {i: (FLICKR_TYPES[int(type_of(test.targets[i], labels))], FLICKR_TYPES[int(type_of(predicted[i], labels))])
             for i in wrong}
    order = list(THESIS_PAIRS) + [(p["true"], p["predicted"]) for p in confused_pairs(
        pooled_type_confusion(results, name), top=len(FLICKR_TYPES) ** 2)]
    rank = {pair: k for k, pair in enumerate(dict.fromkeys(order))}
    picked, seen_pairs = [], set()
    for i in sorted(wrong, key=lambda i: (rank.get(kinds[i], len(rank)), i)):  # one image per pair first
        if kinds[i] not in seen_pairs:
            picked.append(i)
            seen_pairs.add(kinds[i])
    picked += [i for i in wrong if i not in picked]
    return [{"index": i, "file": test.rows[i]["file"], "true": test.targets[i], "predicted": predicted[i]}
            for i in picked[:limit]]


def per_image_correct(results: dict, name: str) -> list[list[float]]:
    """Seeds × test images of 0/1 correctness of classifier ``name``: what the paired verdicts compare."""
    return [s["test"]["correct"] for s in results["runs"][name]["seeds"]]


def claims(results: dict, cfg: ClassificationConfig) -> list[dict]:
    """Table 6.1's claims at this scale (:func:`companion.summary.check_claims` on paired per-image correctness):
    fine-tuning beats the frozen backbone (each recogniser); ResNet-101 beats VGG-16 without fine-tuning; every
    fine-tuned recogniser beats each IQA-CNN baseline."""
    out = []
    recognisers = [m for m in cfg.models if m in RECOGNISERS]
    for m in recognisers:
        out.append(("Table 6.1", f"fine-tuned {label_of(m)} beats its frozen backbone",
                    per_image_correct(results, f"{m}-fine-tuned"), per_image_correct(results, f"{m}-frozen")))
    if {"resnet101", "vgg16"} <= set(recognisers):
        out.append(("Table 6.1", "frozen ResNet-101 beats frozen VGG-16",
                    per_image_correct(results, "resnet101-frozen"), per_image_correct(results, "vgg16-frozen")))
    for m in recognisers:
        for b in (b for b in cfg.models if b in IQA_MODELS):
            out.append(("Table 6.1", f"fine-tuned {label_of(m)} beats {label_of(b)}",
                        per_image_correct(results, f"{m}-fine-tuned"), per_image_correct(results, f"{b}-scratch")))
    return check_claims(out, unit="(accuracy)")


def record_results(run, results: dict, cfg: ClassificationConfig) -> list[dict]:
    """Put Table 6.1's measured cells beside the paper's (``run.record``) and return :func:`table_rows`."""
    rows = table_rows(results, cfg)
    protocol = (f"test split ({results['test_images']} images), {cfg.crop} px centre crops, "
                f"{class_count(cfg.labels)} classes ({cfg.labels}), mean of {cfg.seeds} seed(s); weights kept at the "
                f"best validation step")
    for row in rows:
        for slot, regime_slot in (("frozen", "frozen"), ("tuned", "tuned")):
            if row[slot] is None:
                continue
            column = COLUMNS["frozen"] if slot == "frozen" else COLUMNS["fine-tuned"]
            run.record(f"table6_1/{row['model']}/{regime_slot}_accuracy", round(row[slot], 4), entry="Table 6.1",
                       row=row["label"], column=column, protocol=protocol, note=row["init"])
            run.record(f"table6_1/{row['model']}/{regime_slot}_type_accuracy", round(row[f"type_{slot}"], 4),
                       protocol=protocol + "; the type right, whatever the level", note=row["init"])
        where = (f"{results['device']}, {results['threads']} thread(s), one image a call, median of "
                 f"{cfg.fps_repeats} calls")
        if row["paper_fps"] is not None:
            run.record(f"table6_1/{row['model']}/fps", round(row["paper_fps"], 2), entry="Table 6.1", row=row["label"],
                       column="FPS", protocol=f"paper-width network (random weights) at {cfg.fps_size}×{cfg.fps_size}"
                                              f"; {where}")
            run.record(f"table6_1/{row['model']}/trained_fps", round(row["fps"], 2),
                       protocol=f"the trained network at {cfg.crop}×{cfg.crop}; {where}")
        else:
            run.record(f"table6_1/{row['model']}/fps", round(row["fps"], 2), entry="Table 6.1", row=row["label"],
                       column="FPS", protocol=f"the trained network at {cfg.crop}×{cfg.crop}; {where}")
    return rows


def record_confusions(run, results: dict, name: str) -> dict:
    """Record Fig. 6.2's measurement (the thesis' pairs in the confusion matrix of classifier ``name``) and
    return ``{"model", "label", "pairs": thesis_pairs, "top": confused_pairs}``."""
    matrix = pooled_type_confusion(results, name)
    pairs, top = thesis_pairs(matrix), confused_pairs(matrix)
    label = results["runs"][name]["label"]
    for p in pairs:
        run.record(f"figure6_2/{p['true']}_as_{p['predicted']}", p["count"], entry="Figure 6.2",
                   protocol=f"test images of true type {p['true']} ({p['of']}) predicted as {p['predicted']}, "
                            f"{label}, chosen on validation; rank among off-diagonal type cells: {p['rank']}")
    run.record("figure6_2/most_confused", [f"{TYPE_NAMES[p['true']]}→{TYPE_NAMES[p['predicted']]}: {p['count']}"
                                           for p in top], protocol=f"{label}, test split, type confusion")
    return {"model": name, "label": label, "pairs": pairs, "top": top}


def paper_table_6_1() -> dict[str, dict]:
    """Table 6.1 as ``companion/paper/thesis.json`` has it: ``{row label: {column: value}}``."""
    [table] = [e for e in load_paper() if e["id"] == "Table 6.1"]
    return {r["label"]: r["values"] for r in table["rows"]}


def table_text(rows: list[dict], paper: dict | None = None) -> str:
    """Table 6.1 as measured (test accuracy w/o and w/ fine-tuning, type accuracy, FPS), with the paper's cells
    (``paper``: row label -> values, from companion/paper/thesis.json) when given."""
    def cell(v, digits=3):
        return "–" if v is None else f"{v:.{digits}f}"

    head = f"{'model':<14} {'w/o FT':>7} {'w/ FT':>7} {'type w/o':>9} {'type w/':>8} {'FPS':>8} {'FPS paper-w':>12}"
    lines = [head + ("   paper: w/o, w/, FPS" if paper else "")]
    for r in rows:
        line = (f"{r['label']:<14} {cell(r['frozen']):>7} {cell(r['tuned']):>7} {cell(r['type_frozen']):>9} "
                f"{cell(r['type_tuned']):>8} {cell(r['fps'], 1):>8} {cell(r['paper_fps'], 1):>12}")
        if paper:
            values = paper.get(r["label"], {})
            line += "   " + ", ".join(str(values.get(c, "–")) for c in (*dict.fromkeys(COLUMNS.values()), "FPS"))
        lines.append(line)
    return "\n".join(lines)
