"""RDN: the residual dense network, a Chapter 4 restoration baseline (thesis §4.3.3, "Baselines"; Tables
4.7-4.9).

Zhang, Tian, Kong, Zhong, Fu, "Residual dense network for image super-resolution", CVPR 2018 ([101] in the
thesis), used there for restoration at the same size (denoising, JPEG, mixed distortions).

    x ─ [desubpixel ↓s] ─ SFE1 ─▶ F₋₁ ─ SFE2 ─▶ F₀ ─ RDB₁ … RDB_D ─▶ [F₁ … F_D] ─ GFF ─(+ F₋₁)─ [UPNet ×s] ─ conv ─▶ ŷ

    RDB_d (residual dense block, C layers of growth G):
        F_{d,c} = ReLU(conv 3×3([F_{d−1}, F_{d,1}, …, F_{d,c−1}]))           c = 1 … C   (contiguous memory)
        F_d     = F_{d−1} + conv 1×1([F_{d−1}, F_{d,1}, …, F_{d,C}])          (local feature fusion + local residual)
    GFF: conv 1×1 (D·G0 → G0), then conv 3×3 (G0 → G0)                        (global feature fusion)

* **Size** (the RDN paper, which §4.3.3 follows): D = 16 blocks, C = 8 layers each, growth G = 64, G0 = 64
  channels, 3×3 kernels (:data:`PAPER_CONFIG`, ``scale=1``): **21,975,683** parameters, the thesis' 22.0M
  (Tables 4.7-4.9). Per RDB Σ_{c=0}^{7}(9·64·(64 + 64c) + 64) + ((64 + 8·64)·64 + 64) = 1,364,544.
* **Global residual learning** is at the feature level (F_DF = F₋₁ + F_GF, the paper's Eq. 6); there is no
  skip from the input image to the output and no mean shift (the paper has neither).
* ``scale`` 2/3/4 adds the paper's upsampling net (ESPCN: conv 3×3 G0 → G0·r², PixelShuffle(r); ×4 two ×2
  stages; :func:`companion.models.common.espcn_upsampler`) before the last conv, and ``same_grid`` the
  desubpixel head of :class:`companion.models.common.SingleScaleModel`; Chapter 4 uses RDN at ``scale=1``
  only, where input and output have the same size and ``same_grid`` changes nothing.

Readings chosen (the authors' clovaai/cutblur code has no RDN; the thesis names RDN and its size only):

* The upsampling net keeps G0 channels (the EDSR-PyTorch RDN uses G·r², the same at the paper's G = G0).
* The 1×1 convs of LFF and GFF have biases, like every conv here. Initialisation: PyTorch's default. The
  output is not clamped.
"""
from __future__ import annotations

import torch
from torch import nn

from companion.models.common import SingleScaleModel, espcn_upsampler

#: The registry entry (companion.models): name, label in tables, class, paper and quick sizes.
NAME, LABEL, MODEL = "rdn", "RDN", "RDN"
INIT = "PyTorch default U(±1/sqrt(fan_in)) for weights and biases"
PAPER_CONFIG = dict(scale=1, same_grid=False, channels=64, growth=64, blocks=16, layers=8)
# Dense blocks, local and global fusion and both residuals, small: 3 blocks of 3 layers at G0 = G = 16 (the
# paper's G = G0), sized for one CPU thread at full resolution.
QUICK_CONFIG = {**PAPER_CONFIG, "channels": 16, "growth": 16, "blocks": 3, "layers": 3}


class ResidualDenseBlock(nn.Module):
    """RDB: ``layers`` densely connected conv 3×3 + ReLU layers of ``growth`` channels, local feature fusion
    (1×1 back to ``channels``) and the local residual."""

    def __init__(self, channels: int, growth: int, layers: int):
        super().__init__()
        self.layers = nn.ModuleList(nn.Conv2d(channels + c * growth, growth, 3, padding=1) for c in range(layers))
        self.fusion = nn.Conv2d(channels + layers * growth, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in self.layers:
            features.append(torch.relu(conv(torch.cat(features, dim=1))))
        return x + self.fusion(torch.cat(features, dim=1))


class RDN(SingleScaleModel):
    """RDN: ``blocks`` residual dense blocks of ``layers`` layers (growth ``growth``) at ``channels`` = G0,
    for ×``scale`` (1 = restoration, the thesis' use); ``same_grid``: see
    :class:`companion.models.common.SingleScaleModel`."""

    label = "RDN"

    def __init__(self, scale: int = 1, same_grid: bool = False, channels: int = 64, growth: int = 64,
                 blocks: int = 16, layers: int = 8):
        super().__init__(scale, same_grid)
        if min(channels, growth, blocks, layers) < 1:
            raise ValueError(f"RDN needs positive channels, growth, blocks and layers; got {channels}, {growth}, "
                             f"{blocks}, {layers}")
        self.config = dict(scale=self.scale, same_grid=self.same_grid, channels=int(channels), growth=int(growth),
                           blocks=int(blocks), layers=int(layers))
        self.sfe1 = nn.Conv2d(self.in_channels, channels, 3, padding=1)   # shallow feature extraction: F₋₁
        self.sfe2 = nn.Conv2d(channels, channels, 3, padding=1)           # F₀
        self.blocks = nn.ModuleList(ResidualDenseBlock(channels, growth, layers) for _ in range(blocks))
        self.global_fusion = nn.Sequential(nn.Conv2d(blocks * channels, channels, 1),
                                           nn.Conv2d(channels, channels, 3, padding=1))
        self.upsample = espcn_upsampler(channels, self.scale)
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        f_minus1 = self.sfe1(self.grid_input(x, scale))
        h, outputs = self.sfe2(f_minus1), []
        for block in self.blocks:
            h = block(h)
            outputs.append(h)
        h = f_minus1 + self.global_fusion(torch.cat(outputs, dim=1))   # dense feature fusion (global residual)
        return self.tail(self.upsample(h))
