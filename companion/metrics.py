"""Image-quality metrics with the protocol spelled out.

The thesis reports PSNR/SSIM on the luminance (Y) channel for super-resolution and JPEG (border cropped by the
scale factor, as in the authors' code), and on RGB for the other restoration tasks (Ch.4 §4.4, Ch.7 §7.5).
Every function here takes the protocol as arguments, so a results file can record it next to the number.
Thin wrappers over scikit-image's metrics.
"""
from __future__ import annotations

import numpy as np
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from companion.errors import CompanionError


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of a float RGB image in [0, 1], returned in [0, 1] (Y in [16, 235] / 255)."""
    return (rgb2ycbcr(image)[..., 0] / 255.0).astype(np.float64)


def _prepare(pred: np.ndarray, target: np.ndarray, channel: str, border: int) -> tuple[np.ndarray, np.ndarray]:
    if pred.shape != target.shape:
        raise CompanionError(f"metric inputs differ in shape: {pred.shape} vs {target.shape}; crop or resize first")
    if channel not in ("rgb", "y"):
        raise CompanionError(f"unknown channel {channel!r}; use 'rgb' or 'y'")
    pred = np.clip(np.asarray(pred, dtype=np.float64), 0.0, 1.0)
    target = np.asarray(target, dtype=np.float64)
    if channel == "y":
        if pred.ndim != 3 or pred.shape[-1] != 3:
            raise CompanionError("channel='y' needs H×W×3 RGB inputs")
        pred, target = rgb_to_y(pred), rgb_to_y(target)
    if border:
        pred, target = pred[border:-border, border:-border], target[border:-border, border:-border]
    return pred, target


def psnr(pred: np.ndarray, target: np.ndarray, *, channel: str = "rgb", border: int = 0) -> float:
    """PSNR in dB of float images in [0, 1]; ``channel`` 'rgb' or 'y'; ``border`` pixels cropped on each side."""
    pred, target = _prepare(pred, target, channel, border)
    if np.array_equal(pred, target):
        return float("inf")
    return float(peak_signal_noise_ratio(target, pred, data_range=1.0))


def ssim(pred: np.ndarray, target: np.ndarray, *, channel: str = "rgb", border: int = 0) -> float:
    """SSIM (Gaussian window, sigma 1.5, as in Wang et al. 2004) of float images in [0, 1]."""
    pred, target = _prepare(pred, target, channel, border)
    return float(structural_similarity(target, pred, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False,
                                       channel_axis=-1 if pred.ndim == 3 else None))
