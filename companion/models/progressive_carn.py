"""Progressive CARN for ×8 super-resolution (thesis Chapter 3, §3.3–3.4, Fig. 3.1, Algorithm 1, Table 3.1).

    x ─ −mean ─ entry ─▶ H⁰ ─ CARN 1 ─▶ F₂ ─ CARN 2 ─▶ F₄ ─ CARN 3 ─▶ F₈ ─ toRGB 3 ─ +mean ─▶ ŷ₈ (stage 3)
                                        │              └─ toRGB 2 ─ +mean ─▶ ŷ₄ (stage 2)
                                        └─ toRGB 1 ─ +mean ─▶ ŷ₂ (stage 1)

    CARN i:   B cascading blocks of U residual units with global cascading (CARN's body), + its input
              (global residual), then an ESPCN ×2 upsampler (conv 3×3 C → 4C → ReLU → PixelShuffle(2))

* **Modules** (§3.3.1, §3.4.1): "three B8U4 CARN body modules" (§3.4.2, Table 3.1): each is CARN's body
  (:class:`~companion.models.carn.CascadingBlock` with local cascading, 1×1 global-cascading fusions over the
  module's own blocks, no ReLU after the fusions in the thesis reading) followed by its own ×2 upsampler.
  §3.4.1 prints "B = 4 and U = 8"; §3.4.2 and Table 3.1 say B8U4, and only B8U4 reproduces the printed
  9.46M parameters and 2,144G Mult-Adds (B4U8 gives 9.88M), so B = 8, U = 4 (:data:`PAPER_CONFIG`).
* **toRGB** (§3.3.1): "a convolution layer that refines the details of the upsampled image": one conv 3×3,
  C → 3, per stage; "we removed the final convolution layer after the upsampling block" of CARN, so the
  toRGB head *is* the exit conv. Stage s's head reads the features after module s: ×2, ×4, ×8.
* **Stages** (§3.3.1, Fig. 3.1): stage 1 trains ×8 → ×4 (the output is 2× the LR input), stage 2 ×8 → ×2
  (4×), stage 3 ×8 → HR (8×). The earlier heads are "detached" when a stage ends: they are kept here, so
  ``forward(x, 2)`` / ``forward(x, 4)`` still give the intermediate images, but a stage's optimizer never sees
  them (:meth:`ProgressiveCARN.param_groups`) and the deployed ×8 network does not count them (Table 3.1's
  9.46M: :func:`companion.analysis.costs.called_parameter_count`).
* **Learning rates** (Algorithm 1 and §3.3.1): each new module (and its head) starts at γ = 1e-4 and, at the
  end of every stage, *all* learning rates so far are multiplied by 0.1 — so in stage 3 module 2 trains at
  0.1γ and module 1 (with the entry conv) at 0.01γ. The prose says "we reduce the learning rate of
  pre-trained modules ten times", which can also be read as 0.1γ for every earlier module whatever its age.
  ``decay="algorithm"`` (default) follows Algorithm 1, ``decay="prose"`` the one-off reading; the two differ
  only in stage 3. No module is frozen ("freezing the pre-trained modules would degrade the overall quality").
* **No blending**: the thesis replaces the fade-in ("smooth network transition") of Karras et al. by the
  learning-rate decay, so a new stage's output is simply the new head's.
* **Training** (§3.4.1, :data:`STAGES`): DIV2K bicubic ×8, RGB 48×48 LR patches, random horizontal flip and
  four 90° rotations; batch 32 / 8 / 2 for 1.5×10⁵ / 2×10⁵ / 3×10⁵ steps; Adam, γ = 1e-4. The target of
  stage s is the HR image bicubic-downscaled by 8 / 2^s (``stage_target_downscale``).
* **Self-ensemble "+"** (§3.4.1): :func:`companion.engine.ensemble.self_ensemble` (8 flips/rotations,
  inverted, averaged).

Readings chosen where the thesis is silent:

* Every module has CARN's **global residual** (the module's input added to its body's output before the
  upsampler, §2.3.1); the **mean shift** of CARN's code (DIV2K RGB mean subtracted from the input, added to
  every output) is kept; one shared **entry conv** (Algorithm 1's f(W_c)). None of these has parameters, so
  the counts do not depend on them. ``reading``/``concat``/``global_residual``: as in
  :class:`companion.models.carn.CARN` (there are no released progressive weights: the thesis reading is the
  default).
* **Table 3.1's CARN-B24U4** (``layout="end"``): "24 cascading blocks, each of four residual units", whose
  "total number of parameters is the same as that of the progressive CARN". A plain
  ``CARN(blocks=24, units=4, scales=(8,))`` has one global cascade over 24 blocks (1×1 fusions up to 25C
  inputs): 10.25M parameters, 420.9G Mult-Adds, not the printed 9.46M / 395G. The same three B8U4 modules
  run at LR resolution, their three ×2 upsamplers moved to the end as one ×8 upsampler (three ×2 stages)
  and one head, have exactly the progressive model's 9,461,443 parameters and 395.4G Mult-Adds at 1920×1080:
  that is the layout read here (:mod:`companion.analysis.costs`, ``TABLE_3_1``).

Paper configuration: **9,461,443** parameters on the ×8 path (entry 1,792 + 3 × (body 3,004,928 + upsampler
147,712) + head 1,731), 9,464,905 with the two earlier heads kept; 2,143,992,499,200 Mult-Adds for a
1920×1080 output (Table 3.1: 9.46M, 2,144G).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from companion.models.carn import (CONCATS, DIV2K_MEAN, READINGS, UPSAMPLER_SCALES, CascadingBlock, ResidualUnit,
                                   _ScaleBound, cascade, upsampler)
from companion.models.common import check_image_batch

#: The registry entry (companion.models): name, label in tables, class, paper and quick sizes.
NAME, LABEL, MODEL = "progressive_carn", "Progressive CARN", "ProgressiveCARN"
#: What the model does: super-resolution models take ``forward(x, scale)`` and return s× larger images.
TASK = "super-resolution"
INIT = "PyTorch default U(±1/sqrt(fan_in)) for weights and biases (as CARN; the thesis gives none for Ch.3)"
PAPER_CONFIG = dict(channels=64, blocks=8, units=4, stages=3, layout="progressive", reading="thesis",
                    global_residual=None, concat="outputs")
# Every part of the paper's (three stages, both cascades, heads), a quarter of the width and far fewer blocks.
QUICK_CONFIG = {**PAPER_CONFIG, "channels": 16, "blocks": 2, "units": 2}

LAYOUTS = ("progressive", "end")
DECAYS = ("algorithm", "prose")
#: Adam's learning rate γ of every stage's new module (§3.4.1).
LEARNING_RATE = 1e-4
#: Learning-rate factor applied at the end of each stage (Algorithm 1: Γ ← 0.1 × Γ).
STAGE_DECAY = 0.1


@dataclass(frozen=True)
class Stage:
    """One training stage of §3.4.1: its number, output scale (vs the LR input), batch size and steps."""
    stage: int
    scale: int
    batch_size: int
    steps: int


#: §3.4.1's schedule: 48×48 LR patches (``PATCH_SIZE``), batch 32 / 8 / 2 for 1.5e5 / 2e5 / 3e5 steps.
STAGES = (Stage(1, 2, 32, 150_000), Stage(2, 4, 8, 200_000), Stage(3, 8, 2, 300_000))
PATCH_SIZE = 48


def stage_target_downscale(stage: int, stages: int = 3) -> int:
    """By how much stage ``stage``'s target is the HR image downscaled: 8 / 2^s for ×8 (4, 2, 1)."""
    if not 1 <= stage <= stages:
        raise ValueError(f"stage must be 1..{stages}; got {stage!r}")
    return 2 ** (stages - stage)


class ProgressiveModule(nn.Module):
    """One stage's CARN module: ``blocks`` cascading blocks (``units`` residual units each) with global
    cascading over them, the global residual, and (``upsample=True``) an ESPCN ×2 upsampler.

    Submodules: ``blocks.{b}``, ``fusions.{b}`` (global 1×1 convs), ``upsample`` (or none)."""

    def __init__(self, channels: int, blocks: int, units: int, *, fusion_relu: bool, concat: str,
                 global_residual: bool, upsample: bool = True):
        super().__init__()
        self.fusion_relu, self.concat, self.global_residual = fusion_relu, concat, global_residual
        self.blocks = nn.ModuleList(
            CascadingBlock(channels, units, lambda: ResidualUnit(channels), fusion_relu=fusion_relu, concat=concat)
            for _ in range(blocks))
        self.fusions = nn.ModuleList(nn.Conv2d(channels * (b + 2), channels, 1) for b in range(blocks))
        self.upsample = upsampler(channels, 2) if upsample else None

    def body(self, h: torch.Tensor) -> torch.Tensor:
        out = cascade(h, list(self.blocks), self.fusions, relu=self.fusion_relu, concat=self.concat)
        return out + h if self.global_residual else out

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out = self.body(h)
        return self.upsample(out) if self.upsample is not None else out


class ProgressiveCARN(nn.Module):
    """Progressive CARN: ``stages`` CARN modules (B = ``blocks``, U = ``units``, C = ``channels``), each followed
    by a ×2 upsampler and with its own toRGB head; ``forward(x, scale)`` returns the 2^s× image of stage s
    (``scale`` in :attr:`scales`, default the last). ``layout="end"``: Table 3.1's CARN-B24U4 reading, the same
    modules at LR resolution followed by one ×2^stages upsampler and one head (see the module docstring).

    State-dict names: ``entry``, ``carn.{i}`` (:class:`ProgressiveModule`, Fig. 3.1's "CARN i+1"), ``to_rgb.{i}``; with
    ``layout="end"`` also ``upsample`` (the ×2^stages upsampler). The mean is a non-persistent buffer.
    """

    label = "Progressive CARN"

    def __init__(self, channels: int = 64, blocks: int = 8, units: int = 4, stages: int = 3,
                 layout: str = "progressive", reading: str = "thesis", global_residual: bool | None = None,
                 concat: str = "outputs"):
        super().__init__()
        channels, blocks, units, stages = int(channels), int(blocks), int(units), int(stages)
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
        if reading not in READINGS:
            raise ValueError(f"reading must be one of {', '.join(READINGS)} (named after its source); got {reading!r}")
        if concat not in CONCATS:
            raise ValueError(f"concat must be one of {', '.join(CONCATS)}; got {concat!r}")
        if channels < 1 or blocks < 1 or units < 1 or stages < 1:
            raise ValueError(f"channels, blocks, units and stages must be >= 1; got {channels}, {blocks}, {units}, "
                             f"{stages}")
        if layout == "end" and 2 ** stages not in UPSAMPLER_SCALES:
            raise ValueError(f"layout='end' needs a ×{2 ** stages} upsampler; stages must be 1, 2 or 3")
        passed = global_residual if global_residual is None else bool(global_residual)
        if global_residual is None:
            global_residual = reading == "thesis"
        elif global_residual and reading == "code":
            raise ValueError("the authors' CARN code (reading='code') has no global residual; leave global_residual "
                             "unset or use reading='thesis'")
        self.layout, self.n_stages, self.reading = layout, stages, reading
        self.scales = tuple(2 ** s for s in range(1, stages + 1)) if layout == "progressive" else (2 ** stages,)
        self.register_buffer("mean", torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1), persistent=False)
        self.entry = nn.Conv2d(3, channels, 3, padding=1)
        progressive = layout == "progressive"
        self.carn = nn.ModuleList(
            ProgressiveModule(channels, blocks, units, fusion_relu=reading == "code", concat=concat,
                              global_residual=bool(global_residual), upsample=progressive) for _ in range(stages))
        self.upsample = None if progressive else upsampler(channels, 2 ** stages)
        self.to_rgb = nn.ModuleList(nn.Conv2d(channels, 3, 3, padding=1) for _ in range(stages if progressive else 1))
        # config keeps what was passed (None = "as the reading says"), as CARN's does
        self.config = dict(channels=channels, blocks=blocks, units=units, stages=stages, layout=layout,
                           reading=reading, global_residual=passed, concat=concat)

    # ------------------------------------------------------------------ forward

    def _scale(self, scale: int | None) -> int:
        if scale is None:
            return self.scales[-1]
        if isinstance(scale, bool) or int(scale) != scale or int(scale) not in self.scales:
            raise ValueError(f"{self.label} has no ×{scale} output; it has ×{', ×'.join(map(str, self.scales))}")
        return int(scale)

    def forward(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        check_image_batch(x, self.label)
        s = self._scale(scale)
        h = self.entry(x - self.mean)
        if self.layout == "end":
            for module in self.carn:
                h = module(h)
            return self.to_rgb[0](self.upsample(h)) + self.mean
        stage = s.bit_length() - 1
        for module in self.carn[:stage]:
            h = module(h)
        return self.to_rgb[stage - 1](h) + self.mean

    def outputs(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Every stage's image from one pass: ``{2: ŷ₂, 4: ŷ₄, 8: ŷ₈}`` (``layout="end"``: the last only)."""
        check_image_batch(x, self.label)
        if self.layout == "end":
            return {self.scales[-1]: self.forward(x)}
        h, out = self.entry(x - self.mean), {}
        for i, module in enumerate(self.carn):
            h = module(h)
            out[2 ** (i + 1)] = self.to_rgb[i](h) + self.mean
        return out

    def at_scale(self, scale: int) -> nn.Module:
        """This model with ``scale`` fixed, ``forward(x)`` only (what ``engine.inference.restore`` calls)."""
        return _ScaleBound(self, self._scale(scale))

    # ------------------------------------------------------------------ staged training

    def stage_modules(self, stage: int) -> dict[str, list[nn.Module]]:
        """What stage ``stage`` (1-based) trains, by group name: ``entry``, ``module1`` … ``module{stage}``,
        ``to_rgb{stage}``; earlier heads are detached (absent), later modules not built yet."""
        if self.layout != "progressive":
            raise ValueError("staged training needs layout='progressive'; layout='end' trains in one stage")
        if isinstance(stage, bool) or int(stage) != stage or not 1 <= stage <= self.n_stages:
            raise ValueError(f"stage must be 1..{self.n_stages}; got {stage!r}")
        stage = int(stage)
        groups = {"entry": [self.entry]}
        groups.update({f"module{j + 1}": [self.carn[j]] for j in range(stage)})
        groups[f"to_rgb{stage}"] = [self.to_rgb[stage - 1]]
        return groups

    def stage_lr_factors(self, stage: int, decay: str = "algorithm") -> dict[str, float]:
        """The learning-rate factor (× γ) of each group of :meth:`stage_modules`: ``"algorithm"`` (Algorithm 1,
        cumulative: module j at 0.1^(stage−j), the entry conv with module 1) or ``"prose"`` (every earlier
        module at 0.1); the new module and its head at 1."""
        if decay not in DECAYS:
            raise ValueError(f"decay must be one of {', '.join(DECAYS)}; got {decay!r}")
        names = self.stage_modules(stage)
        stage = int(stage)

        def factor(age: int) -> float:  # age: stages since the group was added
            if age == 0:
                return 1.0
            return STAGE_DECAY ** age if decay == "algorithm" else STAGE_DECAY

        out = {}
        for name in names:
            if name == "entry":
                out[name] = factor(stage - 1)
            elif name.startswith("module"):
                out[name] = factor(stage - int(name.removeprefix("module")))
            else:
                out[name] = 1.0
        return out

    def param_groups(self, stage: int, lr: float = LEARNING_RATE, decay: str = "algorithm") -> list[dict]:
        """Optimizer parameter groups for stage ``stage``: ``[{"name", "params", "lr"}, …]`` for
        ``torch.optim.Adam(model.param_groups(2))``; see :meth:`stage_lr_factors`."""
        factors = self.stage_lr_factors(stage, decay)
        groups = []
        for name, modules in self.stage_modules(stage).items():
            params = [p for m in modules for p in m.parameters() if p.requires_grad]
            groups.append({"name": name, "params": params, "lr": float(f"{lr * factors[name]:.12g}")})
        return groups
