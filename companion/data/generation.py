"""Shared machinery of the two dataset generators: clean-image sources, jobs, a process pool, a manifest.

SHDD (thesis §7.3, seed 000 §3; :mod:`companion.data.shdd`) and Flickr-Distortion (thesis §6.2;
:mod:`companion.data.flickr_distortion`) are both "take clean images, write many distorted files". This
module does the parts they share, so each generator only says *what* one unit of output is.

**Sources.** :func:`clean_images` turns ``source`` into a list of :class:`CleanImage` records (stem, split,
and where the pixels come from). ``source="bundled"`` uses the scikit-image photographs of
:data:`companion.data.images.EMBEDDED_IMAGES` and then follows exactly the same path as a real folder
(load → check size → generate → write); only :meth:`CleanImage.load` differs.

* SHDD, bundled: the names sorted; the last ``k`` are ``test``, the ``k`` before them ``val``, the rest
  ``train``, with ``k = max(1, round(n / 18))`` -- DIV2K's 800/50/50 proportions (16:1:1), every split
  non-empty (with scikit-image 0.26's nine photographs: 7 train, ``retina`` val, ``rocket`` test).
* SHDD, a folder: the DIV2K layout (``<source>/DIV2K/DIV2K_{train,valid}_HR/NNNN.png``, or ``<source>``
  being that ``DIV2K`` folder), read with :func:`companion.data.folders.div2k_hr_paths`; the paper's split
  (§7.3): 0001-0800 train, 0801-0850 val, 0851-0900 test. Any other folder of PNG/JPEG files is accepted
  as a plain folder and split 16:1:1 by a seeded permutation (the companion's fallback, cheap to offer).
* Flickr-Distortion (the 804 Flickr references are not public), bundled or any folder of 8-bit RGB
  PNG/JPEG files: one seeded permutation of the references; its first 60 % is classification ``train``,
  the next 20 % ``val``, the last 20 % ``test`` (§6.2.1). The detection split (80/20, §6.2.2) is the same
  permutation cut once: classification train+val → detection ``train``, classification test → detection
  ``test`` (:func:`detection_split`). Splitting by reference means no reference -- hence no content --
  leaks across splits, in either task or between the two.

Every image is read with :func:`companion.data.images.load_image`, so a corrupt, greyscale, RGBA or 16-bit
file stops the build with a :class:`CompanionError` naming the file; an image smaller than a generator
needs stops it with one naming the file, its size and the minimum. All sources are loaded and checked once
before anything is written (a pre-flight pass, in the pool when ``workers > 1``; about 0.12 s per 2K PNG), so
a bad file costs seconds, not a half-built dataset.

**Jobs and units.** A :class:`Job` is one clean image plus its :class:`Unit`\\ s; a unit is the smallest
thing that is skipped or redone (an SHDD version, a Flickr reference's classification set, ...), and it
lists the files it writes, relative to the dataset folder. Jobs run inline (``workers=1``) or in a
``ProcessPoolExecutor`` (spawned processes, so the parent's threads -- torch's, a notebook's -- are never
forked); a ``tqdm`` bar counts images. Workers write the files (atomically: images through
:func:`~companion.data.images.save_image`, text through :func:`~companion.atomic.atomic_write_text`) and
return their SHA-256 sums; only the main process touches the manifest.

**Resumability.** ``<dataset>/manifest.json`` maps every finished output (relative path) to its SHA-256.
A unit whose files all exist with the sums the manifest records is skipped (the check is done by the
worker, so re-hashing is parallel too); a missing, corrupted or unrecorded file makes the whole unit
regenerate. The manifest is rewritten atomically at most every :data:`MANIFEST_EVERY_S` seconds while units
finish, and once at the end (also after an error or Ctrl-C). Randomness is drawn per unit from
``np.random.SeedSequence`` keyed by :func:`stable_int` (SHA-256, not Python's salted ``hash()``), so outputs
depend on neither the worker count nor the order jobs finish in: the same seed gives byte-identical files
and manifest (sorted keys, no timestamps, no absolute paths). A manifest made with another seed is refused
rather than silently mixed.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from companion.atomic import atomic_write_text
from companion.errors import CompanionError

DATASETS = ("shdd", "flickr-distortion")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MANIFEST_EVERY_S = 5.0

# DIV2K numbering of the paper's SHDD split (§7.3): train, then half of DIV2K valid each for val and test.
DIV2K_SHDD_SPLITS = {"train": (1, 800), "val": (801, 850), "test": (851, 900)}
FLICKR_FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}


# --------------------------------------------------------------------------------------------------------
# Seeds and sums.


def stable_int(text: str) -> int:
    """A 64-bit integer from ``text`` that is the same in every process and Python run (SHA-256)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dumps(obj) -> str:
    """The one JSON formatting every generated JSON file uses (sorted keys, so byte-stable)."""
    return json.dumps(obj, sort_keys=True, indent=1) + "\n"


# --------------------------------------------------------------------------------------------------------
# Clean images.


@dataclass(frozen=True)
class CleanImage:
    """One clean (reference) image: its stem (output file prefix), split, and where its pixels are.

    Exactly one of ``path`` (a file) and ``embedded`` (a name in ``EMBEDDED_IMAGES``) is set.
    """
    stem: str
    split: str
    path: Path | None = None
    embedded: str | None = None

    @property
    def source_id(self) -> str:
        """How records name the source: ``bundled:<name>`` or the file name (never an absolute path)."""
        return f"bundled:{self.embedded}" if self.embedded is not None else self.path.name

    @property
    def where(self) -> str:
        return f"embedded image {self.embedded!r}" if self.embedded is not None else str(self.path)

    def load(self) -> np.ndarray:
        """float32 H×W×3 in [0, 1]; bad files raise a CompanionError naming the file."""
        from companion.data.images import embedded_image, load_image

        return embedded_image(self.embedded) if self.embedded is not None else load_image(self.path)


def check_size(image: np.ndarray | tuple[int, int], clean: CleanImage, min_side: int, why: str) -> None:
    """CompanionError naming the file, its size and the minimum when either side is below ``min_side``.

    ``image`` is the pixels or their ``(height, width)``.
    """
    h, w = image if isinstance(image, tuple) else image.shape[:2]
    if min(h, w) < min_side:
        raise CompanionError(f"{clean.where} is {w}×{h} px, too small for {why}: both sides must be at least "
                             f"{min_side} px; remove it from the source folder or use larger images")


def _seeded_order(n: int, seed: int, tag: str) -> np.ndarray:
    return np.random.default_rng(np.random.SeedSequence([seed, stable_int(tag)])).permutation(n)


def list_image_files(folder: Path) -> list[Path]:
    """PNG/JPEG files directly in ``folder`` (not hidden), sorted by name."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)


def _bundled() -> list[CleanImage]:
    from companion.data.images import EMBEDDED_IMAGES

    if not EMBEDDED_IMAGES:
        raise CompanionError("no embedded images found in this scikit-image install; reinstall scikit-image "
                             "or pass --source FOLDER")
    return [CleanImage(stem=name, split="", embedded=name) for name in sorted(EMBEDDED_IMAGES)]


def _from_folder(folder: Path) -> list[CleanImage]:
    files = list_image_files(folder)
    if not files:
        raise CompanionError(f"no PNG or JPEG images in {folder}; pass a folder of 8-bit RGB images")
    return [CleanImage(stem=p.stem, split="", path=p) for p in files]


def _tail_split(images: list[CleanImage], order: np.ndarray, counts: dict[str, int]) -> list[CleanImage]:
    """Assign splits along ``order``: the first counts[first] images, then the next, ..."""
    split_of, start = {}, 0
    for split, count in counts.items():
        for i in order[start:start + count]:
            split_of[int(i)] = split
        start += count
    return [CleanImage(c.stem, split_of[i], c.path, c.embedded) for i, c in enumerate(images)]


def _shdd_counts(n: int) -> dict[str, int]:
    if n < 3:
        raise CompanionError(f"SHDD needs at least 3 clean images (train, val, test), found {n}; "
                             "add images to the source folder")
    k = max(1, round(n / 18))
    return {"train": n - 2 * k, "val": k, "test": k}


def _div2k_dir(folder: Path) -> Path | None:
    """The data root holding ``DIV2K/`` for :func:`div2k_hr_paths`, or None if ``folder`` isn't DIV2K."""
    if (folder / "DIV2K").is_dir():
        return folder
    if folder.name == "DIV2K" and any((folder / f"DIV2K_{s}_HR").is_dir() for s in ("train", "valid")):
        return folder.parent
    return None


def _shdd_split_of_number(number: int) -> str | None:
    for split, (lo, hi) in DIV2K_SHDD_SPLITS.items():
        if lo <= number <= hi:
            return split
    return None


def _shdd_sources(source, seed: int) -> list[CleanImage]:
    if source == "bundled":
        images = _bundled()  # sorted by name; a tail split, DIV2K proportions
        return _tail_split(images, np.arange(len(images)), _shdd_counts(len(images)))
    folder = _folder(source)
    root = _div2k_dir(folder)
    if root is not None:
        from companion.data.folders import div2k_hr_paths

        paths = div2k_hr_paths(root, "train") + div2k_hr_paths(root, "valid")
        images = [CleanImage(p.stem, _shdd_split_of_number(int(p.stem)), path=p) for p in paths]
        missing = {"val", "test"} - {c.split for c in images}
        if missing:
            raise CompanionError(f"DIV2K in {root / 'DIV2K'} has no {' or '.join(sorted(missing))} images: SHDD "
                                 "uses DIV2K_valid_HR/0801-0850.png for val and 0851-0900.png for test")
        return images
    images = _from_folder_or_layout_error(folder)
    return _tail_split(images, _seeded_order(len(images), seed, "shdd/split"), _shdd_counts(len(images)))


def _from_folder_or_layout_error(folder: Path) -> list[CleanImage]:
    if not list_image_files(folder):
        raise CompanionError(f"no images in {folder}: pass the data root holding DIV2K/DIV2K_train_HR/0001.png … "
                             "and DIV2K/DIV2K_valid_HR/0801.png … 0900.png, or a folder of PNG/JPEG images")
    return _from_folder(folder)


def _folder(source) -> Path:
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise CompanionError(f"source folder {folder} does not exist; pass --source bundled or a folder of images")
    return folder


def _flickr_sources(source, seed: int) -> list[CleanImage]:
    images = _bundled() if source == "bundled" else _from_folder(_folder(source))
    n = len(images)
    if n < 3:
        raise CompanionError(f"Flickr-Distortion needs at least 3 reference images (train, val, test), found {n}; "
                             "add images to the source folder")
    k = max(1, round(n * FLICKR_FRACTIONS["test"]))
    counts = {"train": n - 2 * k, "val": k, "test": k}
    return _tail_split(images, _seeded_order(n, seed, "flickr-distortion/split"), counts)


def clean_images(source="bundled", dataset: str = "shdd", seed: int = 0) -> list[CleanImage]:
    """The clean images of ``dataset`` ("shdd" or "flickr-distortion") from ``source``, with their splits.

    ``source`` is ``"bundled"`` or a folder (see the module docstring for the layouts and split rules).
    SHDD splits are train/val/test; Flickr-Distortion records the *classification* split (train/val/test),
    and :func:`detection_split` maps it to the detection one. Sorted by (split, stem).
    """
    if dataset == "shdd":
        images = _shdd_sources(source, seed)
    elif dataset == "flickr-distortion":
        images = _flickr_sources(source, seed)
    else:
        raise CompanionError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}")
    stems = [c.stem for c in images]
    if len(set(stems)) != len(stems):
        dup = sorted({s for s in stems if stems.count(s) > 1})
        raise CompanionError(f"several source images share the stem(s) {', '.join(dup)}; rename them so every "
                             "file name (without extension) is unique")
    return sorted(images, key=lambda c: (c.split, c.stem))


def detection_split(classification_split: str) -> str:
    """Flickr-Distortion detection split (80/20) from the classification one (60/20/20): val joins train."""
    return "test" if classification_split == "test" else "train"


# --------------------------------------------------------------------------------------------------------
# Manifest.


@dataclass
class Manifest:
    """``{relative path: sha256}`` of finished outputs of one dataset folder, plus the seed that made them."""
    path: Path
    dataset: str
    seed: int
    files: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path, dataset: str, seed: int) -> "Manifest":
        if not path.exists():
            return cls(path, dataset, seed)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            files = dict(data["files"])
            old_seed = int(data["seed"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CompanionError(f"manifest {path} is unreadable ({exc}); delete it to rebuild that folder") from None
        if data.get("dataset") != dataset or old_seed != seed:
            raise CompanionError(f"{path.parent} holds a {data.get('dataset')} build with seed={old_seed}; pass "
                                 f"--seed {old_seed} to resume it, or choose another --out")
        return cls(path, dataset, seed, files)

    def save(self) -> None:
        atomic_write_text(self.path, dumps({"dataset": self.dataset, "seed": self.seed, "files": self.files}))


# --------------------------------------------------------------------------------------------------------
# Jobs.


@dataclass(frozen=True)
class Unit:
    """The smallest piece of output that is skipped or regenerated as a whole.

    ``files`` are paths relative to the dataset folder; ``params`` is whatever the generator's render
    function needs to make them.
    """
    key: str
    files: tuple[str, ...]
    params: tuple = ()


@dataclass(frozen=True)
class Job:
    """One clean image and its units; ``seed`` and ``options`` are the build's settings."""
    image: CleanImage
    units: tuple[Unit, ...]
    seed: int
    min_side: int = 1
    size_reason: str = ""
    options: tuple = ()


@dataclass(frozen=True)
class BuildReport:
    """What a build did: units written and skipped, wall time, and the dataset folder."""
    n_written: int
    n_skipped: int
    seconds: float
    out: Path


# A render function makes one unit: render(job, unit, image) -> {relative path: content}, where content is
# a float image (written with save_image), a uint8 H×W label map (save_label_map) or a str (UTF-8 text).
Render = Callable[[Job, Unit, np.ndarray], dict]


def _write(root: Path, rel: str, content) -> str:
    from companion.data.images import save_image, save_label_map

    path = root / rel
    if isinstance(content, str):
        atomic_write_text(path, content)
    elif isinstance(content, np.ndarray) and content.dtype == np.uint8 and content.ndim == 2:
        save_label_map(path, content)
    else:
        save_image(path, content)
    return sha256_file(path)


def _unit_done(root: Path, unit: Unit, sums: dict[str, str | None]) -> bool:
    for rel in unit.files:
        expected, path = sums.get(rel), root / rel
        if expected is None or not path.is_file() or sha256_file(path) != expected:
            return False
    return True


def run_job(render: Render, root: Path, job: Job, sums: dict[str, str | None]) -> list[tuple[str, bool, dict]]:
    """Make the units of ``job`` that are not already done; returns [(unit key, written?, {rel: sha256})].

    Runs in a worker process (or inline). The clean image is loaded only if some unit needs it.
    """
    results, image = [], None
    for unit in job.units:
        if _unit_done(root, unit, sums):
            results.append((unit.key, False, {rel: sums[rel] for rel in unit.files}))
            continue
        if image is None:
            image = job.image.load()
            check_size(image, job.image, job.min_side, job.size_reason)
        contents = render(job, unit, image)
        if sorted(contents) != sorted(unit.files):
            raise RuntimeError(f"render of {unit.key} made {sorted(contents)}, expected {sorted(unit.files)}")
        results.append((unit.key, True, {rel: _write(root, rel, contents[rel]) for rel in unit.files}))
    return results


def check_source(job: Job) -> None:
    """The pre-flight of :func:`run_jobs`: the clean image is readable, 8-bit RGB, intact and big enough.

    Files are checked from their header and checksums (``check_image_file``), without decoding the pixels,
    so checking 900 DIV2K images takes seconds (measured: 2 ms per 2K PNG against 147 ms for a full decode);
    the full decode in :func:`run_job` checks again.
    """
    if job.image.path is None:
        check_size(job.image.load(), job.image, job.min_side, job.size_reason)
        return
    from companion.data.images import check_image_file

    width, height = check_image_file(job.image.path)
    check_size((height, width), job.image, job.min_side, job.size_reason)


def run_jobs(jobs: list[Job], render: Render, root: Path, manifest: Manifest, *, workers: int = 1,
             progress: bool = True, desc: str = "") -> tuple[int, int]:
    """Run ``jobs`` (inline or in a process pool), keeping ``manifest`` up to date; returns (written, skipped).

    First every clean image is checked (:func:`check_source`, in the pool too), so a bad or too-small source
    file stops the build before anything is written, with one error naming the first such file in job order.
    """
    from tqdm.auto import tqdm

    if int(workers) < 1:
        raise CompanionError(f"workers={workers} must be at least 1")
    counts = [0, 0]
    last_save = [time.monotonic()]

    def absorb(results) -> None:
        for _key, written, sums in results:
            counts[0 if written else 1] += 1
            manifest.files.update(sums)
        bar.update(1)
        if time.monotonic() - last_save[0] >= MANIFEST_EVERY_S:
            manifest.save()
            last_save[0] = time.monotonic()

    def sums_for(job: Job) -> dict[str, str | None]:
        return {rel: manifest.files.get(rel) for unit in job.units for rel in unit.files}

    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            check_source(job)
        bar = tqdm(total=len(jobs), desc=desc, unit="image", disable=not progress)
        try:
            for job in jobs:
                absorb(run_job(render, root, job, sums_for(job)))
        finally:
            bar.close()
            manifest.save()
        return counts[0], counts[1]

    pool = ProcessPoolExecutor(max_workers=int(workers), mp_context=multiprocessing.get_context("spawn"))
    try:
        list(pool.map(check_source, jobs))  # raises the first failure in job order
        bar = tqdm(total=len(jobs), desc=desc, unit="image", disable=not progress)
        try:
            futures = [pool.submit(run_job, render, root, job, sums_for(job)) for job in jobs]
            for future in as_completed(futures):
                absorb(future.result())
        finally:
            bar.close()
            manifest.save()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return counts[0], counts[1]


def write_index(root: Path, manifest: Manifest, rel: str, text: str) -> None:
    """Write an index file built in the main process (labels.csv, COCO JSON) unless it is already current."""
    path, digest = root / rel, sha256_text(text)
    if not (manifest.files.get(rel) == digest and path.is_file() and sha256_file(path) == digest):
        atomic_write_text(path, text)
    manifest.files[rel] = digest
