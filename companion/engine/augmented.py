"""Chapter 4's augmentations inside the training loop (thesis §4.3.2: MoA is applied to every training batch):
an augmenting ``batch`` function and the masked loss Cutout needs (Table 4.1: "Cutout-ed pixels are discarded
when calculating loss").

:func:`augmented` wraps the two things :func:`companion.engine.loop.train` takes, in one call::

    batch, loss = augmented(paired_batch("distorted", "clean"), LOSSES["l2"], PRESETS["restoration"],
                            seed=cfg.seed)
    train(model, dataset, cfg, loss=loss, batch=batch, model_name=...)

That is all a same-size restoration trainer (Chapter 7's distorted → clean pairs) needs: its pairs are on one
grid already, CutBlur included. ``train_sr(augmentation=..., same_grid=...)`` does the same for
super-resolution, where ``same_grid=True`` first puts each LR batch on the HR grid
(:func:`companion.data.augments.to_hq_grid`, the thesis' same-grid models of §4.3.3).

* **Seeding**: step ``s``'s augmentation draws from ``torch.Generator().manual_seed(augment_seed(seed, s))``,
  a hash of (seed, step) distinct from the hash that picks the step's images
  (:func:`companion.engine.loop.step_seed`). Nothing lives outside the step number, so a resumed run is
  bit-identical to an uninterrupted one. Under ``torchrun`` every rank augments its own slice with the same
  draws (boxes, λ) and partners from within its slice.
* **The mask**: when Cutout is drawn the batch's target becomes the pair ``(target, loss_mask)`` (the loop moves
  both to the device); :func:`masked` turns a pixel loss into its mean over the kept pixels, and passes plain
  targets to the loss unchanged, so batches without a mask give exactly the unmasked loss.
* The augmentation runs in the main process on the CPU batch, before the loop moves it to the device.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable

import torch

from companion.data.augments import Augmentation, augment_batch, to_hq_grid
from companion.errors import CompanionError


def augment_seed(seed: int, step: int) -> int:
    """The 64-bit seed of step ``step``'s augmentation: a hash of ("augment", seed, step)."""
    return int.from_bytes(hashlib.blake2b(f"augment:{seed}:{step}".encode(), digest_size=8).digest(), "little")


def augmented_batch(batch_fn: Callable, augmentation: Augmentation, *, seed: int, same_grid: bool = False) -> Callable:
    """A ``batch(dataset, indices, step)`` function: ``batch_fn``'s (input, target), the input resized to the
    target's size when ``same_grid`` (nearest neighbour), then ``augmentation`` drawn from the step's generator.
    Returns (input, target), or (input, (target, loss_mask)) when Cutout was drawn: train with :func:`masked`'s
    loss (or use :func:`augmented`, which pairs them)."""
    if not isinstance(augmentation, Augmentation):
        raise CompanionError(f"augmentation must be an Augmentation (companion.data.augments.single(...), NONE, "
                             f"PRESETS[...]); got {type(augmentation).__name__}")

    def batch(dataset, indices: list[int], step: int):
        x, y = batch_fn(dataset, indices, step)
        if same_grid:
            x = to_hq_grid(x, tuple(y.shape[-2:]))
        out = augment_batch(x, y, augmentation, generator=torch.Generator().manual_seed(augment_seed(seed, step)))
        return out.lq, (out.hq if out.loss_mask is None else (out.hq, out.loss_mask))
    batch.__name__ = f"augmented({getattr(batch_fn, '__name__', 'batch')})"
    return batch


def masked(loss: Callable) -> Callable:
    """``loss(output, target)`` that also takes ``target = (target, mask)``: then the mean of ``loss(...,
    reduction="none")`` over the pixels where ``mask`` (N×1×H×W) is 1, in every channel. A plain target goes to
    ``loss`` as it is. ``loss`` must take ``reduction=`` (``F.l1_loss``, ``F.mse_loss``, ...)."""
    def masked_loss(output: torch.Tensor, target):
        if not isinstance(target, tuple):
            return loss(output, target)
        target, mask = target
        try:
            per_pixel = loss(output, target, reduction="none")
        except TypeError:
            raise CompanionError(f"the masked loss needs a pixel loss that takes reduction='none' "
                                 f"(F.l1_loss, F.mse_loss); {getattr(loss, '__name__', loss)!r} does not") from None
        weights = mask.to(per_pixel.dtype).expand_as(per_pixel)
        return (per_pixel * weights).sum() / weights.sum().clamp_min(1)
    masked_loss.__name__ = f"masked({getattr(loss, '__name__', 'loss')})"
    return masked_loss


def augmented(batch_fn: Callable, loss: Callable, augmentation: Augmentation, *, seed: int,
              same_grid: bool = False) -> tuple[Callable, Callable]:
    """The (``batch``, ``loss``) pair to give :func:`companion.engine.loop.train`: :func:`augmented_batch` and,
    when Cutout can be drawn, :func:`masked` ``loss`` (else ``loss`` itself)."""
    batch = augmented_batch(batch_fn, augmentation, seed=seed, same_grid=same_grid)
    return batch, (masked(loss) if augmentation.masks_loss else loss)


__all__ = ["augment_seed", "augmented_batch", "masked", "augmented"]
