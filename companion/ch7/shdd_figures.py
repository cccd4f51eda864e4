"""Figures of thesis Ch.7 / seed 000 about the SHDD data (§7.3): Fig. 7.1 and Fig. 7.3.

Fig. 7.1 (= seed 000 Fig. 1) compares three assumptions: (b) one distortion over the whole image (Gaussian
noise), (c) distortions mixed *sequentially* over the whole image (Gaussian blur, then Gaussian noise), and
(d) SHDD's *spatially* heterogeneous distortion (left half blurred, right half noisy). Fig. 7.3 (= seed 000
Fig. 3) shows one image at each level (easy, moderate, difficult) of :func:`divide_and_distort`.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch, Rectangle

from companion.ch7.shdd import LEVELS, SHDD_TYPES, divide_and_distort, plan_regions
from companion.data.distortions import apply_distortion
from companion.data.regions import distort_regions
from companion.figures.style import colour_label_map, label_legend

TYPE_COLOURS = {"identity": "#bbbbbb", "gaussian_noise": "#1f77b4", "gaussian_blur": "#2ca02c",
                "f_noise": "#d62728", "contrast_change": "#ff7f0e"}
SHORT = {"identity": "identity", "gaussian_noise": "noise", "gaussian_blur": "blur", "f_noise": "f-noise",
         "contrast_change": "contrast"}


def modality_examples(image: np.ndarray, rng: np.random.Generator, *, noise_variance: float = 0.02,
                      blur_sigma: float = 2.0) -> dict[str, np.ndarray]:
    """The four panels of Fig. 7.1: clean, single, sequentially mixed, spatially heterogeneous."""
    single = apply_distortion("gaussian_noise", image, noise_variance, rng)
    mixed = apply_distortion("gaussian_noise", apply_distortion("gaussian_blur", image, blur_sigma, rng),
                             noise_variance, rng)
    h, w = image.shape[:2]
    regions = [{"ymin": 0, "xmin": 0, "ymax": h, "xmax": w // 2, "type": "gaussian_blur", "strength": blur_sigma},
               {"ymin": 0, "xmin": w // 2, "ymax": h, "xmax": w, "type": "gaussian_noise",
                "strength": noise_variance}]
    spatial, _ = distort_regions(image, regions, rng, names=SHDD_TYPES)
    return {"(a) clean": image, "(b) single: Gaussian noise": single,
            "(c) mixed: blur, then noise": mixed, "(d) spatially heterogeneous: blur | noise": spatial}


def fig7_1_modality(run, image: np.ndarray, rng: np.random.Generator):
    """Fig. 7.1: clean, single distortion, sequentially mixed, spatially heterogeneous."""

    panels = modality_examples(image, rng)
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.4))
    for ax, (title, img) in zip(axes, panels.items()):
        ax.imshow(np.clip(img, 0, 1))
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    h, w = image.shape[:2]
    axes[3].axvline(w // 2 - 0.5, color="white", lw=1, ls="--")
    run.save_figure(fig, "fig7_1_modality", entry="Figure 7.1",
                    caption="Distortion assumptions: single, sequentially mixed, spatially heterogeneous")
    return fig


def draw_regions(ax, record: dict, *, fontsize: int = 7) -> None:
    """Outline each region of an SHDD record and name its distortion and strength."""

    for r in record["regions"]:
        ax.add_patch(Rectangle((r["xmin"] - 0.5, r["ymin"] - 0.5), r["xmax"] - r["xmin"], r["ymax"] - r["ymin"],
                               fill=False, lw=1.2, ec="white"))
        text = SHORT[r["type"]] + ("" if r["type"] == "identity" else f" {r['strength']:.3g}")
        ax.text(r["xmin"] + 4, r["ymin"] + 4, text, fontsize=fontsize, va="top", color="white",
                bbox={"facecolor": TYPE_COLOURS[r["type"]], "alpha": 0.8, "pad": 1, "lw": 0})


def label_map_rgb(labels: np.ndarray) -> np.ndarray:
    """Colour a label map with :data:`TYPE_COLOURS` (index = SHDD_TYPES position)."""
    return colour_label_map(labels, [TYPE_COLOURS[t] for t in SHDD_TYPES])


def type_legend(ax, labels=None, **kwargs):
    """The legend of :func:`label_map_rgb`'s colours (only the types present in ``labels`` when given)."""
    return label_legend(ax, [SHORT[t] for t in SHDD_TYPES], [TYPE_COLOURS[t] for t in SHDD_TYPES],
                        present=labels, **kwargs)


def level_examples(image: np.ndarray, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray, dict]]:
    """One SHDD sample per level, each from its own seeded generator."""
    return {level: divide_and_distort(image, level, np.random.default_rng([seed, i]))
            for i, level in enumerate(LEVELS)}


def fig7_3_levels(run, image: np.ndarray, seed: int):
    """Fig. 7.3: one image at each SHDD level, with its regions named (top) and its label map (bottom)."""

    samples = level_examples(image, seed)
    fig, axes = plt.subplots(2, 3, figsize=(15, 10.5))
    for col, (level, (distorted, labels, record)) in enumerate(samples.items()):
        axes[0, col].imshow(np.clip(distorted, 0, 1))
        draw_regions(axes[0, col], record)
        axes[0, col].set_title(f"({'abc'[col]}) {level}: {LEVELS[level]} lines, {len(record['regions'])} regions")
        axes[1, col].imshow(label_map_rgb(labels))
        for ax in axes[:, col]:
            ax.set_axis_off()
    fig.legend(handles=[Patch(color=TYPE_COLOURS[t], label=SHORT[t]) for t in SHDD_TYPES], loc="lower center",
               ncol=5, frameon=False)
    run.save_figure(fig, "fig7_3_levels", entry="Figure 7.3",
                    caption="SHDD easy / moderate / difficult: regions, distortions and label maps")
    return fig


def _hwc(image) -> np.ndarray:
    """A 3×H×W tensor (any device) or an H×W×3 array as an H×W×3 array in [0, 1]."""
    if hasattr(image, "permute"):
        image = image.detach().cpu().permute(1, 2, 0).numpy()
    return np.clip(np.asarray(image), 0, 1)


def fig_training_sample(run, sample: dict, *, level: str | None = None, name: str = "shdd_training_sample"):
    """One training crop of :class:`companion.ch7.datasets.SHDDTrain`: distorted, clean and its label map.

    ``sample``: the dataset's dict (``distorted`` and ``clean`` 3×H×W tensors, ``label`` H×W); the label map
    gets a legend of the distortion types present in the crop.
    """

    labels = np.asarray(sample["label"].detach().cpu() if hasattr(sample["label"], "detach") else sample["label"])
    fig, axes = plt.subplots(1, 3, figsize=(9.8, 3))
    axes[0].imshow(_hwc(sample["distorted"]))
    axes[0].set_title("distorted")
    axes[1].imshow(_hwc(sample["clean"]))
    axes[1].set_title("clean")
    axes[2].imshow(label_map_rgb(labels))
    axes[2].set_title("label map")
    type_legend(axes[2], labels, title="distortion")
    for ax in axes:
        ax.set_axis_off()
    where = f"SHDD {level}" if level else "SHDD"
    run.save_figure(fig, name, caption=f"One {where} training crop (SHDDTrain): distorted, clean, label map")
    return fig


def region_statistics(height: int, width: int, n: int, seed: int) -> dict[str, dict]:
    """Measured over ``n`` plans per level: region counts and the share of pixels each type covers."""
    stats = {}
    for i, level in enumerate(LEVELS):
        rng = np.random.default_rng([seed, 100 + i])
        counts, area = [], dict.fromkeys(SHDD_TYPES, 0)
        for _ in range(n):
            _, regions = plan_regions(height, width, level, rng)
            counts.append(len(regions))
            for r in regions:
                area[r["type"]] += (r["ymax"] - r["ymin"]) * (r["xmax"] - r["xmin"])
        total = sum(area.values())
        stats[level] = {"regions": {int(k): int(v) for k, v in zip(*np.unique(counts, return_counts=True))},
                        "mean_regions": float(np.mean(counts)),
                        "pixel_share": {t: round(a / total, 4) for t, a in area.items()}}
    return stats


def fig_region_counts(run, stats: dict[str, dict]):
    """Bar chart of how many regions each level yields (the measured version of 'chopping {2, 3, 4} times')."""

    fig, axes = plt.subplots(1, len(stats), figsize=(12, 3.2), sharey=True)
    for ax, (level, s) in zip(axes, stats.items()):
        total = sum(s["regions"].values())
        ax.bar([str(k) for k in s["regions"]], [v / total for v in s["regions"].values()], color="#4c72b0")
        ax.set_title(f"{level} ({LEVELS[level]} lines): mean {s['mean_regions']:.2f} regions")
        ax.set_xlabel("regions per image")
    axes[0].set_ylabel("share of images")
    run.save_figure(fig, "shdd_region_counts",
                    caption="Regions per image at each SHDD level, measured over sampled plans")
    return fig
