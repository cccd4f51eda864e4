"""The one-minute tour of ``notebooks/00_quickstart.ipynb``: distort part of an image, restore it, measure PSNR.

It previews the companion's pieces: an embedded picture (no download), two of SHDD's distortions (§7.3)
applied to boxes of the image, a classical restorer (non-local means from scikit-image), the model zoo's small
MEPSNet (Chapter 7) on the same image, and PSNR with the protocol stated. The classical restorer treats the
whole image the same way; how it helps the noisy box and hurts the clean part is the motivation for the
region-aware models of Chapter 7. :mod:`companion.tour.upload` restores an uploaded picture with the same model.
"""
from __future__ import annotations

import re

import numpy as np
from skimage.restoration import denoise_nl_means

from companion.data.distortions import apply_distortion
from companion.data.images import centre_square, embedded_image
from companion.metrics import psnr


def distort_two_boxes(clean: np.ndarray, noise_variance: float, blur_sigma: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, dict[str, tuple[slice, slice]]]:
    """Gaussian noise in the left third, Gaussian blur in the right third; the middle stays clean."""
    h, w = clean.shape[:2]
    boxes = {"noise": (slice(0, h), slice(0, w // 3)), "clean": (slice(0, h), slice(w // 3, 2 * w // 3)),
             "blur": (slice(0, h), slice(2 * w // 3, w))}
    distorted = clean.astype(np.float32).copy()
    distorted[boxes["noise"]] = apply_distortion("gaussian_noise", clean[boxes["noise"]], noise_variance, rng)
    distorted[boxes["blur"]] = apply_distortion("gaussian_blur", clean[boxes["blur"]], blur_sigma, rng)
    return distorted, boxes


def restore_nl_means(image: np.ndarray, h: float) -> np.ndarray:
    """Non-local means over the whole image (scikit-image; patch 7, distance 11 as in §6.2.1)."""
    return denoise_nl_means(image, h=h, patch_size=7, patch_distance=11, channel_axis=-1,
                            fast_mode=True).astype(np.float32)


def psnr_table(clean: np.ndarray, images: dict[str, np.ndarray],
               boxes: dict[str, tuple[slice, slice]]) -> dict[str, dict[str, float]]:
    """PSNR (RGB, no border crop) of each image, over the whole frame and inside each box."""
    table = {}
    for name, image in images.items():
        row = {"whole": psnr(image, clean)}
        row.update({box: psnr(image[sl], clean[sl]) for box, sl in boxes.items()})
        table[name] = row
    return table


def psnr_key(name: str, box: str) -> str:
    """The measurement key of one :func:`psnr_table` cell: ``psnr_restored_whole``, ``psnr_mepsnet_zoo_noise``."""
    return "psnr_" + re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_") + f"_{box}"


def restore_with_zoo(image: np.ndarray, model: str = "mepsnet", *, device="cpu") -> tuple[np.ndarray, str]:
    """Restore an ``H×W×3`` float image in [0, 1] with the model zoo's ``model`` (Table 7.1's seed-0 run,
    :func:`companion.ch7.zoo.restore_entry`, a quick-size model trained on SHDD from the embedded photographs);
    returns ``(restored H×W×3 float32 array, description)``, e.g. ``zoo ch7/07b/mepsnet-seed0 (9000 steps,
    val 28.4 dB)``.

    Inference is exact float32 through :func:`companion.engine.inference.restore`, tiled above 512 px
    (:func:`companion.tour.upload.tiles_for`). A missing or stale zoo entry is a one-line
    :class:`~companion.errors.CompanionError` that names the fix, ``python -m companion zoo build <entry>``.
    """
    import torch

    from companion.ch7.commands import zoo_model
    from companion.engine.inference import restore
    from companion.tour.upload import OVERLAP, tiles_for

    net, description = zoo_model(model)
    image = np.ascontiguousarray(image, dtype=np.float32)
    tensor = torch.from_numpy(image).permute(2, 0, 1)
    restored = restore(net, tensor, tiles=tiles_for(*image.shape[:2]), overlap=OVERLAP, device=device)
    return restored.permute(1, 2, 0).numpy(), description


def _db(value: float) -> str:
    return "identical" if value == float("inf") else f"{value:.2f} dB"


def quickstart_figure(run, clean, distorted, restored, table):
    """Clean / distorted / restored side by side with their PSNR; saved through ``run`` with provenance.

    Returns the matplotlib figure (left open so a notebook displays it).
    """
    import matplotlib.pyplot as plt

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
                           caption="Embedded image with Gaussian noise (left) and blur (right), restored by "
                                   "non-local means; PSNR in RGB over the whole frame and per box.")
    return fig


__all__ = ["centre_square", "distort_two_boxes", "restore_nl_means", "psnr_table", "psnr_key", "restore_with_zoo",
           "quickstart_figure", "embedded_image", "shdd_preview"]


def shdd_preview(run, clean: np.ndarray, rng: np.random.Generator, level: str = "easy"):
    """One SHDD sample of ``clean`` with its regions named and its label map with a legend of the distortion
    types present (Chapter 7's dataset; see notebook 07a)."""
    import matplotlib.pyplot as plt

    from companion.ch7.shdd import divide_and_distort
    from companion.ch7.shdd_figures import draw_regions, label_map_rgb, type_legend

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
