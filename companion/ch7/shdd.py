"""SHDD, the spatially-heterogeneous distortion dataset: divide-and-distort (thesis §7.3, seed 000 §3).

The paper divides each clean DIV2K image "according to the virtual horizontal or vertical lines",
"randomly arranged", into blocks (*divide*), and corrupts each block with one randomly chosen distortion
among Gaussian noise, Gaussian blur, f-noise, contrast change and identity (*distort*), with strengths drawn
uniformly from [0.005, 0.02] (noise variance), [1.0, 2.5] (blur), [6, 10] (f-noise scale) and [25, 40]
(contrast level). Levels easy / moderate / difficult come from "chopping each image {2, 3, 4} times"; 12
distorted versions are made per clean image (9,600 = 800 × 12 for training); DIV2K 0001-0800 train,
0801-0850 val, 0851-0900 test.

Readings the companion chose (the paper leaves them open):

* **Chopping n times** = cutting n virtual lines through the *whole* image, n = 2 / 3 / 4 for easy /
  moderate / difficult. Each line is horizontal or vertical with probability 1/2, so ``h`` horizontal and
  ``v = n - h`` vertical lines give ``(h + 1)(v + 1)`` rectangles: easy 3 or 4, moderate 4 or 6, difficult
  5, 8 or 9 regions. All-parallel lines give strips, mixed ones a grid of blocks (the "horizontal strips /
  vertical strips / blocks" scenarios of the authors' earlier generator).
* **Line positions**: the k lines along one axis start at the equal split ``i·L/(k+1)`` and each is moved by
  a normal jitter of std 0.15·m, truncated to ±30 % of the mean region size ``m = L/(k+1)``, then rounded
  (the authors' public generator jittered borders this way; this code is the companion's own). Neighbouring
  regions are therefore always at least ``0.4 m - 1`` px apart, and regions keep a side of at least
  :data:`MIN_REGION_SIDE` = 16 px when both image sides are at least :func:`min_image_side` (easy 128,
  moderate 170, difficult 213 px: the worst case of all n lines parallel); smaller images are refused.
* **Per region**: a type uniform over the 5 of ``SHDD_TYPES`` (identity included, label = index), a
  strength uniform in ``SHDD_RANGES`` (blur range read as sigma, see ``companion.data.distortions``).
* **Randomness**: one generator per (seed, clean image, version, level), from
  ``SeedSequence([seed, stable_int(stem), version, level_index])``; the plan (lines, types, strengths) is
  drawn first, then the noise of each region in region order (row-major).
* **Regional vs whole** (:func:`companion.data.regions.distort_regions`). ``method="whole"`` is the naive way (the authors'
  generator): distort the whole image with each region's settings, keep that region. ``method="regional"``
  (the default, used to build the dataset) distorts only the region grown by the distortion's context
  ``margin(strength)`` (blur ``ceil(4σ)``, 0 for pointwise types and noise), clamped to the image, then crops.
  Identical for contrast change and (exactly, thanks to the margin) blur; for Gaussian noise the two are
  equal in distribution; f-noise is normalised to std ``scale/100`` over the field it is drawn on, so
  regionally each region gets exactly that std, while a crop of a whole-image 1/f field has a smaller
  within-region std (its low frequencies become a region-wide offset) -- tests/test_shdd.py measures it.

Output of :func:`build_shdd` (``vv`` = version 00-11; ``<split>`` = train / val / test)::

    OUT/shdd/manifest.json                              {relative path: sha256}, seed
    OUT/shdd/<split>/clean/<stem>.png                   clean target, written once, shared by the levels
    OUT/shdd/<level>/<split>/distorted/<stem>_<vv>.png  distorted input
    OUT/shdd/<level>/<split>/labels/<stem>_<vv>.png     uint8 label map, SHDD_TYPES index per pixel
    OUT/shdd/<level>/<split>/records/<stem>_<vv>.json   lines, regions {ymin,xmin,ymax,xmax,type,label,
                                                        strength} (max exclusive), size, source, seed info
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from companion.ch7.config import SHDD_EMBEDDED_SPLIT
from companion.data.distortions import DISTORTIONS, sample_strength
from companion.data.folders import data_root, div2k_hr_paths
from companion.data.generation import (BuildReport, CleanImage, Job, Manifest, Unit, bundled_images, check_seed,
                                       div2k_root, dumps, finish_sources, folder_images, list_image_files,
                                       run_jobs, seeded_order, source_folder, stable_int, tail_split)
from companion.data.regions import METHODS, distort_regions
from companion.errors import CompanionError

#: SHDD distortion pool (§7.3, seed 000 §3); a region's label id is the index in this tuple.
SHDD_TYPES = ("identity", "gaussian_noise", "gaussian_blur", "f_noise", "contrast_change")

#: SHDD strength ranges, sampled uniformly (§7.3, seed 000 §3); blur as sigma (see gaussian_blur).
SHDD_RANGES = {
    "gaussian_noise": (0.005, 0.02),
    "gaussian_blur": (1.0, 2.5),
    "f_noise": (6.0, 10.0),
    "contrast_change": (25.0, 40.0),
}

#: DIV2K numbering of the paper's SHDD split (§7.3): train, then half of DIV2K valid each for val and test.
DIV2K_SHDD_SPLITS = {"train": (1, 800), "val": (801, 850), "test": (851, 900)}

#: The split of the embedded photographs in SHDD's split names (everything not named here trains), from the
#: one declaration :data:`companion.ch7.config.SHDD_EMBEDDED_SPLIT`: validation and test are separate
#: photographs, and test has three so that no number rests on one image.
BUNDLED_SPLITS = {"val": SHDD_EMBEDDED_SPLIT.validation, "test": SHDD_EMBEDDED_SPLIT.test}

LEVELS = {"easy": 2, "moderate": 3, "difficult": 4}  # level -> number of virtual lines
MIN_REGION_SIDE = 16
JITTER = 0.3  # border jitter bound, as a fraction of the mean region size


def _lines_of(level: str) -> int:
    if level not in LEVELS:
        raise CompanionError(f"unknown SHDD level {level!r}; choose one of: {', '.join(LEVELS)}")
    return LEVELS[level]


def min_image_side(level: str) -> int:
    """Smallest image side for which every region of ``level`` keeps a side of MIN_REGION_SIDE px."""
    # interior regions are >= m(1 - 2·JITTER) - 1 px, m = L / (n + 1) in the all-parallel worst case
    return math.ceil((MIN_REGION_SIDE + 1) / (1 - 2 * JITTER) * (_lines_of(level) + 1))


# --------------------------------------------------------------------------------------------------------
# Divide.


def _borders(length: int, k: int, rng: np.random.Generator) -> list[int]:
    """Positions of k lines across an axis of ``length`` px: equal splits, truncated-normal jitter."""
    mean = length / (k + 1)
    bound = math.floor(JITTER * mean)
    borders = []
    for i in range(1, k + 1):
        jitter = 0.0
        while bound > 0:
            jitter = rng.normal(0.0, bound / 2.0)
            if abs(jitter) <= bound:
                break
        borders.append(int(round(i * mean)) + int(round(jitter)))
    return borders


def plan_regions(height: int, width: int, level: str, rng: np.random.Generator) -> tuple[dict, list[dict]]:
    """Draw the lines of ``level`` and each region's type and strength.

    Returns ``(lines, regions)``: ``lines = {"horizontal": [y, ...], "vertical": [x, ...]}`` and regions
    ``{ymin, xmin, ymax, xmax, type, label, strength}`` in row-major order, tiling the image exactly.
    """
    n = _lines_of(level)
    if min(height, width) < min_image_side(level):
        raise CompanionError(f"a {width}×{height} px image is too small for SHDD level {level!r}: both sides must "
                             f"be at least {min_image_side(level)} px (regions of at least {MIN_REGION_SIDE} px)")
    n_horizontal = int(np.count_nonzero(rng.random(n) < 0.5))
    rows = _borders(height, n_horizontal, rng)
    cols = _borders(width, n - n_horizontal, rng)
    ys, xs = [0, *rows, height], [0, *cols, width]
    regions = []
    for y0, y1 in zip(ys[:-1], ys[1:]):
        for x0, x1 in zip(xs[:-1], xs[1:]):
            label = int(rng.integers(len(SHDD_TYPES)))
            kind = SHDD_TYPES[label]
            regions.append({"ymin": y0, "xmin": x0, "ymax": y1, "xmax": x1, "type": kind, "label": label,
                            "strength": sample_strength(kind, rng, SHDD_RANGES)})
    return {"horizontal": rows, "vertical": cols}, regions


# --------------------------------------------------------------------------------------------------------
# Distort.


def divide_and_distort(image: np.ndarray, level: str, rng: np.random.Generator, *,
                       method: str = "regional") -> tuple[np.ndarray, np.ndarray, dict]:
    """One SHDD sample: (distorted float32, label map uint8 H×W, record dict).

    The record holds ``level``, ``n_lines``, ``lines``, ``regions``, ``height``, ``width`` and ``method``;
    :func:`build_shdd` adds the source, split, version and seed information.
    """
    height, width = np.shape(image)[:2]
    lines, regions = plan_regions(height, width, level, rng)
    distorted, labels = distort_regions(image, regions, rng, method, names=SHDD_TYPES)
    record = {"level": level, "n_lines": LEVELS[level], "lines": lines, "regions": regions,
              "height": int(height), "width": int(width), "method": method}
    return distorted, labels, record


def version_seed(seed: int, stem: str, version: int, level: str) -> np.random.SeedSequence:
    """The SeedSequence of one distorted version: independent of worker count and order."""
    return np.random.SeedSequence([seed, stable_int(stem), version, list(LEVELS).index(level)])


# --------------------------------------------------------------------------------------------------------
# Build.


def _units(split: str, stem: str, levels: tuple[str, ...], versions: int) -> tuple[Unit, ...]:
    units = [Unit(f"clean/{split}/{stem}", (f"{split}/clean/{stem}.png",), ("clean",))]
    for level in levels:
        for v in range(versions):
            name, base = f"{stem}_{v:02d}", f"{level}/{split}"
            units.append(Unit(f"{base}/{name}", (f"{base}/distorted/{name}.png", f"{base}/labels/{name}.png",
                                                 f"{base}/records/{name}.json"), ("version", level, v)))
    return tuple(units)


def _render(job: Job, unit: Unit, image: np.ndarray) -> dict:
    if unit.params[0] == "clean":
        return {unit.files[0]: image}
    _, level, version = unit.params
    clean = job.image
    seq = version_seed(job.seed, clean.stem, version, level)
    distorted, labels, record = divide_and_distort(image, level, np.random.default_rng(seq))
    record.update(source=clean.source_id, stem=clean.stem, split=clean.split, version=version,
                  seed={"seed": job.seed, "stem_hash": stable_int(clean.stem), "version": version,
                        "level_index": list(LEVELS).index(level)})
    d, lab, rec = unit.files
    return {d: distorted, lab: labels, rec: dumps(record)}


def build_shdd(source="bundled", out: str | os.PathLike | None = None,
               levels: tuple[str, ...] = ("easy", "moderate", "difficult"), seed: int = 0, workers: int = 1,
               versions: int = 12, progress: bool = True) -> BuildReport:
    """Generate SHDD under ``out/shdd`` (``out`` defaults to the data root); resumable, see the docstring.

    ``source`` is "bundled" or a folder (DIV2K layout; see companion.data.generation). Units are the clean
    target and each (level, version); ``n_written`` / ``n_skipped`` count them. ``seed`` is a whole number
    from 0 to :data:`companion.arguments.MAX_SEED`, like ``--seed``.
    """
    started = time.perf_counter()
    seed = check_seed(seed)
    levels = tuple(dict.fromkeys(levels))
    if not levels:
        raise CompanionError("no SHDD level given; choose among: " + ", ".join(LEVELS))
    for level in levels:
        _lines_of(level)
    if int(versions) < 1:
        raise CompanionError(f"versions={versions} must be at least 1 (paper: 12)")
    if out is None:
        out = data_root()
    root = Path(out) / "shdd"
    images = clean_images(source, seed)
    manifest = Manifest.open(root / "manifest.json", "shdd", seed)
    hardest = max(levels, key=lambda lv: LEVELS[lv])
    jobs = [Job(image=c, units=_units(c.split, c.stem, levels, int(versions)), seed=seed,
                min_side=min_image_side(hardest),
                size_reason=f"SHDD level {hardest!r} (regions of at least {MIN_REGION_SIDE} px)")
            for c in images]
    written, skipped = run_jobs(jobs, _render, root, manifest, workers=workers, progress=progress, desc="SHDD")
    return BuildReport(written, skipped, time.perf_counter() - started, root)


# --------------------------------------------------------------------------------------------------------
# Clean images and their splits.


def _split_counts(n: int) -> dict[str, int]:
    if n < 3:
        raise CompanionError(f"SHDD needs at least 3 clean images (train, val, test), found {n}; "
                             "add images to the source folder")
    k = max(1, round(n / 18))
    return {"train": n - 2 * k, "val": k, "test": k}


def _split_of_number(number: int) -> str | None:
    for split, (lo, hi) in DIV2K_SHDD_SPLITS.items():
        if lo <= number <= hi:
            return split
    return None


def clean_images(source="bundled", seed: int = 0) -> list[CleanImage]:
    """The clean images of SHDD from ``source``, with their train/val/test splits, sorted by (split, stem).

    * bundled: the fixed split :data:`BUNDLED_SPLITS`: ``chelsea`` is validation, ``china``, ``flower`` and
      ``rocket`` (three everyday scenes of 427×640 px) are test, the other seven photographs (4.4 Mpx) train.
      Test therefore rests on three photographs, validation on a fourth one, and neither is ever trained on.
      An install missing one of those falls back to a tail split of the sorted names (the last ``k`` test,
      the ``k`` before them val, ``k = max(1, round(n / 18))``, DIV2K's 16:1:1);
    * a folder with the DIV2K layout (``<source>/DIV2K/DIV2K_{train,valid}_HR/NNNN.png``, or ``<source>``
      being that ``DIV2K`` folder): the paper's split (§7.3), 0001-0800 train, 0801-0850 val, 0851-0900 test;
    * any other folder of PNG/JPEG files: split 16:1:1 by a seeded permutation (the companion's fallback).
    """
    seed = check_seed(seed)
    if source == "bundled":
        images = bundled_images()  # sorted by name
        stems = {c.stem for c in images}
        fixed = {stem: split for split, names in BUNDLED_SPLITS.items() for stem in names}
        if set(fixed) <= stems and len(stems) > len(fixed):
            return finish_sources([CleanImage(c.stem, fixed.get(c.stem, "train"), c.path, c.embedded)
                                   for c in images])
        return finish_sources(tail_split(images, np.arange(len(images)), _split_counts(len(images))))
    folder = source_folder(source)
    root = div2k_root(folder)
    if root is not None:
        paths = div2k_hr_paths(root, "train") + div2k_hr_paths(root, "valid")
        images = [CleanImage(p.stem, _split_of_number(int(p.stem)), path=p) for p in paths]
        missing = {"val", "test"} - {c.split for c in images}
        if missing:
            raise CompanionError(f"DIV2K in {root / 'DIV2K'} has no {' or '.join(sorted(missing))} images: SHDD "
                                 "uses DIV2K_valid_HR/0801-0850.png for val and 0851-0900.png for test")
        return finish_sources(images)
    if not list_image_files(folder):
        raise CompanionError(f"no images in {folder}: pass the data root holding DIV2K/DIV2K_train_HR/0001.png … "
                             "and DIV2K/DIV2K_valid_HR/0801.png … 0900.png, or a folder of PNG/JPEG images")
    images = folder_images(folder)
    return finish_sources(tail_split(images, seeded_order(len(images), seed, "shdd/split"),
                                     _split_counts(len(images))))


def sample_shdd_strength(name: str, rng: np.random.Generator) -> float:
    """A strength for SHDD type ``name``, uniform in :data:`SHDD_RANGES` (identity → 0.0)."""
    return sample_strength(name, rng, SHDD_RANGES)
