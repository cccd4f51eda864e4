"""OWAN: operation-wise attention network for restoring images with unknown combined distortions.

Suganuma, Liu, Okatani, "Attention-based adaptive selection of operations for image restoration in the
presence of unknown combined distortions", CVPR 2019 ([144] in the thesis, the baseline of Table 7.1 that,
like MEPSNet, is meant for several distortions at once).

    x ──conv+ReLU──conv+ReLU──▶ z_0 ──group 1──▶ z_1 ── … ──group G──▶ z_G ──conv──▶ (+ x) ──▶ ŷ

    group g (k operation-wise attention layers, one attention layer, one skip):
        a = softmax_ops( FC2 δ( FC1 GAP(z_{g−1}) ) )               a ∈ R^{k×M}, one row per layer
        h_0 = z_{g−1};   h_j = layer_j(h_{j−1}, a_j)   (j = 1 … k);   z_g = h_k + z_{g−1}

    operation-wise attention layer (M parallel operations f_1 … f_M on the same input):
        layer(h, a) = δ( conv1×1( concat[ a_1·f_1(h), …, a_M·f_M(h) ] ) )    (M·C channels → C)

* §3 (the operation-wise attention layer): every layer runs a fixed set of M operations in parallel; an
  attention vector over the operations, normalised by a softmax, scales each operation's output; the
  scaled outputs are concatenated and a 1×1 conv merges them back to C channels.
* The attention weights come from a small attention layer, global average pooling followed by two fully
  connected layers; for economy one attention layer produces the weights of k consecutive operation layers
  at once from their common input, and the k layers form a group with a skip connection.
* The operation set (M = 8): separable convs 1×1, 3×3, 5×5, 7×7; dilated separable convs 3×3, 5×5, 7×7
  (dilation 2); 3×3 average pooling. A separable conv is a depthwise k×k conv followed by a pointwise 1×1
  conv and ReLU.
* The network: a feature-extraction block (two 3×3 convs), the stack of L = 40 operation-wise attention layers
  in groups of k = 4, C = 16 channels per operation, and an output 3×3 conv; the input is added to the
  output (the network learns the residual).

Paper configuration (:data:`PAPER_CONFIG`, C = 16, L = 40, k = 4): **284,803 trainable parameters** (our
count under the readings below; the tests pin it).

Readings chosen (the layer counts above are what we recall of the paper; the rest the paper leaves open):

* L = 40 layers in 10 groups of k = 4, C = 16; the 8 operations listed above. Max pooling, a plain 3×3 conv
  and the identity are *not* in the set.
* Attention layer: GAP → FC(C → k·M) → ReLU → FC(k·M → k·M) → softmax over the M operations of each layer,
  computed from the group's input. The hidden width k·M (32 here) is our choice.
* A separable conv: depthwise conv without bias → pointwise 1×1 conv with bias → ReLU (no batch norm).
  Average pooling ignores the zero padding (``count_include_pad=False``) so borders are not darkened.
* The 1×1 merge conv has a bias and is followed by ReLU. Each group adds its input to its output.
* Feature extraction: conv 3→C + ReLU, conv C→C + ReLU; output: one conv C→3, plus the input image.
* Initialisation: PyTorch's default for every conv and FC layer, as the authors' code (sg-nm/Operation-wise-
  attention-network, ``model.py``: no explicit init), from which the thesis took OWAN (Table 7.1's protocol);
  the output is not clamped to [0, 1].

Speed (CPU): the model runs in channels-last layout and computes each dilated depthwise conv on the
polyphase components of its input (:func:`dilated_depthwise`); both give the same numbers as the plain
formulation (the tests check the polyphase one) and together make a CPU training step over 2× faster
(QUICK_CONFIG-like 8-layer model, batch 16 of 32×32, one thread: 0.93 s → 0.41 s).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from companion.models.common import check_image_batch

#: The registry entry (companion.models): name, label in tables, class, paper and quick sizes.
NAME, LABEL, MODEL = "owan", "OWAN", "OWAN"
INIT = "PyTorch default everywhere (the authors' code)"
PAPER_CONFIG = dict(channels=16, layers=40, group=4)
QUICK_CONFIG = dict(channels=8, layers=4, group=2)

# (kernel size, dilation) of each separable conv; the 8th operation is 3×3 average pooling.
SEPARABLE_OPS = ((1, 1), (3, 1), (5, 1), (7, 1), (3, 2), (5, 2), (7, 2))
NUM_OPS = len(SEPARABLE_OPS) + 1


def dilated_depthwise(x: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
    """Exactly ``conv2d(x, weight, dilation=d, padding=d(k−1)/2, groups=C)``, computed on the d×d polyphase
    components of ``x`` (a dilated conv only ever mixes pixels whose coordinates agree modulo d).

    Pixel-unshuffle splits x into d² sub-images, one ordinary (undilated) k×k depthwise conv filters them
    all, pixel-shuffle puts them back. Same numbers, but CPU backends run it 2–3× faster than a dilated
    depthwise conv (oneDNN has no fast path for those). Odd sizes are zero-padded to a multiple of d first,
    which the zero padding of the dilated conv would have supplied anyway, and cropped after.
    """
    h, w = x.shape[-2:]
    c, k = weight.shape[0], weight.shape[-1]
    x = F.pad(x, (0, -w % dilation, 0, -h % dilation))
    y = F.conv2d(F.pixel_unshuffle(x, dilation), weight.repeat_interleave(dilation ** 2, dim=0),
                 padding=(k - 1) // 2, groups=c * dilation ** 2)
    return F.pixel_shuffle(y, dilation)[..., :h, :w]


class SeparableConv(nn.Module):
    """Depthwise k×k (dilated) conv → pointwise 1×1 conv → ReLU; keeps the size."""

    def __init__(self, c: int, kernel: int, dilation: int):
        super().__init__()
        self.dilation = dilation
        self.depthwise = nn.Conv2d(c, c, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation,
                                   groups=c, bias=False)
        self.pointwise = nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dilation == 1:
            h = self.depthwise(x)
        else:
            h = dilated_depthwise(x, self.depthwise.weight, self.dilation)
        return torch.relu(self.pointwise(h))


class OperationWiseAttentionLayer(nn.Module):
    """M operations in parallel, each scaled by its attention weight, concatenated, merged by a 1×1 conv."""

    def __init__(self, c: int):
        super().__init__()
        self.ops = nn.ModuleList([SeparableConv(c, k, d) for k, d in SEPARABLE_OPS]
                                 + [nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)])
        self.merge = nn.Conv2d(NUM_OPS * c, c, 1)

    def forward(self, h: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """``attention``: B×M weights (rows sum to 1) for this layer."""
        scaled = [op(h) * attention[:, i, None, None, None] for i, op in enumerate(self.ops)]
        return torch.relu(self.merge(torch.cat(scaled, dim=1)))


class AttentionGroup(nn.Module):
    """k operation-wise attention layers sharing one attention layer (GAP + 2 FC), plus a skip."""

    def __init__(self, c: int, k: int):
        super().__init__()
        self.k = k
        self.attention = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                       nn.Linear(c, k * NUM_OPS), nn.ReLU(inplace=True),
                                       nn.Linear(k * NUM_OPS, k * NUM_OPS))
        self.layers = nn.ModuleList([OperationWiseAttentionLayer(c) for _ in range(k)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        a = self.attention(z).view(-1, self.k, NUM_OPS).softmax(dim=-1)   # B×k×M
        h = z
        for j, layer in enumerate(self.layers):
            h = layer(h, a[:, j])
        return h + z


class OWAN(nn.Module):
    """OWAN: feature extraction, ``layers // group`` attention groups of ``channels``, output conv, plus x."""

    def __init__(self, channels: int = 16, layers: int = 40, group: int = 4):
        super().__init__()
        if channels < 1 or group < 1 or layers < group or layers % group:
            raise ValueError(f"OWAN needs layers a positive multiple of group, got layers={layers}, group={group}")
        self.config = dict(channels=int(channels), layers=int(layers), group=int(group))
        self.extract = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(inplace=True),
                                     nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True))
        self.groups = nn.Sequential(*[AttentionGroup(channels, group) for _ in range(layers // group)])
        self.output = nn.Conv2d(channels, 3, 3, padding=1)
        # PyTorch's default init everywhere, as the authors' code (see the module docstring)

    def operation_attention(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights of every layer for ``x``: B×L×M (which operations the network chose)."""
        check_image_batch(x, "OWAN")
        z, weights = self.extract(x), []
        for g in self.groups:
            weights.append(g.attention(z).view(-1, g.k, NUM_OPS).softmax(dim=-1))
            z = g(z)
        return torch.cat(weights, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, "OWAN")
        # channels-last memory layout: the depthwise convs run about twice as fast on CPU; same numbers
        h = self.groups(self.extract(x.contiguous(memory_format=torch.channels_last)))
        return (x + self.output(h)).contiguous()
