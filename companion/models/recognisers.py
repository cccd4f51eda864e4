"""VGG-16, Atrous VGG-16 and ResNet-101 as distortion classifiers (thesis §6.3.1–6.3.2, Table 6.1).

A shared helper module (no ``NAME``): the registry lists one model per file, and these three are one idea, a
torchvision ImageNet architecture whose last FC layer is replaced by a new one "suited for the number of
classes of our dataset" (§6.3.2). :class:`Recogniser` wraps each:

* **VGG-16** (Simonyan & Zisserman, [129]): torchvision's layout (``torchvision.models.vgg.make_layers`` of
  configuration "D", 13 convs and 5 max-pools, then ``AdaptiveAvgPool2d(7)`` and FC 4096 → FC 4096), the new FC
  on the 4096-d fc7 output. Its keys are torchvision's (``features.*``, ``classifier.0/3/6``).
* **Atrous VGG-16** (DeepLab-LargeFOV, [137]): the same 13 convs, but pool4 and pool5 are 3×3 max-pools of
  stride 1 (padding 1) and the three conv5 layers are dilated by 2, so the features keep 1/8 of the input's
  side; fc6 becomes a 3×3 convolution of 1024 maps dilated by 12 and fc7 a 1×1 convolution of 1024 maps
  ("Atrous VGGNet subsamples parameters in its final two fully-connected layers", §6.3.2). A global average
  pool of fc7 feeds the new FC (1024-d).
* **ResNet-101** (He et al., [130]): torchvision's ``ResNet`` with ``Bottleneck`` blocks [3, 4, 23, 3], global
  average pooling, the new FC on the 2048-d pooled features (its key ``fc``).

Every network takes a B×3×H×W batch in [0, 1] and normalises it with ImageNet's mean and standard deviation
(what torchvision's weights expect) before the first conv, pretrained or not, so every model sees one input.

**Width.** ``width=1`` is the paper's network (torchvision's exact layer sizes, parameter for parameter);
a smaller ``width`` (the quick profile) multiplies every channel count (convs, FC layers, ResNet's stem and
bottleneck planes) by it, keeping the depth, strides and dilations.

**ImageNet weights** (§6.3.1: "we use CNNs pre-trained on ImageNet for all our experiments") are read from
torchvision's cache only, ``torch.hub.get_dir()/checkpoints/<file>`` with torchvision's own file names
(:func:`imagenet_file`); nothing is ever downloaded. They fit the paper width only. VGG-16's go in key for
key; Atrous VGG-16 takes VGG-16's convs, and its fc6 / fc7 are VGG-16's fc6 / fc7 subsampled as DeepLab and
SSD do (:func:`decimate_fc`: every 4th output (and fc7 input) unit, and fc6's 7×7 kernel at every 3rd tap);
ResNet-101's go in key for key. The new FC never comes from ImageNet. Without the file, or at a small width,
the network keeps torchvision's random initialisation (:func:`initialisation` says which, for the ledger).

**Two regimes** (§6.3.2): ``frozen=True`` freezes everything but the new FC ("we remove the last
fully-connected layer in the pre-trained network and freeze all layers", only the new layer trains); the
frozen part also stays in evaluation mode while training (no dropout, batch-norm statistics kept), the usual
meaning of a fixed feature extractor. ``frozen=False`` fine-tunes every layer.

Readings chosen:

* Initialisation as torchvision's constructors do it: VGG's convs Kaiming-normal (fan-out) with zero biases
  and its FC layers N(0, 0.01); ResNet's convs Kaiming-normal (fan-out), batch-norm γ = 1, β = 0, its FC
  PyTorch's default. The atrous fc6 / fc7 convs and the atrous model's new FC follow VGG's rules.
* The new FC of VGG-16 keeps torchvision's dropout before it (the fc7 block's); in the frozen regime that
  dropout is part of the frozen, evaluation-mode block.
* DeepLab's classifier is dense (per-pixel); a classifier over images needs one vector, so the fc7 maps are
  averaged over space (as ResNet does).
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models import ResNet101_Weights, VGG16_Weights
from torchvision.models.resnet import Bottleneck, ResNet
from torchvision.models.vgg import VGG, cfgs, make_layers

from companion.errors import CompanionError
from companion.models.common import check_image_batch

#: architecture -> how tables name it.
ARCHITECTURES = {"vgg16": "VGG-16", "atrous_vgg16": "Atrous VGG-16", "resnet101": "ResNet-101"}
#: torchvision's ImageNet weights each architecture can start from, first found wins (their file names only:
#: :func:`imagenet_file` looks for them in the cache and never downloads).
IMAGENET_WEIGHTS = {"vgg16": (VGG16_Weights.IMAGENET1K_V1,), "atrous_vgg16": (VGG16_Weights.IMAGENET1K_V1,),
                    "resnet101": (ResNet101_Weights.IMAGENET1K_V1, ResNet101_Weights.IMAGENET1K_V2)}
#: ImageNet's RGB mean and standard deviation (torchvision's weights expect inputs normalised by them).
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
#: The smallest input side: every network ends in a pooling that needs at least one position.
MIN_SIDE = 32
#: DeepLab-LargeFOV's atrous fc6: 1024 maps, 3×3, dilation 12; conv5's dilation.
ATROUS_FC, ATROUS_FC6_DILATION, CONV5_DILATION = 1024, 12, 2
RESNET101_BLOCKS = (3, 4, 23, 3)


def channels(count: int, width: float) -> int:
    """``count`` channels at ``width`` (at least one)."""
    return max(1, int(round(count * width)))


def _vgg_init(module: nn.Module) -> None:
    """torchvision's VGG initialisation: convs Kaiming-normal (fan-out), zero biases; linear N(0, 0.01)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def vgg16_features(width: float = 1.0) -> nn.Sequential:
    """VGG-16's 13 convs and 5 max-pools (torchvision's configuration "D") at ``width``."""
    return make_layers([v if v == "M" else channels(v, width) for v in cfgs["D"]])


class VGG16(VGG):
    """torchvision's VGG-16 at ``width`` with a ``classes``-way last layer (``classifier.6``, the new FC)."""

    head_name = "classifier.6"

    def __init__(self, classes: int, width: float = 1.0):
        nn.Module.__init__(self)  # VGG's own constructor fixes the FC sizes to the paper width
        hidden = channels(4096, width)
        self.features = vgg16_features(width)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(nn.Linear(channels(512, width) * 49, hidden), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(hidden, classes))
        _vgg_init(self)
    # forward: VGG.forward (features → 7×7 average pool → flatten → classifier)


class AtrousVGG16(nn.Module):
    """DeepLab-LargeFOV's atrous VGG-16 at ``width``: pool4 / pool5 of stride 1, conv5 dilated by 2, fc6 a 3×3
    conv dilated by 12 and fc7 a 1×1 conv (1024 maps each at the paper width), a global average pool and a
    ``classes``-way new FC (``classifier``)."""

    head_name = "classifier"

    def __init__(self, classes: int, width: float = 1.0):
        super().__init__()
        layers, pools = [], 0
        for layer in vgg16_features(width):
            if isinstance(layer, nn.MaxPool2d):
                pools += 1
                if pools >= 4:  # pool4, pool5: 3×3, stride 1, padding 1
                    layer = nn.MaxPool2d(3, stride=1, padding=1)
            elif isinstance(layer, nn.Conv2d) and pools == 4:  # conv5_1..3: dilated, same size
                layer.dilation, layer.padding = (CONV5_DILATION,) * 2, (CONV5_DILATION,) * 2
            layers.append(layer)
        self.features = nn.Sequential(*layers)
        fc = channels(ATROUS_FC, width)
        self.fc = nn.Sequential(
            nn.Conv2d(channels(512, width), fc, 3, padding=ATROUS_FC6_DILATION, dilation=ATROUS_FC6_DILATION),
            nn.ReLU(True), nn.Dropout(), nn.Conv2d(fc, fc, 1), nn.ReLU(True), nn.Dropout())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(fc, classes)
        _vgg_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.fc(self.features(x))), 1))


class ResNet101(ResNet):
    """torchvision's ResNet-101 (``Bottleneck`` × [3, 4, 23, 3]) at ``width`` with a ``classes``-way ``fc``."""

    head_name = "fc"

    def __init__(self, classes: int, width: float = 1.0):
        nn.Module.__init__(self)  # ResNet's own constructor fixes the stem and plane widths to the paper's
        self._norm_layer, self.dilation, self.groups, self.base_width = nn.BatchNorm2d, 1, 1, 64
        self.inplanes = channels(64, width)
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        planes = [channels(p, width) for p in (64, 128, 256, 512)]
        self.layer1 = self._make_layer(Bottleneck, planes[0], RESNET101_BLOCKS[0])
        self.layer2 = self._make_layer(Bottleneck, planes[1], RESNET101_BLOCKS[1], stride=2)
        self.layer3 = self._make_layer(Bottleneck, planes[2], RESNET101_BLOCKS[2], stride=2)
        self.layer4 = self._make_layer(Bottleneck, planes[3], RESNET101_BLOCKS[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3] * Bottleneck.expansion, classes)
        for m in self.modules():  # torchvision's ResNet initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
    # forward: ResNet.forward (stem → layer1..4 → global average pool → fc)


NETWORKS = {"vgg16": VGG16, "atrous_vgg16": AtrousVGG16, "resnet101": ResNet101}


class Recogniser(nn.Module):
    """One of :data:`ARCHITECTURES` at ``width`` with a new ``classes``-way FC; ``frozen`` trains only that FC
    (the rest keeps ``requires_grad=False`` and evaluation mode). Input: a B×3×H×W batch in [0, 1]."""

    def __init__(self, architecture: str, classes: int = 24, width: float = 1.0, frozen: bool = False):
        super().__init__()
        if architecture not in NETWORKS:
            raise CompanionError(f"unknown recogniser {architecture!r}; choose one of {', '.join(NETWORKS)}")
        if not 0 < float(width) <= 1:
            raise CompanionError(f"width={width!r}: choose a channel multiplier in (0, 1] (1 = the paper's network)")
        self.config = dict(architecture=architecture, classes=int(classes), width=float(width), frozen=bool(frozen))
        self.label = ARCHITECTURES[architecture]
        self.net = NETWORKS[architecture](int(classes), float(width))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if frozen:
            for p in self.backbone_parameters():
                p.requires_grad_(False)
            self.train()

    @property
    def head(self) -> nn.Module:
        """The new FC layer (the only one trained in the frozen regime)."""
        return self.net.get_submodule(self.net.head_name)

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.head.parameters())

    def backbone_parameters(self) -> list[nn.Parameter]:
        """Every parameter but the new FC's: what the frozen regime freezes."""
        head = {id(p) for p in self.head.parameters()}
        return [p for p in self.net.parameters() if id(p) not in head]

    def train(self, mode: bool = True) -> "Recogniser":
        """As ``nn.Module.train``; when frozen, everything but the new FC stays in evaluation mode."""
        super().train(mode)
        if self.config["frozen"] and mode:
            self.net.eval()
            self.head.train()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (logits) of a B×3×H×W batch in [0, 1]."""
        check_image_batch(x, self.label, min_side=MIN_SIDE)
        return self.net((x - self.mean) / self.std)


# --------------------------------------------------------------------------------------------------------
# ImageNet weights, from torchvision's cache only.


def imagenet_file(architecture: str, hub_dir: str | Path | None = None) -> Path | None:
    """The first of :data:`IMAGENET_WEIGHTS`' files for ``architecture`` present in torchvision's cache
    (``hub_dir``, default ``torch.hub.get_dir()``, then ``checkpoints/``); None when none is. Never downloads."""
    folder = Path(hub_dir if hub_dir is not None else torch.hub.get_dir()) / "checkpoints"
    for weights in IMAGENET_WEIGHTS[architecture]:
        path = folder / Path(urlparse(weights.url).path).name
        if path.is_file():
            return path
    return None


def initialisation(architecture: str, width: float, hub_dir: str | Path | None = None) -> str:
    """How :func:`build_recogniser` will start ``architecture`` at ``width``: ``"imagenet:<file name>"`` when the
    weights are cached and fit (paper width), else ``"random"`` (torchvision's initialisation). It names the
    file, so a zoo key built on it changes when the cache does."""
    path = imagenet_file(architecture, hub_dir) if float(width) == 1.0 else None
    return f"imagenet:{path.name}" if path is not None else "random"


def initialisation_text(init: str, width: float) -> str:
    """``init`` (:func:`initialisation`) in words, for tables and the ledger."""
    if init.startswith("imagenet:"):
        return f"ImageNet weights ({init.split(':', 1)[1]}, torchvision's cache)"
    why = "no ImageNet weights in torchvision's cache" if float(width) == 1.0 else \
        f"width {width:g}: ImageNet weights fit the paper width only"
    return f"random initialisation ({why})"


def decimate_fc(weight: torch.Tensor, bias: torch.Tensor, kernel: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """VGG-16's fc6 (``kernel=7``: 4096 × 512·7·7) or fc7 (``kernel=None``: 4096 × 4096) as DeepLab's / SSD's
    atrous conv weights: every 4th output unit (and, for fc7, every 4th input), fc6's 7×7 kernel at every 3rd
    tap (3×3). Returns (conv weight, bias)."""
    if kernel is not None:
        weight = weight.reshape(weight.shape[0], -1, kernel, kernel)[::4, :, ::3, ::3]
    else:
        weight = weight[::4, ::4, None, None]
    return weight.contiguous(), bias[::4].contiguous()


def imagenet_state(architecture: str, path: Path) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet state dict at ``path`` (``torch.load(weights_only=True)``: no unpickling), as the
    keys of :class:`Recogniser`'s network, without the 1000-way FC."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if architecture == "vgg16":
        return {k: v for k, v in state.items() if not k.startswith("classifier.6.")}
    if architecture == "resnet101":
        return {k: v for k, v in state.items() if not k.startswith("fc.")}
    out = {k: v for k, v in state.items() if k.startswith("features.")}
    out["fc.0.weight"], out["fc.0.bias"] = decimate_fc(state["classifier.0.weight"], state["classifier.0.bias"], 7)
    out["fc.3.weight"], out["fc.3.bias"] = decimate_fc(state["classifier.3.weight"], state["classifier.3.bias"], None)
    return out


def load_imagenet(model: Recogniser, path: Path) -> None:
    """Load the ImageNet weights at ``path`` into everything but ``model``'s new FC (a one-line error when
    they do not fit)."""
    state = imagenet_state(model.config["architecture"], path)
    where = f"{path} does not fit {model.label} at width {model.config['width']:g}"
    try:
        missing, unexpected = model.net.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a shape mismatch
        raise CompanionError(f"{where} ({str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else exc})"
                             ) from None
    head = model.net.head_name + "."
    if unexpected or any(not k.startswith(head) for k in missing):
        raise CompanionError(f"{where} (missing {[k for k in missing if not k.startswith(head)][:3]}, unexpected "
                             f"{unexpected[:3]})")


def build_recogniser(architecture: str, classes: int = 24, width: float = 1.0, frozen: bool = False,
                     init: str = "random", hub_dir: str | Path | None = None) -> Recogniser:
    """A :class:`Recogniser` started as ``init`` says (:func:`initialisation`): torchvision's random
    initialisation (seed it with ``torch.manual_seed`` first), or its ImageNet weights from the cache."""
    model = Recogniser(architecture, classes, width, frozen)
    if init.startswith("imagenet:"):
        path = imagenet_file(architecture, hub_dir)
        if path is None or path.name != init.split(":", 1)[1]:
            raise CompanionError(f"{init.split(':', 1)[1]} is not in torchvision's cache "
                                 f"({Path(hub_dir or torch.hub.get_dir()) / 'checkpoints'}); nothing is downloaded")
        load_imagenet(model, path)
    elif init != "random":
        raise CompanionError(f"unknown initialisation {init!r}; use 'random' or 'imagenet:<file>'")
    return model
