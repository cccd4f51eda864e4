"""What every restoration model in the companion shares: the input check and He initialisation.

Every model maps a distorted RGB batch ``B×3×H×W`` (float, [0, 1]) to a restored batch of the same shape,
and keeps its constructor arguments in ``self.config`` (a plain dict) so a checkpoint can say which
architecture and configuration its weights belong to.
"""
from __future__ import annotations

import torch
from torch import nn

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
