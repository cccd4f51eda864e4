"""Profiles of ``06a_distortion_datasets``: the Flickr-Distortion classification and detection sets (§6.2)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DistortionDatasetsConfig:
    source: str          # "bundled" (embedded images) or "data" (a folder of references under COMPANION_DATA)
    references: int      # reference images used (0 = all the source has)
    example_size: int    # side of the crop shown in the 8 × 3 grid, pixels
    per_reference: int   # detection images per reference (paper: 20)
    workers: int         # generator processes
    build: bool          # also write the dataset to disk through the CLI's code path


PROFILES = {
    "smoke": DistortionDatasetsConfig(source="bundled", references=1, example_size=48, per_reference=2,
                                      workers=1, build=True),
    "quick": DistortionDatasetsConfig(source="bundled", references=0, example_size=256, per_reference=4,
                                      workers=2, build=True),
    # Paper scale: 804 Flickr references × 24 classification images (19,296) and × 20 per detection set (16,080).
    "full": DistortionDatasetsConfig(source="data", references=0, example_size=300, per_reference=20,
                                     workers=16, build=True),
}
