"""CARN-M: the mobile CARN, with efficient residual units shared recursively (thesis §2.3.3, Eq. 2.8–2.10,
Fig. 2.4, §2.4.5 and Fig. 2.8).

CARN (:mod:`companion.models.carn`) with two changes inside each cascading block:

    EResidual (Fig. 2.4a):  x ─ gconv 3×3 ─ ReLU ─ gconv 3×3 ─ ReLU ─ conv 1×1 ─(+ x)─ ReLU ─▶
    ECascading (Fig. 2.4b): one EResidual applied at all U positions of a cascading block (shared weights)

* **Efficient residual block** (§2.3.3): "two consecutive 3×3 group convolutions and a single pointwise
  convolution", G groups (``groups``); its cost relative to a standard residual block is
  ``1/G + 1/(2K²)`` (Eq. 2.10; :func:`companion.analysis.costs.eq_2_10_ratio`), from 1.8× (G = 2) to 14×
  (G = 64) fewer Mult-Adds for K = 3.
* **Recursion** ("R" in Fig. 2.8's labels such as G4R; ``recursive``): "we force the EResidual blocks to be
  shared in the cascading block, so only one-third of the parameters are needed" — the U units of a block are
  one module applied U times (kept once, as ``blocks.{b}.unit``); each of the B blocks has its own. The
  number of operations does not change. Without recursion (``recursive=False``) each position has its own
  EResidual (``blocks.{b}.units.{u}``).
* **Grouped upsampler**: the upsampler convs use the same G (``group_upsampler``), as the authors' code and
  released weights have it; it is what brings CARN-M's Mult-Adds to Table 2.4's 91.2 / 46.1 / 32.5 G.
* CARN-M is "G4R" (§2.4.5): G = 4 with recursion, everything else as CARN (C = 64, B = U = 3, local and
  global cascading, ×2/×3/×4 upsamplers, mean shift, PyTorch's default init).

Paper configuration (:data:`PAPER_CONFIG`): **414,787 trainable parameters**, the count of the authors'
released ``carn_m.pth`` (414,811 elements less the 24 of its two fixed mean-shift layers); Table 2.4 prints
412K, which is the count without biases (412,032; see :mod:`companion.analysis.costs`).

Readings (``reading``), as for CARN and named after their source:

* ``"thesis"`` (default): no ReLU after the 1×1 fusions; the entry features are added before the upsampler
  (global residual). The authors' PCARN-M weights (nmhkahn/PCARN-pytorch, ``PCARN-M-L1.pth``, ``PCARN-M.pth``)
  follow it; those files store the shared EResidual once per position (94 tensors), all copies equal.
* ``"code"``: the authors' CARN-M release (nmhkahn/CARN-pytorch, ``carn/model/carn_m.py``): a ReLU after
  every 1×1 fusion and no global residual; its ``carn_m.pth`` follows it (58 tensors, the shared unit once).

The state-dict names are the companion's own; each of the authors' names maps onto one of them by renaming
only (``b{i}`` → ``blocks.{i−1}``, ``c{j}`` → ``fusions.{j−1}``, the EResidual's convs → ``conv1``/``conv2``/
``pointwise``, ``upsample.up{s}.body.{k}`` → ``upsample.x{s}.{k}``; the mean-shift layers are fixed buffers
here, not weights). ``concat`` and ``global_residual``: as in :class:`companion.models.carn.CARN`.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from companion.models.carn import CascadingNetwork

#: The registry entry (companion.models): name, label in tables, class, paper and quick sizes.
NAME, LABEL, MODEL = "carn_m", "CARN-M", "CARNM"
#: What the model does: super-resolution models take ``forward(x, scale)`` and return s× larger images.
TASK = "super-resolution"
INIT = "PyTorch default U(±1/sqrt(fan_in)) for weights and biases (the authors' code; Table 2.3's best)"
PAPER_CONFIG = dict(channels=64, blocks=3, units=3, scales=(2, 3, 4), groups=4, recursive=True,
                    group_upsampler=True, reading="thesis", global_residual=None, concat="outputs")
# Half the width, the same G = 4 (8 channels per group), recursion and upsamplers.
QUICK_CONFIG = {**PAPER_CONFIG, "channels": 32}

#: Group counts for Fig. 2.8's efficiency sweep. The figure's exact set did not survive the text extraction;
#: the text names G4R (CARN-M) and G64R (depthwise at C = 64) and says compression gains fade above G = 4.
FIGURE_2_8_GROUPS = (1, 2, 4, 8, 16, 32, 64)


class EResidual(nn.Module):
    """Efficient residual block (Fig. 2.4a): ReLU(x + pointwise(ReLU(conv2(ReLU(conv1(x)))))), conv1/conv2
    3×3 with ``groups`` groups, pointwise 1×1 dense; C → C."""

    def __init__(self, channels: int, groups: int = 4):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, groups=groups)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, groups=groups)
        self.pointwise = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.conv2(F.relu(self.conv1(x))))
        return F.relu(x + self.pointwise(out))


class CARNM(CascadingNetwork):
    """CARN-M: CARN whose residual units are :class:`EResidual` blocks with ``groups`` groups, shared across the
    U positions of each block when ``recursive``; the upsampler convs are grouped too when
    ``group_upsampler``. ``forward(x, scale)`` as CARN. Fig. 2.8's family: :func:`efficient_variant`."""

    label = "CARN-M"

    def __init__(self, channels: int = 64, blocks: int = 3, units: int = 3, scales: Sequence[int] = (2, 3, 4),
                 groups: int = 4, recursive: bool = True, group_upsampler: bool = True, reading: str = "thesis",
                 global_residual: bool | None = None, concat: str = "outputs"):
        channels, blocks, units, groups = int(channels), int(blocks), int(units), int(groups)
        if groups < 1 or channels % groups:
            raise ValueError(f"groups must divide channels ({channels}); got {groups}")
        super().__init__(channels=channels, blocks=blocks, units=units, scales=scales, reading=reading,
                         make_unit=lambda: EResidual(channels, groups), shared=bool(recursive),
                         global_residual=global_residual, concat=concat,
                         upsample_groups=groups if group_upsampler else 1)
        self.config = dict(channels=channels, blocks=blocks, units=units, scales=self.scales, groups=groups,
                           recursive=bool(recursive), group_upsampler=bool(group_upsampler), reading=reading,
                           global_residual=global_residual if global_residual is None else bool(global_residual),
                           concat=concat)


def efficient_variant(groups: int, recursive: bool, **overrides) -> dict:
    """Constructor arguments of Fig. 2.8's model "G{groups}" (+ "R" when ``recursive``): CARN-M's paper
    configuration with that group count and recursion, updated with ``overrides``."""
    return {**PAPER_CONFIG, "groups": int(groups), "recursive": bool(recursive), **overrides}


def efficient_family(groups: Sequence[int] = FIGURE_2_8_GROUPS, recursive: Sequence[bool] = (False, True),
                     **overrides) -> dict[str, dict]:
    """Fig. 2.8's G/R family: ``{"G1": {...}, "G1R": {...}, …, "G64R": {...}}`` constructor arguments."""
    return {f"G{g}{'R' if r else ''}": efficient_variant(g, r, **overrides) for g in groups for r in recursive}
