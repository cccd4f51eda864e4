"""Profiles of ``00_quickstart``: distort part of an embedded image, restore it, measure PSNR."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QuickstartConfig:
    image: str            # an embedded scikit-image picture (companion.data.images.EMBEDDED_IMAGES)
    size: int             # side of the centre crop, pixels (>= 128 for the SHDD preview)
    noise_variance: float  # Gaussian noise variance inside the distorted box (SHDD range: 0.005-0.02)
    blur_sigma: float     # Gaussian blur sigma inside the second box (SHDD range: 1.0-2.5)
    nlm_h: float          # strength of the non-local-means restoration (scikit-image's h)


PROFILES = {
    "smoke": QuickstartConfig(image="astronaut", size=128, noise_variance=0.02, blur_sigma=2.0, nlm_h=0.08),
    "quick": QuickstartConfig(image="astronaut", size=256, noise_variance=0.02, blur_sigma=2.0, nlm_h=0.08),
    "full": QuickstartConfig(image="astronaut", size=512, noise_variance=0.02, blur_sigma=2.0, nlm_h=0.08),
}

#: Notebook file stem -> its profiles; :mod:`companion.profiles` collects these from every chapter package.
NOTEBOOKS = {"00_quickstart": PROFILES}
