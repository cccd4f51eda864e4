"""Distort the rectangular regions of an image, each with its own distortion: the shared core of every
dataset that mixes distortions within one image (SHDD, Ch.7 §7.3; the Flickr-Distortion detection sets,
Ch.6 §6.2.2).

**Regional vs whole** (:func:`distort_regions`). ``method="whole"`` is the naive way (the SHDD authors'
generator): distort the whole image with each region's settings, keep that region. ``method="regional"``
(the default) distorts only the region grown by the distortion's context ``margin(strength)`` (blur
``ceil(4σ)``, 0 for pointwise types and noise; see :class:`companion.data.distortions.DistortionSpec`),
clamped to the image, then crops. Identical for pointwise types and (exactly, thanks to the margin) blur;
for Gaussian noise the two are equal in distribution; f-noise is normalised over the field it is drawn on,
so regionally each region gets exactly its std, while a crop of a whole-image 1/f field has a smaller
within-region std (tests/test_shdd.py measures it).
"""
from __future__ import annotations

import numpy as np

from companion.data.distortions import DISTORTIONS
from companion.errors import CompanionError

METHODS = ("regional", "whole")


def distort_regions(image: np.ndarray, regions: list[dict], rng: np.random.Generator,
                    method: str = "regional", *, names: tuple[str, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distort each region of ``image`` by its own type and strength; returns (distorted, label map).

    ``regions`` are dicts with ``ymin, xmin, ymax, xmax`` (max exclusive), ``type`` (a name in DISTORTIONS)
    and ``strength``; ``label`` (the label-map value) defaults to the type's index in ``names`` (a dataset's
    tuple of types; one of the two is required). Pixels outside every region are left as they are (label 0).
    ``method`` is "regional" (region + context margin) or "whole" (whole image, then crop); see the module
    docstring. The input is not modified; one float32
    copy is made for the output, identity regions cost nothing and pointwise types touch only their region.
    """
    if method not in METHODS:
        raise CompanionError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    src = np.asarray(image)
    if not np.issubdtype(src.dtype, np.floating) or src.ndim not in (2, 3):
        raise CompanionError(f"image must be a float H×W×3 or H×W array in [0, 1], got {src.dtype} {src.shape}; "
                             "use companion.data.images.load_image")
    src = src.astype(np.float32, copy=False)
    out = src.copy()
    labels = np.zeros(src.shape[:2], np.uint8)
    height, width = src.shape[:2]
    for r in regions:
        kind, strength = r["type"], r["strength"]
        if kind not in DISTORTIONS:
            raise CompanionError(f"unknown distortion {kind!r}; known distortions: {', '.join(DISTORTIONS)}")
        y0, x0, y1, x1 = int(r["ymin"]), int(r["xmin"]), int(r["ymax"]), int(r["xmax"])
        if not (0 <= y0 < y1 <= height and 0 <= x0 < x1 <= width):
            raise CompanionError(f"region {(y0, x0, y1, x1)} is empty or outside the {width}×{height} image")
        if "label" in r:
            labels[y0:y1, x0:x1] = r["label"]
        elif names is not None and kind in names:
            labels[y0:y1, x0:x1] = names.index(kind)
        else:
            raise CompanionError(f"region {(y0, x0, y1, x1)} has no 'label' and {kind!r} is not in the names "
                                 "given; pass names=<the dataset's types> or a label per region")
        if kind == "identity":
            continue
        spec = DISTORTIONS[kind]
        if method == "whole":
            out[y0:y1, x0:x1] = spec.fn(src, strength, rng)[y0:y1, x0:x1]
            continue
        m = spec.margin(strength)
        wy0, wx0, wy1, wx1 = max(0, y0 - m), max(0, x0 - m), min(height, y1 + m), min(width, x1 + m)
        window = spec.fn(src[wy0:wy1, wx0:wx1], strength, rng)
        out[y0:y1, x0:x1] = window[y0 - wy0:y1 - wy0, x0 - wx0:x1 - wx0]
    return out, labels
