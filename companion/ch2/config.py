"""Chapter 2's experiments, each declared once: the splits, the recipes and every notebook's profiles.

Every ``02x`` notebook's settings live here as frozen dataclasses (its data split, model configuration, training
recipe and seeds): :class:`CARNConfig` (``02a_carn``), :class:`InitConfig` (``02b_initialisation``),
:class:`PCARNConfig` (``02c_pcarn``), :class:`EfficiencyConfig` (``02d_efficiency``), :class:`QualitativeConfig`
(the qualitative figures and Table 2.8 of 02a and 02c) and :class:`SRTraining` (one single-scale model of the
model zoo, :mod:`companion.ch2.zoo`). Each profile set is written as its ``full`` instance (the paper's
setting) and ``quick`` / ``smoke`` as ``replace(...)`` of it, one comment per override saying why.

This module imports no experiment module and no PyTorch (``python -m companion list`` reads it).

The split is :data:`companion.data.splits.EMBEDDED_SR`: seven embedded photographs train
(:data:`FIT_IMAGES`), coffee validates (:data:`VAL_IMAGE`: curves only; nothing was tuned on it), and china,
flower and rocket (:data:`HELD_OUT`) are scored once per recipe and never used to choose anything.

``02a_carn`` trains nothing: it explains CARN and CARN-M, counts their costs exactly (the same numbers at every
profile) and evaluates the authors' released weights, where the user has them, under the SR protocol
(:mod:`companion.data.sr`, :func:`companion.metrics.sr_scores`: MATLAB-bicubic LR, Y of BT.601, a border of
``scale`` px, 8-bit outputs). ``full`` is Table 2.4's protocol (Set5, Set14, B100, Urban100 at ×2, ×3, ×4,
whole images; ``python -m companion download Set5`` fetches the four); ``quick`` the eleven embedded
photographs, whole, at ×4 (not Set5 or B100: only the gain over bicubic compares with the paper); ``smoke`` two
embedded images, 64-px centre crops. The weights are looked up, never downloaded: first where ``python -m
companion download NAME`` puts them (``<data root>/weights/``), then in ``weights_search``.

``02b_initialisation`` draws Figs. 2.6-2.7 from the untrained paper-size single-scale ×4 CARN under Table 2.3's
six schemes (:data:`TABLE_2_3_INITS`) at every profile (the thesis' 100K weights, 1000 bins on ±0.15;
activations clipped to ±0.5 on a batch of real LR patches), and trains Table 2.3:

* ``full``: the authors' experiment (:data:`PAPER_INIT_TRAINING`: DIV2K, batch 16 of 32×32 LR patches, 400K
  steps, LR 1e-4 halved every 180K, gradient clip 10, L1), paper-size CARN ×4, scored on Set14 ×4, 3 seeds;
* ``quick``: the quick-size CARN (B = U = 3) narrowed to C = 16 (70,611 parameters) ×4 on 20×20 LR patches of
  the seven training photographs (coffee only draws the validation curve), batch 8, the same 1,000 steps for
  every run, LR 5e-4 (constant; fixed beforehand, never tuned on the held-out images), the paper's L1 loss,
  Adam betas and gradient clip; 3 seeds; scored on the three held-out photographs whole. The 18 trained models
  (6 schemes × 3 seeds) ship in the model zoo (``checkpoints/ch2/02b``). Why C = 16 and 1,000 steps: the zoo
  must stay small (at C = 16: 0.29 MB a model, 5.3 MB in all) and the build of all 18 within about 15 minutes
  of one thread; the choice and its pilot runs (validation photograph only) are in ``docs/decisions.md``; the
  zoo sidecars keep every model's validation curve;
* ``smoke``: every code path in seconds.

``02c_pcarn`` (:class:`PCARNConfig`; :mod:`companion.ch2.pcarn` says what each stage does): ``full`` is the
authors' recipe for PCARN-M (L1 stage :data:`PAPER_L1_TRAINING`, then 2×10⁵ adversarial steps with the
multi-scale discriminator and the VGG19 loss); ``quick`` the same two stages at CPU scale, both taken from the
model zoo when current (stage 1: ``ch2/carn-m-x4-seed<k>``, trained with :data:`QUICK_RECIPE`; stage 2:
``ch2/02c/…``), with two substitutions fixed before any run: the discriminator at 1/4 of Fig. 2.1's widths
and an L1 content term in place of the VGG term (its ImageNet weights are not bundled).

``02d_efficiency`` (:class:`EfficiencyConfig`): Fig. 2.8's G/R family, exact costs at paper size, CPU latency,
and the variants trained (``quick``: five quick-size variants, :data:`QUICK_SWEEP_RECIPE`, from the zoo's
``ch2/02d``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from companion.data.splits import EMBEDDED_SR
from companion.engine.settings import TrainConfig
from companion.errors import CompanionError

# --------------------------------------------------------------------------------------------------------
# The split and the shared facts.

#: Held out of every Chapter 2 training and never used to choose a setting: the SR split's test photographs.
HELD_OUT = EMBEDDED_SR.test
#: The validation photograph (validation curves only; no setting was chosen on it).
VAL_IMAGE = EMBEDDED_SR.validation[0]
#: The seven photographs every quick-size Chapter 2 model trains on.
FIT_IMAGES = EMBEDDED_SR.train
#: The training and validation photographs together, in name order: 02b's activation batch is cut from them
#: (no training happens on it).
SEEN_IMAGES = tuple(sorted(EMBEDDED_SR.train + EMBEDDED_SR.validation))
#: The paper's test sets (Tables 2.4, 2.5, 2.7, 2.8), in the order the tables print them.
PAPER_SETS = ("Set5", "Set14", "B100", "Urban100")
#: Our two models' labels in 02c's tables and figures (the L1 stage and its adversarial fine-tuning).
OURS_L1, OURS_GAN = "PCARN-M (L1), ours", "PCARN-M (GAN), ours"
#: Where this project's sessions keep copies of the authors' files (beside the checkout); absent in a user's
#: clone, which then finds the weights only where the download command puts them.
SHARED_WEIGHTS = ("../shared/weights",)

#: The training recipe of the quick-size zoo models, fixed before the first run (never tuned on a test image):
#: the thesis' L1 loss, Adam (0.9, 0.999), gradient norm clipped to 10 (the authors' code), batch 8 of 24-px LR
#: patches, LR 1e-3 halved at 60 % and 80 % of the run; 2,000 steps is what fits about 12 minutes on one CPU
#: thread. The paper's recipe (DIV2K, batch 16/64 of 64-px patches, LR 1e-4, 600K steps) is 300x longer.
QUICK_RECIPE = TrainConfig(steps=2000, batch_size=8, lr=1e-3, milestones=(1200, 1600), gamma=0.5,
                           betas=(0.9, 0.999), grad_clip=10.0, val_every=250, checkpoint_every=100)


# --------------------------------------------------------------------------------------------------------
# One single-scale model of the zoo (the ×4 CARN / CARN-M of 02a and 02c, 02d's sweep).


@dataclass(frozen=True)
class SRTraining:
    """One single-scale CARN-family model trained under the SR protocol (:mod:`companion.ch2.training`)."""

    model: str                                   # companion.models name: "carn" or "carn_m"
    size: str = "quick"                          # "quick" (C = 32) or "paper" (C = 64)
    scale: int = 4
    patch: int = 24                              # LR patch side, px
    train: TrainConfig = QUICK_RECIPE
    loss: str = "l1"                             # companion.engine.sr_training.LOSSES key (the thesis: L1)
    source: str = "bundled"                      # "bundled" (embedded photographs) or "data" (DIV2K train)
    train_images: tuple[str, ...] = FIT_IMAGES   # embedded photographs trained on ("bundled")
    val_image: str = VAL_IMAGE                   # embedded photograph of the validation curve
    val_crop: int = 192                          # its centre crop (HR px)
    overrides: tuple[tuple[str, object], ...] = field(default=())  # constructor arguments, e.g. (("groups", 8),)

    def check(self) -> None:
        """A one-line error when the spec trains on a test or validation photograph, or on nothing."""
        if self.source == "bundled":
            leaked = sorted(set(self.train_images) & (set(HELD_OUT) | {self.val_image}))
            if leaked:
                raise CompanionError(f"training images {leaked} are test or validation images; hold them out")
            if not self.train_images:
                raise CompanionError("no training images; name some embedded photographs in train_images")
        elif self.source != "data":
            raise CompanionError(f"source must be 'bundled' or 'data', got {self.source!r}")


# --------------------------------------------------------------------------------------------------------
# Qualitative figures and Table 2.8 (02a's Fig. 2.10; 02c's Figs. 2.3, 2.11, 2.13, 2.14 and Table 2.8).

#: Fig. 2.10's sets in the thesis ("three datasets": Set14, B100, Urban100); read from the data folder (full).
FIG_2_10_SETS = ("Set14", "B100", "Urban100")
#: Table 2.8's scales.
TABLE_2_8_SCALES = (2, 3, 4)


@dataclass(frozen=True)
class QualitativeConfig:
    """What the qualitative figures and Table 2.8 use at one profile (:mod:`companion.ch2.qualitative`)."""

    images: tuple[str, ...]          # embedded photographs of Figs. 2.10 (02a) (02c uses its own test images)
    sets: tuple[str, ...]            # Fig. 2.10's benchmark sets instead of ``images`` (full profile)
    image_crop: int                  # centre crop of each embedded image first, HR px (0 = whole; smoke)
    crop: int                        # side of every crop window, HR px
    rows: int                        # at most this many images per figure (the highest-scoring windows)
    dense_quantile: float            # Fig. 2.11: candidate windows have gradient energy >= this quantile
    text_sizes: tuple[int, ...]      # Fig. 2.14: font sizes of the rendered text, HR px
    text_width: int                  # Fig. 2.14: width of the rendered page, HR px (0 = the widest line)
    manga: bool                      # Fig. 2.14: use <data>/benchmark/Manga109 when present
    table_2_8_sets: tuple[str, ...]  # Table 2.8's sets ("embedded" = the held-out photographs)
    table_2_8_scales: tuple[int, ...]
    msd_patch: int                   # Fig. 2.3: HR patch side of the exact map shapes (the full profile's)


_QUALITATIVE_FULL = QualitativeConfig(images=HELD_OUT, sets=FIG_2_10_SETS, image_crop=0, crop=128, rows=3,
                                      dense_quantile=0.75, text_sizes=(8, 10, 12, 16, 20, 28), text_width=0,
                                      manga=True, table_2_8_sets=PAPER_SETS, table_2_8_scales=TABLE_2_8_SCALES,
                                      msd_patch=192)
_QUALITATIVE_QUICK = replace(
    _QUALITATIVE_FULL,
    sets=(),                         # no benchmark sets on a CPU: the held-out photographs instead
    crop=96,                         # the photographs are smaller than Urban100's: smaller windows
    manga=False,                     # Manga109 is not bundled
    table_2_8_sets=("embedded",),    # Table 2.8 on the held-out photographs
)
_QUALITATIVE_SMOKE = replace(
    _QUALITATIVE_QUICK,
    images=("rocket",),              # one image, cropped: seconds
    image_crop=64,
    crop=32,
    rows=1,
    text_sizes=(8, 12),              # two font sizes on a narrow page
    text_width=96,
    table_2_8_scales=(4,),           # one scale
    msd_patch=64,                    # small maps
)
#: profile -> :class:`QualitativeConfig`.
QUALITATIVE_PROFILES = {"smoke": _QUALITATIVE_SMOKE, "quick": _QUALITATIVE_QUICK, "full": _QUALITATIVE_FULL}


# --------------------------------------------------------------------------------------------------------
# 02a_carn: architecture, exact costs, the authors' weights.


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
    qualitative: QualitativeConfig   # Fig. 2.10's crops

    def required_folders(self) -> tuple[str, ...]:
        """Folders that must exist under the data root before the notebook starts (checked by the runner)."""
        if self.source != "data":
            return ()
        return tuple("DIV2K" if s == "DIV2K" else f"benchmark/{s}" for s in self.eval_sets)


# Table 2.4's protocol: the four test sets at ×2, ×3, ×4, whole images.
_CARN_FULL = CARNConfig(source="data", eval_sets=PAPER_SETS, images=0, crop=0, scales=(2, 3, 4),
                        weights=("carn-m", "pcarn-m-l1", "carn"), weights_search=SHARED_WEIGHTS, readings_images=3,
                        readings_crop=256, tiles=(1, 1), overlap=16, figure_sets=PAPER_SETS,
                        ratio_groups=(1, 2, 4, 8, 16, 32, 64), qualitative=_QUALITATIVE_FULL)
_CARN_QUICK = replace(
    _CARN_FULL,
    source="bundled",                # the embedded photographs: no download on a CPU
    eval_sets=("embedded",),
    scales=(4,),                     # Fig. 2.9's scale only
    qualitative=_QUALITATIVE_QUICK,
)
_CARN_SMOKE = replace(
    _CARN_QUICK,
    images=2,                        # two 64-px crops: seconds
    crop=64,
    weights=("carn-m",),             # one release
    readings_images=1,
    readings_crop=64,
    overlap=8,
    qualitative=_QUALITATIVE_SMOKE,
)
CARN_PROFILES = {"smoke": _CARN_SMOKE, "quick": _CARN_QUICK, "full": _CARN_FULL}


# --------------------------------------------------------------------------------------------------------
# 02b_initialisation: Figs. 2.6-2.7 (untrained, paper size) and Table 2.3 (trained, with seeds).

#: Table 2.3's six initialisations, in the table's order (keys of companion.ch2.init_schemes.INITS).
TABLE_2_3_INITS = ("msra_normal_0.1", "msra_uniform_0.1", "default_0.1", "msra_normal_1.0", "msra_uniform_1.0",
                   "default_1.0")

#: The authors' Table 2.3 experiment (nmhkahn/PCARN-pytorch, ``script/init.sh`` with ``ecarn/solver.py``):
#: single-scale x4 CARN (their ``ablation.m5``, Table 2.1's "+Residual"), L1, Adam (0.9, 0.999, 1e-8), LR 1e-4
#: halved every 180K steps (``StepLR``), batch 16 of 32x32 LR patches, 400K steps, gradient norm clipped to 10,
#: evaluated on Set14 x4 (``script/init_infer.sh``).
PAPER_INIT_TRAINING = TrainConfig(steps=400_000, batch_size=16, lr=1e-4, milestones=(180_000, 360_000), gamma=0.5,
                                  betas=(0.9, 0.999), eps=1e-8, grad_clip=10.0)
#: 02b's quick recipe: the paper's loss, Adam betas and gradient clip; a constant LR of 5e-4 (fixed beforehand)
#: and 1,000 steps in place of 400K, batch 8; validation every 100 steps.
QUICK_INIT_TRAINING = TrainConfig(steps=1000, batch_size=8, lr=5e-4, betas=(0.9, 0.999), grad_clip=10.0,
                                  val_every=100)


@dataclass(frozen=True)
class InitConfig:
    """02b: the six initialisations of Table 2.3: weight and pre-ReLU activation histograms (Figs. 2.6-2.7) of
    the untrained paper-size CARN, and Table 2.3 trained at this profile's scale with seeds."""

    source: str                      # "bundled" (embedded images) or "data" (DIV2K train, eval_set test)
    inits: tuple[str, ...]           # TABLE_2_3_INITS keys
    # Figs. 2.6-2.7: no training
    hist_size: str                   # model size of the histograms ("paper": C=64, single-scale x4)
    weight_samples: int              # weights drawn per model for Fig. 2.6 (the thesis: 100K)
    weight_bins: int                 # bins of Fig. 2.6 (the thesis: 1000)
    weight_range: float              # x range of Fig. 2.6 is +-weight_range (the thesis: 0.15)
    act_images: tuple[str, ...]      # embedded photographs the activation batch is cut from
    act_batch: int                   # LR patches in the activation batch
    act_patch: int                   # their side, LR px
    act_bins: int                    # bins of Fig. 2.7
    act_clip: float                  # Fig. 2.7 clips activations to +-act_clip (the thesis: 0.5)
    resnet: str                      # torchvision ResNet drawn beside ours in Fig. 2.6 ("" = none)
    # Table 2.3: training
    size: str                        # model size trained ("quick" or "paper"), single-scale at `scale`
    scale: int
    patch: int                       # LR patch side
    train: TrainConfig
    loss: str                        # companion.engine.sr_training.LOSSES key
    seeds: int                       # seeds per initialisation (SEED, SEED + 1, ...)
    train_images: tuple[str, ...]    # embedded photographs trained on ("bundled")
    eval_set: str                    # "embedded" (the held-out photographs) or a companion.data.sr.BENCHMARKS name
    eval_images: tuple[str, ...]     # the held-out embedded photographs ("embedded")
    eval_crop: int                   # centre crop of each HR test image, px (0 = whole)
    train_workers: int               # runs side by side on a CPU, one thread each
    channels: int = 0                # C of the trained CARN (0 = the size's: 32 quick, 64 paper)
    val_image: str = ""              # embedded photograph of the validation curve ("" = none); never trained on
    val_crop: int = 192              # its centre crop, HR px
    use_zoo: bool = False            # load current ch2/02b zoo entries (companion.ch2.zoo) instead of training

    def required_folders(self) -> tuple[str, ...]:
        """Folders that must exist under the data root before the notebook starts (checked by the runner)."""
        if self.source != "data":
            return ()
        return ("DIV2K",) + (() if self.eval_set == "embedded" else (f"benchmark/{self.eval_set}",))


# The authors' experiment: paper-size single-scale x4 CARN, DIV2K, Set14 (see PAPER_INIT_TRAINING).
_INIT_FULL = InitConfig(source="data", inits=TABLE_2_3_INITS, hist_size="paper", weight_samples=100_000,
                        weight_bins=1000, weight_range=0.15, act_images=SEEN_IMAGES, act_batch=16, act_patch=48,
                        act_bins=100, act_clip=0.5, resnet="resnet50", size="paper", scale=4, patch=32,
                        train=PAPER_INIT_TRAINING, loss="l1", seeds=3, train_images=(), eval_set="Set14",
                        eval_images=(), eval_crop=0, train_workers=1)
_INIT_QUICK = replace(
    _INIT_FULL,
    source="bundled",                # the embedded photographs, on a CPU
    act_batch=4,                     # a smaller activation batch: the figure's shape is the same
    size="quick",                    # the quick-size CARN (B = U = 3) ...
    channels=16,                     # ... narrowed to C = 16, so the 18 models keep the zoo small
    patch=20,
    train=QUICK_INIT_TRAINING,       # 1,000 steps in place of 400K (see the module docstring)
    train_images=FIT_IMAGES,
    val_image=VAL_IMAGE,             # the validation curve (never trained on)
    eval_set="embedded",             # scored on the held-out photographs, whole
    eval_images=HELD_OUT,
    train_workers=2,                 # two runs side by side, one thread each, on a two-core CPU
    use_zoo=True,                    # the 18 models ship in the zoo (checkpoints/ch2/02b)
)
_INIT_SMOKE = replace(
    _INIT_QUICK,
    weight_samples=5_000,            # every code path in seconds
    weight_bins=100,
    act_images=("astronaut",),
    act_batch=1,
    act_patch=16,
    resnet="resnet18",               # the smallest ResNet
    channels=0,
    patch=8,
    train=replace(QUICK_INIT_TRAINING, steps=3, batch_size=2, val_every=0),
    seeds=2,                         # two seeds: the per-seed code path
    train_images=("astronaut",),
    val_image="",
    eval_images=("rocket",),
    eval_crop=48,
    train_workers=1,
    use_zoo=False,                   # train, so the training path runs
)
INIT_PROFILES = {"smoke": _INIT_SMOKE, "quick": _INIT_QUICK, "full": _INIT_FULL}


# --------------------------------------------------------------------------------------------------------
# 02c_pcarn: L1 stage then adversarial fine-tuning of CARN-M (PCARN-M).

#: The zoo entry (less its ``-seed<k>``) the quick profile's L1 stage comes from (:mod:`companion.ch2.zoo`).
ZOO_L1 = "ch2/carn-m-x4"
#: The authors' releases compared side by side: PCARN-M's generator before and after adversarial training.
AUTHORS_RELEASES = ("pcarn-m-l1", "pcarn-m")

#: The authors' L1 stage of PCARN-M (``script/ecarn_m_l1.sh``, §2.4.1): batch 64, 48-px patches, 6×10⁵ steps,
#: LR 1e-4 halved after 4×10⁵ (the code's ``--decay 400000``).
PAPER_L1_TRAINING = TrainConfig(steps=600_000, batch_size=64, lr=1e-4, milestones=(400_000,), gamma=0.5,
                                betas=(0.9, 0.999), eps=1e-8, checkpoint_every=10_000)
#: 02c's quick L1 stage when it is trained here: the fallback for a user without the zoo's
#: ``ch2/carn-m-x4-seed<k>`` (which was trained with :data:`QUICK_RECIPE`, 2,000 steps); 500 steps at LR 1e-3
#: halved twice. A results file records the recipe that ran (the zoo entry's, from its sidecar, when loaded).
QUICK_L1_FALLBACK = TrainConfig(steps=500, batch_size=8, lr=1e-3, milestones=(300, 400), gamma=0.5, grad_clip=10.0,
                                checkpoint_every=100)


@dataclass(frozen=True)
class PCARNConfig:
    """02c: L1 pretraining then adversarial fine-tuning of CARN-M (PCARN-M), scored beside the authors' weights.

    ``l1_zoo`` names a model-zoo entry (:mod:`companion.ch2.zoo`, without its ``-seed<k>``) that stage 1 is taken
    from when it is current and matches this profile: same network (``size``, ``scale``, CARN-M thesis
    reading), same training photographs, patch side and held-out images, same seed
    (:func:`companion.ch2.pcarn_stages.l1_zoo_entry`). Otherwise, and when ``l1_zoo`` is empty (smoke, full), stage 1 is
    trained with ``pretrain``."""

    source: str                      # "bundled" (embedded photographs) or "data" (DIV2K train)
    size: str                        # generator size: "quick" (C=32) or "paper" (C=64) CARN-M
    scale: int
    patch: int                       # LR patch side
    train_images: tuple[str, ...]    # embedded photographs trained on ("bundled")
    pretrain: TrainConfig            # stage 1: L1 (when it is trained here)
    gan_steps: int                   # stage 2: adversarial fine-tuning
    gan_batch: int
    lr_g: float
    lr_d: float
    adversarial_weight: float        # L_G = a·L_GAN^MS + p·L_perc + c·L1
    perceptual: str                  # "vgg19" (Eq. 2.5, needs the user's VGG19 file), "random" (smoke), "none"
    perceptual_weight: float
    content_weight: float
    grad_clip: float | None          # generator gradient-norm clip (the code: 10)
    disc_factors: tuple[int, ...]    # Eq. 2.6's pooling factors (S = 3: 1, 2, 4)
    disc_width_divisor: int          # Fig. 2.1's channel widths divided by this (1 = the paper's)
    eval_set: str                    # "embedded" or a companion.data.sr.BENCHMARKS name
    eval_sets: tuple[str, ...]       # every set scored (full: Table 2.5/2.7's four)
    eval_images: tuple[str, ...]     # the held-out embedded photographs ("embedded")
    eval_crop: int                   # centre crop of each HR test image, px (0 = whole)
    crop: int                        # side of Fig. 2.5's crops, HR px
    weights: tuple[str, ...]         # authors' releases compared (found, never downloaded)
    weights_search: tuple[str, ...]  # further folders holding the authors' files (relative: the repo root)
    lpips: bool                      # LPIPS (torchmetrics, AlexNet) when its weights are on this machine
    qualitative: QualitativeConfig   # Figs. 2.3, 2.11, 2.13, 2.14 and Table 2.8
    gan_checkpoint_every: int = 0
    l1_zoo: str = ""                 # zoo entry stage 1 is taken from when current (ZOO_L1); "" = always train
    gan_zoo: bool = False            # take stage 2 from the zoo (ch2/02c/...) when current and stage 1 came from it
    cpu_threads: int = 1             # intra-op threads on a CPU (small convs on a busy 2-core machine: 1 is fastest)

    def required_folders(self) -> tuple[str, ...]:
        """Folders that must exist under the data root before the notebook starts (checked by the runner)."""
        sets = tuple(f"benchmark/{s}" for s in self.eval_sets if s != "embedded")
        return (("DIV2K",) if self.source == "data" else ()) + sets


# The authors' recipe (see PAPER_L1_TRAINING and companion.ch2.pcarn).
_PCARN_FULL = PCARNConfig(source="data", size="paper", scale=4, patch=48, train_images=(), pretrain=PAPER_L1_TRAINING,
                          gan_steps=200_000, gan_batch=32, lr_g=1e-4, lr_d=1e-4, adversarial_weight=5e-3,
                          perceptual="vgg19", perceptual_weight=1.0, content_weight=0.0, grad_clip=10.0,
                          disc_factors=(1, 2, 4), disc_width_divisor=1, eval_set="Set14", eval_sets=PAPER_SETS,
                          eval_images=(), eval_crop=0, crop=128, weights=AUTHORS_RELEASES,
                          weights_search=SHARED_WEIGHTS, lpips=True, qualitative=_QUALITATIVE_FULL,
                          gan_checkpoint_every=10_000)
_PCARN_QUICK = replace(
    _PCARN_FULL,
    source="bundled",                # the embedded photographs, on a CPU
    size="quick",                    # the quick-size CARN-M (C = 32), as the zoo's L1 entry
    patch=24,                        # the zoo's L1 entry's patch side
    train_images=FIT_IMAGES,         # the zoo's split: the GAN stage sees the photographs its L1 stage saw
    pretrain=QUICK_L1_FALLBACK,      # only when the zoo's L1 entry is missing (see QUICK_L1_FALLBACK)
    gan_steps=300,                   # a short adversarial stage: 2-4 minutes on one core
    gan_batch=8,
    lr_d=1e-3,                       # 10x the paper's: its 2x10^5 steps shrink to a few hundred
    perceptual="none",               # the VGG19 ImageNet weights are not bundled: an L1 content term instead
    perceptual_weight=0.0,
    content_weight=1e-2,             # ESRGAN's L1 weight beside the code's adversarial weight
    disc_width_divisor=4,            # the full discriminator costs ~6 s a step on two CPU cores
    eval_set="embedded",             # scored on the held-out photographs, whole
    eval_sets=("embedded",),
    eval_images=HELD_OUT,
    crop=96,                         # the photographs are small: smaller crops
    qualitative=_QUALITATIVE_QUICK,
    gan_checkpoint_every=50,
    l1_zoo=ZOO_L1,                   # stage 1 from the zoo when current
    gan_zoo=True,                    # stage 2 from the zoo when current
)
_PCARN_SMOKE = replace(
    _PCARN_QUICK,
    patch=12,                        # every code path in seconds
    train_images=("astronaut",),
    pretrain=TrainConfig(steps=3, batch_size=2, lr=1e-3, grad_clip=10.0),
    gan_steps=2,
    gan_batch=2,
    perceptual="random",             # a random-weight VGG19, so the perceptual code path runs
    perceptual_weight=1.0,
    disc_width_divisor=8,
    eval_images=("rocket",),
    eval_crop=64,
    crop=32,
    qualitative=_QUALITATIVE_SMOKE,
    gan_checkpoint_every=0,
    l1_zoo="",                       # train both stages, so the training paths run
    gan_zoo=False,
)
PCARN_PROFILES = {"smoke": _PCARN_SMOKE, "quick": _PCARN_QUICK, "full": _PCARN_FULL}


# --------------------------------------------------------------------------------------------------------
# 02d_efficiency: Fig. 2.8's G/R family.

#: The whole family of Fig. 2.8 at paper size (C = 64): CARN, then G ∈ {1, …, 64} without and with recursion.
PAPER_FAMILY = ("CARN",) + tuple(f"G{g}{r}" for g in (1, 2, 4, 8, 16, 32, 64) for r in ("", "R"))
#: The quick sweep's recipe, fixed before the first run: :data:`QUICK_RECIPE` shortened to 600 steps, so that
#: five models fit a shared two-core machine in about half an hour.
QUICK_SWEEP_RECIPE = replace(QUICK_RECIPE, steps=600, milestones=(360, 480), val_every=200, checkpoint_every=100)
#: The authors' CARN training (nmhkahn/CARN-pytorch: the README's command for ``carn/train.py``, single-scale
#: here): batch 64 of 64-px LR patches, L1, Adam LR 1e-4 halved every 400K steps, 600K steps, gradient norm
#: clipped to 10.
PAPER_RECIPE = TrainConfig(steps=600_000, batch_size=64, lr=1e-4, milestones=(400_000,), gamma=0.5,
                           betas=(0.9, 0.999), grad_clip=10.0, val_every=10_000, checkpoint_every=5_000)


@dataclass(frozen=True)
class EfficiencyConfig:
    """02d: Fig. 2.8's costs (exact, paper size), CPU latency, and PSNR of the variants trained at this scale."""

    # costs and latency, paper-size networks
    cost_variants: tuple[str, ...]      # PAPER_FAMILY names costed and timed
    cost_output: tuple[int, int]        # HR output (height, width) of the Mult-Adds (the thesis: 720p)
    latency_variants: tuple[str, ...]   # PAPER_FAMILY names timed
    latency_lr: tuple[int, int]         # LR input (height, width) of the timing
    latency_repeats: int                # timed passes (median), after one warm-up
    latency_threads: int                # PyTorch / ONNX Runtime threads
    latency_backends: tuple[str, ...]   # "eager" and/or "auto" (companion.engine.fast_inference.accelerate)
    # trained sweep
    variants: tuple[str, ...]           # trained and scored ("CARN", "G4R", ...)
    size: str                           # model size trained ("quick": C = 32; "paper": C = 64)
    scale: int
    patch: int                          # LR patch side
    train: TrainConfig
    loss: str
    seeds: int                          # seeds per variant (SEED, SEED + 1, ...)
    source: str                         # "bundled" (embedded photographs) or "data" (DIV2K train)
    train_images: tuple[str, ...]       # embedded photographs trained on ("bundled")
    eval_set: str                       # "embedded" or a companion.data.sr.BENCHMARKS name
    eval_images: tuple[str, ...]        # the held-out embedded photographs ("embedded")
    eval_crop: int                      # centre crop of each HR test image (0 = whole)
    use_zoo: bool                       # load current ch2/02d zoo entries instead of training
    train_workers: int                  # runs side by side on a CPU, one thread each

    def required_folders(self) -> tuple[str, ...]:
        """Folders that must exist under the data root before the notebook starts (checked by the runner)."""
        if self.source != "data":
            return ()
        return ("DIV2K",) + (() if self.eval_set == "embedded" else (f"benchmark/{self.eval_set}",))


# The paper's setting: paper-size single-scale x4 variants, DIV2K, the authors' recipe, Set14 x4.
_EFFICIENCY_FULL = EfficiencyConfig(cost_variants=PAPER_FAMILY, cost_output=(720, 1280), latency_variants=PAPER_FAMILY,
                                    latency_lr=(180, 320), latency_repeats=5, latency_threads=0,
                                    latency_backends=("eager", "auto"), variants=PAPER_FAMILY, size="paper", scale=4,
                                    patch=64, train=PAPER_RECIPE, loss="l1", seeds=1, source="data", train_images=(),
                                    eval_set="Set14", eval_images=(), eval_crop=0, use_zoo=False, train_workers=1)
_EFFICIENCY_QUICK = replace(
    _EFFICIENCY_FULL,
    latency_variants=("CARN", "G1R", "G4", "G4R", "G16R", "G64R"),  # six networks timed: minutes, not an hour
    latency_lr=(48, 80),             # a 192x320 output on a CPU
    latency_repeats=3,
    latency_threads=1,               # one thread: a shared two-core machine
    variants=("CARN", "G4R", "G32R", "G4", "G8R"),  # five variants trained (G32R: depthwise at C = 32)
    size="quick",                    # C = 32
    patch=24,
    train=QUICK_SWEEP_RECIPE,        # 600 steps each
    source="bundled",                # the embedded photographs, scored on the held-out ones
    train_images=FIT_IMAGES,
    eval_set="embedded",
    eval_images=HELD_OUT,
    use_zoo=True,                    # the five models ship in the zoo (checkpoints/ch2/02d)
    train_workers=2,                 # two runs side by side, one thread each
)
_EFFICIENCY_SMOKE = replace(
    _EFFICIENCY_QUICK,
    cost_variants=("CARN", "G4", "G4R", "G64R"),  # every code path in seconds
    latency_variants=("CARN", "G4R"),
    latency_lr=(16, 16),
    latency_repeats=1,
    latency_backends=("eager",),
    variants=("CARN", "G4R", "G8R"),
    patch=8,
    train=replace(QUICK_SWEEP_RECIPE, steps=2, milestones=(), val_every=1, checkpoint_every=0),
    train_images=("astronaut",),
    eval_images=("rocket",),
    eval_crop=48,
    use_zoo=False,                   # train, so the training path runs
    train_workers=1,
)
EFFICIENCY_PROFILES = {"smoke": _EFFICIENCY_SMOKE, "quick": _EFFICIENCY_QUICK, "full": _EFFICIENCY_FULL}

_VARIANT = re.compile(r"G(\d+)(R?)")


def parse_variant(name: str) -> tuple[str, tuple[tuple[str, object], ...]]:
    """``"CARN"`` -> ``("carn", ())``; ``"G8R"`` -> ``("carn_m", (("groups", 8), ("recursive", True)))``: the
    model and constructor overrides of Fig. 2.8's label (:func:`companion.models.carn_m.efficient_variant`)."""
    if name == "CARN":
        return "carn", ()
    match = _VARIANT.fullmatch(name)
    if not match or int(match.group(1)) < 1:
        raise CompanionError(f"unknown Fig. 2.8 variant {name!r}; use CARN or G<groups>[R], e.g. G4R")
    return "carn_m", (("groups", int(match.group(1))), ("recursive", bool(match.group(2))))


def variant_spec(name: str, cfg: EfficiencyConfig) -> SRTraining:
    """The :class:`SRTraining` of Fig. 2.8 variant ``name`` under ``cfg``."""
    model, overrides = parse_variant(name)
    return SRTraining(model, size=cfg.size, scale=cfg.scale, patch=cfg.patch, train=cfg.train, loss=cfg.loss,
                      source=cfg.source, train_images=cfg.train_images, overrides=overrides)


#: notebook stem -> {profile: config}; see :mod:`companion.profiles`.
NOTEBOOKS: dict[str, dict[str, object]] = {"02a_carn": CARN_PROFILES, "02b_initialisation": INIT_PROFILES,
                                           "02c_pcarn": PCARN_PROFILES, "02d_efficiency": EFFICIENCY_PROFILES}


__all__ = ["HELD_OUT", "VAL_IMAGE", "FIT_IMAGES", "SEEN_IMAGES", "PAPER_SETS", "OURS_L1", "OURS_GAN",
           "SHARED_WEIGHTS", "QUICK_RECIPE", "SRTraining", "FIG_2_10_SETS", "TABLE_2_8_SCALES", "QualitativeConfig", "QUALITATIVE_PROFILES",
           "CARNConfig", "CARN_PROFILES", "TABLE_2_3_INITS", "PAPER_INIT_TRAINING", "QUICK_INIT_TRAINING",
           "InitConfig", "INIT_PROFILES", "ZOO_L1", "AUTHORS_RELEASES", "PAPER_L1_TRAINING", "QUICK_L1_FALLBACK",
           "PCARNConfig", "PCARN_PROFILES", "PAPER_FAMILY", "QUICK_SWEEP_RECIPE", "PAPER_RECIPE", "EfficiencyConfig",
           "EFFICIENCY_PROFILES", "parse_variant", "variant_spec", "NOTEBOOKS"]
