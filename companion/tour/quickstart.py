"""The one-minute tour of ``notebooks/00_quickstart.ipynb``: distort part of an image, restore it, measure PSNR.

It previews the companion's pieces: an embedded picture (no download), two of SHDD's distortions (§7.3)
applied to boxes of the image, a classical restorer (non-local means from scikit-image), the model zoo's small
MEPSNet (Chapter 7) on the same image, and PSNR with the protocol stated. The classical restorer treats the
whole image the same way; how it helps the noisy box and hurts the clean part is the motivation for the
region-aware models of Chapter 7. :mod:`companion.tour.upload` restores an uploaded picture with the same model;
:mod:`companion.tour.figures` draws the tour's figures.
"""
from __future__ import annotations

import re

import numpy as np
import torch
from skimage.restoration import denoise_nl_means

from companion.ch7.commands import zoo_model
from companion.data.distortions import apply_distortion
from companion.engine.inference import restore
from companion.metrics import psnr
from companion.tour.upload import OVERLAP, tiles_for


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
    net, description = zoo_model(model)
    image = np.ascontiguousarray(image, dtype=np.float32)
    tensor = torch.from_numpy(image).permute(2, 0, 1)
    restored = restore(net, tensor, tiles=tiles_for(*image.shape[:2]), overlap=OVERLAP, device=device)
    return restored.permute(1, 2, 0).numpy(), description
