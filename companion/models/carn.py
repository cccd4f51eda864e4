"""CARN: the cascading residual network for super-resolution (thesis §2.3.1, Eq. 2.1–2.3, Fig. 2.1–2.2).

    x ─ −mean ─ entry ─▶ H⁰ ─ block 1 ─ 1×1 ─▶ H¹ ─ block 2 ─ 1×1 ─▶ H² ─ block 3 ─ 1×1 ─▶ H³ ─(+ H⁰)─▶
        ─ upsampler ×s (conv 3×3 → ReLU → PixelShuffle; ×4 = two ×2 stages) ─ exit ─ +mean ─▶ ŷ (s× larger)

    cascading block i (local cascading, Eq. 2.1–2.2; U residual units R_u and U 1×1 fusions g_u):
        B^{i,0} = H^{i−1};   B^{i,u} = g_u([ …cascaded features…, R_u(B^{i,u−1}) ]);   output B^{i,U}

    residual unit R: conv 3×3 → ReLU → conv 3×3, + input, ReLU

* **Entry** ``f``: conv 3×3, 3 → C (Eq. 2.3's ``H⁰ = f(X; W_c)``). **Exit**: conv 3×3, C → 3.
* **Local cascading** (Eq. 2.1–2.2, Fig. 2.2b): after residual unit u of a block, the features cascaded so far
  and the unit's output are concatenated and a 1×1 conv ``g_u`` fuses them back to C channels; the fusion
  feeds the next unit. Inputs of the 1×1 convs: 2C, 3C, …, (U+1)C.
* **Global cascading** (Eq. 2.3, Fig. 2.1): the same pattern one level up, over the cascading blocks, with
  the entry output H⁰ as the first feature.
* **Global residual** (§2.3.1, design choice 1): ``O = H^B + H⁰`` goes to the upsampler.
* **No ReLU after the 1×1 fusions** (§2.3.1, design choice 2: they "marginally decreased the performance");
  ReLU inside the upsampler.
* **Upsampler** (ESPCN [28], §2.4.1): conv 3×3 C → C·r² → ReLU → PixelShuffle(r); ×2 and ×3 one stage, ×4
  two ×2 stages. The multi-scale network (§2.3.1, "embedding all up-sample blocks to a single network")
  holds one upsampler per scale and shares everything else; ``forward(x, scale)`` picks the branch.
* **Mean shift**: the DIV2K RGB mean (0.4488, 0.4371, 0.4040) is subtracted from the input and added to the
  output; fixed, not trained (the authors' code; the text does not mention it).

Paper configuration (:data:`PAPER_CONFIG`: C = 64, B = 3, U = 3, scales ×2/×3/×4): **1,591,939 trainable
parameters** (Table 2.4 prints 1,592K; Tables 2.5–2.7 print 1,589K, which is the count without biases,
1,588,608; see :mod:`companion.analysis.costs`). Table 2.1's single-scale ×4 variants (:data:`TABLE_2_1`):
963,651 / 1,074,819 / 1,000,707 / 1,111,875 / 1,111,875, the printed 963K / 1,074K / 1,000K / 1,111K /
1,111K once truncated to K, as that table does.

Two readings (``reading``), named after their source; they differ in what the weights mean, not in their
shapes, so each of the authors' checkpoints belongs to one of them:

* ``"thesis"`` (default): the text above: no ReLU after the 1×1 fusions, global residual. The authors'
  thesis-era code (nmhkahn/PCARN-pytorch, ``pcarn/model/ecarn.py``) implements this reading, and its released
  PCARN / PCARN-M weights follow it.
* ``"code"``: the authors' CARN release (nmhkahn/CARN-pytorch, ``carn/model/carn.py`` and ``carn_m.py``): a
  ReLU after every 1×1 fusion (local and global) and no global residual; its released ``carn.pth`` and
  ``carn_m.pth`` follow it.

Other readings chosen:

* **What the cascade concatenates** (``concat``). Eq. 2.2–2.3 as printed concatenate the *fused* features
  ``[B^{i,0}, …, B^{i,u−1}, R_u(B^{i,u−1})]``. Both of the authors' codes concatenate the running list of
  the *units' own outputs*, ``[B^{i,0}, R_1, …, R_u]`` (and ``[H⁰, block₁, …, block_b]`` one level up), and
  the released weights of both readings were trained that way; the figures that would settle it (Fig.
  2.1–2.2) did not survive the text extraction. ``concat="outputs"`` (default) follows the codes,
  ``concat="fused"`` the equations as printed. Channel and parameter counts are identical.
* **Table 2.1's variants**: ``local_cascade`` / ``global_cascade`` switch the 1×1 fusions of a level off (the
  units / blocks are then simply chained: the SRResNet-like baseline of §2.4.3 has none), and
  ``global_residual`` the final addition. The rows Baseline, +Local, +Global and +L/G have no global
  residual; +Residual is the full CARN (:data:`TABLE_2_1`). ``global_residual=None`` (default) means "as
  the reading says": yes for ``"thesis"``, no for ``"code"``.
* **Initialisation**: PyTorch's default for every conv, U(±1/√fan_in) for weights and biases with fan_in =
  C_in·k² (per group). This is the authors' code (no explicit init) and the best row of Table 2.3,
  1.0 × U(±√(1/F)); §2.4.1's "k = 1/√c_in, c_in the number of channels" is read as Table 2.3's F, the
  fan-in.
* The output is not clamped to [0, 1]; evaluation clamps (and rounds) it.
* **Same grid** (thesis §4.3.3, Chapter 4's CARN; ``same_grid=True``, one scale only): the input is the LR
  image already upsampled to the output grid (sH×sW); it is pixel-unshuffled by s (the "desubpixel" layer)
  after the mean shift, so the entry conv takes 3·s² channels, and the output has the input's size. Chapter
  4's single-scale ×4 CARN then has 1,137,795 parameters (1,111,875 plain, +25,920 for the 48-channel entry):
  the thesis' 1.1M (Chapter 4) and Table 5.4's 1.14M, which only the same-grid count matches. With
  ``same_grid=False`` (the default) nothing changes: ``config`` has no ``same_grid`` key and the state-dict
  names and shapes are those of the model zoo's checkpoints. The authors' Chapter 4 code (clovaai/cutblur
  ``model/carn.py``) orders the unshuffled channels colour-last, ``pixel_unshuffle`` colour-first (a
  permutation of the entry conv's inputs), and has no ReLU in its upsampler nor after its residual units;
  the same-grid CARN here keeps Chapter 2's units and upsampler, ReLUs included.

:class:`CARN` is built on :class:`CascadingNetwork`, which :mod:`companion.models.carn_m` reuses with its
efficient residual unit.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from companion.models.common import check_image_batch

#: The registry entry (companion.models): name, label in tables, class, paper and quick sizes.
NAME, LABEL, MODEL = "carn", "CARN", "CARN"
#: What the model does: super-resolution models take ``forward(x, scale)`` and return s× larger images.
TASK = "super-resolution"
INIT = "PyTorch default U(±1/sqrt(fan_in)) for weights and biases (the authors' code; Table 2.3's best)"
PAPER_CONFIG = dict(channels=64, blocks=3, units=3, scales=(2, 3, 4), reading="thesis", local_cascade=True,
                    global_cascade=True, global_residual=None, concat="outputs")
# A CPU-sized CARN with every part of the paper's (B = U = 3, both cascades, three upsamplers): half the width,
# about a quarter of the parameters and Mult-Adds.
QUICK_CONFIG = {**PAPER_CONFIG, "channels": 32}

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)
READINGS = ("thesis", "code")
CONCATS = ("outputs", "fused")
UPSAMPLER_SCALES = (2, 3, 4, 8)

#: Table 2.1's rows (§2.4.3, single-scale ×4): constructor overrides of the paper configuration.
TABLE_2_1 = {
    "Baseline": dict(scales=(4,), local_cascade=False, global_cascade=False, global_residual=False),
    "+Local": dict(scales=(4,), local_cascade=True, global_cascade=False, global_residual=False),
    "+Global": dict(scales=(4,), local_cascade=False, global_cascade=True, global_residual=False),
    "+L/G": dict(scales=(4,), local_cascade=True, global_cascade=True, global_residual=False),
    "+Residual": dict(scales=(4,), local_cascade=True, global_cascade=True, global_residual=True),
}


class ResidualUnit(nn.Module):
    """R(x) = ReLU(x + conv2(ReLU(conv1(x)))): CARN's residual block (Fig. 2.2a), 3×3 convs, C → C."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


def upsampler(channels: int, scale: int, groups: int = 1) -> nn.Sequential:
    """ESPCN upsampler: (conv 3×3 C → C·r² (``groups``) → ReLU → PixelShuffle(r)) per stage; ×4 and ×8 are
    ×2 stages. The convs sit at indices 0, 3, 6 of the returned Sequential."""
    if scale not in UPSAMPLER_SCALES:
        raise ValueError(f"upsampler scales are {', '.join(map(str, UPSAMPLER_SCALES))}; got {scale!r}")
    stages = [3] if scale == 3 else [2] * {2: 1, 4: 2, 8: 3}[scale]
    layers = []
    for r in stages:
        layers += [nn.Conv2d(channels, channels * r * r, 3, padding=1, groups=groups), nn.ReLU(inplace=True),
                   nn.PixelShuffle(r)]
    return nn.Sequential(*layers)


def cascade(x: torch.Tensor, stages: Sequence[Callable], fusions: Sequence[nn.Module], *, relu: bool,
            concat: str) -> torch.Tensor:
    """Run ``stages`` one after the other with cascading 1×1 ``fusions`` (Eq. 2.2 / 2.3); without fusions,
    simply chain them. ``concat``: "outputs" (the authors' codes) or "fused" (the equations as printed)."""
    if not fusions:
        for stage in stages:
            x = stage(x)
        return x
    features, out = [x], x
    for stage, fuse in zip(stages, fusions):
        r = stage(out)
        out = fuse(torch.cat(features + [r], dim=1))
        if relu:
            out = F.relu(out)
        features.append(r if concat == "outputs" else out)
    return out


class CascadingBlock(nn.Module):
    """One cascading block: ``units`` residual units with local cascading (Eq. 2.1–2.2).

    ``make_unit()`` builds a unit. ``shared``: build one and apply it at every position (the recursive
    ECascading block of §2.3.3, kept once as ``self.unit``); otherwise ``self.units`` holds one per position.
    ``local_cascade=False`` chains the units without 1×1 fusions.
    """

    def __init__(self, channels: int, units: int, make_unit: Callable[[], nn.Module], *, shared: bool = False,
                 local_cascade: bool = True, fusion_relu: bool = False, concat: str = "outputs"):
        super().__init__()
        self.n_units, self.shared, self.fusion_relu, self.concat = units, shared, fusion_relu, concat
        if shared:
            self.unit = make_unit()
        else:
            self.units = nn.ModuleList(make_unit() for _ in range(units))
        self.fusions = nn.ModuleList(nn.Conv2d(channels * (u + 2), channels, 1) for u in range(units)) \
            if local_cascade else nn.ModuleList()

    def stages(self) -> list[nn.Module]:
        """The unit applied at each of the U positions (the same module U times when shared)."""
        return [self.unit] * self.n_units if self.shared else list(self.units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cascade(x, self.stages(), self.fusions, relu=self.fusion_relu, concat=self.concat)


class _ScaleBound(nn.Module):
    """A multi-scale model with its scale fixed: ``forward(x) = model(x, scale)`` (for ``engine.inference``)."""

    def __init__(self, model: nn.Module, scale: int):
        super().__init__()
        self.model, self.scale = model, int(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, self.scale)


class CascadingNetwork(nn.Module):
    """The CARN skeleton shared by CARN and CARN-M: mean shift, entry, B cascading blocks with global cascading,
    global residual, one upsampler per scale, exit. Subclasses give the residual unit and store ``config``.

    Submodules (state-dict names): ``entry``, ``blocks.{b}`` (:class:`CascadingBlock`), ``fusions.{b}``
    (global 1×1 convs), ``upsample.x{s}`` (:func:`upsampler`), ``exit``. The mean is a non-persistent buffer.
    """

    label = "CARN"

    def __init__(self, *, channels: int, blocks: int, units: int, scales: Sequence[int], reading: str,
                 make_unit: Callable[[], nn.Module], shared: bool = False, local_cascade: bool = True,
                 global_cascade: bool = True, global_residual: bool | None = None, concat: str = "outputs",
                 upsample_groups: int = 1, same_grid: bool = False):
        super().__init__()
        if reading not in READINGS:
            raise ValueError(f"reading must be one of {', '.join(READINGS)} (named after its source); got {reading!r}")
        if concat not in CONCATS:
            raise ValueError(f"concat must be one of {', '.join(CONCATS)}; got {concat!r}")
        if channels < 1 or blocks < 1 or units < 1:
            raise ValueError(f"channels, blocks and units must be >= 1; got {channels}, {blocks}, {units}")
        if not scales or len(set(scales)) != len(scales) or any(s not in UPSAMPLER_SCALES for s in scales):
            raise ValueError(f"scales must be distinct values among {UPSAMPLER_SCALES}; got {tuple(scales)!r}")
        if same_grid and len(scales) != 1:
            raise ValueError(f"a same-grid {self.label} takes one scale (its entry conv sees 3·s² channels); "
                             f"got scales={tuple(scales)!r}")
        if global_residual is None:
            global_residual = reading == "thesis"
        elif global_residual and reading == "code":
            raise ValueError("the authors' code (reading='code') has no global residual; leave global_residual "
                             "unset or use reading='thesis'")
        self.reading, self.scales = reading, tuple(int(s) for s in scales)
        self.global_residual, self.fusion_relu, self.concat = bool(global_residual), reading == "code", concat
        self.register_buffer("mean", torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1), persistent=False)
        self.same_grid = bool(same_grid)
        self.entry = nn.Conv2d(3 * self.scales[0] ** 2 if self.same_grid else 3, channels, 3, padding=1)
        self.blocks = nn.ModuleList(
            CascadingBlock(channels, units, make_unit, shared=shared, local_cascade=local_cascade,
                           fusion_relu=self.fusion_relu, concat=concat) for _ in range(blocks))
        self.fusions = nn.ModuleList(nn.Conv2d(channels * (b + 2), channels, 1) for b in range(blocks)) \
            if global_cascade else nn.ModuleList()
        self.upsample = nn.ModuleDict({f"x{s}": upsampler(channels, s, upsample_groups) for s in self.scales})
        self.exit = nn.Conv2d(channels, 3, 3, padding=1)

    def _scale(self, scale: int | None) -> int:
        if scale is None:
            if len(self.scales) == 1:
                return self.scales[0]
            raise ValueError(f"{self.label} holds upsamplers for ×{', ×'.join(map(str, self.scales))}: "
                             "call model(x, scale)")
        if isinstance(scale, bool) or int(scale) != scale or int(scale) not in self.scales:
            raise ValueError(f"{self.label} has no ×{scale} upsampler; it has ×{', ×'.join(map(str, self.scales))}")
        return int(scale)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """O: the body's output that enters the upsampler (``H^B``, plus ``H⁰`` with the global residual)."""
        x = x - self.mean
        h0 = self.entry(F.pixel_unshuffle(x, self.scales[0]) if self.same_grid else x)
        h = cascade(h0, list(self.blocks), self.fusions, relu=self.fusion_relu, concat=self.concat)
        return h + h0 if self.global_residual else h

    def forward(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        check_image_batch(x, self.label, multiple=self.scales[0] if self.same_grid else 1)
        s = self._scale(scale)
        return self.exit(self.upsample[f"x{s}"](self.features(x))) + self.mean

    def at_scale(self, scale: int) -> nn.Module:
        """This model with ``scale`` fixed, ``forward(x)`` only (what ``engine.inference.restore`` calls)."""
        return _ScaleBound(self, self._scale(scale))


class CARN(CascadingNetwork):
    """CARN with C = ``channels``, B = ``blocks`` cascading blocks of U = ``units`` residual units, one upsampler
    per entry of ``scales``; ``forward(x, scale)`` returns the s× image (``scale`` may be left out when the
    model holds one scale). ``reading``, ``local_cascade``, ``global_cascade``, ``global_residual``,
    ``concat``, ``same_grid``: see the module docstring."""

    label = "CARN"

    def __init__(self, channels: int = 64, blocks: int = 3, units: int = 3, scales: Sequence[int] = (2, 3, 4),
                 reading: str = "thesis", local_cascade: bool = True, global_cascade: bool = True,
                 global_residual: bool | None = None, concat: str = "outputs", same_grid: bool = False):
        channels, blocks, units = int(channels), int(blocks), int(units)
        super().__init__(channels=channels, blocks=blocks, units=units, scales=scales, reading=reading,
                         make_unit=lambda: ResidualUnit(channels), local_cascade=bool(local_cascade),
                         global_cascade=bool(global_cascade), global_residual=global_residual, concat=concat,
                         same_grid=same_grid)
        self.config = dict(channels=channels, blocks=blocks, units=units, scales=self.scales, reading=reading,
                           local_cascade=bool(local_cascade), global_cascade=bool(global_cascade),
                           global_residual=global_residual if global_residual is None else bool(global_residual),
                           concat=concat)
        if self.same_grid:      # only then: the zoo's checkpoints are keyed by the config without it
            self.config["same_grid"] = True
