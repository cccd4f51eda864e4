"""Profiles of the Chapter 7 model notebooks: ``07b_mepsnet_training``, ``07c_ablations``, ``07d_what_experts_learn``.

One dataclass serves the three notebooks (they share the data, the trainer and the evaluation); each has its
own ``smoke`` / ``quick`` / ``full`` instances below.

* ``full`` is the paper (§7.5): SHDD from DIV2K, moderate level for training, batch 16 of 80×80 patches
  (48×48 for the analysis models of §7.5.2), 1.2M iterations, Adam (0.9, 0.99, 1e-8), weight decay 1e-4,
  LR 1e-4 halved at 120K and 300K, the paper-size models, evaluation on the 50 test images of every level
  with the authors' 2×4 tiling, bf16 and channels-last on the GPU.
* ``quick`` is a CPU-laptop scale, chosen so each notebook runs in about 15 minutes on 2 cores: the embedded
  images (centre-cropped to 256 px: 7 train, 1 val, 1 test image, 12 distorted versions each), small
  variants of every model (``QUICK_CONFIG`` in each model's module), and **the same CPU budget for every
  model**: ``max_seconds`` of training on one core (two runs go side by side, one thread each), so a bigger
  model takes fewer steps; 3 seeds. To make the most of a few hundred to a few thousand steps it uses
  batches of 8 patches of 32×32 and a constant learning rate of 2e-3 (paper: 16 × 80×80, 1e-4 halved at
  120K and 300K): measured with 5e-4 and 16 × 48×48 in a 35 s budget, DnCNN ended 4 dB and MEPSNet 12 dB
  below the distorted input's PSNR. Its 256-px test images are restored whole (the 2×4 tiling of the authors' test code
  only bounds memory on 2K images; smoke and full use it). Everything else is the paper's.
* ``smoke`` runs every code path in seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class MEPSNetExperimentConfig:
    # data
    source: str                     # "bundled" (embedded images) or "data" (DIV2K under COMPANION_DATA)
    references: int                 # bundled: clean images used (0 = all 9)
    reference_crop: int             # bundled: centre-crop side in px (0 = full size)
    versions: int                   # distorted versions per clean image (paper: 12)
    workers: int                    # generator processes
    train_level: str                # the paper trains on "moderate" only
    eval_levels: tuple[str, ...]
    eval_images: int                # test images evaluated per level (0 = all)
    # models and training
    models: tuple[str, ...]         # keys of companion.models.MODELS (07b)
    size: str                       # "quick" or "paper": which *_CONFIG of each model
    seeds: int                      # training seeds per model: SEED, SEED + 1, ...
    steps: int
    max_seconds: float | None       # training budget per model (quick: the same CPU budget for all)
    batch_size: int
    patch_size: int
    lr: float
    milestones: tuple[int, ...]
    bf16: bool
    channels_last: bool
    checkpoint_every: int
    val_every: int                  # validation PSNR (SHDD val split, shown in the progress bar) every N steps
    cache: bool                     # keep decoded training images in memory
    train_workers: int              # CPU: (variant, seed) runs trained in parallel, one thread each
    # evaluation
    tiles: tuple[int, int]          # the authors' test code: 2 rows × 4 columns
    overlap: int
    # 07c: ablations (sizes relative to the profile's MEPSNet size)
    blocks_sweep: tuple[int, ...]   # SResidual blocks per SRIR (Fig. 7.6, left)
    templates_sweep: tuple[int, ...]  # templates K (Fig. 7.6, right)
    total_blocks: int               # Table 7.4: blocks in the whole expert module (paper 36)
    # 07d: analysis
    tsne_per_label: int             # pixel features per distortion type for t-SNE
    analysis_size: int              # side of the analysis images (0 = full test image)

    def required_datasets(self) -> tuple[str, ...]:
        """Datasets that must exist under the data root before the notebook starts (checked by the runner)."""
        return ("shdd",) if self.source == "data" else ()


ALL_MODELS = ("dncnn", "vdsr", "owan", "ridnet", "mepsnet")

_SMOKE = MEPSNetExperimentConfig(
    source="bundled", references=3, reference_crop=224, versions=1, workers=1, train_level="moderate",
    eval_levels=("easy", "moderate", "difficult"), eval_images=1, models=ALL_MODELS, size="quick", seeds=2,
    steps=2, max_seconds=None, batch_size=2, patch_size=32, lr=2e-3, milestones=(), bf16=False,
    channels_last=False, checkpoint_every=1, val_every=1, cache=True, train_workers=1, tiles=(2, 4), overlap=16, blocks_sweep=(1, 2),
    templates_sweep=(4, 8), total_blocks=6, tsne_per_label=20, analysis_size=128)

_QUICK = MEPSNetExperimentConfig(
    source="bundled", references=0, reference_crop=256, versions=12, workers=2, train_level="moderate",
    eval_levels=("easy", "moderate", "difficult"), eval_images=12, models=ALL_MODELS, size="quick", seeds=3,
    steps=100_000, max_seconds=80.0, batch_size=8, patch_size=32, lr=2e-3, milestones=(), bf16=False,
    channels_last=False, checkpoint_every=200, val_every=0, cache=True, train_workers=2, tiles=(1, 1), overlap=16, blocks_sweep=(1, 2, 4),
    templates_sweep=(4, 8, 16, 32), total_blocks=6, tsne_per_label=150, analysis_size=256)

_FULL = MEPSNetExperimentConfig(
    source="data", references=0, reference_crop=0, versions=12, workers=16, train_level="moderate",
    eval_levels=("easy", "moderate", "difficult"), eval_images=0, models=ALL_MODELS, size="paper", seeds=1,
    steps=1_200_000, max_seconds=None, batch_size=16, patch_size=80, lr=1e-4, milestones=(120_000, 300_000),
    bf16=True, channels_last=True, checkpoint_every=5_000, val_every=5_000, cache=False, train_workers=1, tiles=(2, 4), overlap=16,
    blocks_sweep=(6, 12, 15), templates_sweep=(4, 8, 16, 32), total_blocks=36, tsne_per_label=500,
    analysis_size=512)

TRAINING = {"smoke": _SMOKE, "quick": _QUICK, "full": _FULL}

# 07c: 11 distinct models × 3 seeds on the quick profile, so a smaller budget per model; the analysis models
# of §7.5.2 use 48×48 patches (full profile).
ABLATIONS = {"smoke": replace(_SMOKE, eval_levels=("moderate",)),
             "quick": replace(_QUICK, max_seconds=40.0, eval_levels=("moderate",)),
             "full": replace(_FULL, patch_size=48, eval_levels=("moderate",))}

# 07d: one MEPSNet, trained longer on the quick profile (48×48 patches, as the analysis models of §7.5.2).
ANALYSIS = {"smoke": replace(_SMOKE, seeds=1, eval_levels=("moderate",)),
            "quick": replace(_QUICK, max_seconds=150.0, seeds=1, eval_levels=("moderate",), val_every=100),
            "full": replace(_FULL, patch_size=48, eval_levels=("moderate",))}
