"""The six weight initialisations of Table 2.3 (thesis §2.4.4), what they do to an untrained CARN (Figs. 2.6-2.7),
and Table 2.3 itself at a profile's scale, for ``02b_initialisation``.

**The six schemes** (:data:`INITS`, in Table 2.3's order). F is a convolution's fan-in, ``C_in / groups · k²``;
the table's "std/range" is the standard deviation of a zero-mean normal or the half-width of a zero-centred
uniform:

=====  ==========================  ===============================  ===========================================
 row    Table 2.3                   the authors' code                 key
=====  ==========================  ===============================  ===========================================
 1      Normal  0.1·√(2/F)          ``msra_normal``,  scale 0.1       ``msra_normal_0.1``
 2      Uniform 0.1·√(6/F)          ``msra_uniform``, scale 0.1       ``msra_uniform_0.1``
 3      Uniform 0.1·√(1/F)          ``default``,      scale 0.1       ``default_0.1``
 4      Normal  1.0·√(2/F) (MSRA)   ``msra_normal``,  scale 1.0       ``msra_normal_1.0``
 5      Uniform 1.0·√(6/F)          ``msra_uniform``, scale 1.0       ``msra_uniform_1.0``
 6      Uniform 1.0·√(1/F)          ``default``,      scale 1.0       ``default_1.0`` (the table's best)
=====  ==========================  ===============================  ===========================================

They are He et al.'s normal and uniform (``kaiming_normal_`` / ``kaiming_uniform_`` with ``a = 0``) and PyTorch's
default conv init (``kaiming_uniform_`` with ``a = √5``, whose bound is √(1/F)), each at scale 1 or 0.1. The
thesis' list is not the usual "Xavier, He, ..." menu: there is no Glorot/Xavier scheme in it (those use fan-in
*and* fan-out), and this module implements only the six the table has.

Readings, from the authors' experiment code (nmhkahn/PCARN-pytorch: ``carnpp/init.py``, applied to the whole
network by ``ecarn/solver.py``; ``script/init.sh`` runs it):

* every convolution whose weight is trainable gets the scheme (entry, residual 3×3 convs, 1×1 fusions,
  upsampler, exit); the fixed mean shift is a buffer here and is left alone, as their frozen ``MeanShift`` was;
* **biases start at zero** under all six (their code zeroes them). The thesis' §2.4.1 says biases are drawn
  from U(−k, k) like the weights, which is PyTorch's default and what :class:`companion.models.carn.CARN` does
  when built; ``bias="default"`` gives that instead;
* the values are drawn in place from a ``torch.Generator`` when one is given, so a seed fixes them; with the
  same generator state, :func:`initialise` gives what the authors' ``torch.nn.init.kaiming_*_`` × scale gives,
  to float rounding (a test checks it), and two schemes of the same distribution differ only by a factor
  (the same random draws).

**Measurements without training** (Figs. 2.6-2.7; the paper-size single-scale ×4 CARN of Table 2.3):

* :func:`conv_layers` / :func:`weight_table`: every convolution with its part of the network (entry, 3×3 in a
  residual unit, 1×1 local or global fusion, upsampler, exit), fan-in, the std the scheme should give and the
  std it gave;
* :func:`sample_weights` + :func:`histogram`: Fig. 2.6's "100K parameters ... 1000 bins" (conv weights drawn
  uniformly without replacement; the zero biases are left out, they would only add a spike at 0);
  :func:`weight_histograms` does all six, with a torchvision ResNet under the same scheme as Fig. 2.6's
  reference curve (the thesis names "ResNet" without a depth; the profile picks one);
* :func:`pre_relu_activations`: forward hooks that keep the input of every ReLU of a CARN, in forward order
  (``block{b}.unit{u}.relu1`` = conv1's output, ``relu2`` = skip + conv2's output, ``upsample.relu{k}``);
  :func:`activation_groups` takes Fig. 2.7's three rows: (a) the first layer (the network's first ReLU input),
  (b) the second cascading block and (c) the last one (every ReLU input inside the block);
  :func:`activation_histograms` and :func:`activation_depth_profile` do all six schemes on one real batch of LR
  patches. :func:`activation_reading` says in words what the last block's histogram shows: "collapses toward
  zero", "explodes" or "carries the signal" (thresholds in its docstring).

**Table 2.3 trained** (:func:`train_and_evaluate`, :func:`run_table_2_3`, :func:`summarise`,
:func:`table_2_3_claims`, :func:`record_table_2_3`): a single-scale CARN of the profile's size, the scheme
applied, trained with the shared loop (:func:`companion.engine.loop.train`) on SR patches
(:class:`companion.data.sr.SRPatches`), the same steps and data order for every scheme of a seed, and scored
on held-out images under the SR protocol (:func:`companion.ch2.evaluation.evaluate_sr`:
:func:`companion.metrics.sr_scores`, Y of BT.601, ``scale`` px border, 8-bit outputs).
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from companion.data.images import centre_crop_at_most
from companion.device import torch_threads
from companion.errors import CompanionError
from companion.summary import check_claims, loss_curve, mean_std, pm, verdict
from companion.zoo import weights_text


# --------------------------------------------------------------------------------------------------------
# The six schemes.


@dataclass(frozen=True)
class Init:
    """One row of Table 2.3: weights ~ N(0, s) or U(−s, s) with s = ``scale`` · √(``gain2`` / F)."""

    key: str            # e.g. "msra_normal_1.0"
    row: str            # Table 2.3's row label in companion/paper/thesis.json
    label: str          # short label for figures, e.g. "1.0 × N(0, √(2/F))"
    distribution: str   # "normal" | "uniform"
    gain2: float        # 2 (He normal), 6 (He uniform) or 1 (PyTorch's default)
    scale: float        # 1.0 or 0.1
    authors: str        # the authors' init_type: "msra_normal", "msra_uniform" or "default"

    def spread(self, fan_in: int) -> float:
        """Table 2.3's "std/range" for a layer of fan-in ``fan_in``: the normal's std or the uniform's bound."""
        if fan_in < 1:
            raise CompanionError(f"fan-in must be >= 1, got {fan_in}")
        return self.scale * math.sqrt(self.gain2 / fan_in)

    def std(self, fan_in: int) -> float:
        """The standard deviation the scheme gives a layer of fan-in ``fan_in`` (a uniform's is bound / √3)."""
        s = self.spread(fan_in)
        return s if self.distribution == "normal" else s / math.sqrt(3.0)


def _init(authors: str, scale: float) -> Init:
    dist, gain2, sym, name = {"msra_normal": ("normal", 2.0, "N(0, √(2/F))", "Normal"),
                              "msra_uniform": ("uniform", 6.0, "U(±√(6/F))", "Uniform"),
                              "default": ("uniform", 1.0, "U(±√(1/F))", "Uniform")}[authors]
    return Init(key=f"{authors}_{scale:.1f}", row=f"{name} {scale:.1f}*sqrt({gain2:g}/F)",
                label=f"{scale:.1f} × {sym}", distribution=dist, gain2=gain2, scale=scale, authors=authors)


#: Table 2.3's rows in order: key -> :class:`Init`.
INITS: dict[str, Init] = {i.key: i for i in (_init("msra_normal", 0.1), _init("msra_uniform", 0.1),
                                             _init("default", 0.1), _init("msra_normal", 1.0),
                                             _init("msra_uniform", 1.0), _init("default", 1.0))}
#: The row the thesis finds best (and the PyTorch default, up to biases).
BEST = "default_1.0"
BIASES = ("zero", "default", "keep")


def get_init(init: str | Init) -> Init:
    """``init`` as an :class:`Init` (a key of :data:`INITS`, or an Init); a one-line error otherwise."""
    if isinstance(init, Init):
        return init
    if init not in INITS:
        raise CompanionError(f"unknown initialisation {init!r}; choose one of: {', '.join(INITS)}")
    return INITS[init]


def fan_in(weight: torch.Tensor) -> int:
    """A conv (or linear) weight's fan-in: input channels per group × kernel area (``weight[0].numel()``)."""
    if weight.ndim < 2:
        raise CompanionError(f"a weight of shape {tuple(weight.shape)} has no fan-in")
    return int(weight[0].numel())


def _is_conv(module: nn.Module) -> bool:
    # the authors' test is ``classname.find("Conv") != -1``: every conv kind, not Linear or BatchNorm
    return isinstance(module, nn.modules.conv._ConvNd)


@torch.no_grad()
def initialise(model: nn.Module, init: str | Init, *, generator: torch.Generator | None = None,
               bias: str = "zero") -> nn.Module:
    """Draw every trainable conv weight of ``model`` from ``init`` (a key of :data:`INITS`) in place, in module
    order; ``bias``: ``"zero"`` (the authors' experiment), ``"default"`` (PyTorch's U(±1/√F)) or ``"keep"``.
    Returns ``model``."""
    scheme = get_init(init)
    if bias not in BIASES:
        raise CompanionError(f"bias must be one of {', '.join(BIASES)}; got {bias!r}")
    touched = 0
    for module in model.modules():
        if not _is_conv(module) or not module.weight.requires_grad:
            continue
        w = module.weight
        s = scheme.spread(fan_in(w))
        if scheme.distribution == "normal":
            w.normal_(0.0, s, generator=generator)
        else:
            w.uniform_(-s, s, generator=generator)
        if module.bias is not None and module.bias.requires_grad:
            if bias == "zero":
                module.bias.zero_()
            elif bias == "default":
                b = 1.0 / math.sqrt(fan_in(w))
                module.bias.uniform_(-b, b, generator=generator)
        touched += 1
    if not touched:
        raise CompanionError(f"{type(model).__name__} has no trainable convolution to initialise")
    return model


# --------------------------------------------------------------------------------------------------------
# Weights (Fig. 2.6).

#: The parts of a CARN, in the order figures stack them.
KINDS = ("entry 3×3", "residual 3×3", "1×1 local fusion", "1×1 global fusion", "upsampler 3×3", "exit 3×3")


def _kind(name: str, module: nn.Module) -> str:
    """The CARN part a conv belongs to (by its state-dict name), else its kernel size ("1×1 conv", "7×7 conv")."""
    if name == "entry":
        return KINDS[0]
    if name == "exit":
        return KINDS[5]
    if name.startswith("upsample."):
        return KINDS[4]
    if name.startswith("blocks.") and ".fusions." in name:
        return KINDS[2]
    if name.startswith("fusions."):
        return KINDS[3]
    if name.startswith("blocks.") and (".units." in name or ".unit." in name):
        return KINDS[1]
    k = module.kernel_size
    return f"{k[0]}×{k[1]} conv"


def conv_layers(model: nn.Module) -> list[dict]:
    """Every conv of ``model`` with a trainable weight: ``name``, ``kind`` (:data:`KINDS` for a CARN), ``fan_in``,
    ``count`` (weights), ``module``. A shared module (CARN-M's recursive unit) is listed once."""
    out, seen = [], set()
    for name, module in model.named_modules():
        if _is_conv(module) and module.weight.requires_grad and id(module) not in seen:
            seen.add(id(module))
            out.append(dict(name=name, kind=_kind(name, module), fan_in=fan_in(module.weight),
                            count=int(module.weight.numel()), module=module))
    return out


def weight_table(model: nn.Module, init: str | Init) -> list[dict]:
    """Per part of ``model`` (grouped by ``kind`` and fan-in): ``kind``, ``fan_in``, ``layers``, ``count``, the std
    ``init`` should give (``expected_std``) and the std of the weights as they are (``measured_std``)."""
    scheme = get_init(init)
    groups: dict[tuple[str, int], list[torch.Tensor]] = {}
    for layer in conv_layers(model):
        groups.setdefault((layer["kind"], layer["fan_in"]), []).append(layer["module"].weight.detach().flatten())
    rows = []
    for (kind, f), ws in groups.items():
        w = torch.cat(ws).double()
        rows.append(dict(kind=kind, fan_in=f, layers=len(ws), count=int(w.numel()),
                         expected_std=scheme.std(f), measured_std=float(w.std(unbiased=False))))
    return rows


def fusion_share(table: list[dict]) -> dict:
    """From :func:`weight_table`: the share of the conv weights that sit in 1×1 convolutions (``weights``) and
    their share of the summed squared weights (``variance``): how much of Fig. 2.6's spread the narrow 1×1
    fusions make."""
    one = [r for r in table if "1×1" in r["kind"]]
    total_n = sum(r["count"] for r in table)
    total_sq = sum(r["count"] * r["measured_std"] ** 2 for r in table)
    return dict(weights=sum(r["count"] for r in one) / total_n,
                variance=sum(r["count"] * r["measured_std"] ** 2 for r in one) / total_sq)


def all_weights(model: nn.Module) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """Every trainable conv weight of ``model`` flattened into one tensor, the kinds (:func:`conv_layers`) and,
    per weight, the index of its kind in that list."""
    layers = conv_layers(model)
    kinds = list(dict.fromkeys(layer["kind"] for layer in layers))
    values = torch.cat([layer["module"].weight.detach().flatten().float() for layer in layers])
    index = torch.cat([torch.full((layer["count"],), kinds.index(layer["kind"]), dtype=torch.int16)
                       for layer in layers])
    return values, kinds, index


def sample_weights(model: nn.Module, n: int, *, generator: torch.Generator | None = None
                   ) -> tuple[np.ndarray, list[str], np.ndarray]:
    """``n`` conv weights of ``model`` drawn uniformly without replacement (all of them when it has fewer):
    (values float64, kinds, kind index per value). Fig. 2.6 plots "100K parameters for each model"."""
    values, kinds, index = all_weights(model)
    if n < 1:
        raise CompanionError(f"n must be >= 1, got {n}")
    if n < values.numel():
        pick = torch.randperm(values.numel(), generator=generator)[:n]
        values, index = values[pick], index[pick]
    return values.double().numpy(), kinds, index.numpy().astype(np.int64)


def histogram(values, *, bins: int, limit: float, clip: bool = False, weights=None) -> dict:
    """A histogram of ``values`` on [−limit, limit] with ``bins`` equal bins.

    ``clip=True`` (Fig. 2.7: "we clip the values to [-0.5, 0.5]") puts values outside into the edge bins, so the
    counts sum to ``len(values)``; ``clip=False`` leaves them out and reports them. Returns ``counts`` (int64),
    ``edges``, ``n`` (values given), ``outside`` (values beyond ±limit), ``fraction`` (counts / n) and ``std``
    (of all the values, before clipping)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if bins < 1 or not (limit > 0):
        raise CompanionError(f"need bins >= 1 and limit > 0, got {bins}, {limit}")
    if not np.all(np.isfinite(values)):
        raise CompanionError("the values hold NaN or inf; the network's activations overflowed")
    outside = int(np.count_nonzero(np.abs(values) > limit))
    shown = np.clip(values, -limit, limit) if clip else values
    counts, edges = np.histogram(shown, bins=bins, range=(-limit, limit), weights=weights)
    counts = counts.astype(np.int64) if weights is None else counts
    n = int(values.size)
    return dict(counts=counts, edges=edges, n=n, outside=outside, fraction=counts / max(n, 1),
                std=float(values.std()) if n else float("nan"))


def carn_config(size: str, scale: int, channels: int = 0) -> dict:
    """Constructor arguments of Table 2.3's single-scale CARN (JSON-ready: lists, not tuples): ``size``'s
    configuration ("paper": C = 64; "quick": C = 32, B = U = 3), ×``scale``, with ``channels`` in place of the
    size's C when not 0."""
    from companion.models import model_config

    extra = {"channels": int(channels)} if channels else {}
    config = model_config("carn", size, scales=(int(scale),), reading="thesis", **extra)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def build_carn(size: str, scale: int, channels: int = 0) -> nn.Module:
    """The single-scale CARN of Table 2.3 (Table 2.1's "+Residual": thesis reading, both cascades, global
    residual) at ``size`` ("paper": C = 64; "quick": C = 32), ×``scale``; ``channels``: another C
    (:func:`carn_config`)."""
    from companion.models import build_model

    return build_model("carn", **carn_config(size, scale, channels))


def reference_resnet(name: str) -> nn.Module:
    """A torchvision ResNet (``"resnet18"``, ``"resnet50"`` …) with no weights loaded: Fig. 2.6's "ResNet"."""
    import torchvision

    if not name.startswith("resnet") or not hasattr(torchvision.models, name):
        raise CompanionError(f"unknown torchvision ResNet {name!r}; use e.g. resnet18 or resnet50")
    return getattr(torchvision.models, name)(weights=None)


def weight_histograms(cfg, *, seed: int = 0) -> dict[str, dict]:
    """Fig. 2.6's data for every scheme of ``cfg.inits``: the paper-size CARN (``cfg.hist_size``, ×``cfg.scale``)
    initialised with the scheme (generator seeded by ``seed``), ``cfg.weight_samples`` of its weights, a
    histogram of ``cfg.weight_bins`` bins on ±``cfg.weight_range`` per part of the network (``by_kind``, which sum
    to the whole ``total``), the per-part table (:func:`weight_table`), and the same for ``cfg.resnet`` under the
    same scheme (``resnet``, when named)."""
    out = {}
    carn = build_carn(cfg.hist_size, cfg.scale)
    resnet = reference_resnet(cfg.resnet) if cfg.resnet else None
    for key in cfg.inits:
        initialise(carn, key, generator=torch.Generator().manual_seed(seed))
        values, kinds, index = sample_weights(carn, cfg.weight_samples, generator=torch.Generator().manual_seed(seed))
        total = histogram(values, bins=cfg.weight_bins, limit=cfg.weight_range)
        by_kind = {k: histogram(values[index == i], bins=cfg.weight_bins, limit=cfg.weight_range)["counts"]
                   for i, k in enumerate(kinds)}
        entry = dict(init=key, total=total, by_kind=by_kind, kinds=kinds, table=weight_table(carn, key),
                     share_by_kind={k: float(np.mean(index == i)) for i, k in enumerate(kinds)})
        if resnet is not None:
            initialise(resnet, key, generator=torch.Generator().manual_seed(seed))
            rv, _, _ = sample_weights(resnet, cfg.weight_samples, generator=torch.Generator().manual_seed(seed))
            entry["resnet"] = histogram(rv, bins=cfg.weight_bins, limit=cfg.weight_range)
            entry["resnet_name"] = cfg.resnet
        out[key] = entry
    return out


# --------------------------------------------------------------------------------------------------------
# Activations (Fig. 2.7).


@torch.no_grad()
def pre_relu_activations(model: nn.Module, x: torch.Tensor, scale: int | None = None) -> dict[str, torch.Tensor]:
    """The input of every ReLU of a CARN (:class:`companion.models.carn.CARN`) on the batch ``x``, in forward order:
    ``block{b}.unit{u}.relu1`` (conv1's output), ``block{b}.unit{u}.relu2`` (skip + conv2's output), the 1×1
    fusions' outputs when the reading puts a ReLU after them (``block{b}.fusion{u}``, ``fusion{b}``), and
    ``upsample.relu{k}``. Blocks and units count from 1. Forward hooks; the model is left as it was."""
    from companion.models.carn import CARN, ResidualUnit

    if not isinstance(model, CARN):
        raise CompanionError(f"pre_relu_activations reads a CARN's residual units; got {type(model).__name__}")
    acts: dict[str, torch.Tensor] = {}
    handles, pending = [], {}

    def keep(name):
        def hook(_module, _inputs, output):
            acts[name] = output.detach().clone()  # the upsampler's ReLU works in place
        return hook

    def keep_conv2(unit_name):
        def hook(_module, _inputs, output):
            pending[unit_name] = output.detach()
        return hook

    def keep_sum(unit_name):
        def hook(_module, inputs, _output):
            acts[f"{unit_name}.relu2"] = (inputs[0].detach() + pending.pop(unit_name)).clone()
        return hook

    try:
        for b, block in enumerate(model.blocks, 1):
            units = block.stages()
            if len({id(u) for u in units}) != len(units):
                raise CompanionError("pre_relu_activations does not follow a shared (recursive) unit")
            for u, unit in enumerate(units, 1):
                if not isinstance(unit, ResidualUnit):
                    raise CompanionError(f"unit {u} of block {b} is a {type(unit).__name__}, not a ResidualUnit")
                name = f"block{b}.unit{u}"
                handles += [unit.conv1.register_forward_hook(keep(f"{name}.relu1")),
                            unit.conv2.register_forward_hook(keep_conv2(name)),
                            unit.register_forward_hook(keep_sum(name))]
            if model.fusion_relu:
                handles += [f.register_forward_hook(keep(f"block{b}.fusion{u}"))
                            for u, f in enumerate(block.fusions, 1)]
        if model.fusion_relu:
            handles += [f.register_forward_hook(keep(f"fusion{b}")) for b, f in enumerate(model.fusions, 1)]
        s = model._scale(scale)
        convs = [m for m in model.upsample[f"x{s}"] if isinstance(m, nn.Conv2d)]
        handles += [c.register_forward_hook(keep(f"upsample.relu{k}")) for k, c in enumerate(convs, 1)]
        was_training = model.training
        model.eval()
        try:
            model(x, s)
        finally:
            model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    order = {n: i for i, n in enumerate(acts)}  # hooks fire in forward order
    return dict(sorted(acts.items(), key=lambda kv: order[kv[0]]))


#: Fig. 2.7's rows.
GROUPS = ("first layer", "second cascading block", "last cascading block")


def activation_groups(acts: dict[str, torch.Tensor], blocks: int) -> dict[str, np.ndarray]:
    """Fig. 2.7's three rows from :func:`pre_relu_activations`: (a) ``first layer``: the network's first ReLU
    input (block 1, unit 1, conv1); (b) ``second cascading block`` and (c) ``last cascading block``: every ReLU
    input inside block 2 and block ``blocks``, pooled. Flattened float64 arrays."""
    if not acts:
        raise CompanionError("no activations given")
    first = next(iter(acts.values()))

    def block(b):
        picked = [v.flatten() for k, v in acts.items() if k.startswith(f"block{b}.")]
        if not picked:
            raise CompanionError(f"no activations of block {b}; the network has {blocks} blocks")
        return torch.cat(picked).double().numpy()

    return {GROUPS[0]: first.flatten().double().numpy(), GROUPS[1]: block(min(2, blocks)), GROUPS[2]: block(blocks)}


def activation_batch(cfg, *, seed: int = 0) -> torch.Tensor:
    """The real batch Fig. 2.7 is measured on: ``cfg.act_batch`` LR patches of ``cfg.act_patch`` px at
    ×``cfg.scale`` from the embedded photographs ``cfg.act_images`` (MATLAB-bicubic LR, random positions and
    flips from ``seed``; :class:`companion.data.sr.SRPatches`)."""
    from companion.data.images import embedded_image
    from companion.data.sr import SRPatches

    data = SRPatches([embedded_image(n) for n in cfg.act_images], scales=cfg.scale, patch=cfg.act_patch, seed=seed)
    rng = np.random.default_rng(seed)
    return torch.stack([data[int(i)]["lr"] for i in rng.integers(0, len(data), cfg.act_batch)])


def _shares(values: np.ndarray, clip: float, bins: int) -> dict:
    centre = clip / bins  # the half-width of the bin (or two) around zero
    return dict(std=float(values.std()), mean=float(values.mean()), abs_max=float(np.abs(values).max()),
                share_near_zero=float(np.mean(np.abs(values) < centre)),
                share_beyond_clip=float(np.mean(np.abs(values) > clip)))


def activation_histograms(cfg, x: torch.Tensor, *, seed: int = 0) -> dict[str, dict]:
    """Fig. 2.7's data: for every scheme of ``cfg.inits``, the paper-size CARN initialised with it (generator
    seeded by ``seed``, as in :func:`weight_histograms`) run on ``x``; per row of :data:`GROUPS` a histogram
    clipped to ±``cfg.act_clip`` with ``cfg.act_bins`` bins (``hist``) and its statistics: ``std``, ``mean``,
    ``abs_max``, ``share_near_zero`` (|a| below half a bin, i.e. in the bin around zero) and
    ``share_beyond_clip`` (|a| > the clip: the values the thesis' clipped plot piles into its edge bins).
    ``profile`` is :func:`activation_depth_profile`."""
    model = build_carn(cfg.hist_size, cfg.scale)
    blocks = len(model.blocks)
    out = {}
    for key in cfg.inits:
        initialise(model, key, generator=torch.Generator().manual_seed(seed))
        acts = pre_relu_activations(model, x, cfg.scale)
        groups = activation_groups(acts, blocks)
        out[key] = dict(init=key, groups={
            g: dict(hist=histogram(v, bins=cfg.act_bins, limit=cfg.act_clip, clip=True),
                    **_shares(v, cfg.act_clip, cfg.act_bins)) for g, v in groups.items()},
            profile=activation_depth_profile(acts))
    return out


def activation_depth_profile(acts: dict[str, torch.Tensor]) -> list[dict]:
    """The std (and RMS) of every ReLU input, in forward order: ``[{name, depth, std, rms}]`` (depth from 1)."""
    return [dict(name=k, depth=i, std=float(v.double().std(unbiased=False)),
                 rms=float(v.double().pow(2).mean().sqrt())) for i, (k, v) in enumerate(acts.items(), 1)]


#: :func:`activation_reading`'s threshold: the share of the last block's activations that decides.
MAJORITY = 0.5


def activation_reading(entry: dict, clip: float = 0.5) -> dict:
    """What one scheme's activations look like by the last cascading block, in words, judged as Fig. 2.7 shows
    them (clipped to ±``clip``), from :func:`activation_histograms`' entry: "explodes" when more than half of
    the last block's values lie beyond ±``clip`` (they would pile up in the plot's edge bins), "collapses toward
    zero" when more than half lie within half a bin of zero (the plot shows one spike), "carries the signal"
    otherwise. Also ``ratio``: the std of the last block over that of the first layer."""
    first, last = entry["groups"][GROUPS[0]], entry["groups"][GROUPS[2]]
    ratio = last["std"] / first["std"] if first["std"] > 0 else float("inf")
    if last["share_beyond_clip"] > MAJORITY:
        reading = "explodes"
    elif last["share_near_zero"] > MAJORITY:
        reading = "collapses toward zero"
    else:
        reading = "carries the signal"
    return dict(ratio=float(ratio), reading=reading, first_std=first["std"], last_std=last["std"],
                near_zero=last["share_near_zero"], beyond_clip=last["share_beyond_clip"])


#: What the thesis reads from Fig. 2.7 for the three schemes it draws (§2.4.4).
THESIS_FIG_2_7 = {"msra_normal_1.0": "explodes", "default_0.1": "collapses toward zero",
                  "default_1.0": "carries the signal"}


def record_figures_2_6_2_7(run, weights: dict, acts: dict, cfg) -> list[str]:
    """Record Fig. 2.6's and Fig. 2.7's measured statistics beside the figures' entries; return printable lines.

    Fig. 2.6, per scheme: the std of the sampled weights of our CARN and of the ResNet; its reading ("wider than
    the ResNet's") is checked for 1.0 × N(0, √(2/F)). The expected stds per part are analytic (``exact``).
    Fig. 2.7, per scheme and row: std and the shares near zero / beyond the clip, and the reading of
    :func:`activation_reading` against the thesis' (:data:`THESIS_FIG_2_7`)."""
    lines = []
    model_text = f"{cfg.hist_size}-size single-scale x{cfg.scale} CARN (Table 2.3's model), untrained"
    for key, w in weights.items():
        scheme = INITS[key]
        parts = "; ".join(f"{r['kind']} F={r['fan_in']} {r['measured_std']:.4f} ({r['expected_std']:.4f})"
                          for r in w["table"])
        ours = w["total"]["std"]
        res = w.get("resnet")
        note = f"std per part, measured (expected): {parts}"
        if res is not None:
            note += (f". {w['resnet_name']} under the same scheme: std {res['std']:.4f}; "
                     f"ours/ResNet = {ours / res['std']:.2f}")
        run.record(f"fig2_6/{key}/weight_std", round(ours, 5), entry="Figure 2.6", row=scheme.row,
                   protocol=f"{model_text}; {w['total']['n']:,} conv weights drawn at random, zero biases left out",
                   note=note)
        line = f"{scheme.label:>22s}: weight std {ours:.4f}"
        if res is not None:
            line += f", {w['resnet_name']} {res['std']:.4f} (x{ours / res['std']:.2f})"
            line += f"; beyond +-{cfg.weight_range:g}: ours {w['total']['outside'] / w['total']['n']:.1%}, " \
                    f"{w['resnet_name']} {res['outside'] / res['n']:.1%}"
        lines.append(line)
    key = "msra_normal_1.0"
    if key in weights and "resnet" in weights[key]:
        ratio = weights[key]["total"]["std"] / weights[key]["resnet"]["std"]
        same = ratio > 1
        one = fusion_share(weights[key]["table"])
        run.record("fig2_6/reading", "agrees" if same else "disagrees", entry="Figure 2.6",
                   note=f"thesis: under 1.0 x N(0, sqrt(2/F)) our network's weights have a higher variance than "
                        f"ResNet's (narrow 1x1 convolutions); measured std ratio ours/{weights[key]['resnet_name']} "
                        f"= {ratio:.2f}; the 1x1 fusions hold {one['weights']:.1%} of the conv weights and "
                        f"{one['variance']:.1%} of their summed squares")
        run.record("fig2_6/fusion_variance_share", round(one["variance"], 4), entry="Figure 2.6",
                   protocol=f"{model_text}; exact counts, measured weights",
                   note=f"share of the conv weights' summed squares in the 1x1 fusions (they hold {one['weights']:.1%} "
                        "of the weights); the same under every scheme, since a scheme scales every layer by its fan-in")
        lines.append(f"reading of Fig. 2.6 (CARN wider than {weights[key]['resnet_name']} under MSRA): "
                     f"{'agrees' if same else 'disagrees'} (std ratio {ratio:.2f}); the 1x1 fusions hold "
                     f"{one['weights']:.1%} of the weights and {one['variance']:.1%} of the variance")
    protocol = (f"{model_text}; pre-ReLU activations on {cfg.act_batch} LR patches of {cfg.act_patch} px "
                f"(x{cfg.scale}) from embedded photographs; clip +-{cfg.act_clip:g}, {cfg.act_bins} bins")
    for key, a in acts.items():
        scheme = INITS[key]
        for g in GROUPS:
            s = a["groups"][g]
            run.record(f"fig2_7/{key}/{g}/std", round(s["std"], 6), entry="Figure 2.7", row=scheme.row, column=g,
                       protocol=protocol,
                       note=f"mean {s['mean']:.4g}, max |a| {s['abs_max']:.4g}, {s['share_near_zero']:.1%} within "
                            f"half a bin of 0, {s['share_beyond_clip']:.1%} beyond +-{cfg.act_clip:g}")
        r = activation_reading(a, cfg.act_clip)
        thesis = THESIS_FIG_2_7.get(key)
        note = (f"last block: {r['near_zero']:.0%} within half a bin of 0, {r['beyond_clip']:.0%} beyond "
                f"+-{cfg.act_clip:g}; last block / first layer std = {r['ratio']:.3g}")
        if thesis:
            note += f"; thesis: {thesis} -> " + ("same" if thesis == r["reading"] else "DIFFERENT")
        run.record(f"fig2_7/{key}/reading", r["reading"], entry="Figure 2.7", row=scheme.row, protocol=protocol,
                   note=note)
        lines.append(f"{scheme.label:>22s}: first {r['first_std']:.3g}, last block {r['last_std']:.3g} "
                     f"(x{r['ratio']:.3g}): {r['reading']}"
                     + (f"   [thesis: {thesis}{'' if thesis == r['reading'] else ' -- differs'}]" if thesis else ""))
    return lines


# --------------------------------------------------------------------------------------------------------
# Table 2.3, trained.

_DATA: dict = {}  # per process: (what, settings) -> dataset / pairs, built once


def training_patches(cfg, seed: int, data_root=None):
    """The SR training patches (:class:`companion.data.sr.SRPatches`) of ``cfg``: the embedded photographs
    ``cfg.train_images`` (``"bundled"``) or DIV2K's 800 training images (``"data"``), ×``cfg.scale``,
    ``cfg.patch`` px LR patches with flips and rotations. The LR images are made once per process and kept;
    ``seed`` sets the patches' positions and flips."""
    from companion.data import sr

    leaked = set(cfg.train_images) & ({cfg.val_image} | set(cfg.eval_images)) if cfg.source != "data" else ()
    if leaked:
        raise CompanionError(f"training images {sorted(leaked)} are test or validation images; hold them out")
    return sr.training_patches(cfg.source, cfg.train_images, scale=cfg.scale, patch=cfg.patch, seed=seed,
                               data_root=data_root)




def validation_pairs(cfg) -> list:
    """``[(LR 3×h×w, HR 3×sh×sw)]`` float tensors of the validation curve: the centre ``cfg.val_crop`` px of the
    embedded photograph ``cfg.val_image`` (neither a training nor a test image); empty when it names none."""
    from companion.data.sr import lr_hr_pair
    from companion.data.images import embedded_image

    if not cfg.val_image:
        return []
    if cfg.val_image in cfg.eval_images:
        raise CompanionError(f"the validation image {cfg.val_image} is a test image; choose another")
    key = ("val", cfg.val_image, cfg.val_crop, cfg.scale)
    if key not in _DATA:
        lr, hr = lr_hr_pair(centre_crop_at_most(embedded_image(cfg.val_image), cfg.val_crop), cfg.scale)
        _DATA[key] = [tuple(torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float() for a in (lr, hr))]
    return _DATA[key]


def held_out_pairs(cfg, data_root=None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``[(name, LR, HR)]`` of Table 2.3's test images under the SR protocol: the held-out embedded photographs
    ``cfg.eval_images`` (``eval_set="embedded"``) or a benchmark set (``"Set14"``: the authors' choice), whole or
    centre-cropped to ``cfg.eval_crop`` px; made once per process."""
    from companion.ch2.evaluation import sr_pairs
    from companion.data.images import embedded_image
    from companion.data.sr import SRBenchmark, lr_hr_pair

    if cfg.eval_set == "embedded":  # checked before the cache: another profile may have made the same pairs
        leaked = set(cfg.eval_images) & set(cfg.train_images)
        if leaked:
            raise CompanionError(f"test images {sorted(leaked)} are also training images; hold them out")
    key = ("test", cfg.eval_set, tuple(cfg.eval_images), cfg.scale, cfg.eval_crop, str(data_root))
    if key not in _DATA:
        if cfg.eval_set == "embedded":
            if cfg.eval_crop:
                pairs = [(n, *lr_hr_pair(centre_crop_at_most(embedded_image(n), cfg.eval_crop), cfg.scale))
                         for n in cfg.eval_images]
            else:
                data = SRBenchmark(None, cfg.scale, names=cfg.eval_images)
                pairs = [(data.names[i], *data.pair(i)) for i in range(len(data))]
        else:
            pairs = sr_pairs(cfg.eval_set, cfg.scale, crop=cfg.eval_crop, root=data_root)
        _DATA[key] = pairs
    return _DATA[key]


def run_settings(cfg, init: str, seed: int) -> dict:
    """Everything that decides one trained (scheme, seed) model: the scheme, seed, model size and scale, data,
    patch, loss and training settings (not how often it checkpoints). Its digest names the checkpoint."""
    from dataclasses import asdict

    train = {k: v for k, v in asdict(replace(cfg.train, seed=int(seed))).items()
             if k not in ("checkpoint_every", "val_every")}
    return dict(notebook="02b_initialisation", init=init, seed=int(seed), size=cfg.size, channels=cfg.channels,
                scale=cfg.scale, source=cfg.source, train_images=list(cfg.train_images), patch=cfg.patch,
                loss=cfg.loss, bias="zero", train=train)


def checkpoint_path(folder, cfg, init: str, seed: int):
    """``<folder>/<init>-seed<seed>-<digest of run_settings>.pt``: a rerun with the same settings resumes (a
    finished run only evaluates); changed settings get a new file."""
    from pathlib import Path

    from companion.zoo import digest

    return Path(folder) / f"{init}-seed{seed}-{digest(run_settings(cfg, init, seed))[:10]}.pt"


def zoo_entry(cfg, init: str, seed: int):
    """The current zoo entry (``ch2/02b/…``, :func:`companion.ch2.zoo.find_init`) trained with exactly
    (``cfg``, ``init``, ``seed``) when ``cfg.use_zoo``; None otherwise (no such entry, or stale or missing)."""
    if not cfg.use_zoo:
        return None
    from companion.ch2.zoo import find_init
    from companion.zoo import status

    entry = find_init(cfg, init, seed)
    return entry if entry is not None and status(entry) == "current" else None


def fit(cfg, init: str, seed: int, *, device="cpu", threads: int | None = None, data_root=None,
        checkpoint_dir=None):
    """Train one (scheme, seed) of Table 2.3: build the single-scale CARN of ``cfg.size`` (``cfg.channels``),
    draw its weights with ``init`` (generator seeded by ``seed``, zero biases) and train it ``cfg.train.steps``
    steps (batches seeded by ``seed``: every scheme of a seed sees the same patches in the same order) with
    ``cfg.loss``; the validation curve (:func:`validation_pairs`, every ``cfg.train.val_every`` steps) when the
    profile names a validation image. With ``checkpoint_dir`` the run saves to (and resumes from)
    :func:`checkpoint_path`. Returns ``(model in eval mode, TrainResult)``."""
    from companion.engine.loop import LOSSES, paired_batch, psnr_on_pairs, train

    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    model = build_carn(cfg.size, cfg.scale, cfg.channels)
    initialise(model, init, generator=torch.Generator().manual_seed(seed))
    data = training_patches(cfg, seed, data_root)
    tc = replace(cfg.train, seed=int(seed))
    pairs = validation_pairs(cfg)
    if not pairs:
        tc = replace(tc, val_every=0)
    path = None if checkpoint_dir is None else checkpoint_path(checkpoint_dir, cfg, init, seed)
    result = train(model.at_scale(cfg.scale), data, tc, loss=LOSSES[cfg.loss], batch=paired_batch("lr", "hr"),
                   model_name="carn", device=device, progress=False, checkpoint_path=path, log=lambda _msg: None,
                   validate=(lambda m: psnr_on_pairs(m, pairs, device=device)) if pairs else None)
    return model.eval(), result


def training_record(result) -> dict:
    """What a finished run leaves besides its weights: ``steps``, ``seconds``, ``first_loss``, ``final_loss``
    (the mean of the last tenth of the run), ``loss_curve``, ``val`` ([[step, validation PSNR]])."""
    tail = max(1, len(result.losses) // 10)
    return dict(steps=result.steps_done, seconds=round(result.seconds, 2), first_loss=float(result.losses[0]),
                final_loss=float(np.mean(result.losses[-tail:])), loss_curve=loss_curve(result.losses),
                val=[[int(s), round(float(v), 3)] for s, v in result.val])


def train_and_evaluate(cfg, init: str, seed: int, *, device="cpu", threads: int | None = None,
                       data_root=None, checkpoint_dir=None) -> dict:
    """One (scheme, seed) of Table 2.3: the current zoo entry when ``cfg.use_zoo`` has one (:func:`zoo_entry`),
    else trained by :func:`fit` (resumable under ``checkpoint_dir``: a rerun of a finished run only evaluates);
    then it and bicubic scored on :func:`held_out_pairs`. ``checkpoint`` says where the weights came from
    (``"zoo:<entry name>"``, or the work checkpoint's file name). Plain numbers back (it also runs in worker
    processes)."""
    from companion.ch2.evaluation import evaluate_sr
    from companion.models.common import count_parameters
    from companion.zoo import load_entry

    if threads:
        torch.set_num_threads(int(threads))
    entry = zoo_entry(cfg, init, seed)
    if entry is not None:
        model, meta = load_entry(entry)
        record = {k: meta[k] for k in ("steps", "seconds", "first_loss", "final_loss", "loss_curve", "val")}
        checkpoint = f"zoo:{entry.name}"
    else:
        model, result = fit(cfg, init, seed, device=device, data_root=data_root, checkpoint_dir=checkpoint_dir)
        record = training_record(result)
        checkpoint = None if checkpoint_dir is None else checkpoint_path(checkpoint_dir, cfg, init, seed).name
    start = time.perf_counter()
    scores = evaluate_sr(model.eval(), held_out_pairs(cfg, data_root), cfg.scale, device=device)
    return dict(init=init, seed=int(seed), **record, eval_seconds=round(time.perf_counter() - start, 2),
                checkpoint=checkpoint, params=count_parameters(model),
                psnr=scores["psnr"], ssim=scores["ssim"], bicubic_psnr=scores["bicubic_psnr"],
                bicubic_ssim=scores["bicubic_ssim"], gain=scores["gain"], wins=scores["wins"],
                images=scores["images"], per_image=scores["per_image"], protocol=scores["protocol"])


def run_table_2_3(cfg, *, seed0: int = 0, device="cpu", progress: bool = True, data_root=None,
                  checkpoint_dir=None) -> dict[str, list]:
    """Every scheme of ``cfg.inits`` × ``cfg.seeds`` seeds (``seed0``, ``seed0 + 1``, …) through
    :func:`train_and_evaluate` (the zoo's models where current, with ``cfg.use_zoo``; checkpoints in
    ``checkpoint_dir`` when given). On a CPU with ``cfg.train_workers`` > 1, that many runs go side by side in
    worker processes of one thread each (small models gain little from a second thread); when every model comes
    from the zoo, all are evaluated in this process on one thread (:func:`companion.device.torch_threads`). Returns
    ``{init: [per-seed dicts, by seed]}``."""
    from functools import partial

    from companion.processes import run_per_seed

    jobs = [(key, seed0 + i) for i in range(cfg.seeds) for key in cfg.inits]
    workers = cfg.train_workers if torch.device(device).type == "cpu" else 1
    from_zoo = all(zoo_entry(cfg, key, seed) is not None for key, seed in jobs)
    if from_zoo:
        workers = 1  # nothing trains: the zoo's models are only evaluated, in this process, on one thread
    job = partial(train_and_evaluate, cfg, device=str(device), data_root=data_root, checkpoint_dir=checkpoint_dir)
    if not from_zoo or torch.device(device).type != "cpu":
        return run_per_seed(job, jobs, workers=workers, desc="Table 2.3: train + evaluate", progress=progress)
    with torch_threads(1):  # only evaluation: small convs on a busy CPU run far faster on one thread than on two
        return run_per_seed(job, jobs, workers=1, desc="Table 2.3: train + evaluate", progress=progress)


def summarise(results: dict[str, list]) -> dict[str, dict]:
    """Per scheme: (mean, std) over seeds of ``psnr``, ``ssim``, ``gain`` (over bicubic), ``final_loss`` and
    ``first_loss``; the bicubic PSNR / SSIM (the same for every seed), ``seeds``, ``steps``, ``seconds`` (mean),
    ``params``, ``checkpoints`` (where each seed's weights came from: ``"zoo:<entry>"`` or a work file)."""
    out = {}
    for key, runs in results.items():
        row = {m: mean_std([r[m] for r in runs]) for m in ("psnr", "ssim", "gain", "final_loss", "first_loss")}
        row.update(seeds=len(runs), steps=int(np.mean([r["steps"] for r in runs])),
                   seconds=float(np.mean([r["seconds"] for r in runs])), params=runs[0]["params"],
                   bicubic_psnr=runs[0]["bicubic_psnr"], bicubic_ssim=runs[0]["bicubic_ssim"],
                   psnr_by_seed=[r["psnr"] for r in runs], protocol=runs[0]["protocol"],
                   checkpoints=[r["checkpoint"] for r in runs])
        out[key] = row
    return out


def paper_table_2_3() -> dict[str, dict]:
    """Table 2.3 from the paper data: ``{init key: {"psnr": (mean, std), "ssim": (mean, std)}}``."""
    from companion.ledger import load_paper

    [table] = [e for e in load_paper() if e["id"] == "Table 2.3"]
    by_row = {r["label"]: r["values"] for r in table["rows"]}
    out = {}
    for key, scheme in INITS.items():
        v, s = by_row[scheme.row], table["std"][scheme.row]
        out[key] = {"psnr": (v["PSNR"], s["PSNR"]), "ssim": (v["SSIM"], s["SSIM"])}
    return out


def ranking(summary: dict[str, dict], metric: str = "psnr") -> list[str]:
    """Scheme keys by mean ``metric``, best first."""
    return sorted(summary, key=lambda k: -summary[k][metric][0])


def table_2_3_claims(summary: dict[str, dict], paper: dict[str, dict] | None = None) -> list[dict]:
    """The thesis' claim, "1.0 × U(±√(1/F)) is the best initialisation", as one claim per other row: the best
    row beats it by more than the combined seed spread (:func:`companion.summary.check_claims`). Each claim
    also carries ``paper_verdict``: the same test on the paper's own means and ± (``paper``,
    :func:`paper_table_2_3`), i.e. whether the thesis' difference is itself beyond its spread."""
    paper = paper_table_2_3() if paper is None else paper
    others = [k for k in summary if k != BEST]
    claims = check_claims([("Table 2.3", f"{INITS[BEST].label} beats {INITS[k].label}", summary[BEST]["psnr"],
                            summary[k]["psnr"]) for k in others])
    for claim, k in zip(claims, others):
        v, diff, spread = verdict(paper[BEST]["psnr"], paper[k]["psnr"])
        claim["paper_verdict"] = v
        claim["paper_detail"] = f"paper: difference {diff:+.3f} dB, spread {spread:.3f} dB"
        claim["other"] = k
    return claims


def protocol_line(cfg, row: dict) -> str:
    """The protocol of Table 2.3's cells at this profile, for the results file."""
    from companion.metrics import protocol_text

    where = (f"held-out embedded photographs {', '.join(cfg.eval_images)}" if cfg.eval_set == "embedded"
             else cfg.eval_set) + (f" ({cfg.eval_crop}-px centre crops)" if cfg.eval_crop else "")
    t = cfg.train
    size = f"{cfg.size}-size" + (f" (C = {cfg.channels})" if cfg.channels else "")
    return (f"{where} x{cfg.scale}, {protocol_text(row['protocol'])}; {size} single-scale x{cfg.scale} "
            f"CARN, zero biases, {cfg.loss.upper()} loss, {t.steps} steps for every run, batch {t.batch_size} of "
            f"{cfg.patch}-px LR patches, Adam {tuple(t.betas)} LR {t.lr:g}"
            + (f" halved at {', '.join(map(str, t.milestones))}" if t.milestones else " constant")
            + (f", gradient norm clipped to {t.grad_clip:g}" if t.grad_clip else "")
            + f"; mean ± std over {row['seeds']} seeds")



def sources_text(summary: dict[str, dict]) -> str:
    """One line per scheme: where its seeds' weights came from (:func:`weights_text`)."""
    return "\n".join(f"{INITS[k].label:>22s}: {weights_text(row['checkpoints'])}" for k, row in summary.items())


def record_table_2_3(run, summary: dict[str, dict], cfg) -> None:
    """Record every cell of Table 2.3 (PSNR, SSIM: mean ± std over seeds) beside the paper's, with the gain
    over bicubic, steps, seconds, parameters and where the weights came from (the zoo checkpoints by name, or
    trained in this run) in the note."""
    for key, row in summary.items():
        scheme = INITS[key]
        note = (f"{row['params']:,} parameters, {row['steps']} steps, {row['seconds']:.0f} s per run (one thread); "
                f"gain over bicubic {pm(row['gain'])} dB (bicubic {row['bicubic_psnr']:.2f} dB); final training "
                f"loss {row['final_loss'][0]:.4f}; {weights_text(row['checkpoints'])}")
        protocol = protocol_line(cfg, row)
        run.record(f"Table 2.3/{key}/psnr", pm(row["psnr"]), entry="Table 2.3", row=scheme.row, column="PSNR",
                   protocol=protocol, note=note)
        run.record(f"Table 2.3/{key}/ssim", pm(row["ssim"], 4), entry="Table 2.3", row=scheme.row, column="SSIM",
                   protocol=protocol, note=note)


def table_text(summary: dict[str, dict], paper: dict[str, dict] | None = None) -> str:
    """Table 2.3, ours beside the paper's, as Markdown (:func:`companion.summary.markdown_table`)."""
    from companion.summary import markdown_table

    paper = paper_table_2_3() if paper is None else paper
    order = ranking(summary)
    rows = []
    for key, row in summary.items():
        p = paper[key]
        rows.append([INITS[key].label, pm(p["psnr"]), f"{p['ssim'][0]:.4f} ± {p['ssim'][1]:.4f}", pm(row["psnr"]),
                     f"{row['gain'][0]:+.2f}", pm(row["ssim"], 4), str(order.index(key) + 1)])
    return markdown_table(["init (Table 2.3)", "paper PSNR", "paper SSIM", "ours PSNR", "ours gain vs bicubic",
                           "ours SSIM", "our rank"], rows)


__all__ = ["Init", "INITS", "BEST", "GROUPS", "KINDS", "get_init", "fan_in", "initialise", "conv_layers",
           "weight_table", "fusion_share", "all_weights", "sample_weights", "histogram", "build_carn",
           "reference_resnet",
           "weight_histograms", "pre_relu_activations", "activation_groups", "activation_batch",
           "activation_histograms", "activation_depth_profile", "activation_reading", "record_figures_2_6_2_7",
           "training_patches", "held_out_pairs", "run_settings", "checkpoint_path", "train_and_evaluate",
           "run_table_2_3", "summarise", "paper_table_2_3", "ranking", "table_2_3_claims", "record_table_2_3",
           "table_text", "carn_config", "validation_pairs", "zoo_entry", "fit", "training_record", "weights_text",
           "sources_text"]
