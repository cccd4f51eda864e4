"""PyTorch datasets over a generated Flickr-Distortion folder (thesis §6.2; layout in
:mod:`companion.ch6.flickr_distortion`).

``root`` is the ``--out`` folder of ``python -m companion data flickr-distortion`` (the one holding
``flickr-distortion/``); that folder itself is accepted too.

* :class:`FlickrClassification`: (image, class id) with class id = index in ``FLICKR_TYPES``.
* :class:`FlickrDetection`: (image, target) in torchvision's detection convention: ``boxes`` float32 N×4
  ``xyxy`` in pixels, ``labels`` int64 = class id + 1 (0 is background), plus the label map.

Images are CHW float32 tensors in [0, 1]; label maps are H×W int64.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import torch
from torch.utils.data import Dataset

from companion.data.images import load_image, load_label_map
from companion.data.tensors import dataset_dir, need_folder, to_chw, to_labels
from companion.errors import CompanionError


class FlickrClassification(Dataset):
    """Flickr-Distortion classification images of ``split``: (3×H×W float32 image, class id int).

    ``rows`` holds the labels.csv rows (file, type, class_id, level, strength) in the same order."""

    def __init__(self, root, split: str = "train"):
        if split not in ("train", "val", "test"):
            raise CompanionError(f"unknown classification split {split!r}; choose train, val or test")
        top = dataset_dir(root, "flickr-distortion", "flickr-distortion --level classification")
        self.folder = need_folder(top / "classification" / split, "flickr-distortion --level classification", top.parent)
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
        return to_chw(load_image(self.folder / row["file"])), row["class_id"]


class FlickrDetection(Dataset):
    """Flickr-Distortion detection images of ``set`` ("basic" | "difficult") and ``split`` ("train" | "test"):
    (3×300×300 float32 image, target) with target ``boxes`` (N×4 float32 xyxy px), ``labels`` (N int64,
    class id + 1), ``image_id`` and ``label_map`` (300×300 int64, 0 = clean). ``coco`` is the loaded JSON."""

    def __init__(self, root, set: str = "basic", split: str = "train"):
        if set not in ("basic", "difficult"):
            raise CompanionError(f"unknown detection set {set!r}; choose basic or difficult")
        if split not in ("train", "test"):
            raise CompanionError(f"unknown detection split {split!r}; choose train or test")
        top = dataset_dir(root, "flickr-distortion", f"flickr-distortion --level {set}")
        self.folder = need_folder(top / f"detection-{set}" / split, f"flickr-distortion --level {set}", top.parent)
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
                  "image_id": int(info["id"]), "label_map": to_labels(load_label_map(self.folder / "labels" / name))}
        return to_chw(load_image(self.folder / info["file_name"])), target
