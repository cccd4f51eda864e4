"""The super-resolution data protocol: bicubic LR images made as MATLAB makes them, training patches, test sets.

Super-resolution papers (the thesis' Ch.2 §2.4, Ch.3 §3.4, Ch.4 §4.4, Ch.5 §5.4; EDSR, RCAN, CARN …) all use
the same synthetic degradation: the LR image is MATLAB's ``imresize(HR, 1/s, 'bicubic')`` of the HR image,
cropped first to a multiple of ``s`` (MATLAB's ``modcrop``). DIV2K's official ``*_LR_bicubic`` sets and the
``LR_bicubic`` folders of EDSR's ``benchmark.tar`` were made that way. This module reproduces it:

* :func:`bicubic_downscale` / :func:`bicubic_upscale`: MATLAB's ``imresize`` with the ``'bicubic'`` method,
  computed by the `bicubic_pytorch <https://pypi.org/project/bicubic-pytorch/>`_ library (S. Son's
  MATLAB-compatible implementation, the EDSR authors'; a maintained fork): Keys' cubic kernel with a = -0.5,
  widened by ``s`` when downscaling (antialiasing), MATLAB's half-pixel grid and its symmetric border
  (``[a, a, b, c, d, d]``: each edge pixel repeated once, then mirrored). MATLAB works on ``uint8`` images
  and rounds its output to 8 bits; so do we by default (``round8=True``): an LR image holds exactly the
  values a saved PNG would. ``method="pil"`` / ``"torch"`` / ``"torch_no_antialias"`` give the common
  alternatives, for measuring what using them would change
  (:func:`companion.metrics.downscale_method_shift`): PIL's and torch's antialiased bicubic share MATLAB's
  kernel and grid but *truncate* the kernel at the image border (and PIL rounds to 8 bits between its
  horizontal and vertical passes), so they agree with MATLAB inside the image and differ in a band 2 LR
  pixels wide along the edges; torch without antialiasing uses a = -0.75 and no widening. Measured on the
  embedded photographs (tests/test_sr_protocol.py): torch's antialiased bicubic agrees with this one to
  1e-4 of an 8-bit level inside that band and differs by up to 12 levels in it (LR PSNR between the two
  63-69 dB); PIL's 8-bit path differs by up to 6 levels inside too (56-57 dB). The Bicubic baseline's
  Y PSNR moves by under 0.001 dB with torch's LR images and by -0.002 to -0.015 dB on average with PIL's
  (-0.15 dB on retina at ×2, a mostly black image scoring 51 dB); torch without antialiasing moves it by
  +0.6 dB at ×2 and -0.9 dB at ×4.
* :class:`SRPatches`: random LR training patches (``patch`` LR pixels a side) with the aligned HR patch
  (``scale × patch``), the same random horizontal flip, vertical flip and 90° rotation on both (§2.4: "random
  flips and rotations"), from a folder of HR images or the embedded photographs; LR images are made by
  :func:`bicubic_downscale` once and kept in memory. For multi-scale models (CARN's ×2/×3/×4 network) every
  batch has one scale: :meth:`SRPatches.set_epoch` (called by the engine's loop with the step) draws the
  step's scale; a DataLoader gets the same through :class:`OneScaleBatchSampler` and :func:`collate_sr`.
* :class:`SRBenchmark`: the evaluation sets (Set5, Set14, B100, Urban100, Manga109, DIV2K validation) read
  from the data root in the layout ``python -m companion download`` produces (see
  :mod:`companion.data.folders`), or the embedded photographs when no set is named.

Images are float32 in [0, 1]: ``H×W×3`` arrays in the functions, ``3×H×W`` tensors in dataset items.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from bicubic_pytorch import imresize  # MATLAB's imresize(x, factor, 'bicubic'), antialiased
from PIL import Image
from torch.utils.data import Dataset, Sampler

from companion.data import folders
from companion.data.images import EMBEDDED_IMAGES, embedded_image, load_image, to_float, to_uint8
from companion.data.tensors import augment, to_chw
from companion.errors import CompanionError

#: Scale factors the protocol accepts: ×2–×4 (Ch.2, 4, 5) and ×8 (Ch.3) and the ones between.
SCALES: tuple[int, ...] = tuple(range(2, 9))

#: Resizing implementations: MATLAB's (the protocol), and three common stand-ins whose effect can be measured.
METHODS: tuple[str, ...] = ("matlab", "pil", "torch", "torch_no_antialias")

#: Evaluation sets :class:`SRBenchmark` reads from the data root, besides ``"embedded"``.
BENCHMARKS: tuple[str, ...] = ("Set5", "Set14", "B100", "Urban100", "Manga109", "DIV2K")


def check_scale(scale) -> int:
    """``scale`` as an int in :data:`SCALES`; a one-line error otherwise."""
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or int(scale) not in SCALES:
        raise CompanionError(f"scale must be a whole number from {SCALES[0]} to {SCALES[-1]}, got {scale!r}")
    return int(scale)


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise CompanionError(f"unknown resize method {method!r}; choose one of: {', '.join(METHODS)}")
    return method


def _as_float_rgb(image, name: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise CompanionError(f"{name} must be an H×W×3 RGB array, got shape {image.shape}")
    try:
        return to_float(image)
    except ValueError as exc:
        raise CompanionError(f"{name}: {exc}") from None


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop ``image`` (H×W or H×W×C) to the largest multiple of ``scale`` in each side, keeping the top-left
    corner: MATLAB's ``modcrop``, which the SR literature applies to every HR image before downscaling."""
    scale = check_scale(scale)
    h, w = np.shape(image)[:2]
    if h < scale or w < scale:
        raise CompanionError(f"image of {w}×{h} px is smaller than the scale ×{scale}; use a larger image")
    return image[:h - h % scale, :w - w % scale]


def _quantize(values: np.ndarray) -> np.ndarray:
    """0..255 floats -> the 8-bit grid as MATLAB's uint8 conversion does (clip, round half away from zero)."""
    return np.floor(np.clip(values, 0.0, 255.0) + 0.5)


def _resize(image: np.ndarray, size: tuple[int, int], factor: float, method: str, round8: bool) -> np.ndarray:
    """Resize float RGB ``image`` in [0, 1] to ``size`` = (H, W) by ``factor``; float32 result in [0, 1]."""
    h, w = size
    if method == "pil":
        # PIL's everyday path: an 8-bit RGB image, rounded between its two passes
        out = np.asarray(Image.fromarray(to_uint8(image)).resize((w, h), Image.Resampling.BICUBIC), np.float64)
        return (out / 255.0).astype(np.float32)  # already on the 8-bit grid, whatever round8 says
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)) * 255.0
    if method == "matlab":
        y = imresize(x, scale=factor)
    else:
        y = F.interpolate(x[None], size=(h, w), mode="bicubic", align_corners=False,
                          antialias=method == "torch")[0]
    y = y.numpy().astype(np.float64).transpose(1, 2, 0)
    if y.shape[:2] != (h, w):  # cannot happen for whole-number factors; guards a library change
        raise CompanionError(f"{method} resize gave {y.shape[1]}×{y.shape[0]} px instead of {w}×{h}")
    return ((_quantize(y) if round8 else y) / 255.0).astype(np.float32)


def bicubic_downscale(image: np.ndarray, scale: int, *, method: str = "matlab", round8: bool = True) -> np.ndarray:
    """The LR image of the SR protocol: MATLAB's ``imresize(image, 1/scale, 'bicubic')`` (antialiased).

    ``image``: H×W×3, uint8 or float in [0, 1], with H and W multiples of ``scale`` (crop with :func:`modcrop`
    first, as the protocol does). Returns float32 ``H/scale × W/scale × 3`` in [0, 1]. With ``round8`` (the
    default, as MATLAB on a uint8 image) the result is clipped to [0, 1] and rounded to the 8-bit grid;
    with ``round8=False`` it is the unrounded, unclipped float result (bicubic overshoots a little at edges).
    ``method`` (see :data:`METHODS`): ``"matlab"`` is the protocol; the others exist to measure what a
    different resizer changes (``"pil"`` always returns 8-bit values).
    """
    scale, method = check_scale(scale), _check_method(method)
    image = _as_float_rgb(image)
    h, w = image.shape[:2]
    if h % scale or w % scale:
        raise CompanionError(f"image of {w}×{h} px is not a multiple of ×{scale}; crop it with modcrop(image, "
                             f"{scale}) first (the SR protocol crops HR images to a multiple of the scale)")
    return _resize(image, (h // scale, w // scale), 1.0 / scale, method, round8)


def bicubic_upscale(image: np.ndarray, scale: int, *, method: str = "matlab", round8: bool = True) -> np.ndarray:
    """MATLAB's ``imresize(image, scale, 'bicubic')``: the "Bicubic" baseline row of the SR tables.

    ``image``: H×W×3, uint8 or float in [0, 1]; returns float32 ``scale·H × scale·W × 3`` in [0, 1], rounded to
    8 bits with ``round8`` (the baseline's saved PNG). ``method`` as in :func:`bicubic_downscale`.
    """
    scale, method = check_scale(scale), _check_method(method)
    image = _as_float_rgb(image)
    h, w = image.shape[:2]
    return _resize(image, (h * scale, w * scale), float(scale), method, round8)


def lr_hr_pair(hr: np.ndarray, scale: int, *, method: str = "matlab") -> tuple[np.ndarray, np.ndarray]:
    """(LR, HR) of the protocol from any HR image: HR cropped to a multiple of ``scale`` (:func:`modcrop`),
    LR its 8-bit MATLAB-bicubic downscale (:func:`bicubic_downscale`). Both float32 H×W×3 in [0, 1]."""
    hr = modcrop(_as_float_rgb(hr, "HR image"), scale)
    return bicubic_downscale(hr, scale, method=method), hr


# --------------------------------------------------------------------------------------------------------
# Where HR images come from.


def _folder_pngs(folder: Path) -> list[Path]:
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".png")
    if not paths:
        raise CompanionError(f"no PNG images in {folder}; put the HR images there as 8-bit RGB PNGs")
    return paths


def benchmark_paths(name: str, root: str | os.PathLike | None = None) -> list[Path]:
    """Sorted HR image paths of benchmark ``name`` (:data:`BENCHMARKS`; ``"DIV2K"`` is its 100 validation
    images) under the data root, in the layout of ``python -m companion download`` (``benchmark/<name>/HR/``,
    ``DIV2K/DIV2K_valid_HR/``). A missing set is an error naming the command to run."""
    wanted = {b.lower(): b for b in BENCHMARKS}.get(str(name).lower())
    if wanted is None:
        raise CompanionError(f"unknown SR benchmark {name!r}; choose one of: embedded, {', '.join(BENCHMARKS)}")
    if wanted == "DIV2K":
        return folders.div2k_hr_paths(root, "valid")
    hr = folders.dataset_dir(wanted, root) / "HR"
    if not hr.is_dir():
        spec = folders.dataset_spec(wanted)
        how = spec.manual if not spec.files else f"run `python -m companion download {wanted}`"
        raise CompanionError(f"{wanted} HR images not found: {hr} does not exist; {how}")
    return _folder_pngs(hr)


def _official_lr_path(name: str, hr_path: Path, scale: int, root) -> Path:
    """Where the MATLAB-made LR file of ``hr_path`` sits in the download layout (×2–×4 only)."""
    if name == "DIV2K":
        folder = folders.dataset_dir("DIV2K", root) / "DIV2K_valid_LR_bicubic" / f"X{scale}"
        fix = f"run `python -m companion download DIV2K --part x{scale}`"
    else:
        folder = hr_path.parent.parent / "LR_bicubic" / f"X{scale}"
        fix = f"run `python -m companion download {name}`"
    path = folder / f"{hr_path.stem}x{scale}{hr_path.suffix}"
    if not path.is_file():
        raise CompanionError(f"official ×{scale} LR image {path} not found; {fix}, or use lr='bicubic' to make "
                             "the LR images here")
    return path


class _Source:
    """A list of named HR images, each loaded once (as uint8, a quarter of float32's memory) on first use."""

    def __init__(self, images):
        self.names: list[str] = []
        self._paths: list[Path | None] = []
        self._arrays: list[np.ndarray | None] = []
        self._embedded = images is None
        if images is None:
            if not EMBEDDED_IMAGES:
                raise CompanionError("no embedded images found; reinstall scikit-image and scikit-learn")
            self.names = list(EMBEDDED_IMAGES)
            self._paths = [None] * len(self.names)
            self._arrays = [None] * len(self.names)
            return
        if isinstance(images, (str, os.PathLike)):
            folder = Path(images).expanduser()
            if not folder.is_dir():
                raise CompanionError(f"HR image folder {folder} does not exist; pass a folder of HR PNGs, or run "
                                     "`python -m companion download DIV2K` and use SRPatches.div2k()")
            images = _folder_pngs(folder)
        images = list(images)
        if not images:
            raise CompanionError("no HR images given; pass a folder, image paths or arrays (or None for the "
                                 "embedded photographs)")
        for i, item in enumerate(images):
            if isinstance(item, (str, os.PathLike)):
                self.names.append(Path(item).stem)
                self._paths.append(Path(item))
                self._arrays.append(None)
            else:
                self.names.append(f"image{i:04d}")
                self._paths.append(None)
                self._arrays.append(to_uint8(_as_float_rgb(item, f"HR image {i}")))

    def __len__(self) -> int:
        return len(self.names)

    def get(self, i: int) -> np.ndarray:
        if self._arrays[i] is None:
            img = embedded_image(self.names[i]) if self._embedded else load_image(self._paths[i])
            self._arrays[i] = to_uint8(img)
        return self._arrays[i]


# --------------------------------------------------------------------------------------------------------
# Training patches.


class SRPatches(Dataset):
    """Random aligned (LR, HR) training patches of the SR protocol (thesis §2.4, §3.4, §4.4).

    ``images``: ``None`` (the embedded photographs), a folder of HR PNGs, or a sequence of image paths or
    H×W×3 arrays. ``scales``: one scale (single-scale model) or several (a multi-scale model: every batch
    has one scale, see below). ``patch``: the LR patch side (48 in the thesis; 64 in the authors' CARN code);
    the HR patch is ``scale × patch``. Each HR image is cropped to a multiple of the scale (:func:`modcrop`)
    and downscaled with :func:`bicubic_downscale` (MATLAB bicubic, 8 bits) once, on first use; HR and LR
    stay in memory as uint8 (``cache_bytes`` says how much so far; DIV2K's 800 training images take about
    7 GB of HR plus 3 GB of ×2/×3/×4 LR, and about 1 s of CPU per image and scale to make the LR images --
    :meth:`prepare` does it up front; DataLoader workers each keep their own cache). An LR patch position is
    drawn uniformly, the HR patch is the one it covers, and (``augment=True``) both get the same random
    horizontal flip, vertical flip and 90° rotation (8 distinct orientations).

    Items are dicts: ``lr`` (3×p×p float32), ``hr`` (3×sp×sp), ``scale``, ``name``, ``top``/``left`` (LR
    pixels, before the flips). ``len()`` is the number of images times ``repeat``.

    One scale per batch: ``dataset[i]`` uses the scale of the current epoch -- :meth:`set_epoch` (which the
    engine's training loop calls with the step before each batch) draws it from (``seed``, epoch), so the
    whole batch shares it and :func:`sr_batch` returns ``(lr, hr, scale)``. A DataLoader can instead pass
    ``(index, scale)`` keys: :class:`OneScaleBatchSampler` yields batches of them and :func:`collate_sr`
    stacks them. With a ``seed`` every crop and flip is a function of (seed, epoch, index), as in the other
    datasets of the companion; with ``seed=None`` they follow ``torch``'s generator.
    """

    def __init__(self, images=None, *, scales: int | Sequence[int] = 4, patch: int = 48, augment: bool = True,
                 seed: int | None = 0, repeat: int = 1, method: str = "matlab"):
        scales = (scales,) if isinstance(scales, (int, np.integer)) and not isinstance(scales, bool) else scales
        self.scales = tuple(check_scale(s) for s in scales)
        if not self.scales:
            raise CompanionError("scales is empty; give at least one scale from 2 to 8")
        if isinstance(patch, bool) or not isinstance(patch, (int, np.integer)) or patch < 1:
            raise CompanionError(f"patch must be a whole number of LR pixels >= 1, got {patch!r}")
        if isinstance(repeat, bool) or not isinstance(repeat, (int, np.integer)) or repeat < 1:
            raise CompanionError(f"repeat must be a whole number >= 1, got {repeat!r}")
        self.patch, self.augment, self.seed, self.repeat = int(patch), bool(augment), seed, int(repeat)
        self.method = _check_method(method)
        self.source = _Source(images)
        self.epoch = 0
        self.scale = self._draw_scale(0)
        self._lr: dict[tuple[int, int], np.ndarray] = {}
        self._hr: dict[tuple[int, int], np.ndarray] = {}

    @classmethod
    def div2k(cls, root: str | os.PathLike | None = None, split: str = "train", **kwargs) -> "SRPatches":
        """Patches of DIV2K's HR images (``split`` ``"train"``: 0001–0800, the thesis' training set) under the
        data root; a missing folder names ``python -m companion download DIV2K``."""
        return cls(folders.div2k_hr_paths(root, split), **kwargs)

    @property
    def names(self) -> list[str]:
        return list(self.source.names)

    def __len__(self) -> int:
        return len(self.source) * self.repeat

    # -- scale per batch -----------------------------------------------------------------------------
    def _draw_scale(self, epoch: int) -> int:
        if len(self.scales) == 1:
            return self.scales[0]
        if self.seed is None:
            return self.scales[int(torch.randint(0, len(self.scales), ()).item())]
        return self.scales[int(np.random.default_rng([self.seed, 1, epoch]).integers(len(self.scales)))]

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch (the engine passes the step) and draw its scale, shared by every item until the next
        call."""
        self.epoch = int(epoch)
        self.scale = self._draw_scale(self.epoch)

    # -- images ----------------------------------------------------------------------------------------
    def pair(self, image: int, scale: int) -> tuple[np.ndarray, np.ndarray]:
        """(LR, HR) uint8 arrays of image ``image`` at ``scale``: HR cropped to a multiple of the scale, LR its
        MATLAB-bicubic downscale; computed once and kept."""
        key = (int(image), int(scale))
        if key not in self._lr:
            hr = modcrop(self.source.get(key[0]), key[1])
            lr = bicubic_downscale(hr, key[1], method=self.method)
            if min(lr.shape[:2]) < self.patch:
                raise CompanionError(
                    f"image {self.source.names[key[0]]} is {hr.shape[1]}×{hr.shape[0]} px: its ×{key[1]} LR image "
                    f"({lr.shape[1]}×{lr.shape[0]}) is smaller than patch={self.patch}; use patch <= "
                    f"{min(lr.shape[:2])} or leave the image out")
            self._lr[key], self._hr[key] = to_uint8(lr), hr
        return self._lr[key], self._hr[key]

    def prepare(self) -> "SRPatches":
        """Load every image and make its LR images at every scale now (else it happens on first use)."""
        for i in range(len(self.source)):
            for s in self.scales:
                self.pair(i, s)
        return self

    @property
    def cache_bytes(self) -> int:
        """Bytes held by the LR/HR cache (uint8)."""
        return sum(a.nbytes for a in self._lr.values()) + sum(a.nbytes for a in self._hr.values())

    # -- items -----------------------------------------------------------------------------------------
    def _rng(self, index: int, scale: int) -> np.random.Generator:
        if self.seed is None:
            return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        return np.random.default_rng([self.seed, 0, self.epoch, index, scale])

    def __getitem__(self, key) -> dict:
        if isinstance(key, tuple):
            index, scale = int(key[0]), check_scale(key[1])
            if scale not in self.scales:
                raise CompanionError(f"scale ×{scale} is not one of this dataset's scales {self.scales}")
        else:
            index, scale = int(key), self.scale
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        image = index % len(self.source)
        lr, hr = self.pair(image, scale)
        p = self.patch
        rng = self._rng(index, scale)
        top, left = int(rng.integers(0, lr.shape[0] - p + 1)), int(rng.integers(0, lr.shape[1] - p + 1))
        crops = [lr[top:top + p, left:left + p], hr[top * scale:(top + p) * scale, left * scale:(left + p) * scale]]
        if self.augment:
            hflip, vflip, rot = bool(rng.integers(2)), bool(rng.integers(2)), int(rng.integers(4))
            crops = [augment(a, hflip, vflip, rot) for a in crops]
        lr_t, hr_t = (to_chw(a).float().div_(255.0) for a in crops)
        return {"lr": lr_t, "hr": hr_t, "scale": scale, "name": self.source.names[image], "top": top, "left": left}


def collate_sr(items: list[dict]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Stack SR items into ``(lr B×3×p×p, hr B×3×sp×sp, scale)``; items of different scales are an error."""
    scales = {int(it["scale"]) for it in items}
    if len(scales) != 1:
        raise CompanionError(f"a batch mixes scales {sorted(scales)}; batch with OneScaleBatchSampler (or the "
                             "dataset's set_epoch) so every batch has one scale")
    return torch.stack([it["lr"] for it in items]), torch.stack([it["hr"] for it in items]), scales.pop()


def sr_batch(dataset, indices: list[int], step: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """A ``batch`` function in the engine's convention (``batch(dataset, indices, step)``) for SR loops that
    need the scale: sets the step's epoch (so its scale) and returns ``(lr, hr, scale)``. Single-scale
    training with the engine's own loop uses ``paired_batch("lr", "hr")`` instead."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(step)
    return collate_sr([dataset[i] for i in indices])


class OneScaleBatchSampler(Sampler):
    """For a DataLoader: batches of ``(index, scale)`` keys, one scale per batch, drawn uniformly from
    ``scales`` (CARN's multi-scale training: "one of ×2, ×3, ×4 per batch"); indices uniform with replacement.
    Everything follows ``seed`` and :meth:`set_epoch`. Use with ``collate_fn=collate_sr``."""

    def __init__(self, n: int, batch_size: int, scales: Sequence[int], *, batches: int, seed: int = 0):
        if n < 1 or batch_size < 1 or batches < 1:
            raise CompanionError(f"need n, batch_size and batches >= 1, got {n}, {batch_size}, {batches}")
        self.n, self.batch_size, self.batches, self.seed, self.epoch = int(n), int(batch_size), int(batches), \
            int(seed), 0
        self.scales = tuple(check_scale(s) for s in scales)
        if not self.scales:
            raise CompanionError("scales is empty; give at least one scale from 2 to 8")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        rng = np.random.default_rng([self.seed, 2, self.epoch])
        for _ in range(self.batches):
            scale = self.scales[int(rng.integers(len(self.scales)))]
            yield [(int(i), scale) for i in rng.integers(0, self.n, self.batch_size)]


# --------------------------------------------------------------------------------------------------------
# Evaluation sets.


class SRBenchmark(Dataset):
    """An SR test set at one scale: items ``lr`` (3×h×w float32), ``hr`` (3×sh×sw), ``scale``, ``name``.

    ``name``: ``None`` or ``"embedded"`` (the embedded photographs, or those listed in ``names``), or one of
    :data:`BENCHMARKS` read from the data root ``root`` (``--data`` / ``$COMPANION_DATA`` / ``data/``):
    ``benchmark/<name>/HR/*.png`` (Set5, Set14, B100, Urban100 from ``python -m companion download Set5``;
    Manga109 by hand) or ``DIV2K/DIV2K_valid_HR/0801–0900.png`` (the DIV2K validation set of Table 3.1).
    Every HR image is cropped to a multiple of ``scale`` (top-left corner kept, MATLAB's ``modcrop``), then
    its LR image is made with :func:`bicubic_downscale` (MATLAB bicubic, rounded to 8 bits: ``lr="bicubic"``,
    the default) or read from the archive's MATLAB-made files (``lr="files"``: ``LR_bicubic/X<s>/`` or
    ``DIV2K_valid_LR_bicubic/X<s>/``, ×2–×4 only). Images are read and downscaled on first use and kept.
    """

    def __init__(self, name: str | None = None, scale: int = 4, *, root: str | os.PathLike | None = None,
                 names: Iterable[str] | None = None, lr: str = "bicubic", method: str = "matlab"):
        self.scale = check_scale(scale)
        self.method = _check_method(method)
        if lr not in ("bicubic", "files"):
            raise CompanionError(f"lr must be 'bicubic' (made here) or 'files' (the archive's), got {lr!r}")
        self.lr_source = lr
        if name is None or str(name).lower() == "embedded":
            self.name = "embedded"
            chosen = list(EMBEDDED_IMAGES) if names is None else list(names)
            unknown = [n for n in chosen if n not in EMBEDDED_IMAGES]
            if unknown:
                raise CompanionError(f"unknown embedded image {unknown[0]!r}; choose from: "
                                     f"{', '.join(EMBEDDED_IMAGES)}")
            if lr == "files":
                raise CompanionError("the embedded images have no LR files; use lr='bicubic'")
            self._paths: list[Path | None] = [None] * len(chosen)
            self.names = chosen
        else:
            paths = benchmark_paths(name, root)
            self.name = {b.lower(): b for b in BENCHMARKS}[str(name).lower()]
            if names is not None:
                wanted = set(names)
                paths = [p for p in paths if p.stem in wanted]
                if not paths:
                    raise CompanionError(f"none of {sorted(wanted)} is in {self.name}")
            if lr == "files" and self.scale not in (2, 3, 4):
                raise CompanionError(f"the archives' LR files exist for ×2, ×3 and ×4 only, not ×{self.scale}; "
                                     "use lr='bicubic'")
            if lr == "files" and self.name == "Manga109":
                raise CompanionError("Manga109 has no LR files in the download layout; use lr='bicubic'")
            self._paths = list(paths)
            self.names = [p.stem for p in paths]
        self._root = root
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.names)

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(LR, HR) float32 H×W×3 arrays in [0, 1] of image ``index`` (HR cropped to a multiple of the scale)."""
        if index not in self._cache:
            path = self._paths[index]
            hr = embedded_image(self.names[index]) if path is None else load_image(path)
            hr = modcrop(hr, self.scale)
            if self.lr_source == "files":
                lr_path = _official_lr_path(self.name, path, self.scale, self._root)
                lr = load_image(lr_path)
                if lr.shape[0] * self.scale != hr.shape[0] or lr.shape[1] * self.scale != hr.shape[1]:
                    raise CompanionError(f"{lr_path} is {lr.shape[1]}×{lr.shape[0]} px but its HR image, cropped "
                                         f"to ×{self.scale}, is {hr.shape[1]}×{hr.shape[0]}; the files do not "
                                         "match: download the set again")
            else:
                lr = bicubic_downscale(hr, self.scale, method=self.method)
            self._cache[index] = (lr, hr)
        return self._cache[index]

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        lr, hr = self.pair(index)
        return {"lr": to_chw(lr), "hr": to_chw(hr), "scale": self.scale, "name": self.names[index]}

    def protocol(self) -> dict:
        """What this set is, for a results file: set, scale, LR source, number of images."""
        return {"set": self.name, "scale": self.scale, "images": len(self),
                "lr": ("MATLAB-bicubic LR files of the archive" if self.lr_source == "files"
                       else f"{self.method} bicubic ×1/{self.scale}, 8-bit"),
                "hr": f"cropped to a multiple of {self.scale} (top-left)"}


_TRAINING_PATCHES: dict = {}  # per process: one SRPatches per (source, images, scale, patch, repeat, data root)


def training_patches(source: str, images: Sequence[str] = (), *, scale: int, patch: int, seed: int,
                     data_root: str | os.PathLike | None = None, repeat: int = 8) -> SRPatches:
    """The :class:`SRPatches` a chapter trains on, made once per process and shared: ``source="bundled"``
    takes the embedded photographs ``images`` (each ``repeat`` times per pass), ``source="data"`` DIV2K's
    training images under ``data_root`` (``images`` and ``repeat`` unused). The LR images are the costly part
    (:func:`bicubic_downscale` of every image), so a second call with the same data returns the same object
    with its ``seed`` (patch positions and flips) set to ``seed``."""
    if source not in ("bundled", "data"):
        raise CompanionError(f"source must be 'bundled' (embedded photographs) or 'data' (DIV2K), got {source!r}")
    key = (source, tuple(images) if source == "bundled" else (), int(scale), int(patch),
           int(repeat) if source == "bundled" else 1, str(data_root))
    if key not in _TRAINING_PATCHES:
        if source == "data":
            _TRAINING_PATCHES[key] = SRPatches.div2k(data_root, "train", scales=scale, patch=patch, seed=seed)
        else:
            _TRAINING_PATCHES[key] = SRPatches([embedded_image(n) for n in images], scales=scale, patch=patch,
                                               seed=seed, repeat=repeat)
    data = _TRAINING_PATCHES[key]
    data.seed = int(seed)
    return data


__all__ = ["SCALES", "METHODS", "BENCHMARKS", "check_scale", "modcrop", "bicubic_downscale", "bicubic_upscale",
           "lr_hr_pair", "benchmark_paths", "SRPatches", "training_patches", "collate_sr", "sr_batch",
           "OneScaleBatchSampler", "SRBenchmark"]
