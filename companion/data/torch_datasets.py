"""PyTorch datasets over the generated SHDD (thesis §7.3) and Flickr-Distortion (§6.2) folders.

``root`` is the ``--out`` folder of ``python -m companion data …`` (the one holding ``shdd/`` or
``flickr-distortion/``); the dataset folder itself is accepted too. The layouts are documented in
:mod:`companion.data.shdd` and :mod:`companion.data.flickr_distortion`.

* :class:`SHDDTrain`: (distorted, clean, label) patches for training restoration models -- a random crop
  at the same place in all three, then (``augment=True``) the same random horizontal flip, vertical flip
  and 90° rotation. Paper patch sizes: 80×80 for MEPSNet, 48×48 for the analysis models (§7.5).
* :class:`SHDDEval`: full images, label map and record, for per-distortion metrics.
* :class:`FlickrClassification`: (image, class id) with class id = index in ``FLICKR_TYPES``.
* :class:`FlickrDetection`: (image, target) in torchvision's detection convention: ``boxes`` float32 N×4
  ``xyxy`` in pixels, ``labels`` int64 = class id + 1 (0 is background), plus the label map.

Images are CHW float32 tensors in [0, 1]; label maps are H×W int64. By default every item is read from
disk (about 0.36 s for three 2K PNGs); ``SHDDTrain(..., cache=True)`` keeps the decoded images in memory
(float32: 33 MB per 2K image, so for the small embedded sets of the quick profile, not for 9,600 DIV2K images). With ``seed=None`` crops and flips follow ``torch``'s generator (so ``torch.manual_seed`` and
DataLoader worker seeding govern them); with a seed they depend only on (seed, epoch, index) --
call :meth:`SHDDTrain.set_epoch` to change them per epoch.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from companion.data.images import load_image, load_label_map
from companion.errors import CompanionError


def _dataset_dir(root, name: str, command: str) -> Path:
    root = Path(root).expanduser()
    for folder in (root / name, root):
        if folder.name == name and folder.is_dir():
            return folder
    raise CompanionError(f"{root / name} does not exist; generate it with `python -m companion data {command} "
                         f"--out {root}`")


def _need(folder: Path, command: str, root: Path) -> Path:
    if not folder.is_dir():
        raise CompanionError(f"{folder} does not exist; generate it with `python -m companion data {command} "
                             f"--out {root}`")
    return folder


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


def _labels(label_map: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(label_map)).long()


# --------------------------------------------------------------------------------------------------------
# SHDD.


def _shdd_level_dir(root, level: str, split: str) -> tuple[Path, Path]:
    from companion.data.shdd import LEVELS

    if level not in LEVELS:
        raise CompanionError(f"unknown SHDD level {level!r}; choose one of: {', '.join(LEVELS)}")
    top = _dataset_dir(root, "shdd", f"shdd --level {level}")
    folder = _need(top / level / split / "distorted", f"shdd --level {level}", top.parent)
    return top, folder


def _shdd_items(top: Path, level: str, split: str) -> list[tuple[Path, Path, Path, Path]]:
    """(distorted, clean, label, record) paths of one level and split, sorted."""
    items = []
    base = top / level / split
    for distorted in sorted((base / "distorted").glob("*.png")):
        stem = distorted.stem.rsplit("_", 1)[0]
        items.append((distorted, top / split / "clean" / f"{stem}.png", base / "labels" / distorted.name,
                      base / "records" / f"{distorted.stem}.json"))
    if not items:
        raise CompanionError(f"no images in {base / 'distorted'}; generate them with `python -m companion data shdd "
                             f"--level {level} --out {top.parent}`")
    return items


class SHDDTrain(Dataset):
    """Random aligned patches of SHDD ``level`` (train split): dict of ``distorted``, ``clean`` (3×P×P float32)
    and ``label`` (P×P int64, SHDD_TYPES index); also ``name`` and the crop's ``top``/``left``."""

    def __init__(self, root, level: str = "moderate", patch_size: int = 48, augment: bool = True,
                 seed: int | None = None, split: str = "train", cache: bool = False):
        top, _ = _shdd_level_dir(root, level, split)
        self.items = _shdd_items(top, level, split)
        self.patch_size, self.augment, self.seed, self.epoch = int(patch_size), bool(augment), seed, 0
        self._cache: dict[Path, np.ndarray] | None = {} if cache else None

    def _read(self, path: Path, loader) -> np.ndarray:
        if self._cache is None:
            return loader(path)
        if path not in self._cache:
            self._cache[path] = loader(path)
        return self._cache[path]

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rng(self, index: int) -> np.random.Generator:
        if self.seed is None:
            return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        return np.random.default_rng([self.seed, self.epoch, index])

    def __getitem__(self, index: int) -> dict:
        distorted_path, clean_path, label_path, _ = self.items[index]
        distorted, clean = self._read(distorted_path, load_image), self._read(clean_path, load_image)
        labels = self._read(label_path, load_label_map)
        h, w = labels.shape
        p = self.patch_size
        if min(h, w) < p or clean.shape != distorted.shape:
            raise CompanionError(f"{distorted_path} is {w}×{h} px (clean {clean.shape[1]}×{clean.shape[0]}); "
                                 f"patch_size={p} needs both at least {p} px and the same size: regenerate SHDD")
        rng = self._rng(index)
        top, left = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
        crops = [a[top:top + p, left:left + p] for a in (distorted, clean, labels)]
        if self.augment:
            hflip, vflip, rot = bool(rng.integers(2)), bool(rng.integers(2)), int(rng.integers(4))
            crops = [augment(a, hflip, vflip, rot) for a in crops]
        return {"distorted": _chw(crops[0]), "clean": _chw(crops[1]), "label": _labels(crops[2]),
                "name": distorted_path.stem, "top": top, "left": left}


def augment(array: np.ndarray, hflip: bool, vflip: bool, rot: int) -> np.ndarray:
    """Flip left-right, flip up-down, then rotate by ``rot`` × 90° (H×W or H×W×C); the same for every array."""
    if hflip:
        array = array[:, ::-1]
    if vflip:
        array = array[::-1]
    return np.rot90(array, rot, axes=(0, 1))


class SHDDEval(Dataset):
    """Full SHDD images of ``level`` / ``split``: dict of ``distorted``, ``clean`` (3×H×W float32), ``label``
    (H×W int64), ``record`` (the JSON record: regions with type and strength) and ``name``."""

    def __init__(self, root, level: str = "moderate", split: str = "test"):
        if split not in ("train", "val", "test"):
            raise CompanionError(f"unknown SHDD split {split!r}; choose train, val or test")
        top, _ = _shdd_level_dir(root, level, split)
        self.items = _shdd_items(top, level, split)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        distorted, clean, label, record = self.items[index]
        return {"distorted": _chw(load_image(distorted)), "clean": _chw(load_image(clean)),
                "label": _labels(load_label_map(label)), "record": json.loads(record.read_text(encoding="utf-8")),
                "name": distorted.stem}


# --------------------------------------------------------------------------------------------------------
# Flickr-Distortion.


class FlickrClassification(Dataset):
    """Flickr-Distortion classification images of ``split``: (3×H×W float32 image, class id int).

    ``rows`` holds the labels.csv rows (file, type, class_id, level, strength) in the same order."""

    def __init__(self, root, split: str = "train"):
        if split not in ("train", "val", "test"):
            raise CompanionError(f"unknown classification split {split!r}; choose train, val or test")
        top = _dataset_dir(root, "flickr-distortion", "flickr-distortion --level classification")
        self.folder = _need(top / "classification" / split, "flickr-distortion --level classification", top.parent)
        index = self.folder / "labels.csv"
        if not index.is_file():
            raise CompanionError(f"{index} is missing; rerun `python -m companion data flickr-distortion --level "
                                 f"classification --out {top.parent}`")
        with open(index, newline="", encoding="utf-8") as fh:
            self.rows = [dict(r, class_id=int(r["class_id"]), level=int(r["level"]), strength=float(r["strength"]))
                         for r in csv.DictReader(fh)]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        row = self.rows[index]
        return _chw(load_image(self.folder / row["file"])), row["class_id"]


class FlickrDetection(Dataset):
    """Flickr-Distortion detection images of ``set`` ("basic" | "difficult") and ``split`` ("train" | "test"):
    (3×300×300 float32 image, target) with target ``boxes`` (N×4 float32 xyxy px), ``labels`` (N int64,
    class id + 1), ``image_id`` and ``label_map`` (300×300 int64, 0 = clean). ``coco`` is the loaded JSON."""

    def __init__(self, root, set: str = "basic", split: str = "train"):
        if set not in ("basic", "difficult"):
            raise CompanionError(f"unknown detection set {set!r}; choose basic or difficult")
        if split not in ("train", "test"):
            raise CompanionError(f"unknown detection split {split!r}; choose train or test")
        top = _dataset_dir(root, "flickr-distortion", f"flickr-distortion --level {set}")
        self.folder = _need(top / f"detection-{set}" / split, f"flickr-distortion --level {set}", top.parent)
        index = self.folder / "annotations.json"
        if not index.is_file():
            raise CompanionError(f"{index} is missing; rerun `python -m companion data flickr-distortion --level "
                                 f"{set} --out {top.parent}`")
        self.coco = json.loads(index.read_text(encoding="utf-8"))
        self.images = self.coco["images"]
        self._boxes: dict[int, list[dict]] = {im["id"]: [] for im in self.images}
        for a in self.coco["annotations"]:
            self._boxes[a["image_id"]].append(a)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        info = self.images[index]
        anns = self._boxes[info["id"]]
        boxes = torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                              for a in anns], dtype=torch.float32).reshape(-1, 4)
        name = Path(info["file_name"]).name
        target = {"boxes": boxes, "labels": torch.tensor([a["category_id"] for a in anns], dtype=torch.int64),
                  "image_id": int(info["id"]), "label_map": _labels(load_label_map(self.folder / "labels" / name))}
        return _chw(load_image(self.folder / info["file_name"])), target
