"""Profiles of ``07a_shdd``: the spatially-heterogeneous distortion dataset (§7.3, seed 000 §3)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SHDDConfig:
    source: str            # "bundled" (embedded images) or "data" (DIV2K under COMPANION_DATA)
    example_size: int      # side of the images shown in Fig. 7.1 / 7.3 style panels, pixels
    versions: int          # distorted versions per clean image (paper: 12)
    levels: tuple[str, ...]
    playground_size: int   # side of the image in the interactive playground (issue: 512 must feel live)
    workers: int
    build: bool            # also write the dataset to disk through the CLI's code path


PROFILES = {
    "smoke": SHDDConfig(source="bundled", example_size=128, versions=1, levels=("easy", "moderate", "difficult"),
                        playground_size=128, workers=1, build=True),
    "quick": SHDDConfig(source="bundled", example_size=512, versions=12, levels=("easy", "moderate", "difficult"),
                        playground_size=512, workers=2, build=True),
    # Paper scale: DIV2K 0001-0800 train, 0801-0850 validation, 0851-0900 test; 12 versions (9,600 train images).
    "full": SHDDConfig(source="data", example_size=1024, versions=12, levels=("easy", "moderate", "difficult"),
                       playground_size=512, workers=16, build=True),
}
