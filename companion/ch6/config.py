"""The experiments of Chapter 6's notebooks, declared once: ``06a_distortion_datasets`` (the Flickr-Distortion
classification and detection sets, §6.2), ``06b_classification`` (Table 6.1, Fig. 6.2) and ``06c_detection``
(Tables 6.2-6.3, Fig. 6.3). Each quick profile is ``replace(full, ...)`` with a comment per override."""
from __future__ import annotations

from dataclasses import dataclass, replace

from companion.engine.settings import TrainConfig


@dataclass(frozen=True)
class DistortionDatasetsConfig:
    source: str           # "bundled" (embedded images) or "data" (COMPANION_DATA/flickr_references/)
    references: int       # reference images used when bundled (0 = all embedded images)
    reference_crop: int   # centre-crop the bundled copies to this side (0 = full size; >= 300 for detection)
    example_size: int     # side of the crop shown in the 8 x 3 grid, pixels
    per_reference: int    # detection images per reference (paper: 20)
    workers: int          # generator processes
    statistics_plans: int  # sampled detection plans per set for the measured region statistics

    def required_folders(self) -> tuple[str, ...]:
        """Folders that must exist under the data root before the notebook starts (checked by the runner)."""
        return ("flickr_references",) if self.source == "data" else ()


PROFILES = {
    "smoke": DistortionDatasetsConfig(source="bundled", references=3, reference_crop=300, example_size=64,
                                      per_reference=1, workers=1, statistics_plans=100),
    "quick": DistortionDatasetsConfig(source="bundled", references=0, reference_crop=0, example_size=256,
                                      per_reference=4, workers=2, statistics_plans=5000),
    # Paper scale: 804 Flickr references x 24 classification images (19,296) and x 20 per detection set (16,080).
    "full": DistortionDatasetsConfig(source="data", references=0, reference_crop=0, example_size=300,
                                     per_reference=20, workers=16, statistics_plans=20000),
}

#: Notebook file stem -> its profiles; :mod:`companion.profiles` collects these from every chapter package.
NOTEBOOKS = {"06a_distortion_datasets": PROFILES}


# --------------------------------------------------------------------------------------------------------
# 06c_detection (§6.3, Tables 6.2-6.3, Fig. 6.3): SSD distortion detectors. Specs of the detectors that
# companion.ch6.detection trains, evaluates and the zoo holds (companion.ch6.zoo).

@dataclass(frozen=True)
class DetectionConfig:
    """06c: SSD300 finding and naming the distorted regions of Flickr-Distortion's detection sets (§6.3)."""

    source: str                      # "bundled" (embedded images) or "data" (COMPANION_DATA/flickr_references/)
    references: int                  # bundled references used (0 = all embedded images)
    reference_crop: int              # centre-crop the bundled copies to this side (0 = whole; >= 300)
    per_reference: int               # detection images per reference and set (paper: 20)
    data_workers: int                # generator processes
    backbones: tuple[str, ...]       # Table 6.2's rows: "atrous_vgg16", "resnet101"
    transfer_backbone: str           # Table 6.3's and Fig. 6.3's backbone (paper: Atrous VGG-16)
    width: float                     # channels × torchvision's (1 = paper size)
    classifier_profile: str          # start the backbone from this 06b profile's fine-tuned classifier ("" = no)
    imagenet: bool                   # else torchvision's cached ImageNet weights when there (width 1 only)
    recipe: TrainConfig              # the shared loop's settings (its seed is the run's seed)
    iou_thresholds: tuple[float, ...]  # mAP's IoU thresholds (paper: 0.5, 0.75, 0.9)
    size_bins: tuple[float, ...]     # Fig. 6.3: edges of the region size-ratio bins
    size_ious: tuple[float, ...]     # Fig. 6.3's IoU thresholds: the paper's 0.9, then looser ones drawn beside it
    fps_images: int                  # test images timed for the frames per second
    paper_fps_images: int            # images timed through the paper-size networks (random weights; 0 = none)
    examples: int                    # test images drawn per set with their detections
    display_score: float             # the drawn detections' minimum score
    seeds: int                       # training seeds (run seed, run seed + 1, ...)
    use_zoo: bool = False            # load current ch6/06c zoo entries (companion.ch6.zoo) instead of training

    def required_folders(self) -> tuple[str, ...]:
        """Folders that must exist under the data root before the notebook starts (checked by the runner)."""
        return ("flickr_references",) if self.source == "data" else ()


# The thesis' experiment (§6.3) for a GPU. §6.3 gives no optimiser, schedule or batch: these are the SSD
# paper's VOC schedule (batch 32; 40k steps, then ÷10 for 10k and again for 10k) with the shared loop's Adam
# at 1e-4 instead of SGD at 1e-3, validation every 2,000 steps. The thesis starts SSD from the backbone
# fine-tuned on the classification set (§6.3.2); the zoo holds only quick classifiers, so the full profile
# starts from ImageNet (torchvision's cache) instead.
DETECTION_FULL = DetectionConfig(
    source="data", references=0, reference_crop=0, per_reference=20, data_workers=16,
    backbones=("atrous_vgg16", "resnet101"), transfer_backbone="atrous_vgg16", width=1.0,
    classifier_profile="", imagenet=True,
    recipe=TrainConfig(steps=60_000, batch_size=32, lr=1e-4, milestones=(40_000, 50_000), gamma=0.1,
                      val_every=2_000, checkpoint_every=2_000),
    iou_thresholds=(0.5, 0.75, 0.9), size_bins=(0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7),
    size_ious=(0.9, 0.5),
    fps_images=50, paper_fps_images=0, examples=4, display_score=0.5, seeds=1)

DETECTION_QUICK = replace(
    DETECTION_FULL,
    source="bundled",                # the eleven embedded photographs: nothing to download
    data_workers=2,                  # two cores
    width=0.125,                     # 1/8 of the channels: a CPU trains it in minutes (no ImageNet at this width)
    classifier_profile="quick",      # §6.3.2: the backbone of 06b's fine-tuned quick classifier (same width)
    recipe=replace(DETECTION_FULL.recipe, steps=600, batch_size=8, lr=1e-3, milestones=(450,), val_every=50,
                   checkpoint_every=50,  # ~34 epochs of the 140 training images, ~3 CPU-minutes a detector;
                   bf16=True, channels_last=True),  # 1e-3 for a short run; bf16 autocast: ~1.6x on an AVX-512 CPU
    fps_images=20,                   # fewer timed images on a CPU
    paper_fps_images=5,              # the paper-size networks timed here too, on a few images (random weights)
    use_zoo=True,                    # the zoo ships these detectors: the notebook only evaluates
)

DETECTION_SMOKE = replace(
    DETECTION_QUICK,
    references=3, reference_crop=300,  # three 300 px references: one train, one val, one test
    per_reference=2,                 # two images per reference and set
    data_workers=1,                  # nothing to parallelise
    width=0.0625,                    # the smallest networks
    classifier_profile="smoke",      # 06b's smoke classifiers (same width), trained here for two steps
    recipe=replace(DETECTION_QUICK.recipe, steps=2, batch_size=2, milestones=(), val_every=1, checkpoint_every=1),
    fps_images=2, paper_fps_images=1, examples=2,  # every code path in seconds
    use_zoo=False,                   # the zoo holds the quick detectors, not these
)

NOTEBOOKS["06c_detection"] = {"smoke": DETECTION_SMOKE, "quick": DETECTION_QUICK, "full": DETECTION_FULL}


# --------------------------------------------------------------------------------------------------------
# 06b_classification (§6.3, Table 6.1, Fig. 6.2): which distortion, at which level, is in an image. The
# experiment is companion.ch6.classification; the zoo holds the quick profile's classifiers (companion.ch6.zoo).

@dataclass(frozen=True)
class ClassificationConfig:
    """06b: Table 6.1's classifiers (IQA-CNN+/++ from scratch; VGG-16, Atrous VGG-16, ResNet-101 frozen with a
    new FC, and fine-tuned) on Flickr-Distortion's classification set (§6.2.1, §6.3)."""

    source: str                      # "bundled" (embedded images) or "data" (COMPANION_DATA/flickr_references/)
    references: int                  # bundled references used (0 = all embedded images)
    reference_crop: int              # centre-crop the references to this side before distorting (0 = whole)
    data_workers: int                # generator processes
    labels: str                      # "type_level": 24 classes (8 types x 3 levels); "type": 8 classes
    models: tuple[str, ...]          # Table 6.1's rows: iqa_cnn_plus, iqa_cnn_plusplus, vgg16, atrous_vgg16, resnet101
    width: float                     # the recognisers' channels x torchvision's (1 = the paper's networks)
    imagenet: bool                   # start the recognisers from torchvision's cached ImageNet weights (width 1 only)
    crop: int                        # input side: the centre crop scored on validation and test (§6.3.2)
    train_crops: str                 # "centre": train on the same centre crop (§6.3.2); "random": random crops
    recipe: TrainConfig              # the recognisers' training (both regimes; its seed is the run's seed)
    iqa_recipe: TrainConfig          # IQA-CNN+/++: trained on 32 x 32 patches, as Kang et al. train them
    fps_repeats: int                 # timed forward passes per model (one image each)
    paper_fps: bool                  # also time the paper-width networks at fps_size (random weights)
    fps_size: int                    # side of the paper-width networks' timed input
    examples: int                    # misclassified test images drawn (Fig. 6.2)
    seeds: int                       # training seeds (run seed, run seed + 1, ...)
    use_zoo: bool = False            # load current ch6/06b zoo entries (companion.ch6.zoo) instead of training

    def required_folders(self) -> tuple[str, ...]:
        """Folders that must exist under the data root before the notebook starts (checked by the runner)."""
        return ("flickr_references",) if self.source == "data" else ()


# The thesis' experiment (§6.3) for a GPU: the paper's networks from ImageNet, 224 px centre crops, 24 classes.
# §6.3 gives no optimiser, batch or schedule: Adam at 1e-4 (the shared loop's optimiser), batch 32 for about 28
# epochs of the 11,577 training images, validated every 500 steps; IQA-CNN+/++ on batches of 128 patches.
CLASSIFICATION_FULL = ClassificationConfig(
    source="data", references=0, reference_crop=0, data_workers=16, labels="type_level",
    models=("iqa_cnn_plus", "iqa_cnn_plusplus", "vgg16", "atrous_vgg16", "resnet101"), width=1.0, imagenet=True,
    crop=224, train_crops="centre",
    recipe=TrainConfig(steps=10_000, batch_size=32, lr=1e-4, val_every=500, checkpoint_every=500),
    iqa_recipe=TrainConfig(steps=40_000, batch_size=128, lr=1e-4, val_every=2_000, checkpoint_every=2_000),
    fps_repeats=50, paper_fps=False, fps_size=224, examples=4, seeds=1)

CLASSIFICATION_QUICK = replace(
    CLASSIFICATION_FULL,
    source="bundled",                # the eleven embedded photographs: nothing to download
    reference_crop=256,              # their 256 px centres: non-local means takes minutes on whole photographs
    data_workers=2,                  # two cores
    width=0.125,                     # 1/8 of the channels: a CPU trains it in minutes (random init: no ImageNet)
    crop=96,                         # 96 px inputs: 9 IQA-CNN patches, and small enough for a CPU
    train_crops="random",            # 7 references give 168 training images: random crops (homogeneous distortion)
    recipe=replace(CLASSIFICATION_FULL.recipe, steps=1_000, batch_size=16, lr=1e-3, val_every=100,
                   checkpoint_every=100),  # ~95 epochs of 168 images, sized to the CPU budget; 1e-3: a short run
    iqa_recipe=replace(CLASSIFICATION_FULL.iqa_recipe, steps=1_000, batch_size=64, lr=1e-3, val_every=100,
                       checkpoint_every=100),  # the same, for the patch networks
    fps_repeats=5,                   # fewer timed passes on a CPU (a paper-width VGG-16 pass takes a second or more)
    paper_fps=True,                  # the paper-width networks timed here too (random weights: speed only)
    use_zoo=True,                    # the zoo ships these classifiers: the notebook only evaluates
)

CLASSIFICATION_SMOKE = replace(
    CLASSIFICATION_QUICK,
    references=3, reference_crop=64,  # three 64 px references: one train, one val, one test
    data_workers=1,                  # nothing to parallelise
    width=0.0625,                    # the smallest networks
    crop=32,                         # one IQA-CNN patch; the smallest input every network takes
    recipe=replace(CLASSIFICATION_QUICK.recipe, steps=2, batch_size=2, val_every=1, checkpoint_every=1),
    iqa_recipe=replace(CLASSIFICATION_QUICK.iqa_recipe, steps=2, batch_size=2, val_every=1, checkpoint_every=1),
    fps_repeats=2, paper_fps=False, examples=2,  # every code path, no paper-width timing
    use_zoo=False,                   # the zoo holds the quick classifiers, not these
)

NOTEBOOKS["06b_classification"] = {"smoke": CLASSIFICATION_SMOKE, "quick": CLASSIFICATION_QUICK,
                                   "full": CLASSIFICATION_FULL}
