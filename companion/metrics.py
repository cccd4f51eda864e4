"""Image-quality metrics with the protocol spelled out.

The thesis reports PSNR/SSIM on the luminance (Y) channel for super-resolution and JPEG (border cropped by the
scale factor, as in the authors' code), and on RGB for the other restoration tasks (Ch.4 §4.4, Ch.7 §7.5).
Every function here takes the protocol as arguments, so a results file can record it next to the number.
Thin wrappers over scikit-image's metrics.

:func:`psnr_by_label` / :func:`ssim_by_label` break the scores down by the region labels of a label map (the
caller names the labels, e.g. SHDD's types, §7.3). Per-region metrics are *not* defined in the thesis or the
MEPSNet paper (Table 7.1 reports whole-image averages only); they are the companion's reading, spelled out in
each docstring. :func:`protocol_text` writes a protocol dict as the one line the ledger shows.
"""
from __future__ import annotations

import numpy as np
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from companion.errors import CompanionError

#: SSIM Gaussian window of :func:`ssim` (Wang et al. 2004): sigma 1.5, truncated at 3.5 sigma as in scikit-image.
_SSIM_SIGMA, _SSIM_TRUNCATE = 1.5, 3.5


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


# --------------------------------------------------------------------------------------------------------
# Per-label (per-distortion-type) breakdown -- the companion's reading, not a thesis definition.


def _prepare_labels(labels, shape: tuple[int, ...], border: int, names) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != tuple(shape[:2]):
        raise CompanionError(f"label map of shape {labels.shape} does not match the image's {tuple(shape[:2])}; "
                             "pass the H×W label map of this image")
    if not np.issubdtype(labels.dtype, np.integer):
        raise CompanionError(f"label map must hold integer label ids, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
        raise CompanionError(f"label ids {int(labels.min())}..{int(labels.max())} fall outside the {len(names)} "
                             f"names given ({', '.join(names)})")
    if border:
        labels = labels[border:-border, border:-border]
    return labels


def _label_means(values: np.ndarray, labels: np.ndarray, names) -> dict[str, float]:
    """Mean of ``values`` (H×W or H×W×C) over the pixels of each label present in ``labels`` (H×W)."""
    return {names[label]: float(values[labels == label].mean(dtype=np.float64)) for label in np.unique(labels)}


def _db(mse: float) -> float:
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def restoration_scores(pred: np.ndarray, target: np.ndarray, labels: np.ndarray, *, names,
                       channel: str = "rgb", border: int = 0, with_ssim: bool = True) -> dict:
    """Whole-image and per-label PSNR (and SSIM) from one squared-error array and one SSIM map.

    Returns ``psnr``, ``psnr_by_type`` and, with ``with_ssim``, ``ssim`` and ``ssim_by_type``: the numbers of
    :func:`psnr`, :func:`ssim`, :func:`psnr_by_label` and :func:`ssim_by_label` (see those for the readings),
    computed once. The SHDD evaluation scores every image this way.
    """
    names = tuple(names)
    labels = _prepare_labels(labels, np.shape(pred), border, names)
    pred, target = _prepare(pred, target, channel, border)
    sq = (pred - target) ** 2
    out = {"psnr": float("inf") if np.array_equal(pred, target) else _db(float(sq.mean(dtype=np.float64))),
           "psnr_by_type": {name: _db(mse) for name, mse in _label_means(sq, labels, names).items()}}
    if with_ssim:
        _, smap = structural_similarity(target, pred, data_range=1.0, gaussian_weights=True, sigma=_SSIM_SIGMA,
                                        truncate=_SSIM_TRUNCATE, use_sample_covariance=False, full=True,
                                        channel_axis=-1 if pred.ndim == 3 else None)
        pad = int(_SSIM_TRUNCATE * _SSIM_SIGMA + 0.5)  # scikit-image's (win_size - 1) // 2
        smap, labels = smap[pad:-pad, pad:-pad], labels[pad:-pad, pad:-pad]
        out["ssim"] = float(smap.mean(dtype=np.float64))  # scikit-image's own mean leaves out the same strip
        out["ssim_by_type"] = _label_means(smap, labels, names)
    return out


def psnr_by_label(pred: np.ndarray, target: np.ndarray, labels: np.ndarray, *, names, channel: str = "rgb",
                  border: int = 0) -> dict[str, float]:
    """PSNR in dB of each labelled region: ``{names[id]: 10·log10(1 / MSE over that label's pixels)}``.

    ``labels`` is the H×W integer label map, an index into ``names`` (for SHDD, ``SHDD_TYPES``); the
    same ``channel`` conversion and ``border`` crop as :func:`psnr` apply, the MSE runs over every channel
    of the label's pixels, and labels with no pixel left (absent, or only in the cropped frame) are omitted.
    A region restored exactly gives ``inf``. Companion's reading: the thesis reports whole-image PSNR only.
    """
    return restoration_scores(pred, target, labels, names=names, channel=channel, border=border,
                              with_ssim=False)["psnr_by_type"]


def ssim_by_label(pred: np.ndarray, target: np.ndarray, labels: np.ndarray, *, names, channel: str = "rgb",
                  border: int = 0) -> dict[str, float]:
    """SSIM of each labelled region: the mean of scikit-image's full SSIM map over that label's pixels.

    The map is computed once on the whole (``channel``-converted, ``border``-cropped) image with the settings
    of :func:`ssim` -- so windows near a region edge see the neighbouring region too -- and averaged over
    every channel of the label's pixels. Like scikit-image's own mean (and so :func:`ssim`), it leaves out
    the filter-radius strip (5 px) around the image edge; with one label covering the image the result
    equals :func:`ssim`. Labels with no pixel left are omitted. Companion's reading: the thesis reports
    whole-image SSIM only.
    """
    return restoration_scores(pred, target, labels, names=names, channel=channel, border=border)["ssim_by_type"]


def protocol_text(protocol: dict) -> str:
    """One line for the ledger, e.g. ``"RGB, no border crop, 2×4 tiles with 16 px overlap, 50 images"``,
    from a protocol dict (``channel``, ``border``, and optionally ``tiles``, ``overlap``, ``images``,
    ``bf16``, ``scale``)."""
    channel = str(protocol.get("channel", "rgb")).lower()
    parts = ["RGB" if channel == "rgb" else "Y (BT.601)" if channel == "y" else channel]
    border = int(protocol.get("border", 0) or 0)
    parts.append(f"{border} px border crop" if border else "no border crop")
    if protocol.get("scale", 1) != 1:
        parts.append(f"×{protocol['scale']}")
    rows, cols = protocol.get("tiles", (1, 1))
    if (rows, cols) == (1, 1):
        parts.append("whole image")
    else:
        parts.append(f"{rows}×{cols} tiles with {protocol.get('overlap', 0)} px overlap")
    if "images" in protocol:
        n = protocol["images"]
        parts.append(f"{n} image" + ("" if n == 1 else "s"))
    if protocol.get("bf16"):
        parts.append("bf16 autocast")
    return ", ".join(parts)
