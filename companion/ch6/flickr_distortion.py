"""Flickr-Distortion: distortion classification and detection sets (thesis §6.2).

The thesis distorts 804 Flickr reference images with eight types (``FLICKR_TYPES``: Gaussian white noise,
Gaussian blur, salt & pepper, quantization, JPEG, low-pass, non-local-means denoising, f-noise):

* **Classification** (§6.2.1): every reference × 8 types × 3 levels (``FLICKR_LEVELS``), applied to the
  entire image -- 24 images per reference (19,296 in total), split 60/20/20 at random.
* **Detection** (§6.2.2): the 300×300 centre crop (SSD300's input) gets several distorted regions, levels
  uniform between the classification minimum and maximum (``sample_flickr_strength``); 20 images per
  reference (16,080), split 80/20. *Basic*: 1-4 regions, "ratio of region size to image size" uniform in
  [0.3, 0.7] (reported mean 0.43); *difficult*: 5-9 regions, ratio in [0.1, 0.3] (mean 0.18).

Readings the companion chose:

* The references are any folder of 8-bit RGB images, or the bundled scikit-image photographs (the Flickr
  set is not public). Splits are by reference (companion.data.generation): one seeded permutation, cut
  60/20/20 for classification and 80/20 for detection (classification train+val = detection train), so no
  reference appears in two splits of a task.
* Classification uses the full-size reference; the level index 1-3 goes mild → severe.
* Detection region size: the region's height and width are each ``round(r · 300)`` px with ``r`` uniform in
  the set's range, drawn independently ("side ratio" of the 300 px crop); the position is uniform inside
  the crop. Regions do not overlap (they may touch), so every pixel and box has one label: boxes are
  placed one by one, each at a position uniform among those that overlap no earlier box (rejection
  sampling of the position, done exactly with a mask of free corners); a box whose size fits nowhere is
  redrawn (up to 100 tries), and failing that the image's boxes are redrawn with the count kept, so it
  stays uniform in [1, 4] / [5, 9]. Redrawing favours small boxes in crowded images: the measured mean side
  ratio ((h + w) / 600) is 0.439 for basic and 0.200 for difficult (20,000 images each; uniform draws alone
  would give 0.5 and 0.2; the thesis reports 0.43 and 0.18); tests/test_flickr_distortion.py re-measures it.
* Each region's type is uniform over the 8 types (with replacement), its strength from
  ``sample_flickr_strength``; the region is distorted with its context margin (``distort_regions``,
  method "regional"), and the rest of the crop is left clean.
* Randomness: per classification image ``SeedSequence([seed, stable_int(stem), stable_int("classification"),
  type index, level index])``; per detection image ``SeedSequence([seed, stable_int(stem),
  stable_int("detection-<set>"), index])``, with the boxes drawn first (so the index files can be rebuilt
  from the seed alone) and the noise after.

Output of :func:`build_flickr_distortion` (``<split>``: train / val / test for classification, train / test
for detection; ``ii`` = 00-19)::

    OUT/flickr-distortion/manifest.json
    OUT/flickr-distortion/classification/<split>/<stem>_<type>_<level>.png    level 1 (mild) .. 3 (severe)
    OUT/flickr-distortion/classification/<split>/labels.csv                  file,type,class_id,level,strength
    OUT/flickr-distortion/detection-<set>/<split>/images/<stem>_<ii>.png     300×300
    OUT/flickr-distortion/detection-<set>/<split>/labels/<stem>_<ii>.png     0 = clean, k + 1 = class k
    OUT/flickr-distortion/detection-<set>/<split>/annotations.json            COCO: bbox [x, y, w, h] px,
                                                                             category_id = class id + 1
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from companion.data.distortions import DISTORTIONS, sample_strength
from companion.data.folders import data_root
from companion.data.generation import (BuildReport, CleanImage, Job, Manifest, Unit, bundled_or_folder,
                                       check_seed, dumps, finish_sources, run_jobs, seeded_order, stable_int,
                                       tail_split, write_index)
from companion.data.images import centre_square
from companion.data.regions import distort_regions
from companion.errors import CompanionError

#: Flickr-Distortion types in §6.2 order; a class id is the index in this tuple.
FLICKR_TYPES = ("gaussian_noise", "gaussian_blur", "salt_and_pepper", "quantization", "jpeg",
                "low_resolution", "nl_means_denoising", "f_noise")

#: Flickr-Distortion's three levels per type, mild → severe (§6.2.1); quantization is the companion's choice.
FLICKR_LEVELS = {
    "gaussian_noise": (0.0125, 0.025, 0.05),
    "gaussian_blur": (1.5, 3.0, 6.0),
    "salt_and_pepper": (0.0125, 0.025, 0.05),
    "quantization": (16, 8, 4),
    "jpeg": (20, 10, 5),
    "low_resolution": (0.3, 0.1, 0.03),
    "nl_means_denoising": (0.04, 0.06, 0.08),
    "f_noise": (2.5, 5.0, 10.0),
}

#: Split of the references (§6.2.1): 60 % classification train, 20 % val, 20 % test.
FLICKR_FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}

SETS = ("classification", "basic", "difficult")
CLASSIFICATION_SPLITS = ("train", "val", "test")
DETECTION_SPLITS = ("train", "test")
CROP = 300
MAX_TRIES = 100
MAX_RESTARTS = 1000


@dataclass(frozen=True)
class DetectionSpec:
    """How many regions a detection image has and their side ratio range (of the 300 px crop)."""
    count: tuple[int, int]
    ratio: tuple[float, float]


DETECTION = {"basic": DetectionSpec((1, 4), (0.3, 0.7)), "difficult": DetectionSpec((5, 9), (0.1, 0.3))}
#: §6.2.2's reported mean side ratios, quoted beside the uniform ranges above (whose own means would be 0.5 and
#: 0.2): what ``06a_distortion_datasets`` compares its measured means with (:mod:`companion.ch6.conclusions`).
THESIS_MEAN_SIDE_RATIO = {"basic": 0.43, "difficult": 0.18}


def _check_sets(sets) -> tuple[str, ...]:
    sets = tuple(dict.fromkeys(sets))
    if not sets:
        raise CompanionError("no Flickr-Distortion set given; choose among: " + ", ".join(SETS))
    for s in sets:
        if s not in SETS:
            raise CompanionError(f"unknown Flickr-Distortion set {s!r}; choose among: {', '.join(SETS)}")
    return sets


# --------------------------------------------------------------------------------------------------------
# Classification.


def classification_seed(seed: int, stem: str, type_index: int, level_index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, stable_int(stem), stable_int("classification"), type_index, level_index])


def classification_name(stem: str, kind: str, level_index: int) -> str:
    """File name of a classification image; ``level_index`` 0-2 is written as level 1-3."""
    return f"{stem}_{kind}_{level_index + 1}.png"


def _classification_rows(stem: str) -> list[tuple[str, str, int, int, float]]:
    return [(classification_name(stem, kind, li), kind, ci, li + 1, float(FLICKR_LEVELS[kind][li]))
            for ci, kind in enumerate(FLICKR_TYPES) for li in range(3)]


def _labels_csv(stems: list[str]) -> str:
    lines = ["file,type,class_id,level,strength"]
    rows = sorted(row for stem in stems for row in _classification_rows(stem))
    lines += [f"{f},{k},{c},{lv},{s!r}" for f, k, c, lv, s in rows]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------------
# Detection.


def detection_seed(seed: int, stem: str, set_name: str, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, stable_int(stem), stable_int(f"detection-{set_name}"), index])


def centre_crop(image: np.ndarray, clean: CleanImage | None = None, size: int = CROP) -> np.ndarray:
    """The ``size``×``size`` centre crop (a view); CompanionError naming the image if it is smaller."""
    return centre_square(image, size, clean.where if clean is not None else "the image", "detection crop",
                         "remove it from the source folder")


def _place_boxes(n: int, ratio: tuple[float, float], size: int, rng: np.random.Generator):
    """Place n boxes one by one; each position is uniform among those not overlapping earlier boxes.

    That is rejection sampling of the position done exactly (a mask of the free top-left corners); a box
    whose sampled size fits nowhere is redrawn, up to MAX_TRIES times, then the caller restarts.
    """
    boxes = []
    for _ in range(n):
        for _try in range(MAX_TRIES):
            h = int(round(rng.uniform(*ratio) * size))
            w = int(round(rng.uniform(*ratio) * size))
            free = np.ones((size - h + 1, size - w + 1), bool)  # top-left corners
            for y0, x0, y1, x1 in boxes:  # corners whose box would share a pixel with this one
                free[max(0, y0 - h + 1):y1, max(0, x0 - w + 1):x1] = False
            corners = np.flatnonzero(free)
            if corners.size:
                y, x = divmod(int(corners[rng.integers(corners.size)]), size - w + 1)
                boxes.append((y, x, y + h, x + w))
                break
        else:
            return None
    return boxes


def plan_detection(set_name: str, rng: np.random.Generator, size: int = CROP) -> list[dict]:
    """Regions of one detection image: ``{ymin, xmin, ymax, xmax, type, class_id, label, strength}``
    (max exclusive, label = class id + 1), non-overlapping, inside ``size``×``size``."""
    if set_name not in DETECTION:
        raise CompanionError(f"unknown detection set {set_name!r}; choose one of: {', '.join(DETECTION)}")
    spec = DETECTION[set_name]
    n = int(rng.integers(spec.count[0], spec.count[1], endpoint=True))
    for _ in range(MAX_RESTARTS):
        boxes = _place_boxes(n, spec.ratio, size, rng)
        if boxes is not None:
            break
    else:  # never seen: each restart succeeds with high probability
        raise RuntimeError(f"could not place {n} non-overlapping boxes")
    regions = []
    for y0, x0, y1, x1 in boxes:
        class_id = int(rng.integers(len(FLICKR_TYPES)))
        kind = FLICKR_TYPES[class_id]
        regions.append({"ymin": y0, "xmin": x0, "ymax": y1, "xmax": x1, "type": kind, "class_id": class_id,
                        "label": class_id + 1, "strength": sample_flickr_strength(kind, rng)})
    return regions


def detection_image(crop: np.ndarray, set_name: str, rng: np.random.Generator):
    """Distort a 300×300 crop: (distorted float32, label map uint8 with 0 = clean, regions)."""
    regions = plan_detection(set_name, rng, size=crop.shape[0])
    distorted, labels = distort_regions(crop, regions, rng, method="regional")
    return distorted, labels, regions


def _index_width(per_reference: int) -> int:
    return max(2, len(str(per_reference - 1)))


def _detection_names(stem: str, per_reference: int) -> list[str]:
    return [f"{stem}_{i:0{_index_width(per_reference)}d}.png" for i in range(per_reference)]


def _coco(set_name: str, split: str, stems: list[str], seed: int, per_reference: int) -> str:
    images, annotations = [], []
    for stem in sorted(stems):
        for i, name in enumerate(_detection_names(stem, per_reference)):
            image_id = len(images) + 1
            images.append({"id": image_id, "file_name": f"images/{name}", "width": CROP, "height": CROP,
                           "reference": stem})
            rng = np.random.default_rng(detection_seed(seed, stem, set_name, i))
            for r in plan_detection(set_name, rng):
                w, h = r["xmax"] - r["xmin"], r["ymax"] - r["ymin"]
                annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                    "category_id": r["class_id"] + 1, "bbox": [r["xmin"], r["ymin"], w, h],
                                    "area": w * h, "iscrowd": 0, "type": r["type"], "strength": r["strength"]})
    categories = [{"id": k + 1, "name": name, "supercategory": "distortion"} for k, name in enumerate(FLICKR_TYPES)]
    info = {"description": f"Flickr-Distortion detection-{set_name} {split} (thesis §6.2.2), companion build",
            "seed": seed}
    return dumps({"info": info, "images": images, "annotations": annotations, "categories": categories})


# --------------------------------------------------------------------------------------------------------
# Build.


def _units(clean: CleanImage, sets: tuple[str, ...], per_reference: int) -> tuple[Unit, ...]:
    units = []
    for s in sets:
        if s == "classification":
            base = f"classification/{clean.split}"
            files = tuple(f"{base}/{row[0]}" for row in _classification_rows(clean.stem))
        else:
            base = f"detection-{s}/{detection_split(clean.split)}"
            names = _detection_names(clean.stem, per_reference)
            files = tuple(f"{base}/images/{n}" for n in names) + tuple(f"{base}/labels/{n}" for n in names)
        units.append(Unit(f"{base}/{clean.stem}", files, (s,)))
    return tuple(units)


def _render(job: Job, unit: Unit, image: np.ndarray) -> dict:
    set_name, clean = unit.params[0], job.image
    if set_name == "classification":
        out = {}
        for rel, (_name, kind, class_id, level, strength) in zip(unit.files, _classification_rows(clean.stem)):
            rng = np.random.default_rng(classification_seed(job.seed, clean.stem, class_id, level - 1))
            out[rel] = DISTORTIONS[kind].fn(image, FLICKR_LEVELS[kind][level - 1], rng)
        return out
    (per_reference,) = job.options
    crop = centre_crop(image, clean)
    out, half = {}, len(unit.files) // 2
    for i in range(per_reference):
        rng = np.random.default_rng(detection_seed(job.seed, clean.stem, set_name, i))
        distorted, labels, _ = detection_image(crop, set_name, rng)
        out[unit.files[i]], out[unit.files[half + i]] = distorted, labels
    return out


def build_flickr_distortion(source="bundled", out: str | os.PathLike | None = None,
                            sets: tuple[str, ...] = SETS, seed: int = 0, workers: int = 1,
                            per_reference: int = 20, progress: bool = True) -> BuildReport:
    """Generate Flickr-Distortion under ``out/flickr-distortion`` (``out`` defaults to the data root).

    ``sets`` ⊆ ("classification", "basic", "difficult"). Units are (reference, set); ``n_written`` /
    ``n_skipped`` count them. The index files (labels.csv, annotations.json) are rebuilt from the seed, a whole
    number from 0 to :data:`companion.arguments.MAX_SEED` like ``--seed``.
    """
    started = time.perf_counter()
    seed = check_seed(seed)
    sets = _check_sets(sets)
    if int(per_reference) < 1:
        raise CompanionError(f"per_reference={per_reference} must be at least 1 (paper: 20)")
    per_reference = int(per_reference)
    if out is None:
        out = data_root()
    root = Path(out) / "flickr-distortion"
    images = clean_images(source, seed)
    manifest = Manifest.open(root / "manifest.json", "flickr-distortion", seed)
    detection = any(s in DETECTION for s in sets)
    jobs = [Job(image=c, units=_units(c, sets, per_reference), seed=seed, min_side=CROP if detection else 1,
                size_reason=f"the {CROP}×{CROP} detection crop", options=(per_reference,))
            for c in images]
    written, skipped = run_jobs(jobs, _render, root, manifest, workers=workers, progress=progress,
                                desc="Flickr-Distortion")
    for s in sets:
        if s == "classification":
            for split in CLASSIFICATION_SPLITS:
                stems = [c.stem for c in images if c.split == split]
                write_index(root, manifest, f"classification/{split}/labels.csv", _labels_csv(stems))
        else:
            for split in DETECTION_SPLITS:
                stems = [c.stem for c in images if detection_split(c.split) == split]
                write_index(root, manifest, f"detection-{s}/{split}/annotations.json",
                            _coco(s, split, stems, seed, per_reference))
    manifest.save()
    return BuildReport(written, skipped, time.perf_counter() - started, root)


def flickr_range(name: str) -> tuple[float, float]:
    """(min, max) of the three Flickr-Distortion levels of ``name``: the detection sets draw levels
    uniformly in this range (§6.2.2)."""
    if name not in FLICKR_LEVELS:
        raise CompanionError(f"{name!r} is not a Flickr-Distortion type; known types: {', '.join(FLICKR_TYPES)}")
    levels = FLICKR_LEVELS[name]
    return float(min(levels)), float(max(levels))


def sample_flickr_strength(name: str, rng: np.random.Generator) -> float:
    """Draw a detection-set strength for ``name`` uniformly in :func:`flickr_range` (§6.2.2); jpeg quality
    and quantization levels are whole numbers (returned as float)."""
    return sample_strength(name, rng, {name: flickr_range(name)})


def clean_images(source="bundled", seed: int = 0) -> list[CleanImage]:
    """The Flickr-Distortion references from ``source`` ("bundled" or any folder of 8-bit RGB PNG/JPEG
    files; the 804 Flickr references are not public), with their *classification* split, sorted by
    (split, stem): one seeded permutation, its first 60 % ``train``, the next 20 % ``val``, the last 20 %
    ``test`` (§6.2.1). :func:`detection_split` cuts the same permutation once for detection (§6.2.2), so no
    reference -- hence no content -- leaks across splits, in either task or between the two."""
    seed = check_seed(seed)
    images = bundled_or_folder(source)
    n = len(images)
    if n < 3:
        raise CompanionError(f"Flickr-Distortion needs at least 3 reference images (train, val, test), found {n}; "
                             "add images to the source folder")
    k = max(1, round(n * FLICKR_FRACTIONS["test"]))
    counts = {"train": n - 2 * k, "val": k, "test": k}
    return finish_sources(tail_split(images, seeded_order(n, seed, "flickr-distortion/split"), counts))


def detection_split(classification_split: str) -> str:
    """Flickr-Distortion detection split (80/20) from the classification one (60/20/20): val joins train."""
    return "test" if classification_split == "test" else "train"
