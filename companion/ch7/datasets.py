"""PyTorch datasets over a generated SHDD folder (thesis §7.3; layout in :mod:`companion.ch7.shdd`).

``root`` is the ``--out`` folder of ``python -m companion data shdd`` (the one holding ``shdd/``); the
``shdd`` folder itself is accepted too.

* :class:`SHDDTrain`: (distorted, clean, label) patches for training restoration models -- a random crop
  at the same place in all three, then (``augment=True``) the same random horizontal flip, vertical flip
  and 90° rotation; with ``permute_channels=True`` also one random order of the RGB channels, the same for
  the distorted and the clean crop. That is exact for SHDD, whose distortions all act on each channel alike
  (noise drawn independently per value, blur per channel, contrast about the same mid-grey), so the pair
  stays a valid pair; it widens the colours a small training set covers (not in the paper, whose 800
  DIV2K photographs cover them). Paper patch sizes: 80×80 for MEPSNet, 48×48 for the analysis models (§7.5).
* :class:`SHDDEval`: full images, label map and record, for per-distortion metrics.

Images are CHW float32 tensors in [0, 1]; label maps are H×W int64. By default every item is read from
disk (about 0.36 s for three 2K PNGs); ``SHDDTrain(..., cache=True)`` keeps the decoded images in memory
(float32: 33 MB per 2K image, so for the small embedded sets of the quick profile, not for 9,600 DIV2K
images). With ``seed=None`` crops and flips follow ``torch``'s generator (so ``torch.manual_seed`` and
DataLoader worker seeding govern them); with a seed they depend only on (seed, epoch, index) -- call
:meth:`SHDDTrain.set_epoch` to change them per epoch.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from companion.ch7.shdd import LEVELS
from companion.data.images import load_image, load_label_map
from companion.data.tensors import augment, dataset_dir, need_folder, to_chw, to_labels
from companion.errors import CompanionError


# --------------------------------------------------------------------------------------------------------
# SHDD.


def _shdd_level_dir(root, level: str, split: str) -> tuple[Path, Path]:
    if level not in LEVELS:
        raise CompanionError(f"unknown SHDD level {level!r}; choose one of: {', '.join(LEVELS)}")
    top = dataset_dir(root, "shdd", f"shdd --level {level}")
    folder = need_folder(top / level / split / "distorted", f"shdd --level {level}", top.parent)
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
                 seed: int | None = None, split: str = "train", cache: bool = False,
                 permute_channels: bool = False):
        top, _ = _shdd_level_dir(root, level, split)
        self.items = _shdd_items(top, level, split)
        self.patch_size, self.augment, self.seed, self.epoch = int(patch_size), bool(augment), seed, 0
        self.permute_channels = bool(permute_channels)
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
        if clean.shape != distorted.shape:
            raise CompanionError(f"{distorted_path} is {w}×{h} px but its clean image {clean_path} is "
                                 f"{clean.shape[1]}×{clean.shape[0]}; the folder is damaged: rebuild it with "
                                 "`python -m companion data shdd` (a rerun replaces files that fail the manifest)")
        if min(h, w) < p:
            raise CompanionError(f"{distorted_path} is {w}×{h} px, smaller than patch_size={p}; use a patch size of "
                                 f"at most {min(h, w)} px")
        rng = self._rng(index)
        top, left = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
        crops = [a[top:top + p, left:left + p] for a in (distorted, clean, labels)]
        if self.augment:
            hflip, vflip, rot = bool(rng.integers(2)), bool(rng.integers(2)), int(rng.integers(4))
            crops = [augment(a, hflip, vflip, rot) for a in crops]
        if self.permute_channels:
            order = rng.permutation(3)
            crops = [crops[0][..., order], crops[1][..., order], crops[2]]
        return {"distorted": to_chw(crops[0]), "clean": to_chw(crops[1]), "label": to_labels(crops[2]),
                "name": distorted_path.stem, "top": top, "left": left}


class SHDDEval(Dataset):
    """Full SHDD images of ``level`` / ``split``: dict of ``distorted``, ``clean`` (3×H×W float32), ``label``
    (H×W int64), ``record`` (the JSON record: regions with type and strength) and ``name``.

    ``versions=k`` keeps the first ``k`` distorted versions (``_00`` … ) of every clean image, so a subset
    still covers every photograph; ``None`` keeps all."""

    def __init__(self, root, level: str = "moderate", split: str = "test", versions: int | None = None):
        if split not in ("train", "val", "test"):
            raise CompanionError(f"unknown SHDD split {split!r}; choose train, val or test")
        if versions is not None and (not isinstance(versions, int) or isinstance(versions, bool) or versions < 1):
            raise CompanionError(f"versions must be a whole number >= 1 (or None for all), got {versions!r}")
        top, _ = _shdd_level_dir(root, level, split)
        self.items = [item for item in _shdd_items(top, level, split)
                      if versions is None or int(item[0].stem.rsplit("_", 1)[1]) < versions]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        distorted, clean, label, record = self.items[index]
        return {"distorted": to_chw(load_image(distorted)), "clean": to_chw(load_image(clean)),
                "label": to_labels(load_label_map(label)), "record": json.loads(record.read_text(encoding="utf-8")),
                "name": distorted.stem}


