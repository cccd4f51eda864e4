"""Chapter 4's data augmentations for image restoration, as batch transforms (thesis §4.3, Eq. 4.1, Table 4.1,
§4.3.2's mixture of augmentations).

One function per augmentation, each ``f(lq, hq, *, alpha, generator) -> AugmentedBatch`` on a batch of
low-quality inputs ``lq`` and their high-quality targets ``hq`` (N×C×H×W floats in [0, 1]):

* :func:`blend` -- every image blended with a constant colour;
* :func:`rgb` -- the colour channels permuted;
* :func:`mixup` -- each image blended with another image of the batch, λ ~ Beta(α, α);
* :func:`cutout` -- random pixels of the input erased with probability α, and left out of the loss;
* :func:`cutmix` -- a box of each image replaced by the same box of another image;
* :func:`cutmixup` -- CutMix whose box (or whose outside) is filled with the Mixup image;
* :func:`cutblur` -- Eq. 4.1: a box of the HQ image pasted into the LQ image, or the reverse; the target
  stays the HQ image.

:func:`augment_batch` applies one :class:`Augmentation`: the mixture of augmentations (MoA, §4.3.2) draws
"augment or not" with probability ``prob`` (the thesis' p), then one name of the pool with probabilities
proportional to ``ratios`` (the thesis' r), and applies it with its α. :func:`single` is one augmentation
alone (Table 4.2's rows), :data:`NONE` the baseline, :data:`PRESETS` the thesis' settings of p and r.

Where the text and the authors' code (clovaai/cutblur ``augments.py``, ``option.py``, ``solver.py``) differ or
the text is ambiguous, the reading chosen here:

* **The grid.** CutBlur needs LQ and HQ at one size; §4.3.1 resizes LQ "by a deterministic kernel", the
  code (``solver.py``) by nearest-neighbour interpolation before *every* augmentation. :func:`to_hq_grid` is
  that nearest-neighbour resize. :func:`cutblur` refuses two sizes. The other six also take an HQ batch an
  integer factor s larger than LQ (an SR model that takes the LR image as it is): Blend, RGB and Mixup use the
  same colour / permutation / λ and partner for both; CutMix and CutMixup draw the box on the LQ grid and use
  it ×s on the HQ grid; Cutout drops LQ pixels and removes their s×s HQ pixels from the loss (the code's
  ``scale`` handling, which its trainer never reaches because it resizes first).
* **One draw per batch.** Every box, ratio, λ, colour weight, permutation and CutBlur direction is drawn once
  per batch and shared by its samples, as in the code and in the original CutMix the thesis follows for the
  mask ("For sampling the mask and its coordinates, we follow the original CutMix"). Blend's colour and
  Cutout's pixels are drawn per sample, as in the code.
* **Boxes.** Side ratio r = α + 0.01·N(0, 1) (the code; Table 4.1 writes λ ~ N(α, 0.01), which could also be
  read as variance 0.01), the same r for height and width, box ⌊rH⌋ × ⌊rW⌋ (≈ 0.49 of the patch at α = 0.7)
  with its top-left corner uniform so that the whole box lies inside the patch (the code; Table 4.1's
  r_x ~ Unif(0, W) would let the box leave the patch).
* **Partners** (Mixup, CutMix, CutMixup): Table 4.1 says "other image"; the code uses ``torch.randperm``,
  which pairs an image with itself with probability 1/N. Here the partners are a random cyclic permutation
  of the batch, so every image gets another one (a batch of one is its own partner, and these three leave it
  unchanged). Boxes are taken from the same position of the partner (the code's and CutMix's choice).
* **Blend** is described three ways: Table 4.1 "blend image with vector v = (v1, v2, v3), vi ~ Unif(α, 1)",
  §4.4 "adding a constant value to an entire image", and the code: x' = v·x + (1 − v)·c with one scalar
  v ~ U(α, 1) per batch and one colour c ~ U(0, 255)³ per image. The code's reading is used, with c ~ U(0, 1)^C
  because the companion's images are in [0, 1]; it is a convex combination of the image and a constant image.
* **RGB permutation**: a uniform permutation of the channels, the identity included (the code's
  ``np.random.permutation(3)``), the same for LQ and HQ.
* **CutMixup**: box and partner as CutMix, λ ~ Beta(1.2, 1.2) (the code's ``aux_alpha``); with probability
  1/2 the box is filled with the Mixup image, otherwise the outside is (the code).
* **CutBlur**: the direction (HQ→LQ or LQ→HQ of Eq. 4.1) has probability 1/2 each (the code); the target is
  the HQ batch itself, never changed.
* **Cutout**: Table 4.1 erases "randomly sampled pixels with probability α" and masks them out of the loss.
  Pixels are erased in every channel (the code's N×1×H×W mask). The loss averages over the kept pixels
  (``companion.engine.augmented.masked``); the code instead multiplies output and target by the mask and
  averages over all pixels, a loss smaller by the kept fraction (about 1 − α). With LQ on the HQ grid, as the
  code trains, α applies to HQ-grid pixels (about 37 of a 192² patch at α = 0.001; the thesis counts
  "2∼3 pixels" of a 48² input).
* **MoA**: the code picks the name first and then applies it with its own probability; drawing p first (the
  thesis) gives the same distribution. Its pool, order and α are the code's ``--use_moa`` defaults; p = 0.2 is
  what the code uses for CARN on synthetic SR (the thesis: "SRCNN and CARN"), p = 0.6 for denoising / JPEG,
  and RealSR's r gives CutBlur 40 % and every other 10 % with p = 1.

Randomness: every draw comes from the ``torch.Generator`` (a CPU generator) passed in, on the CPU, and is then
moved to the batch's device, so a seed gives the same boxes, masks, partners and λ on any device (copies are
bit-identical across devices; blends agree up to floating-point rounding). Mixup's Beta draw goes through a
NumPy generator seeded from the torch generator. Inputs are never modified in place.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from companion.errors import CompanionError

#: The pool of MoA, in the code's order.
AUGMENTATIONS = ("blend", "rgb", "mixup", "cutout", "cutmix", "cutmixup", "cutblur")

#: α of each augmentation (Table 4.1 and the code's ``--use_moa`` defaults); RGB permutation has none.
DEFAULT_ALPHAS: dict[str, float | None] = {"blend": 0.6, "rgb": None, "mixup": 1.2, "cutout": 0.001,
                                           "cutmix": 0.7, "cutmixup": 0.7, "cutblur": 0.7}

#: α of the Mixup inside CutMixup (Table 4.1's "0.7/1.2"; the code's ``aux_alpha``).
CUTMIXUP_MIXUP_ALPHA = 1.2

#: The standard deviation of the box side ratio around α (the code's ``randn() * 0.01``).
BOX_RATIO_STD = 0.01


# --------------------------------------------------------------------------------------------------------
# The settings.


def _check_alpha(name: str, alpha) -> float | None:
    """``alpha`` as a float (None for RGB), or a :class:`CompanionError` naming the valid range."""
    if name == "rgb":
        if alpha is not None:
            raise CompanionError(f"rgb permutation takes no alpha; got {alpha!r} (use None)")
        return None
    ranges = {"blend": (0.0, 1.0, True), "mixup": (0.0, math.inf, False), "cutout": (0.0, 1.0, False),
              "cutmix": (0.0, 1.0, True), "cutmixup": (0.0, 1.0, True), "cutblur": (0.0, 1.0, True)}
    low, high, high_ok = ranges[name]
    ok = (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and math.isfinite(alpha) and alpha > low
          and (alpha <= high if high_ok else alpha < high))
    if not ok:
        raise CompanionError(f"{name} alpha={alpha!r}; need a number in ({low:g}, {high:g}{']' if high_ok else ')'}")
    return float(alpha)


@dataclass(frozen=True)
class Augmentation:
    """One setting of the mixture of augmentations (MoA, §4.3.2): with probability ``prob`` (the thesis' p) a
    batch is augmented by one name of ``names`` drawn with probabilities proportional to ``ratios`` (the
    thesis' r), with that name's α from ``alphas`` (None for ``"rgb"``). ``cutmixup_mixup_alpha`` is the α of
    CutMixup's Mixup. Lists are stored as tuples; the values are checked."""

    names: tuple[str, ...]
    ratios: tuple[float, ...]
    prob: float
    alphas: tuple[float | None, ...]
    cutmixup_mixup_alpha: float = CUTMIXUP_MIXUP_ALPHA

    def __post_init__(self):
        names, ratios, alphas = tuple(self.names), tuple(self.ratios), tuple(self.alphas)
        unknown = [n for n in names if n not in AUGMENTATIONS]
        if unknown:
            raise CompanionError(f"unknown augmentation {unknown[0]!r}; choose among {', '.join(AUGMENTATIONS)}")
        if len(set(names)) != len(names):
            raise CompanionError(f"augmentation names repeat in {names}; name each once and set its ratio")
        if not (len(ratios) == len(alphas) == len(names)):
            raise CompanionError(f"need one ratio and one alpha per name: {len(names)} names, {len(ratios)} ratios, "
                                 f"{len(alphas)} alphas")
        if not all(isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) and r >= 0
                   for r in ratios) or (names and sum(ratios) <= 0):
            raise CompanionError(f"ratios={ratios!r}; need finite numbers >= 0 with a positive sum")
        prob = self.prob
        if not (isinstance(prob, (int, float)) and not isinstance(prob, bool) and 0 <= prob <= 1):
            raise CompanionError(f"prob={prob!r}; need a probability in [0, 1]")
        if not names and prob > 0:
            raise CompanionError(f"prob={prob!r} with no augmentation named; name at least one, or use prob=0")
        mix_alpha = _check_alpha("mixup", self.cutmixup_mixup_alpha)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "ratios", tuple(float(r) for r in ratios))
        object.__setattr__(self, "prob", float(prob))
        object.__setattr__(self, "alphas", tuple(_check_alpha(n, a) for n, a in zip(names, alphas)))
        object.__setattr__(self, "cutmixup_mixup_alpha", mix_alpha)

    @property
    def active(self) -> tuple[str, ...]:
        """The names that can be drawn (prob > 0 and ratio > 0)."""
        return tuple(n for n, r in zip(self.names, self.ratios) if r > 0) if self.prob > 0 else ()

    @property
    def needs_same_grid(self) -> bool:
        """Whether LQ and HQ must be at one size: CutBlur can be drawn."""
        return "cutblur" in self.active

    @property
    def masks_loss(self) -> bool:
        """Whether a batch may come with a loss mask: Cutout can be drawn."""
        return "cutout" in self.active

    def describe(self) -> str:
        """One line: ``"no augmentation"``, ``"cutblur (α 0.7) with p 1"`` or ``"MoA with p 0.2: blend 14 % (α 0.6),
        ..."``."""
        if not self.active:
            return "no augmentation"

        def alpha(name, a):
            extra = f", Mixup α {self.cutmixup_mixup_alpha:g}" if name == "cutmixup" else ""
            return f" (α {a:g}{extra})" if a is not None else ""
        if len(self.names) == 1:
            return f"{self.names[0]}{alpha(self.names[0], self.alphas[0])} with p {self.prob:g}"
        total = sum(self.ratios)
        parts = [f"{n} {100 * r / total:.0f} %{alpha(n, a)}" for n, r, a in zip(self.names, self.ratios, self.alphas)]
        return f"MoA with p {self.prob:g}: " + ", ".join(parts)

    def as_dict(self) -> dict:
        """JSON-ready settings (zoo keys, results files); :meth:`from_dict` reads them back."""
        return {"names": list(self.names), "ratios": list(self.ratios), "prob": self.prob,
                "alphas": list(self.alphas), "cutmixup_mixup_alpha": self.cutmixup_mixup_alpha}

    @classmethod
    def from_dict(cls, data: dict) -> "Augmentation":
        """The :class:`Augmentation` of :meth:`as_dict`'s output."""
        try:
            return cls(names=tuple(data["names"]), ratios=tuple(data["ratios"]), prob=data["prob"],
                       alphas=tuple(data["alphas"]),
                       cutmixup_mixup_alpha=data.get("cutmixup_mixup_alpha", CUTMIXUP_MIXUP_ALPHA))
        except (KeyError, TypeError) as exc:
            raise CompanionError(f"not an augmentation setting: {data!r} ({exc})") from None


def single(name: str, *, alpha: float | None = None, prob: float = 1.0) -> Augmentation:
    """One augmentation alone (Table 4.2's rows): ``name`` with ``alpha`` (default :data:`DEFAULT_ALPHAS`)
    applied to a batch with probability ``prob``."""
    if name not in AUGMENTATIONS:
        raise CompanionError(f"unknown augmentation {name!r}; choose among {', '.join(AUGMENTATIONS)}")
    return Augmentation(names=(name,), ratios=(1.0,), prob=prob,
                        alphas=(DEFAULT_ALPHAS[name] if alpha is None else alpha,))


def _moa(prob: float, ratios: tuple[float, ...] = (1.0,) * len(AUGMENTATIONS)) -> Augmentation:
    return Augmentation(names=AUGMENTATIONS, ratios=ratios, prob=prob,
                        alphas=tuple(DEFAULT_ALPHAS[n] for n in AUGMENTATIONS))


#: No augmentation (p = 0): the baseline.
NONE = Augmentation(names=(), ratios=(), prob=0.0, alphas=())

#: The thesis' MoA settings (§4.3.3 "Augmentation setup"; the code's ``option.py``): all seven with equal
#: ratios and p = 1 for SR; p = 0.2 for the small SR networks (SRCNN, CARN) on synthetic SR; p = 0.6 for the
#: other restoration tasks; for realistic SR (RealSR, CameraSR) CutBlur 40 % and every other 10 %, p = 1.
PRESETS: dict[str, Augmentation] = {
    "sr": _moa(1.0),
    "sr-small": _moa(0.2),
    "restoration": _moa(0.6),
    "realsr": _moa(1.0, tuple(0.4 if n == "cutblur" else 0.1 for n in AUGMENTATIONS)),
}


# --------------------------------------------------------------------------------------------------------
# The batch and its checks.


@dataclass
class AugmentedBatch:
    """An augmented batch: the input ``lq``, the target ``hq``, the loss mask (N×1×H×W on ``hq``'s grid, 1 where
    a pixel counts in the loss; Cutout only, else None), the name of the augmentation ``applied`` (``"none"``
    when the batch was left as it is) and, for the box augmentations, the ``box`` (top, left, height, width)
    on ``hq``'s grid."""

    lq: torch.Tensor
    hq: torch.Tensor
    loss_mask: torch.Tensor | None
    applied: str
    box: tuple[int, int, int, int] | None = None


def _scale(lq: torch.Tensor, hq: torch.Tensor, name: str, *, same_size: bool = False) -> int:
    """The integer factor s with ``hq`` = s × ``lq`` in height and width; a one-line error otherwise."""
    for which, t in (("lq", lq), ("hq", hq)):
        if not isinstance(t, torch.Tensor) or t.ndim != 4 or not t.is_floating_point():
            raise CompanionError(f"{name}: {which} must be a floating-point N×C×H×W tensor; got "
                                 f"{getattr(t, 'dtype', type(t).__name__)} of shape {tuple(getattr(t, 'shape', ()))}")
    if lq.shape[:2] != hq.shape[:2] or lq.device != hq.device:
        raise CompanionError(f"{name}: lq {tuple(lq.shape)} on {lq.device} and hq {tuple(hq.shape)} on {hq.device} "
                             "need the same batch size, channels and device")
    (h, w), (hh, hw) = lq.shape[-2:], hq.shape[-2:]
    if same_size and (h, w) != (hh, hw):
        raise CompanionError(f"{name} needs LQ on the HQ grid (the same size); got lq {h}×{w} and hq {hh}×{hw}: "
                             "resize with to_hq_grid (train_sr(same_grid=True))")
    if hh % h or hw % w or hh // h != hw // w:
        raise CompanionError(f"{name}: hq {hh}×{hw} is not an integer multiple of lq {h}×{w}")
    return hh // h


def _check_generator(generator) -> torch.Generator:
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise CompanionError("augmentations draw on the CPU: pass generator=torch.Generator().manual_seed(seed)")
    return generator


def to_hq_grid(lq: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``lq`` (N×C×h×w or C×h×w) resized to ``size`` = (H, W) by nearest-neighbour interpolation (the code's
    reading of §4.3.1's "deterministic kernel"; at an integer factor every LQ pixel becomes an s×s block)."""
    size = (int(size[0]), int(size[1]))
    if not isinstance(lq, torch.Tensor) or lq.ndim not in (3, 4):
        raise CompanionError("to_hq_grid takes an N×C×H×W or C×H×W tensor; got shape "
                             f"{tuple(getattr(lq, 'shape', ()))}")
    if tuple(lq.shape[-2:]) == size:
        return lq
    batched = lq if lq.ndim == 4 else lq[None]
    out = F.interpolate(batched, size=size, mode="nearest")
    return out if lq.ndim == 4 else out[0]


# --------------------------------------------------------------------------------------------------------
# Random draws (all on the CPU generator).


def _uniform(generator: torch.Generator) -> float:
    return float(torch.rand((), generator=generator, dtype=torch.float64))


def _beta(alpha: float, generator: torch.Generator) -> float:
    """λ ~ Beta(α, α), from a NumPy generator seeded by ``generator`` (torch's Beta takes no generator)."""
    seed = int(torch.randint(0, 2 ** 62, (), generator=generator))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def _partners(n: int, generator: torch.Generator) -> torch.Tensor:
    """``partner[i]``: another image of the batch for image i, a random cyclic permutation (none fixed, n > 1)."""
    order = torch.randperm(n, generator=generator)
    partner = torch.empty_like(order)
    partner[order] = order.roll(-1)
    return partner


def _box(height: int, width: int, alpha: float, generator: torch.Generator) -> tuple[int, int, int, int]:
    """(top, left, box height, box width): side ratio r = α + 0.01·N(0, 1) (clipped to [0, 1]), box ⌊rH⌋×⌊rW⌋,
    top-left uniform with the box inside."""
    ratio = min(max(alpha + BOX_RATIO_STD * float(torch.randn((), generator=generator, dtype=torch.float64)), 0.0),
                1.0)
    bh, bw = int(height * ratio), int(width * ratio)
    top = int(torch.randint(0, height - bh + 1, (), generator=generator))
    left = int(torch.randint(0, width - bw + 1, (), generator=generator))
    return top, left, bh, bw


def _region(box: tuple[int, int, int, int], scale: int = 1) -> tuple[slice, slice]:
    top, left, bh, bw = (v * scale for v in box)
    return slice(top, top + bh), slice(left, left + bw)


def _box_on(box: tuple[int, int, int, int], scale: int) -> tuple[int, int, int, int]:
    top, left, bh, bw = box
    return top * scale, left * scale, bh * scale, bw * scale


def _mix(x: torch.Tensor, partner: torch.Tensor, lam: float) -> torch.Tensor:
    return lam * x + (1 - lam) * x[partner.to(x.device)]


# --------------------------------------------------------------------------------------------------------
# The augmentations.


def blend(lq: torch.Tensor, hq: torch.Tensor, *, alpha: float = DEFAULT_ALPHAS["blend"],
          generator: torch.Generator) -> AugmentedBatch:
    """Blend: x' = v·x + (1 − v)·c for LQ and HQ alike, one v ~ U(α, 1) per batch and one constant colour
    c ~ U(0, 1)^C per image (the code's reading; see the module docstring)."""
    _scale(lq, hq, "blend")
    alpha = _check_alpha("blend", alpha)
    v = alpha + (1 - alpha) * _uniform(_check_generator(generator))
    colour = torch.rand(lq.shape[0], lq.shape[1], 1, 1, generator=generator)
    mixed = [v * x + (1 - v) * colour.to(x) for x in (lq, hq)]
    return AugmentedBatch(mixed[0], mixed[1], None, "blend")


def rgb(lq: torch.Tensor, hq: torch.Tensor, *, alpha: None = None, generator: torch.Generator) -> AugmentedBatch:
    """RGB permutation: one uniform permutation of the channels (identity included) per batch, the same for LQ
    and HQ. ``alpha`` is accepted for a uniform call and must be None."""
    _scale(lq, hq, "rgb")
    _check_alpha("rgb", alpha)
    perm = torch.randperm(lq.shape[1], generator=_check_generator(generator)).to(lq.device)
    return AugmentedBatch(lq[:, perm], hq[:, perm], None, "rgb")


def mixup(lq: torch.Tensor, hq: torch.Tensor, *, alpha: float = DEFAULT_ALPHAS["mixup"],
          generator: torch.Generator) -> AugmentedBatch:
    """Mixup: x' = λ·x + (1 − λ)·x_partner with one λ ~ Beta(α, α) per batch and the same partners for LQ and
    HQ (the target is mixed too)."""
    _scale(lq, hq, "mixup")
    alpha = _check_alpha("mixup", alpha)
    lam = _beta(alpha, _check_generator(generator))
    partner = _partners(lq.shape[0], generator)
    return AugmentedBatch(_mix(lq, partner, lam), _mix(hq, partner, lam), None, "mixup")


def cutout(lq: torch.Tensor, hq: torch.Tensor, *, alpha: float = DEFAULT_ALPHAS["cutout"],
           generator: torch.Generator) -> AugmentedBatch:
    """Cutout (Table 4.1): every pixel of the input erased (set to 0 in all channels) with probability α; the
    loss mask is 0 on the erased pixels (×s blocks on a larger HQ grid) and 1 elsewhere. The target is
    unchanged; the loss leaves the erased pixels out (``companion.engine.augmented.masked``)."""
    scale = _scale(lq, hq, "cutout")
    alpha = _check_alpha("cutout", alpha)
    n, _, h, w = lq.shape
    keep = (torch.rand(n, 1, h, w, generator=_check_generator(generator)) >= alpha).to(lq.device)
    mask = keep.to(hq.dtype)
    if scale > 1:
        mask = mask.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    return AugmentedBatch(lq * keep.to(lq.dtype), hq, mask, "cutout")


def cutmix(lq: torch.Tensor, hq: torch.Tensor, *, alpha: float = DEFAULT_ALPHAS["cutmix"],
           generator: torch.Generator) -> AugmentedBatch:
    """CutMix: one box (side ratio ≈ α, drawn on the LQ grid) of every image replaced by the same box of its
    partner, at the same place in LQ and (×s) HQ."""
    scale = _scale(lq, hq, "cutmix")
    alpha = _check_alpha("cutmix", alpha)
    box = _box(lq.shape[2], lq.shape[3], alpha, _check_generator(generator))
    partner = _partners(lq.shape[0], generator).to(lq.device)
    outs = []
    for x, s in ((lq, 1), (hq, scale)):
        rows, cols = _region(box, s)
        out = x.clone()
        out[:, :, rows, cols] = x[partner, :, rows, cols]
        outs.append(out)
    return AugmentedBatch(outs[0], outs[1], None, "cutmix", _box_on(box, scale))


def cutmixup(lq: torch.Tensor, hq: torch.Tensor, *, alpha: float = DEFAULT_ALPHAS["cutmixup"],
             mixup_alpha: float = CUTMIXUP_MIXUP_ALPHA, generator: torch.Generator) -> AugmentedBatch:
    """CutMixup: CutMix's box and partner (α) with the Mixup image λ·x + (1 − λ)·x_partner, λ ~ Beta(mixup_alpha,
    mixup_alpha): with probability 1/2 the box is filled with the Mixup image, otherwise everything outside it
    is. The same for LQ and (×s) HQ."""
    scale = _scale(lq, hq, "cutmixup")
    alpha, mixup_alpha = _check_alpha("cutmixup", alpha), _check_alpha("mixup", mixup_alpha)
    box = _box(lq.shape[2], lq.shape[3], alpha, _check_generator(generator))
    partner = _partners(lq.shape[0], generator).to(lq.device)
    lam = _beta(mixup_alpha, generator)
    mixup_inside = _uniform(generator) < 0.5
    outs = []
    for x, s in ((lq, 1), (hq, scale)):
        rows, cols = _region(box, s)
        mixed = _mix(x, partner, lam)
        out, source = (x.clone(), mixed) if mixup_inside else (mixed, x)
        out[:, :, rows, cols] = source[:, :, rows, cols]
        outs.append(out)
    return AugmentedBatch(outs[0], outs[1], None, "cutmixup", _box_on(box, scale))


def cutblur(lq: torch.Tensor, hq: torch.Tensor, *, alpha: float = DEFAULT_ALPHAS["cutblur"],
            generator: torch.Generator) -> AugmentedBatch:
    """CutBlur (Eq. 4.1): with M the box (side ratio ≈ α), the input is x̂_HQ→LQ = M⊙x_HQ + (1 − M)⊙x^s_LQ or
    x̂_LQ→HQ = M⊙x^s_LQ + (1 − M)⊙x_HQ with probability 1/2 each; the target is ``hq`` itself. ``lq`` must be on
    the HQ grid already (:func:`to_hq_grid`)."""
    _scale(lq, hq, "cutblur", same_size=True)
    alpha = _check_alpha("cutblur", alpha)
    box = _box(lq.shape[2], lq.shape[3], alpha, _check_generator(generator))
    hq_into_lq = _uniform(generator) < 0.5
    rows, cols = _region(box)
    base, pasted = (lq, hq) if hq_into_lq else (hq, lq)
    out = base.clone()
    out[:, :, rows, cols] = pasted[:, :, rows, cols]
    return AugmentedBatch(out, hq, None, "cutblur", box)



#: Each augmentation by name.
FUNCTIONS = {"blend": blend, "rgb": rgb, "mixup": mixup, "cutout": cutout, "cutmix": cutmix, "cutmixup": cutmixup,
             "cutblur": cutblur}


def augment_batch(lq: torch.Tensor, hq: torch.Tensor, augmentation: Augmentation, *,
                  generator: torch.Generator) -> AugmentedBatch:
    """Apply ``augmentation`` (MoA, §4.3.2) to the batch: with probability ``augmentation.prob`` one name drawn by
    its ratio, with its α; otherwise the batch as it is (``applied="none"``, the same tensors). ``lq`` and ``hq``
    are N×C×H×W on any one device, ``lq`` on the HQ grid (:func:`to_hq_grid`) or, without CutBlur in the pool,
    an integer factor smaller. Seeded entirely by ``generator`` (a CPU ``torch.Generator``)."""
    if not isinstance(augmentation, Augmentation):
        raise CompanionError(f"augmentation must be an Augmentation (single(...), NONE, PRESETS[...]); got "
                             f"{type(augmentation).__name__}")
    _scale(lq, hq, "augment_batch", same_size=augmentation.needs_same_grid)
    generator = _check_generator(generator)
    if not _uniform(generator) < augmentation.prob:
        return AugmentedBatch(lq, hq, None, "none")
    weights = torch.tensor(augmentation.ratios, dtype=torch.float64)
    index = int(torch.multinomial(weights, 1, generator=generator))
    name, alpha = augmentation.names[index], augmentation.alphas[index]
    if name == "cutmixup":
        return cutmixup(lq, hq, alpha=alpha, mixup_alpha=augmentation.cutmixup_mixup_alpha, generator=generator)
    return FUNCTIONS[name](lq, hq, alpha=alpha, generator=generator)


__all__ = ["AUGMENTATIONS", "DEFAULT_ALPHAS", "CUTMIXUP_MIXUP_ALPHA", "BOX_RATIO_STD", "Augmentation", "single",
           "NONE", "PRESETS", "AugmentedBatch", "to_hq_grid", "augment_batch", "FUNCTIONS", "blend", "rgb", "mixup",
           "cutout", "cutmix", "cutmixup", "cutblur"]
