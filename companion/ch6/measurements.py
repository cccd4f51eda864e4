"""The measurements of ``06a_distortion_datasets`` (thesis §6.2): what the Flickr-Distortion generator's
settings give, measured rather than assumed.

* :func:`severity_table`: the mean PSNR of each type's three levels against the reference, which should fall
  from the mild level to the severe one (§6.2.1);
* :func:`detection_statistics`: regions per detection image and their side ratios over sampled plans, beside
  §6.2.2's reported means (:data:`companion.ch6.flickr_distortion.THESIS_MEAN_SIDE_RATIO`).

:mod:`companion.ch6.conclusions` words them for the notebook.
"""
from __future__ import annotations

import numpy as np

from companion.ch6.flickr_distortion import CROP, FLICKR_LEVELS, FLICKR_TYPES, plan_detection
from companion.data.distortions import apply_distortion
from companion.data.references import fit_square
from companion.metrics import psnr


def detection_statistics(set_name: str, n: int, seed: int) -> dict:
    """Measured over ``n`` sampled detection plans: regions per image and side ratios (thesis: means 0.43 / 0.18)."""
    rng = np.random.default_rng([seed, 6, len(set_name)])
    counts, ratios = [], []
    for _ in range(n):
        regions = plan_detection(set_name, rng)
        counts.append(len(regions))
        ratios += [(r["ymax"] - r["ymin"]) / CROP for r in regions] + [(r["xmax"] - r["xmin"]) / CROP for r in regions]
    return {"plans": n, "min_regions": int(min(counts)), "max_regions": int(max(counts)),
            "mean_regions": float(np.mean(counts)), "mean_side_ratio": float(np.mean(ratios)),
            "min_side_ratio": float(min(ratios)), "max_side_ratio": float(max(ratios))}


def severity_table(references: list[np.ndarray], rng: np.random.Generator, size: int) -> dict[str, list[float]]:
    """Mean PSNR (RGB) of each type's three levels over centre crops of ``references``: the levels' ordering."""
    crops = [fit_square(r, size) for r in references]
    return {kind: [float(np.mean([psnr(apply_distortion(kind, c, s, rng), c) for c in crops]))
                   for s in FLICKR_LEVELS[kind]] for kind in FLICKR_TYPES}
