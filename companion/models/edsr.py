"""EDSR: the enhanced deep residual network, Chapter 4's largest SR baseline and, without its upsampler, a
restoration baseline (thesis §4.3.3, "Baselines"; Tables 4.2-4.10).

Lim, Son, Kim, Nah, Lee, "Enhanced deep residual networks for single image super-resolution", CVPRW 2017
([76] in the thesis).

    x ─ −mean ─ [desubpixel ↓s] ─ head conv ─▶ h ─ B × ResBlock ─ conv ─(+ h)─ upsampler ×s ─ tail conv ─ +mean ─▶ ŷ

    ResBlock: x + 0.1 · conv 3×3(ReLU(conv 3×3(x)))        (no batch normalisation; residual scaling 0.1)

* **Size** (§4.3.3, the authors' code): B = 32 residual blocks of C = 256 channels, residual scale 0.1
  (:data:`PAPER_CONFIG`); 3×3 convs everywhere.
* **Upsampler**: ESPCN, conv 3×3 C → C·r² then PixelShuffle(r), no activation; ×4 is two ×2 stages
  (:func:`companion.models.common.espcn_upsampler`). ``scale=1`` has none: §4.3.3 "For EDSR, we remove the
  upsampling blocks of the model to apply it to image restoration tasks that do not involve upscaling"
  (:data:`RESTORATION_CONFIG`); input and output then have the same size.
* **Same grid** (§4.3.3, ``same_grid=True``): the input is the LR image on the HR grid; a desubpixel
  (pixel-unshuffle by s) feeds the head conv 3·s² channels; the output has the input's size
  (:class:`companion.models.common.SingleScaleModel`).
* **Mean shift**: the DIV2K RGB mean is subtracted from the input and added to the output, fixed (the
  authors' code).

Parameter counts, exact (``count_parameters``):

* ×4 (:data:`PAPER_CONFIG`): **43,089,923**; on the same grid (``same_grid=True``, the thesis' setting) the
  head conv takes 48 channels instead of 3, +103,680: **43,193,603**, the thesis' printed 43.2M. The plain
  count rounds to 43.1M, so the thesis counts the same-grid network.
* ×1 (:data:`RESTORATION_CONFIG`): **38,369,283**, the thesis' 38.4M (Tables 4.7-4.9).

Readings chosen, and where the authors' code (clovaai/cutblur ``model/edsr.py``, ``model/ops.py``) differs:

* The code always builds the desubpixel head (its DownBlock by s, the identity at s = 1); here it is the
  ``same_grid`` option, off by default, so the same class is also the plain EDSR of the SR protocol.
* The code's DownBlock orders the unshuffled channels colour-last; ``torch.nn.functional.pixel_unshuffle``
  orders them colour-first: the same network up to a permutation of the head conv's input channels.
* The code works on [0, 255] images; here images are in [0, 1] and the mean is scaled accordingly.
* Initialisation: PyTorch's default everywhere (the code sets none). The output is not clamped.
"""
from __future__ import annotations

import torch
from torch import nn

from companion.models.common import DIV2K_RGB_MEAN, SingleScaleModel, espcn_upsampler

#: The registry entry (companion.models): name, label in tables, class, paper and quick sizes.
NAME, LABEL, MODEL = "edsr", "EDSR", "EDSR"
#: What the model does at its default scale (×4): super-resolution; ``scale=1`` makes it the restoration model.
TASK = "super-resolution"
INIT = "PyTorch default U(±1/sqrt(fan_in)) for weights and biases (the authors' code)"
PAPER_CONFIG = dict(scale=4, same_grid=False, channels=256, blocks=32, res_scale=0.1)
#: §4.3.3's restoration EDSR (denoising, JPEG, mixed distortions): no upsampler, same-size input and output.
RESTORATION_CONFIG = {**PAPER_CONFIG, "scale": 1}
# Every part of the paper's network (head, residual blocks with scaling 0.1, long skip, upsampler, tail) at
# an eighth of the width and depth, sized for one CPU thread also at scale 1 (where the body runs at full
# resolution). The quick sizes do not keep the paper's order of capacity: the Chapter 2 quick CARN is larger.
QUICK_CONFIG = {**PAPER_CONFIG, "channels": 32, "blocks": 4}


class ResBlock(nn.Module):
    """EDSR's residual block: x + res_scale · conv(ReLU(conv(x))), 3×3 convs, C → C, no batch norm."""

    def __init__(self, channels: int, res_scale: float):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.conv2(torch.relu(self.conv1(x)))


class EDSR(SingleScaleModel):
    """EDSR with ``blocks`` residual blocks of ``channels`` channels scaled by ``res_scale``, for ×``scale``
    (1 = restoration, no upsampler); ``same_grid``: see :class:`companion.models.common.SingleScaleModel`."""

    label = "EDSR"

    def __init__(self, scale: int = 4, same_grid: bool = False, channels: int = 256, blocks: int = 32,
                 res_scale: float = 0.1):
        super().__init__(scale, same_grid)
        if channels < 1 or blocks < 1 or not res_scale > 0:
            raise ValueError(f"EDSR needs positive channels, blocks and res_scale; got {channels}, {blocks}, "
                             f"{res_scale}")
        self.config = dict(scale=self.scale, same_grid=self.same_grid, channels=int(channels), blocks=int(blocks),
                           res_scale=float(res_scale))
        self.register_buffer("mean", torch.tensor(DIV2K_RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.head = nn.Conv2d(self.in_channels, channels, 3, padding=1)
        self.blocks = nn.Sequential(*(ResBlock(channels, float(res_scale)) for _ in range(blocks)))
        self.body_end = nn.Conv2d(channels, channels, 3, padding=1)
        self.upsample = espcn_upsampler(channels, self.scale)
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        h = self.head(self.grid_input(x, scale, self.mean))
        h = h + self.body_end(self.blocks(h))                        # the long skip
        return self.tail(self.upsample(h)) + self.mean
