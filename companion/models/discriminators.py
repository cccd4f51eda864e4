"""PCARN's discriminators and adversarial losses (thesis §2.3.2, Fig. 2.1, Fig. 2.3, Eq. 2.4, 2.6, 2.7).

A shared helper module (no ``NAME``): the registry lists generators only; PCARN / PCARN-M are the CARN /
CARN-M generators (:mod:`companion.models.carn`, :mod:`companion.models.carn_m`) trained with these.

**Patch discriminator** (:class:`PatchDiscriminator`, Fig. 2.1; the authors' ``Discriminator`` in
nmhkahn/PCARN-pytorch ``pcarn/model/ecarn.py``), nine convs, "kKnNsS" = kernel K, N filters, stride S:

    k3n64s1 → LeakyReLU                                  (no BN)
    k4n64s2, k3n128s1, k4n128s2, k3n256s1, k4n256s2, k3n512s1, k3n512s1   each conv → BN → LeakyReLU
    k3n1s1                                               → one real/fake score per patch

Padding 1 everywhere, so the output is a B×1×⌊H/8⌋×⌊W/8⌋ map (three stride-2 convs). Every conv has a bias
(as the code; BN follows anyway). LeakyReLU slope 0.01, PyTorch's default that the code uses (the thesis
gives none; SRGAN's 0.2 is ``negative_slope=0.2``). Fig. 2.1's extracted text reads "k3n3s1" for the last
conv; the code's 512 → 1 is used. 5,295,809 parameters (BN γ, β included; the running statistics are
buffers); the multi-scale one, three of them, 15,887,427.

**Logits, not probabilities** (reading chosen): the code ends with a sigmoid and ``nn.BCELoss``; here the
discriminator returns logits and the losses use ``F.binary_cross_entropy_with_logits``, which is the same
function of the weights, ``BCE(sigmoid(z), y)``, computed stably (the sigmoid has no parameters, so weights
trained either way are interchangeable). ``discriminator.probabilities(x)`` gives the sigmoid map. The two
differ only where ``nn.BCELoss`` clamps its logs at −100 (|z| > 100).

**Multi-scale discriminator** (:class:`MultiScaleDiscriminator`, Eq. 2.6, Fig. 2.3): S = 3 independent
patch discriminators; discriminator i sees the image average-pooled by ``2^i`` (×1, ×2, ×4; kernel = stride =
the factor, as the code's ``nn.AvgPool2d(downsample)``), and the per-scale losses are summed
(L^MS = Σ_i L(D_i(F_i(I)))). Its ``forward`` returns the list of the S logit maps.

**Losses** (Eq. 2.4, 2.6, 2.7; every function takes one logit map or a list of them and sums over the list):

* :func:`discriminator_loss`: BCE(D(HR), 1) + BCE(D(SR), 0) per scale, each a mean over the patch map.
* :func:`generator_adversarial_loss`: BCE(D(SR), 1) per scale: the non-saturating form, −log D(G(x)), that the
  code and SRGAN use in place of Eq. 2.4's minimax log(1 − D(G(x))).
* :func:`generator_loss`: L_G = ``gan_weight`` · L_GAN^MS + ``vgg_weight`` · L_VGG. The thesis (Eq. 2.7) writes
  L_G = L_GAN^MS + λ·L_VGG without a value for λ; the authors' code (``pcarn/main.py``) weights the terms
  ``gamma_gan = 5e-3`` and ``gamma_vgg = 1.0`` (:data:`CODE_WEIGHTS`, the default) and clips the generator's
  gradient norm to 10. In Eq. 2.7's form that is λ = 1.0 / 5e-3 = 200 with the whole loss scaled by 5e-3
  (:data:`THESIS_WEIGHTS`): the same minimiser, and Adam is nearly invariant to the overall scale, but the
  norm clip acts on the scaled gradient, so the two are not the same run.
* Other training settings of the code: Adam (PyTorch defaults) for G and for all discriminators together,
  lr 1e-4, one D step then one G step per batch, starting from the L1-trained generator; the thesis fine-tunes
  for 2×10⁵ steps (§2.4.1; the code's ``script/stage2_msd.sh`` runs 4×10⁵ at ×4 with 32×32 patches).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

#: (kernel, out channels, stride) of the eight convs before the final 512 → 1 (Fig. 2.1).
LAYERS = ((3, 64, 1), (4, 64, 2), (3, 128, 1), (4, 128, 2), (3, 256, 1), (4, 256, 2), (3, 512, 1), (3, 512, 1))
#: The authors' code: L_G = 5e-3 · L_GAN + 1.0 · L_VGG, generator gradient-norm clip 10, Adam lr 1e-4.
CODE_WEIGHTS = {"gan": 5e-3, "vgg": 1.0, "clip": 10.0, "lr": 1e-4}
#: Eq. 2.7's form, L_G = L_GAN + λ·L_VGG, with the code's ratio λ = 1.0 / 5e-3 = 200 (the thesis gives no λ).
THESIS_WEIGHTS = {"gan": 1.0, "vgg": CODE_WEIGHTS["vgg"] / CODE_WEIGHTS["gan"], "clip": 10.0, "lr": 1e-4}
#: Eq. 2.6: S = 3 discriminators on the image average-pooled ×1, ×2, ×4.
MSD_FACTORS = (1, 2, 4)


def check_width_divisor(width_divisor: int) -> None:
    """A ``ValueError`` unless ``width_divisor`` is a whole number >= 1 that divides every width of Fig. 2.1."""
    k = width_divisor
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or any(c % k for _, c, _ in LAYERS):
        raise ValueError(f"width_divisor={width_divisor!r} must divide every width of Fig. 2.1 "
                         f"({', '.join(str(c) for _, c, _ in LAYERS)})")


class PatchDiscriminator(nn.Module):
    """The 9-conv PCARN discriminator (Fig. 2.1): B×3×H×W images → B×1×⌊H/8⌋×⌊W/8⌋ logits; with ``pool`` > 1
    the input is first average-pooled by that factor (Eq. 2.6's F_i). ``negative_slope``: LeakyReLU's.
    ``width_divisor``: every width of Fig. 2.1 divided by it (64…512 → 16…128 at 4; 1 = the paper's), the
    nine convs, kernels, strides, BatchNorm and LeakyReLU unchanged (a CPU-size discriminator)."""

    def __init__(self, in_channels: int = 3, *, pool: int = 1, negative_slope: float = 0.01, width_divisor: int = 1):
        super().__init__()
        if int(pool) < 1:
            raise ValueError(f"pool must be >= 1; got {pool!r}")
        check_width_divisor(width_divisor)
        self.pool, self.negative_slope, self.width_divisor = int(pool), float(negative_slope), int(width_divisor)
        layers: list[nn.Module] = []
        c_in = in_channels
        for i, (k, width, s) in enumerate(LAYERS):
            c_out = width // self.width_divisor
            layers.append(nn.Conv2d(c_in, c_out, k, s, 1))
            if i > 0:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(self.negative_slope))
            c_in = c_out
        layers.append(nn.Conv2d(c_in, 1, 3, 1, 1))
        self.body = nn.Sequential(*layers)
        self.config = dict(in_channels=int(in_channels), pool=self.pool, negative_slope=self.negative_slope)
        if self.width_divisor > 1:
            self.config["width_divisor"] = self.width_divisor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool > 1:
            x = F.avg_pool2d(x, self.pool)
        return self.body(x)

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """sigmoid(logits): the authors' output, the probability that each patch is real."""
        return torch.sigmoid(self(x))


class MultiScaleDiscriminator(nn.Module):
    """Eq. 2.6 / Fig. 2.3: one :class:`PatchDiscriminator` per entry of ``factors`` (default ×1, ×2, ×4), each on
    the image average-pooled by its factor; ``forward`` returns the list of their logit maps, finest first.
    ``width_divisor``: each one's widths divided by it (:class:`PatchDiscriminator`)."""

    def __init__(self, factors: Sequence[int] = MSD_FACTORS, *, in_channels: int = 3, negative_slope: float = 0.01,
                 width_divisor: int = 1):
        super().__init__()
        factors = tuple(int(f) for f in factors)
        if not factors or any(f < 1 for f in factors):
            raise ValueError(f"factors must be positive integers; got {factors!r}")
        self.factors = factors
        self.discriminators = nn.ModuleList(
            PatchDiscriminator(in_channels, pool=f, negative_slope=negative_slope, width_divisor=width_divisor)
            for f in factors)
        self.config = dict(factors=factors, in_channels=int(in_channels), negative_slope=float(negative_slope))
        if int(width_divisor) > 1:
            self.config["width_divisor"] = int(width_divisor)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [d(x) for d in self.discriminators]

    def probabilities(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [torch.sigmoid(z) for z in self(x)]


def _maps(logits) -> list[torch.Tensor]:
    return list(logits) if isinstance(logits, (list, tuple)) else [logits]


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


def discriminator_loss(real_logits, fake_logits) -> torch.Tensor:
    """The discriminator's loss (Eq. 2.4 negated, summed over scales, Eq. 2.6): Σ_i BCE(D_i(HR), 1) +
    BCE(D_i(SR), 0). Pass ``D(hr)`` and ``D(sr.detach())``: single maps or lists of maps."""
    real, fake = _maps(real_logits), _maps(fake_logits)
    if len(real) != len(fake):
        raise ValueError(f"{len(real)} real and {len(fake)} fake logit maps: pass one per discriminator scale")
    return sum((_bce(r, True) + _bce(f, False) for r, f in zip(real, fake)))


def generator_adversarial_loss(fake_logits) -> torch.Tensor:
    """L_GAN^MS for the generator: Σ_i BCE(D_i(G(LR)), 1) (non-saturating; see the module docstring)."""
    return sum((_bce(f, True) for f in _maps(fake_logits)))


def generator_loss(fake_logits, sr: torch.Tensor, hr: torch.Tensor, vgg_loss, *,
                   gan_weight: float = CODE_WEIGHTS["gan"],
                   vgg_weight: float = CODE_WEIGHTS["vgg"]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L_G = ``gan_weight`` · L_GAN^MS + ``vgg_weight`` · L_VGG(sr, hr) (Eq. 2.7; defaults: the authors' code).
    ``vgg_loss``: a callable ``(sr, hr) -> scalar`` such as :class:`companion.engine.perceptual.VGGLoss`.
    Returns ``(total, {"adversarial": …, "vgg": …})`` (the unweighted terms)."""
    adversarial = generator_adversarial_loss(fake_logits)
    vgg = vgg_loss(sr, hr)
    return gan_weight * adversarial + vgg_weight * vgg, {"adversarial": adversarial, "vgg": vgg}
