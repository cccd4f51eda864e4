"""Chapter 5's data (thesis §5.3-5.4.1): the LR-only pool SimUSR trains on, the test images, and the noisy
setting with its BM3D pre-denoising.

* **The LR pool** (:func:`lr_pool`, §5.3.2: "we only use the LR images when we train the models"): the ×s
  MATLAB-bicubic LR image (:func:`companion.data.sr.bicubic_downscale`, 8-bit) of every training photograph
  (``"bundled"``) or of DIV2K's 800 training images (``"data"``; the thesis uses DF2K's LR images). An HR image
  is read only to make its LR image, as the benchmark archives' LR files were made, and is dropped at once:
  the pool holds LR arrays and nothing else (``tests/test_ch5_simusr.py`` checks that no pool image has an HR
  image's size or pixels). The pool's pseudo-pairs (LR↓s, LR) are cut by :mod:`companion.ch5.simusr`.
* **Test images** (:func:`test_images`): (name, LR, HR) of the test photographs (whole, or a centre crop) or of
  a benchmark set (:class:`companion.data.sr.SRBenchmark`), the HR image cropped to a multiple of s.
* **Noise** (:func:`add_noise`, Table 5.3's NTIRE 2020 setting, read here as Gaussian noise since that data is not
  bundled): ``LR + N(0, σ²)`` per pixel and channel, rounded to 8 bits and clipped, one fixed draw per image
  (seeded by the setting's seed and the image's name: the same noisy data for every training seed), on the
  training pool and the test images alike.
* **BM3D** (:func:`denoise`, §5.4.1: "we attach BM3D as a pre-processing step"): the maintained ``bm3d`` package's
  colour entry ``bm3d.bm3d_rgb(image, sigma_psd=σ)`` (BM3D in the opponent colour space; 0.8 dB better than
  ``bm3d.bm3d`` per channel on our noisy test LR at σ = 15 in a first check), clipped to [0, 1] and rounded to
  8 bits. The thesis does not say how BM3D's σ was set; we give it the noise's own σ (an oracle level,
  :attr:`companion.ch5.config.NoiseSetting.bm3d_sigma`).
"""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from companion.ch5.config import SimUSRSpec
from companion.data import folders
from companion.data.images import centre_crop_at_most, embedded_image, load_image, to_float
from companion.data.sr import SRBenchmark, lr_hr_pair
from companion.errors import CompanionError

_CACHE: dict = {}  # per process: pools, test images and denoised images, made once
#: A pool of at least this many images shows a progress bar (DIV2K's 800: minutes, hours with BM3D).
LONG_POOL = 50


def quantise(image: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and round to the 8-bit grid (what a saved PNG holds); float32."""
    return (np.floor(np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0) * 255.0 + 0.5) / 255.0).astype(np.float32)


def lr_of(hr: np.ndarray, scale: int) -> np.ndarray:
    """The protocol's LR image of an HR image: cropped to a multiple of ``scale``, MATLAB-bicubic ↓``scale``,
    8-bit (:func:`companion.data.sr.lr_hr_pair`); the HR image is not kept."""
    lr, _ = lr_hr_pair(hr, scale)
    return lr


def _pool_sources(spec: SimUSRSpec, data_root=None) -> list[tuple[str, object]]:
    """(name, embedded name or DIV2K path) of the images whose LR images form the pool."""
    if spec.source == "data":
        return [(p.stem, p) for p in folders.div2k_hr_paths(data_root, "train")]
    if not spec.split.train:
        raise CompanionError("the split has no training photographs: SimUSR's LR pool would be empty")
    return [(name, name) for name in spec.split.train]


def _read(item) -> np.ndarray:
    return load_image(item) if isinstance(item, Path) else embedded_image(str(item))


def lr_pool(spec: SimUSRSpec, *, noisy: bool = False, denoised: bool = False, data_root=None) -> list[tuple[str, np.ndarray]]:
    """SimUSR's training pool: ``[(name, LR image)]``, the ×``spec.scale`` LR image of every training image;
    ``noisy``: with :func:`add_noise`; ``denoised``: noisy, then :func:`denoise` (Table 5.3's SimUSR +BM3D). Made
    once per process."""
    if denoised:
        noisy = True
    key = ("pool", spec.source, spec.split.train, spec.scale, noisy and spec.noise, denoised, str(data_root))
    if key not in _CACHE:
        out = []
        sources = _pool_sources(spec, data_root)
        for name, item in tqdm(sources, desc="SimUSR's LR pool" + (", BM3D" if denoised else ""), unit="image",
                               disable=len(sources) < LONG_POOL, leave=False):
            lr = lr_of(_read(item), spec.scale)
            if noisy:
                lr = add_noise(lr, spec.noise.sigma, seed=spec.noise.seed, name=name)
            if denoised:
                lr = denoise(lr, spec.noise.bm3d_sigma)
            out.append((name, lr))
        _CACHE[key] = out
    return _CACHE[key]


def test_images(spec: SimUSRSpec, eval_set: str, data_root=None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``[(name, LR, HR)]`` of one evaluation set: ``"embedded"`` (the test photographs ``spec.split.test``) or a
    :data:`companion.data.sr.BENCHMARKS` name from the data root; whole or centre-cropped to ``spec.eval_crop``
    HR px, the HR image cropped to a multiple of the scale. Made once per process."""
    key = ("test", eval_set, spec.split.test, spec.eval_crop, spec.scale, str(data_root))
    if key not in _CACHE:
        if eval_set == "embedded":
            items = [(name, embedded_image(name)) for name in spec.split.test]
        else:
            bench = SRBenchmark(eval_set, spec.scale, root=data_root)
            items = [(name, bench.pair(i)[1]) for i, name in enumerate(bench.names)]
        out = []
        for name, hr in items:
            if spec.eval_crop:
                hr = centre_crop_at_most(hr, spec.eval_crop)
            lr, hr = lr_hr_pair(hr, spec.scale)
            out.append((name, lr, hr))
        if not out:
            raise CompanionError(f"no test images in {eval_set!r}")
        _CACHE[key] = out
    return _CACHE[key]


def validation_pair(spec: SimUSRSpec) -> tuple[np.ndarray, np.ndarray]:
    """(LR, HR) of the validation photograph's centre ``spec.simusr.val_crop`` px (0: whole): what the recipes
    are judged on, never trained on."""
    if not spec.split.validation:
        raise CompanionError("the split has no validation photograph to judge the recipe on")
    hr = embedded_image(spec.split.validation[0])
    crop = spec.simusr.val_crop
    return lr_hr_pair(centre_crop_at_most(hr, crop) if crop else hr, spec.scale)


# --------------------------------------------------------------------------------------------------------
# The noisy setting.


def noise_seed(seed: int, name: str) -> list[int]:
    """The seed of image ``name``'s noise draw: (setting seed, CRC-32 of the name): stable across runs."""
    return [int(seed), zlib.crc32(name.encode())]


def add_noise(image: np.ndarray, sigma: float, *, seed: int, name: str) -> np.ndarray:
    """``image`` + N(0, (σ/255)²) per pixel and channel, rounded to 8 bits; one fixed draw per (seed, name)."""
    if not sigma > 0:
        raise CompanionError(f"the noise sigma must be > 0 (8-bit levels), got {sigma!r}")
    rng = np.random.default_rng(noise_seed(seed, name))
    return quantise(to_float(image) + rng.normal(0.0, sigma / 255.0, size=np.shape(image)))


def denoise(image: np.ndarray, sigma: float) -> np.ndarray:
    """BM3D of an RGB image (``bm3d.bm3d_rgb``, σ in 8-bit levels), clipped and rounded to 8 bits."""
    import bm3d  # reason: heavy optional dependency (scipy, PyWavelets), only the noisy setting needs it

    image = to_float(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise CompanionError(f"BM3D here takes an H×W×3 RGB image, got shape {image.shape}")
    return quantise(bm3d.bm3d_rgb(image.astype(np.float64), sigma_psd=sigma / 255.0))


def noisy_test_images(spec: SimUSRSpec, data_root=None) -> list[dict]:
    """Table 5.3's test images: ``[{"name", "hr", "lr", "noisy", "denoised"}]``: the clean HR and LR images, the
    noisy LR image and its BM3D output, for every image of ``spec.noisy_set``. Made once per process."""
    key = ("noisy-test", spec.noisy_set, spec.split.test, spec.eval_crop, spec.scale, spec.noise, str(data_root))
    if key not in _CACHE:
        out = []
        for name, lr, hr in test_images(spec, spec.noisy_set, data_root):
            noisy = add_noise(lr, spec.noise.sigma, seed=spec.noise.seed, name=f"test/{name}")
            out.append({"name": name, "hr": hr, "lr": lr, "noisy": noisy,
                        "denoised": denoise(noisy, spec.noise.bm3d_sigma)})
        _CACHE[key] = out
    return _CACHE[key]


def pool_summary(pool: list[tuple[str, np.ndarray]], scale: int) -> dict:
    """What a pool is: ``images``, ``pixels`` (LR pixels in all), the smallest LR side and the smallest LR↓s side
    (what bounds the patch)."""
    sides = [min(lr.shape[:2]) for _, lr in pool]
    return {"images": len(pool), "pixels": int(sum(lr.shape[0] * lr.shape[1] for _, lr in pool)),
            "smallest_side": int(min(sides)), "smallest_son_side": int(min(sides) // scale)}


def centre_lr(lr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The centre ``size`` = (height, width) of an LR image (Table 5.4's 480×320 input); the whole image for
    (0, 0); an error naming the size when the image is smaller."""
    h, w = size
    if not h or not w:
        return lr
    if lr.shape[0] < h or lr.shape[1] < w:
        raise CompanionError(f"the latency image's LR is {lr.shape[1]}×{lr.shape[0]} px, smaller than {w}×{h}; "
                             "choose a larger image or a smaller latency_lr")
    top, left = (lr.shape[0] - h) // 2, (lr.shape[1] - w) // 2
    return np.ascontiguousarray(lr[top:top + h, left:left + w])


__all__ = ["quantise", "lr_of", "lr_pool", "test_images", "validation_pair", "noise_seed", "add_noise", "denoise",
           "noisy_test_images", "pool_summary", "centre_lr"]
