"""Profiles of ``06a_distortion_datasets``: the Flickr-Distortion classification and detection sets (§6.2)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DistortionDatasetsConfig:
    source: str           # "bundled" (embedded images) or "data" (COMPANION_DATA/flickr_references/)
    references: int       # reference images used when bundled (0 = all embedded images)
    reference_crop: int   # centre-crop the bundled copies to this side (0 = full size; >= 300 for detection)
    example_size: int     # side of the crop shown in the 8 x 3 grid, pixels
    per_reference: int    # detection images per reference (paper: 20)
    workers: int          # generator processes
    statistics_plans: int  # sampled detection plans per set for the measured region statistics

    def required_folders(self) -> tuple[str, ...]:
        """Folders that must exist under the data root before the notebook starts (checked by the runner)."""
        return ("flickr_references",) if self.source == "data" else ()


PROFILES = {
    "smoke": DistortionDatasetsConfig(source="bundled", references=3, reference_crop=300, example_size=64,
                                      per_reference=1, workers=1, statistics_plans=100),
    "quick": DistortionDatasetsConfig(source="bundled", references=0, reference_crop=0, example_size=256,
                                      per_reference=4, workers=2, statistics_plans=5000),
    # Paper scale: 804 Flickr references x 24 classification images (19,296) and x 20 per detection set (16,080).
    "full": DistortionDatasetsConfig(source="data", references=0, reference_crop=0, example_size=300,
                                     per_reference=20, workers=16, statistics_plans=20000),
}

#: Notebook file stem -> its profiles; :mod:`companion.profiles` collects these from every chapter package.
NOTEBOOKS = {"06a_distortion_datasets": PROFILES}
