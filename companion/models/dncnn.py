"""DnCNN: a plain CNN with batch normalisation that learns the residual (the distortion) and subtracts it.

Zhang, Zuo, Chen, Meng, Zhang, "Beyond a Gaussian denoiser: residual learning of deep CNN for image
denoising", IEEE TIP 2017 ([161] in the thesis, a baseline of Table 7.1).

    x ──conv+ReLU──▶ (conv+BN+ReLU) × (D−2) ──conv──▶ R(x);      ŷ = x − R(x)

* §III-B, residual learning: the network R is trained so that R(y) ≈ v = y − x, the noise (here: whatever
  distortion was added), and the restored image is ``y − R(y)``; the loss
  ``ℓ(Θ) = 1/2N Σ ‖R(y_i; Θ) − (y_i − x_i)‖²`` (the paper's Eq. 1) is an MSE on the restored image.
* §III-B, "Deep architecture": depth D; layer 1 is Conv(3×3×c×64) + ReLU, layers 2 … D−1 are
  Conv(3×3×64×64) + BN + ReLU, layer D is Conv(3×3×64×c). Zero padding keeps the size (§III-B, "Reducing
  boundary artifacts"). D = 17 for the specific-level Gaussian denoiser; c = 3 here (RGB).
* §IV-A (experimental setting): weights initialised with He et al.'s method, as the thesis does for all
  models (§7.5).

Paper configuration (:data:`PAPER_CONFIG`, depth 17, 64 features, RGB): **558,403 trainable parameters**
= (27·64 + 64) + 15·(9·64² + 2·64) + (9·64·3 + 3).

Readings chosen:

* The middle convs have no bias (a bias before BN is cancelled by BN's mean subtraction; BN's β plays its
  role). The first and the last conv have a bias. BN uses PyTorch's defaults (γ = 1, β = 0, momentum 0.1).
* The output is not clamped to [0, 1]: the loss sees the raw ``x − R(x)``; evaluation clamps.
* He initialisation from :func:`companion.models.common.he_init` (as the paper and thesis §7.5 say). The
  authors' later PyTorch training code (cszn/DnCNN, ``dncnn_pytorch/main_train.py``) differs: orthogonal conv
  weights with zero biases, and BN with eps 1e-4 and momentum 0.95; the companion follows the paper.
"""
from __future__ import annotations

import torch
from torch import nn

from companion.models.common import check_image_batch, he_init

#: The registry entry (companion.models): name, label in tables, class, paper and quick sizes.
NAME, LABEL, MODEL = "dncnn", "DnCNN", "DnCNN"
INIT = "He, zero biases (the paper)"
PAPER_CONFIG = dict(depth=17, features=64)
QUICK_CONFIG = dict(depth=6, features=32)


class DnCNN(nn.Module):
    """DnCNN with ``depth`` conv layers of ``features`` channels; forward returns ``x − R(x)``."""

    def __init__(self, depth: int = 17, features: int = 64):
        super().__init__()
        if depth < 2:
            raise ValueError(f"DnCNN needs depth >= 2 (first and last layer), got {depth}")
        self.config = dict(depth=int(depth), features=int(features))
        layers = [nn.Conv2d(3, features, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(features, features, 3, padding=1, bias=False),
                       nn.BatchNorm2d(features),
                       nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.last = nn.Conv2d(features, 3, 3, padding=1)   # predicts the residual R(x)
        he_init(self)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """R(x): the distortion the network has found in ``x``."""
        return self.last(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, "DnCNN")
        return x - self.residual(x)
