"""The training settings of :func:`companion.engine.loop.train`, as a plain frozen dataclass.

Kept apart from the loop so that chapter configs (profiles) can declare their papers' settings without
importing PyTorch: ``python -m companion list`` and every argument error stay fast.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from companion.errors import CompanionError


@dataclass(frozen=True)
class TrainConfig:
    """What the loop needs. Chapters declare their papers' values (see e.g. :mod:`companion.ch7.config`)."""

    steps: int  # iterations
    batch_size: int  # global batch (split across DDP ranks)
    lr: float
    milestones: tuple[int, ...] = ()  # steps after which the LR is multiplied by gamma
    gamma: float = 0.5
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    bf16: bool = False  # torch.autocast(device_type, dtype=torch.bfloat16) on forward + loss
    channels_last: bool = False
    max_seconds: float | None = None  # time-budget mode: stop at the first step past this training wall time
    checkpoint_every: int = 0  # 0 = only at the end
    val_every: int = 0  # 0 = never
    seed: int = 0
    grad_clip: float | None = None  # max gradient norm (None = no clipping)

    def check(self) -> None:
        """Raise one :class:`CompanionError` naming every setting out of range."""
        bad = []
        if not isinstance(self.steps, int) or self.steps < 1:
            bad.append(f"steps={self.steps!r} (need a whole number >= 1)")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            bad.append(f"batch_size={self.batch_size!r} (need >= 1)")
        if not (math.isfinite(self.lr) and self.lr > 0):
            bad.append(f"lr={self.lr!r} (need a finite number > 0)")
        if self.max_seconds is not None and not (math.isfinite(self.max_seconds) and self.max_seconds > 0):
            bad.append(f"max_seconds={self.max_seconds!r} (need a finite number > 0, or None)")
        if self.grad_clip is not None and not (math.isfinite(self.grad_clip) and self.grad_clip > 0):
            bad.append(f"grad_clip={self.grad_clip!r} (need a finite number > 0, or None)")
        if self.checkpoint_every < 0 or self.val_every < 0:
            bad.append("checkpoint_every and val_every must be >= 0 (0 = off)")
        if bad:
            raise CompanionError("bad training settings: " + "; ".join(bad))
