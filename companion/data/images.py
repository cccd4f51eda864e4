"""Reading and writing images: embedded test images, 8-bit RGB files, PNG output and label maps.

Every image inside the companion is a float32 ``H×W×3`` array in ``[0, 1]``. Files on disk are 8-bit RGB;
:func:`load_image` refuses anything else (greyscale, alpha, 16-bit, CMYK, corrupt or truncated files) with a
one-line :class:`~companion.errors.CompanionError` that names the file and the fix, rather than converting
silently and changing what a PSNR figure means. One exception: a palette (``P`` mode) image whose palette
has colour is accepted and expanded to RGB, because a palette is only a lossless encoding of 8-bit RGB
pixels; a palette image whose pixels are all grey is refused as greyscale, one with transparency as alpha.
The EXIF orientation tag is applied on reading (``PIL.ImageOps.exif_transpose``), so a phone photograph stored
sideways comes back upright, as viewers show it; a file without the tag is returned in stored order.

:data:`EMBEDDED_IMAGES` are natural colour photographs that ship inside scikit-image's ``skimage/data``
folder and scikit-learn's ``sklearn/datasets/images`` (china, flower). They are read straight from those
folders with Pillow, never through ``skimage.data``'s fetchers, so no download (pooch) can ever be triggered.

:func:`save_image` writes PNG through :func:`companion.atomic.atomic_path`, with no metadata, so the same
array always gives the same bytes.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from companion.atomic import atomic_path
from companion.errors import CompanionError

# Natural colour photographs bundled with scikit-image (checked on scikit-image 0.26.0: all are 8-bit RGB
# files in skimage/data, outside the pooch-only registry entries) and with scikit-learn (1.9.1:
# sklearn/datasets/images, the two photographs of ``load_sample_images``). Synthetic or greyscale images
# (color, chessboard_RGB, camera, ...) and RGBA ones (logo, horse) are left out on purpose.
_EMBEDDED_FILES = {
    "astronaut": ("skimage", "data/astronaut.png"),                  # 512×512
    "chelsea": ("skimage", "data/chelsea.png"),                      # 300×451
    "china": ("sklearn", "datasets/images/china.jpg"),               # 427×640
    "coffee": ("skimage", "data/coffee.png"),                        # 400×600
    "flower": ("sklearn", "datasets/images/flower.jpg"),             # 427×640
    "hubble_deep_field": ("skimage", "data/hubble_deep_field.jpg"),  # 872×1000
    "ihc": ("skimage", "data/ihc.png"),                              # 512×512
    "motorcycle_left": ("skimage", "data/motorcycle_left.png"),      # 500×741
    "motorcycle_right": ("skimage", "data/motorcycle_right.png"),    # 500×741
    "retina": ("skimage", "data/retina.jpg"),                        # 1411×1411
    "rocket": ("skimage", "data/rocket.jpg"),                        # 427×640
}


def _package_dir(package: str) -> Path | None:
    """The installed folder of ``package``, found without importing it (so nothing can trigger a download)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


_PACKAGE_DIRS = {package: _package_dir(package) for package in {p for p, _ in _EMBEDDED_FILES.values()}}


def _embedded_path(name: str) -> Path | None:
    package, relative = _EMBEDDED_FILES[name]
    folder = _PACKAGE_DIRS[package]
    return None if folder is None else folder / relative


#: Names accepted by :func:`embedded_image`: the bundled photographs present in this install, sorted.
EMBEDDED_IMAGES: tuple[str, ...] = tuple(
    name for name in _EMBEDDED_FILES if (path := _embedded_path(name)) is not None and path.is_file()
)

class ImageFileError(CompanionError):
    """A file that is not a usable 8-bit RGB image. The message names the file and the fix; ``reason`` says
    what is wrong in a few words ("greyscale, mode L", "corrupt or truncated"), for lists of several bad files."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):  # keep ``reason`` when the error crosses a process pool
        return type(self), (str(self), self.reason)


_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_GREY_MODES = {"L", "1"}
_HIGH_DEPTH_MODES = {"I", "F", "I;16", "I;16L", "I;16B", "I;16N"}


def embedded_image(name: str) -> np.ndarray:
    """Load a bundled scikit-image photograph as float32 ``H×W×3`` in ``[0, 1]``; no network is used."""
    if name not in EMBEDDED_IMAGES:
        raise CompanionError(f"unknown embedded image {name!r}; choose one of: {', '.join(EMBEDDED_IMAGES)}")
    return load_image(_embedded_path(name))


def to_float(img: np.ndarray) -> np.ndarray:
    """uint8 → float32 in ``[0, 1]``; a float array is returned as float32 unchanged."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img.astype(np.float32) / np.float32(255)
    if np.issubdtype(img.dtype, np.floating):
        return img.astype(np.float32, copy=False)
    raise ValueError(f"to_float expects uint8 or float, got {img.dtype}")


def to_uint8(img: np.ndarray) -> np.ndarray:
    """float in ``[0, 1]`` → uint8 (clipped, rounded to nearest); a uint8 array is returned unchanged."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    if np.issubdtype(img.dtype, np.floating):
        if not np.all(np.isfinite(img)):
            raise ValueError("to_uint8 got NaN or infinite pixel values")
        return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    raise ValueError(f"to_uint8 expects uint8 or float, got {img.dtype}")


def _open(path: str | os.PathLike) -> tuple[Path, Image.Image]:
    """Open ``path`` with Pillow, turning missing and unreadable files into CompanionErrors.

    The pixels are not decoded yet: the caller inspects the mode and tile first (Pillow silently drops
    16-bit RGB PNGs to 8 bits on load), then calls :func:`_decode`.
    """
    p = Path(path)
    if not p.exists():
        raise ImageFileError(f"image file {p} does not exist; check the path", "does not exist")
    if not p.is_file():
        raise ImageFileError(f"{p} is not a file; pass the path of an image file", "not a file")
    try:
        return p, Image.open(p)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageFileError(f"cannot read image {p} ({exc}); the file is corrupt or not an image: "
                             "re-download it or re-export it as an 8-bit RGB PNG", "corrupt or not an image") from None


def _decode(p: Path, im: Image.Image) -> None:
    try:
        im.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageFileError(f"cannot decode image {p} ({exc}); the file is corrupt or truncated: "
                             "re-download it or re-export it as an 8-bit RGB PNG", "corrupt or truncated") from None


def _high_bit_depth(im: Image.Image) -> bool:
    return im.mode in _HIGH_DEPTH_MODES or any(";16" in str(tile.args) for tile in im.tile)


def _convert_hint(p: Path) -> str:
    """How to convert ``p`` to 8-bit RGB, into a new file beside it (never over the original)."""
    target = p.with_name(f"{p.stem}_rgb.png")
    return f"convert to 8-bit RGB in a new file, e.g. PIL: Image.open('{p}').convert('RGB').save('{target}')"


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # a broken EXIF block: the pixels are still readable, in stored order
        return 1


def _check_mode(p: Path, im: Image.Image) -> None:
    """Refuse anything but 8-bit RGB (or a colour palette) from the header alone."""
    mode = im.mode
    fix = _convert_hint(p)
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in im.info):
        raise ImageFileError(f"image {p} has an alpha channel ({mode}); flatten it onto a background and "
                             f"save it as 8-bit RGB", f"alpha channel, mode {mode}")
    if _high_bit_depth(im):
        raise ImageFileError(f"image {p} has more than 8 bits per channel ({mode}); {fix}",
                             f"more than 8 bits per channel, mode {mode}")
    if mode in _GREY_MODES:
        raise ImageFileError(f"image {p} is greyscale ({mode}); {fix}", f"greyscale, mode {mode}")
    if mode not in ("RGB", "P"):
        raise ImageFileError(f"image {p} is {mode}, not 8-bit RGB; {fix}", f"mode {mode}, not 8-bit RGB")


def check_image_file(path: str | os.PathLike) -> tuple[int, int]:
    """Check a file without decoding its pixels: readable, 8-bit RGB, intact; returns (width, height).

    Generators call this on every source file before writing anything, so a bad file in a folder of 800
    fails at once instead of after hours. Pillow's ``verify`` checks PNG chunk checksums and truncation;
    for other formats it checks less, and :func:`load_image` still decodes with full checks later.
    """
    p, im = _open(path)
    with im:
        _check_mode(p, im)
        size = im.size
        try:
            im.verify()
        except Exception as exc:  # Pillow raises many types from verify
            raise ImageFileError(f"cannot read image {p} ({exc}); the file is corrupt or truncated: "
                                 "re-download it or re-export it as an 8-bit RGB PNG", "corrupt or truncated") from None
    with Image.open(p) as again:  # verify() leaves the image unusable; the EXIF tag is read from a fresh handle
        turned = _orientation(again) in (5, 6, 7, 8)  # stored rotated by 90°: upright it is height × width
    return size[::-1] if turned else size


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an 8-bit RGB image file as float32 ``H×W×3`` in ``[0, 1]``, upright (EXIF orientation applied);
    anything else is refused."""
    p, im = _open(path)
    with im:
        mode = im.mode
        fix = _convert_hint(p)
        _check_mode(p, im)
        _decode(p, im)
        upright = ImageOps.exif_transpose(im) if _orientation(im) != 1 else im
        rgb = np.asarray(upright.convert("RGB") if mode == "P" else upright, dtype=np.uint8)
    if mode == "P" and np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        raise ImageFileError(f"image {p} is greyscale (a palette of grey levels); {fix}", "greyscale palette")
    return to_float(rgb)


def save_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write a float ``[0, 1]`` or uint8 image (``H×W×3`` or ``H×W``) as PNG, atomically, without metadata.

    Floats are clipped to ``[0, 1]`` and rounded to the nearest 8-bit level. The file is PNG whatever
    its suffix; the same array always produces the same bytes.
    """
    arr = to_uint8(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ValueError(f"save_image expects H×W×3 or H×W, got shape {arr.shape}")
    return _write_png(path, np.ascontiguousarray(arr))


def _write_png(path: str | os.PathLike, arr: np.ndarray) -> Path:
    # zlib level 1: on a 2040×1356 SHDD image 0.30 s and 4.2 MiB against 0.83 s and 3.9 MiB at level 6
    # (measured); the generators write tens of thousands of these, so speed wins.
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(arr).save(tmp, format="PNG", compress_level=1, optimize=False)
    return Path(path)


def save_label_map(path: str | os.PathLike, labels: np.ndarray) -> Path:
    """Write a uint8 ``H×W`` label map as a greyscale (mode ``L``) PNG, atomically."""
    labels = np.asarray(labels)
    if labels.dtype != np.uint8 or labels.ndim != 2:
        raise ValueError(f"save_label_map expects a uint8 H×W array, got {labels.dtype} {labels.shape}")
    return _write_png(path, np.ascontiguousarray(labels))


def load_label_map(path: str | os.PathLike) -> np.ndarray:
    """Read a label map written by :func:`save_label_map` as uint8 ``H×W``."""
    p, im = _open(path)
    with im:
        if im.mode != "L" or _high_bit_depth(im):
            raise CompanionError(f"label map {p} is {im.mode}, not an 8-bit greyscale PNG; regenerate it "
                                 "with save_label_map")
        _decode(p, im)
        return np.array(im, dtype=np.uint8)


def centre_crop_at_most(image: np.ndarray, side: int) -> np.ndarray:
    """The central square crop of ``min(side, height, width)`` px (a view): like :func:`centre_square`, but an
    image smaller than ``side`` gives its largest central square instead of an error (the SR evaluations' crop)."""
    h, w = image.shape[:2]
    side = min(side, h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top:top + side, left:left + side]


def centre_square(image: np.ndarray, side: int, name: str = "image", purpose: str = "crop",
                  fix: str = "lower the crop or use larger images") -> np.ndarray:
    """The central ``side``×``side`` crop (a view); CompanionError naming the image when it is smaller."""
    h, w = image.shape[:2]
    if min(h, w) < side:
        raise CompanionError(f"{name} is {w}×{h} px, smaller than the {side}×{side} {purpose}; both sides must be "
                             f"at least {side} px: {fix}")
    top, left = (h - side) // 2, (w - side) // 2
    return image[top:top + side, left:left + side]
