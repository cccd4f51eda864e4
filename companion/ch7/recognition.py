"""Table 7.2 (thesis §7.5.1): recognition after restoration, the pipeline of notebook
``07e_recognition_after_restoration``.

"We distort images of COCO dataset with same protocols of SHDD. Then, we restore distorted images using the
trained models on SHDD. We evaluate mean average precision (mAP) score using faster R-CNN and mask R-CNN for
detection and segmentation respectively." :func:`score_conditions` does exactly that, image by image:

1. **distort** (:func:`distort_image`): SHDD's divide and distort (:func:`companion.ch7.shdd.divide_and_distort`)
   at the profile's level, one version per image seeded by (seed, image id, level) as SHDD seeds its versions
   (:func:`companion.ch7.shdd.version_seed`), stored 8-bit as SHDD's PNGs are;
2. **restore** with every Table 7.1 model and seed (:func:`table_restorers`): the full profile's own models when
   07b's full run left them in the work folder, else the model zoo's quick ones (``ch7/07b``), each image
   whole through :func:`companion.engine.inference.restore` with the profile's tiling, 8-bit again;
3. **detect and segment** the clean, distorted and restored versions with torchvision's COCO Faster R-CNN and
   Mask R-CNN (ResNet-50 FPN; :func:`coco_detectors`), whose weights are read from torchvision's cache
   (``<torch hub dir>/checkpoints/``) and never downloaded;
4. **score** with torchmetrics' ``MeanAveragePrecision`` (pycocotools backend, never a hand-written mAP): Faster
   R-CNN's boxes give "Detection mAP", Mask R-CNN's masks "Segmentation mAP" (iou_type ("bbox", "segm")), as
   COCO AP@[.5:.95] × 100.

Readings chosen (the thesis leaves them open): the level is SHDD's training level, moderate; COCO is val2017
with its instance annotations (``<data root>/coco/val2017/*.jpg``, ``<data root>/coco/annotations/
instances_val2017.json``), all 5,000 images or the first ``coco_images`` by id, greyscale ones read as RGB; the
detectors are torchvision's R50-FPN COCO models (the thesis names no backbone or weights; their clean mAP,
printed by torchvision beside the weights, is what our "Clean" row reproduces, not the paper's 40.2 / 37.2);
Mask R-CNN's masks are thresholded at 0.5 (torchvision's convention); images smaller than SHDD's smallest
image for the level (:func:`companion.ch7.shdd.min_image_side`) are left out of every row and counted.

Where COCO or the weights are missing, :func:`availability` names each missing path and :func:`record_full_only`
records every Table 7.2 cell "full profile only" with that text. The tests and the smoke profile run the same
pipeline on images made here in COCO's format (:func:`write_made_coco`) with small randomly initialised Faster /
Mask R-CNNs (:func:`tiny_detectors`): every code path, no paper number.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from pycocotools.coco import COCO
from torch import nn
from torchmetrics.detection import MeanAveragePrecision
from torchvision.models.detection import (FasterRCNN, FasterRCNN_ResNet50_FPN_Weights, MaskRCNN,
                                          MaskRCNN_ResNet50_FPN_Weights, fasterrcnn_resnet50_fpn,
                                          maskrcnn_resnet50_fpn)
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign
from tqdm.auto import tqdm

from companion.atomic import atomic_write_text
from companion.ch7.config import TRAINING
from companion.ch7.shdd import LEVELS, divide_and_distort, min_image_side, version_seed
from companion.ch7.training import checkpoint_path, load_variant, shdd_root, train_variant
from companion.ch7.variants import VariantSpec, baselines
from companion.data.folders import data_root
from companion.data.generation import stable_int
from companion.data.images import save_image, to_float, to_uint8
from companion.data.tensors import to_chw
from companion.engine.inference import restore
from companion.errors import CompanionError
from companion.summary import mean_std, pm
from companion.zoo import REPO_ROOT, find, load_entry

#: Table 7.2's rows, in the table's order: the clean and distorted images, then the Table 7.1 models.
CLEAN, DISTORTED = "Clean", "Distorted"
#: Table 7.2's columns, and which detector and mAP each comes from.
COLUMNS = {"Detection mAP": ("detection", "map"), "Segmentation mAP": ("segmentation", "segm_map")}
#: torchvision's COCO weights of the two detectors (their files are looked up in torchvision's cache).
COCO_WEIGHTS = {"detection": FasterRCNN_ResNet50_FPN_Weights.COCO_V1,
                "segmentation": MaskRCNN_ResNet50_FPN_Weights.COCO_V1}
BUILDERS = {"detection": fasterrcnn_resnet50_fpn, "segmentation": maskrcnn_resnet50_fpn}
MASK_THRESHOLD = 0.5
#: What the full run tests, in the thesis' words: restoration recovers part of the recognition lost to distortion.
PAPER_POINT = ("restoration recovers part of the recognition lost to distortion (box mAP: clean 40.2, "
               "distorted 26.4, MEPSNet 29.5)")


# --------------------------------------------------------------------------------------------------------
# What the full run needs, and whether this machine has it.


def coco_paths(root=None) -> dict[str, Path]:
    """Where COCO val2017 lives under ``root`` (default: the data root, which must exist): its images folder and
    its instances annotation file."""
    base = (Path(root) if root is not None else data_root()) / "coco"
    return {"images": base / "val2017", "annotations": base / "annotations" / "instances_val2017.json"}


def detector_weight_paths() -> dict[str, Path]:
    """Where torchvision keeps the two detectors' COCO weights: ``<torch hub dir>/checkpoints/<file of the URL>``."""
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    return {task: folder / Path(weights.url).name for task, weights in COCO_WEIGHTS.items()}


def shown(path: Path) -> str:
    """``path`` as the messages and results files write it: relative to the checkout when inside it
    (``data/coco/val2017``), from ``~`` when under the home folder, else whole; so a committed results file
    names no machine's folders."""
    path = Path(path)
    for base, prefix in ((REPO_ROOT, ""), (Path.home(), "~/")):
        try:
            return prefix + str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return str(path)


def availability(root=None) -> dict:
    """``{"paths": {what: path}, "missing": [one line per missing thing]}`` for COCO and the detector weights."""
    weights = detector_weight_paths()
    missing = []
    try:
        coco = coco_paths(root)
    except CompanionError as exc:  # no data root at all
        coco, missing = {}, [f"COCO val2017: {exc}"]
    if coco and (not coco["images"].is_dir() or not any(coco["images"].glob("*.jpg"))):
        missing.append(f"COCO val2017 images (*.jpg) in {shown(coco['images'])}")
    if coco and not coco["annotations"].is_file():
        missing.append(f"COCO's instance annotations {shown(coco['annotations'])}")
    names = {"detection": "Faster R-CNN", "segmentation": "Mask R-CNN"}
    for task, path in weights.items():
        if not path.is_file():
            missing.append(f"torchvision's COCO {names[task]} weights {shown(path)} (from "
                           f"{COCO_WEIGHTS[task].url}; the companion never downloads them)")
    return {"paths": {**{f"coco {k}": str(v) for k, v in coco.items()},
                      **{f"{task} weights": str(v) for task, v in weights.items()}}, "missing": missing}


def missing_text(status: dict) -> str:
    """The missing things of :func:`availability` as one sentence ('' when nothing is missing)."""
    return "missing: " + "; ".join(status["missing"]) if status["missing"] else ""


# --------------------------------------------------------------------------------------------------------
# COCO-format images and annotations.


def _read_rgb(path: Path) -> np.ndarray:
    """An image file as float32 H×W×3 in [0, 1]; greyscale (some COCO images) is read as RGB."""
    try:
        with Image.open(path) as im:
            return to_float(np.asarray(im.convert("RGB"), dtype=np.uint8))
    except OSError as exc:
        raise CompanionError(f"cannot read image {path} ({exc}); re-download or remove it") from None


class CocoImages:
    """A COCO-format set: ``images`` folder and ``annotations`` (instances json), the first ``limit`` images by id
    (0 = all). Each item: ``{"id", "file", "image" (H×W×3 float32), "target"}`` with the target as torchmetrics
    takes it: ``boxes`` (x0, y0, x1, y1), ``labels`` (COCO category ids), ``masks`` (N×H×W bool), ``iscrowd``,
    ``area`` (COCO's, which decides small / medium / large). Annotations of zero width or height are dropped."""

    def __init__(self, images, annotations, limit: int = 0):
        self.folder, path = Path(images), Path(annotations)
        if not path.is_file():
            raise CompanionError(f"no annotation file {path}; put COCO's instances_val2017.json there")
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
            try:
                self.coco = COCO(str(path))
            except (ValueError, KeyError, json.JSONDecodeError) as exc:
                raise CompanionError(f"{path} is not a COCO instances file ({type(exc).__name__}: {exc})") from None
        ids = sorted(self.coco.getImgIds())
        self.ids = ids[:limit] if limit else ids
        if not self.ids:
            raise CompanionError(f"{path} lists no images")

    def __len__(self) -> int:
        return len(self.ids)

    def target(self, image_id: int) -> dict:
        info = self.coco.imgs[image_id]
        height, width = int(info["height"]), int(info["width"])
        anns = [a for a in self.coco.loadAnns(self.coco.getAnnIds(imgIds=image_id)) if a["bbox"][2] > 0
                and a["bbox"][3] > 0]
        boxes = [[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)]
        masks = np.stack([self.coco.annToMask(a) for a in anns]) if anns else np.zeros((0, height, width))
        return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                "labels": torch.tensor([a["category_id"] for a in anns], dtype=torch.int64),
                "masks": torch.from_numpy(masks.astype(bool)),
                "iscrowd": torch.tensor([int(a.get("iscrowd", 0)) for a in anns], dtype=torch.int64),
                "area": torch.tensor([float(a["area"]) for a in anns], dtype=torch.float32)}

    def __getitem__(self, index: int) -> dict:
        image_id = self.ids[index]
        info = self.coco.imgs[image_id]
        image = _read_rgb(self.folder / info["file_name"])
        if image.shape[:2] != (int(info["height"]), int(info["width"])):
            raise CompanionError(f"{info['file_name']} is {image.shape[1]}×{image.shape[0]} px but the annotations "
                                 f"say {info['width']}×{info['height']}; the image or the json is not COCO's")
        return {"id": image_id, "file": info["file_name"], "image": image, "target": self.target(image_id)}


#: The made set's categories: (COCO-style id, name, colour).
MADE_CATEGORIES = ((1, "red square", (0.85, 0.15, 0.15)), (2, "green disc", (0.15, 0.75, 0.2)),
                   (3, "blue triangle", (0.15, 0.3, 0.9)))


def _shape_polygon(kind: int, x: float, y: float, size: float) -> list[float]:
    if kind == 1:
        points = [(x, y), (x + size, y), (x + size, y + size), (x, y + size)]
    elif kind == 2:
        angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        points = [(x + size / 2 * (1 + np.cos(a)), y + size / 2 * (1 + np.sin(a))) for a in angles]
    else:
        points = [(x + size / 2, y), (x + size, y + size), (x, y + size)]
    return [float(v) for point in points for v in point]


def write_made_coco(folder, *, images: int, side: int, seed: int = 0, per_image: int = 3) -> dict[str, Path]:
    """Write ``images`` square images of ``side`` px (a smooth background with ``per_image`` coloured squares,
    discs and triangles) and their COCO instances json under ``folder/coco`` in COCO's layout; returns
    :func:`coco_paths` of ``folder``. A stand-in for COCO where COCO is not on the machine (smoke profile)."""
    rng = np.random.default_rng([seed, stable_int("made-coco")])
    paths = coco_paths(folder)
    paths["images"].mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:side, :side] / side
    listed, annotations = [], []
    for index in range(images):
        phase = rng.uniform(0, 2 * np.pi, 3)
        background = 0.55 + 0.12 * np.sin(2 * np.pi * (xx[..., None] * 1.5 + yy[..., None]) + phase)
        canvas = Image.fromarray(to_uint8(np.clip(background, 0, 1).astype(np.float32)))
        draw = ImageDraw.Draw(canvas)
        for _ in range(per_image):
            kind = int(rng.integers(1, len(MADE_CATEGORIES) + 1))
            size = float(rng.uniform(0.18, 0.35) * side)
            x, y = (float(v) for v in rng.uniform(0, side - size - 1, 2))
            polygon = _shape_polygon(kind, x, y, size)
            colour = tuple(int(255 * c) for c in MADE_CATEGORIES[kind - 1][2])
            draw.polygon(polygon, fill=colour)
            xs, ys = polygon[0::2], polygon[1::2]
            box = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1, "category_id": kind,
                                "segmentation": [polygon], "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
        name = f"{index + 1:012d}.png"
        save_image(paths["images"] / name, np.asarray(canvas))
        listed.append({"id": index + 1, "file_name": name, "height": side, "width": side})
    categories = [{"id": i, "name": name, "supercategory": "shape"} for i, name, _ in MADE_CATEGORIES]
    paths["annotations"].parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(paths["annotations"], json.dumps({"images": listed, "annotations": annotations,
                                                        "categories": categories}))
    return paths


# --------------------------------------------------------------------------------------------------------
# Detectors.


def coco_detectors(device="cpu", tasks=("detection", "segmentation")) -> dict[str, nn.Module]:
    """torchvision's COCO Faster R-CNN (``detection``) and Mask R-CNN (``segmentation``), ResNet-50 FPN, weights
    read from torchvision's cache (:func:`detector_weight_paths`, ``torch.load(weights_only=True)``); a one-line
    error names a missing or unfitting file."""
    out = {}
    for task in tasks:
        path = detector_weight_paths()[task]
        if not path.is_file():
            raise CompanionError(f"torchvision's COCO weights {path} are not on this machine; the companion never "
                                 f"downloads them: put {Path(COCO_WEIGHTS[task].url).name} there")
        model = BUILDERS[task](weights=None, weights_backbone=None, num_classes=91)
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as exc:  # noqa: BLE001 - a truncated or foreign file is one line, not a traceback
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise CompanionError(f"{path} does not load into torchvision's {BUILDERS[task].__name__} ({first}); "
                                 "replace it with torchvision's file") from None
        out[task] = model.to(device).eval()
    return out


class _TinyBackbone(nn.Sequential):
    """Two stride-2 convolutions: a backbone small enough for tests (``out_channels`` as torchvision asks)."""

    def __init__(self, width: int = 16):
        super().__init__(nn.Conv2d(3, width, 3, 2, 1), nn.ReLU(inplace=True), nn.Conv2d(width, width, 3, 2, 1),
                         nn.ReLU(inplace=True))
        self.out_channels = width


def tiny_detectors(num_classes: int, *, seed: int = 0, size: int = 192, width: int = 16) -> dict[str, nn.Module]:
    """Faster R-CNN and Mask R-CNN (torchvision's classes) on :class:`_TinyBackbone`, randomly initialised with
    ``seed``, images resized to ``size`` px: the test and smoke stand-ins for :func:`coco_detectors`.
    ``num_classes`` counts the background, as torchvision's does."""
    torch.manual_seed(seed)
    common = dict(min_size=size, max_size=size, rpn_pre_nms_top_n_test=100, rpn_post_nms_top_n_test=30,
                  box_detections_per_img=20)

    def parts():
        anchors = AnchorGenerator(sizes=((16, 32, 64),), aspect_ratios=((0.5, 1.0, 2.0),))
        pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
        return dict(rpn_anchor_generator=anchors, box_roi_pool=pool, box_head=TwoMLPHead(width * 49, 64),
                    box_predictor=FastRCNNPredictor(64, num_classes))

    faster = FasterRCNN(_TinyBackbone(width), **parts(), **common)
    mask = MaskRCNN(_TinyBackbone(width), **parts(), **common,
                    mask_roi_pool=MultiScaleRoIAlign(featmap_names=["0"], output_size=14, sampling_ratio=2),
                    mask_head=MaskRCNNHeads(width, (width, width), 1),
                    mask_predictor=MaskRCNNPredictor(width, width, num_classes))
    return {"detection": faster.eval(), "segmentation": mask.eval()}


@torch.no_grad()
def detect(detector: nn.Module, image: torch.Tensor, device="cpu") -> dict:
    """One 3×H×W image through a torchvision detector: the prediction as torchmetrics takes it (masks, when the
    detector gives them, thresholded at :data:`MASK_THRESHOLD` to N×H×W bool)."""
    detector.eval()
    out = detector([image.to(device)])[0]
    pred = {"boxes": out["boxes"].float().cpu(), "scores": out["scores"].float().cpu(),
            "labels": out["labels"].cpu()}
    if "masks" in out:
        pred["masks"] = (out["masks"][:, 0] > MASK_THRESHOLD).cpu()
    return pred


# --------------------------------------------------------------------------------------------------------
# Distort and restore.


def distort_image(image: np.ndarray, image_id: int, level: str, seed: int) -> np.ndarray:
    """SHDD's divide and distort of one image at ``level`` (one version, seeded like SHDD's versions by
    (seed, image id, level)), 8-bit as SHDD's PNGs are."""
    rng = np.random.default_rng(version_seed(seed, f"coco-{image_id}", 0, level))
    distorted, _, _ = divide_and_distort(image, level, rng)
    return to_float(to_uint8(distorted))


def restore_8bit(model: nn.Module, image: np.ndarray, *, tiles=(1, 1), overlap: int = 16, device="cpu") -> np.ndarray:
    """``model``'s restoration of an H×W×3 image, 8-bit as a saved image would be."""
    out = restore(model, to_chw(image), tiles=tuple(tiles), overlap=overlap, device=device)
    return to_float(to_uint8(out.numpy().transpose(1, 2, 0)))


def table_restorers(run, cfg, root=None, *, progress: bool = True) -> dict:
    """The Table 7.1 models that restore COCO: ``{"models": {label: [model per seed]}, "sources": {label:
    [where each came from]}, "missing": [lines]}``, seeds ``run.seed`` … ``+ cfg.restorer_seeds - 1``.

    * ``coco`` (full): 07b's full-profile model in the work folder
      (:func:`companion.ch7.training.checkpoint_path` of ``cfg.table_models``) when it is there, else the zoo's
      quick model (``ch7/07b``, :data:`companion.ch7.config.TRAINING` quick); neither: listed in ``missing``;
    * ``made`` (smoke): :func:`companion.ch7.training.train_variant` of ``cfg.table_models`` on the SHDD copy
      ``root`` (the zoo's model when one matches, else trained).
    """
    models, sources, missing = {}, {}, []
    for variant in baselines(cfg.table_models):
        for seed in range(run.seed, run.seed + cfg.restorer_seeds):
            if cfg.coco == "made":
                model, trained = train_variant(run, variant, cfg.table_models, seed, root, progress=progress)
                source = trained.source
            elif checkpoint_path(run, variant, cfg.table_models, seed).is_file():
                model = load_variant(run, variant, cfg.table_models, seed)
                source = str(checkpoint_path(run, variant, cfg.table_models, seed))
            else:
                entry = find(VariantSpec(variant, TRAINING["quick"], run.seed), seed)
                if entry is None:
                    missing.append(f"{variant.label} seed {seed}: neither 07b's full-profile model "
                                   f"{checkpoint_path(run, variant, cfg.table_models, seed)} nor the zoo's "
                                   f"ch7/07b/{variant.model}-seed{seed} (`python -m companion zoo build ch7/07b`)")
                    continue
                model, _ = load_entry(entry)
                source = f"zoo:{entry.name}"
            models.setdefault(variant.label, []).append(model.to(run.device).eval())
            sources.setdefault(variant.label, []).append(source)
    return {"models": models, "sources": sources, "missing": missing}


# --------------------------------------------------------------------------------------------------------
# The pipeline.


def _metric(task: str) -> MeanAveragePrecision:
    return MeanAveragePrecision(backend="pycocotools", iou_type="bbox" if task == "detection" else ("bbox", "segm"))


def _percent(value) -> float:
    """A torchmetrics mAP (-1 where nothing could be scored) as a percentage, NaN for -1."""
    value = float(value)
    return float("nan") if value < 0 else 100.0 * value


def score_conditions(images, restorers: dict[str, list], detectors: dict[str, nn.Module], *, level: str, seed: int,
                     tiles=(1, 1), overlap: int = 16, device="cpu", progress: bool = True) -> dict:
    """Table 7.2 over ``images`` (:class:`CocoImages` items): each image clean, distorted (:func:`distort_image`)
    and restored by every model of ``restorers`` (``{label: [model per seed]}``), detected by ``detectors``
    (``{"detection": Faster R-CNN, "segmentation": Mask R-CNN}``) and scored.

    Returns ``{"rows": {row: {column: [mAP per seed]}}, "mask_rcnn_box": {row: [box mAP of Mask R-CNN per seed]},
    "images": scored, "skipped": [ids of images too small for the level], "level", "seed"}``; Clean and
    Distorted have one value (no restorer seed)."""
    if level not in LEVELS:
        raise CompanionError(f"unknown SHDD level {level!r}; choose one of: {', '.join(LEVELS)}")
    missing_tasks = {"detection", "segmentation"} - set(detectors)
    if missing_tasks:
        raise CompanionError(f"score_conditions needs a detector for {', '.join(sorted(missing_tasks))}")
    keys = [(CLEAN, 0), (DISTORTED, 0)] + [(label, k) for label, models in restorers.items()
                                           for k in range(len(models))]
    metrics = {key: {task: _metric(task) for task in detectors} for key in keys}
    smallest, skipped, scored = min_image_side(level), [], 0
    for item in tqdm(images, desc="Table 7.2", unit="img", disable=not progress):
        image, target = item["image"], item["target"]
        if min(image.shape[:2]) < smallest:
            skipped.append(item["id"])
            continue
        distorted = distort_image(image, item["id"], level, seed)
        versions = {(CLEAN, 0): image, (DISTORTED, 0): distorted}
        for label, models in restorers.items():
            for k, model in enumerate(models):
                versions[(label, k)] = restore_8bit(model, distorted, tiles=tiles, overlap=overlap, device=device)
        for key, version in versions.items():
            tensor = to_chw(version)
            for task, detector in detectors.items():
                metrics[key][task].update([detect(detector, tensor, device)], [target])
        scored += 1
    if not scored:
        raise CompanionError(f"no image of the set is at least {smallest} px on both sides, SHDD's smallest for "
                             f"level {level!r}")
    rows, mask_box = {}, {}
    for (row, _), by_task in metrics.items():
        values = {task: metric.compute() for task, metric in by_task.items()}
        for column, (task, name) in COLUMNS.items():
            rows.setdefault(row, {}).setdefault(column, []).append(_percent(values[task][name]))
        mask_box.setdefault(row, []).append(_percent(values["segmentation"]["bbox_map"]))
    return {"rows": rows, "mask_rcnn_box": mask_box, "images": scored, "skipped": skipped, "level": level,
            "seed": seed}


def recovered_share(result: dict, row: str, column: str = "Detection mAP") -> float:
    """The share of the mAP lost to distortion that ``row``'s restoration wins back: (row − distorted) /
    (clean − distorted), on the mean over seeds (NaN when distortion lost nothing)."""
    clean, distorted = result["rows"][CLEAN][column][0], result["rows"][DISTORTED][column][0]
    restored = float(np.nanmean(result["rows"][row][column]))
    return (restored - distorted) / (clean - distorted) if clean != distorted else float("nan")


def paper_share(paper_rows: dict[str, dict], row: str = "MEPSNet", column: str = "Detection mAP") -> float:
    """:func:`recovered_share` of the paper's Table 7.2 (``paper_rows``: row label -> values)."""
    clean, distorted = paper_rows[CLEAN][column], paper_rows[DISTORTED][column]
    return (paper_rows[row][column] - distorted) / (clean - distorted)


# --------------------------------------------------------------------------------------------------------
# Records.


def _protocol(result: dict, cfg, detectors: str) -> str:
    return (f"{result['images']} images distorted with SHDD's {result['level']} level (one version each, data seed "
            f"{result['seed']}; {len(result['skipped'])} too small left out), restored whole by each model, "
            f"{detectors}; torchmetrics MeanAveragePrecision (pycocotools), COCO AP@[.5:.95] x 100; "
            f"{cfg.restorer_seeds} restorer seed(s)")


def record_table_7_2(run, result: dict, cfg, sources: dict) -> None:
    """Record the measured Table 7.2 beside the paper's cells (``coco``), mean ± std over restorer seeds."""
    protocol = _protocol(result, cfg, "torchvision's COCO Faster R-CNN (detection) and Mask R-CNN (segmentation), "
                                      "ResNet-50 FPN")
    for row, columns in result["rows"].items():
        for column, values in columns.items():
            value = round(values[0], 1) if len(values) == 1 else pm(mean_std(values), 1)
            run.record(f"table7_2/{row}/{column}", value, entry="Table 7.2", row=row, column=column,
                       protocol=protocol, note="restorers: " + ", ".join(sources.get(row, [])) if row in sources
                       else "")


def record_pipeline_check(run, result: dict, cfg) -> None:
    """Record the made-image run (``made``): numbers that check the code, beside no paper cell."""
    protocol = _protocol(result, cfg, "small randomly initialised Faster / Mask R-CNNs") + \
        "; made images, so the numbers check the code and say nothing about the paper"
    for row, columns in result["rows"].items():
        for column, values in columns.items():
            run.record(f"pipeline_check/{row}/{column}", [round(v, 3) for v in values], protocol=protocol)


def record_full_only(run, cfg, why: str) -> None:
    """Every Table 7.2 cell "full profile only", with why it was not measured here and what the full run tests."""
    rows = [CLEAN, DISTORTED] + [v.label for v in baselines(cfg.table_models)]
    for row in rows:
        for column in COLUMNS:
            run.record(f"table7_2/{row}/{column}", None, entry="Table 7.2", row=row, column=column,
                       status="full-only",
                       protocol=f"COCO val2017 distorted with SHDD's {cfg.coco_level} level, restored by each "
                                "Table 7.1 model, torchvision's COCO Faster / Mask R-CNN, torchmetrics mAP",
                       note=f"not measured here: {why}. The full profile of 07e measures it when COCO and the "
                            f"detector weights are on the machine; the point it tests: {PAPER_POINT}")


# --------------------------------------------------------------------------------------------------------
# The notebook's one call.

MODES = ("coco", "made", "check")


def table_7_2(run, cfg, root=None, *, progress: bool = True) -> dict:
    """Table 7.2 as this profile does it (``cfg.coco``), recorded; returns ``{"mode", "result" (of
    :func:`score_conditions`, or None), "missing" (lines), "sources" (restorers' checkpoints), "why"}``.

    * ``coco``: everything above on COCO when :func:`availability` and :func:`table_restorers` find it all;
      otherwise nothing runs and every cell is recorded "full profile only" naming what is missing;
    * ``made``: the same pipeline on :func:`write_made_coco`'s images with :func:`tiny_detectors` (restorers from
      the SHDD copy ``root``), recorded as a pipeline check, and the paper's cells "full profile only";
    * ``check``: nothing runs; the cells are "full profile only", saying whether this machine has what the full
      profile needs.
    """
    if cfg.coco not in MODES:
        raise CompanionError(f"coco={cfg.coco!r}; choose one of {', '.join(MODES)}")
    out = {"mode": cfg.coco, "result": None, "missing": [], "sources": {}, "why": ""}
    if cfg.coco == "check":
        status = availability()
        out["missing"] = status["missing"]
        out["why"] = ("the quick profile does not run COCO (thousands of Faster / Mask R-CNN passes take hours on a "
                      "CPU); " + (missing_text(status) if status["missing"] else
                                  "this machine has COCO and both detectors' weights"))
        record_full_only(run, cfg, out["why"])
        return out
    if cfg.coco == "coco":
        status = availability()
        restorers = table_restorers(run, cfg, root, progress=progress) if not status["missing"] else \
            {"models": {}, "sources": {}, "missing": []}
        out["missing"] = status["missing"] + restorers["missing"]
        if out["missing"]:
            out["why"] = "missing: " + "; ".join(out["missing"])
            record_full_only(run, cfg, out["why"])
            return out
        paths = coco_paths()
        images = CocoImages(paths["images"], paths["annotations"], limit=cfg.coco_images)
        detectors = coco_detectors(run.device)
    else:
        paths = write_made_coco(run.work_dir / "07e-made-coco", images=cfg.made_images, side=cfg.made_side,
                                seed=run.seed)
        images = CocoImages(paths["images"], paths["annotations"])
        detectors = tiny_detectors(len(MADE_CATEGORIES) + 1, seed=run.seed, size=cfg.made_side)
        root = root if root is not None else shdd_root(run, cfg.table_models, progress=progress)
        restorers = table_restorers(run, cfg, root, progress=progress)
    out["sources"] = restorers["sources"]
    shdd = cfg.table_models
    out["result"] = score_conditions(images, restorers["models"], {k: d.to(run.device) for k, d in detectors.items()},
                                     level=cfg.coco_level, seed=run.seed, tiles=shdd.tiles, overlap=shdd.overlap,
                                     device=run.device, progress=progress)
    if cfg.coco == "coco":
        record_table_7_2(run, out["result"], cfg, out["sources"])
    else:
        record_pipeline_check(run, out["result"], cfg)
        out["why"] = "this profile runs the pipeline on made images with random detectors, a check of the code"
        record_full_only(run, cfg, out["why"])
    return out
