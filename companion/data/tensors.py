"""From image files to tensors: the small pieces every chapter's PyTorch datasets share.

* :func:`to_chw` / :func:`to_labels`: H×W×3 float32 arrays to 3×H×W tensors, H×W label maps to int64;
* :func:`augment`: the same flips and 90° rotation applied to every array of a training pair;
* :func:`dataset_dir` / :func:`need_folder`: find a generated dataset's folder, or say which command makes it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from companion.errors import CompanionError


def dataset_dir(root, name: str, command: str) -> Path:
    """``root/name`` (or ``root`` itself when it is the ``name`` folder); else an error naming ``command``."""
    root = Path(root).expanduser()
    for folder in (root / name, root):
        if folder.name == name and folder.is_dir():
            return folder
    raise CompanionError(f"{root / name} is missing; generate it with `python -m companion data {command} "
                         f"--out {root}`")


def need_folder(folder: Path, command: str, root: Path) -> Path:
    """``folder`` if it exists, else an error naming the command that makes it."""
    if not folder.is_dir():
        raise CompanionError(f"{folder} is missing; generate it with `python -m companion data {command} "
                             f"--out {root}`")
    return folder


def to_chw(image: np.ndarray) -> torch.Tensor:
    """H×W×C array -> C×H×W tensor (same dtype)."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


def to_labels(label_map: np.ndarray) -> torch.Tensor:
    """H×W label map -> int64 tensor."""
    return torch.from_numpy(np.ascontiguousarray(label_map)).long()


def augment(array: np.ndarray, hflip: bool, vflip: bool, rot: int) -> np.ndarray:
    """Flip left-right, flip up-down, then rotate by ``rot`` × 90° (H×W or H×W×C); the same for every array."""
    if hflip:
        array = array[:, ::-1]
    if vflip:
        array = array[::-1]
    return np.rot90(array, rot, axes=(0, 1))
