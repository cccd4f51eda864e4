"""Distortion detection with SSD (thesis §6.3, Tables 6.2-6.3, Fig. 6.3): the experiment of ``06c_detection``.

The thesis trains SSD300 (Liu et al. 2016) to find and name the distorted regions of Flickr-Distortion's
detection sets (§6.2.2): 8 classes (``FLICKR_TYPES``) + background, 300×300 inputs, horizontal flips as the only
augmentation (§6.3.1: scaling and shearing would corrupt the distortion), mAP at IoU 0.5 / 0.75 / 0.9, on two
backbones (Table 6.2) and across the basic / difficult sets (Table 6.3), and accuracy against region size at
IoU 0.9 (Fig. 6.3). This module reads top to bottom:

1. **The detector** (:func:`distortion_ssd`): :func:`companion.models.ssd.build_ssd`, torchvision's SSD300 on
   an Atrous VGG-16 or a ResNet-101 feature extractor (that module's docstring gives both, and the reading for
   ResNet-101), for background + the eight types on 300 px images.
   ``width`` scales every channel count (1 = torchvision's), with the channel rule of
   :mod:`companion.models.recognisers`, so a ``06b_classification`` classifier of the same width fits.
   **Where the backbone starts** (:meth:`TrainedDetector.start`): the thesis builds SSD on "the pre-trained CNN,
   which is fine-tuned over the Classification dataset" (§6.3.2), and so does a profile that names a 06b
   profile (``classifier_profile``; the quick one): the backbone takes the weights of 06b's fine-tuned
   classifier of the same architecture, width and seed (:func:`classifier_backbone_state`: VGG-16's convs and the
   atrous fc6 / fc7, or ResNet-101's stem and stages), from the zoo, or trained here as 06b trains it. Otherwise
   torchvision's ImageNet weights when they are already in its cache at width 1 (the full profile; nothing
   downloads; fc6 / fc7 subsampled as SSD does), else random. The extra layers and the head start at random.
   Reading: the 06b atrous VGG is DeepLab-LargeFOV's (pool4 / pool5 of stride 1, fc6 dilated by 12); SSD keeps
   pool4 of stride 2 and dilates fc6 by 6, as SSD300 does with the decimated ImageNet fc6.
2. **The data** (:func:`detection_sets`): :class:`companion.ch6.datasets.FlickrDetection`. The detection sets
   have train / test splits only (80/20, §6.2.2). Selection needs a validation set, so the images of the
   references whose *classification* split is "val" (``clean_images``; detection train = classification train +
   val) are held out of training as the validation split: 60 / 20 / 20 by reference, no content shared.
   :class:`FlippedImages` flips an image and its boxes left-right with probability ½, decided by (seed, step,
   index), so a resumed run sees the same batches.
3. **Training** (:func:`train_detector`): the shared loop (:func:`companion.engine.loop.train`) on
   :class:`SSDTrainingView` (normalisation, backbone and head: one tensor of box offsets and class logits per
   default box) with :class:`SSDLoss`, which matches default boxes to the regions (``SSDMatcher``, IoU 0.5) and
   calls torchvision's ``SSD.compute_loss`` (smooth L1 + cross-entropy with 3:1 hard negative mining). The
   weights kept are those of the validation step with the best mean mAP over the three IoU thresholds
   (``keep="best"``); the test split is scored once. §6.3 gives no optimiser or schedule: the shared loop's Adam
   and the profile's steps (``DetectionConfig.recipe``).
4. **Evaluation**: mAP from ``torchmetrics.detection.MeanAveragePrecision(backend="pycocotools",
   iou_thresholds=[t])`` per threshold t (:func:`mean_average_precision`); per-image AP for the paired verdicts
   (:func:`per_image_ap`); Fig. 6.3's accuracy against region size as **AP at IoU 0.9 per size bin**, from
   pycocotools' ``COCOeval`` with its area ranges set to the bins (:func:`ap_by_region_size`, the way COCO
   reports AP for small / medium / large objects); a region's size ratio is √(w·h) / 300 (the geometric mean of
   its two side ratios, which the generator draws). Frames per second (:func:`frames_per_second`): one image at
   a time, torchvision's full inference path (normalisation, network, decoding, NMS), on this run's device.

The zoo (:mod:`companion.ch6.zoo`) holds the quick profile's detectors (:class:`TrainedDetector`,
``ch6/06c/<backbone>-<set>-seed<k>``); the notebook loads a current entry instead of training.
"""
from __future__ import annotations

import contextlib
import io
import math
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torch import nn
from torch.utils.data import Dataset
from torchmetrics.detection import MeanAveragePrecision
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.ssd import SSD
from torchvision.ops import box_iou
from tqdm.auto import tqdm

from companion import zoo
from companion.ch6 import classification
from companion.ch6.config import NOTEBOOKS, DetectionConfig
from companion.ch6.datasets import FlickrDetection
from companion.ch6.flickr_distortion import CROP, FLICKR_TYPES, build_flickr_distortion, clean_images
from companion.data import references
from companion.engine.loop import train
from companion.errors import CompanionError
from companion.ledger import load_paper
from companion.models.common import count_parameters
from companion.models.recognisers import IMAGENET_MEAN, IMAGENET_STD, imagenet_file, imagenet_state
from companion.models.ssd import BACKBONES, build_ssd
from companion.summary import check_claims, loss_curve, mean_std

#: Background + the eight Flickr-Distortion types (label = class id + 1, as ``FlickrDetection`` gives).
NUM_CLASSES = len(FLICKR_TYPES) + 1
LABELS = {"atrous_vgg16": "Atrous VGG-16", "resnet101": "ResNet-101"}
SETS = ("basic", "difficult")


# --------------------------------------------------------------------------------------------------------
# 1. The detector: companion.models.ssd's SSD300, for Flickr-Distortion.


def distortion_ssd(backbone: str, width: float = 1.0) -> SSD:
    """:func:`companion.models.ssd.build_ssd` for Flickr-Distortion: :data:`NUM_CLASSES` classes (background and
    the eight types) on its 300 px images."""
    return build_ssd(backbone, width, num_classes=NUM_CLASSES, size=CROP)


def classifier_backbone_state(backbone: str, classifier_state: dict) -> dict[str, torch.Tensor]:
    """The weights of a ``06b_classification`` classifier of the same architecture and width
    (:class:`companion.models.recognisers.Recogniser`'s state dict) as this module's backbone keys: VGG-16's convs
    (``net.features.*``) and the atrous fc6 / fc7 (``net.fc.0`` / ``net.fc.3`` -> ``fc.1`` / ``fc.3``: DeepLab's
    fc6 dilation 12 becomes SSD's 6, as SSD re-uses decimated ImageNet fc weights), or ResNet-101's stem and four
    stages; the classifier's new FC is dropped."""
    out = {}
    for key, value in classifier_state.items():
        if not key.startswith("net."):
            continue
        key = key[len("net."):]
        if backbone == "atrous_vgg16":
            if key.startswith("features."):
                out[key] = value
            elif key.startswith(("fc.0.", "fc.3.")):
                out[("fc.1." if key.startswith("fc.0.") else "fc.3.") + key.split(".", 2)[2]] = value
        elif key.startswith(("conv1.", "bn1.", "layer")):
            out[key] = value
    return out


def load_backbone(features: nn.Module, backbone: str, state: dict) -> None:
    """Load backbone weights (:func:`classifier_backbone_state`'s keys) into ``features``: every one must land,
    with its shape (a one-line error when the widths or architectures differ)."""
    own = features.state_dict()
    bad = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
    if bad or not state:
        raise CompanionError(f"the starting weights do not fit the {LABELS[backbone]} detector "
                             f"({', '.join(bad[:3]) or 'no backbone weights'}); use the same width and architecture")
    features.load_state_dict(state, strict=False)


# --------------------------------------------------------------------------------------------------------
# 2. The data.


class DetectionImages(Dataset):
    """The images of one Flickr-Distortion detection set and split whose reference is in ``references`` (all
    when None): (3×300×300 float32 image, {"boxes", "labels"}). :meth:`target` reads a target without the image."""

    def __init__(self, root, set_name: str, split: str, references=None):
        self.base = FlickrDetection(root, set_name, split)
        self.set_name, self.split = set_name, split
        keep = set(references) if references is not None else None
        self.indices = [i for i, im in enumerate(self.base.images) if keep is None or im.get("reference") in keep]
        boxes: dict[int, list] = {}
        for a in self.base.coco["annotations"]:
            boxes.setdefault(a["image_id"], []).append(a)
        self._annotations = boxes

    def __len__(self) -> int:
        return len(self.indices)

    def target(self, index: int) -> dict:
        """``{"boxes": N×4 float32 xyxy px, "labels": N int64}`` of image ``index``."""
        anns = self._annotations.get(self.base.images[self.indices[index]]["id"], [])
        boxes = torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                              for a in anns], dtype=torch.float32).reshape(-1, 4)
        return {"boxes": boxes, "labels": torch.tensor([a["category_id"] for a in anns], dtype=torch.int64)}

    def file(self, index: int) -> str:
        return self.base.images[self.indices[index]]["file_name"]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        image, _ = self.base[self.indices[index]]
        return image, self.target(index)


def flip(image: torch.Tensor, target: dict) -> tuple[torch.Tensor, dict]:
    """``image`` and its boxes mirrored left-right."""
    boxes = target["boxes"].clone()
    width = image.shape[-1]
    boxes[:, 0], boxes[:, 2] = width - target["boxes"][:, 2], width - target["boxes"][:, 0]
    return image.flip(-1), {**target, "boxes": boxes}


class FlippedImages(Dataset):
    """``images`` with the thesis' one augmentation (§6.3.1): a left-right flip with probability ½, drawn from
    (``seed``, step, index) so a batch is a pure function of the step (the loop calls :meth:`set_epoch`)."""

    def __init__(self, images: Dataset, seed: int):
        self.images, self.seed, self.step = images, int(seed), 0

    def set_epoch(self, step: int) -> None:
        self.step = int(step)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image, target = self.images[index]
        if random.Random(f"{self.seed}:{self.step}:{index}").random() < 0.5:
            image, target = flip(image, target)
        return image, target


def detection_batch(dataset, indices: list[int], step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The loop's ``batch`` function: B×3×300×300 images and the targets padded into one B×M×5 tensor of
    (label, x1, y1, x2, y2) rows, label -1 for padding (:func:`unpad_targets` reads them back)."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(step)
    items = [dataset[i] for i in indices]
    most = max(1, max(len(t["labels"]) for _, t in items))
    padded = torch.full((len(items), most, 5), -1.0)
    for row, (_, t) in enumerate(items):
        n = len(t["labels"])
        padded[row, :n, 0] = t["labels"].float()
        padded[row, :n, 1:] = t["boxes"]
    return torch.stack([image for image, _ in items]), padded


def unpad_targets(padded: torch.Tensor) -> list[dict]:
    """The torchvision targets of :func:`detection_batch`'s padded tensor."""
    out = []
    for rows in padded:
        rows = rows[rows[:, 0] >= 0]
        out.append({"labels": rows[:, 0].round().long(), "boxes": rows[:, 1:].contiguous()})
    return out


def reference_splits(source, seed: int) -> dict[str, list[str]]:
    """``{"train", "val", "test"}`` -> reference stems: the classification split of the references (§6.2.1's
    60/20/20), whose "val" part the detection sets put into their train split; here it is held out (module
    docstring, item 2)."""
    out: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for clean in clean_images(source, seed):
        out[clean.split].append(clean.stem)
    return out


def build_data(cfg: DetectionConfig, work_dir: Path, seed: int, *, progress: bool = True) -> tuple[Path, object]:
    """Generate the basic and difficult detection sets of the profile (resumable) under ``work_dir``; returns
    (root, the generator's ``source``)."""
    source = references.prepare_source(cfg.source, "flickr_references", limit=cfg.references,
                                       crop=cfg.reference_crop, work_dir=work_dir)
    out = Path(work_dir) / f"flickr-detection-{cfg.references}-{cfg.reference_crop}-{cfg.per_reference}-seed{seed}"
    build_flickr_distortion(source=source, out=out, sets=SETS, seed=seed, workers=cfg.data_workers,
                            per_reference=cfg.per_reference, progress=progress)
    return out, source


def detection_sets(root, source, seed: int) -> dict[tuple[str, str], DetectionImages]:
    """``{(set, split): DetectionImages}`` for both sets and the splits train / val / test (val: module
    docstring, item 2)."""
    refs = reference_splits(source, seed)
    out = {}
    for set_name in SETS:
        out[set_name, "train"] = DetectionImages(root, set_name, "train", refs["train"])
        out[set_name, "val"] = DetectionImages(root, set_name, "train", refs["val"])
        out[set_name, "test"] = DetectionImages(root, set_name, "test")
        for split in ("train", "val", "test"):
            if len(out[set_name, split]) == 0:
                raise CompanionError(f"the {set_name} {split} split has no images; use more references")
    return out


# --------------------------------------------------------------------------------------------------------
# 3. Training.


class SSDTrainingView(nn.Module):
    """``ssd``'s training forward as one tensor, for the shared loop: normalise the 300 px batch (as
    ``ssd.transform`` does; no resizing), run the backbone and head, and return B×A×(4 + classes): each default
    box's offsets, then its class logits. ``config`` identifies the detector in checkpoints."""

    def __init__(self, ssd: SSD, config: dict):
        super().__init__()
        self.ssd, self.config = ssd, dict(config)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if tuple(images.shape[-2:]) != (CROP, CROP):
            raise CompanionError(f"SSD300 trains on {CROP}×{CROP} images; got {tuple(images.shape[-2:])}")
        features = list(self.ssd.backbone((images - self.mean) / self.std).values())
        out = self.ssd.head(features)
        return torch.cat([out["bbox_regression"], out["cls_logits"]], dim=-1)


class SSDLoss:
    """The loop's ``loss``: torchvision's SSD loss for :class:`SSDTrainingView`'s output and
    :func:`detection_batch`'s padded targets. Default boxes are matched to the regions as ``SSD.forward`` does
    (``SSDMatcher``: IoU ≥ 0.5, plus each region's best box); then ``SSD.compute_loss`` gives smooth L1 over the
    matched boxes' offsets and cross-entropy with hard negatives (3 per positive), each over the positives."""

    def __init__(self, ssd: SSD):
        self.ssd = ssd
        self._anchors: dict = {}

    def anchors(self, device, dtype) -> torch.Tensor:
        """The default boxes (xyxy px) of a 300 px input, computed once per device."""
        key = (str(device), dtype)
        if key not in self._anchors:
            images = ImageList(torch.zeros(1, 3, CROP, CROP, device=device, dtype=dtype), [(CROP, CROP)])
            maps = [torch.zeros(1, 1, h, w, device=device, dtype=dtype) for h, w in self.ssd.grid_sizes]
            self._anchors[key] = self.ssd.anchor_generator(images, maps)[0]
        return self._anchors[key]

    def __call__(self, output: torch.Tensor, padded: torch.Tensor) -> torch.Tensor:
        anchors = self.anchors(output.device, output.dtype)
        targets = unpad_targets(padded)
        matched = [self.ssd.proposal_matcher(box_iou(t["boxes"], anchors)) if len(t["boxes"]) else
                   torch.full((len(anchors),), -1, dtype=torch.int64, device=output.device) for t in targets]
        head = {"bbox_regression": output[..., :4], "cls_logits": output[..., 4:]}
        losses = self.ssd.compute_loss(targets, head, [anchors] * len(targets), matched)
        return losses["bbox_regression"] + losses["classification"]


@dataclass(frozen=True)
class TrainedDetector:
    """One detector of a :class:`~companion.ch6.config.DetectionConfig`: SSD on ``backbone`` trained on the
    ``train_set`` detection set with the profile's data (``data_seed``); ``zoo_entry(seed)`` is its zoo entry.

    Its backbone starts (:meth:`start`) from the fine-tuned classifier of ``06b_classification``'s profile
    ``spec.classifier_profile`` (same architecture and width, the same ``seed``: §6.3.2 "we use the pre-trained
    CNN, which is fine-tuned over the Classification dataset, as a base network"), else from torchvision's
    cached ImageNet weights (``spec.imagenet``, width 1), else at random; the extra layers and the head always
    start at random."""

    spec: DetectionConfig
    backbone: str
    train_set: str
    data_seed: int = 0

    @property
    def label(self) -> str:
        return f"SSD {LABELS[self.backbone]} trained on {self.train_set}"

    def model_config(self) -> dict:
        return {"backbone": self.backbone, "width": self.spec.width, "num_classes": NUM_CLASSES, "input": CROP}

    def classifier(self) -> "classification.TrainedClassifier | None":
        """The 06b classifier the backbone starts from (None: the profile names none)."""
        if not self.spec.classifier_profile:
            return None
        spec = NOTEBOOKS["06b_classification"][self.spec.classifier_profile]
        if float(spec.width) != float(self.spec.width):
            raise CompanionError(f"06b's {self.spec.classifier_profile} classifiers have width {spec.width:g}, the "
                                 f"detectors {self.spec.width:g}; use a 06b profile of the same width")
        return classification.TrainedClassifier(spec, self.backbone, "fine-tuned", self.data_seed)

    def start(self, seed: int) -> str:
        """Where the backbone's weights start: ``"classifier:<06b zoo entry name>@<its digest>"``,
        ``"imagenet:<file>"`` or ``"random"``."""
        classifier_ = self.classifier()
        if classifier_ is not None:
            entry = classifier_.zoo_entry(seed)
            return f"classifier:{entry.name}@{entry.digest}"
        path = imagenet_file(self.backbone) if self.spec.imagenet and float(self.spec.width) == 1.0 else None
        return f"imagenet:{path.name}" if path is not None else "random"

    def train_config(self, seed: int):
        return replace(self.spec.recipe, seed=int(seed))

    def zoo_key(self, seed: int) -> dict:
        """Everything that shapes the weights: the model, where it starts, the data and the training."""
        train_cfg = {k: v for k, v in asdict(self.train_config(seed)).items() if k != "checkpoint_every"}
        return {"notebook": "06c_detection", "model": "ssd", "config": self.model_config(), "seed": int(seed),
                "start": self.start(seed), "init": "torch.manual_seed(seed), torchvision's initialisations",
                "data": {"set": self.train_set, "source": self.spec.source, "references": self.spec.references,
                         "reference_crop": self.spec.reference_crop, "per_reference": self.spec.per_reference,
                         "data_seed": int(self.data_seed), "train": "classification-train references",
                         "val": "classification-val references"},
                "augment": "horizontal flip p=0.5", "loss": "torchvision SSD.compute_loss", "train": train_cfg,
                "keep": "best validation mean mAP@0.5/0.75/0.9"}

    def zoo_entry(self, seed: int) -> zoo.ZooEntry:
        return zoo.ZooEntry(name=f"ch6/06c/{self.backbone}-{self.train_set}-seed{seed}", model="ssd",
                            config=self.model_config(), key=self.zoo_key(seed),
                            label=f"{self.label} (quick size)")

    def build(self, seed: int) -> SSD:
        """The untrained detector of ``seed``, random weights drawn after ``torch.manual_seed(seed)``."""
        torch.manual_seed(int(seed))
        return distortion_ssd(self.backbone, self.spec.width)


def start_text(start: str) -> str:
    """:meth:`TrainedDetector.start` in words, for tables and the ledger."""
    if start.startswith("classifier:"):
        return f"backbone from 06b's fine-tuned classifier {start.split(':', 1)[1].split('@')[0]}"
    if start.startswith("imagenet:"):
        return f"backbone from ImageNet ({start.split(':', 1)[1]}, torchvision's cache)"
    return "random initialisation"


def starting_weights(detector: TrainedDetector, seed: int, device, *, work_dir: Path,
                     progress: bool = True) -> dict[str, torch.Tensor] | None:
    """The backbone weights :meth:`TrainedDetector.start` names, as this module's keys (None: random): the 06b
    classifier from the zoo when current, else trained here on 06b's data exactly as its notebook trains it
    (:func:`companion.ch6.classification.obtain_classifier`); or the cached ImageNet weights."""
    start = detector.start(seed)
    if start.startswith("classifier:"):
        trained = detector.classifier()
        data = None
        if zoo.find(trained, seed) is None:
            root = classification.build_data(trained.spec, work_dir, detector.data_seed, progress=progress)
            data = classification.load_splits(root, trained.spec, progress=progress)
        model = classification.obtain_classifier(trained, seed, data, device, use_zoo=True,
                                                 checkpoint_dir=Path(work_dir) / "checkpoints" / "06b",
                                                 progress=progress).model
        return classifier_backbone_state(detector.backbone, model.state_dict())
    if start.startswith("imagenet:"):
        architecture_state = imagenet_state(detector.backbone, imagenet_file(detector.backbone))
        return classifier_backbone_state(detector.backbone, {f"net.{k}": v for k, v in architecture_state.items()})
    return None


@dataclass
class Detector:
    """A trained (or loaded) detector and what its training did."""

    model: SSD
    source: str                      # "zoo:<entry name>" or "trained"
    steps: int
    seconds: float
    kept: str
    val: list                        # [(step, validation mean mAP)]
    loss_curve: list
    start: str                       # TrainedDetector.start


def validation_score(ssd: SSD, images: DetectionImages, device, thresholds) -> float:
    """The selection score: mean over ``thresholds`` of the validation mAP."""
    maps = mean_average_precision(predict(ssd, images, device, progress=False),
                                  [images.target(i) for i in range(len(images))], thresholds)
    return float(np.mean(list(maps.values())))


def train_detector(detector: TrainedDetector, seed: int, sets: dict, device, *, work_dir: Path,
                   checkpoint_dir: Path | None, progress: bool = True) -> Detector:
    """Train ``detector`` for ``seed`` with the shared loop (module docstring, item 3) from its starting weights
    (:func:`starting_weights`), keeping the weights of the best validation step; resumes from ``checkpoint_dir``
    when a checkpoint of these settings is there."""
    ssd = detector.build(seed)
    state = starting_weights(detector, seed, device, work_dir=work_dir, progress=progress)
    if state is not None:
        load_backbone(ssd.backbone, detector.backbone, state)
    view = SSDTrainingView(ssd, detector.model_config())
    val_images = sets[detector.train_set, "val"]
    thresholds = detector.spec.iou_thresholds
    entry = detector.zoo_entry(seed)
    path = (Path(checkpoint_dir) / f"{entry.name.replace('/', '_')}-{entry.digest}.pt") if checkpoint_dir else None
    result = train(view, FlippedImages(sets[detector.train_set, "train"], seed), detector.train_config(seed),
                   loss=SSDLoss(ssd), batch=detection_batch, model_name=f"ssd-{detector.backbone}",
                   device=device, checkpoint_path=path, progress=progress, keep="best",
                   validate=lambda model: validation_score(model.ssd, val_images, device, thresholds))
    return Detector(model=ssd.eval(), source="trained", steps=result.steps_done, seconds=result.seconds,
                    kept=result.kept, val=[[int(s), round(float(v), 6)] for s, v in result.val],
                    loss_curve=loss_curve(result.losses, 40, 5), start=detector.start(seed))


def load_detector(detector: TrainedDetector, entry: zoo.ZooEntry) -> Detector:
    """A current zoo entry's detector, with the training record its sidecar keeps."""
    model, meta = zoo.load_entry(entry, model=detector.build(0))
    return Detector(model=model, source=f"zoo:{entry.name}", steps=int(meta["steps"]), seconds=float(meta["seconds"]),
                    kept=str(meta.get("kept", "")), val=meta.get("val", []), loss_curve=meta.get("loss_curve", []),
                    start=str(entry.key["start"]))


def obtain_detector(detector: TrainedDetector, seed: int, sets: dict, device, *, use_zoo: bool, work_dir: Path,
                    checkpoint_dir: Path | None, progress: bool = True) -> Detector:
    """The zoo's current entry when ``use_zoo`` (:func:`companion.zoo.find`), else trained here."""
    entry = zoo.find(detector, seed) if use_zoo else None
    if entry is not None:
        return load_detector(detector, entry)
    return train_detector(detector, seed, sets, device, work_dir=work_dir, checkpoint_dir=checkpoint_dir,
                          progress=progress)


# --------------------------------------------------------------------------------------------------------
# 4. Evaluation.


@torch.inference_mode()
def predict(ssd: SSD, images: DetectionImages, device, *, batch_size: int = 8, progress: bool = True) -> list[dict]:
    """SSD's detections (``boxes`` xyxy px, ``scores``, ``labels``; on the CPU) for every image of ``images``,
    through torchvision's inference path (score > 0.01, NMS at IoU 0.45, at most
    :data:`companion.models.ssd.MAX_DETECTIONS` per image)."""
    device = torch.device(device)
    was = ssd.training
    ssd.eval().to(device)
    out = []
    try:
        for start in tqdm(range(0, len(images), batch_size), desc=f"detect {images.set_name} {images.split}",
                          unit="batch", disable=not progress, leave=False):
            batch = [images[i][0].to(device) for i in range(start, min(start + batch_size, len(images)))]
            out += [{k: v.cpu() for k, v in d.items()} for d in ssd(batch)]
    finally:
        ssd.train(was)
    return out


def _quiet(fn, *args, **kwargs):
    """Call ``fn`` with pycocotools' progress prints silenced."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def mean_average_precision(predictions: list[dict], targets: list[dict], thresholds=(0.5, 0.75, 0.9)) -> dict:
    """``{threshold: mAP}``: torchmetrics' ``MeanAveragePrecision(backend="pycocotools", iou_thresholds=[t])``
    per threshold (COCO's 101-point interpolated AP, averaged over the classes that have regions)."""
    out = {}
    for t in thresholds:
        metric = MeanAveragePrecision(backend="pycocotools", iou_thresholds=[float(t)])
        metric.update(predictions, targets)
        out[float(t)] = float(_quiet(metric.compute)["map"])
    return out


def per_image_ap(predictions: list[dict], targets: list[dict], thresholds=(0.5, 0.75, 0.9)) -> list[float]:
    """Each image's own mAP (torchmetrics on that image alone), averaged over ``thresholds``: the per-image
    scores the paired verdicts compare (:func:`claims`)."""
    out = []
    for p, t in zip(predictions, targets):
        metric = MeanAveragePrecision(backend="pycocotools", iou_thresholds=[float(x) for x in thresholds])
        metric.update([p], [t])
        out.append(float(_quiet(metric.compute)["map"]))
    return out


def size_ratio(box) -> float:
    """A region's size ratio: √(w·h) / 300, the geometric mean of its side ratios."""
    return math.sqrt(max(0.0, float(box[2] - box[0])) * max(0.0, float(box[3] - box[1]))) / CROP


def ap_by_region_size(predictions: list[dict], targets: list[dict], edges, iou: float = 0.9) -> list[dict]:
    """Fig. 6.3: per size bin [edges[k], edges[k+1]) of the regions' size ratio (:func:`size_ratio`), the AP at
    IoU ``iou`` and the recall (at most 100 detections per image), from pycocotools' ``COCOeval`` with its area
    ranges set to the bins: regions outside a bin are ignored there, and so are unmatched detections of another
    size, as COCO does for AP_small / medium / large. Rows: ``{"low", "high", "regions", "ap", "recall"}``; AP and
    recall are NaN for a bin without regions."""
    edges = [float(e) for e in edges]
    images, annotations, results = [], [], []
    for image_id, (p, t) in enumerate(zip(predictions, targets), start=1):
        images.append({"id": image_id, "width": CROP, "height": CROP})
        for box, label in zip(t["boxes"].tolist(), t["labels"].tolist()):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label),
                                "bbox": [box[0], box[1], w, h], "area": w * h, "iscrowd": 0})
        for box, score, label in zip(p["boxes"].tolist(), p["scores"].tolist(), p["labels"].tolist()):
            results.append({"image_id": image_id, "category_id": int(label), "score": float(score),
                            "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]]})
    areas = [[(lo * CROP) ** 2, (hi * CROP) ** 2 - (1e-6 if k < len(edges) - 2 else 0.0)]
             for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))]
    counts = [sum(lo <= size_ratio(b) < hi or (k == len(areas) - 1 and size_ratio(b) == hi)
                  for t in targets for b in t["boxes"].tolist())
              for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))]
    rows = [{"low": lo, "high": hi, "regions": int(n), "ap": float("nan"), "recall": float("nan")}
            for lo, hi, n in zip(edges[:-1], edges[1:], counts)]
    if not annotations:
        return rows
    gt = COCO()
    gt.dataset = {"info": {}, "images": images, "annotations": annotations,
                  "categories": [{"id": k + 1, "name": name} for k, name in enumerate(FLICKR_TYPES)]}
    _quiet(gt.createIndex)
    if not results:  # nothing detected: every bin with regions has AP 0 and recall 0
        return [dict(r, ap=0.0, recall=0.0) if r["regions"] else r for r in rows]
    evaluation = COCOeval(gt, _quiet(gt.loadRes, results), "bbox")
    evaluation.params.iouThrs = np.array([float(iou)])
    evaluation.params.areaRng = areas
    evaluation.params.areaRngLbl = [f"{lo:g}-{hi:g}" for lo, hi in zip(edges[:-1], edges[1:])]
    evaluation.params.maxDets = [100]
    _quiet(evaluation.evaluate)
    _quiet(evaluation.accumulate)
    precision, recall = evaluation.eval["precision"], evaluation.eval["recall"]  # [T, R, K, A, M], [T, K, A, M]
    for a, row in enumerate(rows):
        p, r = precision[0, :, :, a, -1], recall[0, :, a, -1]
        if row["regions"] and (p > -1).any():
            row["ap"], row["recall"] = float(p[p > -1].mean()), float(r[r > -1].mean())
    return rows


@torch.inference_mode()
def frames_per_second(ssd: SSD, images: list[torch.Tensor], device, *, warmup: int = 1) -> float:
    """Images per second through torchvision's whole inference path (one 300 px image per call: normalisation,
    network, box decoding and NMS), after ``warmup`` untimed calls, on ``device`` with this process's threads."""
    device = torch.device(device)
    was = ssd.training
    ssd.eval().to(device)
    try:
        for image in images[:warmup]:
            ssd([image.to(device)])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for image in images:
            ssd([image.to(device)])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return len(images) / (time.perf_counter() - start)
    finally:
        ssd.train(was)


# --------------------------------------------------------------------------------------------------------
# 5. The experiment of 06c_detection.


def detectors(cfg: DetectionConfig, data_seed: int) -> list[TrainedDetector]:
    """What the notebook trains: every backbone of Table 6.2 on basic, and Table 6.3's backbone on difficult."""
    out = [TrainedDetector(cfg, b, "basic", data_seed) for b in cfg.backbones]
    return out + [TrainedDetector(cfg, cfg.transfer_backbone, "difficult", data_seed)]


def evaluations(cfg: DetectionConfig) -> list[tuple[str, str, str]]:
    """(backbone, train set, test set) of every test scoring: Table 6.2's rows on basic, then Table 6.3's four."""
    out = [(b, "basic", "basic") for b in cfg.backbones]
    out += [(cfg.transfer_backbone, train_set, test_set) for train_set in SETS for test_set in SETS]
    return list(dict.fromkeys(out))


def run_experiment(cfg: DetectionConfig, sets: dict, *, data_seed: int, device, work_dir: Path,
                   checkpoint_dir: Path | None, progress: bool = True) -> dict:
    """Train or load every detector for every seed, then score each once on its test sets. Returns
    ``{"models": {(backbone, train set, seed): Detector}, "scores": {(backbone, train, test, seed): {"map",
    "per_image", "sizes"}}, "fps": {backbone: frames per second}, "paper_fps": {backbone: …}}``."""
    models, scores = {}, {}
    for seed in range(data_seed, data_seed + cfg.seeds):
        for detector in detectors(cfg, data_seed):
            models[detector.backbone, detector.train_set, seed] = obtain_detector(
                detector, seed, sets, device, use_zoo=cfg.use_zoo, work_dir=work_dir, checkpoint_dir=checkpoint_dir,
                progress=progress)
        for backbone, train_set, test_set in evaluations(cfg):
            test = sets[test_set, "test"]
            targets = [test.target(i) for i in range(len(test))]
            predictions = predict(models[backbone, train_set, seed].model, test, device, progress=progress)
            scores[backbone, train_set, test_set, seed] = {
                "map": mean_average_precision(predictions, targets, cfg.iou_thresholds),
                "per_image": per_image_ap(predictions, targets, cfg.iou_thresholds),
                "sizes": {iou: ap_by_region_size(predictions, targets, cfg.size_bins, iou) for iou in cfg.size_ious}
                if backbone == cfg.transfer_backbone else None,
                "examples": {i: predictions[i] for i in example_indices(len(test), cfg.examples)}
                if seed == data_seed else None}
    timing_images = [sets["basic", "test"][i][0] for i in range(min(cfg.fps_images, len(sets["basic", "test"])))]
    fps = {b: frames_per_second(models[b, "basic", data_seed].model, timing_images, device) for b in cfg.backbones}
    paper_fps = {}
    for b in cfg.backbones if cfg.paper_fps_images else ():
        torch.manual_seed(0)
        paper_fps[b] = frames_per_second(distortion_ssd(b, 1.0), timing_images[:cfg.paper_fps_images], device)
    return {"models": models, "scores": scores, "fps": fps, "paper_fps": paper_fps, "device": str(device),
            "threads": torch.get_num_threads(), "timed_images": len(timing_images),
            "paper_timed_images": min(cfg.paper_fps_images, len(timing_images))}


def summarise(results: dict, cfg: DetectionConfig) -> dict:
    """Means (± std over seeds) of the test mAPs: ``{"rows": {(backbone, train, test): {threshold: (mean, std)}},
    "sizes": {(train, test): {IoU: :func:`ap_by_region_size` rows of the first seed}}, "fps", "paper_fps", …}``."""
    rows = {}
    for backbone, train_set, test_set in evaluations(cfg):
        runs = [v for (b, tr, te, _), v in results["scores"].items() if (b, tr, te) == (backbone, train_set, test_set)]
        rows[backbone, train_set, test_set] = {t: mean_std([r["map"][t] for r in runs]) for t in cfg.iou_thresholds}
    first = min(s for *_, s in results["scores"])
    sizes = {(tr, te): v["sizes"] for (b, tr, te, s), v in results["scores"].items()
             if s == first and b == cfg.transfer_backbone}
    sources = {f"{LABELS[b]} / {tr} / seed {s}": d.source for (b, tr, s), d in results["models"].items()}
    return {"rows": rows, "sizes": sizes, "fps": results["fps"], "paper_fps": results["paper_fps"],
            "sources": sources, "seeds": cfg.seeds, "thresholds": list(cfg.iou_thresholds),
            "transfer_backbone": cfg.transfer_backbone, "size_ious": list(cfg.size_ious), "width": cfg.width,
            "device": results["device"], "threads": results["threads"], "timed_images": results["timed_images"],
            "paper_timed_images": results["paper_timed_images"],
            "starts": sorted({d.start for d in results["models"].values()}), "labels": dict(LABELS),
            "start_texts": sorted({start_text(d.start) for d in results["models"].values()}),
            "steps": sorted({d.steps for d in results["models"].values()})}


def _per_image(results: dict, backbone: str, train_set: str, test_set: str) -> list[list[float]]:
    """Seeds × test images of per-image AP (:func:`per_image_ap`)."""
    found = sorted((s, v["per_image"]) for (b, tr, te, s), v in results["scores"].items()
                   if (b, tr, te) == (backbone, train_set, test_set))
    return [scores for _, scores in found]


def claims(results: dict, cfg: DetectionConfig) -> list[dict]:
    """The thesis' detection claims judged on paired per-image AP (mean over the IoU thresholds) by
    :func:`companion.summary.check_claims`: Table 6.2's Atrous VGG-16 ahead of ResNet-101 on basic, and Table
    6.3's matching train/test sets ahead of the transferred ones on each test set."""
    out = []
    vgg, resnet, t = "atrous_vgg16", "resnet101", cfg.transfer_backbone
    if vgg in cfg.backbones and resnet in cfg.backbones:
        out.append(("Table 6.2", f"{LABELS[vgg]} detects distortions better than {LABELS[resnet]} (basic test)",
                    _per_image(results, vgg, "basic", "basic"), _per_image(results, resnet, "basic", "basic")))
    out.append(("Table 6.3", "on basic test images, training on basic beats training on difficult",
                _per_image(results, t, "basic", "basic"), _per_image(results, t, "difficult", "basic")))
    out.append(("Table 6.3", "on difficult test images, training on difficult beats training on basic",
                _per_image(results, t, "difficult", "difficult"), _per_image(results, t, "basic", "difficult")))
    return check_claims(out, unit="AP")


# --------------------------------------------------------------------------------------------------------
# 6. What the notebook prints and records.


def paper_table(entry_id: str) -> dict[str, dict]:
    """A paper table from ``companion/paper/thesis.json``: ``{row label: {column: value}}``."""
    [table] = [e for e in load_paper() if e["id"] == entry_id]
    return {r["label"]: r["values"] for r in table["rows"]}


def transfer_row(train_set: str, test_set: str) -> str:
    """Table 6.3's row label of (train set, test set)."""
    return f"{train_set}->{test_set}"


def architecture_text(cfg: DetectionConfig) -> str:
    """Parameters of each backbone's detector at the profile's width and at the paper's (exact counts)."""
    lines = [f"{'detector':28s} {'this profile':>14s} {'paper size':>14s}  feature maps (px)"]
    for backbone in BACKBONES:
        torch.manual_seed(0)
        small, paper = distortion_ssd(backbone, cfg.width), distortion_ssd(backbone, 1.0)
        maps = ", ".join(str(h) for h, _ in small.grid_sizes)
        lines.append(f"SSD300 {LABELS[backbone]:21s} {count_parameters(small):14,d} {count_parameters(paper):14,d}  "
                     f"{maps}")
    return "\n".join(lines)


def sources_text(results: dict) -> str:
    """Where every detector came from (zoo or trained here), how it started, its steps and kept weights."""
    lines = []
    for (backbone, train_set, seed), d in results["models"].items():
        lines.append(f"{LABELS[backbone]} on {train_set}, seed {seed}: {d.source}; {start_text(d.start)}; "
                     f"{d.steps} steps in {d.seconds:.0f} s; kept {d.kept}")
    return "\n".join(lines)


def training_records(results: dict) -> dict[str, dict]:
    """``{label: {"loss_curve", "val", "kept"}}`` of every detector, for the training figure."""
    return {f"{LABELS[b]} / {tr} / seed {s}": {"loss_curve": d.loss_curve, "val": d.val, "kept": d.kept}
            for (b, tr, s), d in results["models"].items()}


def _protocol(cfg: DetectionConfig, summary: dict, test_set: str, sets: dict | None = None) -> str:
    n = f"{len(sets[test_set, 'test'])} " if sets is not None else ""
    return (f"{test_set} test split ({n}images of held-out references), torchmetrics MeanAveragePrecision "
            f"(pycocotools); width {cfg.width:g}; {', '.join(start_text(s) for s in summary['starts'])}; "
            f"weights of the best validation step; mean of {cfg.seeds} seed(s)")


def _cell(value: tuple[float, float], seeds: int) -> float | str:
    mean, std = value
    return round(mean, 4) if seeds == 1 else f"{mean:.3f} ± {std:.3f}"


def record_results(run, summary: dict, cfg: DetectionConfig, sets: dict | None = None) -> str:
    """Put Tables 6.2-6.3's and Fig. 6.3's measured cells beside the paper's (``run.record``) and return the
    tables as text, ours beside the paper's."""
    paper_2, paper_3 = paper_table("Table 6.2"), paper_table("Table 6.3")
    thresholds = summary["thresholds"]
    lines = ["Table 6.2 (test on basic)      " + "  ".join(f"mAP@{t:<5g}" for t in thresholds)
             + "        FPS   paper-size FPS", ""]
    for (backbone, train_set, test_set), maps in summary["rows"].items():
        if (train_set, test_set) != ("basic", "basic") or backbone not in cfg.backbones:
            continue
        row = LABELS[backbone]
        for t in thresholds:
            run.record(f"table6_2/{backbone}/map@{t:g}", _cell(maps[t], cfg.seeds), entry="Table 6.2", row=row,
                       column=f"mAP@{t:g}", protocol=_protocol(cfg, summary, "basic", sets))
        fps = summary["fps"][backbone]
        run.record(f"table6_2/{backbone}/fps", round(fps, 2), entry="Table 6.2", row=row, column="FPS",
                   protocol=f"the trained width-{cfg.width:g} detector, one 300 px image a call, whole inference "
                            f"path, {summary['device']}, {summary['threads']} thread(s), "
                            f"{summary['timed_images']} images")
        paper_fps = summary["paper_fps"].get(backbone)
        if paper_fps is not None:
            run.record(f"table6_2/{backbone}/fps_paper_size", round(paper_fps, 3), entry="Table 6.2", row=row,
                       protocol=f"the paper-size architecture (width 1, random weights: speed only), same timing, "
                                f"{summary['device']}, {summary['threads']} thread(s), "
                                f"{summary['paper_timed_images']} images",
                       note="the thesis timed a GPU (Maxwell TITAN X, presumably)")
        ours = "  ".join(f"{maps[t][0]:7.3f}" for t in thresholds)
        paper = "  ".join(f"{paper_2[row][f'mAP@{t:g}']:7.3f}" for t in thresholds)
        size = f"{paper_fps:14.2f}" if paper_fps is not None else f"{'-':>14s}"
        lines += [f"{row + ' (ours)':30s} {ours}  {fps:9.2f}  {size}",
                  f"{row + ' (paper)':30s} {paper}  {paper_2[row]['FPS']:9.0f}"]
    lines += ["", f"Table 6.3 ({LABELS[cfg.transfer_backbone]}) " + "  ".join(f"mAP@{t:<5g}" for t in thresholds), ""]
    for train_set in SETS:
        for test_set in SETS:
            maps = summary["rows"][cfg.transfer_backbone, train_set, test_set]
            row = transfer_row(train_set, test_set)
            for t in thresholds:
                run.record(f"table6_3/{row}/map@{t:g}", _cell(maps[t], cfg.seeds), entry="Table 6.3", row=row,
                           column=f"mAP@{t:g}", protocol=_protocol(cfg, summary, test_set, sets))
            ours = "  ".join(f"{maps[t][0]:7.3f}" for t in thresholds)
            paper = "  ".join(f"{paper_3[row][f'mAP@{t:g}']:7.3f}" for t in thresholds)
            lines += [f"{row + ' (ours)':30s} {ours}", f"{row + ' (paper)':30s} {paper}"]
    return "\n".join(lines)


def record_region_sizes(run, summary: dict) -> str:
    """Record Fig. 6.3's AP per region-size bin at each IoU threshold (first seed) and return it as text."""
    lines = ["AP per region size ratio √(w·h)/300 (regions in the bin)"]
    for iou in summary["size_ious"]:
        for (train_set, test_set), by_iou in summary["sizes"].items():
            cells = []
            for r in by_iou[iou]:
                if not r["regions"]:
                    continue
                ap = round(r["ap"], 4) if math.isfinite(r["ap"]) else None
                run.record(f"figure6_3/{train_set}->{test_set}/iou{iou:g}/ap@{r['low']:g}-{r['high']:g}", ap,
                           entry="Figure 6.3", protocol=f"pycocotools COCOeval, IoU {iou:g}, area range = size bin; "
                                                        f"{r['regions']} regions",
                           note=f"train {train_set}, test {test_set}"
                                + ("" if iou == summary["size_ious"][0] else "; a looser IoU than the figure's"))
                cells.append(f"[{r['low']:g}, {r['high']:g}): {r['ap']:.3f} ({r['regions']})")
            lines.append(f"IoU {iou:<4g} train {train_set:9s} test {test_set:9s} " + "; ".join(cells))
    return "\n".join(lines)


def example_indices(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``n`` test images (first and last included): several references."""
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, min(k, n))}) if n and k else []


def examples(results: dict, sets: dict, cfg: DetectionConfig, data_seed: int) -> list[dict]:
    """``cfg.examples`` test images of each set, spread over the split (:func:`example_indices`), with the
    detections of the transfer backbone trained on that set (first seed), for
    :func:`companion.ch6.detection_figures.fig_detection_examples`."""
    out = []
    for set_name in SETS:
        test = sets[set_name, "test"]
        picked = results["scores"][cfg.transfer_backbone, set_name, set_name, data_seed]["examples"]
        for i, prediction in picked.items():
            out.append({"image": test[i][0].permute(1, 2, 0).numpy(), "target": test.target(i),
                        "prediction": prediction, "set": set_name, "file": test.file(i),
                        "model": f"SSD {LABELS[cfg.transfer_backbone]}, trained on {set_name}"})
    return out


def record_claims(run, checked: list[dict]) -> str:
    """Record each verdict beside its paper entry and return them as text."""
    lines = []
    for claim in checked:
        run.record(f"claim/{claim['claim']}", claim["verdict"], entry=claim["entry"], note=claim["detail"])
        lines.append(f"{claim['verdict']:>10s}  {claim['claim']}  ({claim['detail']})")
    return "\n".join(lines)
