"""The experiments of Chapter 4 (CutBlur and data augmentation for low-level vision), declared once.

Four notebooks, one spec each (frozen dataclasses: split, models, recipe, seeds); ``quick`` and ``smoke`` are
``replace(full, ...)`` with one comment per override:

* ``04a_augmentations`` (:class:`AugmentationsSpec`): every augmentation of Table 4.1 on one (LR, HR) pair,
  their measured properties, and a widget to play with p and α;
* ``04b_cutblur_psd`` (:class:`FrequencySpec`): Fig. 4.3 (the PSD of an image against its Cutout, Mixup and
  CutBlur versions), Fig. 4.4 (a ×4 model fed an input that is already high-resolution: the baseline
  over-sharpens, the CutBlur model stays near the identity; on the embedded photographs and on the real
  RealSR pair) and Fig. 4.5 (a CutBlurred input and the Δ maps of where each model restores);
* ``04c_where_to_restore`` (:class:`WhereSpec`): the Δ maps on the real pair, Fig. 4.9's over-smoothing on
  denoising (trained on heavy noise, tested on milder noise), and an experiment none of the papers has: MoA in
  MEPSNet's training on SHDD (Chapter 7's quick recipe, same steps);
* ``04d_augmentation_tables`` (:class:`TablesSpec`): Tables 4.2 (each augmentation alone, and MoA) and 4.3
  (four models × data fractions, with and without MoA) at small scale, and what Tables 4.4–4.10 need.

One trained super-resolution model is one :class:`AugmentedRun` (model, augmentation, data fraction, recipe);
the same run serves every notebook that names it (04b's baseline and CutBlur models are rows of Table 4.2),
and the zoo (:mod:`companion.ch4.zoo`) holds the quick profile's runs. This module imports no PyTorch: the
augmentations are named here and built by :func:`companion.ch4.runs.augmentation_of`.

The thesis gives no optimizer, batch or step count for Chapter 4 except the 48×48 LR patch (l.2429); the
full profile takes the authors' code's recipe (L1, Adam (0.9, 0.999), 10⁻⁴ halved at 200k / 400k / 600k,
700k steps, batch 16), which the digest records. Every quick-profile choice is judged on the validation
photograph (:data:`SPLIT`), never on the test photographs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from companion.data.splits import EMBEDDED_SR, Split
from companion.engine.settings import TrainConfig

#: The split of every Chapter 4 notebook's embedded photographs: ``coffee`` chooses, the three test
#: photographs are scored once per recipe.
SPLIT = EMBEDDED_SR
NOTEBOOK_AUGMENTATIONS = "04a_augmentations"
NOTEBOOK_FREQUENCIES = "04b_cutblur_psd"
NOTEBOOK_WHERE = "04c_where_to_restore"
NOTEBOOK_TABLES = "04d_augmentation_tables"

#: What an :class:`AugmentedRun` may name as its augmentation: ``"none"`` (the baseline), one augmentation of
#: Table 4.1 alone (:data:`companion.data.augments.AUGMENTATIONS`), or ``"moa"`` (the mixture, §4.3.2, with the
#: preset of :func:`moa_preset`).
AUGMENTATION_CHOICES = ("none", "blend", "rgb", "mixup", "cutout", "cutmix", "cutmixup", "cutblur", "moa")
#: How tables name them (Table 4.2's rows).
AUGMENTATION_LABELS = {"none": "Baseline", "blend": "Blend", "rgb": "RGB perm.", "mixup": "Mixup",
                       "cutout": "Cutout", "cutmix": "CutMix", "cutmixup": "CutMixup", "cutblur": "CutBlur",
                       "moa": "MoA"}
#: §4.3.2: MoA's probability p is 1.0 for SR, except SRCNN and CARN on synthetic SR (0.2: small models are
#: hurt by strong regularisation); restoration tasks take 0.6.
SMALL_SR_MODELS = ("srcnn", "carn")


def moa_preset(model: str, task: str = "sr") -> str:
    """The :data:`companion.data.augments.PRESETS` key of MoA for ``model`` on ``task`` ("sr", "restoration",
    "realsr")."""
    if task == "sr":
        return "sr-small" if model in SMALL_SR_MODELS else "sr"
    return task


@dataclass(frozen=True)
class SRRecipe:
    """How one Chapter 4 model trains: the loop's settings (``train``: steps, batch, Adam, schedule), the LR
    patch side, the loss and the scale."""

    scale: int                       # ×s (1 = restoration at the same size)
    patch: int                       # LR patch side, px (the HR patch is scale × patch)
    train: TrainConfig
    loss: str = "l1"                 # companion.engine.loop.LOSSES key


@dataclass(frozen=True)
class AugmentedRun:
    """One trained model of Chapter 4: ``model`` (a :mod:`companion.models` name at ``size``, same-grid for
    SR) trained with ``augmentation`` (:data:`AUGMENTATION_CHOICES`) on ``fraction`` of the training data
    (each training photograph's centred crop of that fraction of its area; Table 4.3's "dataset volume"),
    with ``recipe``. Its key (:func:`run_key`) names the checkpoint and the zoo entry."""

    model: str
    size: str                        # "quick" or "paper" (companion.models SIZES)
    augmentation: str                # an AUGMENTATION_CHOICES name
    fraction: float                  # of the training data, in (0, 1]
    recipe: SRRecipe
    source: str = "bundled"          # "bundled" (embedded photographs, SPLIT.train) or "data" (DIV2K)
    split: Split = SPLIT
    task: str = "sr"                 # "sr" (bicubic ×scale) or "denoise" (Gaussian noise, scale 1)
    noise_sigma: float = 0.0         # training noise σ on the 0–255 scale ("denoise")

    def __post_init__(self) -> None:
        if self.augmentation not in AUGMENTATION_CHOICES:
            raise ValueError(f"augmentation {self.augmentation!r} is not one of {', '.join(AUGMENTATION_CHOICES)}")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction!r}")

    @property
    def preset(self) -> str:
        """MoA's preset for this run (:func:`moa_preset`); only used when ``augmentation == "moa"``."""
        return moa_preset(self.model, "sr" if self.task == "sr" else "restoration")

    def label(self) -> str:
        percent = f", {self.fraction:.0%} data" if self.fraction < 1 else ""
        return f"{self.model} {self.size} + {AUGMENTATION_LABELS[self.augmentation]}{percent}"


def run_key(run: AugmentedRun, seed: int) -> dict:
    """Everything that decides the weights of ``run`` trained with ``seed`` (JSON-ready)."""
    train = {k: v for k, v in asdict(run.recipe.train).items() if k not in ("checkpoint_every", "val_every", "seed")}
    key = dict(chapter=4, model=run.model, size=run.size, augmentation=run.augmentation, fraction=float(run.fraction),
               scale=run.recipe.scale, patch=run.recipe.patch, loss=run.recipe.loss, train=train, seed=int(seed),
               source=run.source, train_images=list(run.split.train), task=run.task)
    if run.augmentation == "moa":
        key["preset"] = run.preset
    if run.task != "sr":
        key["noise_sigma"] = float(run.noise_sigma)
    return key


# --------------------------------------------------------------------------------------------------------
# The recipes.

#: The authors' code's recipe (the thesis gives only the 48×48 LR patch): L1, Adam (0.9, 0.999), 10⁻⁴
#: halved at 200k / 400k / 600k steps, 700k steps, batch 16.
PAPER_RECIPE = SRRecipe(scale=4, patch=48, train=TrainConfig(steps=700_000, batch_size=16, lr=1e-4,
                                                              milestones=(200_000, 400_000, 600_000), gamma=0.5,
                                                              checkpoint_every=10_000))

QUICK_RECIPE = replace(
    PAPER_RECIPE,
    patch=12,                                   # 12-px LR patches (48-px HR): ~75 models must train on 2 cores
    train=replace(PAPER_RECIPE.train,
                  steps=600,                    # minutes, not days; checked on the validation photograph
                  lr=1e-3,                      # the paper's 1e-4 is too slow for a short run
                  milestones=(400,),            # halved once, for the last third
                  checkpoint_every=200),
)

SMOKE_RECIPE = replace(QUICK_RECIPE, patch=6, train=replace(QUICK_RECIPE.train, steps=2, batch_size=2, milestones=(),
                                                            checkpoint_every=0))


def sr_run(model: str, augmentation: str, recipe: SRRecipe, *, size: str, fraction: float = 1.0,
           source: str = "bundled") -> AugmentedRun:
    return AugmentedRun(model=model, size=size, augmentation=augmentation, fraction=fraction, recipe=recipe,
                        source=source)


# --------------------------------------------------------------------------------------------------------
# 04a: the augmentations themselves.


@dataclass(frozen=True)
class AugmentationsSpec:
    """04a: every augmentation on one (LR, HR) pair, their measured properties, a widget."""

    image: str                       # the embedded photograph of the pair
    crop: int                        # its centre crop (HR px)
    scale: int                       # LR = MATLAB-bicubic ↓scale, shown on the HR grid
    batch: int                       # patches per batch in the property checks
    patch: int                       # HR patch side in the property checks
    draws: int                       # batches drawn per property check
    seed: int
    widget: bool                     # show the ipywidgets explorer (headless runs draw one setting)


AUGMENTATIONS_FULL = AugmentationsSpec(image="chelsea", crop=256, scale=4, batch=16, patch=96, draws=2000, seed=0,
                                       widget=True)
AUGMENTATIONS_QUICK = replace(AUGMENTATIONS_FULL, draws=100)   # 100 batches per check: a few CPU-minutes in all
AUGMENTATIONS_SMOKE = replace(AUGMENTATIONS_QUICK, crop=96, batch=4, patch=32, draws=20)  # every path, seconds


# --------------------------------------------------------------------------------------------------------
# 04b: what augmentation does to frequencies.


@dataclass(frozen=True)
class FrequencySpec:
    """04b: Figs. 4.3-4.5. ``baseline`` and ``cutblur`` are the two ×4 models compared (same architecture,
    recipe and data; only the augmentation differs), each trained with ``seeds`` seeds."""

    split: Split
    psd_image: str                   # Fig. 4.3's photograph
    psd_crop: int                    # its centre crop, px
    baseline: AugmentedRun
    cutblur: AugmentedRun
    seeds: int
    eval_crop: int                   # centre crop of each test photograph (HR px; 0 = whole)
    realsr_root: str                 # folder holding Canon_003_HR.png / Canon_003_LR4.png ("" = the data root's RealSR)
    realsr_crop: int                 # centre crop of the real pair (px; 0 = whole)
    figure_image: str                # the test photograph of Figs. 4.4-4.5
    use_zoo: bool


FREQUENCY_FULL = FrequencySpec(
    split=SPLIT, psd_image="chelsea", psd_crop=256,
    baseline=sr_run("edsr", "none", PAPER_RECIPE, size="paper", source="data"),
    cutblur=sr_run("edsr", "cutblur", PAPER_RECIPE, size="paper", source="data"),
    seeds=1, eval_crop=0, realsr_root="", realsr_crop=0, figure_image="flower", use_zoo=False)

FREQUENCY_QUICK = replace(
    FREQUENCY_FULL,
    baseline=sr_run("edsr", "none", QUICK_RECIPE, size="quick"),       # quick-size EDSR on the embedded photographs
    cutblur=sr_run("edsr", "cutblur", QUICK_RECIPE, size="quick"),     # the same, with CutBlur
    seeds=3,                          # three seeds: the claim is judged over seeds and images
    realsr_crop=384,                  # a 384-px centre crop of the real pair: seconds on a CPU
    use_zoo=True,                     # the zoo ships these models
)

FREQUENCY_SMOKE = replace(
    FREQUENCY_QUICK,
    psd_crop=64,                      # small crops: seconds
    baseline=sr_run("edsr", "none", SMOKE_RECIPE, size="quick"),
    cutblur=sr_run("edsr", "cutblur", SMOKE_RECIPE, size="quick"),
    seeds=1,                          # one seed runs every path
    eval_crop=64,
    realsr_crop=64,
    use_zoo=False,                    # the zoo holds the quick models, not these
)


# --------------------------------------------------------------------------------------------------------
# 04c: where the models restore.


@dataclass(frozen=True)
class WhereSpec:
    """04c: the Δ maps on the real pair (04b's models), Fig. 4.9's over-smoothing on denoising (a scale-1 model
    trained on heavy noise, tested on milder noise, baseline against MoA), and MoA in MEPSNet's training on
    SHDD (Chapter 7's spec ``ch7_notebook``/``ch7_profile``, same steps, ``seeds`` seeds)."""

    frequency: FrequencySpec          # the SR models and the real pair (04b's)
    denoise_baseline: AugmentedRun
    denoise_moa: AugmentedRun
    test_sigmas: tuple[float, ...]    # noise σ of the denoising test (0-255)
    ch7_notebook: str                 # the Chapter 7 notebook whose spec MEPSNet trains with
    ch7_profile: str
    moa_preset: str                   # companion.data.augments.PRESETS key used in MEPSNet's training
    seeds: int
    eval_crop: int
    use_zoo: bool


def denoise_run(augmentation: str, recipe: SRRecipe, *, size: str, sigma: float, patch: int) -> AugmentedRun:
    """EDSR without its upsampler (scale 1) trained on ``patch``-px noisy/clean pairs with noise σ = ``sigma``."""
    return AugmentedRun(model="edsr", size=size, augmentation=augmentation, fraction=1.0,
                        recipe=replace(recipe, scale=1, patch=patch), task="denoise", noise_sigma=sigma)


WHERE_FULL = WhereSpec(
    frequency=FREQUENCY_FULL,
    denoise_baseline=denoise_run("none", PAPER_RECIPE, size="paper", sigma=70.0, patch=48),  # Table 4.7: σ = 70
    denoise_moa=denoise_run("moa", PAPER_RECIPE, size="paper", sigma=70.0, patch=48),
    test_sigmas=(70.0, 50.0, 30.0), ch7_notebook="07b_mepsnet_training", ch7_profile="full", moa_preset="restoration",
    seeds=1, eval_crop=0, use_zoo=False)

WHERE_QUICK = replace(
    WHERE_FULL,
    frequency=FREQUENCY_QUICK,        # 04b's quick models
    denoise_baseline=denoise_run("none", QUICK_RECIPE, size="quick", sigma=70.0, patch=48),  # the quick recipe, 48-px
    denoise_moa=denoise_run("moa", QUICK_RECIPE, size="quick", sigma=70.0, patch=48),        # patches as the paper's
    ch7_profile="quick",              # Chapter 7's quick recipe (07b), same steps
    seeds=3,                          # three seeds: the verdicts are over seeds and images
    eval_crop=256,                    # 256-px centre crops of the test photographs
    use_zoo=True,
)

WHERE_SMOKE = replace(
    WHERE_QUICK,
    frequency=FREQUENCY_SMOKE,
    denoise_baseline=denoise_run("none", SMOKE_RECIPE, size="quick", sigma=70.0, patch=16),  # seconds
    denoise_moa=denoise_run("moa", SMOKE_RECIPE, size="quick", sigma=70.0, patch=16),
    ch7_profile="smoke",              # Chapter 7's smoke settings: seconds
    seeds=1,
    eval_crop=64,
    use_zoo=False,
)


# --------------------------------------------------------------------------------------------------------
# 04d: Tables 4.2 and 4.3.


@dataclass(frozen=True)
class TablesSpec:
    """04d: Table 4.2 (``table_4_2_model`` trained with each of ``augmentations``) and Table 4.3
    (``table_4_3_models`` × ``fractions``, baseline and MoA), ``seeds`` seeds each, scored on the test split."""

    split: Split
    recipe: SRRecipe
    size: str
    source: str
    table_4_2_model: str
    augmentations: tuple[str, ...]
    table_4_3_models: tuple[str, ...]
    fractions: tuple[float, ...]
    seeds: int
    eval_crop: int
    use_zoo: bool

    def table_4_2_runs(self) -> list[AugmentedRun]:
        return [sr_run(self.table_4_2_model, a, self.recipe, size=self.size, source=self.source)
                for a in self.augmentations]

    def table_4_3_runs(self) -> list[AugmentedRun]:
        return [sr_run(m, a, self.recipe, size=self.size, fraction=f, source=self.source)
                for m in self.table_4_3_models for f in self.fractions for a in ("none", "moa")]


TABLES_FULL = TablesSpec(
    split=SPLIT, recipe=PAPER_RECIPE, size="paper", source="data", table_4_2_model="edsr",
    augmentations=("none", "cutout", "cutmix", "mixup", "cutmixup", "rgb", "blend", "cutblur", "moa"),
    table_4_3_models=("srcnn", "carn", "rcan", "edsr"), fractions=(1.0, 0.5, 0.25, 0.15, 0.1), seeds=1,
    eval_crop=0, use_zoo=False)

TABLES_QUICK = replace(
    TABLES_FULL,
    recipe=QUICK_RECIPE,              # the quick recipe (see QUICK_RECIPE)
    size="quick",                     # quick-size models
    source="bundled",                 # the embedded photographs
    fractions=(1.0, 0.1),             # the two ends of Table 4.3's range: 4 models × 2 × 2 × 3 seeds is what fits
    seeds=3,                          # three seeds: every verdict is over seeds and images
    eval_crop=256,
    use_zoo=True,
)

TABLES_SMOKE = replace(
    TABLES_QUICK,
    recipe=SMOKE_RECIPE,
    augmentations=("none", "cutblur", "moa"),   # three rows run every path
    table_4_3_models=("srcnn",),
    fractions=(1.0, 0.5),
    seeds=1,
    eval_crop=64,
    use_zoo=False,
)

#: notebook stem -> {profile: spec}; see :mod:`companion.profiles`.
NOTEBOOKS: dict[str, dict[str, object]] = {
    NOTEBOOK_AUGMENTATIONS: {"smoke": AUGMENTATIONS_SMOKE, "quick": AUGMENTATIONS_QUICK, "full": AUGMENTATIONS_FULL},
    NOTEBOOK_FREQUENCIES: {"smoke": FREQUENCY_SMOKE, "quick": FREQUENCY_QUICK, "full": FREQUENCY_FULL},
    NOTEBOOK_WHERE: {"smoke": WHERE_SMOKE, "quick": WHERE_QUICK, "full": WHERE_FULL},
    NOTEBOOK_TABLES: {"smoke": TABLES_SMOKE, "quick": TABLES_QUICK, "full": TABLES_FULL},
}
