"""The synthetic distortions of the thesis, one plain function each, plus a registry.

Two datasets in the thesis are built from these, each keeping its presets (types, levels, ranges) with its
generator: Flickr-Distortion (Ch.6 §6.2; :mod:`companion.ch6.flickr_distortion`: eight types at three
levels) and SHDD (Ch.7 §7.3; :mod:`companion.ch7.shdd`: four types and identity, strengths from ranges).

Every distortion has the signature ``fn(image, strength, rng) -> np.ndarray``: ``image`` is a float array in
[0, 1] of shape H×W×3 or H×W (any size, down to a few pixels); the result has the same shape, dtype float32,
is clipped to [0, 1], depends only on (image, strength, rng state), and the input is never modified.
Functions that need no randomness ignore ``rng``.

Where the papers are vague, the docstring of each function states the *companion's reading* of them.
:data:`DISTORTIONS` maps each name to a :class:`DistortionSpec` (parameter name, valid range, one-line
meaning, context margin); :func:`apply_distortion` is the validating entry point.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image
from skimage.filters import gaussian
from skimage.restoration import denoise_nl_means
from skimage.transform import resize
from skimage.util import random_noise

from companion.errors import CompanionError

# --------------------------------------------------------------------------------------------------------
# Small helpers: validation in, float32 clipped out.


def _check(name: str, image, strength) -> np.ndarray:
    """Validate ``image`` and ``strength`` for distortion ``name``; return the image as float64 (no copy
    when it already is float64 -- callers never write into it)."""
    if not isinstance(image, np.ndarray):
        raise CompanionError(f"{name}: image must be a numpy array, got {type(image).__name__}; "
                             "load it as a float array in [0, 1]")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3) or 0 in image.shape:
        raise CompanionError(f"{name}: image must have shape H×W or H×W×3 (non-empty), got {image.shape}; "
                             "convert it to greyscale or RGB first")
    if not np.issubdtype(image.dtype, np.floating):
        raise CompanionError(f"{name}: image must be float in [0, 1], got dtype {image.dtype}; "
                             "use skimage.util.img_as_float(image)")
    if not np.all((image >= 0.0) & (image <= 1.0)):  # also rejects NaN
        raise CompanionError(f"{name}: image values must lie in [0, 1] (no NaN); "
                             "rescale with skimage.util.img_as_float or np.clip")
    spec = DISTORTIONS[name]
    if strength is None and name == "identity":
        return np.asarray(image, dtype=np.float64)
    try:
        value = float(strength)
    except (TypeError, ValueError):
        value = math.nan
    lo, hi = spec.valid
    if isinstance(strength, bool) or not (lo <= value <= hi):
        raise CompanionError(f"{name}: {spec.parameter}={strength!r} is outside the valid range "
                             f"[{lo:g}, {hi:g}]; pass a {spec.parameter} in that range")
    if spec.integer and value != round(value):
        raise CompanionError(f"{name}: {spec.parameter}={strength!r} must be a whole number; "
                             "round it (sample_strength does for whole-number parameters)")
    return np.asarray(image, dtype=np.float64)


def _need_rng(name: str, rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{name} needs rng=np.random.default_rng(seed), got {type(rng).__name__}")
    return rng


def _out(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def _channel_axis(x: np.ndarray):
    return -1 if x.ndim == 3 else None


# --------------------------------------------------------------------------------------------------------
# The distortions.


def identity(image, strength=None, rng=None):
    """No distortion (SHDD's fifth type, §7.3): returns a float32 copy of ``image``. ``strength`` must be
    None or 0 and ``rng`` is ignored."""
    x = _check("identity", image, strength)
    return _out(x)


def gaussian_noise(image, variance, rng):
    """Additive Gaussian white noise of variance ``variance`` (intensities in [0, 1]), then clipping.

    Paper: §6.2.1 uses variances {0.0125, 0.025, 0.05}; SHDD (§7.3, seed 000 §3) samples the variance
    uniformly in [0.005, 0.02]. Implemented with ``skimage.util.random_noise(mode='gaussian')``, independent
    per pixel and per channel.
    """
    x = _check("gaussian_noise", image, variance)
    return _out(random_noise(x, mode="gaussian", var=float(variance), rng=_need_rng("gaussian_noise", rng)))


def gaussian_blur(image, sigma, rng):
    """Isotropic Gaussian blur of standard deviation ``sigma`` pixels (per channel, border mode 'nearest',
    kernel truncated at 4 sigma -- skimage's defaults).

    Paper: §6.2.1 uses sigma {1.5, 3, 6}. SHDD (§7.3, seed 000 §3) says "[1.0, 2.5]-variances for Gaussian
    blur"; the companion's reading is that this range is the kernel's *sigma* (as for Flickr-Distortion),
    the word "variances" being loose. ``rng`` is ignored.
    """
    x = _check("gaussian_blur", image, sigma)
    return _out(gaussian(x, sigma=float(sigma), channel_axis=_channel_axis(x)))


def _pink_field(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-std 1/f noise field: white Gaussian draws filtered in the Fourier domain by an
    amplitude 1/f (power 1/f^2), which keeps their random phase; the DC term is removed."""
    h, w = shape
    spectrum = np.fft.rfft2(rng.standard_normal((h, w)))
    f = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :])
    f[0, 0] = np.inf  # amplitude 0 at DC: zero mean
    field = np.fft.irfft2(spectrum / f, s=(h, w))
    field -= field.mean()
    std = field.std()
    return field / std if std > 0 else np.zeros((h, w))


def f_noise(image, scale, rng):
    """Additive 1/f ("pink") noise with standard deviation ``scale / 100``.

    The noise field has power spectrum proportional to 1/f^2 (amplitude 1/f, spectral slope -2 in log-log),
    random phase, zero mean, and is normalised to unit std over the given image or region before scaling,
    so it works for any region size. The companion adds the *same* field to all three channels (an
    achromatic, luminance-like fluctuation).

    Paper: §6.2.1 "noise level 1/f with factor f ∈ {2.5, 5, 10}"; SHDD (§7.3) "[6.0, 10.0]-scales for
    f-noise (pink noise)". The companion's reading maps both to std = scale/100 (Flickr 0.025-0.10, SHDD
    0.06-0.10), so larger values are more severe in both datasets.
    """
    x = _check("f_noise", image, scale)
    field = _pink_field(x.shape[:2], _need_rng("f_noise", rng)) * (float(scale) / 100.0)
    return _out(x + (field[..., None] if x.ndim == 3 else field))


def contrast_change(image, level, rng):
    """Reduce contrast by ``level`` percent about mid-grey: ``out = 0.5 + (x - 0.5) * (1 - level/100)``.

    Paper: SHDD (§7.3, seed 000 §3) samples "[25.0, 40.0]-levels for contrast change" without defining
    them; this pointwise (hence exactly local) reading is the companion's. ``rng`` is ignored.
    """
    x = _check("contrast_change", image, level)
    return _out(0.5 + (x - 0.5) * (1.0 - float(level) / 100.0))


def salt_and_pepper(image, amount, rng):
    """Replace a fraction ``amount`` of the values by 0 or 1 (equally likely).

    ``skimage.util.random_noise(mode='s&p')``, which draws each pixel *and channel* value independently,
    so in RGB the fraction applies per channel value. Paper: §6.2.1, "the amount of salt and pepper noise
    are the same as Gaussian noise", i.e. {0.0125, 0.025, 0.05}.
    """
    x = _check("salt_and_pepper", image, amount)
    return _out(random_noise(x, mode="s&p", amount=float(amount), rng=_need_rng("salt_and_pepper", rng)))


def quantization(image, levels, rng):
    """Uniform quantization to ``levels`` equally spaced grey levels per channel (0 and 1 included):
    ``round(x * (levels - 1)) / (levels - 1)``.

    Paper: §6.2.1 lists quantization noise but gives no values; the companion's choice of levels is
    {16, 8, 4} (mild → severe). ``levels`` must be a whole number. ``rng`` is ignored.
    """
    x = _check("quantization", image, levels)
    n = int(round(levels)) - 1
    return _out(np.round(x * n) / n)


def jpeg(image, quality, rng):
    """JPEG compression at Pillow quality ``quality`` (1-100; lower = stronger artefacts), encoded and
    decoded in memory. The image is rounded to 8 bits first; greyscale images are encoded as mode 'L',
    colour as 'RGB' with Pillow's default chroma subsampling.

    Paper: §6.2.1 uses quality levels {20, 10, 5}. ``quality`` must be a whole number. ``rng`` is ignored.
    """
    x = _check("jpeg", image, quality)
    pixels = np.round(x * 255.0).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L" if x.ndim == 2 else "RGB").save(buffer, format="JPEG",
                                                                      quality=int(round(quality)))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return _out(np.asarray(decoded, dtype=np.float64) / 255.0)


def low_resolution(image, ratio, rng):
    """Low-pass distortion: downscale to ``round(ratio*H) × round(ratio*W)`` pixels (at least 1) with
    anti-aliasing (bilinear, skimage's Gaussian pre-filter), then back to H×W with bicubic interpolation
    (order 3).

    Paper: §6.2.1 "low-pass noise ... scaled images with ratios {0.3, 0.1, 0.03}, and resized them to the
    original image size"; the interpolation orders are the companion's choice. ``rng`` is ignored.
    """
    x = _check("low_resolution", image, ratio)
    h, w = x.shape[:2]
    small = (max(1, round(ratio * h)), max(1, round(ratio * w))) + x.shape[2:]
    low = resize(x, small, order=1, anti_aliasing=True)
    return _out(resize(low, x.shape, order=3))


def nl_means_denoising(image, h, rng):
    """Over-smoothing by non-local-means denoising with filter strength ``h`` (intensity units), patch size
    7 and patch distance 11 (``skimage.restoration.denoise_nl_means``, fast mode).

    Paper: §6.2.1 "non-local means ... using factors {0.04, 0.06, 0.08} ... fixed batch size and patch
    distance of 7 and 11"; the companion reads "batch size" as patch size. ``rng`` is ignored.
    Images one pixel high or wide work: the axis skimage squeezes away is restored.
    """
    x = _check("nl_means_denoising", image, h)
    out = denoise_nl_means(x, h=float(h), patch_size=7, patch_distance=11, channel_axis=_channel_axis(x))
    return _out(out.reshape(x.shape))  # skimage squeezes 1-pixel-wide axes


# --------------------------------------------------------------------------------------------------------
# Registry.


@dataclass(frozen=True)
class DistortionSpec:
    """One distortion: its function, parameter name, valid closed range, meaning and context margin.

    ``margin_rule(strength)`` returns the pixels of context a region needs so that distorting the region
    grown by that margin, then cropping, equals distorting the whole image then cropping. It is exact for
    blur and the pointwise distortions, 0 for noise (statistically, not exactly, local), and a documented
    approximation for JPEG, low resolution and non-local means. ``integer`` marks whole-number parameters.
    """

    name: str
    fn: Callable
    parameter: str
    valid: tuple[float, float]
    meaning: str
    margin_rule: Callable[[float], int] = lambda strength: 0
    integer: bool = False

    def margin(self, strength) -> int:
        return int(self.margin_rule(strength))


def _blur_margin(sigma) -> int:
    # skimage/scipy truncate the kernel at radius int(4*sigma + 0.5) <= ceil(4*sigma): exact.
    return math.ceil(4.0 * float(sigma))


def _jpeg_margin(quality) -> int:
    # One 8×8 DCT block of context. Exact only when the grown region is aligned to Pillow's block grid
    # (16×16 MCUs with chroma subsampling); otherwise the block boundaries shift and results differ.
    return 8


def _low_resolution_margin(ratio) -> int:
    # The bicubic kernel reaches 2 low-res pixels (2/ratio px) and the anti-aliasing Gaussian (sigma
    # (1/ratio - 1)/2, truncated at 4 sigma) another ~2/ratio px: ceil(4/ratio). Approximate, because the
    # sampling grid depends on the region size.
    return math.ceil(4.0 / float(ratio))


def _nl_means_margin(h) -> int:
    # Search window radius 11 plus patch radius 7 // 2 = 3; exact up to floating-point summation order.
    return 11 + 3


DISTORTIONS: dict[str, DistortionSpec] = {
    spec.name: spec
    for spec in (
        DistortionSpec("identity", identity, "strength", (0.0, 0.0), "no distortion; the strength is unused"),
        DistortionSpec("gaussian_noise", gaussian_noise, "variance", (0.0, 1.0),
                       "variance of additive white Gaussian noise on [0, 1] intensities"),
        DistortionSpec("gaussian_blur", gaussian_blur, "sigma", (0.0, 50.0),
                       "standard deviation of the Gaussian blur kernel in pixels", _blur_margin),
        DistortionSpec("f_noise", f_noise, "scale", (0.0, 100.0),
                       "1/f (pink) noise added with standard deviation scale/100"),
        DistortionSpec("contrast_change", contrast_change, "level", (0.0, 100.0),
                       "percent by which contrast about mid-grey 0.5 is reduced"),
        DistortionSpec("salt_and_pepper", salt_and_pepper, "amount", (0.0, 1.0),
                       "fraction of pixel values replaced by 0 or 1"),
        DistortionSpec("quantization", quantization, "levels", (2.0, 256.0),
                       "number of uniform grey levels per channel", integer=True),
        DistortionSpec("jpeg", jpeg, "quality", (1.0, 100.0),
                       "JPEG quality factor (lower means stronger compression)", _jpeg_margin, integer=True),
        DistortionSpec("low_resolution", low_resolution, "ratio", (0.001, 1.0),
                       "downscaling factor before resizing back to the original size", _low_resolution_margin),
        DistortionSpec("nl_means_denoising", nl_means_denoising, "h", (0.0, 1.0),
                       "non-local-means filter strength in intensity units", _nl_means_margin),
    )
}


def apply_distortion(name: str, image, strength, rng) -> np.ndarray:
    """Apply distortion ``name`` with ``strength``, validating the name, strength and image
    (:class:`CompanionError` with a one-line fix on any problem)."""
    if name not in DISTORTIONS:
        raise CompanionError(f"unknown distortion {name!r}; known distortions: {', '.join(DISTORTIONS)}")
    return DISTORTIONS[name].fn(image, strength, rng)


# --------------------------------------------------------------------------------------------------------
# Strengths drawn from a range (each dataset's presets live with its generator).


def sample_strength(name: str, rng: np.random.Generator, ranges: dict) -> float:
    """Draw a strength for ``name`` uniformly from ``ranges[name]`` (identity → 0.0). Whole-number
    parameters (jpeg, quantization) are drawn uniformly among the integers of the closed range."""
    if name == "identity":
        return 0.0
    if name not in ranges:
        raise CompanionError(f"no strength range for distortion {name!r}; ranges exist for: {', '.join(ranges)}")
    lo, hi = ranges[name]
    if name in DISTORTIONS and DISTORTIONS[name].integer:
        return float(rng.integers(math.ceil(lo), math.floor(hi), endpoint=True))
    return float(rng.uniform(lo, hi))
