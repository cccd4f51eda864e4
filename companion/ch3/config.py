"""Profiles of the Chapter 3 notebook ``03_progressive_x8`` (:class:`ProgressiveConfig`): progressive CARN for
×8 super-resolution, its staged training (Algorithm 1), Table 3.1's costs, Tables 3.1-3.2's PSNR at a profile's
scale, and the geometric self-ensemble "+".

The costs (Table 3.1's parameters and Mult-Adds of the paper-size models for a 1920×1080 output) are exact at
every profile. What is trained:

* ``full``: the thesis' setting (§3.4.1, :data:`PAPER_STAGES`): the paper-size model (three B8U4 modules, C = 64),
  DIV2K's 800 training images, ×8 MATLAB-bicubic LR, 48×48 LR patches with flips and rotations, batch 32 / 8 / 2
  for 1.5×10⁵ / 2×10⁵ / 3×10⁵ steps, Adam at γ = 10⁻⁴ with Algorithm 1's decay of the earlier modules,
  scored on Table 3.2's four sets and DIV2K's validation images (Table 3.1); the single-stage CARN-B24U4 reading of
  Table 3.1 trained for the same 6.5×10⁵ steps at batch 2. For a GPU.
* ``quick``: the quick-size model (C = 16, B = 2, U = 2: every part of the paper's, smaller), eight embedded
  photographs to train on (:data:`TRAIN_IMAGES`), 12×12 LR patches, batch 16 / 4 / 1 (the paper's 4:1 ratios,
  so every step of every stage sees the same number of output pixels, as the paper's 32 / 8 / 2 at 48 px do),
  900 / 1,200 / 1,800 steps (the paper's 1.5 : 2 : 3), a constant learning rate of 10⁻³ (the paper's 10⁻⁴ is
  too slow for a short run; never tuned on the test images), the L1 loss (CARN's, §2.4; Chapter 3 names
  none); one seed; scored on the three held-out photographs (:data:`HELD_OUT`) whole. The
  single-stage baseline (Table 3.1's CARN-B24U4 reading: the same three modules at LR resolution, one ×8
  upsampler at the end) trains for the same total number of steps at the last stage's batch, side by side with
  the progressive run (two processes, one thread each). Both come from the model zoo when it holds them
  (:mod:`companion.ch3.zoo`: ``checkpoints/ch3/03/``, the model after each stage and the baseline, trained with
  exactly these settings); then the notebook only evaluates, and trains what is missing or stale.
* ``smoke``: every code path in seconds (6-px LR patches, 2 steps a stage, one 64-px test crop).

The training images and the held-out photographs are the same split as ``02b_initialisation``'s (never trained
on, never used to choose a setting).
"""
from __future__ import annotations

from dataclasses import dataclass

from companion.engine.settings import TrainConfig

#: The embedded photographs held out for evaluation; the other eight train (the split of 02b and Chapter 7).
HELD_OUT = ("china", "flower", "rocket")
TRAIN_IMAGES = ("astronaut", "chelsea", "coffee", "hubble_deep_field", "ihc", "motorcycle_left",
                "motorcycle_right", "retina")
#: Table 3.2's test sets, in its order; Table 3.1's PSNR column is DIV2K's validation set.
PAPER_SETS = ("Set5", "Set14", "B100", "Urban100")

#: §3.4.1: batch 32 / 8 / 2 for 1.5e5 / 2e5 / 3e5 steps (stages 1, 2, 3), 48×48 LR patches, Adam, γ = 1e-4.
PAPER_STAGES = dict(batches=(32, 8, 2), steps=(150_000, 200_000, 300_000), patch=48)
PAPER_TRAINING = TrainConfig(steps=1, batch_size=1, lr=1e-4, betas=(0.9, 0.999), eps=1e-8)


@dataclass(frozen=True)
class ProgressiveConfig:
    """03: progressive CARN ×8 (Chapter 3): staged training, each stage's head against bicubic, the
    self-ensemble, a single-stage baseline, and the exact costs of Table 3.1."""

    source: str                      # "bundled" (embedded photographs) or "data" (DIV2K train + benchmark sets)
    size: str                        # model size ("quick" or "paper": companion.models.progressive_carn configs)
    patch: int                       # LR patch side (the ×8 input)
    batches: tuple[int, int, int]    # batch size of stages 1, 2, 3
    steps: tuple[int, int, int]      # steps of stages 1, 2, 3
    train: TrainConfig               # Adam settings and γ (its steps / batch_size are replaced per stage)
    decay: str                       # "algorithm" (Algorithm 1, cumulative 0.1x) or "prose" (0.1x once)
    loss: str                        # companion.engine.loop.LOSSES key
    baseline: str                    # "" (none) or a ProgressiveCARN layout trained in one stage ("end": CARN-B24U4)
    baseline_batch: int              # its batch size (its steps: the sum of the stages')
    seeds: int                       # seeds (SEED, SEED + 1, ...)
    train_images: tuple[str, ...]    # embedded photographs trained on ("bundled")
    eval_sets: tuple[str, ...]       # "embedded" or companion.data.sr.BENCHMARKS names ("DIV2K": its validation)
    eval_images: tuple[str, ...]     # the held-out embedded photographs ("embedded")
    eval_crop: int                   # centre crop of each HR test image, px (0 = whole image)
    ensemble: bool                   # also score the geometric self-ensemble "+" (8 passes)
    figure_image: str                # test image of the crops figure (Fig. 3.2 after the thesis)
    figure_crop: int                 # HR side of its crop, px
    workers: int                     # runs side by side on a CPU, one thread each
    use_zoo: bool = False            # load current ch3/03 zoo entries (companion.ch3.zoo) instead of training

    def required_folders(self) -> tuple[str, ...]:
        """Folders that must exist under the data root before the notebook starts (checked by the runner)."""
        if self.source != "data":
            return ()
        return ("DIV2K",) + tuple(f"benchmark/{s}" for s in self.eval_sets if s not in ("DIV2K", "embedded"))

    @property
    def total_steps(self) -> int:
        return int(sum(self.steps))


_QUICK_TRAIN = TrainConfig(steps=1, batch_size=1, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)

PROGRESSIVE_PROFILES = {
    "smoke": ProgressiveConfig(source="bundled", size="quick", patch=6, batches=(4, 2, 1), steps=(2, 2, 2),
                               train=_QUICK_TRAIN, decay="algorithm", loss="l1", baseline="end", baseline_batch=1,
                               seeds=1, train_images=("astronaut",), eval_sets=("embedded",),
                               eval_images=("rocket",), eval_crop=64, ensemble=True, figure_image="rocket",
                               figure_crop=48, workers=1),
    # CPU scale: see the module docstring; sized to fit the notebook's ~5 minutes on two cores.
    "quick": ProgressiveConfig(source="bundled", size="quick", patch=12, batches=(16, 4, 1), steps=(900, 1200, 1800),
                               train=_QUICK_TRAIN, decay="algorithm", loss="l1", baseline="end", baseline_batch=1,
                               seeds=3, train_images=TRAIN_IMAGES, eval_sets=("embedded",), eval_images=HELD_OUT,
                               eval_crop=0, ensemble=True, figure_image="rocket", figure_crop=160, workers=2,
                               use_zoo=True),
    # The thesis' experiment (§3.4.1) at paper size, for a GPU.
    "full": ProgressiveConfig(source="data", size="paper", patch=PAPER_STAGES["patch"],
                              batches=PAPER_STAGES["batches"], steps=PAPER_STAGES["steps"], train=PAPER_TRAINING,
                              decay="algorithm", loss="l1", baseline="end", baseline_batch=2, seeds=1,
                              train_images=(), eval_sets=(*PAPER_SETS, "DIV2K"), eval_images=(), eval_crop=0,
                              ensemble=True, figure_image="", figure_crop=160, workers=1),
}

#: notebook stem -> {profile: config}; see :mod:`companion.profiles`.
NOTEBOOKS: dict[str, dict[str, object]] = {"03_progressive_x8": PROGRESSIVE_PROFILES}
