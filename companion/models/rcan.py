"""RCAN: the residual channel attention network, a Chapter 4 SR baseline (thesis §4.3.3, "Baselines";
Tables 4.3-4.6, 4.10).

Zhang, Li, Li, Wang, Zhong, Fu, "Image super-resolution using very deep residual channel attention networks",
ECCV 2018 ([2] in the thesis). Residual in residual:

    x ─ −mean ─ [desubpixel ↓s] ─ head conv ─▶ h ─ G × ResidualGroup ─ conv ─(+ h)─ upsampler ×s ─ tail ─ +mean ─▶ ŷ

    ResidualGroup:  g + conv(B × RCAB(g))                                   (short skip)
    RCAB:           x + CA(conv(ReLU(conv(x))))                             (residual channel attention block)
    CA:             u · σ(W_up ReLU(W_down GAP(u)))                         (channel attention, C → C/r → C)

* **Size** (§4.3.3, the RCAN paper and the authors' code): G = 10 residual groups of B = 20 RCABs, C = 64
  channels, reduction r = 16 (4 hidden channels in each attention), residual scale 1 (:data:`PAPER_CONFIG`).
* **Upsampler**: ESPCN without activation, as EDSR (:func:`companion.models.common.espcn_upsampler`);
  ``scale=1`` has none (same-size restoration).
* **Same grid** (§4.3.3, ``same_grid=True``): the desubpixel head of
  :class:`companion.models.common.SingleScaleModel`, 3·s² input channels, output of the input's size.
* **Mean shift**: the DIV2K RGB mean, subtracted and added back, fixed (the authors' code).

Parameter counts, exact: ×4 (:data:`PAPER_CONFIG`) **15,592,355**; on the same grid (the thesis' setting)
the head conv takes 48 channels instead of 3, +25,920: **15,618,275**. Both round to the thesis' 15.6M.
Per RCAB 2·(9·64² + 64) + (64·4 + 4) + (4·64 + 64) = 74,436; per group 20 RCABs + (9·64² + 64).

Readings chosen, and where the authors' code (clovaai/cutblur ``model/rcan.py``) differs:

* The code always builds the desubpixel head; here it is the ``same_grid`` option (off by default). Its
  DownBlock orders the unshuffled channels colour-last, ``pixel_unshuffle`` colour-first: a permutation of
  the head conv's input channels.
* The code has a ``res_scale`` on each RCAB, 1.0 for RCAN: kept as the ``res_scale`` argument, 1 by default.
* The code works on [0, 255]; here [0, 1]. Initialisation: PyTorch's default (the code sets none). The
  output is not clamped.
"""
from __future__ import annotations

import torch
from torch import nn

from companion.models.common import DIV2K_RGB_MEAN, SingleScaleModel, espcn_upsampler

#: The registry entry (companion.models): name, label in tables, class, paper and quick sizes.
NAME, LABEL, MODEL = "rcan", "RCAN", "RCAN"
#: What the model does: super-resolution models take ``forward(x, scale)`` and return s× larger images
#: (on the same grid: images of the input's size).
TASK = "super-resolution"
INIT = "PyTorch default U(±1/sqrt(fan_in)) for weights and biases (the authors' code)"
PAPER_CONFIG = dict(scale=4, same_grid=False, channels=64, groups=10, blocks=20, reduction=16, res_scale=1.0)
# Residual in residual with channel attention, small: 2 groups of 3 RCABs at 24 channels (r = 6, so 4 hidden
# channels as in the paper's attention), sized for one CPU thread; smaller than the quick EDSR, as in the paper.
QUICK_CONFIG = {**PAPER_CONFIG, "channels": 24, "groups": 2, "blocks": 3, "reduction": 6}


class ChannelAttention(nn.Module):
    """CA: u · σ(W_up ReLU(W_down GAP(u))), 1×1 convs C → C/r → C with biases."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(hidden, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class RCAB(nn.Module):
    """Residual channel attention block: x + res_scale · CA(conv(ReLU(conv(x))))."""

    def __init__(self, channels: int, reduction: int, res_scale: float):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.attention = ChannelAttention(channels, reduction)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.attention(self.conv2(torch.relu(self.conv1(x))))


class ResidualGroup(nn.Module):
    """``blocks`` RCABs and a 3×3 conv, with the group's short skip."""

    def __init__(self, channels: int, blocks: int, reduction: int, res_scale: float):
        super().__init__()
        self.blocks = nn.Sequential(*(RCAB(channels, reduction, res_scale) for _ in range(blocks)))
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(self.blocks(x))


class RCAN(SingleScaleModel):
    """RCAN: ``groups`` residual groups of ``blocks`` RCABs at ``channels`` channels (reduction
    ``reduction``), for ×``scale``; ``same_grid``: see :class:`companion.models.common.SingleScaleModel`."""

    label = "RCAN"

    def __init__(self, scale: int = 4, same_grid: bool = False, channels: int = 64, groups: int = 10,
                 blocks: int = 20, reduction: int = 16, res_scale: float = 1.0):
        super().__init__(scale, same_grid)
        if min(channels, groups, blocks, reduction) < 1 or not res_scale > 0:
            raise ValueError(f"RCAN needs positive channels, groups, blocks, reduction and res_scale; got "
                             f"{channels}, {groups}, {blocks}, {reduction}, {res_scale}")
        self.config = dict(scale=self.scale, same_grid=self.same_grid, channels=int(channels), groups=int(groups),
                           blocks=int(blocks), reduction=int(reduction), res_scale=float(res_scale))
        self.register_buffer("mean", torch.tensor(DIV2K_RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.head = nn.Conv2d(self.in_channels, channels, 3, padding=1)
        self.groups = nn.Sequential(*(ResidualGroup(channels, blocks, reduction, float(res_scale))
                                      for _ in range(groups)))
        self.body_end = nn.Conv2d(channels, channels, 3, padding=1)
        self.upsample = espcn_upsampler(channels, self.scale)
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        h = self.head(self.grid_input(x, scale, self.mean))
        h = h + self.body_end(self.groups(h))                        # the long skip
        return self.tail(self.upsample(h)) + self.mean
