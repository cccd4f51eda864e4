"""Shared machinery of dataset generators: clean-image sources, jobs, a process pool, a manifest.

Every generated dataset of the companion is "take clean images, write many distorted files". This module
does the parts they share, so each generator (in its chapter's package) only says *which* clean images go to
which split and *what* one unit of output is.

**Sources.** A generator turns its ``source`` into a list of :class:`CleanImage` records (stem, split, and
where the pixels come from) with the helpers here: :func:`bundled_images` (the scikit-image photographs of
:data:`companion.data.images.EMBEDDED_IMAGES`, which then follow exactly the same path as a real folder:
load → check size → generate → write; only :meth:`CleanImage.load` differs), :func:`folder_images`,
:func:`div2k_root` (the DIV2K layout), :func:`tail_split` / :func:`seeded_order` (assign splits along an
order) and :func:`finish_sources` (unique stems, sorted).

Every image is read with :func:`companion.data.images.load_image`, so a corrupt, greyscale, RGBA or 16-bit
file stops the build with a :class:`CompanionError`; an image smaller than a generator needs stops it with
one naming the file, its size and the minimum. All sources are checked once before anything is written (a
pre-flight pass, in the pool when ``workers > 1``; about 2 ms per 2K PNG), and every bad file is named in
one message (``3 source images in <folder> cannot be used: a.png (greyscale, mode L), ...``), so a bad folder
costs seconds and one round of fixes, not a half-built dataset.

**Jobs and units.** A :class:`Job` is one clean image plus its :class:`Unit`\\ s; a unit is the smallest
thing that is skipped or redone (an SHDD version, a Flickr reference's classification set, ...), and it
lists the files it writes, relative to the dataset folder. Jobs run inline (``workers=1``) or in a
:func:`companion.processes.process_pool` (spawned processes, so the parent's threads -- torch's, a
notebook's -- are never forked, and workers that die with the main process: a killed build stops writing at
once); a ``tqdm`` bar counts images. Workers write the files (atomically: images through
:func:`~companion.data.images.save_image`, text through :func:`~companion.atomic.atomic_write_text`) and
return their SHA-256 sums; only the main process touches the manifest.

**Resumability.** ``<dataset>/manifest.json`` maps every finished output (relative path) to its SHA-256.
A unit whose files all exist with the sums the manifest records is skipped (the check is done by the
worker, so re-hashing is parallel too); a missing, corrupted or unrecorded file makes the whole unit
regenerate. The manifest is rewritten atomically at most every :data:`MANIFEST_EVERY_S` seconds while units
finish, and once at the end (also after an error or Ctrl-C). A hard kill (SIGKILL, power loss) can leave
temporary files of unfinished atomic writes; every build first deletes them from the dataset folder
(:func:`companion.atomic.remove_temp_files`), so an interrupted and resumed build ends byte-identical to an
uninterrupted one. Seeds are whole numbers from 0 to :data:`companion.arguments.MAX_SEED`
(:func:`check_seed`), checked before anything is read or written. Randomness is drawn per unit from
``np.random.SeedSequence`` keyed by :func:`stable_int` (SHA-256, not Python's salted ``hash()``), so outputs
depend on neither the worker count nor the order jobs finish in: the same seed gives byte-identical files
and manifest (sorted keys, no timestamps, no absolute paths). A manifest made with another seed is refused
rather than silently mixed.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from concurrent.futures import as_completed
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from companion.arguments import check_seed  # the seed check of the command line, for library callers
from companion.atomic import atomic_write_text, remove_temp_files
from companion.data.images import (EMBEDDED_IMAGES, ImageFileError, check_image_file, embedded_image, load_image,
                                   save_image, save_label_map)
from companion.errors import CompanionError
from companion.processes import process_pool

try:
    import fcntl  # POSIX file locks (build_lock)
except ImportError:  # not POSIX: builds run without the lock
    fcntl = None

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MANIFEST_EVERY_S = 5.0


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
        return embedded_image(self.embedded) if self.embedded is not None else load_image(self.path)


def check_size(image: np.ndarray | tuple[int, int], clean: CleanImage, min_side: int, why: str) -> None:
    """CompanionError naming the file, its size and the minimum when either side is below ``min_side``.

    ``image`` is the pixels or their ``(height, width)``.
    """
    h, w = image if isinstance(image, tuple) else image.shape[:2]
    if min(h, w) < min_side:
        raise ImageFileError(f"{clean.where} is {w}×{h} px, too small for {why}: both sides must be at least "
                             f"{min_side} px; remove it from the source folder or use larger images",
                             f"{w}×{h} px, under the {min_side} px minimum")


def seeded_order(n: int, seed: int, tag: str) -> np.ndarray:
    return np.random.default_rng(np.random.SeedSequence([seed, stable_int(tag)])).permutation(n)


def list_image_files(folder: Path) -> list[Path]:
    """PNG/JPEG files directly in ``folder`` (not hidden), sorted by name."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)


def bundled_images() -> list[CleanImage]:
    if not EMBEDDED_IMAGES:
        raise CompanionError("no embedded images found in this scikit-image install; reinstall scikit-image "
                             "or pass --source FOLDER")
    return [CleanImage(stem=name, split="", embedded=name) for name in sorted(EMBEDDED_IMAGES)]


def folder_images(folder: Path) -> list[CleanImage]:
    files = list_image_files(folder)
    if not files:
        raise CompanionError(f"no PNG or JPEG images in {folder}; pass a folder of 8-bit RGB images")
    return [CleanImage(stem=p.stem, split="", path=p) for p in files]


def tail_split(images: list[CleanImage], order: np.ndarray, counts: dict[str, int]) -> list[CleanImage]:
    """Assign splits along ``order``: the first counts[first] images, then the next, ..."""
    split_of, start = {}, 0
    for split, count in counts.items():
        for i in order[start:start + count]:
            split_of[int(i)] = split
        start += count
    return [CleanImage(c.stem, split_of[i], c.path, c.embedded) for i, c in enumerate(images)]


def div2k_root(folder: Path) -> Path | None:
    """The data root holding ``DIV2K/`` for :func:`~companion.data.folders.div2k_hr_paths`, or None if
    ``folder`` is neither that root nor the ``DIV2K`` folder itself."""
    if (folder / "DIV2K").is_dir():
        return folder
    if folder.name == "DIV2K" and any((folder / f"DIV2K_{s}_HR").is_dir() for s in ("train", "valid")):
        return folder.parent
    return None


def source_folder(source) -> Path:
    """``source`` as an existing folder, or a one-line error."""
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise CompanionError(f"source folder {folder} does not exist; pass --source bundled or a folder of images")
    return folder


def bundled_or_folder(source) -> list[CleanImage]:
    """The embedded photographs (``source="bundled"``) or the PNG/JPEG files of a folder, without splits."""
    return bundled_images() if source == "bundled" else folder_images(source_folder(source))


def finish_sources(images: list[CleanImage]) -> list[CleanImage]:
    """Refuse duplicate stems, then sort by (split, stem): the order every generator walks its sources in."""
    stems = [c.stem for c in images]
    if len(set(stems)) != len(stems):
        dup = sorted({s for s in stems if stems.count(s) > 1})
        raise CompanionError(f"several source images share the stem(s) {', '.join(dup)}; rename them so every "
                             "file name (without extension) is unique")
    return sorted(images, key=lambda c: (c.split, c.stem))


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


def check_source(job: Job) -> tuple[str, str] | None:
    """The pre-flight of :func:`run_jobs` for one job: None when the clean image is readable, 8-bit RGB,
    intact and big enough, else ``(message, reason)``: the full one-line error and its few-word reason.

    Files are checked from their header and checksums (``check_image_file``), without decoding the pixels,
    so checking 900 DIV2K images takes seconds (measured: 2 ms per 2K PNG against 147 ms for a full decode);
    the full decode in :func:`run_job` checks again. Problems are returned, not raised, so a pool reports
    every bad file rather than the first.
    """
    try:
        if job.image.path is None:
            check_size(job.image.load(), job.image, job.min_side, job.size_reason)
        else:
            width, height = check_image_file(job.image.path)
            check_size((height, width), job.image, job.min_side, job.size_reason)
    except CompanionError as exc:
        return str(exc), getattr(exc, "reason", None) or str(exc)
    return None


def preflight_error(jobs: list[Job], problems: list[tuple[str, str] | None]) -> CompanionError | None:
    """One error naming every unusable source (``problems`` from :func:`check_source`, in job order).

    A single bad file keeps its full message; several are listed by name, relative to their common folder,
    sorted, each with its reason, in one line.
    """
    bad = sorted(((job.image, problem) for job, problem in zip(jobs, problems) if problem is not None),
                 key=lambda item: item[0].where)
    if not bad:
        return None
    if len(bad) == 1:
        return CompanionError(bad[0][1][0])
    paths = [clean.path for clean, _ in bad]
    if all(p is not None for p in paths):
        base = Path(os.path.commonpath([p.parent for p in paths]))
        names, place = [p.relative_to(base).as_posix() for p in paths], f" in {base}"
    else:
        names, place = [clean.where for clean, _ in bad], ""
    listed = ", ".join(f"{name} ({reason})" for name, (_, (_message, reason)) in zip(names, bad))
    min_side = max(job.min_side for job in jobs)
    size = f", both sides at least {min_side} px" if min_side > 1 else ""
    return CompanionError(f"{len(bad)} source images{place} cannot be used: {listed}; fix or remove them "
                          f"(sources must be 8-bit RGB PNG or JPEG files{size})")


@contextmanager
def build_lock(root: Path):
    """Hold an exclusive lock on the dataset folder ``root`` while a build writes into it (``flock`` on the
    folder itself, so no lock file joins the dataset); a second build of the same folder stops at once with
    a one-line error instead of deleting the first one's temporary files. Released when the build ends or
    its process dies."""
    root.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # not POSIX: no lock
        yield
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CompanionError(f"another build is writing into {root}; wait for it to finish or choose another "
                                 "--out folder") from None
        yield
    finally:
        os.close(fd)


def run_jobs(jobs: list[Job], render: Render, root: Path, manifest: Manifest, *, workers: int = 1,
             progress: bool = True, desc: str = "") -> tuple[int, int]:
    """Run ``jobs`` (inline or in a process pool), keeping ``manifest`` up to date; returns (written, skipped).

    First every clean image is checked (:func:`check_source`, in the pool too), so bad or too-small source
    files stop the build before anything is written, with one error naming all of them
    (:func:`preflight_error`). Then the dataset folder is locked for the rest of the run (:func:`build_lock`),
    the temporary files a killed build may have left in ``root`` are deleted, and the units run. Workers die with the main process
    (:func:`companion.processes.process_pool`), and Ctrl-C terminates them at once (:func:`stop_workers`).
    """
    with ExitStack() as lock:
        return _run_jobs(jobs, render, root, manifest, workers=workers, progress=progress, desc=desc, lock=lock)


def _run_jobs(jobs: list[Job], render: Render, root: Path, manifest: Manifest, *, workers: int,
              progress: bool, desc: str, lock: ExitStack) -> tuple[int, int]:
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

    def preflight(problems) -> None:
        error = preflight_error(jobs, list(problems))
        if error is not None:
            raise error  # before the folder is even created
        lock.enter_context(build_lock(Path(root)))
        remove_temp_files(root)

    if workers == 1 or len(jobs) <= 1:
        preflight(map(check_source, jobs))
        bar = tqdm(total=len(jobs), desc=desc, unit="image", disable=not progress)
        try:
            for job in jobs:
                absorb(run_job(render, root, job, sums_for(job)))
        finally:
            bar.close()
            manifest.save()
        return counts[0], counts[1]

    pool = process_pool(int(workers), initializer=ignore_interrupts)
    try:
        preflight(pool.map(check_source, jobs))
        bar = tqdm(total=len(jobs), desc=desc, unit="image", disable=not progress)
        try:
            futures = [pool.submit(run_job, render, root, job, sums_for(job)) for job in jobs]
            for future in as_completed(futures):
                absorb(future.result())
        finally:
            bar.close()
            manifest.save()
    except KeyboardInterrupt:  # Ctrl-C: stop now; the images in progress are redone by the next run
        stop_workers(pool)
        raise
    except BaseException:  # an error: the images in progress finish, then the error is reported
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return counts[0], counts[1]


def ignore_interrupts() -> None:
    """A worker's initializer: Ctrl-C, which the terminal sends to every process of the command, is the main
    process's to handle (:func:`stop_workers`); a worker would otherwise print its own traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def stop_workers(pool) -> None:
    """Cancel the jobs not started and terminate the workers at once, rather than letting each finish its
    image (seconds each). A terminated worker leaves at most a temporary file of an unfinished atomic write,
    which the next run deletes (:func:`companion.atomic.remove_temp_files`); the manifest holds only units that
    finished, so the resumed build is byte-identical to an uninterrupted one."""
    workers = list((pool._processes or {}).values())  # ProcessPoolExecutor has no public terminate before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.terminate()
    for process in workers:
        process.join(timeout=10)


def write_index(root: Path, manifest: Manifest, rel: str, text: str) -> None:
    """Write an index file built in the main process (labels.csv, COCO JSON) unless it is already current."""
    path, digest = root / rel, sha256_text(text)
    if not (manifest.files.get(rel) == digest and path.is_file() and sha256_file(path) == digest):
        atomic_write_text(path, text)
    manifest.files[rel] = digest
