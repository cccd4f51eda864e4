"""Profiles of the Chapter 2 notebooks: ``02a_carn`` (:class:`CARNConfig`); ``02b``–``02d`` add theirs here.

``02a_carn`` trains nothing: it explains CARN and CARN-M, counts their costs exactly (the same numbers at every
profile) and evaluates the authors' released weights, where the user has them, under the SR protocol
(:mod:`companion.data.sr`, :func:`companion.metrics.sr_scores`: MATLAB-bicubic LR, Y of BT.601, a border of
``scale`` px, 8-bit outputs).

* ``full``: Table 2.4's test sets (Set5, Set14, B100, Urban100 from the data folder: ``python -m companion
  download Set5`` fetches the four) at ×2, ×3 and ×4, whole images; the numbers sit beside Table 2.4's cells.
* ``quick``: the eleven embedded photographs, whole, at ×4 on a CPU (about 30 s a model on two busy cores).
  They are not Set5 or B100: absolute PSNRs are not comparable with the paper's, only the gain over bicubic.
* ``smoke``: two embedded images, 64-px centre crops, ×4.

The weights are looked up, never downloaded: first where ``python -m companion download NAME`` puts them
(``<data root>/weights/``), then in ``weights_search`` (folders holding the authors' own files, e.g.
``carn_m.pth``; relative paths are read from the repository root).
"""
from __future__ import annotations

from dataclasses import dataclass

#: Table 2.4's test sets, in the order the table prints them.
PAPER_SETS = ("Set5", "Set14", "B100", "Urban100")


@dataclass(frozen=True)
class CARNConfig:
    """02a: CARN / CARN-M architecture, exact costs, and the authors' weights under the SR protocol."""

    source: str                      # "bundled" (embedded images) or "data" (benchmark sets under the data root)
    eval_sets: tuple[str, ...]       # "embedded", or names of companion.data.sr.BENCHMARKS
    images: int                      # embedded images evaluated (0 = all eleven)
    crop: int                        # centre crop of each HR image, px (0 = whole image)
    scales: tuple[int, ...]          # scales evaluated (×4 is Fig. 2.9's)
    weights: tuple[str, ...]         # companion.ch2.authors_weights.RELEASES names, evaluated when found
    weights_search: tuple[str, ...]  # further folders holding the authors' files (relative: to the repo root)
    readings_images: int             # embedded images of the readings / concat check (0 = skip it)
    readings_crop: int               # their centre crop, px
    tiles: tuple[int, int]           # companion.engine.inference.restore tiling ((1, 1) = whole image)
    overlap: int                     # context around each tile, LR px
    figure_sets: tuple[str, ...]     # Table 2.4 sets drawn as panels of the Fig. 2.9 bubble plot
    ratio_groups: tuple[int, ...]    # group counts G of the Eq. 2.10 curve (divisors of 64)

    def required_folders(self) -> tuple[str, ...]:
        """Folders that must exist under the data root before the notebook starts (checked by the runner)."""
        if self.source != "data":
            return ()
        return tuple("DIV2K" if s == "DIV2K" else f"benchmark/{s}" for s in self.eval_sets)


_GROUPS = (1, 2, 4, 8, 16, 32, 64)
#: Where this project's sessions keep copies of the authors' files (beside the checkout); absent in a user's
#: clone, which then finds the weights only where the download command puts them.
_SHARED_WEIGHTS = ("../shared/weights",)

CARN_PROFILES = {
    "smoke": CARNConfig(source="bundled", eval_sets=("embedded",), images=2, crop=64, scales=(4,),
                        weights=("carn-m",), weights_search=_SHARED_WEIGHTS, readings_images=1, readings_crop=64,
                        tiles=(1, 1), overlap=8, figure_sets=PAPER_SETS, ratio_groups=_GROUPS),
    "quick": CARNConfig(source="bundled", eval_sets=("embedded",), images=0, crop=0, scales=(4,),
                        weights=("carn-m", "pcarn-m-l1", "carn"), weights_search=_SHARED_WEIGHTS,
                        readings_images=3, readings_crop=256, tiles=(1, 1), overlap=16, figure_sets=PAPER_SETS,
                        ratio_groups=_GROUPS),
    # Table 2.4's protocol: the four test sets at ×2, ×3, ×4, whole images.
    "full": CARNConfig(source="data", eval_sets=PAPER_SETS, images=0, crop=0, scales=(2, 3, 4),
                       weights=("carn-m", "pcarn-m-l1", "carn"), weights_search=_SHARED_WEIGHTS,
                       readings_images=3, readings_crop=256, tiles=(1, 1), overlap=16, figure_sets=PAPER_SETS,
                       ratio_groups=_GROUPS),
}

#: notebook stem -> {profile: config}; see :mod:`companion.profiles`.
NOTEBOOKS: dict[str, dict[str, object]] = {"02a_carn": CARN_PROFILES}
