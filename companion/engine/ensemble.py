"""Geometric self-ensemble, the "+" of thesis Tables 3.1–3.2 (§3.4.1, after EDSR [14]).

"We flip and rotate LR images to make eight augmented images. Then, we generate SR images from the
augmented ones and average these after recovering the original geometry by inverse transformation."
The eight transforms are the dihedral group of the square: a rotation by k·90° (k = 0..3) of the image,
optionally flipped left-right first. Each output is mapped back by the inverse (rotate by −k·90°, then
flip), so any model whose output is a spatially scaled copy of its input's geometry (restoration, ×s
super-resolution) can be averaged. Non-square images work: rotated inputs have height and width swapped
and the inverse swaps them back. The eight passes run one after the other (memory of one pass), which is
why the thesis reports the "+" model as slower, not larger: it costs 8 × the Mult-Adds of one pass.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

#: (flip, quarter turns) of the eight transforms, identity first.
TRANSFORMS = tuple((flip, k) for flip in (False, True) for k in range(4))


def transform(x: torch.Tensor, flip: bool, k: int) -> torch.Tensor:
    """``x`` (…×H×W) flipped left-right when ``flip``, then rotated by ``k`` quarter turns."""
    if flip:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, k, dims=(-2, -1))


def inverse_transform(y: torch.Tensor, flip: bool, k: int) -> torch.Tensor:
    """Undo :func:`transform`: rotate by −``k`` quarter turns, then flip back."""
    y = torch.rot90(y, -k, dims=(-2, -1))
    return torch.flip(y, dims=(-1,)) if flip else y


def self_ensemble(model_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The mean of ``inverse_transform(model_fn(transform(x)))`` over the eight :data:`TRANSFORMS`.

    ``model_fn``: any callable taking a B×C×H×W batch (e.g. ``lambda t: model(t, 8)``, or
    ``model.at_scale(8)``); ``x``: B×C×H×W (or C×H×W). Runs under the caller's grad mode; accumulates in
    float32 or the output's dtype if wider."""
    total = None
    for flip, k in TRANSFORMS:
        y = inverse_transform(model_fn(transform(x, flip, k)), flip, k)
        if total is None:
            total = y.to(torch.promote_types(y.dtype, torch.float32)).clone()
        else:
            if y.shape != total.shape:
                raise ValueError(f"model_fn's output under transform (flip={flip}, k={k}) maps back to "
                                 f"{tuple(y.shape)}, not {tuple(total.shape)}: it is not geometry-preserving")
            total += y
    return (total / len(TRANSFORMS)).to(total.dtype)
