"""Where the datasets live, what they are, and where to get them.

The data root is, in order: an explicit ``--data`` folder, the ``COMPANION_DATA`` environment variable, or
the repository's own ``data/`` folder. Under it every dataset keeps the folder layout of its official
archive, so a copy downloaded by hand works as well as one fetched by ``python -m companion download``::

    <root>/DIV2K/DIV2K_train_HR/0001.png … 0800.png
    <root>/DIV2K/DIV2K_valid_HR/0801.png … 0900.png
    <root>/DIV2K/DIV2K_train_LR_bicubic/X4/0001x4.png        (optional part "x4"; likewise x2, x3)
    <root>/benchmark/Set5/HR/baby.png                        (EDSR's benchmark.tar: Set5, Set14, B100,
    <root>/benchmark/Set5/LR_bicubic/X2/babyx2.png            Urban100, each with HR and LR_bicubic/X2-4)
    <root>/benchmark/Manga109/HR/*.png                       (by hand: no public download)
    <root>/RealSR/Canon/Test/4/Canon_003_HR.png, …_LR4.png    (RealSR v1: Canon and Nikon, Train and Test, 2/3/4;
                                                              from an archive you fetch: download --archive)
    <root>/downloads/                                        (archives fetched by download_dataset)
    <root>/weights/mepsnet-official.pt, .safetensors         (released weights, fetched by download_weights;
    <root>/weights/carn-m.pth, .safetensors                   likewise carn, pcarn-m-l1, pcarn-m, pcarn-l1, pcarn)

Checksums: a :class:`RemoteFile` carries a SHA-256 only where one has been published; the source of
each is noted beside it. Where none is known the download refuses until the user passes ``--sha256``.
Released weights (:data:`WEIGHTS`) are files of the authors' git repositories and are verified by their git
blob id instead.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from companion.errors import CompanionError

ENV_VAR = "COMPANION_DATA"
REPO_DATA = Path(__file__).resolve().parents[2] / "data"


@dataclass(frozen=True)
class RemoteFile:
    """One archive to fetch: where from, the name to store it under, and its published SHA-256 and size."""
    url: str
    filename: str
    sha256: str | None
    size: int | None


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: what it is, where it sits under the data root, and the archives that make it.

    ``folder`` is the dataset's folder relative to the data root; ``extract_to`` is where its archives
    unpack, relative to the data root; ``layout`` lists example paths under the data root. ``files`` are
    always fetched; ``parts`` are optional extras fetched on request (e.g. DIV2K's bicubic LR sets).
    ``manual`` says how to get a dataset that has no public download.
    """
    name: str
    description: str
    citation: str
    homepage: str
    folder: str
    layout: tuple[str, ...]
    files: tuple[RemoteFile, ...] = ()
    extract_to: str = "."
    parts: dict[str, tuple[RemoteFile, ...]] = field(default_factory=dict)
    manual: str = ""


# --- DIV2K -------------------------------------------------------------------------------------------
# Sizes and SHA-256 sums: TensorFlow Datasets, tensorflow_datasets/datasets/div2k/checksums.tsv
# (github.com/tensorflow/datasets, commit 64fa5464e5ccd52efa9bf2541e4b0235fc79d649).
_DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"


def _div2k(stem: str, size: int, sha256: str) -> RemoteFile:
    return RemoteFile(_DIV2K_URL + stem + ".zip", stem + ".zip", sha256, size)


_DIV2K = DatasetSpec(
    name="DIV2K",
    description="DIV2K: 1000 2K-resolution photographs (800 train, 100 validation HR images used here), "
                "with bicubic ×2/×3/×4 low-resolution versions; the NTIRE 2017 super-resolution set.",
    citation="E. Agustsson and R. Timofte, NTIRE 2017 Challenge on Single Image Super-Resolution: "
             "Dataset and Study, CVPR Workshops 2017.",
    homepage="https://data.vision.ee.ethz.ch/cvl/DIV2K/",
    folder="DIV2K",
    extract_to="DIV2K",
    layout=("DIV2K/DIV2K_train_HR/0001.png", "DIV2K/DIV2K_valid_HR/0801.png",
            "DIV2K/DIV2K_train_LR_bicubic/X4/0001x4.png", "DIV2K/DIV2K_valid_LR_bicubic/X4/0801x4.png"),
    files=(
        _div2k("DIV2K_train_HR", 3530603713, "9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335"),
        _div2k("DIV2K_valid_HR", 448993893, "20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc"),
    ),
    parts={
        "x2": (
            _div2k("DIV2K_train_LR_bicubic_X2", 925390592,
                   "a53a424317575838dadce4bcd97cf7b744d6855f43740ed5f0245af3cf4bd850"),
            _div2k("DIV2K_valid_LR_bicubic_X2", 117763600,
                   "60eed9875c697df51204aa579e2a699e1d5215095788a097ff54dd17e2664d57"),
        ),
        "x3": (
            _div2k("DIV2K_train_LR_bicubic_X3", 427847282,
                   "ad5c8e5507e2765823d3c2c5bd0934842efcd487c5370604c224090898b3163a"),
            _div2k("DIV2K_valid_LR_bicubic_X3", 54513392,
                   "04b9a2ed3b4a0715d3924d3ae8514830c3328fac8d30512ce716d6f419e052a3"),
        ),
        "x4": (
            _div2k("DIV2K_train_LR_bicubic_X4", 246914039,
                   "f006b837f4eb52b82909aa01478e6d6d199eefce932179491d0c9dbb706dde3a"),
            _div2k("DIV2K_valid_LR_bicubic_X4", 31505881,
                   "a50a5d1c4b88de4e8d300d8fb2b904c52fe93b2b298a4899697760d7cbb6d553"),
        ),
    },
)

# --- Benchmark test sets -----------------------------------------------------------------------------
# Set5, Set14, B100 and Urban100 come in one archive, the EDSR authors' benchmark.tar (HR images plus
# MATLAB-bicubic LR_bicubic/X2, X3, X4). Its SHA-256 and size are the ones recorded and checked by
# github.com/YeapJieShen/single-image-super-resolution (README "Comparability", tests/utils/test_imresize.py).
# Coloquinte/torchSR (torchsr/datasets/benchmarks.py) publishes MD5 4ace41d33c2384b97e6b320cd0afd6ba
# for the same URL, which can be used to cross-check a download by hand.
_BENCHMARK_TAR = RemoteFile(
    url="https://cv.snu.ac.kr/research/EDSR/benchmark.tar",
    filename="benchmark.tar",
    sha256="80c21c333bbf6ceb5308b7243761f8284478274413a97b96f1d63e9045fd93e8",
    size=250112000,
)


def _benchmark(name: str, description: str, citation: str, homepage: str, example: str = "*.png") -> DatasetSpec:
    return DatasetSpec(
        name=name, description=description, citation=citation, homepage=homepage,
        folder=f"benchmark/{name}", extract_to=".", files=(_BENCHMARK_TAR,),
        layout=(f"benchmark/{name}/HR/{example}", f"benchmark/{name}/LR_bicubic/X4/{Path(example).stem}x4.png"),
    )


_SET5 = _benchmark(
    "Set5", "Set5: 5 test images (baby, bird, butterfly, head, woman), from EDSR's benchmark.tar.",
    "M. Bevilacqua, A. Roumy, C. Guillemot and M.-L. Alberi Morel, Low-Complexity Single-Image "
    "Super-Resolution based on Nonnegative Neighbor Embedding, BMVC 2012.",
    "http://people.rennes.inria.fr/Aline.Roumy/results/SR_BMVC12.html", "baby.png")
_SET14 = _benchmark(
    "Set14", "Set14: 14 test images, from EDSR's benchmark.tar.",
    "R. Zeyde, M. Elad and M. Protter, On Single Image Scale-Up Using Sparse-Representations, "
    "Curves and Surfaces 2010.",
    "https://sites.google.com/site/romanzeyde/research-interests")
_B100 = _benchmark(
    "B100", "B100 (BSD100): 100 natural images from the Berkeley segmentation test set, from EDSR's "
    "benchmark.tar.",
    "D. Martin, C. Fowlkes, D. Tal and J. Malik, A Database of Human Segmented Natural Images and its "
    "Application to Evaluating Segmentation Algorithms and Measuring Ecological Statistics, ICCV 2001.",
    "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/bsds/")
_URBAN100 = _benchmark(
    "Urban100", "Urban100: 100 urban photographs rich in regular structure, from EDSR's benchmark.tar.",
    "J.-B. Huang, A. Singh and N. Ahuja, Single Image Super-Resolution from Transformed Self-Exemplars, "
    "CVPR 2015.",
    "https://github.com/jbhuang0604/SelfExSR")
_MANGA109 = DatasetSpec(
    name="Manga109",
    description="Manga109: 109 images, one per volume of the Manga109 Japanese comic collection; on request only.",
    citation="Y. Matsui, K. Ito, Y. Aramaki, A. Fujimoto, T. Ogawa, T. Yamasaki and K. Aizawa, "
             "Sketch-based Manga Retrieval using Manga109 Dataset, Multimedia Tools and Applications 2017.",
    homepage="http://www.manga109.org/en/",
    folder="benchmark/Manga109",
    layout=("benchmark/Manga109/HR/*.png",),
    manual="Manga109 has no public download; request it at http://www.manga109.org/en/download.html and put "
           "the HR PNGs in <data root>/benchmark/Manga109/HR/",
)

# RealSR v1 (thesis Ch.4, Tables 4.2 and 4.5): its authors share it on Google Drive and Baidu only, with no
# published checksum and no stable direct URL (github.com/csjcai/RealSR, README); so it is installed from an
# archive the user fetched, verified against the SHA-256 the user passes (companion.data.download.install_archive).
_REALSR = DatasetSpec(
    name="RealSR",
    description="RealSR v1: 234 real low/high-resolution scenes taken with a Canon 5D3 and a Nikon D810 at "
                "several focal lengths, ×2/×3/×4, each LR image registered onto its HR image's grid (same size).",
    citation="J. Cai, H. Zeng, H. Yong, Z. Cao and L. Zhang, Toward Real-World Single Image Super-Resolution: "
             "A New Benchmark and A New Model, ICCV 2019.",
    homepage="https://github.com/csjcai/RealSR",
    folder="RealSR",
    layout=("RealSR/Canon/Test/4/Canon_003_HR.png", "RealSR/Canon/Test/4/Canon_003_LR4.png",
            "RealSR/Nikon/Train/2/Nikon_001_LR2.png"),
    manual="RealSR v1 has no download with a published checksum (its authors share it on Google Drive and Baidu, "
           "https://github.com/csjcai/RealSR); fetch the Version 1 archive yourself, then run `python -m companion "
           "download RealSR --archive FILE_OR_URL --sha256 HEX` (HEX: the archive's SHA-256, e.g. from `sha256sum "
           "FILE`); the command checks the sum and the extracted layout",
)

DATASETS: dict[str, DatasetSpec] = {s.name: s for s in (_DIV2K, _SET5, _SET14, _B100, _URBAN100, _MANGA109,
                                                         _REALSR)}


# --- Released weights --------------------------------------------------------------------------------
# Files in the authors' git repositories, verified by their git blob id (SHA-1 of "blob <size>\0" + bytes,
# what `git hash-object FILE` prints): the id is part of the repository's tree, so it needs no third-party
# checksum. They are stored under <root>/weights/, each beside the file converted from it (if any).

@dataclass(frozen=True)
class WeightsSpec:
    """Released weights: where they come from, the name to store them under, their git blob id.

    ``converted`` is the name of the file a one-time conversion writes beside the download (e.g. the
    companion's safetensors), empty when there is none; ``folder`` is relative to the data root.
    """
    name: str
    description: str
    source: str
    url: str
    filename: str
    git_blob: str
    converted: str = ""
    folder: str = "weights"


# GitHub's raw/HEAD follows the repository's default branch (not recorded in our sources); the blob id check
# makes a wrong or changed file impossible to accept.
_MEPSNET_OFFICIAL = WeightsSpec(
    name="mepsnet-official",
    description="MEPSNet (3 experts, K = 16) trained by its authors on SHDD (S. Kim, N. Ahn and K.-A. Sohn, "
                "Restoring Spatially-Heterogeneous Distortions using Mixture of Experts Network, ACCV 2020); "
                "the reference works in 0..255, the companion's conversion maps it to 0..1.",
    source="github.com/sijinkim/MEPSNet_dev, mepsnet/pt/1950.pt",
    url="https://github.com/sijinkim/MEPSNet_dev/raw/HEAD/mepsnet/pt/1950.pt",
    filename="mepsnet-official.pt",
    git_blob="d1dfe732951e8ddc6df72bf177dfe07bc7545935",
    converted="mepsnet-official.safetensors",
)

# The thesis author's Part I releases (Chapter 2): MIT-licensed code and weights of N. Ahn, B. Kang and
# K.-A. Sohn. CARN-pytorch holds the ECCV 2018 CARN and CARN-M (the authors' code reading:
# companion.models.carn); PCARN-pytorch the thesis-era PCARN and PCARN-M generators, each after L1 training
# ("-L1") and after adversarial + VGG fine-tuning (the thesis reading). Blob ids from the repositories' trees;
# companion.ch2.authors_weights converts each file once (and checks the SHA-256 where one is recorded).
def _ahn(name: str, repo: str, path: str, git_blob: str, description: str) -> WeightsSpec:
    return WeightsSpec(name=name, description=description, source=f"github.com/nmhkahn/{repo}, {path}",
                       url=f"https://github.com/nmhkahn/{repo}/raw/HEAD/{path}", filename=f"{name}.pth",
                       git_blob=git_blob, converted=f"{name}.safetensors")


_PART_ONE = (
    _ahn("carn-m", "CARN-pytorch", "checkpoint/carn_m.pth", "8d53d106ae139203ebc9c70bb5ec03c0e7cb84bd",
         "CARN-M, multi-scale ×2/×3/×4, G = 4 (N. Ahn, B. Kang and K.-A. Sohn, Fast, Accurate, and Lightweight "
         "Super-Resolution with Cascading Residual Network, ECCV 2018; thesis Ch.2); the authors' code reading."),
    _ahn("carn", "CARN-pytorch", "checkpoint/carn.pth", "2b9fb1eb75a2fdd47c1a4cc75bc505a8fa4fb504",
         "CARN, multi-scale ×2/×3/×4 (ECCV 2018; thesis Ch.2); the authors' code reading."),
    _ahn("pcarn-m-l1", "PCARN-pytorch", "checkpoints/PCARN-M-L1.pth", "b929aaaed5d6c4f64f48b24bb4f58f214f3242ca",
         "PCARN-M's generator trained with L1 only (thesis Ch.2 §2.3), multi-scale, G = 4; the thesis reading."),
    _ahn("pcarn-m", "PCARN-pytorch", "checkpoints/PCARN-M.pth", "bf3e49a655a1cd4ec4d905f82b60dfd6f7a2cb25",
         "PCARN-M's generator after adversarial + VGG fine-tuning (thesis Ch.2 §2.3), multi-scale, G = 4; the "
         "thesis reading."),
    _ahn("pcarn-l1", "PCARN-pytorch", "checkpoints/PCARN-L1.pth", "33a1d7ef45deda1a32dc0d1d7c822ee783e721fe",
         "PCARN's generator trained with L1 only (thesis Ch.2 §2.3), multi-scale; the thesis reading."),
    _ahn("pcarn", "PCARN-pytorch", "checkpoints/PCARN.pth", "1fd2f806def0cd04fb4491457a88e4a0f3be0306",
         "PCARN's generator after adversarial + VGG fine-tuning (thesis Ch.2 §2.3), multi-scale; the thesis "
         "reading."),
)

WEIGHTS: dict[str, WeightsSpec] = {s.name: s for s in (_MEPSNET_OFFICIAL, *_PART_ONE)}


def weights_spec(name: str) -> WeightsSpec:
    """The :class:`WeightsSpec` called ``name`` (case-insensitive); unknown names list the choices."""
    for key, spec in WEIGHTS.items():
        if key.lower() == str(name).lower():
            return spec
    raise CompanionError(f"unknown weights {name!r}; choose one of: {', '.join(WEIGHTS)}")


def weights_path(name: str, root: str | os.PathLike | None = None, *, converted: bool = True) -> Path:
    """Where ``download`` puts weights ``name`` under the data root (the converted file by default).

    The path is returned whether or not the file (or the root) exists yet.
    """
    spec = weights_spec(name)
    filename = spec.converted if converted and spec.converted else spec.filename
    return _root_and_source(root)[0] / spec.folder / filename


def dataset_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` called ``name`` (case-insensitive); unknown names list the choices."""
    for key, spec in DATASETS.items():
        if key.lower() == str(name).lower():
            return spec
    raise CompanionError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")


def _root_and_source(explicit: str | os.PathLike | None) -> tuple[Path, str]:
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser(), "--data"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser(), ENV_VAR
    return REPO_DATA, "the default"


def data_root(explicit: str | os.PathLike | None = None, *, create: bool = False) -> Path:
    """The data root: ``explicit`` (``--data``), else ``$COMPANION_DATA``, else the repository's ``data/``.

    With ``create=True`` (used by downloads) a missing root is made; otherwise it is an error.
    """
    root, source = _root_and_source(explicit)
    if create:
        root.mkdir(parents=True, exist_ok=True)
    if not root.is_dir():
        raise CompanionError(f"dataset folder {root} ({source}) does not exist; set {ENV_VAR} or pass --data to "
                             "a folder that holds the datasets, or run `python -m companion download NAME`")
    return root


def dataset_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of dataset ``name`` under the data root; an error naming the fix if it is missing."""
    spec = dataset_spec(name)
    folder = data_root(root) / spec.folder
    if not folder.is_dir():
        how = (spec.manual if not spec.files else f"run `python -m companion download {spec.name}`")
        raise CompanionError(f"{spec.name} not found: {folder} does not exist; {how}, or set {ENV_VAR} / "
                             f"pass --data to the folder that holds {spec.folder}/")
    return folder


_DIV2K_SPLITS = {"train": range(1, 801), "valid": range(801, 901)}


def div2k_hr_paths(root: str | os.PathLike | None = None, split: str = "train") -> list[Path]:
    """Sorted DIV2K HR image paths: ``0001.png``–``0800.png`` for train, ``0801.png``–``0900.png`` for valid."""
    if split not in _DIV2K_SPLITS:
        raise CompanionError(f"unknown DIV2K split {split!r}; use 'train' or 'valid'")
    folder = dataset_dir("DIV2K", root) / f"DIV2K_{split}_HR"
    if not folder.is_dir():
        raise CompanionError(f"DIV2K {split} images not found: {folder} does not exist; run "
                             f"`python -m companion download DIV2K`, or set {ENV_VAR} / pass --data")
    wanted = _DIV2K_SPLITS[split]
    paths = sorted(p for p in folder.iterdir()
                   if re.fullmatch(r"\d{4}\.png", p.name) and int(p.stem) in wanted and p.is_file())
    if not paths:
        first, last = wanted[0], wanted[-1]
        raise CompanionError(f"no DIV2K {split} images ({first:04d}.png–{last:04d}.png) in {folder}; run "
                             "`python -m companion download DIV2K` to fetch them")
    return paths
