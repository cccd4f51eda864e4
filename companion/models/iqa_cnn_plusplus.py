"""IQA-CNN++: Kang et al.'s compact two-conv multi-task patch CNN, distortion output only (thesis Table 6.1).

Kang, Ye, Li, Doermann, "Simultaneous estimation of image quality and distortion via multi-task convolutional
neural networks", ICIP 2015 ([127] in the thesis). The paper argues that appending a task to IQA-CNN
(:mod:`companion.models.iqa_cnn_plus`) is not the best structure and designs a compact one, "with nearly 90 %
fewer parameters": a second, small convolution and smaller kernels, the same max-min pooling, then a narrow and
a wide FC layer shared by the two outputs (quality and distortion type). As for IQA-CNN+, the thesis removes
the quality regression output (§6.3.2, footnote):

    grey patch 32×32 ── local normalisation ── conv 3×3, 8 maps ── max-pool 2×2 ── conv 3×3, 32 maps
        ── global max ⊕ global min per map (64) ── FC 128 + ReLU ── dropout ── FC 512 + ReLU ── FC classes

What IQA-CNN+ and IQA-CNN++ share (grey input, IQA-CNN's local normalisation, 32 × 32 patches, the image's
scores as the mean of its patches' logits) is :class:`companion.models.iqa_cnn_plus.PatchClassifier`.

Readings chosen:

* The layer sizes above (3 × 3 kernels, 8 and 32 maps, 2 × 2 pooling, FC 128 then 512) are the ICIP paper's
  compact structure as a public re-implementation (lidq92/CNNIQAplusplus, ``IQAmodel.py``) also reads it; with
  a single quality output they give 77,297 parameters against IQA-CNN's 724,901 (the paper's "nearly 90 %
  fewer"; tests/test_recognisers.py recounts both).
* No activation after the convolutions (IQA-CNN's max-min pooling is the non-linearity; the re-implementation
  has none either); dropout p = 0.5 between the FC layers; PyTorch's default initialisation.
* The number of classes is an argument: 24 for Flickr-Distortion's type × level pairs (§6.2.1).
"""
from __future__ import annotations

from torch import nn

from companion.models.iqa_cnn_plus import PatchClassifier

#: The registry entry (companion.models): name, label in tables, class, paper and quick sizes.
NAME, LABEL, MODEL = "iqa_cnn_plusplus", "IQA-CNN++", "IQACNNPlusPlus"
#: What the model outputs: class scores (logits) of a B×3×H×W image batch, not an image.
TASK = "classification"
INIT = "PyTorch default (the papers do not say)"
#: The network is small already: the quick profile keeps the paper's size.
PAPER_CONFIG = dict(classes=24, kernels=(8, 32), kernel_size=3, pool=2, hidden=(128, 512))
QUICK_CONFIG = dict(PAPER_CONFIG)


class IQACNNPlusPlus(PatchClassifier):
    """IQA-CNN++ without its quality output: conv (``kernels[0]`` maps) → max-pool ``pool`` → conv
    (``kernels[1]`` maps) → max-min pooling → FC ``hidden[0]`` → FC ``hidden[1]`` → ``classes``."""

    label = LABEL

    def __init__(self, classes: int = 24, kernels=(8, 32), kernel_size: int = 3, pool: int = 2,
                 hidden=(128, 512)):
        super().__init__()
        first, second = (int(k) for k in kernels)
        narrow, wide = (int(h) for h in hidden)
        self.config = dict(classes=int(classes), kernels=(first, second), kernel_size=int(kernel_size),
                           pool=int(pool), hidden=(narrow, wide))
        self.features = nn.Sequential(nn.Conv2d(1, first, kernel_size), nn.MaxPool2d(pool),
                                      nn.Conv2d(first, second, kernel_size))
        self.head = nn.Sequential(nn.Linear(2 * second, narrow), nn.ReLU(inplace=True), nn.Dropout(0.5),
                                  nn.Linear(narrow, wide), nn.ReLU(inplace=True), nn.Linear(wide, classes))
