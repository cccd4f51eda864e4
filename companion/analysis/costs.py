"""Exact model costs: trainable parameters and Mult-Adds (thesis §2.4.2; Tables 2.1, 2.4, 2.5–2.7; Eq. 2.10).

§2.4.2 defines the cost measure: Mult-Adds "is the number of composite multiply-accumulate operations for a
single image", "calculated by the multiplication of the parameters of the layer with the output resolution
of the feature", for a 720p (1280×720) HR output. Chapter 3's Table 3.1 uses a 1920×1080 output (its values
match that size; the chapter does not say so).

Readings chosen (they reproduce every printed CARN / CARN-M value; the tests check each one):

* **What is counted**: every ``nn.Conv2d`` call, ``weight.numel()`` MACs per output pixel, i.e.
  C_out · (C_in / G) · k_h · k_w: a grouped conv is counted per group, 1×1 convs are included, biases are not.
  Pixel shuffle, ReLU, additions, concatenation and the mean shift are free. A module applied several times
  (CARN-M's shared EResidual) is counted at every call. Convolutions run through ``torch.nn.functional`` (e.g.
  MEPSNet's template convs) are not ``nn.Conv2d`` modules and are not seen.
* **Output pixels of a layer**: the HR pixel count times the layer's share of it, measured by forward hooks on
  a small probe run (:func:`conv_costs`): a layer at LR resolution counts HR pixels / s². For ×3 at 1280×720
  that is 102,400 pixels (an LR width of 426⅔): the thesis' numbers follow this fractional convention.
* **Parameters**: trainable tensors, a shared tensor once (:func:`parameter_count`). Table 2.1 and Table 2.4's
  CARN count biases (Table 2.1 truncates to K, Tables 2.4–2.7 round to the nearest K); Table 2.4's CARN-M
  (412K) and Tables 2.5–2.7's CARN / PCARN (1,589K) match the count *without* biases (412,032 and 1,588,608),
  which ``biases=False`` gives. This is an inference from the numbers: the thesis does not say how it counted.

Table 3.1 (Chapter 3, ×8, 1920×1080 output) is :data:`TABLE_3_1` / :func:`table_3_1`: its progressive CARN
counts the parameters of the deployed ×8 network only (the detached earlier toRGB heads are not in it), which
:func:`called_parameter_count` gives; its CARN-B24U4 is the progressive model's modules with the upsampling at
the end (see :mod:`companion.models.progressive_carn`), and EDSR is counted from its layer list
(:func:`edsr_costs`).

The printed values and our recounts are kept side by side in :data:`TABLE_2_4`, :data:`TABLES_2_5_TO_2_7` and
:data:`TABLE_2_1` (printed Params in parameters with the paper's K rounding, printed Mult-Adds in G, as in
``companion/paper/thesis.json``; recounts exact); :func:`table_2_4` and :func:`table_2_1` recompute them from
the models. Eq. 2.10's cost ratio of an EResidual to a standard residual block is :func:`eq_2_10_ratio`, and
:func:`eresidual_ratio` measures it on the two modules.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import torch
from torch import nn

from companion.models import build_model, carn
from companion.models.carn_m import EResidual

#: Chapter 2's output size (height, width): a 720p HR image (§2.4.2).
CH2_OUTPUT = (720, 1280)
#: Table 3.1's output size (height, width): 1920×1080.
TABLE_3_1_OUTPUT = (1080, 1920)
#: Trainable-parameter counts of the models' weights-and-biases and weights-only, used by the tables below.
CARN_PARAMS, CARN_WEIGHTS = 1_591_939, 1_588_608
CARN_M_PARAMS, CARN_M_WEIGHTS = 414_787, 412_032

#: Table 2.4's cost columns for CARN and CARN-M (multi-scale models, 1280×720 output): the printed value and
#: our exact recount; row labels and column names as in ``companion/paper/thesis.json``. "Params" also keeps
#: the weights-only count, which is what the printed CARN-M value matches.
TABLE_2_4: dict[str, dict[str, dict]] = {
    "CARN x2": {"Params": {"printed": 1_592_000, "recount": CARN_PARAMS, "weights_only": CARN_WEIGHTS},
                "Mult-Adds (G)": {"printed": 222.8, "recount": 222_820_761_600}},
    "CARN-M x2": {"Params": {"printed": 412_000, "recount": CARN_M_PARAMS, "weights_only": CARN_M_WEIGHTS},
                  "Mult-Adds (G)": {"printed": 91.2, "recount": 91_172_044_800}},
    "CARN x3": {"Params": {"printed": 1_592_000, "recount": CARN_PARAMS, "weights_only": CARN_WEIGHTS},
                "Mult-Adds (G)": {"printed": 118.8, "recount": 118_790_553_600}},
    "CARN-M x3": {"Params": {"printed": 412_000, "recount": CARN_M_PARAMS, "weights_only": CARN_M_WEIGHTS},
                  "Mult-Adds (G)": {"printed": 46.1, "recount": 46_124_236_800}},
    "CARN x4": {"Params": {"printed": 1_592_000, "recount": CARN_PARAMS, "weights_only": CARN_WEIGHTS},
                "Mult-Adds (G)": {"printed": 90.9, "recount": 90_873_446_400}},
    "CARN-M x4": {"Params": {"printed": 412_000, "recount": CARN_M_PARAMS, "weights_only": CARN_M_WEIGHTS},
                  "Mult-Adds (G)": {"printed": 32.5, "recount": 32_480_870_400}},
}
#: Tables 2.5–2.7 print the ×4 costs of CARN, PCARN (CARN's generator) and PCARN-M (CARN-M's).
TABLES_2_5_TO_2_7: dict[str, dict[str, dict]] = {
    "CARN": {"Params": {"printed": 1_589_000, "recount": CARN_PARAMS, "weights_only": CARN_WEIGHTS},
             "Mult-Adds (G)": {"printed": 90.9, "recount": 90_873_446_400}},
    "PCARN": {"Params": {"printed": 1_589_000, "recount": CARN_PARAMS, "weights_only": CARN_WEIGHTS},
              "Mult-Adds (G)": {"printed": 90.9, "recount": 90_873_446_400}},
    "PCARN-M": {"Params": {"printed": 412_000, "recount": CARN_M_PARAMS, "weights_only": CARN_M_WEIGHTS},
                "Mult-Adds (G)": {"printed": 32.5, "recount": 32_480_870_400}},
}
#: Table 2.1's parameter column (single-scale ×4 CARN variants, §2.4.3): printed and recount. They agree once
#: the recount is truncated to K, as this table prints (963,651 → 963K; rounding would give 964K).
TABLE_2_1: dict[str, dict] = {
    "Baseline": {"printed": 963_000, "recount": 963_651},
    "+Local": {"printed": 1_074_000, "recount": 1_074_819},
    "+Global": {"printed": 1_000_000, "recount": 1_000_707},
    "+L/G": {"printed": 1_111_000, "recount": 1_111_875},
    "+Residual": {"printed": 1_111_000, "recount": 1_111_875},
}


def params_printed_as(count: int, rounding: str = "nearest") -> int:
    """``count`` as the thesis prints parameters, in K: ``rounding="nearest"`` thousand (Tables 2.4–2.7:
    1,591,939 → 1,592,000) or ``"down"`` (Table 2.1, which truncates: 963,651 → 963,000)."""
    if rounding not in ("nearest", "down"):
        raise ValueError(f"rounding must be 'nearest' or 'down', got {rounding!r}")
    return (round(Fraction(count, 1000)) if rounding == "nearest" else count // 1000) * 1000


def mult_adds_printed_as(count: int) -> float:
    """``count`` MACs as the thesis prints Mult-Adds: G with one decimal (222,820,761,600 → 222.8)."""
    return float(round(Fraction(count, 10 ** 8))) / 10


@dataclass(frozen=True)
class ConvCost:
    """One ``nn.Conv2d`` of a model: its shape, how often one forward pass calls it, and its Mult-Adds at the
    requested output size (exact; a fraction only where HR pixels / s² is not whole)."""
    name: str
    in_channels: int
    out_channels: int
    kernel: tuple[int, int]
    groups: int
    calls: int
    macs: Fraction


def conv_costs(model: nn.Module, scale: int | None = None, output_size: Sequence[int] = CH2_OUTPUT, *,
               probe: Sequence[int] = (8, 8), in_channels: int = 3) -> list[ConvCost]:
    """The Mult-Adds of every ``nn.Conv2d`` that a forward pass of ``model`` calls, for an output of
    ``output_size`` = (height, width) pixels, in call order of first use.

    ``model`` is run once, in eval mode without gradients, on a ``1×in_channels×probe`` input of 0.5s on its own
    device (the "meta" device works and computes nothing): ``model(x, scale)``, or ``model(x)`` when ``scale`` is
    None. Each conv's output pixels, as a share of the model's output pixels, are scaled to ``output_size``.
    """
    convs: dict[int, tuple[str, nn.Conv2d]] = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            convs.setdefault(id(module), (name, module))
    pixels: dict[int, list[int]] = {key: [] for key in convs}
    order: list[int] = []

    def hook(key):
        def record(module, inputs, output):
            if not pixels[key]:
                order.append(key)
            pixels[key].append(output.shape[-2] * output.shape[-1])
        return record

    param = next(model.parameters(), None)
    device, dtype = (param.device, param.dtype) if param is not None else (torch.device("cpu"), torch.float32)
    x = torch.full((1, in_channels, *probe), 0.5, device=device, dtype=dtype)
    handles = [module.register_forward_hook(hook(key)) for key, (_, module) in convs.items()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            out = model(x) if scale is None else model(x, scale)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    out_pixels = out.shape[-2] * out.shape[-1]
    target = int(output_size[0]) * int(output_size[1])
    costs = []
    for key in order:
        name, conv = convs[key]
        share = Fraction(sum(pixels[key]) * target, out_pixels)
        costs.append(ConvCost(name, conv.in_channels, conv.out_channels, tuple(conv.kernel_size), conv.groups,
                              len(pixels[key]), conv.weight.numel() * share))
    return costs


def mult_adds(model: nn.Module, scale: int | None = None, output_size: Sequence[int] = CH2_OUTPUT, *,
              probe: Sequence[int] = (8, 8), in_channels: int = 3) -> int:
    """Mult-Adds of one forward pass of ``model`` (at ``scale``) producing an ``output_size`` = (height, width)
    image: the sum of :func:`conv_costs`, rounded to a whole number (exact for the thesis' sizes)."""
    return round(sum((c.macs for c in conv_costs(model, scale, output_size, probe=probe, in_channels=in_channels)),
                     Fraction(0)))


def parameter_count(model: nn.Module, *, biases: bool = True) -> int:
    """Trainable parameters of ``model``, each shared tensor once; ``biases=False`` counts weights only (the
    convention of Table 2.4's CARN-M and Tables 2.5–2.7's CARN, see the module docstring)."""
    seen, total = set(), 0
    for name, p in model.named_parameters():
        if p.requires_grad and id(p) not in seen and (biases or not name.endswith("bias")):
            seen.add(id(p))
            total += p.numel()
    return total


def eq_2_10_ratio(groups: int, kernel: int = 3) -> Fraction:
    """Eq. 2.10: the cost of an EResidual block relative to a standard residual block, 1/G + 1/(2K²)
    (C_in = C_out). ``1 / eq_2_10_ratio(2)`` = 1.8, ``1 / eq_2_10_ratio(64)`` ≈ 14.05 (§2.3.3)."""
    return Fraction(1, groups) + Fraction(1, 2 * kernel * kernel)


def eresidual_ratio(groups: int, channels: int = 64) -> Fraction:
    """Eq. 2.10 measured: Mult-Adds of CARN-M's :class:`~companion.models.carn_m.EResidual` (3×3, ``groups``)
    over CARN's :class:`~companion.models.carn.ResidualUnit`, both ``channels`` wide, per output pixel."""
    def per_pixel(module):
        return sum((c.macs for c in conv_costs(module, output_size=(1, 1), probe=(4, 4), in_channels=channels)),
                   Fraction(0))
    with torch.device("meta"):
        efficient, standard = EResidual(channels, groups), carn.ResidualUnit(channels)
    return per_pixel(efficient) / per_pixel(standard)


def _paper_model(name: str, **overrides) -> nn.Module:
    return build_model(name, "paper", **overrides)


def table_2_4(output_size: Sequence[int] = CH2_OUTPUT) -> list[dict]:
    """Table 2.4's CARN / CARN-M cost cells recomputed from the paper-size models, beside the printed values.

    One dict per row: ``label``, ``model``, ``scale``, ``params``, ``params_weights_only``, ``mult_adds``
    (exact MACs), ``printed_params``, ``printed_mult_adds_g``, and whether the printed values match
    (``params_match``: with biases; ``weights_only_match``; ``mult_adds_match``).
    """
    models = {"CARN": _paper_model("carn"), "CARN-M": _paper_model("carn_m")}
    rows = []
    for label, cells in TABLE_2_4.items():
        model_label, scale = label.split(" x")
        model, scale = models[model_label], int(scale)
        params, weights = parameter_count(model), parameter_count(model, biases=False)
        macs = mult_adds(model, scale, output_size)
        printed_p, printed_m = cells["Params"]["printed"], cells["Mult-Adds (G)"]["printed"]
        rows.append(dict(label=label, model=model_label, scale=scale, params=params, params_weights_only=weights,
                         mult_adds=macs, printed_params=printed_p, printed_mult_adds_g=printed_m,
                         params_match=params_printed_as(params) == printed_p,
                         weights_only_match=params_printed_as(weights) == printed_p,
                         mult_adds_match=mult_adds_printed_as(macs) == printed_m))
    return rows


def table_2_1() -> list[dict]:
    """Table 2.1's parameter column recomputed from the CARN variants (:data:`companion.models.carn.TABLE_2_1`):
    ``label``, ``params``, ``printed_params``, ``params_match``."""
    rows = []
    for label, overrides in carn.TABLE_2_1.items():
        params = parameter_count(_paper_model("carn", **overrides))
        printed = TABLE_2_1[label]["printed"]
        rows.append(dict(label=label, params=params, printed_params=printed,
                         params_match=params_printed_as(params, "down") == printed))
    return rows


# --------------------------------------------------------------------------------------------------------
# Table 3.1 (Chapter 3): ×8 models, 1920×1080 output.

#: Table 3.1's cost columns (×8, Mult-Adds for a 1920×1080 output): printed (Params in parameters, as
#: ``companion/paper/thesis.json`` transcribes "1.25M"; Mult-Adds in G) and our exact recount, with the
#: weights-only count beside it. Readings (see :func:`table_3_1`): CARN-B3U3 is the Chapter 2 CARN with a ×8
#: upsampler; CARN-B24U4 the progressive model's three B8U4 modules at LR resolution with one ×8 upsampler at
#: the end (``ProgressiveCARN(layout="end")``; a plain ``CARN(blocks=24, units=4)``, kept as ``"plain"``, does
#: not match); EDSR the 32-block, 256-channel EDSR with a ×8 upsampler; the progressive CARN's parameters are
#: those of its ×8 path (one toRGB head). "+" is the same network run 8 times (geometric self-ensemble): the
#: table prints one pass; ``"ensemble"`` is what the 8 passes cost.
#: Every Mult-Adds cell matches to the printed whole G, and every Params cell matches ours *truncated* to 0.01M
#: (as Table 2.1 truncates to K): rounded, CARN-B3U3's 1,259,587 would print 1.26M, not 1.25M.
TABLE_3_1: dict[str, dict[str, dict]] = {
    "CARN-B3U3": {"Params": {"printed": 1_250_000, "recount": 1_259_587, "weights_only": 1_256_832},
                  "Mult-Adds (G)": {"printed": 130.0, "recount": 130_244_889_600}},
    "CARN-B24U4": {"Params": {"printed": 9_460_000, "recount": 9_461_443, "weights_only": 9_440_640,
                              "plain": 10_247_875},
                   "Mult-Adds (G)": {"printed": 395.0, "recount": 395_400_268_800, "plain": 420_880_665_600}},
    "EDSR": {"Params": {"printed": 45_450_000, "recount": 45_450_243, "weights_only": 45_430_272},
             "Mult-Adds (G)": {"printed": 2862.0, "recount": 2_861_991_014_400}},
    "progressive CARN": {"Params": {"printed": 9_460_000, "recount": 9_461_443, "weights_only": 9_440_640,
                                    "all_heads": 9_464_905},
                         "Mult-Adds (G)": {"printed": 2144.0, "recount": 2_143_992_499_200}},
    "progressive CARN+": {"Params": {"printed": 9_460_000, "recount": 9_461_443, "weights_only": 9_440_640,
                                     "all_heads": 9_464_905},
                          "Mult-Adds (G)": {"printed": 2144.0, "recount": 2_143_992_499_200,
                                            "ensemble": 8 * 2_143_992_499_200}},
}


def params_printed_as_m(count: int, rounding: str = "nearest") -> float:
    """``count`` as Table 3.1 prints parameters: millions with two decimals, rounded to the ``"nearest"``
    (1,259,587 → 1.26) or truncated (``"down"``: 1.25)."""
    if rounding not in ("nearest", "down"):
        raise ValueError(f"rounding must be 'nearest' or 'down', got {rounding!r}")
    hundredths = round(Fraction(count, 10_000)) if rounding == "nearest" else count // 10_000
    return hundredths / 100


def mult_adds_printed_as_g(count: int) -> float:
    """``count`` MACs as Table 3.1 prints Mult-Adds: whole G (2,143,992,499,200 → 2144.0)."""
    return float(round(Fraction(count, 10 ** 9)))


def called_parameter_count(model: nn.Module, scale: int | None = None, *, biases: bool = True,
                           probe: Sequence[int] = (8, 8), in_channels: int = 3) -> int:
    """Trainable parameters of the modules that one forward pass of ``model`` (at ``scale``) calls, each
    shared tensor once: the size of the network that produces that output. For the progressive CARN at ×8 it
    leaves out the earlier stages' toRGB heads, which the thesis detaches (Table 3.1's 9.46M). ``model`` is run
    as in :func:`conv_costs` (eval mode, no gradients, its own device; "meta" works)."""
    called: set[int] = set()
    handles = [m.register_forward_hook(lambda mod, i, o: called.add(id(mod))) for m in model.modules()]
    param = next(model.parameters(), None)
    device, dtype = (param.device, param.dtype) if param is not None else (torch.device("cpu"), torch.float32)
    x = torch.full((1, in_channels, *probe), 0.5, device=device, dtype=dtype)
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x) if scale is None else model(x, scale)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    seen, total = set(), 0
    for module in model.modules():
        if id(module) not in called:
            continue
        for name, p in module.named_parameters(recurse=False):
            if p.requires_grad and id(p) not in seen and (biases or name != "bias"):
                seen.add(id(p))
                total += p.numel()
    return total


def edsr_costs(blocks: int = 32, channels: int = 256, scale: int = 8,
               output_size: Sequence[int] = TABLE_3_1_OUTPUT) -> dict:
    """EDSR's parameters and Mult-Adds from its layer list (Lim et al., CVPRW 2017; Table 3.1's EDSR row).

    Layers, all 3×3 convs with biases: head 3 → C; ``blocks`` residual blocks of two C → C convs (no BN; the
    0.1 residual scaling is free); the body's last conv C → C; the upsampler, one conv C → 4C (+ PixelShuffle 2)
    per ×2 stage (×3: one conv C → 9C); tail C → 3. The fixed mean-shift convs are not trainable and not
    counted. Convs before the upsampler run at LR resolution, stage k's upsampler conv at 4^k × it, the tail at
    HR. Returns ``params``, ``weights_only``, ``mult_adds`` (exact MACs at ``output_size``).
    """
    if scale not in (2, 3, 4, 8):
        raise ValueError(f"EDSR scales are 2, 3, 4, 8; got {scale!r}")
    hr = Fraction(int(output_size[0]) * int(output_size[1]))
    lr = hr / (scale * scale)
    k2, c = 9, channels
    stages = [3] if scale == 3 else [2] * {2: 1, 4: 2, 8: 3}[scale]
    # (weights, biases, output pixels) of every conv
    layers = [(3 * c * k2, c, lr)] + [(c * c * k2, c, lr)] * (2 * blocks + 1)
    pixels = lr
    for r in stages:
        layers.append((c * c * r * r * k2, c * r * r, pixels))
        pixels *= r * r
    layers.append((c * 3 * k2, 3, hr))
    weights = sum(w for w, _, _ in layers)
    return dict(params=weights + sum(b for _, b, _ in layers), weights_only=weights,
                mult_adds=round(sum((w * px for w, _, px in layers), Fraction(0))))


def table_3_1(output_size: Sequence[int] = TABLE_3_1_OUTPUT) -> list[dict]:
    """Table 3.1's cost cells recomputed from the models (built on the "meta" device: nothing is computed),
    beside the printed values (:data:`TABLE_3_1`).

    One dict per row: ``label``, ``params`` (for the progressive CARN: its ×8 path,
    :func:`called_parameter_count`), ``params_weights_only``, ``mult_adds`` (exact MACs of one pass),
    ``printed_params``, ``printed_mult_adds_g``, ``params_match`` (ours truncated to 0.01M, the table's
    convention), ``params_match_rounded`` (rounded instead) and ``mult_adds_match`` (to the printed whole G).
    """
    with torch.device("meta"):
        b3u3 = _paper_model("carn", scales=(8,))
        b24u4 = _paper_model("progressive_carn", layout="end")
        progressive = _paper_model("progressive_carn")
    counted = {
        "CARN-B3U3": (parameter_count(b3u3), parameter_count(b3u3, biases=False), mult_adds(b3u3, 8, output_size)),
        "CARN-B24U4": (parameter_count(b24u4), parameter_count(b24u4, biases=False),
                       mult_adds(b24u4, 8, output_size)),
    }
    edsr = edsr_costs(output_size=output_size)
    counted["EDSR"] = (edsr["params"], edsr["weights_only"], edsr["mult_adds"])
    counted["progressive CARN"] = counted["progressive CARN+"] = (
        called_parameter_count(progressive, 8), called_parameter_count(progressive, 8, biases=False),
        mult_adds(progressive, 8, output_size))
    rows = []
    for label, cells in TABLE_3_1.items():
        params, weights, macs = counted[label]
        printed_p, printed_m = cells["Params"]["printed"], cells["Mult-Adds (G)"]["printed"]
        rows.append(dict(label=label, params=params, params_weights_only=weights, mult_adds=macs,
                         printed_params=printed_p, printed_mult_adds_g=printed_m,
                         params_match=params_printed_as_m(params, "down") == printed_p / 1e6,
                         params_match_rounded=params_printed_as_m(params) == printed_p / 1e6,
                         mult_adds_match=mult_adds_printed_as_g(macs) == printed_m))
    return rows
