"""The six weight initialisations of Table 2.3 (thesis §2.4.4) and the single-scale CARN they are drawn into,
for ``02b_initialisation`` (:mod:`companion.ch2.init_histograms` draws Figs. 2.6-2.7 from them,
:mod:`companion.ch2.init_training` trains Table 2.3's models, :mod:`companion.ch2.initialisation` scores them).

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
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from companion.errors import CompanionError
from companion.models import build_model, model_config


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


def is_conv(module: nn.Module) -> bool:
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
        if not is_conv(module) or not module.weight.requires_grad:
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


def carn_config(size: str, scale: int, channels: int = 0) -> dict:
    """Constructor arguments of Table 2.3's single-scale CARN (JSON-ready: lists, not tuples): ``size``'s
    configuration ("paper": C = 64; "quick": C = 32, B = U = 3), ×``scale``, with ``channels`` in place of the
    size's C when not 0."""
    extra = {"channels": int(channels)} if channels else {}
    config = model_config("carn", size, scales=(int(scale),), reading="thesis", **extra)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def build_carn(size: str, scale: int, channels: int = 0) -> nn.Module:
    """The single-scale CARN of Table 2.3 (Table 2.1's "+Residual": thesis reading, both cascades, global
    residual) at ``size`` ("paper": C = 64; "quick": C = 32), ×``scale``; ``channels``: another C
    (:func:`carn_config`)."""
    return build_model("carn", **carn_config(size, scale, channels))


__all__ = ["Init", "INITS", "BEST", "BIASES", "get_init", "fan_in", "is_conv", "initialise", "carn_config",
           "build_carn"]
