"""The measurements of notebook ``07d_what_experts_learn`` (thesis §7.5.2, Fig. 7.7): what MEPSNet's experts see.

Each function takes a trained MEPSNet-like model (``model.experts``, or ``model.net.experts`` for an inference
wrapper) and SHDD evaluation items -- the dicts of :class:`companion.ch7.datasets.SHDDEval`: ``distorted`` and
``clean`` (3×H×W float tensors), ``label`` (H×W integer tensor, :data:`companion.ch7.shdd.SHDD_TYPES` index per
pixel) and ``record`` (the regions) -- and returns plain numbers for the notebook to record and draw. The
tools underneath are shared (:mod:`companion.analysis`); this module only applies them to SHDD items.

* :func:`expert_maps`: one picture per expert for one item (Fig. 7.7 c-e);
* :func:`expert_responses`: each expert's response inside each distortion's regions, over all items;
* :func:`tsne_samples`: per-pixel expert features and the input RGB at the same pixels, balanced per type,
  for the t-SNE and the silhouette scores;
* :func:`spectra_by_type`, :func:`fusion_by_type`: the radial PSD and the attentive-fusion weights per type.
"""
from __future__ import annotations

import numpy as np

from companion.analysis import features, fusion, psd, tsne
from companion.ch7.shdd import SHDD_TYPES
from companion.errors import CompanionError


def to_hwc(image) -> np.ndarray:
    """A 3×H×W tensor (any device) as an H×W×3 numpy array, for matplotlib and the numpy tools."""
    return image.detach().cpu().permute(1, 2, 0).numpy()


def _items(items) -> list:
    items = list(items)
    if not items:
        raise CompanionError("no SHDD items given; pass SHDDEval items (dicts with 'distorted' and 'label')")
    return items


def _maps(model, item, device) -> list:
    """Every expert's output for one item: one 1×C×H×W CPU tensor per expert."""
    return features.expert_feature_maps(model, item["distorted"][None].to(device))


def expert_maps(model, item: dict, device="cpu", *, method: str = "mean_abs") -> list[np.ndarray]:
    """One H×W picture per expert of ``item`` (Fig. 7.7 c-e), summarised over channels by ``method``
    (:func:`companion.analysis.features.summarise_map`: ``"mean_abs"`` or ``"pca1"``)."""
    return [features.summarise_map(m[0], method=method) for m in _maps(model, item, device)]


def expert_responses(model, items, device="cpu", *, names=SHDD_TYPES) -> dict[str, dict]:
    """How strongly each expert responds inside each distortion's regions, averaged over ``items``.

    Per item, :func:`companion.analysis.features.response_by_label` gives, for every type present, each
    expert's mean |activation| inside that type's pixels divided by the expert's mean over the whole image
    (above 1: the expert responds more there). These ratios are averaged over the items that contain the type.

    Returns ``{type: {"ratios": [mean ratio per expert], "n_images": items containing the type}}`` in label
    order (``names`` index).
    """
    rows: dict[str, list[list[float]]] = {}
    for item in _items(items):
        for kind, ratios in features.response_by_label(_maps(model, item, device), item["label"], names).items():
            rows.setdefault(kind, []).append(ratios)
    order = {name: i for i, name in enumerate(names)}
    return {kind: {"ratios": np.mean(rows[kind], axis=0).tolist(), "n_images": len(rows[kind])}
            for kind in sorted(rows, key=order.__getitem__)}


def tsne_samples(model, items, per_label: int, rng: np.random.Generator, device="cpu"
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel samples for the t-SNE of the expert features, balanced per distortion type.

    Each pixel's vector is the concatenation of every expert's output channels (in expert order). The same
    pixels' distorted-input RGB comes with them, so the separation by type of the features can be compared
    with that of the input. ``per_label`` is spread evenly over the items: from each item,
    :func:`companion.analysis.tsne.features_by_label` draws ``max(1, per_label // len(items))`` pixels of
    every type present (fewer when the item's smallest type has fewer pixels), without replacement, using
    ``rng`` in item order.

    Returns ``(vectors N×C_total float32, inputs N×3 float32, labels N int64)``, concatenated over the items.
    """
    items = _items(items)
    if int(per_label) != per_label or per_label < 1:
        raise CompanionError(f"per_label must be a positive whole number, got {per_label!r}")
    per_item = max(1, int(per_label) // len(items))
    vectors, inputs, labels = [], [], []
    for item in items:
        fd = np.concatenate([m[0].float().numpy() for m in _maps(model, item, device)], axis=0)
        rgb = item["distorted"].detach().cpu().numpy()
        if fd.shape[1:] != rgb.shape[1:]:
            raise CompanionError(f"expert features are {fd.shape[1:]} but the image is {rgb.shape[1:]}; "
                                 "tsne_samples needs experts that keep the image size")
        stacked = np.concatenate([fd, rgb], axis=0)[None]
        v, lab = tsne.features_by_label(stacked, item["label"][None], per_label=per_item, rng=rng)
        vectors.append(v[:, :-3])
        inputs.append(v[:, -3:])
        labels.append(lab)
    return np.concatenate(vectors), np.concatenate(inputs), np.concatenate(labels)


def spectra_by_type(items, restored=None, **kwargs) -> dict[str, dict]:
    """Radial PSD and its 1/f^α fit per distortion type, for the clean, distorted (and restored) regions.

    ``restored``: the model's outputs aligned with ``items`` (3×H×W tensors), or None. ``kwargs`` go to
    :func:`companion.analysis.psd.psd_by_label` (``tile``, ``window``, ``fmin``, ``fmax``), which returns
    ``{type: {"n_tiles", "freqs", "clean", "distorted"[, "restored"]}}``, each with its ``"power"``/``"alpha"``.
    """
    items = _items(items)
    return psd.psd_by_label([to_hwc(it["clean"]) for it in items], [to_hwc(it["distorted"]) for it in items],
                            [it["record"] for it in items],
                            restored=None if restored is None else [to_hwc(r) for r in restored], **kwargs)


def fusion_by_type(model, items, **kwargs) -> dict[str, dict]:
    """Mean attentive-fusion weight S (Eq. 7.5) per expert, from single-type region crops of ``items``
    (:func:`companion.analysis.fusion.fusion_by_distortion`; ``kwargs``: ``max_side``)."""
    items = _items(items)
    return fusion.fusion_by_distortion(model, [it["distorted"] for it in items], [it["record"] for it in items],
                                       **kwargs)
