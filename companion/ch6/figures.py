"""Figures of thesis Ch.6 about the Flickr-Distortion data (§6.2): Fig. 6.1 and the 8 types × 3 levels grid.

Fig. 6.1 shows (a) a reference image, (b) a whole-image distortion (salt & pepper) for classification, and
(c, d) a detection image of the basic and difficult sets with its distorted regions.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from companion.ch6.flickr_distortion import FLICKR_LEVELS, FLICKR_TYPES, centre_crop, detection_image
from companion.data.distortions import apply_distortion
from companion.data.images import load_image
from companion.figures.style import label_legend

SHORT = {"gaussian_noise": "GWN", "gaussian_blur": "blur", "salt_and_pepper": "S&P", "quantization": "quant.",
         "jpeg": "JPEG", "low_resolution": "low-pass", "nl_means_denoising": "denoise", "f_noise": "f-noise"}
COLOURS = dict(zip(FLICKR_TYPES, ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                  "#bcbd22", "#d62728"]))


def draw_boxes(ax, regions: list[dict], *, fontsize: int = 7) -> None:
    """Outline detection regions (``ymin, xmin, ymax, xmax, type``) with their class names."""
    for r in regions:
        colour = COLOURS[r["type"]]
        ax.add_patch(Rectangle((r["xmin"] - 0.5, r["ymin"] - 0.5), r["xmax"] - r["xmin"], r["ymax"] - r["ymin"],
                               fill=False, lw=1.5, ec=colour))
        ax.text(r["xmin"], r["ymin"] - 1, SHORT[r["type"]], fontsize=fontsize, color="white", va="bottom",
                bbox={"facecolor": colour, "alpha": 0.85, "pad": 1, "lw": 0})


def type_legend(ax, regions: list[dict], **kwargs):
    """A legend of the box colours of :func:`draw_boxes` for the distortion types in ``regions``."""
    present = sorted({FLICKR_TYPES.index(r["type"]) for r in regions})
    return label_legend(ax, [SHORT[t] for t in FLICKR_TYPES], [COLOURS[t] for t in FLICKR_TYPES],
                        present=present, **kwargs)


def fig6_1_examples(run, reference: np.ndarray, rng: np.random.Generator):
    """Fig. 6.1: reference, classification (salt & pepper, level 2), detection basic and difficult.

    Box colours name the distortion (the legend lists the types in (c) and (d)).
    """
    crop = centre_crop(reference)
    sp = apply_distortion("salt_and_pepper", crop, FLICKR_LEVELS["salt_and_pepper"][1], rng)
    basic, _, basic_regions = detection_image(crop, "basic", rng)
    hard, _, hard_regions = detection_image(crop, "difficult", rng)
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.4))
    panels = [("(a) reference", crop, None), ("(b) classification: salt & pepper", sp, None),
              (f"(c) detection basic: {len(basic_regions)} regions", basic, basic_regions),
              (f"(d) detection difficult: {len(hard_regions)} regions", hard, hard_regions)]
    for ax, (title, img, regions) in zip(axes, panels):
        ax.imshow(np.clip(img, 0, 1))
        if regions:
            draw_boxes(ax, regions)
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    type_legend(axes[3], basic_regions + hard_regions, title="distortion")
    run.save_figure(fig, "fig6_1_examples", entry="Figure 6.1",
                    caption="Flickr-Distortion: reference, whole-image distortion, detection basic / difficult")
    return fig


def distortion_grid(image: np.ndarray, rng: np.random.Generator) -> dict[tuple[str, int], np.ndarray]:
    """Every (type, level) of the classification set applied to ``image``."""
    return {(kind, i): apply_distortion(kind, image, strength, rng)
            for kind in FLICKR_TYPES for i, strength in enumerate(FLICKR_LEVELS[kind])}


def fig_distortion_grid(run, image: np.ndarray, rng: np.random.Generator):
    """The classification set's 8 types × 3 levels on one crop (rows: types; columns: mild → severe)."""
    grid = distortion_grid(image, rng)
    fig, axes = plt.subplots(len(FLICKR_TYPES), 3, figsize=(7.5, 2.5 * len(FLICKR_TYPES)))
    for (kind, i), img in grid.items():
        ax = axes[FLICKR_TYPES.index(kind), i]
        ax.imshow(np.clip(img, 0, 1), cmap="gray" if img.ndim == 2 else None)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{SHORT[kind]} {FLICKR_LEVELS[kind][i]:g}", fontsize=9)
        if i == 0:
            ax.set_ylabel(SHORT[kind], fontsize=10)
    run.save_figure(fig, "fig6_distortion_grid",
                    caption="Flickr-Distortion classification: 8 types × 3 levels (mild to severe)")
    return fig


def load_detection_samples(root: Path, set_name: str, split: str = "train", n: int = 6) -> list[dict]:
    """The first ``n`` images of a built detection set with their COCO boxes, as region dicts."""
    folder = Path(root) / "flickr-distortion" / f"detection-{set_name}" / split
    coco = json.loads((folder / "annotations.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    samples = []
    for img in coco["images"][:n]:
        regions = [{"xmin": a["bbox"][0], "ymin": a["bbox"][1], "xmax": a["bbox"][0] + a["bbox"][2],
                    "ymax": a["bbox"][1] + a["bbox"][3], "type": names[a["category_id"]]}
                   for a in coco["annotations"] if a["image_id"] == img["id"]]
        samples.append({"image": load_image(folder / img["file_name"]), "regions": regions,
                        "file": img["file_name"]})
    return samples


def fig_detection_samples(run, root: Path, set_name: str, n: int = 6):
    """Detection images read back from a built set (files + COCO JSON), boxes drawn from the JSON; the legend
    names the box colours of the types shown."""
    samples = load_detection_samples(root, set_name, n=n)
    cols = min(3, len(samples))
    rows = -(-len(samples) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, s in zip(axes.flat, samples):
        ax.imshow(s["image"])
        draw_boxes(ax, s["regions"])
        ax.set_title(f"{s['file']}: {len(s['regions'])} regions", fontsize=9)
    type_legend(axes[0, -1], [r for s in samples for r in s["regions"]], title="distortion")
    run.save_figure(fig, f"fig6_detection_{set_name}",
                    caption=f"Detection-{set_name} samples read back from disk with their COCO boxes")
    return fig
