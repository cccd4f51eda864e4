"""The experiment of the Chapter 5 notebook ``05_simusr``, declared once (:class:`SimUSRSpec`): SimUSR against
ZSSR without any HR image in training (thesis §5.3-5.4, Tables 5.1, 5.3, 5.4, Fig. 5.3).

A spec holds the data split, ZSSR's online recipe (:class:`ZSSRRecipe`), SimUSR's offline recipe
(:class:`SimUSRRecipe`), the noisy setting (:class:`NoiseSetting`), the latency comparison, the seeds;
``quick`` and ``smoke`` are ``replace(full, ...)`` with one comment per override.

* ``full``: the thesis' setting for a GPU. SimUSR's pool: the ×4 MATLAB-bicubic LR images of DIV2K's 800
  training images (the thesis uses DF2K's LR images; Flickr2K is not in the companion's download layout); its
  backbones CARN, RCAN and EDSR at paper size, same-grid (Chapter 4's §4.4 input) with MoA; the recipe is the
  authors' CutBlur code's (the thesis gives none for Chapter 5: L1, Adam (0.9, 0.999), 10⁻⁴ halved at 200K /
  400K / 600K, 700K steps, batch 16 of 48-px LR patches). ZSSR at paper size (8 × 64, 0.23M) with its code's
  settings (3,000 steps, 128-px fathers, Adam at 10⁻³ divided by ten three times, its affine augmentation, the
  geometric self-ensemble at test time). Scored on Set5, Set14, B100, Urban100, Manga109 (Table 5.1, Y channel);
  the noisy setting (Table 5.3) on DIV2K's validation images with Gaussian noise as a stand-in for NTIRE 2020,
  whose data the companion does not download (RGB); Table 5.4's runtime on a 480×320 LR image.
* ``quick``: the embedded photographs (:data:`SPLIT`): SimUSR's pool is the ×4 LR images of the seven training
  photographs (no HR pixel is used: :func:`companion.ch5.data.lr_pool`), choices are judged on the validation
  photograph, the three test photographs are scored whole against their HR images. ZSSR's 8 layers at width 32
  (57,251 parameters, against the paper's 225,091) train online for each test image in the notebook
  (:data:`QUICK_ZSSR`); SimUSR's CARN and the supervised CARN (CARN's quick layout at C = 16, same-grid, 77,091
  parameters against 1,137,795; MoA "sr-small") come from the model zoo (:mod:`companion.ch5.zoo`). The two
  networks are closer in size than the paper's (about 1 : 1.3 against 1 : 5), which favours ZSSR. Three seeds for
  the clean comparison, two for the noisy ablation (its three ZSSR variants train online).
* ``smoke``: every code path in seconds (one training and one test photograph, 64-px test crop, 2 steps).

Readings where the thesis is silent are in :mod:`companion.ch5.zssr` (ZSSR's loop), :mod:`companion.ch5.simusr`
(SimUSR's pairs) and :mod:`companion.ch5.data` (noise and BM3D).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from companion.data.splits import EMBEDDED_SR, Split
from companion.engine.settings import TrainConfig

#: The notebook whose experiment this is (part of every zoo key).
NOTEBOOK = "05_simusr"
#: The split: seven photographs give SimUSR's LR pool (and the supervised model's pairs), coffee judges the
#: recipes, china / flower / rocket are scored once per recipe.
SPLIT = EMBEDDED_SR
#: Table 5.1's test sets, in its order.
PAPER_SETS = ("Set5", "Set14", "B100", "Urban100", "Manga109")
#: The networks SimUSR can use (Table 5.1's backbones), by registry name.
BACKBONES = ("carn", "rcan", "edsr")
#: How the tables and figures name the methods.
LABELS = {"bicubic": "Bicubic", "zssr": "ZSSR", "simusr": "SimUSR", "supervised": "Supervised"}


@dataclass(frozen=True)
class ZSSRRecipe:
    """ZSSR's online training on one test image (§5.3.1; ZSSR's released ``configs.py`` where the thesis is
    silent): the network size, steps, father crop and batch, Adam's rate and its step schedule, the
    augmentation, and the test-time self-ensemble."""

    size: str                        # companion.models.zssr size: "paper" (8 × 64, 0.23M) or "quick" (8 × 32)
    steps: int                       # online training steps per test image
    crop: int                        # father crop side, px of the test LR image (a multiple of the scale)
    batch: int                       # fathers per step
    lr: float                        # Adam's learning rate
    milestones: tuple[int, ...]      # steps after which the rate is multiplied by gamma
    gamma: float
    affine: bool                     # ZSSR's interpolated affine mode (scale, rotation, shear) besides flips / rot90
    min_scale: float                 # the affine mode's smallest zoom of the image
    ensemble: bool                   # geometric self-ensemble at test time (ZSSR's output_flip)

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class SimUSRRecipe:
    """SimUSR's offline training (§5.3.2), which the supervised reference shares: backbones, size, the
    shared SR trainer's settings, LR patch side, loss and Chapter 4's augmentation."""

    networks: tuple[str, ...]        # BACKBONES trained as SimUSR (the first is also the supervised reference)
    size: str                        # network size: "quick" or "paper"
    overrides: tuple[tuple[str, object], ...]  # constructor arguments over the size's, e.g. (("channels", 16),)
    patch: int                       # LR patch side of the pseudo-pairs: px of LR↓s (the father patch is s× it)
    train: TrainConfig               # steps, batch, Adam, schedule, gradient clip (companion.engine.sr_training)
    loss: str                        # companion.engine.sr_training.LOSSES key
    augmentation: str                # companion.data.augments.PRESETS key, or "none"
    val_crop: int                    # centre crop (HR px) of the validation photograph for the curve


@dataclass(frozen=True)
class NoiseSetting:
    """The noisy setting of Table 5.3 (NTIRE 2020-like): Gaussian noise on every LR image, training and test,
    and BM3D before both methods (§5.4.1)."""

    sigma: float                     # noise standard deviation, in 8-bit levels (0..255)
    bm3d_sigma: float                # σ given to BM3D, in 8-bit levels (the noise's own: an oracle level)
    seed: int                        # the noise draw (the data, fixed across training seeds)


@dataclass(frozen=True)
class SimUSRSpec:
    """05: SimUSR against ZSSR (Chapter 5): Table 5.1 (clean ×4), Table 5.3 (noisy, BM3D, affine), Table 5.4
    (parameters and runtime), Fig. 5.3 (crops)."""

    source: str                      # "bundled" (embedded photographs, split) or "data" (DIV2K + benchmark sets)
    split: Split                     # embedded photographs: pool / supervised pairs (train), validation, test
    scale: int                       # the SR factor (×4 throughout Chapter 5)
    eval_sets: tuple[str, ...]       # "embedded" (split.test) or companion.data.sr.BENCHMARKS names
    eval_crop: int                   # centre crop of each HR test image, px (0 = whole image)
    zssr: ZSSRRecipe                 # Table 5.1's ZSSR (the original, with its affine augmentation)
    simusr: SimUSRRecipe
    noise: NoiseSetting
    noisy_set: str                   # the noisy experiment's test set ("embedded" or "DIV2K")
    seeds: int                       # seeds of the clean comparison (0, 1, ...)
    noisy_seeds: int                 # seeds of the noisy ablation (0 = skip it)
    latency_set: str                 # the set of Table 5.4's runtime image ("embedded" or a benchmark name)
    latency_image: str               # its image ("" = the set's first)
    latency_lr: tuple[int, int]      # its LR size (height, width), a centre crop (0, 0 = the whole LR image)
    latency_repeats: int             # SimUSR's forward passes timed (the median is kept)
    figure_image: str                # test image of Fig. 5.3's crops
    figure_crop: int                 # HR side of the crop, px
    workers: int                     # ZSSR runs side by side on a CPU, one thread each
    use_zoo: bool = False            # load current ch5/05 zoo entries (companion.ch5.zoo) instead of training

    def required_folders(self) -> tuple[str, ...]:
        """Folders that must exist under the data root before the notebook starts (checked by the runner)."""
        if self.source != "data":
            return ()
        sets = set(self.eval_sets) | {self.noisy_set, self.latency_set}
        return ("DIV2K",) + tuple(f"benchmark/{s}" for s in PAPER_SETS if s in sets)

    @property
    def supervised_network(self) -> str:
        """The backbone of the supervised reference (Table 5.1's "Supervised CARN")."""
        return self.simusr.networks[0]


def zssr_variants(spec: SimUSRSpec) -> dict[str, tuple[ZSSRRecipe, bool]]:
    """Table 5.3's ZSSR rows on the noisy images: ``{row: (recipe, BM3D first)}``: ZSSR as in Table 5.1, with
    BM3D, and with BM3D but without the affine mode."""
    return {"ZSSR": (spec.zssr, False), "ZSSR +BM3D": (spec.zssr, True),
            "ZSSR +BM3D -Affine": (replace(spec.zssr, affine=False), True)}


# --------------------------------------------------------------------------------------------------------
# The profiles.

#: ZSSR's released settings (configs.py): 8 × 64, 128-px fathers one at a time, Adam at 1e-3; its adaptive
#: schedule (divide by ten when the reconstruction error stops falling, stop below 9e-6, at most 3,000 steps)
#: read as a fixed one: ten times smaller after half, three quarters and eleven twelfths of 3,000 steps.
PAPER_ZSSR = ZSSRRecipe(size="paper", steps=3000, crop=128, batch=1, lr=1e-3, milestones=(1500, 2250, 2750),
                        gamma=0.1, affine=True, min_scale=0.5, ensemble=True)

#: The authors' CutBlur code's recipe (Chapters 4-5): L1, Adam (0.9, 0.999), 1e-4 halved at 200K / 400K / 600K,
#: 700K steps, batch 16 of 48-px LR patches, MoA with p = 1 for the big networks (§4.3.3).
PAPER_SIMUSR = SimUSRRecipe(
    networks=BACKBONES, size="paper", overrides=(), patch=48,
    train=TrainConfig(steps=700_000, batch_size=16, lr=1e-4, milestones=(200_000, 400_000, 600_000), gamma=0.5,
                      betas=(0.9, 0.999), checkpoint_every=10_000, val_every=10_000),
    loss="l1", augmentation="sr", val_crop=0)

FULL = SimUSRSpec(source="data", split=Split((), (), ()), scale=4, eval_sets=PAPER_SETS, eval_crop=0,
                  zssr=PAPER_ZSSR, simusr=PAPER_SIMUSR, noise=NoiseSetting(sigma=15.0, bm3d_sigma=15.0, seed=0),
                  noisy_set="DIV2K", seeds=1, noisy_seeds=1, latency_set="DIV2K", latency_image="", latency_lr=(320, 480),
                  latency_repeats=10, figure_image="", figure_crop=160, workers=1)

#: The quick ZSSR, judged on the validation photograph (coffee, ×4, Y PSNR of the whole image; bicubic 27.29 dB):
#: the quick-size network (8 × 32), two 64-px fathers a step, 350 steps with the rate ten times smaller after 210
#: and 280, its affine augmentation: 27.78 dB (250 steps: 27.49, 400: 27.86, 500: 27.97; 500 without the affine
#: mode: 27.73; with one father a step it learned nothing, 27.29). 350 steps keep the notebook's 28 online runs
#: within its five minutes on two cores. No self-ensemble (the thesis does not use it).
QUICK_ZSSR = replace(PAPER_ZSSR, size="quick", steps=350, crop=64, batch=2, milestones=(210, 280), ensemble=False)

QUICK = replace(
    FULL,
    source="bundled",           # the embedded photographs: no download, a CPU
    split=SPLIT,                # seven give the LR pool, coffee judges, three are scored
    eval_sets=("embedded",),    # the test photographs, not the paper's sets
    zssr=QUICK_ZSSR,            # online training that fits the notebook, per test image and seed
    simusr=replace(
        PAPER_SIMUSR,
        networks=("carn",),     # the lightweight backbone (Table 5.4's 1.14M at paper size)
        size="quick",           # CARN's quick layout (B = U = 3, every part of the paper's) ...
        overrides=(("channels", 16),),  # ... at C = 16 (77,091 parameters, 0.3 MB: the zoo stays small, as 02b's)
        patch=12,               # 12-px LR↓4 patches: the smallest training photograph's LR↓4 is 18 px high
        train=TrainConfig(steps=2000, batch_size=16, lr=1e-3, milestones=(1200, 1600), gamma=0.5, betas=(0.9, 0.999),
                          grad_clip=10.0, checkpoint_every=250, val_every=250),  # Chapter 2's quick recipe's shape
        augmentation="sr-small",  # MoA at p = 0.2: the thesis' setting for CARN on synthetic SR (§4.3.3)
        val_crop=192,           # the validation curve on coffee's centre 192 px
    ),
    noisy_set="embedded",       # noisy copies of the test photographs (NTIRE 2020 is not bundled)
    seeds=3,                    # three seeds: the claims are judged over seeds and images
    noisy_seeds=2,              # two for the ablation: three ZSSR variants train online per image and seed
    latency_set="embedded",     # a test photograph: its whole LR image (160×106)
    latency_image="rocket",
    latency_lr=(0, 0),
    latency_repeats=5,
    figure_image="china",       # a test photograph with repeating patterns (the roofs), as Fig. 5.3 shows
    figure_crop=128,
    workers=2,                  # ZSSR runs side by side, one thread each
    use_zoo=True,               # the zoo ships SimUSR-CARN and the supervised CARN: the notebook evaluates them
)

SMOKE = replace(
    QUICK,
    split=Split(train=("astronaut",), validation=("coffee",), test=("rocket",)),  # one image each way: seconds
    eval_crop=64,               # a 64-px crop of the test photograph (16-px LR)
    zssr=replace(QUICK_ZSSR, steps=2, crop=16, batch=2, milestones=(1,)),  # every path, two steps
    simusr=replace(QUICK.simusr, patch=6, train=replace(QUICK.simusr.train, steps=2, batch_size=2, milestones=(1,),
                                                        checkpoint_every=0, val_every=1), val_crop=48),
    seeds=1,                    # one seed runs every path
    noisy_seeds=1,
    latency_image="",           # the one test image
    latency_repeats=1,
    figure_crop=32,             # within the 64-px crop
    workers=1,                  # nothing to run side by side
    use_zoo=False,              # the zoo holds the quick models, not these
)

SIMUSR_PROFILES = {"smoke": SMOKE, "quick": QUICK, "full": FULL}

#: notebook stem -> {profile: config}; see :mod:`companion.profiles`.
NOTEBOOKS: dict[str, dict[str, object]] = {NOTEBOOK: SIMUSR_PROFILES}
