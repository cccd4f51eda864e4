"""IQA-CNN+: the shallow patch CNN of Kang et al. with a distortion-type output (thesis §6.3.2, Table 6.1).

Kang, Ye, Li, Doermann, "Convolutional neural networks for no-reference image quality assessment", CVPR 2014
(IQA-CNN, [124] in the thesis), and "Simultaneous estimation of image quality and distortion via multi-task
convolutional neural networks", ICIP 2015 ([127]: IQA-CNN+ and IQA-CNN++). IQA-CNN+ is IQA-CNN with a second
output, the distortion type, beside the quality score. The thesis re-implements it "and removes the linear
regression layer for predicting MOS" (§6.3.2, footnote), so only the distortion output is left:

    grey patch 32×32 ── local normalisation ── conv 7×7, 50 maps (no activation)
        ── global max ⊕ global min per map (100) ── FC 800 + ReLU ── dropout ── FC 800 + ReLU ── FC classes

* **Local normalisation** (IQA-CNN, Eq. 1): Î = (I − μ) / (σ + C), with μ and σ the mean and standard
  deviation over a P × Q = 3 × 3 window around each pixel (:func:`local_normalise`).
* **Max-min pooling**: each of the 50 maps of 26 × 26 is pooled to its maximum and its minimum; the two
  fully-connected layers of 800 units with ReLU take those 100 numbers.
* **Patches**: the network sees non-overlapping 32 × 32 patches; an image's prediction comes from the mean
  over its patches (IQA-CNN averages the patch scores). Training on patches, each labelled with its image's
  label, is training this model on 32 × 32 inputs (one patch each).

The thesis says IQA-CNN+ "only has a single convolution layer" (§6.3.2): so it is here. §6.1's "five layers"
counts more than convolutions: IQA-CNN's abstract lists one convolutional layer with max and min pooling, two
fully connected layers and an output node.

Readings chosen (the papers leave them open, or the thesis changes them):

* Grey input: BT.601 luma of the RGB image (``torchvision.transforms.functional.rgb_to_grayscale``), as the
  papers work on grey-level images. C = 1 on the 8-bit scale, i.e. 1/255 on the companion's [0, 1] images
  (the paper only asks for "a positive constant"); the 3 × 3 window is reflected at the image border.
* The image's class scores are the mean of its patches' logits (the papers average patch predictions); an
  input whose side is not a multiple of 32 loses its right and bottom remainder.
* Dropout p = 0.5 between the two FC layers.
* PyTorch's default initialisation (the papers do not say).
* The number of classes is an argument: 24 for Flickr-Distortion's type × level pairs (§6.2.1).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.transforms.functional import rgb_to_grayscale

from companion.models.common import check_image_batch

#: The registry entry (companion.models): name, label in tables, class, paper and quick sizes.
NAME, LABEL, MODEL = "iqa_cnn_plus", "IQA-CNN+", "IQACNNPlus"
#: What the model outputs: class scores (logits) of a B×3×H×W image batch, not an image.
TASK = "classification"
INIT = "PyTorch default (the papers do not say)"
#: The network is small already: the quick profile keeps the paper's size.
PAPER_CONFIG = dict(classes=24, kernels=50, kernel_size=7, hidden=800)
QUICK_CONFIG = dict(PAPER_CONFIG)

#: IQA-CNN's patch side, and the local normalisation's window and constant (on [0, 1] images).
PATCH = 32
WINDOW = 3
NORMALISATION_C = 1 / 255


def local_normalise(grey: torch.Tensor, window: int = WINDOW, c: float = NORMALISATION_C) -> torch.Tensor:
    """IQA-CNN's Eq. 1 on a B×1×H×W batch: (I − μ) / (σ + C), μ and σ over a ``window`` × ``window``
    neighbourhood (reflected at the border)."""
    pad = window // 2
    padded = F.pad(grey, (pad, pad, pad, pad), mode="reflect")
    mean = F.avg_pool2d(padded, window, stride=1)
    var = (F.avg_pool2d(padded * padded, window, stride=1) - mean * mean).clamp_min(0)
    return (grey - mean) / (var.sqrt() + c)


def patches(x: torch.Tensor, size: int = PATCH) -> torch.Tensor:
    """Non-overlapping ``size``×``size`` patches of a B×C×H×W batch, as (B·P)×C×size×size in row-major order
    per image (the right and bottom remainders are dropped)."""
    b, c, h, w = x.shape
    rows, cols = h // size, w // size
    x = x[:, :, :rows * size, :cols * size]
    x = x.reshape(b, c, rows, size, cols, size).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b * rows * cols, c, size, size)


def max_min_pool(maps: torch.Tensor) -> torch.Tensor:
    """IQA-CNN's pooling: each map's global maximum and minimum, concatenated (B×2C)."""
    flat = maps.flatten(2)
    return torch.cat([flat.amax(2), flat.amin(2)], dim=1)


class PatchClassifier(nn.Module):
    """What IQA-CNN+ and IQA-CNN++ share: grey conversion, local normalisation, patches, the mean of the
    patches' logits. Subclasses define ``features`` (patch → maps) and ``head`` (pooled maps → logits)."""

    label = "patch classifier"

    def patch_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every 32×32 patch of ``x``, shape B×P×classes."""
        check_image_batch(x, self.label, min_side=PATCH)
        normalised = local_normalise(rgb_to_grayscale(x))
        tiles = patches(normalised)
        logits = self.head(max_min_pool(self.features(tiles)))
        return logits.reshape(x.shape[0], -1, logits.shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores of each image of a B×3×H×W batch in [0, 1]: the mean of its patches' logits."""
        return self.patch_logits(x).mean(1)


class IQACNNPlus(PatchClassifier):
    """IQA-CNN+ without its quality output: one 7×7 conv of ``kernels`` maps, max-min pooling, two FC layers
    of ``hidden`` units, a ``classes``-way output."""

    label = LABEL

    def __init__(self, classes: int = 24, kernels: int = 50, kernel_size: int = 7, hidden: int = 800):
        super().__init__()
        if kernel_size > PATCH:
            raise ValueError(f"IQA-CNN+'s kernel ({kernel_size}) must fit its {PATCH}-px patch")
        self.config = dict(classes=int(classes), kernels=int(kernels), kernel_size=int(kernel_size),
                           hidden=int(hidden))
        self.features = nn.Conv2d(1, kernels, kernel_size)   # no activation: the pooling is the non-linearity
        self.head = nn.Sequential(nn.Linear(2 * kernels, hidden), nn.ReLU(inplace=True), nn.Dropout(0.5),
                                  nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, classes))
