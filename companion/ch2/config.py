"""Profiles of the Chapter 2 notebooks: ``02a_carn`` (:class:`CARNConfig`), ``02b_initialisation``
(:class:`InitConfig`, described at the end of this docstring); ``02c``–``02d`` add theirs here.

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

``02b_initialisation`` (:class:`InitConfig`) draws Figs. 2.6-2.7 from the untrained paper-size single-scale ×4
CARN under Table 2.3's six schemes (:data:`TABLE_2_3_INITS`) at every profile (the thesis' 100K weights, 1000
bins on ±0.15; activations clipped to ±0.5 on a batch of real LR patches), and trains Table 2.3:

* ``full``: the authors' experiment (:data:`PAPER_INIT_TRAINING`: DIV2K, batch 16 of 32×32 LR patches, 400K
  steps, LR 1e-4 halved every 180K, gradient clip 10, L1), paper-size CARN ×4, scored on Set14 ×4, 3 seeds;
* ``quick``: the quick-size CARN (B = U = 3) narrowed to C = 16 (70,611 parameters) ×4 on 20×20 LR patches of
  seven embedded photographs (:data:`INIT_FIT_IMAGES`; :data:`INIT_VAL_IMAGE`, coffee, only draws the validation
  curve), batch 8, the same 1,000 steps for every run, LR 5e-4 (constant; fixed beforehand, never tuned on the
  held-out images), the paper's L1 loss, Adam betas and gradient clip; 3 seeds; scored on the three held-out
  photographs (:data:`HELD_OUT`) whole. The activation batch is 4 LR patches of 48 px. The 18 trained models
  (6 schemes × 3 seeds) ship in the model zoo (``checkpoints/ch2/02b``, :mod:`companion.ch2.zoo`), so the
  notebook loads and scores them in seconds and trains only what is missing or stale (two runs side by side,
  one thread each). **Why C = 16 and 1,000 steps** (until 2026-12 the profile trained C = 32 for 110 steps, which
  left every model far below bicubic): the zoo must stay small, and 18 models at C = 32 would be 20 MB (at
  C = 16: 0.29 MB each, 5.3 MB in all). The step count is about the most that keeps the zoo build of all 18
  within 15 minutes of one thread on a quiet machine: a 1,000-step model took 105–111 s, validation included,
  at about half a core (two side by side while two other trainings shared the two cores), i.e. about 0.05 s a
  step and 15–16 minutes for the 18 on a whole core (estimated, not timed on a quiet machine; the build took
  21 minutes of wall time, two at a time, on a busy machine: ``python -m companion zoo build ch2/02b``); it was checked
  on the validation photograph only (coffee's centre 192 px, RGB PSNR; never trained on; no test image was
  looked at). Pilot runs of seed 0, validated every 100 steps up to 1,200: 1.0 × U(±√(1/F)) rose from 19.6 dB
  (100 steps) to 25.0 (800), 25.3 (1,000) and 25.5 dB (1,200), bicubic being 25.4 dB; 1.0 × N(0, √(2/F))
  from 13.4 to 21.2, 21.6 and 22.1 dB. Both still rise at 1,000 (no sign of over-fitting: more steps would
  help), and at 1,000 the best scheme is about level with bicubic on validation while the worst is far below:
  the run is still short, and the table compares schemes early in training, not converged models. The zoo
  sidecars keep every model's validation curve;
* ``smoke``: every code path in seconds (5,000 weights, a 16-px patch, 3 steps, one 48-px test crop).
"""
from __future__ import annotations

from dataclasses import dataclass

from companion.engine.settings import TrainConfig

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


# --------------------------------------------------------------------------------------------------------
# 02b_initialisation: Figs. 2.6-2.7 (untrained, paper size) and Table 2.3 (trained, with seeds).

#: Table 2.3's six initialisations, in the table's order (keys of companion.ch2.initialisation.INITS).
TABLE_2_3_INITS = ("msra_normal_0.1", "msra_uniform_0.1", "default_0.1", "msra_normal_1.0", "msra_uniform_1.0",
                   "default_1.0")
#: The embedded photographs held out for Table 2.3's evaluation (never trained on, never used to choose a
#: setting): the three everyday scenes Chapter 7 also tests on. The other eight train.
HELD_OUT = ("china", "flower", "rocket")
TRAIN_IMAGES = ("astronaut", "chelsea", "coffee", "hubble_deep_field", "ihc", "motorcycle_left",
                "motorcycle_right", "retina")
#: 02b's quick validation photograph (its curve only; one of the eight above, left out of Table 2.3's training,
#: as :mod:`companion.ch2.training` does), and the seven that train.
INIT_VAL_IMAGE = "coffee"
INIT_FIT_IMAGES = tuple(n for n in TRAIN_IMAGES if n != INIT_VAL_IMAGE)

#: The authors' Table 2.3 experiment (nmhkahn/PCARN-pytorch, ``script/init.sh`` with ``ecarn/solver.py``):
#: single-scale x4 CARN (their ``ablation.m5``, Table 2.1's "+Residual"), L1, Adam (0.9, 0.999, 1e-8), LR 1e-4
#: halved every 180K steps (``StepLR``), batch 16 of 32x32 LR patches, 400K steps, gradient norm clipped to 10,
#: evaluated on Set14 x4 (``script/init_infer.sh``).
PAPER_INIT_TRAINING = TrainConfig(steps=400_000, batch_size=16, lr=1e-4, milestones=(180_000, 360_000), gamma=0.5,
                                  betas=(0.9, 0.999), eps=1e-8, grad_clip=10.0)


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
    loss: str                        # companion.engine.loop.LOSSES key
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


_HIST = dict(inits=TABLE_2_3_INITS, hist_size="paper", weight_samples=100_000, weight_bins=1000, weight_range=0.15,
             act_bins=100, act_clip=0.5)

INIT_PROFILES = {
    "smoke": InitConfig(source="bundled", **{**_HIST, "weight_samples": 5_000, "weight_bins": 100},
                        act_images=("astronaut",), act_batch=1, act_patch=16, resnet="resnet18", size="quick",
                        scale=4, patch=8,
                        train=TrainConfig(steps=3, batch_size=2, lr=5e-4, betas=(0.9, 0.999), grad_clip=10.0),
                        loss="l1", seeds=2, train_images=("astronaut",), eval_set="embedded",
                        eval_images=("rocket",), eval_crop=48, train_workers=1),
    # CPU scale: the quick-size CARN narrowed to C=16 (B=U=3, single-scale x4), 7 photographs to train, 1 to
    # validate, 3 held out, 3 seeds, the same fixed number of steps for every run; the paper's loss, Adam betas and
    # gradient clip; a larger LR and a short run in place of 400K steps (see the docstring above and 02b's
    # notebook for what that changes). Its 18 models ship in the zoo (checkpoints/ch2/02b).
    "quick": InitConfig(source="bundled", **_HIST, act_images=TRAIN_IMAGES, act_batch=4, act_patch=48,
                        resnet="resnet50", size="quick", scale=4, patch=20,
                        train=TrainConfig(steps=1000, batch_size=8, lr=5e-4, betas=(0.9, 0.999), grad_clip=10.0,
                                          val_every=100),
                        loss="l1", seeds=3, train_images=INIT_FIT_IMAGES, eval_set="embedded", eval_images=HELD_OUT,
                        eval_crop=0, train_workers=2, channels=16, val_image=INIT_VAL_IMAGE, use_zoo=True),
    # The authors' experiment: paper-size single-scale x4 CARN, DIV2K, Set14 (see PAPER_INIT_TRAINING).
    "full": InitConfig(source="data", **_HIST, act_images=TRAIN_IMAGES, act_batch=16, act_patch=48,
                       resnet="resnet50", size="paper", scale=4, patch=32, train=PAPER_INIT_TRAINING, loss="l1",
                       seeds=3, train_images=(), eval_set="Set14", eval_images=(), eval_crop=0, train_workers=1),
}

# 02c and 02d keep their profiles beside their experiments (imported last: they read HELD_OUT / TRAIN_IMAGES).
from companion.ch2.efficiency import NOTEBOOKS as _EFFICIENCY_NOTEBOOKS  # noqa: E402
from companion.ch2.pcarn import NOTEBOOKS as _PCARN_NOTEBOOKS  # noqa: E402

#: notebook stem -> {profile: config}; see :mod:`companion.profiles`.
NOTEBOOKS: dict[str, dict[str, object]] = {"02a_carn": CARN_PROFILES, "02b_initialisation": INIT_PROFILES,
                                           **_PCARN_NOTEBOOKS, **_EFFICIENCY_NOTEBOOKS}
