"""SHDD evaluation with the protocol of Table 7.1 (thesis §7.5, seed 000 §5).

:func:`evaluate_shdd` restores every test image with :func:`companion.engine.inference.restore` (the authors'
2×4 tiling, :data:`PAPER_TILES`), averages PSNR/SSIM over the images, adds a per-distortion-type breakdown
from the SHDD label maps (the companion's reading, see :func:`companion.metrics.psnr_by_label`) and the PSNR
of the distorted input as a baseline, and returns every number together with its protocol
(:func:`companion.metrics.protocol_text` is its one-line form for the ledger).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from companion.ch7.shdd import SHDD_TYPES
from companion.engine.inference import check_tiling, restore
from companion.errors import CompanionError
from companion.metrics import restoration_scores

#: Table 7.1 tiling of the authors' test code: 2 rows × 4 columns.
PAPER_TILES = (2, 4)


def _hwc(tensor) -> np.ndarray:
    array = tensor.detach().cpu().numpy() if isinstance(tensor, torch.Tensor) else np.asarray(tensor)
    return np.ascontiguousarray(array.transpose(1, 2, 0))


def _mean(values) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def _by_type_means(dicts: list[dict[str, float]]) -> dict[str, float]:
    """Mean per type over the images where the type is present, in first-seen order."""
    pooled: dict[str, list[float]] = {}
    for d in dicts:
        for key, value in d.items():
            pooled.setdefault(key, []).append(value)
    return {key: _mean(values) for key, values in pooled.items()}


def evaluate_shdd(model: nn.Module, dataset, *, tiles=PAPER_TILES, overlap: int = 16, border: int = 0,
                  channel: str = "rgb", device="cpu", bf16: bool = False, progress: bool = True,
                  limit: int | None = None) -> dict:
    """PSNR/SSIM of ``model`` over SHDD evaluation items (Table 7.1 protocol), with the protocol attached.

    ``dataset``: anything with ``len`` and indexing whose items are dicts like :class:`SHDDEval`'s
    (``distorted``/``clean`` 3×H×W, ``label`` H×W index into ``SHDD_TYPES``, ``name``); ``limit`` keeps the
    first images only. Each image is restored with :func:`restore` (``tiles``, ``overlap``, ``device``,
    ``bf16``) and scored with ``channel`` / ``border`` (the thesis: RGB for SHDD, §7.5).

    Returns ``psnr`` and ``ssim`` (means over images), ``psnr_by_type`` / ``ssim_by_type`` (per distortion
    type, mean over the images where it is present), ``input_psnr`` / ``input_psnr_by_type`` (the distorted
    input scored the same way: the do-nothing baseline; identity regions score ``inf`` there, and a test image
    whose regions all drew identity is left out of ``input_psnr`` and counted in ``input_unchanged``), ``per_image``
    (name, psnr, ssim, psnr_by_type, ssim_by_type, input_psnr: the scores paired claims compare image by image) and ``protocol`` (channel, border, tiles, overlap,
    images, bf16). An exactly restored image or region scores ``inf`` and so does any mean that includes it.
    """
    check_tiling(tiles, overlap)
    total = len(dataset)
    if limit is not None:
        if not isinstance(limit, (int, np.integer)) or limit < 1:
            raise CompanionError(f"limit must be a positive number of images, got {limit!r}")
        total = min(total, int(limit))
    if total == 0:
        raise CompanionError("the evaluation set holds no images; generate SHDD first "
                             "(`python -m companion data shdd --out DIR`)")

    per_image, input_psnrs, input_by_type = [], [], []
    for index in tqdm(range(total), desc="SHDD evaluation", unit="img", disable=not progress):
        item = dataset[index]
        restored = _hwc(restore(model, item["distorted"], tiles=tiles, overlap=overlap, device=device, bf16=bf16))
        clean, distorted = _hwc(item["clean"]), _hwc(item["distorted"])
        labels = np.asarray(item["label"].cpu() if isinstance(item["label"], torch.Tensor) else item["label"])
        opts = {"channel": channel, "border": border}
        before = restoration_scores(distorted, clean, labels, names=SHDD_TYPES, with_ssim=False, **opts)
        per_image.append({"name": item.get("name", str(index)),
                          **restoration_scores(restored, clean, labels, names=SHDD_TYPES, **opts),
                          "input_psnr": before["psnr"]})
        input_psnrs.append(before["psnr"])
        input_by_type.append(before["psnr_by_type"])

    return {
        "psnr": _mean([r["psnr"] for r in per_image]),
        "ssim": _mean([r["ssim"] for r in per_image]),
        "psnr_by_type": _by_type_means([r["psnr_by_type"] for r in per_image]),
        "ssim_by_type": _by_type_means([r["ssim_by_type"] for r in per_image]),
        "input_psnr": _mean([v for v in input_psnrs if np.isfinite(v)]),
        "input_unchanged": int(sum(not np.isfinite(v) for v in input_psnrs)),
        "input_psnr_by_type": _by_type_means(input_by_type),
        "per_image": per_image,
        "protocol": {"channel": channel, "border": int(border), "tiles": [int(tiles[0]), int(tiles[1])],
                     "overlap": int(overlap), "images": total, "bf16": bool(bf16)},
    }
