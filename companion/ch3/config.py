"""The experiment of the Chapter 3 notebook ``03_progressive_x8``, declared once (:class:`ProgressiveSpec`):
progressive CARN for ×8 super-resolution, its staged training (Algorithm 1), Table 3.1's costs, Tables
3.1-3.2's PSNR at a profile's scale, and the geometric self-ensemble "+".

A spec holds the data split (:attr:`ProgressiveSpec.split`), the model (``size``, ``baseline``), the training
recipe (:class:`StageRecipe`) and the seeds; ``quick`` and ``smoke`` are ``replace(full, ...)`` with one
comment per override. The costs (Table 3.1's parameters and Mult-Adds of the paper-size models for a 1920×1080
output) are exact at every profile. What is trained:

* ``full``: the thesis' setting (§3.4.1): the paper-size model (three B8U4 modules, C = 64), DIV2K's 800
  training images, ×8 MATLAB-bicubic LR, 48×48 LR patches with flips and rotations, batch 32 / 8 / 2 for
  1.5×10⁵ / 2×10⁵ / 3×10⁵ steps, Adam at γ = 10⁻⁴ with Algorithm 1's decay of the earlier modules, scored on
  Table 3.2's four sets and DIV2K's validation images (Table 3.1); the single-stage CARN-B24U4 reading of
  Table 3.1 trained for the same 6.5×10⁵ steps at batch 2. For a GPU.
* ``quick``: the quick-size model, eight embedded photographs to train on (:data:`SPLIT`), 12×12 LR patches,
  batch 16 / 4 / 1, 900 / 1,200 / 1,800 steps, a constant learning rate of 10⁻³, the L1 loss, three seeds,
  scored on the three test photographs whole; both models come from the model zoo when it holds them
  (:mod:`companion.ch3.zoo`), so the notebook then only evaluates.
* ``smoke``: every code path in seconds (6-px LR patches, 2 steps a stage, one 64-px test crop).

The stage settings and the run settings that key a checkpoint (:func:`stage_train_config`,
:func:`run_settings`) are read from the spec here, so the zoo and the experiment share them without importing
each other.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from companion.data.splits import EMBEDDED_SR, Split
from companion.engine.settings import TrainConfig

#: The split of ``03_progressive_x8``'s embedded photographs. Chapter 3 chooses nothing on a validation image
#: (its settings are the paper's, scaled), so the embedded split's validation photograph trains with the seven
#: training ones (eight, in alphabetical order: the order the patches are drawn in); the test photographs are
#: scored once per recipe.
SPLIT = Split(train=tuple(sorted(EMBEDDED_SR.train + EMBEDDED_SR.validation)), validation=(),
              test=EMBEDDED_SR.test)
#: Table 3.2's test sets, in its order; Table 3.1's PSNR column is DIV2K's validation set.
PAPER_SETS = ("Set5", "Set14", "B100", "Urban100")
#: Labels of the runs, as Tables 3.1-3.2 name them.
LABELS = {"bicubic": "Bicubic", "progressive": "Progressive CARN", "progressive+": "Progressive CARN+",
          "end": "CARN-B24U4 (one stage)", "progressive-direct": "progressive network, one stage"}
#: The notebook whose experiment this is (part of every checkpoint's key).
NOTEBOOK = "03_progressive_x8"


def baseline_label(layout: str) -> str:
    """How the notebook names the single-stage baseline of ``layout``."""
    return LABELS["end"] if layout == "end" else LABELS["progressive-direct"]


@dataclass(frozen=True)
class StageRecipe:
    """Algorithm 1's training recipe: per stage a batch and a number of steps on ``patch``-px LR patches,
    Adam settings and γ (``train``; its steps / batch_size are replaced per stage), the decay of the earlier
    modules, the loss; the single-stage baseline trains for the stages' total steps at ``baseline_batch``."""

    patch: int                       # LR patch side (the ×8 input)
    batches: tuple[int, int, int]    # batch size of stages 1, 2, 3
    steps: tuple[int, int, int]      # steps of stages 1, 2, 3
    train: TrainConfig               # Adam settings and γ
    decay: str                       # "algorithm" (Algorithm 1, cumulative 0.1x) or "prose" (0.1x once)
    loss: str                        # companion.engine.loop.LOSSES key
    baseline_batch: int              # the single-stage baseline's batch size

    @property
    def total_steps(self) -> int:
        return int(sum(self.steps))


@dataclass(frozen=True)
class ProgressiveSpec:
    """03: progressive CARN ×8 (Chapter 3): staged training, each stage's head against bicubic, the
    self-ensemble, a single-stage baseline, and the exact costs of Table 3.1."""

    source: str                      # "bundled" (embedded photographs, split) or "data" (DIV2K + benchmark sets)
    split: Split                     # embedded photographs trained on / scored ("bundled")
    size: str                        # model size ("quick" or "paper": companion.models.progressive_carn configs)
    baseline: str                    # "" (none) or a ProgressiveCARN layout trained in one stage ("end": CARN-B24U4)
    recipe: StageRecipe              # the training recipe
    seeds: int                       # seeds (0, 1, ...)
    eval_sets: tuple[str, ...]       # "embedded" (split.test) or companion.data.sr.BENCHMARKS names ("DIV2K")
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


def stage_train_config(spec: ProgressiveSpec, stage: int, seed: int) -> TrainConfig:
    """The loop's settings for stage ``stage`` (1-based; 0 = the single-stage baseline): the recipe's ``train``
    with that stage's steps and batch (the baseline: the total steps at ``baseline_batch``) and ``seed`` (mixed
    with the stage, so every stage draws its own batches)."""
    recipe = spec.recipe
    if stage == 0:
        return replace(recipe.train, steps=recipe.total_steps, batch_size=recipe.baseline_batch, seed=int(seed))
    return replace(recipe.train, steps=int(recipe.steps[stage - 1]), batch_size=int(recipe.batches[stage - 1]),
                   seed=int(seed) * 10 + stage)


def run_settings(spec: ProgressiveSpec, kind: str, seed: int, stage: int) -> dict:
    """Everything that decides one trained stage (``kind``: ``"progressive"`` or ``"baseline"``; stage 0 for the
    baseline): the model, data, patch, loss, decay and the training settings of this and every earlier stage.
    Its digest names the checkpoint and keys the zoo entry."""
    def train(s):
        return {k: v for k, v in asdict(stage_train_config(spec, s, seed)).items()
                if k not in ("checkpoint_every", "val_every")}

    stages = [train(s) for s in range(1, stage + 1)] if kind == "progressive" else [train(0)]
    layout = "progressive" if kind == "progressive" else spec.baseline
    recipe = spec.recipe
    # the field ``what`` holds the kind: renaming a key field would change every committed ch3 zoo digest
    return dict(notebook=NOTEBOOK, what=kind, layout=layout, seed=int(seed), stage=int(stage), size=spec.size,
                source=spec.source, train_images=list(spec.split.train), patch=recipe.patch, loss=recipe.loss,
                decay=recipe.decay, stages=stages)


# --------------------------------------------------------------------------------------------------------
# The profiles.

#: §3.4.1: batch 32 / 8 / 2 for 1.5e5 / 2e5 / 3e5 steps (stages 1, 2, 3), 48×48 LR patches, Adam, γ = 1e-4.
PAPER_RECIPE = StageRecipe(patch=48, batches=(32, 8, 2), steps=(150_000, 200_000, 300_000),
                           train=TrainConfig(steps=1, batch_size=1, lr=1e-4, betas=(0.9, 0.999), eps=1e-8),
                           decay="algorithm", loss="l1", baseline_batch=2)

# The thesis' experiment (§3.4.1) at paper size, for a GPU.
FULL = ProgressiveSpec(source="data", split=Split((), (), ()), size="paper", baseline="end", recipe=PAPER_RECIPE,
                       seeds=1, eval_sets=(*PAPER_SETS, "DIV2K"), eval_crop=0, ensemble=True, figure_image="",
                       figure_crop=160, workers=1)

QUICK = replace(
    FULL,
    source="bundled",           # the embedded photographs: no download, a CPU
    split=SPLIT,                # eight of them train, three are scored
    size="quick",               # C = 16, B = 2, U = 2: every part of the paper's model, smaller
    recipe=replace(
        PAPER_RECIPE,
        patch=12,               # 12×12 LR patches: the photographs are small and a CPU is slow
        batches=(16, 4, 1),     # the paper's 4:1 ratios: every step of every stage sees the same output pixels
        steps=(900, 1200, 1800),  # the paper's 1.5 : 2 : 3, sized to the notebook's ~5 minutes on two cores
        train=replace(PAPER_RECIPE.train, lr=1e-3),  # the paper's 1e-4 is too slow for a short run (not tuned)
        baseline_batch=1,       # the last stage's batch, as the paper's 2 is
    ),
    seeds=3,                    # three seeds: the claims are judged over seeds and images
    eval_sets=("embedded",),    # the test photographs, not the paper's sets
    figure_image="rocket",      # a test photograph for Fig. 3.2's crops
    workers=2,                  # progressive and baseline side by side, one thread each
    use_zoo=True,               # the zoo ships these models: the notebook only evaluates
)

SMOKE = replace(
    QUICK,
    split=Split(train=("astronaut",), validation=(), test=("rocket",)),  # one image each way: seconds
    recipe=replace(QUICK.recipe, patch=6, batches=(4, 2, 1), steps=(2, 2, 2)),  # every code path, two steps each
    seeds=1,                    # one seed runs every path
    eval_crop=64,               # a 64-px crop of the test photograph
    figure_crop=48,             # within that crop
    workers=1,                  # nothing to run side by side
    use_zoo=False,              # the zoo holds the quick models, not these
)

PROGRESSIVE_PROFILES = {"smoke": SMOKE, "quick": QUICK, "full": FULL}

#: notebook stem -> {profile: config}; see :mod:`companion.profiles`.
NOTEBOOKS: dict[str, dict[str, object]] = {NOTEBOOK: PROGRESSIVE_PROFILES}
