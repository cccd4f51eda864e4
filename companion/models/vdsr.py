"""VDSR: a very deep plain CNN with a global residual connection (used here for restoration, not upscaling).

Kim, Lee, Lee, "Accurate image super-resolution using very deep convolutional networks", CVPR 2016
([112] in the thesis, a baseline of Table 7.1).

    x ──(conv+ReLU) × (D−1)──conv──▶ r;      ŷ = x + r

* §3.1 (Fig. 2): D layers; every layer but the last is 64 filters of 3×3×64 followed by ReLU; the first layer
  takes the input image, the last one (a single 3×3 filter bank) reconstructs the residual. Zero padding
  before each conv keeps the feature maps the size of the input. D = 20 in the paper.
* §3.2, residual learning: the network predicts the residual r = y − x and the output is x + r; the loss
  ½‖r − f(x)‖² is an MSE on the output.
* Experimental setup: weights initialised with He et al.'s method (as thesis §7.5).
* Thesis §7.5.1: "We modify VDSR by stacking convolutional layers four times than the original ones to
  match the number of the parameters to the others": **D = 80** (:data:`PAPER_CONFIG`).

Here the input is the RGB image (3 channels in and out), not the luminance channel of a bicubic-upscaled
image: the SHDD task is same-size restoration.

Paper configuration (depth 80, 64 features, RGB): **2,883,907 trainable parameters**
= (27·64 + 64) + 78·(9·64² + 64) + (9·64·3 + 3). (The original 20 layers, RGB: 668,227.)

Readings chosen:

* "Four times" = four times the depth, 4 × 20 = 80 layers, width unchanged (64).
* Every conv has a bias; no batch normalisation (the paper has none).
* Adjustable gradient clipping (§3.2) is a training rule, not part of the model: it belongs to the trainer.
* The output is not clamped to [0, 1].
"""
from __future__ import annotations

import torch
from torch import nn

from companion.models.common import check_image_batch, he_init

#: The registry entry (companion.models): name, label in tables, class, paper and quick sizes.
NAME, LABEL, MODEL = "vdsr", "VDSR", "VDSR"
INIT = "He, zero biases (the paper)"
PAPER_CONFIG = dict(depth=80, features=64)
QUICK_CONFIG = dict(depth=8, features=24)


class VDSR(nn.Module):
    """VDSR with ``depth`` conv layers of ``features`` channels; forward returns ``x + r(x)``."""

    def __init__(self, depth: int = 80, features: int = 64):
        super().__init__()
        if depth < 2:
            raise ValueError(f"VDSR needs depth >= 2 (first and last layer), got {depth}")
        self.config = dict(depth=int(depth), features=int(features))
        layers = [nn.Conv2d(3, features, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(features, features, 3, padding=1), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.last = nn.Conv2d(features, 3, 3, padding=1)   # reconstructs the residual r
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, "VDSR")
        return x + self.last(self.body(x))
