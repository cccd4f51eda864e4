"""Tiled inference: :func:`restore` runs an image-to-image model on an image of any size, tile by tile.

The MEPSNet authors' public test code cuts each test image into 8 overlapping patches (2 rows × 4 columns,
overlapping by a shave margin), restores them one by one and stitches the results; that keeps memory
bounded on 2K DIV2K images and is part of reproducing Table 7.1. The companion's reading of the stitching is
*crop-and-stitch*: each tile is restored with ``overlap`` pixels of extra context on every inner side, and
only its own (non-overlapping) part is kept -- no blending. For a fully convolutional model whose receptive
field radius is below ``overlap`` this equals whole-image inference up to float rounding.

With ``scale`` = s (super-resolution, Ch.2-5) the model returns s× the tile; the kept part is the tile's own
part scaled by s, pasted at s× its position.
"""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

from companion.device import resolve_device
from companion.errors import CompanionError
from companion.models.common import to_channels_last

def check_tiling(tiles, overlap) -> tuple[int, int]:
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
def restore(model: nn.Module, image: torch.Tensor, *, tiles=(1, 1), overlap: int = 16, device="cpu",
            bf16: bool = False, channels_last: bool = False, scale: int = 1) -> torch.Tensor:
    """Restore a 3×H×W or B×3×H×W image in [0, 1] tile by tile; returns the same shape (× ``scale`` in height
    and width), CPU float32, in [0, 1].

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
    rows, cols = check_tiling(tiles, overlap)
    if not isinstance(scale, (int, np.integer)) or isinstance(scale, bool) or scale < 1:
        raise CompanionError(f"scale must be a whole number >= 1, got {scale!r}")
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

    s = int(scale)
    out = torch.empty(batch.shape[:2] + (s * h, s * w), dtype=torch.float32)
    try:
        for y0, y1, cy0, cy1 in ys:
            for x0, x1, cx0, cx1 in xs:
                tile = batch[..., cy0:cy1, cx0:cx1].to(dev).contiguous(memory_format=fmt)
                with autocast:
                    result = model(tile)
                expected = tile.shape[:2] + (s * tile.shape[2], s * tile.shape[3])
                if result.shape != expected:
                    raise CompanionError(f"the model returned shape {tuple(result.shape)} for a tile of shape "
                                         f"{tuple(tile.shape)}; with scale={s} restore expects "
                                         f"{tuple(expected)}: pass the model's scale factor")
                out[..., s * y0:s * y1, s * x0:s * x1] = \
                    result[..., s * (y0 - cy0):s * (y1 - cy0), s * (x0 - cx0):s * (x1 - cx0)].float().cpu()
    finally:
        model.train(was_training)
    out.clamp_(0.0, 1.0)
    return out[0] if single else out


