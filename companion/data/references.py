"""Where a notebook's clean images come from: the embedded pictures, a subset of them, or a real dataset.

``source="bundled"`` with ``limit=0`` is the generators' own ``--source bundled``. A positive ``limit`` copies
the first ``limit`` embedded pictures (sorted by name) into a folder and hands that folder to the generator,
which is the very code path of a user's own folder of images. ``source="data"`` uses a folder under the data
root (``COMPANION_DATA``) that the chapter names (``DIV2K``, ``flickr_references``, ...).
"""
from __future__ import annotations

from pathlib import Path

from skimage.transform import resize

from companion.data.folders import data_root
from companion.data.images import EMBEDDED_IMAGES, centre_square, embedded_image, save_image
from companion.errors import CompanionError

def fit_square(image, side: int):
    """Centre-crop ``image`` to a square, then resize it (anti-aliased) to ``side``×``side``."""
    square = centre_square(image, min(image.shape[:2]))
    if square.shape[0] == side:
        return square
    return resize(square, (side, side), anti_aliasing=square.shape[0] > side).astype("float32")


def prepare_source(source: str, folder_name: str, *, limit: int = 0, crop: int = 0, work_dir: Path | None = None,
                   root: Path | None = None):
    """Return what a generator takes as ``source``: "bundled" or a folder.

    With ``source="bundled"``, ``limit`` > 0 or ``crop`` > 0 writes the first ``limit`` embedded pictures (all
    when 0), centre-cropped to ``crop`` px (whole when 0), into a folder under ``work_dir`` and returns it.
    With ``source="data"``, returns ``<data root>/<folder_name>`` after checking it exists.
    """
    if source == "bundled":
        if limit <= 0 and crop <= 0:
            return "bundled"
        if work_dir is None:
            raise CompanionError("a limited or cropped bundled source needs a work folder to copy the images into")
        names = sorted(EMBEDDED_IMAGES)[:limit] if limit > 0 else sorted(EMBEDDED_IMAGES)
        folder = Path(work_dir) / f"references-{len(names)}-{crop}"
        for name in names:
            if not (folder / f"{name}.png").exists():
                image = embedded_image(name)
                save_image(folder / f"{name}.png", centre_square(image, crop, name) if crop else image)
        return folder
    if source == "data":
        folder = data_root(root) / folder_name
        if not folder.is_dir():
            raise CompanionError(f"dataset folder {folder} is missing; put {folder_name} there (see "
                                 "data/README.md), set COMPANION_DATA, or use the quick profile")
        return folder
    raise CompanionError(f"unknown source {source!r}; use 'bundled' or 'data'")


def first_test_image(clean) -> "np.ndarray":
    """The first test image of a generator's clean images (else the first image), as float32 H×W×3."""
    test = [c for c in clean if c.split == "test"] or list(clean)
    return test[0].load()
