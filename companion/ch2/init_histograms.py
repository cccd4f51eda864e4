"""Figs. 2.6-2.7 of ``02b_initialisation`` (thesis §2.4.4): what Table 2.3's six initialisations
(:mod:`companion.ch2.init_schemes`) do to an untrained CARN, without training.

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
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from companion.ch2.init_schemes import INITS, Init, build_carn, fan_in, get_init, initialise, is_conv
from companion.data.images import embedded_image
from companion.data.sr import SRPatches
from companion.errors import CompanionError
from companion.models.carn import CARN, ResidualUnit


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
        if is_conv(module) and module.weight.requires_grad and id(module) not in seen:
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


def reference_resnet(name: str) -> nn.Module:
    """A torchvision ResNet (``"resnet18"``, ``"resnet50"`` …) with no weights loaded: Fig. 2.6's "ResNet"."""
    import torchvision  # reason: heavy (about a second to import) and only Fig. 2.6's reference ResNet needs it

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


__all__ = ["KINDS", "conv_layers", "weight_table", "fusion_share", "all_weights", "sample_weights", "histogram",
           "reference_resnet", "weight_histograms", "pre_relu_activations", "GROUPS", "activation_groups",
           "activation_batch", "activation_histograms", "activation_depth_profile", "MAJORITY", "activation_reading",
           "THESIS_FIG_2_7", "record_figures_2_6_2_7"]
