"""SSD300 on an Atrous VGG-16 or a ResNet-101 backbone (thesis §6.3.1-6.3.2, Tables 6.2-6.3; notebook
``06c_detection``, whose experiment is :mod:`companion.ch6.detection`).

A shared helper module (no ``NAME``: the registry lists image-to-image networks and classifiers, one per file;
these are detectors). :func:`build_ssd` gives torchvision's :class:`~torchvision.models.detection.SSD` with its
:class:`~torchvision.models.detection.anchor_utils.DefaultBoxGenerator` (SSD300's default boxes, as torchvision's
``ssd300_vgg16``: :data:`ASPECT_RATIOS`, :data:`SCALES`, :data:`STEPS`) and
:class:`~torchvision.models.detection.ssd.SSDHead`, on one of two feature extractors written after torchvision's
``SSDFeatureExtractorVGG``:

* :class:`AtrousVGG16Features`: VGG-16's convolutions (``torchvision.models.vgg.make_layers`` of configuration
  "D"), pool3 with ``ceil_mode``, conv4_3 L2-normalised and rescaled (a learnt scale starting at 20), pool5 as
  3×3 / stride 1, fc6 as a 3×3 convolution with dilation 6 (the atrous "DeepLab" fc6), fc7 as 1×1, then SSD300's
  four extra blocks: feature maps 38, 19, 10, 5, 3, 1 px for a 300 px input;
* :class:`ResNetFeatures`: ResNet-101 from torchvision's ``Bottleneck`` blocks ([3, 4, 23, 3]), maps from layer2
  (38 px), layer3 (19), layer4 (10) and three extra blocks (5, 3, 1). The thesis does not say how it put SSD on
  ResNet-101; this is the reading of DSSD (Fu et al. 2017), which keeps SSD300's map sizes.

``width`` scales every channel count (1 = torchvision's), with the channel rule of
:mod:`companion.models.recognisers`, so a ``06b_classification`` classifier of the same width fits. At width 1
the Atrous VGG-16 SSD has exactly the parameters of torchvision's ``ssd300_vgg16``. The extra layers start from
Xavier-uniform weights, as torchvision's SSD initialises them; ResNet's layers as torchvision's ResNet.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.ssd import SSD, SSDHead
from torchvision.models.resnet import Bottleneck, conv1x1

from companion.errors import CompanionError
from companion.models.recognisers import IMAGENET_MEAN, IMAGENET_STD, RESNET101_BLOCKS, channels, vgg16_features

BACKBONES = ("atrous_vgg16", "resnet101")
#: SSD300's default boxes (torchvision's ``ssd300_vgg16``, the SSD paper's): aspect ratios per map, scales, steps.
ASPECT_RATIOS = [[2], [2, 3], [2, 3], [2, 3], [2], [2]]
SCALES = [0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05]
STEPS = [8, 16, 32, 64, 100, 300]
#: Detections kept per image after NMS: COCO's cap, the one the mAP counts (torchvision's SSD default is 200).
MAX_DETECTIONS = 100


def _extra(cin: int, mid: int, cout: int, stride: int, padding: int) -> nn.Sequential:
    """One SSD extra block: 1×1 conv to ``mid``, ReLU, 3×3 conv to ``cout``, ReLU."""
    return nn.Sequential(nn.Conv2d(cin, mid, 1), nn.ReLU(inplace=True),
                         nn.Conv2d(mid, cout, 3, stride=stride, padding=padding), nn.ReLU(inplace=True))


def _xavier(*modules: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for the convolutions that ImageNet weights never cover (as
    torchvision's SSD initialises its extra layers)."""
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.xavier_uniform_(layer.weight)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)


class AtrousVGG16Features(nn.Module):
    """SSD300's Atrous VGG-16 at ``width``× torchvision's channels (module docstring): returns the six
    feature maps (38, 19, 10, 5, 3, 1 px for a 300 px input). ``features`` is torchvision VGG-16's layer list,
    so ImageNet weights load by name at width 1."""

    def __init__(self, width: float = 1.0):
        super().__init__()
        self.features = vgg16_features(width)
        pools = [i for i, layer in enumerate(self.features) if isinstance(layer, nn.MaxPool2d)]
        self.features[pools[2]].ceil_mode = True  # pool3: 75 -> 38 px, as SSD300
        self.conv4_end, self.conv5_end = pools[3], pools[4]  # conv4_3 (+ReLU) ends at pool4; pool5 is replaced
        c4, fc = channels(512, width), channels(1024, width)
        self.scale_weight = nn.Parameter(torch.full((c4,), 20.0))  # conv4_3's L2 normalisation, rescaled
        self.fc = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(c4, fc, 3, padding=6, dilation=6),
                                nn.ReLU(inplace=True), nn.Conv2d(fc, fc, 1), nn.ReLU(inplace=True))
        c8, c9, mid2, mid1 = channels(512, width), channels(256, width), channels(128, width), channels(256, width)
        self.extra = nn.ModuleList([_extra(fc, mid1, c8, 2, 1), _extra(c8, mid2, c9, 2, 1),
                                    _extra(c9, mid2, c9, 1, 0), _extra(c9, mid2, c9, 1, 0)])
        self.out_channels = [c4, fc, c8, c9, c9, c9]
        _xavier(self.fc, self.extra)

    def forward(self, x: torch.Tensor) -> OrderedDict:
        for layer in self.features[:self.conv4_end]:
            x = layer(x)
        maps = [self.scale_weight.view(1, -1, 1, 1) * F.normalize(x)]
        for layer in self.features[self.conv4_end:self.conv5_end]:
            x = layer(x)
        x = self.fc(x)
        maps.append(x)
        for block in self.extra:
            x = block(x)
            maps.append(x)
        return OrderedDict((str(i), m) for i, m in enumerate(maps))


class ResNetFeatures(nn.Module):
    """ResNet-101 (torchvision's ``Bottleneck`` × [3, 4, 23, 3]) at ``width``× torchvision's channels, its modules
    named as torchvision's ``ResNet`` (so a classifier's or ImageNet's weights load by name); SSD maps from layer2,
    layer3, layer4 and three extra blocks (38, 19, 10, 5, 3, 1 px at 300 px)."""

    def __init__(self, width: float = 1.0):
        super().__init__()
        blocks = RESNET101_BLOCKS
        self.inplanes = channels(64, width)
        self.conv1 = nn.Conv2d(3, self.inplanes, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        planes = [channels(c, width) for c in (64, 128, 256, 512)]
        self.layer1 = self._stage(planes[0], blocks[0], 1)
        self.layer2 = self._stage(planes[1], blocks[1], 2)
        self.layer3 = self._stage(planes[2], blocks[2], 2)
        self.layer4 = self._stage(planes[3], blocks[3], 2)
        c4, c8, c9, mid = planes[3] * 4, channels(512, width), channels(256, width), channels(128, width)
        self.extra = nn.ModuleList([_extra(c4, channels(256, width), c8, 2, 1), _extra(c8, mid, c9, 1, 0),
                                    _extra(c9, mid, c9, 1, 0)])
        self.out_channels = [planes[1] * 4, planes[2] * 4, c4, c8, c9, c9]
        for m in self.modules():  # torchvision ResNet's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        _xavier(self.extra)

    def _stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        """torchvision ``ResNet._make_layer`` for Bottleneck blocks (expansion 4)."""
        down = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            down = nn.Sequential(conv1x1(self.inplanes, planes * Bottleneck.expansion, stride),
                                 nn.BatchNorm2d(planes * Bottleneck.expansion))
        layers = [Bottleneck(self.inplanes, planes, stride, down)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> OrderedDict:
        x = self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x)))))
        maps = [self.layer2(x)]
        maps.append(self.layer3(maps[-1]))
        maps.append(self.layer4(maps[-1]))
        x = maps[-1]
        for block in self.extra:
            x = block(x)
            maps.append(x)
        return OrderedDict((str(i), m) for i, m in enumerate(maps))


def build_ssd(backbone: str, width: float, num_classes: int, size: int = 300) -> SSD:
    """torchvision's SSD300 on ``backbone`` ("atrous_vgg16" | "resnet101") at ``width`` (module docstring),
    randomly initialised (seed with ``torch.manual_seed`` first), for ``num_classes`` classes (background
    included) on ``size`` × ``size`` inputs; ``model.grid_sizes`` holds its feature-map sizes."""
    if backbone not in BACKBONES:
        raise CompanionError(f"unknown SSD backbone {backbone!r}; choose one of: {', '.join(BACKBONES)}")
    if not (isinstance(width, (int, float)) and 0 < width <= 1):
        raise CompanionError(f"width={width!r}; need a number in (0, 1] (1 = torchvision's channels)")
    features = AtrousVGG16Features(width) if backbone == "atrous_vgg16" else ResNetFeatures(width)
    anchors = DefaultBoxGenerator(ASPECT_RATIOS, scales=SCALES, steps=STEPS)
    head = SSDHead(features.out_channels, anchors.num_anchors_per_location(), num_classes)
    model = SSD(features, anchors, (size, size), num_classes, image_mean=list(IMAGENET_MEAN),
                image_std=list(IMAGENET_STD), head=head, detections_per_img=MAX_DETECTIONS)
    model.grid_sizes = grid_sizes(model, size)
    return model


@torch.no_grad()
def grid_sizes(model: SSD, size: int = 300) -> list[tuple[int, int]]:
    """The feature-map sizes of ``model`` for a ``size`` px input (one forward pass in eval mode)."""
    was = model.training
    model.eval()
    maps = model.backbone(torch.zeros(1, 3, size, size))
    model.train(was)
    return [tuple(m.shape[-2:]) for m in maps.values()]


__all__ = ["BACKBONES", "ASPECT_RATIOS", "SCALES", "STEPS", "MAX_DETECTIONS", "AtrousVGG16Features",
           "ResNetFeatures", "build_ssd", "grid_sizes"]
