"""Figures of ``00_quickstart``: the distorted and restored image side by side with their PSNR
(:func:`quickstart_figure`), and a preview of Chapter 7's SHDD on the same crop (:func:`shdd_preview`). One
function per figure, each saved with ``run.save_figure``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from companion.ch7.shdd import divide_and_distort
from companion.ch7.shdd_figures import draw_regions, label_map_rgb, type_legend


def _db(value: float) -> str:
    return "identical" if value == float("inf") else f"{value:.2f} dB"


def quickstart_figure(run, clean, distorted, restored, table):
    """Clean / distorted / restored side by side with their PSNR; saved through ``run`` with provenance.

    Returns the matplotlib figure (left open so a notebook displays it).
    """
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.8))
    panels = [("clean", clean, None), ("distorted", distorted, table["distorted"]),
              ("restored (NL-means)", restored, table["restored"])]
    for ax, (title, image, row) in zip(axes, panels):
        ax.imshow(np.clip(image, 0, 1))
        ax.set_axis_off()
        if row:
            title += f"\nPSNR {_db(row['whole'])} over the frame\n" \
                     f"noise {_db(row['noise'])} · clean {_db(row['clean'])} · blur {_db(row['blur'])}"
        ax.set_title(title, fontsize=9)
    fig.suptitle("Noise (left third) and blur (right third): one global restorer cannot suit both", fontsize=10)
    run.save_figure(fig, "quickstart_restoration",
                    caption="Embedded image with Gaussian noise (left) and blur (right), restored by non-local "
                            "means; PSNR in RGB over the whole frame and per box.")
    return fig


def shdd_preview(run, clean: np.ndarray, rng: np.random.Generator, level: str = "easy"):
    """One SHDD sample of ``clean`` with its regions named and its label map with a legend of the distortion
    types present (Chapter 7's dataset; see notebook 07a)."""
    distorted, labels, record = divide_and_distort(clean, level, rng)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.3))
    axes[0].imshow(np.clip(distorted, 0, 1))
    draw_regions(axes[0], record)
    axes[0].set_title(f"SHDD {level}: {len(record['regions'])} regions")
    axes[1].imshow(label_map_rgb(labels))
    axes[1].set_title("label map")
    type_legend(axes[1], labels, title="distortion")
    for ax in axes:
        ax.set_axis_off()
    run.save_figure(fig, "quickstart_shdd_preview", caption=f"One SHDD {level} sample of the quickstart crop")
    return fig
