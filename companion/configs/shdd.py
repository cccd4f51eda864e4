"""Profiles of ``07a_shdd``: the spatially-heterogeneous distortion dataset (§7.3, seed 000 §3)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SHDDConfig:
    source: str              # "bundled" (embedded images) or "data" (DIV2K under COMPANION_DATA)
    references: int          # clean images used when bundled (0 = all embedded images)
    reference_crop: int      # centre-crop the bundled copies to this side (0 = full size)
    example_size: int        # side of the image in the Fig. 7.1 / 7.3 panels, pixels (>= 213 for difficult)
    statistics_plans: int    # sampled region plans per level for the measured region counts
    versions: int            # distorted versions per clean image (paper: 12)
    levels: tuple[str, ...]  # levels written to disk
    playground_size: int     # side of the image in the interactive playground (must feel live at 512)
    workers: int             # generator processes
    patch_size: int          # training crop of the torch dataset demo (paper: 80 for MEPSNet, 48 for analysis)


    def required_datasets(self) -> tuple[str, ...]:
        """Datasets that must exist under the data root before the notebook starts (checked by the runner)."""
        return ("shdd",) if self.source == "data" else ()


PROFILES = {
    "smoke": SHDDConfig(source="bundled", references=3, reference_crop=256, example_size=224, statistics_plans=50,
                        versions=1, levels=("easy",), playground_size=128, workers=1, patch_size=48),
    "quick": SHDDConfig(source="bundled", references=0, reference_crop=0, example_size=512, statistics_plans=2000,
                        versions=12, levels=("easy", "moderate", "difficult"), playground_size=512, workers=2,
                        patch_size=80),
    # Paper scale: DIV2K 0001-0800 train, 0801-0850 validation, 0851-0900 test; 12 versions (9,600 train images
    # per level); MEPSNet trains on 80x80 patches of the moderate level.
    "full": SHDDConfig(source="data", references=0, reference_crop=0, example_size=1024, statistics_plans=20000,
                       versions=12, levels=("easy", "moderate", "difficult"), playground_size=512, workers=16,
                       patch_size=80),
}
