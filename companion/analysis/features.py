"""Intermediate outputs by forward hooks, and MEPSNet's per-expert feature maps (thesis Ch.7 §7.5.2, Fig. 7.7).

Fig. 7.7 shows "the output feature map of the mixture of experts module": for an SHDD image with Gaussian
noise, contrast change, f-noise and blur regions, expert 1 "produces coarse and large activations" (contrast,
colour tone of the noises), expert 2 "concentrates on recovering edges" (blur), expert 3 on "finer" primitives.
The thesis does not say how a C-channel map was turned into one picture.

Readings chosen:

* **Which tensor**: the output of each ``model.experts[i]`` (B×C×H×W, C = expert width), i.e. the chunks of
  the concatenated ``F_D`` before the attentive fusion scales them.
* **One picture per expert** (:func:`summarise_map`): ``"mean_abs"`` (default) -- the mean absolute activation
  over channels, which shows where an expert is active and how strongly (Fig. 7.7's "coarse and large
  activations" read as magnitude); ``"pca1"`` -- the projection of each pixel's C-vector on the first
  principal component of that map's pixels (centred per channel), which shows the dominant pattern with its
  sign (sign fixed so the largest-magnitude loading is positive). Scale the result for display yourself;
  nothing is normalised here, so experts stay comparable under ``"mean_abs"``.
* **Mode**: features are captured in eval mode under ``torch.no_grad()``; the model's train/eval mode is
  restored afterwards.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from companion.errors import CompanionError

SUMMARIES = ("mean_abs", "pca1")


def _detach(value):
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu")
    if isinstance(value, (tuple, list)):
        return type(value)(_detach(v) for v in value)
    return value


def capture(model: nn.Module, modules: Mapping[str, nn.Module], x) -> dict[str, torch.Tensor]:
    """Run ``model(x)`` once (eval mode, no grad) and return the outputs of ``modules`` by name.

    ``modules``: ``{name: submodule}``. Each output is detached and moved to the CPU (tuples stay tuples).
    A module called several times in one forward keeps its *last* output; one never called raises
    :class:`CompanionError` (it is probably not part of ``model``'s forward). Hooks are removed and the
    model's train/eval mode restored even when the forward raises.
    """
    if not isinstance(model, nn.Module):
        raise CompanionError(f"capture needs a torch.nn.Module, got {type(model).__name__}")
    if not modules:
        raise CompanionError("capture needs at least one module to hook")
    outputs: dict[str, object] = {}
    handles = []
    was_training = model.training
    try:
        for name, module in modules.items():
            if not isinstance(module, nn.Module):
                raise CompanionError(f"capture: {name!r} is a {type(module).__name__}, not a torch.nn.Module")

            def hook(_module, _inputs, output, _name=name):
                outputs[_name] = _detach(output)

            handles.append(module.register_forward_hook(hook))
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    missing = [name for name in modules if name not in outputs]
    if missing:
        raise CompanionError(f"modules {missing} never ran during the forward pass; hook submodules of the model")
    return {name: outputs[name] for name in modules}


def mepsnet_core(model: nn.Module) -> nn.Module:
    """The module holding ``experts`` / ``fusion``: ``model`` itself, or ``model.net`` for a wrapper such as
    ``companion.models.mepsnet.InferenceMEPSNet`` (whose forward runs ``net.experts`` and ``net.fusion``)."""
    if not hasattr(model, "experts") and isinstance(getattr(model, "net", None), nn.Module):
        return model.net
    return model


def expert_feature_maps(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The output of every expert of a MEPSNet-like model for input ``x``: one B×C×H×W CPU tensor per expert.

    Needs ``model.experts`` (an ``nn.ModuleList``; or ``model.net.experts``); the list is in expert order
    0..N-1 (Fig. 7.7 c-e). Tensors keep the model's dtype (bf16 for a bf16 inference copy).
    """
    experts = getattr(mepsnet_core(model), "experts", None)
    if not isinstance(experts, nn.ModuleList) or len(experts) == 0:
        raise CompanionError(f"{type(model).__name__} has no 'experts' ModuleList; expert_feature_maps needs MEPSNet")
    out = capture(model, {str(i): e for i, e in enumerate(experts)}, x)
    maps = [out[str(i)] for i in range(len(experts))]
    for i, m in enumerate(maps):
        if not isinstance(m, torch.Tensor) or m.ndim != 4:
            got = tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__
            raise CompanionError(f"expert {i} returned {got}, expected a B×C×H×W tensor")
    return maps


def summarise_map(feature, *, method: str = "mean_abs") -> np.ndarray:
    """One H×W float32 picture of a C×H×W feature map (a 1×C×H×W batch is accepted too).

    ``method``: ``"mean_abs"`` (mean |activation| over channels) or ``"pca1"`` (first principal component of
    the pixels' channel vectors); see the module's *Readings chosen*.
    """
    if isinstance(feature, torch.Tensor):
        f = feature.detach().cpu().double().numpy()
    else:
        f = np.asarray(feature, np.float64)
    if f.ndim == 4 and f.shape[0] == 1:
        f = f[0]
    if f.ndim != 3:
        raise CompanionError(f"summarise_map needs a C×H×W feature map, got shape {f.shape}; index one image")
    c, h, w = f.shape
    if method == "mean_abs":
        return np.abs(f).mean(axis=0).astype(np.float32)
    if method == "pca1":
        pixels = f.reshape(c, h * w).T
        pixels = pixels - pixels.mean(axis=0, keepdims=True)
        if not np.any(pixels):
            return np.zeros((h, w), np.float32)
        _, vecs = np.linalg.eigh(pixels.T @ pixels)  # C×C scatter matrix; eigenvalues ascending
        v = vecs[:, -1]
        v = v * np.sign(v[np.argmax(np.abs(v))])
        return (pixels @ v).reshape(h, w).astype(np.float32)
    raise CompanionError(f"unknown summary {method!r}; use one of {SUMMARIES}")


def response_by_label(maps, label_map, names) -> dict[str, list[float]]:
    """Mean |activation| of each expert inside each label's pixels, relative to that expert's mean over the image.

    ``maps``: one C×H×W (or 1×C×H×W) tensor per expert; ``label_map``: H×W integer labels; ``names``: label
    names by index. Returns ``{name: [ratio per expert]}`` for the labels present: a ratio above 1 means the
    expert responds more strongly in that distortion's regions than on average (the quantity behind the
    reading of Fig. 7.7, "expert 1 reacts to contrast, expert 2 to blur edges ...").
    """
    labels = np.asarray(label_map.detach().cpu() if isinstance(label_map, torch.Tensor) else label_map)
    energy = []
    for m in maps:
        f = m.detach().cpu().float()
        f = f[0] if f.ndim == 4 else f
        if f.shape[-2:] != labels.shape:
            raise CompanionError(f"feature map {tuple(f.shape[-2:])} and label map {labels.shape} differ in size")
        energy.append(f.abs().mean(dim=0).numpy())
    out = {}
    for index in np.unique(labels):
        sel = labels == index
        out[names[int(index)]] = [float(e[sel].mean() / e.mean()) if e.mean() > 0 else float("nan") for e in energy]
    return out
