"""``02c_pcarn``'s measurements of the outputs (thesis §2.4.2, Tables 2.2, 2.5, 2.7, Fig. 2.5): every model's
output on the same images, PSNR / SSIM under the SR protocol, LPIPS where its weights are on the machine, the
radially averaged PSD against the HR image's, and Fig. 2.5's crop rule.

* :func:`super_resolve_all`: bicubic and every model's ×scale output on the same test images;
* :func:`score_outputs`: PSNR / SSIM (:func:`companion.metrics.sr_scores`) and LPIPS (:func:`lpips_metric`,
  :func:`lpips_score`) per method and image;
* :func:`psd_comparison`: each output's high-band power against HR's (:func:`companion.analysis.psd.radial_psd`,
  over :data:`HIGH_BAND`);
* :func:`textured_crop`: Fig. 2.5's crop window, chosen on the HR image alone.

Used by :mod:`companion.ch2.pcarn` (02c) and :mod:`companion.ch2.qualitative` (02a's Fig. 2.10, 02c's crops).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from skimage.filters import laplace

from companion.analysis.psd import radial_psd
from companion.ch2.evaluation import super_resolve
from companion.data.sr import bicubic_upscale
from companion.metrics import rgb_to_y, sr_scores


#: Frequencies (cycles/pixel) whose power the PSD summary compares: the upper half of the band, where
#: L1 blur removes power and adversarial training is meant to put texture back. Fixed before any run.
HIGH_BAND = (0.25, 0.5)


def super_resolve_all(models: dict, pairs, scale: int, *, device="cpu") -> dict:
    """``{"bicubic": {image: SR}, label: {image: SR}, …, "HR": {image: HR}}``: MATLAB-bicubic upscaling and
    every model's ×``scale`` output (:func:`companion.ch2.evaluation.super_resolve`, float32 in [0, 1], clipped)
    on the same test images."""

    out = {"bicubic": {n: np.clip(bicubic_upscale(lr, scale), 0, 1).astype(np.float32) for n, lr, _ in pairs}}
    for label, model in models.items():
        model.eval()
        out[label] = {n: np.clip(super_resolve(model, lr, scale, device=device), 0, 1) for n, lr, _ in pairs}
    out["HR"] = {n: np.asarray(hr, dtype=np.float32) for n, _, hr in pairs}
    return out


def lpips_metric(*, device="cpu", enabled: bool = True):
    """``(metric, reason)``: torchmetrics' LPIPS with the AlexNet backbone (the thesis' LPIPS, §2.4.2) when it
    can be built without a download, else ``(None, why not)``. It needs the ``torchmetrics`` package (which
    ships LPIPS's linear layers) and torchvision's ImageNet AlexNet weights already in the torch hub cache
    (``<torch hub dir>/checkpoints/alexnet-owt-7be5be79.pth``); nothing is ever fetched. The metric takes
    B×3×H×W images in [0, 1] (``normalize=True``)."""
    if not enabled:
        return None, "LPIPS is off in this profile"
    try:
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity  # reason: heavy; only where its weights are on disk
    except ImportError:
        return None, ("LPIPS skipped: the torchmetrics package is not installed (pip install torchmetrics; it "
                      "also needs torchvision's AlexNet weights in the torch hub cache)")


    weights = Path(torch.hub.get_dir()) / "checkpoints" / "alexnet-owt-7be5be79.pth"
    if not weights.is_file():
        return None, (f"LPIPS skipped: its AlexNet backbone weights are not on this machine ({weights}); the "
                      "companion never downloads them: put torchvision's alexnet-owt-7be5be79.pth there")
    try:
        metric = LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True).to(device).eval()
    except Exception as exc:  # noqa: BLE001 - a broken install or file is one line, not a traceback
        return None, f"LPIPS skipped: torchmetrics could not build it ({type(exc).__name__}: {exc})"[:300]
    return metric, ""


def lpips_score(metric, sr, hr, *, device="cpu") -> float:
    """LPIPS (AlexNet; lower is closer) between two H×W×3 images in [0, 1]."""
    def t(a):
        return torch.from_numpy(np.ascontiguousarray(np.asarray(a, np.float32).transpose(2, 0, 1)))[None].to(device)

    with torch.no_grad():
        return float(metric(t(np.clip(sr, 0, 1)), t(hr)))


def score_outputs(outputs: dict, scale: int, *, lpips=None, device="cpu") -> dict:
    """Per method of ``outputs`` (:func:`super_resolve_all`, all but "HR"): ``per_image`` {image: psnr, ssim,
    lpips} and the means ``psnr``, ``ssim``, ``lpips`` (None without a metric), ``protocol``. PSNR / SSIM by
    :func:`companion.metrics.sr_scores` (Y of BT.601, a ``scale``-px border, 8-bit outputs); LPIPS on the whole
    RGB images (the protocol of the LPIPS authors; the thesis does not say)."""
    hr = outputs["HR"]
    out = {}
    for method, images in outputs.items():
        if method == "HR":
            continue
        per_image, protocol = {}, None
        for name, sr in images.items():
            s = sr_scores(sr, hr[name], scale)
            protocol = s["protocol"]
            per_image[name] = {"psnr": s["psnr"], "ssim": s["ssim"],
                               "lpips": None if lpips is None else lpips_score(lpips, sr, hr[name], device=device)}
        out[method] = {"per_image": per_image, "protocol": protocol,
                       **{k: (None if per_image[next(iter(per_image))][k] is None
                              else float(np.mean([v[k] for v in per_image.values()])))
                          for k in ("psnr", "ssim", "lpips")}}
    return out


def psd_comparison(outputs: dict, band: tuple[float, float] = HIGH_BAND) -> dict:
    """Each output's radially averaged PSD against the HR image's (:func:`companion.analysis.psd.radial_psd`,
    on BT.601 luma, no window; each SR output has its HR image's size, so their rings coincide).
    Returns ``{"curves": {image: {method: (freqs, power)}}, "high_band": {method: {image: r}},
    "high_band_median": {method: {image: m}}, "mean_high_band": {method: mean r},
    "mean_high_band_median": {method: mean m}, "band"}`` with ``r = log10(mean power of the method in band /
    mean power of HR in band)`` (0 = the HR image's high-frequency power, negative = less, i.e. blur, positive =
    more) and ``m`` = the median over the band's rings of ``log10(power / HR power)``. The two differ when a few
    rings carry spikes (periodic artefacts such as a ×4 sub-pixel upsampler's checkerboard, at multiples of 1/8
    cycles/pixel): the mean counts them as detail, the median follows the broadband level."""
    curves, ratio, median = {}, {}, {}
    for name, hr in outputs["HR"].items():
        freqs, p_hr = radial_psd(hr)
        inside = (freqs >= band[0]) & (freqs <= band[1])
        curves[name] = {"HR": (freqs, p_hr)}
        for method, images in outputs.items():
            if method == "HR":
                continue
            f, p = radial_psd(images[name])
            curves[name][method] = (f, p)
            ratio.setdefault(method, {})[name] = float(np.log10(p[inside].mean() / p_hr[inside].mean()))
            median.setdefault(method, {})[name] = float(np.median(np.log10(p[inside] / p_hr[inside])))
    return {"curves": curves, "high_band": ratio, "high_band_median": median, "band": tuple(band),
            "mean_high_band": {m: float(np.mean(list(r.values()))) for m, r in ratio.items()},
            "mean_high_band_median": {m: float(np.mean(list(r.values()))) for m, r in median.items()}}


def textured_crop(hr, side: int) -> tuple[int, int, int]:
    """``(top, left, side)`` of the ``side``-px square of ``hr`` with the most detail: the largest sum of
    |Laplacian| of its luma (:func:`skimage.filters.laplace`), searched on a grid of ``side // 4`` px. Chosen on
    the HR image alone, so the crop does not favour any method."""
    y = rgb_to_y(np.asarray(hr, dtype=np.float64))
    h, w = y.shape
    side = int(min(side, h, w))
    energy = np.abs(laplace(y))
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(1, side // 4)
    best, where = -1.0, (0, 0)
    for top in range(0, h - side + 1, step):
        for left in range(0, w - side + 1, step):
            total = (integral[top + side, left + side] - integral[top, left + side] - integral[top + side, left]
                     + integral[top, left])
            if total > best:
                best, where = total, (top, left)
    return where[0], where[1], side


__all__ = ["HIGH_BAND", "super_resolve_all", "lpips_metric", "lpips_score", "score_outputs", "psd_comparison",
           "textured_crop"]
