"""Image-quality metrics with the protocol spelled out.

The thesis reports PSNR/SSIM on the luminance (Y) channel for super-resolution and JPEG (border cropped by the
scale factor, as in the authors' code), and on RGB for the other restoration tasks (Ch.4 §4.4, Ch.7 §7.5).
Every function here takes the protocol as arguments, so a results file can record it next to the number.
Thin wrappers over scikit-image's metrics.

:func:`psnr_by_label` / :func:`ssim_by_label` break the scores down by the region labels of a label map (the
caller names the labels, e.g. SHDD's types, §7.3). Per-region metrics are *not* defined in the thesis or the
MEPSNet paper (Table 7.1 reports whole-image averages only); they are the companion's reading, spelled out in
each docstring. :func:`protocol_text` writes a protocol dict as the one line the ledger shows.

Super-resolution (thesis Ch.2-5) has its own protocol, :func:`sr_scores` (:func:`sr_psnr`, :func:`sr_ssim`):
the Y channel of ITU-R BT.601 as MATLAB's ``rgb2ycbcr`` computes it for a double image
(Y = 16 + 65.481 R + 128.553 G + 24.966 B, R, G, B in [0, 1]; Y kept in float, not re-quantized), a border
of ``scale`` pixels cropped on each side (the authors' code: ``bnd = scale``), on outputs clipped and rounded
to 8 bits (the authors evaluate saved PNGs); RGB, another border and unrounded outputs are options, and the
returned ``protocol`` dict records which. SSIM is scikit-image's with Wang et al.'s settings (Gaussian window,
sigma 1.5, 11×11, K1 = 0.01, K2 = 0.03, mean over the valid region), as in the MATLAB ``ssim_index`` that SR
evaluation scripts call. :func:`downscale_method_shift` measures what making LR images with PIL's or
torch's bicubic instead of MATLAB's would change.
"""
from __future__ import annotations

import numpy as np
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from companion.data.images import EMBEDDED_IMAGES, embedded_image
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
    if "rounding" in protocol:
        parts.append("outputs rounded to 8 bits" if protocol["rounding"] == "8-bit" else "unrounded float outputs")
    return ", ".join(parts)


# --------------------------------------------------------------------------------------------------------
# Super-resolution protocol (thesis Ch.2-5): Y of BT.601, border = scale, 8-bit outputs.


def sr_protocol(scale: int, *, channel: str = "y", border: int | None = None, round8: bool = True) -> dict:
    """The protocol dict of an SR score: ``scale``, ``channel`` ('y' or 'rgb'), ``border`` (default: the
    scale) and ``rounding`` ('8-bit' or 'none'); :func:`protocol_text` writes it as one line, e.g.
    ``"Y (BT.601), 4 px border crop, ×4, whole image, outputs rounded to 8 bits"``."""
    from companion.data.sr import check_scale  # reason: heavy; data.sr loads PyTorch, the image scores do not

    scale = check_scale(scale)
    if channel not in ("rgb", "y"):
        raise CompanionError(f"unknown channel {channel!r}; use 'rgb' or 'y'")
    border = scale if border is None else border
    if isinstance(border, bool) or not isinstance(border, (int, np.integer)) or border < 0:
        raise CompanionError(f"border must be a whole number of pixels >= 0, got {border!r}")
    return {"scale": scale, "channel": channel, "border": int(border), "rounding": "8-bit" if round8 else "none"}


def _round8(image: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and round to the 8-bit grid as a saved PNG would (MATLAB's uint8: half away from 0)."""
    return np.floor(np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0) * 255.0 + 0.5) / 255.0


def sr_scores(pred: np.ndarray, target: np.ndarray, scale: int, *, channel: str = "y", border: int | None = None,
              round8: bool = True, with_ssim: bool = True) -> dict:
    """PSNR (dB) and SSIM of a super-resolved image under the SR protocol, with the protocol that gave them.

    ``pred`` and ``target``: H×W×3 float in [0, 1] (or uint8), the HR image cropped to a multiple of the
    scale as the LR image was made from (:func:`companion.data.sr.modcrop`). Defaults are the SR
    literature's: ``channel='y'`` (BT.601 luma, MATLAB's ``rgb2ycbcr`` on a double image), ``border=scale``
    pixels cropped on each side, ``round8=True``: both images clipped to [0, 1] and rounded to 8 bits before
    scoring, as when scoring saved PNGs (the HR image is 8-bit already). Returns ``{"psnr", "ssim",
    "protocol"}`` (``ssim`` only with ``with_ssim``); ``protocol`` is :func:`sr_protocol`'s dict.
    """
    protocol = sr_protocol(scale, channel=channel, border=border, round8=round8)
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.dtype == np.uint8:
        pred = pred / 255.0
    if target.dtype == np.uint8:
        target = target / 255.0
    if pred.shape != target.shape:
        raise CompanionError(f"SR output and HR image differ in shape: {pred.shape} vs {target.shape}; crop the HR "
                             "image to a multiple of the scale (modcrop) and upscale the LR image by the same scale")
    b = protocol["border"]
    if pred.ndim < 2 or min(pred.shape[:2]) <= 2 * b:
        raise CompanionError(f"image of {pred.shape[1]}×{pred.shape[0]} px has nothing left after a {b} px border "
                             "crop; use a larger image or a smaller border")
    if round8:
        pred, target = _round8(pred), _round8(target)
    out = {"psnr": psnr(pred, target, channel=channel, border=b)}
    if with_ssim:
        out["ssim"] = ssim(pred, target, channel=channel, border=b)
    out["protocol"] = protocol
    return out


def sr_psnr(pred: np.ndarray, target: np.ndarray, scale: int, **protocol) -> float:
    """PSNR in dB under the SR protocol (:func:`sr_scores`: Y, border = scale, 8-bit outputs by default)."""
    return sr_scores(pred, target, scale, with_ssim=False, **protocol)["psnr"]


def sr_ssim(pred: np.ndarray, target: np.ndarray, scale: int, **protocol) -> float:
    """SSIM under the SR protocol (:func:`sr_scores`: Y, border = scale, 8-bit outputs by default)."""
    return sr_scores(pred, target, scale, **protocol)["ssim"]


#: LR pixels along each edge where PIL's and torch's antialiased bicubic differ from MATLAB's by construction:
#: the widened kernel reaches 2·scale HR pixels, i.e. 2 LR pixels, past the output pixel's centre.
BORDER_BAND_LR = 2


def downscale_method_shift(images: dict | None = None, scale: int = 4, *, other: str = "pil") -> dict:
    """What making LR images with ``other`` ('pil', 'torch', 'torch_no_antialias') instead of MATLAB's
    bicubic changes, measured on ``images`` (``{name: H×W×3 array}``; default: the embedded photographs).

    For each image (HR cropped to a multiple of ``scale``): ``lr_psnr``, the RGB PSNR of the ``other`` LR
    image against MATLAB's (both 8-bit); ``lr_max_levels`` / ``lr_interior_max_levels``, the largest
    difference in 8-bit levels over the whole LR image and away from a :data:`BORDER_BAND_LR` px band along
    the edges; ``bicubic_matlab`` / ``bicubic_other``, the SR-protocol Y PSNR (:func:`sr_psnr`) of the
    Bicubic baseline (MATLAB bicubic upscaling, :func:`companion.data.sr.bicubic_upscale`) from each LR image;
    ``shift_db`` = other − matlab. The result also holds the means, ``protocol`` and ``text``: one line for
    the ledger. The Bicubic baseline stands in for a model: a trained network's shift is not measured here.
    """
    from companion.data import sr  # reason: heavy; data.sr loads PyTorch, the image scores do not

    scale = sr.check_scale(scale)
    if other not in sr.METHODS or other == "matlab":
        raise CompanionError(f"other must be one of: {', '.join(m for m in sr.METHODS if m != 'matlab')}; "
                             f"got {other!r}")
    if images is None:
        images = {name: embedded_image(name) for name in EMBEDDED_IMAGES}
    if not images:
        raise CompanionError("no images given to measure the shift on")
    per_image = {}
    band = BORDER_BAND_LR
    for name, image in images.items():
        lr_m, hr = sr.lr_hr_pair(image, scale)
        lr_o = sr.bicubic_downscale(hr, scale, method=other)
        diff = np.rint(np.abs(lr_o.astype(np.float64) - lr_m) * 255.0)
        base_m = sr_psnr(sr.bicubic_upscale(lr_m, scale), hr, scale)
        base_o = sr_psnr(sr.bicubic_upscale(lr_o, scale), hr, scale)
        per_image[name] = {"lr_psnr": psnr(lr_o, lr_m), "lr_max_levels": int(diff.max()),
                           "lr_interior_max_levels": int(diff[band:-band, band:-band].max()),
                           "bicubic_matlab": base_m, "bicubic_other": base_o, "shift_db": base_o - base_m}
    shifts = np.array([v["shift_db"] for v in per_image.values()])
    lr_psnrs = np.array([v["lr_psnr"] for v in per_image.values()])
    finite = lr_psnrs[np.isfinite(lr_psnrs)]
    out = {"per_image": per_image, "scale": scale, "other": other,
           "mean_shift_db": float(shifts.mean()), "min_shift_db": float(shifts.min()),
           "max_shift_db": float(shifts.max()),
           "mean_lr_psnr": float(finite.mean()) if finite.size else float("inf"),
           "interior_max_levels": max(v["lr_interior_max_levels"] for v in per_image.values()),
           "protocol": {**sr_protocol(scale), "images": len(per_image)}}
    n = out["interior_max_levels"]
    levels = f"{n} 8-bit level" + ("" if n == 1 else "s")
    out["text"] = (f"LR by {other} bicubic instead of MATLAB's (×{scale}, {len(per_image)} images): LR images "
                   f"differ by "
                   f"{out['mean_lr_psnr']:.1f} dB PSNR on average (by at most {levels} beyond {band} px of the "
                   f"edges); the Bicubic baseline's Y PSNR shifts by "
                   f"{out['mean_shift_db']:+.3f} dB on average ({out['min_shift_db']:+.3f} to "
                   f"{out['max_shift_db']:+.3f}); {protocol_text(out['protocol'])}")
    return out
