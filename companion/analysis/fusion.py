"""MEPSNet's attentive feature fusion weights, per expert and per distortion type (thesis §7.4.3, Eq. 7.4-7.5).

The fusion module takes the concatenated expert outputs ``F_D ∈ R^{C×H×W}``, pools them to the channel
descriptor ``F_CD = GAP(F_D)`` (Eq. 7.4), computes ``S = σ(W2 · δ(W1 · F_CD))`` and scales ``F_F = S · F_D``
(Eq. 7.5). In the companion's MEPSNet, ``model.fusion.attention`` is the ``nn.Sequential`` computing ``S``
(``AdaptiveAvgPool2d(1) → Conv 1×1 → ReLU → Conv 1×1 → Sigmoid``) and returns it as B×C×1×1.

Readings chosen:

* **Per expert**: the channels of ``F_D`` are the experts' outputs concatenated in order 0..N-1, ``C/N``
  each, so expert ``i``'s weight is the mean of ``S`` over its chunk (:func:`weights_per_expert`).
* **Per distortion type**: because of the GAP, ``S`` is one vector per *image*, not per pixel; on a full SHDD
  image it mixes every region's types. :func:`fusion_by_distortion` therefore runs the model on crops that
  hold one type only -- each SHDD region cut out by its record box (optionally centre-cropped to
  ``max_side`` to bound the cost), regions with a side under 16 px skipped -- and averages the per-expert
  weights over the crops of each type. A crop loses its context beyond the region border, so this measures
  how the fusion reacts to one distortion, not the weights the model used inside the full image.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from companion.analysis.features import capture, mepsnet_core
from companion.errors import CompanionError

MIN_CROP_SIDE = 16  # px: smaller region crops are skipped (too little context for the experts)


def _attention(model: nn.Module) -> nn.Module:
    attention = getattr(getattr(mepsnet_core(model), "fusion", None), "attention", None)
    if not isinstance(attention, nn.Module):
        raise CompanionError(f"{type(model).__name__} has no 'fusion.attention' module; fusion analysis needs MEPSNet")
    return attention


def _n_experts(model: nn.Module) -> int:
    n = getattr(model, "n_experts", None)
    if n is None:
        experts = getattr(mepsnet_core(model), "experts", None)
        if experts is None:
            raise CompanionError(f"{type(model).__name__} has neither 'n_experts' nor 'experts'")
        n = len(experts)
    return int(n)


def fusion_weights(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The fusion scaling vector ``S`` (Eq. 7.5) for input batch ``x``: a B×C float32 CPU tensor in (0, 1)."""
    s = capture(model, {"attention": _attention(model)}, x)["attention"]
    if not isinstance(s, torch.Tensor) or s.ndim != 4 or s.shape[2:] != (1, 1):
        got = tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
        raise CompanionError(f"fusion.attention returned {got}; expected the B×C×1×1 channel weights")
    return s.flatten(1).float()


def weights_per_expert(weights: torch.Tensor, n_experts: int) -> torch.Tensor:
    """Mean of B×C channel weights over each expert's chunk of ``C // n_experts`` channels: B×n_experts."""
    w = weights if isinstance(weights, torch.Tensor) else torch.as_tensor(np.asarray(weights))
    if w.ndim != 2:
        raise CompanionError(f"weights must be B×C, got shape {tuple(w.shape)}")
    if n_experts < 1 or w.shape[1] % n_experts:
        raise CompanionError(f"{w.shape[1]} channels do not split into {n_experts} equal expert chunks")
    return w.reshape(w.shape[0], n_experts, w.shape[1] // n_experts).mean(dim=2)


def _as_batch(image, device) -> torch.Tensor:
    """One image (H×W×3 array or 3×H×W tensor, float in [0, 1]) as a 1×3×H×W float32 tensor (the companion's
    models, inference copies included, take float32 and cast inside)."""
    if isinstance(image, torch.Tensor):
        t = image.detach()
        if t.ndim != 3 or t.shape[0] != 3:
            raise CompanionError(f"image tensors must be 3×H×W, got {tuple(t.shape)}")
    else:
        a = np.asarray(image)
        if a.ndim != 3 or a.shape[2] != 3 or not np.issubdtype(a.dtype, np.floating):
            raise CompanionError(f"images must be float H×W×3 arrays in [0, 1], got {a.dtype} {a.shape}")
        t = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))
    return t[None].to(device=device, dtype=torch.float32)


def fusion_by_distortion(model: nn.Module, images, records, *, max_side: int | None = None) -> dict[str, dict]:
    """Mean per-expert fusion weights per region type, from single-type region crops.

    ``images``: a distorted image (H×W×3 float array or 3×H×W tensor) or a sequence of them, aligned with
    ``records`` (one record dict or a sequence, such as SHDD's; each with ``"regions"``). Every region with both sides
    >= 16 px is cut out (centre-cropped to ``max_side`` if given) and run through the model on its own, on
    the device of the model's parameters. ``model`` may also be an inference wrapper with ``model.net``.

    Returns ``{type: {"label", "n_crops", "n_skipped", "mean": n_experts array, "std": n_experts array}}`` in
    label order (std over crops, 0 for one crop); types with no usable crop are left out.
    """
    _attention(model)  # fail early on a model without attentive fusion
    n_experts = _n_experts(model)
    if max_side is not None and (int(max_side) != max_side or max_side < MIN_CROP_SIDE):
        raise CompanionError(f"max_side must be a whole number >= {MIN_CROP_SIDE}, got {max_side!r}")
    single = isinstance(records, Mapping)
    records = [records] if single else list(records)
    images = [images] if single else list(images)
    if len(images) != len(records):
        raise CompanionError(f"got {len(images)} images for {len(records)} records; pass one per record")
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    acc: dict[str, dict] = {}
    for idx, (image, record) in enumerate(zip(images, records)):
        x = _as_batch(image, device)
        h, w = x.shape[2:]
        if not isinstance(record, Mapping) or "regions" not in record:
            raise CompanionError(f"record {idx} has no 'regions'; pass record dicts with a 'regions' list (as SHDD's records/*.json)")
        for region in record["regions"]:
            kind = str(region.get("type", region.get("label")))
            entry = acc.setdefault(kind, {"label": region.get("label"), "n_skipped": 0, "rows": []})
            y0, x0, y1, x1 = (int(region[k]) for k in ("ymin", "xmin", "ymax", "xmax"))
            if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
                raise CompanionError(f"image {idx}: region {(y0, x0, y1, x1)} lies outside the {w}×{h} image")
            if min(y1 - y0, x1 - x0) < MIN_CROP_SIDE:
                entry["n_skipped"] += 1
                continue
            if max_side is not None:
                dy, dx = max(0, (y1 - y0) - max_side), max(0, (x1 - x0) - max_side)
                y0, x0 = y0 + dy // 2, x0 + dx // 2
                y1, x1 = min(y1, y0 + max_side), min(x1, x0 + max_side)
            s = fusion_weights(model, x[:, :, y0:y1, x0:x1])
            entry["rows"].append(weights_per_expert(s, n_experts)[0].double().numpy())
    out = {}
    for kind, entry in sorted(acc.items(), key=lambda kv: (kv[1]["label"] is None, kv[1]["label"] or 0, kv[0])):
        if not entry["rows"]:
            continue
        rows = np.stack(entry["rows"])
        out[kind] = {"label": entry["label"], "n_crops": len(rows), "n_skipped": entry["n_skipped"],
                     "mean": rows.mean(axis=0), "std": rows.std(axis=0)}
    return out
