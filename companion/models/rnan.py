"""RNAN: the residual non-local attention network, a Chapter 4 restoration baseline (thesis §4.3.3,
"Baselines"; Tables 4.7-4.9).

Zhang, Li, Li, Zhong, Fu, "Residual non-local attention networks for image restoration", ICLR 2019 ([104] in
the thesis). Same-size restoration: the output is the input plus a learnt residual.

    x ─ head conv ─ [RNAB ─ conv] ─ (G−2) × [RAB ─ conv] ─ conv ─ [RNAB ─ conv] ─ tail conv ─(+ x)─▶ ŷ

    attention block (RAB local, RNAB non-local):
        p = RB(u)                                             pre-processing residual block
        t = RB(RB(p))                                         trunk branch
        m = σ(conv 1×1(RB(a + up(RB(RB(down(a)))))))          mask branch, a = RB([NL](p)); down: conv 3×3
                                                              stride 2, up: deconv 6×6 stride 2
        out = RB(RB(p + t ⊙ m))                               residual attention learning, two post RBs
    RB: x + conv 3×3(ReLU(conv 3×3(x)))
    NL (non-local block, embedded Gaussian): z = x + W(softmax_j(θ(x_i)ᵀ φ(x_j)) g(x_j)), θ, φ, g: 1×1 C → C/2,
        W: 1×1 C/2 → C initialised to zero (the block starts as the identity)

* **Size** (the RNAN paper and the authors' code, which §4.3.3 follows): G = 10 attention blocks, the first
  and the last non-local, C = 64 channels (:data:`PAPER_CONFIG`): **8,959,555** parameters, the thesis' 9.0M
  (Tables 4.7-4.9). Per local block 9 RBs (73,856 each) + down conv 36,928 + deconv 147,520 + 1×1 4,160, plus
  its 3×3 conv 36,928 = 890,240; a non-local block adds 8,352.
* **Trunk and mask branches** (the paper's §3.2): the trunk keeps features, the mask branch rescales them
  with mixed (channel- and spatial-wise) attention from a sigmoid; the mask's large receptive field comes from
  the stride-2 conv / deconv pair, and the non-local mask branch adds a non-local block at its start.
* **Any size.** The stride-2 conv and the deconv give back 2·⌈H/2⌉ rows; the extra row of an odd side is
  cropped, so any input size works (the authors' code needs even sides).

Readings chosen, and where the authors' code (yulunzhang/RNAN ``DN_RGB/code/model/rnan.py``, ``model/common.py``)
differs (the authors' clovaai/cutblur code has no RNAN):

* The code's layout is kept: one pre-processing RB and two post-processing RBs (the paper's q at the start
  and the end), two RBs in the trunk (t = 2), each attention block followed by a 3×3 conv with no skip around
  it, one more conv after the local blocks, no mean shift, and the image-level skip ``ŷ = x + …``. The
  paper's q = 2 at the start would give 9.70M, not the thesis' 9.0M.
* The non-local block's softmax is over the positions j being attended to (the non-local paper's embedded
  Gaussian, what ``torch.nn.functional.scaled_dot_product_attention`` computes with ``scale=1``); the RNAN
  code's ``F.softmax(f, dim=1)`` normalises over the query positions i instead.
* The non-local block attends over the whole feature map, as the code does: memory and time grow with
  (H·W)², so large images are restored in tiles (``engine.inference.restore``), as the code's ``--chop``.
* RNAN restores at the same size only (``scale=1``; the paper's SR variant has another layout and is not
  built). Initialisation: PyTorch's default, except the non-local W (zero). The output is not clamped.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from companion.errors import CompanionError
from companion.models.common import check_image_batch

#: The registry entry (companion.models): name, label in tables, class, paper and quick sizes.
NAME, LABEL, MODEL = "rnan", "RNAN", "RNAN"
INIT = "PyTorch default U(±1/sqrt(fan_in)); the non-local blocks' output conv W zero (the authors' code)"
PAPER_CONFIG = dict(scale=1, channels=64, groups=10)
# Both non-local blocks and one local block at 16 channels. The non-local attention never forms the (H·W)²
# matrix, so 96-px patches fit in memory, but its time still grows with (H·W)²: on all but small patches it
# dominates, and this is the slowest quick model per pixel.
QUICK_CONFIG = {**PAPER_CONFIG, "channels": 16, "groups": 3}


def conv3(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1)


class ResidualBlock(nn.Module):
    """RB: x + conv(ReLU(conv(x))), 3×3 convs, C → C."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1, self.conv2 = conv3(channels, channels), conv3(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(x)))


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block over the whole feature map, C/2 inner channels, zero-initialised W."""

    def __init__(self, channels: int):
        super().__init__()
        inner = max(1, channels // 2)
        self.theta, self.phi, self.g = (nn.Conv2d(channels, inner, 1) for _ in range(3))
        self.W = nn.Conv2d(inner, channels, 1)
        nn.init.zeros_(self.W.weight)
        nn.init.zeros_(self.W.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape

        def positions(t: torch.Tensor) -> torch.Tensor:      # B×C'×H×W -> B×1×HW×C', contiguous (the fused kernel)
            return t.flatten(2).transpose(1, 2).unsqueeze(1).contiguous()

        y = F.scaled_dot_product_attention(positions(self.theta(x)), positions(self.phi(x)), positions(self.g(x)),
                                           scale=1.0)
        return x + self.W(y.squeeze(1).transpose(1, 2).reshape(b, -1, h, w))


class MaskBranch(nn.Module):
    """Mixed attention in [0, 1]: ([NL]) RB, stride-2 conv, 2 RBs, deconv, + skip, RB, 1×1, sigmoid."""

    def __init__(self, channels: int, non_local: bool):
        super().__init__()
        self.enter = nn.Sequential(*([NonLocalBlock(channels)] if non_local else []), ResidualBlock(channels))
        self.down = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        self.middle = nn.Sequential(ResidualBlock(channels), ResidualBlock(channels))
        self.up = nn.ConvTranspose2d(channels, channels, 6, stride=2, padding=2)
        self.leave = nn.Sequential(ResidualBlock(channels), nn.Conv2d(channels, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.enter(x)
        up = self.up(self.middle(self.down(a)))[..., :a.shape[-2], :a.shape[-1]]   # 2·⌈H/2⌉ -> H
        return self.leave(a + up)


class AttentionBlock(nn.Module):
    """Residual (non-)local attention block: pre RB, trunk (2 RBs) ⊙ mask, residual, 2 post RBs."""

    def __init__(self, channels: int, non_local: bool):
        super().__init__()
        self.pre = ResidualBlock(channels)
        self.trunk = nn.Sequential(ResidualBlock(channels), ResidualBlock(channels))
        self.mask = MaskBranch(channels, non_local)
        self.post = nn.Sequential(ResidualBlock(channels), ResidualBlock(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.pre(x)
        return self.post(p + self.trunk(p) * self.mask(p))


class RNAN(nn.Module):
    """RNAN with ``groups`` attention blocks (the first and last non-local) of ``channels`` channels; same-size
    restoration, ``forward(x) = x + residual``. ``scale`` must be 1 (see the module docstring)."""

    label = "RNAN"

    def __init__(self, scale: int = 1, channels: int = 64, groups: int = 10):
        super().__init__()
        if isinstance(scale, bool) or scale != 1:
            raise ValueError(f"RNAN here restores at the same size (scale=1); got scale={scale!r}")
        if channels < 2 or groups < 2:
            raise ValueError(f"RNAN needs channels >= 2 and groups >= 2 (two non-local blocks); got {channels}, "
                             f"{groups}")
        self.config = dict(scale=1, channels=int(channels), groups=int(groups))
        self.head = conv3(3, channels)
        self.non_local_first = nn.Sequential(AttentionBlock(channels, non_local=True), conv3(channels, channels))
        self.local = nn.Sequential(*(nn.Sequential(AttentionBlock(channels, non_local=False), conv3(channels, channels))
                                     for _ in range(groups - 2)), conv3(channels, channels))
        self.non_local_last = nn.Sequential(AttentionBlock(channels, non_local=True), conv3(channels, channels))
        self.tail = conv3(channels, 3)

    def at_scale(self, scale: int) -> nn.Module:
        """This model, after checking that ``scale`` is 1 (what ``engine.inference.restore`` callers expect)."""
        if scale != 1:
            raise CompanionError(f"RNAN restores at the same size; got scale={scale!r}")
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, self.label)
        h = self.non_local_last(self.local(self.non_local_first(self.head(x))))
        return x + self.tail(h)
