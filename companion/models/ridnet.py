"""RIDNet: real image denoising with feature attention (enhancement attention modules, EAM).

Anwar, Barnes, "Real image denoising with feature attention", ICCV 2019 ([162] in the thesis, a baseline of
Table 7.1 and the runner-up to MEPSNet there).

    x ──conv──▶ f0 ──EAM──EAM──EAM──EAM──▶ f_r ──conv──▶ (+ x) ──▶ ŷ           (long skip connection, LSC)

    EAM:  merge-and-run ──▶ residual block ──▶ enhanced residual block ──▶ feature attention

* §3.1, network: a feature-extraction module of one conv, ``f0 = M_e(x)``; the feature-learning
  residual-on-the-residual module, a cascade of EAMs, ``f_r = M_fl(f0)``; a reconstruction module of one
  conv, and a long skip connection so that the network learns the residual: ``ŷ = M_r(f_r) + x``.
  Four EAMs, 64 feature maps.
* §3.2, the EAM, four parts:

  - **Merge-and-run unit**: two branches of two dilated 3×3 convs each (each conv followed by ReLU),
    dilation rates (1, 2) and (3, 4); the branch outputs are concatenated, fused by a 3×3 conv + ReLU back to
    64 channels, and the unit's input is added (a short skip connection, SSC).
  - **Residual block**: conv–ReLU–conv, plus the input (a local connection), then ReLU.
  - **Enhanced residual block**: conv–ReLU–conv–ReLU–conv(1×1), plus the input, then ReLU.
  - **Feature attention** (channel attention): global average pooling to a C-vector, a 1×1 conv down to
    C/r, ReLU, a 1×1 conv back up to C, sigmoid; the features are multiplied channel-wise by that gate.

Paper configuration (:data:`PAPER_CONFIG`, 64 features, 4 EAMs, r = 16): **1,499,347 trainable parameters**,
close to the ≈1.5M usually quoted for RIDNet (from memory of the literature, not checked against the paper:
the tests pin our own count exactly and that figure only to ±2 %).
Per EAM: 4·(9·64²+64) + (9·128·64+64) + 2·(9·64²+64) + 2·(9·64²+64) + (64²+64) + (64·4+4) + (4·64+64)
= 373,956; plus (27·64+64) for the first conv and (9·64·3+3) for the last.

Readings chosen:

* The feature-extraction conv has no ReLU after it ("only one convolutional layer"), and there is no skip
  around a whole EAM: the skips are the long skip (input to output), the short skip of each merge-and-run
  unit, and the local skips of the two residual blocks.
* Reduction ratio r = 16 for the feature attention (4 hidden channels at width 64), as in RCAN's channel
  attention that the paper builds on.
* Every conv has a bias. No fixed RGB mean shift at input/output (an implementation detail of the authors'
  code, not in the paper), so the long skip adds the raw input.
* The paper does not say how weights are initialised. The authors' code (saeed-anwar/RIDNet,
  ``model/ops.py``) defines ``init_weights`` as a no-op, so every layer keeps PyTorch's default init (Kaiming
  uniform with a = √5, biases uniform in ±1/√fan_in), and the thesis trained RIDNet "from the authors'
  code" (Table 7.1's protocol): the companion does the same. (It used He with zero biases before; the
  untrained paper-size model's output then differed from its input with a standard deviation of about 19
  on a random image, because every EAM adds three un-scaled residual branches.)
* The output is not clamped to [0, 1].
"""
from __future__ import annotations

import torch
from torch import nn

from companion.models.common import check_image_batch

#: The registry entry (companion.models): name, label in tables, class, paper and quick sizes.
NAME, LABEL, MODEL = "ridnet", "RIDNet", "RIDNet"
INIT = "PyTorch default everywhere (the authors' code)"
PAPER_CONFIG = dict(features=64, modules=4, reduction=16)
QUICK_CONFIG = dict(features=16, modules=2, reduction=4)


def conv3(c_in: int, c_out: int, dilation: int = 1) -> nn.Conv2d:
    """A 3×3 conv that keeps the spatial size (zero padding = dilation)."""
    return nn.Conv2d(c_in, c_out, 3, padding=dilation, dilation=dilation)


class MergeAndRun(nn.Module):
    """Two dilated branches, (1, 2) and (3, 4), concatenated, fused by conv + ReLU, plus the input."""

    def __init__(self, c: int):
        super().__init__()
        self.branch_a = nn.Sequential(conv3(c, c, 1), nn.ReLU(inplace=True), conv3(c, c, 2), nn.ReLU(inplace=True))
        self.branch_b = nn.Sequential(conv3(c, c, 3), nn.ReLU(inplace=True), conv3(c, c, 4), nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(conv3(2 * c, c), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fuse(torch.cat([self.branch_a(x), self.branch_b(x)], dim=1))


class ResidualBlock(nn.Module):
    """conv–ReLU–conv, plus the input, ReLU."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(conv3(c, c), nn.ReLU(inplace=True), conv3(c, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class EnhancedResidualBlock(nn.Module):
    """conv–ReLU–conv–ReLU–conv1×1, plus the input, ReLU."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(conv3(c, c), nn.ReLU(inplace=True), conv3(c, c), nn.ReLU(inplace=True),
                                  nn.Conv2d(c, c, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class FeatureAttention(nn.Module):
    """Channel attention: x · σ(W_up δ(W_down GAP(x)))."""

    def __init__(self, c: int, reduction: int):
        super().__init__()
        hidden = max(1, c // reduction)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                  nn.Conv2d(c, hidden, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(hidden, c, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class EAM(nn.Module):
    """Enhancement attention module (§3.2): merge-and-run → residual → enhanced residual → feature attention."""

    def __init__(self, c: int, reduction: int):
        super().__init__()
        self.body = nn.Sequential(MergeAndRun(c), ResidualBlock(c), EnhancedResidualBlock(c),
                                  FeatureAttention(c, reduction))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class RIDNet(nn.Module):
    """RIDNet: one conv, ``modules`` EAMs of ``features`` channels, one conv, plus the input."""

    def __init__(self, features: int = 64, modules: int = 4, reduction: int = 16):
        super().__init__()
        if modules < 1 or features < 1 or reduction < 1:
            raise ValueError("RIDNet needs positive features, modules and reduction, "
                             f"got {features}, {modules}, {reduction}")
        self.config = dict(features=int(features), modules=int(modules), reduction=int(reduction))
        self.extract = conv3(3, features)                                            # M_e
        self.eams = nn.Sequential(*[EAM(features, reduction) for _ in range(modules)])  # M_fl
        self.reconstruct = conv3(features, 3)                                        # M_r
        # PyTorch's default init everywhere, as the authors' code (see the module docstring)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, "RIDNet")
        return x + self.reconstruct(self.eams(self.extract(x)))
