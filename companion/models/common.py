"""What every restoration model in the companion shares: the input check and He initialisation; and what the
single-scale models of thesis Chapter 4 share (§4.3.3, "Baselines"): the same-grid input and the ESPCN upsampler.

Every model maps a distorted RGB batch ``B×3×H×W`` (float, [0, 1]) to a restored batch of the same shape,
and keeps its constructor arguments in ``self.config`` (a plain dict) so a checkpoint can say which
architecture and configuration its weights belong to.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from companion.errors import CompanionError


def check_image_batch(x: torch.Tensor, model: str, *, min_side: int = 1, multiple: int = 1) -> None:
    """Raise a one-line :class:`CompanionError` unless ``x`` is a ``B×3×H×W`` float batch the model can take.

    ``min_side``: the smallest height/width the model accepts; ``multiple``: height and width must be
    multiples of it (models with down-sampling).
    """
    if not isinstance(x, torch.Tensor):
        raise CompanionError(f"{model} takes a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != 3:
        raise CompanionError(f"{model} takes a B×3×H×W RGB batch, got shape {tuple(x.shape)}; "
                             "add the batch dimension with x[None] and drop alpha/greyscale first")
    if not x.is_floating_point():
        raise CompanionError(f"{model} takes float images in [0, 1], got dtype {x.dtype}; divide uint8 by 255")
    h, w = x.shape[-2:]
    if min(h, w) < min_side:
        raise CompanionError(f"{model} needs images of at least {min_side}×{min_side} px, got {w}×{h}")
    if h % multiple or w % multiple:
        raise CompanionError(f"{model} needs height and width divisible by {multiple}, got {w}×{h}; "
                             "pad or crop the image")


def he_init(module: nn.Module) -> None:
    """He (Kaiming) normal initialisation of every conv and linear weight, zero biases (thesis §7.5, [51])."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, each shared tensor counted once."""
    seen, total = set(), 0
    for p in model.parameters():
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def to_channels_last(model: nn.Module) -> nn.Module:
    """Put every 4-D parameter and buffer of ``model`` in channels-last memory format, in place.

    ``model.to(memory_format=torch.channels_last)`` refuses any parameter that is not 4-D, such as MEPSNet's
    5-D template bank (K×C×C×3×3); this converts the convolution weights and leaves the rest alone.
    """
    with torch.no_grad():
        for tensor in list(model.parameters()) + list(model.buffers()):
            if tensor.ndim == 4:
                tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    return model


# ---------------------------------------------------------------- single-scale models of Chapter 4 (§4.3.3)

#: The DIV2K training set's RGB mean in [0, 1]: EDSR and RCAN subtract it from the input and add it to the
#: output, a fixed shift that is not trained (the authors' code, clovaai/cutblur ``model/ops.py``).
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)
#: The scales a :class:`SingleScaleModel` takes (1 = restoration at the same size).
SINGLE_SCALES = (1, 2, 3, 4)


def espcn_upsampler(channels: int, scale: int) -> nn.Sequential:
    """ESPCN upsampler without activation (EDSR, RCAN, RDN): conv 3×3 C → C·r² then PixelShuffle(r), one stage
    for ×2 and ×3, two ×2 stages for ×4; empty (the identity) for ×1."""
    if scale not in SINGLE_SCALES:
        raise ValueError(f"the upsampler takes scale {', '.join(map(str, SINGLE_SCALES))}; got {scale!r}")
    stages = {1: [], 2: [2], 3: [3], 4: [2, 2]}[scale]
    layers = []
    for r in stages:
        layers += [nn.Conv2d(channels, channels * r * r, 3, padding=1), nn.PixelShuffle(r)]
    return nn.Sequential(*layers)


class SingleScaleModel(nn.Module):
    """The input side of a single-scale model of Chapter 4: its scale, the same-grid option and the checks.

    ``scale`` s: the output is s× the LR image (1 = restoration: output size = input size). ``same_grid``
    (thesis §4.3.3): the input is the LR image already on the output grid (§4.3.1's x^s_LQ, sH×sW), and
    :meth:`grid_input` pixel-unshuffles it by s (the "desubpixel" layer [103]) so that the first conv sees
    3·s² channels at H×W (:attr:`in_channels`); the output is then sH×sW, the input's size. The channel order
    is ``torch.nn.functional.pixel_unshuffle``'s (colour-major, c·s² + i·s + j); the authors' ``DownBlock``
    (clovaai/cutblur ``model/ops.py``) puts the colour last ((i·s + j)·3 + c), which only permutes the first
    conv's input channels.

    ``forward(x, scale=None)`` and :meth:`at_scale` accept only the model's own scale, so the callers written
    for the multi-scale CARN (``model(x, s)``, ``model.at_scale(s)``) work unchanged.
    """

    label = "model"

    def __init__(self, scale: int, same_grid: bool):
        super().__init__()
        if isinstance(scale, bool) or int(scale) != scale or int(scale) not in SINGLE_SCALES:
            raise ValueError(f"{self.label} takes scale {', '.join(map(str, SINGLE_SCALES))}; got {scale!r}")
        self.scale, self.same_grid = int(scale), bool(same_grid)

    @property
    def in_channels(self) -> int:
        """Channels of the first conv: 3·s² on the same grid, else 3."""
        return 3 * self.scale ** 2 if self.same_grid else 3

    def check_scale(self, scale: int | None) -> None:
        """Raise a one-line :class:`CompanionError` unless ``scale`` is None or the model's own."""
        if scale is not None and (isinstance(scale, bool) or scale != self.scale):
            raise CompanionError(f"{self.label} is a ×{self.scale} model; got scale={scale!r} "
                                 "(build one at that scale)")

    def at_scale(self, scale: int) -> nn.Module:
        """This model (``forward(x)`` is already at its one scale), after checking ``scale``."""
        self.check_scale(scale)
        return self

    def grid_input(self, x: torch.Tensor, scale: int | None = None, mean: torch.Tensor | None = None) -> torch.Tensor:
        """Check ``x`` (and ``scale``), subtract ``mean`` (1×3×1×1) when given, and on the same grid
        pixel-unshuffle by s: B×3×sH×sW → B×3s²×H×W."""
        self.check_scale(scale)
        check_image_batch(x, self.label, multiple=self.scale if self.same_grid else 1)
        if mean is not None:
            x = x - mean
        return F.pixel_unshuffle(x, self.scale) if self.same_grid and self.scale > 1 else x
