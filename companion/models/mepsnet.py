"""MEPSNet: mixture of experts with parameter sharing (thesis §7.4, seed 000 §4).

    X ──extract──▶ F0 ──┬─ expert 1 ─┐
                        ├─ expert 2 ─┼─ concat F_D ─▶ attentive fusion ─▶ reconstruction ─▶ ŷ     (Eq. 7.1–7.2)
                        └─ expert N ─┘

* **Feature extraction** ``f_ext``: three 3×3 convs with ReLU, widths 3 → 128 → 256 → 256 ("gradually expanded
  up to 256", §7.4.1).
* **Expert** ``f_exp^k``: head conv 256 → 64, three SRIR units, tail conv 64 → 64; a long skip adds the head's
  output to the SRIRs' output before the tail (§7.4.2). An **SRIR** is 12 SResidual blocks plus an
  SRIR-level skip; an **SResidual** block is SConv → ReLU → SConv plus its own skip (Fig. 7.4).
* **Global template bank**: K templates ``T_j`` of shape 64×64×3×3, shared by every SConv of every expert.
  An SConv holds only a coefficient vector ``α ∈ R^K`` and uses ``W̃ = Σ_j α_j T_j`` (Eq. 7.3).
* **Attentive feature fusion** on ``F_D`` (N·64 channels): ``S = σ(W2 δ(W1 GAP(F_D)))``, ``F_F = S · F_D``
  (Eq. 7.4–7.5), W1/W2 1×1 convs squeezing by 2.
* **Reconstruction** ``f_recon``: 3×3 conv N·64 → N·32, ReLU, 3×3 conv → 3.

Paper configuration (:data:`PAPER_CONFIG`): 3 experts × 3 SRIR × 12 SResidual, K = 16, extraction 256,
expert 64: **2,241,187 trainable parameters** (the count of the public implementation; tests check it).

Readings chosen (the text leaves these open; the parameter count pins most of them):

* SConvs have no bias; every plain conv has one. The head/tail/extraction convs are ordinary (not shared).
  With these, and fusion squeeze ratio 2 and a reconstruction width of half of F_D, the count is exactly
  2,241,187; no other combination of the open choices we tried gives it.
* The input is shifted by the DIV2K RGB mean (0.4488, 0.4371, 0.4040) before extraction and the mean added
  back at the end (a fixed, untrained shift: the EDSR-family convention of [17, 113]); there is no
  input-to-output skip, as in the text.
* **Initialisation: the authors' public code (sijinkim/MEPSNet_dev), not the text's "He initialisation"
  everywhere** (§7.5). The reference He-initialises (``kaiming_normal_``) the weights of the convs inside
  each expert (head, tail; and the plain convs of ``share=False``) and every template, keeps PyTorch's
  default ``Conv2d`` init for the feature extraction, the attentive fusion and the reconstruction, and keeps
  the default biases everywhere; so does the companion. Why: the text does not say which layers, the
  released weights were trained from this init, and it is the one that trains: He with zero biases on every
  conv gave a freshly initialised output several times the input's range (std 4.0–9.0 over 3 seeds, paper
  size, on an astronaut crop, measured) and, in an outside measurement with the quick model, a first loss
  of 14.18 against 0.060. The coefficients follow soft parameter sharing [146]: the 2·srir·blocks
  coefficient vectors of one expert, stacked as an L×K matrix, start as a (semi-)orthogonal matrix, one row
  per SConv; the rows have norm √(K/L) (0.47 in the paper configuration), so the 36 residual blocks of an
  expert do not blow up. The reference indexes the rows as ``i*12 + 2j`` (SRIR i, block j), so only rows
  0–47 are used and 24 of each expert's 72 coefficient vectors start identical to another one's (on the CPU
  as views of one storage); the companion gives every SConv its own row, which is what the orthogonal
  init is for.
* ``share=False`` (the "no PS" rows of Tables 7.3 and 7.4) gives every SConv its own plain 3×3 conv (with
  bias) instead of a coefficient vector.
* Table 7.4's "36 blocks in total": 1 expert × 3 SRIR × 12 blocks, or 3 experts × 3 SRIR × 4 blocks.

Speed: the straightforward SConv synthesises its weight at every call. In eval mode each SConv caches the
synthesised weight until a template or coefficient changes (tracked by the tensors' version counters), and
:func:`for_inference` returns a frozen copy in bf16 / channels-last for fast CPU or GPU inference.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from companion.models.common import check_image_batch

#: The registry entry (companion.models): name, label in tables, class, paper and quick sizes.
NAME, LABEL, MODEL = "mepsnet", "MEPSNet", "MEPSNet"
#: How fresh weights are drawn (part of every checkpoint's identity, so a changed init never reuses old runs).
INIT = "reference: He in the experts and the bank, PyTorch default elsewhere; one orthogonal row per SConv"
PAPER_CONFIG = dict(experts=3, srir=3, blocks=12, templates=16, extract_width=256, expert_width=64, share=True)
# A CPU-sized MEPSNet with every part of the paper's (3 experts, shared bank, SRIRs with several blocks): about
# 77K MACs per pixel instead of 9.6M, for the quick profile's minutes-long training on a laptop.
QUICK_CONFIG = dict(experts=3, srir=2, blocks=2, templates=8, extract_width=32, expert_width=16, share=True)
DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


class TemplateBank(nn.Module):
    """The global template bank: K tensors T_j of shape C×C×3×3 (§7.4.2)."""

    def __init__(self, templates: int, channels: int, kernel: int = 3):
        super().__init__()
        self.templates = nn.Parameter(torch.empty(templates, channels, channels, kernel, kernel))
        for t in self.templates.data:
            nn.init.kaiming_normal_(t, nonlinearity="relu")

    def synthesise(self, alpha: torch.Tensor) -> torch.Tensor:
        """W̃ = Σ_j α_j T_j (Eq. 7.3) for one coefficient vector (K) or a stack of them (L×K)."""
        return torch.tensordot(alpha, self.templates, dims=([-1], [0]))


class SConv(nn.Module):
    """Shared 3×3 conv: only the coefficient vector α is its own; the weight comes from the bank (Eq. 7.3).

    The bank is not registered as a child module (it belongs to the network, once), so ``state_dict`` and
    the parameter count hold it exactly once.
    """

    def __init__(self, bank: TemplateBank):
        super().__init__()
        self._bank = [bank]  # a list hides it from nn.Module's registration
        self.alpha = nn.Parameter(torch.zeros(bank.templates.shape[0]))  # set by Expert: orthogonal init
        self._cache: tuple[tuple[int, int], torch.Tensor] | None = None

    @property
    def bank(self) -> TemplateBank:
        return self._bank[0]

    def weight(self) -> torch.Tensor:
        """The synthesised weight; cached in eval mode without autograd until α or the templates change."""
        if self.training or torch.is_grad_enabled():
            self._cache = None
            return self.bank.synthesise(self.alpha)
        key = (self.alpha._version, self.bank.templates._version)
        cached = self._cache
        if cached is None or cached[0] != key or cached[1].device != self.alpha.device \
                or cached[1].dtype != self.alpha.dtype:
            cached = (key, self.bank.synthesise(self.alpha))
            self._cache = cached
        return cached[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), padding=1)


class FrozenConv(nn.Module):
    """An SConv with its synthesised weight baked in (for :func:`for_inference`)."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.register_buffer("weight", weight.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, padding=1)


def _conv3(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1)


class SResidual(nn.Module):
    """SConv → ReLU → SConv with a skip (Fig. 7.4, right); plain convs when ``bank`` is None (no PS)."""

    def __init__(self, width: int, bank: TemplateBank | None):
        super().__init__()
        make = (lambda: SConv(bank)) if bank is not None else (lambda: _conv3(width, width))
        self.conv1, self.conv2 = make(), make()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class SRIR(nn.Module):
    """Shared residual-in-residual unit: ``blocks`` SResidual blocks plus an SRIR-level skip (§7.4.2)."""

    def __init__(self, width: int, blocks: int, bank: TemplateBank | None):
        super().__init__()
        self.body = nn.Sequential(*[SResidual(width, bank) for _ in range(blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Expert(nn.Module):
    """Head conv, ``srir`` SRIR units, long skip, tail conv (§7.4.2, Fig. 7.4 left)."""

    def __init__(self, in_width: int, width: int, srir: int, blocks: int, bank: TemplateBank | None):
        super().__init__()
        self.head = _conv3(in_width, width)
        self.body = nn.Sequential(*[SRIR(width, blocks, bank) for _ in range(srir)])
        self.tail = _conv3(width, width)
        for m in self.modules():  # the reference's init: He weights inside the expert, PyTorch's default biases
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        sconvs = [m for m in self.body.modules() if isinstance(m, SConv)]
        if sconvs:
            coefficients = torch.empty(len(sconvs), bank.templates.shape[0])
            nn.init.orthogonal_(coefficients)
            for m, row in zip(sconvs, coefficients):
                m.alpha.data.copy_(row)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        return self.tail(h + self.body(h))


class AttentiveFusion(nn.Module):
    """S = σ(W2 δ(W1 GAP(F_D))), F_F = S · F_D (Eq. 7.4–7.5); ``attention`` outputs S (B×C×1×1)."""

    def __init__(self, channels: int, squeeze: int = 2):
        super().__init__()
        self.attention = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, channels // squeeze, 1),
                                       nn.ReLU(), nn.Conv2d(channels // squeeze, channels, 1), nn.Sigmoid())

    def forward(self, fd: torch.Tensor) -> torch.Tensor:
        return fd * self.attention(fd)


class MEPSNet(nn.Module):
    """MEPSNet (thesis §7.4). ``MEPSNet()`` is the paper configuration; see the module docstring."""

    def __init__(self, experts: int = 3, srir: int = 3, blocks: int = 12, templates: int = 16,
                 extract_width: int = 256, expert_width: int = 64, share: bool = True):
        super().__init__()
        for name, value in (("experts", experts), ("srir", srir), ("blocks", blocks), ("templates", templates),
                            ("extract_width", extract_width), ("expert_width", expert_width)):
            if int(value) < 1:
                raise ValueError(f"MEPSNet {name} must be at least 1, got {value}")
        if extract_width % 2:
            raise ValueError(f"MEPSNet extract_width must be even (3 → width/2 → width), got {extract_width}")
        self.config = dict(experts=int(experts), srir=int(srir), blocks=int(blocks), templates=int(templates),
                           extract_width=int(extract_width), expert_width=int(expert_width), share=bool(share))
        self.n_experts = int(experts)
        self.register_buffer("mean", torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1), persistent=False)
        self.extract = nn.Sequential(_conv3(3, extract_width // 2), nn.ReLU(),
                                     _conv3(extract_width // 2, extract_width), nn.ReLU(),
                                     _conv3(extract_width, extract_width), nn.ReLU())
        self.bank = TemplateBank(templates, expert_width) if share else None
        self.experts = nn.ModuleList(Expert(extract_width, expert_width, srir, blocks, self.bank)
                                     for _ in range(experts))
        fused = experts * expert_width
        self.fusion = AttentiveFusion(fused)
        self.reconstruct = nn.Sequential(_conv3(fused, fused // 2), nn.ReLU(), _conv3(fused // 2, 3))
        # Extraction, fusion and reconstruction keep PyTorch's default Conv2d init, as the reference does; the
        # experts initialised their own convs, the bank its templates (see the module docstring).

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, "MEPSNet")
        f0 = self.extract(x - self.mean.to(x.dtype))
        fd = torch.cat([expert(f0) for expert in self.experts], dim=1)   # Eq. 7.1
        return self.reconstruct(self.fusion(fd)) + self.mean.to(x.dtype)  # Eq. 7.2

    def for_inference(self, *, dtype: torch.dtype = torch.bfloat16, channels_last: bool = True):
        """:func:`for_inference` of this model: a frozen copy with the synthesised weights baked in."""
        return for_inference(self, dtype=dtype, channels_last=channels_last)


class InferenceMEPSNet(nn.Module):
    """A frozen MEPSNet for inference: synthesised weights baked in, any dtype and memory format.

    Takes and returns float32 ``B×3×H×W``. Extraction, experts and fusion run in ``dtype`` (bf16 by
    default); the reconstruction (1.7 % of the work) and the mean shift stay in float32, so the output is
    not rounded to bf16's 8-bit mantissa.
    """

    def __init__(self, net: MEPSNet, dtype: torch.dtype, channels_last: bool):
        super().__init__()
        self.net, self.dtype, self.channels_last = net, dtype, channels_last
        self.config = dict(net.config)
        self.n_experts = net.n_experts

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, "MEPSNet")
        net = self.net
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        h = (x.float() - net.mean).to(self.dtype).contiguous(memory_format=fmt)
        f0 = net.extract(h)
        fd = net.fusion(torch.cat([expert(f0) for expert in net.experts], dim=1))
        return (net.reconstruct(fd.float()) + net.mean).contiguous()


@torch.no_grad()
def for_inference(model: MEPSNet, *, dtype: torch.dtype = torch.bfloat16,
                  channels_last: bool = True) -> InferenceMEPSNet:
    """A frozen copy of ``model`` for fast inference (the original is untouched).

    Every SConv's weight ``Σ_j α_j T_j`` is synthesised once (one matrix product for all of them) and
    stored as a plain buffer, then the copy is cast to ``dtype`` and, optionally, to channels-last memory
    format. ``benchmarks/mepsnet.py`` measures its speed and the PSNR it costs.
    """
    net = copy.deepcopy(model).eval()
    sconvs = [(name, m) for name, m in net.named_modules() if isinstance(m, SConv)]
    if sconvs:
        alphas = torch.stack([m.alpha for _, m in sconvs])
        weights = net.bank.synthesise(alphas)
        for (name, _), w in zip(sconvs, weights):
            parent_name, _, child = name.rpartition(".")
            setattr(net.get_submodule(parent_name), child, FrozenConv(w))
        net.bank = None
    for part in (net.extract, net.experts, net.fusion):
        part.to(dtype)
        if channels_last:
            part.to(memory_format=torch.channels_last)
    if channels_last:
        net.reconstruct.to(memory_format=torch.channels_last)
    for p in net.parameters():
        p.requires_grad_(False)
    return InferenceMEPSNet(net, dtype, channels_last).eval()


def macs_per_pixel(config: dict | None = None) -> int:
    """Multiply-accumulates per output pixel of a forward pass (3×3 convs dominate; 1×1 fusion ignored)."""
    c = {**PAPER_CONFIG, **(config or {})}
    e, w, n = c["extract_width"], c["expert_width"], c["experts"]
    extract = 9 * (3 * e // 2 + (e // 2) * e + e * e)
    expert = 9 * (e * w + w * w + 2 * c["srir"] * c["blocks"] * w * w)
    recon = 9 * (n * w * (n * w // 2) + (n * w // 2) * 3)
    return extract + n * expert + recon


def receptive_field(config: dict | None = None) -> int:
    """Side of the receptive field in pixels: every 3×3 conv on the longest path adds 2."""
    c = {**PAPER_CONFIG, **(config or {})}
    convs = 3 + 1 + 2 * c["srir"] * c["blocks"] + 1 + 2
    return 1 + 2 * convs

