"""Specs of the Chapter 7 notebooks: ``07a_shdd`` (:class:`SHDDConfig`) and the model notebooks
``07b_mepsnet_training``, ``07c_ablations``, ``07d_what_experts_learn`` (:class:`MEPSNetExperimentConfig`: one
frozen spec per experiment holding its data split, model size, training recipe and seeds), and
``07e_recognition_after_restoration`` (:class:`RecognitionConfig`: Table 7.2 and the image-level routing experiment).

Each notebook has a ``full`` spec, the paper (§7.5), and a ``quick`` spec written as ``replace(full, …)`` with
one comment per override saying why; ``smoke`` is ``replace(quick, …)`` cut down to run every code path in
seconds.

* ``full`` is the paper: SHDD from DIV2K (0001-0800 train, 0801-0850 validation, 0851-0900 test), moderate level
  for training, batch 16 of 80×80 patches (48×48 for the analysis models of §7.5.2), 1.2M iterations, Adam
  (0.9, 0.99, 1e-8), weight decay 1e-4, LR 1e-4 halved at 120K and 300K, the paper-size models, evaluation on
  the 50 test images of every level with the authors' 2×4 tiling, bf16 and channels-last on the GPU.
* ``quick`` is a CPU-laptop scale whose models ship in the zoo (``checkpoints/ch7``, :mod:`companion.ch7.zoo`),
  so the notebooks evaluate instead of training. Its data is :data:`SHDD_EMBEDDED_SPLIT` (the eleven embedded
  photographs at full size); targets, curves and every recipe choice are judged on its validation images,
  the test images are scored once per recipe and reported.

The dated history of the quick recipe (what was tried, on which split) is in ``docs/decisions.md``; the
learning-rate pilot behind ``model_lr`` is ``pilots/ch7_model_lr.py`` (its results file:
``pilots/results/ch7_model_lr.json``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from companion.data.splits import Split
from companion.engine.settings import TrainConfig

#: SHDD's split of the eleven embedded photographs (:data:`companion.ch7.shdd.BUNDLED_SPLITS` is its SHDD form):
#: ``chelsea`` chooses (validation curves, the +1 dB target, pilots), three everyday scenes are scored once
#: per recipe (4 versions each per level in the quick profile), the other seven (4.4 Mpx) train.
SHDD_EMBEDDED_SPLIT = Split(
    train=("astronaut", "coffee", "hubble_deep_field", "ihc", "motorcycle_left", "motorcycle_right", "retina"),
    validation=("chelsea",), test=("china", "flower", "rocket"))


@dataclass(frozen=True)
class SHDDConfig:
    """07a: the spatially-heterogeneous distortion dataset (§7.3, seed 000 §3)."""

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

    def required_folders(self) -> tuple[str, ...]:
        """Folders that must exist under the data root before the notebook starts (checked by the runner)."""
        return ("DIV2K",) if self.source == "data" else ()


@dataclass(frozen=True)
class MEPSNetExperimentConfig:
    """07b-07d: the models of Table 7.1 and the ablations of §7.5.2 on SHDD."""

    # data
    source: str                     # "bundled" (embedded images) or "data" (DIV2K under COMPANION_DATA)
    references: int                 # bundled: clean images used (0 = all 9)
    reference_crop: int             # bundled: centre-crop side in px (0 = full size)
    versions: int                   # distorted versions per clean image (paper: 12)
    workers: int                    # generator processes
    train_level: str                # the paper trains on "moderate" only
    eval_levels: tuple[str, ...]
    eval_versions: int              # distorted versions of each test photograph evaluated per level (0 = all)
    patch_size: int                 # training crops (paper: 80; 48 for the analysis models)
    cache: bool                     # keep decoded training images in memory
    permute_channels: bool          # random RGB order per training pair (not in the paper; see SHDDTrain)
    # models and training
    models: tuple[str, ...]         # names in companion.models.MODELS (07b)
    size: str                       # "quick" or "paper": which *_CONFIG of each model
    seeds: int                      # training seeds per model: SEED, SEED + 1, ...
    loss: str                       # a key of companion.engine.loop.LOSSES (paper: "l2")
    train: TrainConfig              # steps, batch, LR schedule, Adam, bf16, time budget (seed set per run)
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
    # a model's own learning rate, where it differs from train.lr: ((model name, lr), ...), chosen on validation
    model_lr: tuple[tuple[str, float], ...] = ()
    # 07c: overrides of the profile's MEPSNet that every ablation variant starts from ((argument, value), ...)
    ablation_base: tuple[tuple[str, object], ...] = ()
    # the embedded photographs' split (bundled source); None for DIV2K's numbered split (full profile)
    split: Split | None = None
    # where the zoo holds the models this spec trains: checkpoints/ch7/<zoo_group>/ (not part of any digest)
    zoo_group: str = "07b"

    def required_folders(self) -> tuple[str, ...]:
        """Folders that must exist under the data root before the notebook starts (checked by the runner)."""
        return ("DIV2K",) if self.source == "data" else ()


SHDD = {
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

ALL_MODELS = ("dncnn", "vdsr", "owan", "ridnet", "mepsnet")

#: The pixel scale the paper's optimiser settings refer to. The authors' code (sijinkim/MEPSNet_dev,
#: ``mepsnet/data/dataset.py`` ``ToTensorWithoutScaling``, ``mepsnet/solver.py``) trains on 0-255 pixel values
#: with ``nn.MSELoss`` and ``Adam(weight_decay=…)``; the companion's images are in [0, 1]. Adam's step does not
#: change when the loss is multiplied by a constant c, except through its two additive terms: the classic L2
#: term (gradient + wd·w) and ε (added to √v). With c = 255² both are exactly matched by dividing them by
#: 255², which :data:`PAPER_TRAINING` does. Taking "weight decay 1e-4" literally on [0, 1] images makes the L2
#: term 65,025× stronger relative to the loss than the authors' run: measured on the quick VDSR (3,000 steps,
#: validation image, input 27.93 dB) it held the network near the identity, 28.3 dB, against 29.6 dB with the
#: reference-equivalent term.
PIXEL_SCALE = 255.0

#: §7.5: "16 patches of 80×80, 1.2M iterations, ADAM (β1, β2, ε) = (0.9, 0.99, 1e-8), weight decay 1e-4,
#: learning rate 1e-4 halved at 120K and 300K iterations, pixel-wise L2 loss" (patch size and loss below);
#: ε and the weight decay as the authors apply them to 0-255 pixels (see :data:`PIXEL_SCALE`).
PAPER_TRAINING = TrainConfig(steps=1_200_000, batch_size=16, lr=1e-4, milestones=(120_000, 300_000), gamma=0.5,
                             betas=(0.9, 0.99), eps=1e-8 / PIXEL_SCALE**2, weight_decay=1e-4 / PIXEL_SCALE**2,
                             bf16=True, channels_last=True, checkpoint_every=5_000, val_every=5_000)

_FULL = MEPSNetExperimentConfig(
    source="data", references=0, reference_crop=0, versions=12, workers=16, train_level="moderate",
    eval_levels=("easy", "moderate", "difficult"), eval_versions=0, patch_size=80, cache=False,
    permute_channels=False, models=ALL_MODELS,
    size="paper", seeds=1, loss="l2", train=PAPER_TRAINING, train_workers=1, tiles=(2, 4), overlap=16,
    blocks_sweep=(6, 12, 15), templates_sweep=(4, 8, 16, 32), total_blocks=36, tsne_per_label=500,
    analysis_size=512)

_QUICK = replace(
    _FULL,
    # a CPU laptop has no DIV2K: the eleven embedded photographs at full size, 12 distorted versions each
    source="bundled", split=SHDD_EMBEDDED_SPLIT,
    # two generator processes for the small copy
    workers=2,
    # 4 versions of each test photograph per level (12 test images) keep one evaluation under a minute
    eval_versions=4,
    # the quick models see 32-px patches: 8 × 32×32 per step keeps a 9,000-step run near an hour on one thread
    patch_size=32,
    # the eleven photographs fit in memory; decoding them every step would dominate a small model's step
    cache=True,
    # three of the seven training photographs are not everyday colour scenes (hubble_deep_field, retina, ihc)
    # and the models learnt their colours; one random RGB order per training pair is exact for SHDD (every
    # distortion treats the channels alike) and was chosen on a photograph outside every split
    permute_channels=True,
    # small variants of every model (QUICK_CONFIG in each model's module): 11K-67K parameters
    size="quick",
    # three seeds: the paired interval of every claim (companion.summary.paired_interval) resamples them
    seeds=3,
    # Adam as the paper's, but the paper's 16 × 80×80 patches at 1e-4 learn too slowly for a few thousand
    # steps: 8 × 32×32 at 2e-3; a short run has no long tail, so the halvings come later than the paper's (10 %
    # and 25 %): at 3,000 steps and every 1,500 after (validation curves were still rising at 3,000 and 6,000,
    # and at a constant rate after 6,000 they swung between checkpoints); every model gets the same 9,000
    # steps, as the paper gives every model the same iterations; fp32 on the CPU; validation every 500 steps
    train=replace(PAPER_TRAINING, steps=9_000, batch_size=8, lr=2e-3, milestones=(3_000, 4_500, 6_000, 7_500),
                  bf16=False, channels_last=False, checkpoint_every=500, val_every=500),
    # the small models gain almost nothing from a second thread: two one-thread runs side by side
    train_workers=2,
    # the 256- to 640-px test images are restored whole (the 2×4 tiling only bounds memory on 2K images)
    tiles=(1, 1),
    # Fig. 7.6 and Table 7.4 at the quick model's depth (2 SRIRs): 1, 2 and 4 blocks per SRIR, 6 in all
    blocks_sweep=(1, 2, 4), total_blocks=6,
    # t-SNE on fewer pixels, analysis on smaller crops: minutes on a CPU instead of hours
    tsne_per_label=150, analysis_size=256,
    # at the shared 2e-3 a VDSR seed sat near the identity; the pilot (pilots/ch7_model_lr.py, judged on
    # validation by a rule fixed before it ran) moved VDSR alone to 1e-3
    model_lr=(("vdsr", 1e-3),))

_SMOKE = replace(
    _QUICK,
    # three photographs centre-cropped to 224 px, one version each: the data builds in seconds (a cut-down
    # copy, not the embedded split)
    references=3, reference_crop=224, versions=1, workers=1, eval_versions=1, split=None,
    # two seeds, so every mean ± std and paired interval has something to resample
    seeds=2,
    # two steps, validating and saving after each, run every code path of the loop
    train=replace(_QUICK.train, steps=2, batch_size=2, milestones=(), checkpoint_every=1, val_every=1),
    # one process; the paper's 2×4 tiling, so the tiled code path runs
    train_workers=1, tiles=(2, 4),
    # the shortest sweeps that still draw a line, and a few hundred pixels for t-SNE
    blocks_sweep=(1, 2), templates_sweep=(4, 8), tsne_per_label=20, analysis_size=128,
    # one shared rate: a 2-step run has no rate to choose
    model_lr=())

TRAINING = {"smoke": _SMOKE, "quick": _QUICK, "full": _FULL}

# 07c: 12 distinct models × 3 seeds on the quick profile, so fewer steps per model; the analysis models
# of §7.5.2 use 48×48 patches (full profile).
ABLATIONS = {"smoke": replace(_SMOKE, eval_levels=("moderate",)),
             "quick": replace(_QUICK, train=replace(_QUICK.train, steps=1_200, milestones=(600, 900), val_every=0),
                              eval_levels=("moderate",),
                              # Parameter sharing must matter as it does in the paper (one expert: 3.76M -> 1.69M,
                              # -55 %). With 07b's quick MEPSNet (8 SConvs per expert, K = 8 templates) the bank
                              # holds as many weights as the SConvs it replaces (-0.2 %), so the ablation could not
                              # show sharing. Three SRIRs as in the paper, K = 4 templates for 12 SConvs per expert
                              # (the paper: 16 for 72) and a 16-wide extraction (the experts' share of the weights
                              # is then near the paper's): sharing removes 49 % of one expert's parameters and
                              # 65 % of three experts' (tests/test_mepsnet.py checks both; 07c shows them).
                              ablation_base=(("extract_width", 16), ("srir", 3), ("templates", 4)),
                              # Table 7.4's 36 blocks scaled down: 1 expert of 3 SRIR × 6, or 3 experts of 3 × 2.
                              total_blocks=18),
             "full": replace(_FULL, patch_size=48, eval_levels=("moderate",))}
# the zoo holds 07c's models under checkpoints/ch7/07c
ABLATIONS = {profile: replace(spec, zoo_group="07c") for profile, spec in ABLATIONS.items()}

# 07d: one MEPSNet; on the quick profile it is 07b's seed-0 MEPSNet (same recipe, so the zoo holds it once,
# under 07b).
ANALYSIS = {"smoke": replace(_SMOKE, seeds=1, eval_levels=("moderate",)),
            "quick": replace(_QUICK, seeds=1, eval_levels=("moderate",)),
            "full": replace(_FULL, patch_size=48, eval_levels=("moderate",))}



@dataclass(frozen=True)
class RecognitionConfig:
    """07e: recognition after restoration (Table 7.2, §7.5.1) and image-level routing on SHDD (in no paper)."""

    # Table 7.2: "coco" (COCO val2017 and torchvision's COCO detectors, when on this machine), "made" (images and
    # objects made here, small randomly initialised detectors: every code path, no paper number) or "check"
    # (only say what the full profile needs and whether this machine has it)
    coco: str
    coco_images: int                # COCO images scored, the first by image id (0 = all 5,000 of val2017)
    coco_level: str                 # the SHDD level COCO is distorted at (the paper does not say)
    table_models: MEPSNetExperimentConfig   # the Chapter 7 spec whose Table 7.1 models restore COCO
    restorer_seeds: int             # seeds of each of those models that restore COCO
    made_images: int                # "made": images written in COCO's format
    made_side: int                  # "made": their side, px (>= the level's smallest SHDD image)
    # the routing experiment (in no paper)
    routing_shdd: MEPSNetExperimentConfig   # the Chapter 7 spec whose SHDD copy and MEPSNets the routing uses
    routing_level: str
    restorer_model: str             # a companion.models.MODELS key: one restorer per SHDD distortion type
    restorer_config: tuple[tuple[str, object], ...]   # its constructor arguments
    restorer_train: TrainConfig
    type_versions: int              # whole-image distorted copies of each training photograph per type
    classifier_width: int           # first-layer width of the SHDD-type classifier (doubled twice)
    classifier_patch: int           # its training crops, px
    classifier_train: TrainConfig
    seeds: int                      # restorers, classifiers and MEPSNets paired by seed: SEED, SEED + 1, ...
    # where the zoo holds the routing models: checkpoints/ch7/<zoo_group>/ (not part of any digest)
    zoo_group: str = "07e"

    def required_folders(self) -> tuple[str, ...]:
        """Nothing is required before the notebook starts: the full profile looks for COCO and the detector
        weights itself and says which are missing (Table 7.2 is then recorded "full profile only")."""
        return ()


_RECOGNITION_FULL = RecognitionConfig(
    # COCO val2017, every image, restored by the full profile's Table 7.1 models (07b's full run), the paper's
    # detectors (torchvision's COCO Faster / Mask R-CNN)
    coco="coco", coco_images=0, coco_level="moderate", table_models=_FULL, restorer_seeds=1, made_images=0,
    made_side=0,
    # routing is in no paper: the full profile runs the quick experiment (the quick SHDD copy, the zoo's models)
    routing_shdd=_QUICK, routing_level="moderate", restorer_model="vdsr",
    restorer_config=(("depth", 6), ("features", 16)),
    # Chapter 7's quick recipe (Adam as the paper's, 8 × 32×32 patches, L2, VDSR's own 1e-3, random RGB order)
    # over a third of its steps, halved at the same fractions of the run: 12 small models in minutes (a pilot at
    # the shared 2e-3 did no better than 1e-3 on the blur restorer's validation copies)
    restorer_train=replace(_QUICK.train, steps=3_000, lr=1e-3, milestones=(1_000, 1_500, 2_000, 2_500),
                           checkpoint_every=500, val_every=0),
    type_versions=4,
    # a classifier as 06b trains them: cross-entropy through the one loop, Adam, LR halved twice; its width and
    # crops chosen on the validation copies (pilots/ch7e_classifier_size.py: widths 8 and 16 on 32- and 48-px
    # crops, 2,000 steps of 16): 8 wide on 48-px crops labelled the most whole validation images
    classifier_width=8, classifier_patch=48,
    classifier_train=TrainConfig(steps=2_000, batch_size=16, lr=1e-3, milestones=(1_000, 1_500), gamma=0.5,
                                 checkpoint_every=500, val_every=0),
    seeds=3)

_RECOGNITION_QUICK = replace(
    _RECOGNITION_FULL,
    # no COCO run on a CPU laptop (thousands of Faster / Mask R-CNN passes take hours): say what the full run needs
    coco="check",
    # the zoo's quick Table 7.1 models, three seeds each
    table_models=_QUICK, restorer_seeds=3)

_RECOGNITION_SMOKE = replace(
    _RECOGNITION_QUICK,
    # the whole Table 7.2 pipeline on three made images, small random detectors, one seed of the smoke models
    coco="made", table_models=_SMOKE, restorer_seeds=1, made_images=3, made_side=192,
    # the smoke SHDD copy and its two-step MEPSNets
    routing_shdd=_SMOKE,
    # two steps of each routing model, one distorted copy per type; two seeds, so every mean ± std has a spread
    restorer_train=replace(_RECOGNITION_QUICK.restorer_train, steps=2, batch_size=2, milestones=(),
                           checkpoint_every=1),
    type_versions=1,
    classifier_train=replace(_RECOGNITION_QUICK.classifier_train, steps=2, batch_size=4, milestones=(),
                             checkpoint_every=1),
    seeds=2)

RECOGNITION = {"smoke": _RECOGNITION_SMOKE, "quick": _RECOGNITION_QUICK, "full": _RECOGNITION_FULL}

#: Notebook file stem -> its profiles; :mod:`companion.profiles` collects these from every chapter package.
NOTEBOOKS = {"07a_shdd": SHDD, "07b_mepsnet_training": TRAINING, "07c_ablations": ABLATIONS,
             "07d_what_experts_learn": ANALYSIS, "07e_recognition_after_restoration": RECOGNITION}
