"""The training settings of :func:`companion.engine.loop.train`, as a plain frozen dataclass.

Kept apart from the loop so that chapter configs (profiles) can declare their papers' settings without
importing PyTorch: ``python -m companion list`` and every argument error stay fast.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from companion.errors import CompanionError


def _whole(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


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
        if not _whole(self.steps) or self.steps < 1:
            bad.append(f"steps={self.steps!r} (need a whole number >= 1)")
        if not _whole(self.batch_size) or self.batch_size < 1:
            bad.append(f"batch_size={self.batch_size!r} (need >= 1)")
        if not (_real(self.lr) and self.lr > 0):
            bad.append(f"lr={self.lr!r} (need a finite number > 0)")
        if not (isinstance(self.milestones, (tuple, list)) and all(_whole(m) and m >= 1 for m in self.milestones)):
            bad.append(f"milestones={self.milestones!r} (need whole step numbers >= 1)")
        if not (_real(self.gamma) and self.gamma > 0):
            bad.append(f"gamma={self.gamma!r} (need a finite number > 0)")
        if not (isinstance(self.betas, (tuple, list)) and len(self.betas) == 2
                and all(_real(b) and 0 <= b < 1 for b in self.betas)):
            bad.append(f"betas={self.betas!r} (need two numbers in [0, 1))")
        if not (_real(self.eps) and self.eps > 0):
            bad.append(f"eps={self.eps!r} (need a finite number > 0)")
        if not (_real(self.weight_decay) and self.weight_decay >= 0):
            bad.append(f"weight_decay={self.weight_decay!r} (need a finite number >= 0)")
        if self.max_seconds is not None and not (_real(self.max_seconds) and self.max_seconds > 0):
            bad.append(f"max_seconds={self.max_seconds!r} (need a finite number > 0, or None)")
        if self.grad_clip is not None and not (_real(self.grad_clip) and self.grad_clip > 0):
            bad.append(f"grad_clip={self.grad_clip!r} (need a finite number > 0, or None)")
        if not (_whole(self.checkpoint_every) and _whole(self.val_every)) or self.checkpoint_every < 0 \
                or self.val_every < 0:
            bad.append(f"checkpoint_every={self.checkpoint_every!r}, val_every={self.val_every!r} "
                       "(need whole numbers >= 0; 0 = off)")
        if bad:
            raise CompanionError("bad training settings: " + "; ".join(bad))
