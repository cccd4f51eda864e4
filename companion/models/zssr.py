"""ZSSR's network: the image-specific CNN of zero-shot super-resolution (Shocher, Cohen, Irani, CVPR 2018; thesis
Chapter 5, §5.3.1, the baseline of Tables 5.1, 5.3 and 5.4).

    x (LR) ─ bicubic ×s ─▶ x↑ ─ conv 3×3 + ReLU ─ (conv 3×3 + ReLU) × (D − 2) ─ conv 3×3 ─▶ r;      ŷ = x↑ + r

* **Depth and width**: D = 8 conv layers of 3×3, 64 channels, ReLU after every layer but the last (the thesis:
  "ZSSR has only 0.23M parameters", §5.4.4; "MZSR was limited to use a simple 8-layer network", §5.2; ZSSR's
  released ``configs.py``: ``width = 64``, ``depth = 8``).
* **Residual over the bicubic-upsampled input** (ZSSR's ``learn_residual = True``: "we only learn the residual
  from base interpolation"): the LR image is first upscaled ×s by bicubic interpolation, the network predicts
  the residual at the output size. The interpolation is MATLAB's ``imresize(x, s, 'bicubic')`` (Keys' kernel with
  a = −0.5, MATLAB's grid and border, computed by the ``bicubic_pytorch`` library the companion's SR protocol
  uses), as ZSSR's own ``imresize`` does; it is not rounded to 8 bits and not clamped.
* **Biases**: every conv has one. ZSSR's TensorFlow code has none (224,640 weights, "0.22M"); the thesis prints
  0.23M, which is the count with biases: **225,091 trainable parameters** = (27·64 + 64) + 6·(576·64 + 64) +
  (576·3 + 3) (:data:`PAPER_CONFIG`).
* **Initialisation** (:data:`INIT`): ZSSR's code draws every filter from N(0, 0.1 / fan_in) (``init_variance =
  0.1``, "typically smaller when residual learning is on"); the biases start at zero.
* The network is scale-agnostic (only the interpolation knows s); ``scale`` in the configuration is the one it
  is trained for, and ``forward(x, scale)`` may name another.
* The output is not clamped; evaluation clamps and rounds it.

What makes ZSSR zero-shot is its training, not its network: :mod:`companion.ch5.zssr` trains one of these per
test image on (father↓s, father) pairs cut from that image alone.
"""
from __future__ import annotations

import math

import torch
from bicubic_pytorch import imresize  # MATLAB's imresize(x, s, 'bicubic'), as the SR protocol's
from torch import nn

from companion.models.common import check_image_batch

#: The registry entry (companion.models): name, label in tables, class, paper and quick sizes.
NAME, LABEL, MODEL = "zssr", "ZSSR", "ZSSR"
#: What the model does: super-resolution models take ``forward(x, scale)`` and return s× larger images.
TASK = "super-resolution"
INIT = "N(0, 0.1 / fan_in) weights, zero biases (ZSSR's code: init_variance = 0.1)"
PAPER_CONFIG = dict(depth=8, width=64, scale=4)
# Half the width (57,251 parameters): a CPU trains it online in seconds per image. At a quarter of the width it did
# not learn at all on the validation photograph in 500 steps (ZSSR's small initial filters and eight layers).
QUICK_CONFIG = dict(depth=8, width=32, scale=4)
#: Variance of the initial filters times their fan-in (ZSSR's ``init_variance``).
INIT_VARIANCE = 0.1


class ZSSR(nn.Module):
    """ZSSR's ``depth``-layer, ``width``-channel residual CNN; ``forward(x, scale)`` returns
    ``bicubic(x, ×scale) + r``, ``scale`` defaulting to the configured one."""

    def __init__(self, depth: int = 8, width: int = 64, scale: int = 4):
        super().__init__()
        depth, width, scale = int(depth), int(width), int(scale)
        if depth < 2 or width < 1:
            raise ValueError(f"ZSSR needs depth >= 2 and width >= 1, got depth={depth}, width={width}")
        if scale < 1:
            raise ValueError(f"ZSSR's scale must be a whole number >= 1, got {scale}")
        self.config = dict(depth=depth, width=width, scale=scale)
        self.scale = scale
        channels = [3] + [width] * (depth - 1) + [3]
        self.convs = nn.ModuleList(nn.Conv2d(c_in, c_out, 3, padding=1) for c_in, c_out in zip(channels, channels[1:]))
        for conv in self.convs:
            fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
            nn.init.normal_(conv.weight, std=math.sqrt(INIT_VARIANCE / fan_in))
            nn.init.zeros_(conv.bias)

    def upsample(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        """The base interpolation: MATLAB-bicubic ×``scale`` of ``x`` (unrounded)."""
        s = self.scale if scale is None else int(scale)
        return x if s == 1 else imresize(x, scale=s)

    def residual(self, base: torch.Tensor) -> torch.Tensor:
        """The convs on the upsampled image: r (ReLU after every layer but the last)."""
        h = base
        for i, conv in enumerate(self.convs):
            h = conv(h)
            if i < len(self.convs) - 1:
                h = torch.relu(h)
        return h

    def forward(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        check_image_batch(x, LABEL)
        if scale is not None and (isinstance(scale, bool) or int(scale) != scale or int(scale) < 1):
            raise ValueError(f"ZSSR's scale must be a whole number >= 1, got {scale!r}")
        base = self.upsample(x, scale)
        return base + self.residual(base)
