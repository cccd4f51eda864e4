"""SRCNN: the three-layer super-resolution CNN, Chapter 4's smallest baseline (thesis §4.3.3, "Baselines";
Tables 4.3-4.4).

Dong, Loy, He, Tang, "Image super-resolution using deep convolutional networks", TPAMI 2016 ([1] in the
thesis). It works on an image that is already on the high-resolution grid:

    x^s_LQ ─ conv 9×9, 3 → 64 ─ ReLU ─ conv 5×5, 64 → 32 ─ ReLU ─ conv 5×5, 32 → 3 ─▶ ŷ   (the size of x^s_LQ)

(patch extraction, non-linear mapping, reconstruction: the paper's f1-f2-f3 = 9-5-5 with n1 = 64, n2 = 32).

* **Natively same-grid.** SRCNN always took the LR image upsampled to the HR size (bicubic in the paper), which
  is §4.3.1's x^s_LQ; §4.3.3's desubpixel layer and 3·s²-channel first conv are what the *other* networks
  need to take that input, and are not added here (with them SRCNN's 9×9 first conv alone would hold
  48·64·81 weights at ×4, and the network could not be the thesis' 0.07M). ``same_grid=True``: ``forward``
  takes x^s_LQ as it is (any size); ``same_grid=False``: ``forward`` takes the LR image and upsamples it by s
  itself with bicubic interpolation, the paper's pre-processing, so it fits the SR protocol of the other
  models (LR in, s× out).
* **Size.** Which variant is "0.07M": 9-5-5 on RGB has **69,251** parameters = (3·81·64 + 64) +
  (64·25·32 + 32) + (32·25·3 + 3), the only common variant that rounds to 0.07M (9-1-5 RGB: 20,099; 9-3-5 RGB:
  36,483; 9-5-5 on the Y channel: 57,281). Table 4.3 prints the same model as 0.1M (one decimal).

Readings chosen (the thesis names SRCNN and its size only; the authors' clovaai/cutblur code has no SRCNN):

* RGB in and out (Chapter 4 evaluates SR on Y, but every other network there is RGB and so is x^s_LQ).
* Zero "same" padding (4, 2, 2) so the output keeps the input's size; the paper trained without padding
  and predicted the centre of each 33×33 sub-image.
* Every conv has a bias; no mean shift, no residual connection, no clamp of the output.
* ``same_grid=False`` upsamples with ``torch.nn.functional.interpolate(mode="bicubic")`` (Keys' a = −0.75,
  align_corners False); MATLAB's ``imresize``, which the paper used, has a = −0.5.
* Initialisation: PyTorch's default (U(±1/√fan_in)), like every Chapter 4 model here; the paper drew
  N(0, 0.001²) weights, a choice for its SGD training.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from companion.models.common import SingleScaleModel, check_image_batch

#: The registry entry (companion.models): name, label in tables, class, paper and quick sizes.
NAME, LABEL, MODEL = "srcnn", "SRCNN", "SRCNN"
#: What the model does: super-resolution models take ``forward(x, scale)`` and return s× larger images
#: (on the same grid: images of the input's size).
TASK = "super-resolution"
INIT = "PyTorch default U(±1/sqrt(fan_in)) for weights and biases"
PAPER_CONFIG = dict(scale=4, same_grid=False, features=64, hidden=32, kernels=(9, 5, 5))
# The same three layers at half the width (a quarter of the mapping layer's weights), sized for one CPU thread.
QUICK_CONFIG = {**PAPER_CONFIG, "features": 32, "hidden": 16}


class SRCNN(SingleScaleModel):
    """SRCNN f1-f2-f3 = ``kernels`` with n1 = ``features`` and n2 = ``hidden`` filters, for ×``scale``; on
    the same grid (``same_grid``) it takes the upsampled image, else the LR image (see the module docstring)."""

    label = "SRCNN"

    def __init__(self, scale: int = 4, same_grid: bool = False, features: int = 64, hidden: int = 32,
                 kernels: tuple[int, int, int] = (9, 5, 5)):
        super().__init__(scale, same_grid)
        kernels = tuple(int(k) for k in kernels)
        if len(kernels) != 3 or any(k < 1 or k % 2 == 0 for k in kernels):
            raise ValueError(f"SRCNN takes three odd kernel sizes (f1, f2, f3); got {kernels!r}")
        if features < 1 or hidden < 1:
            raise ValueError(f"SRCNN needs positive widths; got features={features}, hidden={hidden}")
        self.config = dict(scale=self.scale, same_grid=self.same_grid, features=int(features), hidden=int(hidden),
                           kernels=kernels)
        f1, f2, f3 = kernels
        self.extract = nn.Conv2d(3, features, f1, padding=f1 // 2)       # patch extraction and representation
        self.map = nn.Conv2d(features, hidden, f2, padding=f2 // 2)      # non-linear mapping
        self.reconstruct = nn.Conv2d(hidden, 3, f3, padding=f3 // 2)     # reconstruction

    def forward(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        self.check_scale(scale)
        check_image_batch(x, self.label)
        if not self.same_grid and self.scale > 1:
            x = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return self.reconstruct(F.relu(self.map(F.relu(self.extract(x)))))
