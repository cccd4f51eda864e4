"""Evaluation of restoration models on SHDD with the protocol of Table 7.1 (thesis §7.5, seed 000).

:func:`restore` runs a model on a full-size image tile by tile. The authors' public test code cuts each test
image into 8 overlapping patches (2 rows × 4 columns, overlapping by a shave margin), restores them one by one
and stitches the results; that keeps memory bounded on 2K DIV2K images and is part of reproducing the table.
The companion's reading of the stitching is *crop-and-stitch*: each tile is restored with ``overlap`` pixels
of extra context on every inner side, and only its own (non-overlapping) part is kept -- no blending. For a
fully convolutional model whose receptive-field radius is below ``overlap`` this equals whole-image inference
up to float rounding.

:func:`evaluate_shdd` averages PSNR/SSIM over SHDD test images, adds a per-distortion-type breakdown (the
companion's reading, see :func:`companion.metrics.psnr_by_label`) and the PSNR of the distorted input as a
baseline, and returns every number together with its protocol; :func:`protocol_text` is its one-line form
for the ledger.
"""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

from companion.device import resolve_device
from companion.errors import CompanionError
from companion.models.common import to_channels_last
from companion.metrics import restoration_scores

#: Table 7.1 tiling of the authors' test code: 2 rows × 4 columns.
PAPER_TILES = (2, 4)


def _check_tiling(tiles, overlap) -> tuple[int, int]:
    if (not isinstance(tiles, (tuple, list)) or len(tiles) != 2
            or not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) and t >= 1 for t in tiles)):
        raise CompanionError(f"tiles must be two positive integers (rows, columns), got {tiles!r}")
    if not isinstance(overlap, (int, np.integer)) or isinstance(overlap, bool) or overlap < 0:
        raise CompanionError(f"overlap must be a non-negative integer number of pixels, got {overlap!r}")
    return int(tiles[0]), int(tiles[1])


def _bounds(size: int, parts: int, overlap: int, axis: str) -> list[tuple[int, int, int, int]]:
    """(core start, core end, context start, context end) of ``parts`` near-equal tiles along one axis."""
    core = size // parts
    if core < 1 or (parts > 1 and core < overlap):
        raise CompanionError(f"image {axis} of {size} px is too small for {parts} tiles with {overlap} px overlap "
                             f"(tiles of {core} px, need at least {max(1, overlap if parts > 1 else 1)}); "
                             "use fewer tiles or a smaller overlap")
    edges = [i * size // parts for i in range(parts + 1)]
    return [(a, b, max(0, a - overlap), min(size, b + overlap)) for a, b in zip(edges[:-1], edges[1:])]


def _device(device) -> torch.device:
    return device if isinstance(device, torch.device) else resolve_device(str(device))


@torch.no_grad()
def restore(model: nn.Module, image: torch.Tensor, *, tiles=PAPER_TILES, overlap: int = 16, device="cpu",
            bf16: bool = False, channels_last: bool = False) -> torch.Tensor:
    """Restore a 3×H×W or B×3×H×W image in [0, 1] tile by tile; returns the same shape, CPU float32, in [0, 1].

    The image is split into ``tiles`` = (rows, columns) near-equal tiles (``(1, 1)``: the whole image at
    once); each is cut with ``overlap`` px of context on every side that has a neighbour, restored in
    ``model.eval()`` under ``torch.no_grad()``, and only its own part is pasted back (crop-and-stitch, no
    blending). The model is moved to ``device`` ("cpu", "cuda", "auto" or a torch.device) and, with
    ``channels_last``, to that memory format; its train/eval mode is restored afterwards. ``bf16`` runs it
    under bfloat16 autocast. A tile smaller than ``overlap`` (or than 1 px) is a :class:`CompanionError`;
    the model's own input checks (e.g. ``check_image_batch``) raise unchanged.
    """
    if not isinstance(image, torch.Tensor) or image.ndim not in (3, 4):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise CompanionError(f"restore takes a 3×H×W or B×3×H×W tensor, got {shape}")
    rows, cols = _check_tiling(tiles, overlap)
    single = image.ndim == 3
    batch = image[None] if single else image
    if batch.is_floating_point():
        batch = batch.float()
    h, w = batch.shape[-2:]
    ys, xs = _bounds(h, rows, overlap, "height"), _bounds(w, cols, overlap, "width")

    dev = _device(device)
    was_training = model.training
    model.eval()
    model.to(dev)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        to_channels_last(model)
    autocast = torch.autocast(device_type=dev.type, dtype=torch.bfloat16) if bf16 else nullcontext()

    out = torch.empty(batch.shape[:2] + (h, w), dtype=torch.float32)
    try:
        for y0, y1, cy0, cy1 in ys:
            for x0, x1, cx0, cx1 in xs:
                tile = batch[..., cy0:cy1, cx0:cx1].to(dev).contiguous(memory_format=fmt)
                with autocast:
                    result = model(tile)
                if result.shape != tile.shape:
                    raise CompanionError(f"the model returned shape {tuple(result.shape)} for a tile of shape "
                                         f"{tuple(tile.shape)}; restore needs a same-size image-to-image model")
                out[..., y0:y1, x0:x1] = result[..., y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0].float().cpu()
    finally:
        model.train(was_training)
    out.clamp_(0.0, 1.0)
    return out[0] if single else out


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
    (name, psnr, ssim, psnr_by_type, ssim_by_type) and ``protocol`` (channel, border, tiles, overlap,
    images, bf16). An exactly restored image or region scores ``inf`` and so does any mean that includes it.
    """
    from tqdm.auto import tqdm

    _check_tiling(tiles, overlap)
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
        per_image.append({"name": item.get("name", str(index)), **restoration_scores(restored, clean, labels, **opts)})
        before = restoration_scores(distorted, clean, labels, with_ssim=False, **opts)
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


def protocol_text(protocol: dict) -> str:
    """One line for the ledger, e.g. ``"RGB, no border crop, 2×4 tiles with 16 px overlap, 50 images"``."""
    channel = str(protocol.get("channel", "rgb")).lower()
    parts = ["RGB" if channel == "rgb" else "Y (BT.601)" if channel == "y" else channel]
    border = int(protocol.get("border", 0) or 0)
    parts.append(f"{border} px border crop" if border else "no border crop")
    rows, cols = protocol.get("tiles", (1, 1))
    if (rows, cols) == (1, 1):
        parts.append("whole image")
    else:
        parts.append(f"{rows}×{cols} tiles with {protocol.get('overlap', 0)} px overlap")
    if "images" in protocol:
        n = protocol["images"]
        parts.append(f"{n} image" + ("" if n == 1 else "s"))
    if protocol.get("bf16"):
        parts.append("bf16 autocast")
    return ", ".join(parts)
