"""The model zoo: trained checkpoints shipped in ``checkpoints/``, rebuilt by ``python -m companion zoo build``.

Every entry is two files under :func:`zoo_dir`::

    checkpoints/<chapter>/<group>/<name>.safetensors       the weights (safetensors: no pickle)
    checkpoints/<chapter>/<group>/<name>.safetensors.json  the sidecar

The sidecar is the one ``python -m companion restore --checkpoint FILE.safetensors`` reads (``model`` and
``config``), plus what the weights came from: ``key`` (everything that shapes them: model, configuration,
initialisation, training settings and seed, data), its ``digest``, and what the run did: ``steps``,
``seconds``, ``device``, ``commit``, ``val_psnr`` (final validation PSNR), ``val`` (the validation curve),
``loss_curve``. Weights are float32, except where a chapter's zoo stores them in float16 to halve the size
(Chapter 6's classifiers: ``companion.ch6.zoo.STORED_DTYPE``); :func:`load_entry` loads either into float32.

An entry is **current** when its sidecar's digest equals the digest of the settings that would build it now,
**stale** when they differ (a config changed since it was trained), **missing** when it has no files. A
notebook uses a current entry instead of training (chapters do this in their experiment code) and trains
what is stale or missing.

Chapters declare their entries in a ``zoo.py`` module of their package, with two functions:
``entries() -> list[ZooEntry]`` and ``build(entries, *, workers, progress) -> None``; :func:`chapter_zoos`
finds them, so a new chapter touches no shared file.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import pkgutil
import platform
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model
from tqdm.auto import tqdm

import companion
from companion.atomic import atomic_path, atomic_write_text
from companion.errors import CompanionError
from companion.models import build_model
from companion.processes import process_pool

REPO_ROOT = Path(__file__).resolve().parents[1]
STATES = ("current", "stale", "missing")


def zoo_dir() -> Path:
    """``$COMPANION_ZOO`` when set (tests use a temporary folder), else ``checkpoints/`` in the checkout."""
    value = os.environ.get("COMPANION_ZOO")
    return Path(value) if value else REPO_ROOT / "checkpoints"


def digest(key: dict) -> str:
    """SHA-256 (first 16 hex digits) of ``key`` as canonical JSON."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ZooEntry:
    """One trained model: ``name`` (its path under the zoo, e.g. ``ch7/07b/mepsnet-seed0``), the model
    (a ``companion.models.MODELS`` key) and its constructor ``config``, and ``key``: everything that shapes
    the weights. ``label`` is what tables call it; ``job`` is whatever the chapter's ``build`` needs."""

    name: str
    model: str
    config: dict
    key: dict
    label: str = ""
    job: object = field(default=None, compare=False, repr=False)

    @property
    def digest(self) -> str:
        return digest(self.key)

    @property
    def weights_path(self) -> Path:
        return zoo_dir() / f"{self.name}.safetensors"

    @property
    def sidecar_path(self) -> Path:
        return zoo_dir() / f"{self.name}.safetensors.json"


def read_sidecar(entry: ZooEntry) -> dict | None:
    """The entry's sidecar, or None when it is missing or unreadable."""
    try:
        meta = json.loads(entry.sidecar_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return meta if isinstance(meta, dict) else None


def status(entry: ZooEntry) -> str:
    """"current", "stale" (trained with other settings, or a sidecar without weights) or "missing"."""
    meta = read_sidecar(entry)
    if meta is None and not entry.weights_path.exists():
        return "missing"
    if meta is None or not entry.weights_path.is_file() or meta.get("digest") != entry.digest:
        return "stale"
    return "current"


def find(spec, seed: int) -> ZooEntry | None:
    """The zoo entry that ``spec`` (an experiment spec of any chapter: a frozen dataclass with a method
    ``zoo_entry(seed) -> ZooEntry``) trains for ``seed``, when the zoo holds it with exactly these settings
    (status "current"); None when it is missing or stale, so the caller trains it. The one look-up every
    chapter uses."""
    entry = spec.zoo_entry(seed)
    return entry if status(entry) == "current" else None


def device_description(device) -> str:
    """The hardware a run used, in words: the CPU model and thread count, or the GPU's name."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {model}, {torch.get_num_threads()} thread(s), torch {torch.__version__}"


def save_entry(entry: ZooEntry, model, meta: dict) -> Path:
    """Write the weights (safetensors, in the model's own dtype), then the sidecar, each atomically; returns the weights path.

    The sidecar goes last, so a run killed in between leaves an entry that reads as stale, never as current.
    """
    entry.weights_path.parent.mkdir(parents=True, exist_ok=True)
    entry.sidecar_path.unlink(missing_ok=True)
    with atomic_path(entry.weights_path) as tmp:
        save_model(model, str(tmp), metadata={"zoo_name": entry.name, "digest": entry.digest})
        os.chmod(tmp, 0o644)  # readable like any file in the checkout (the temporary file starts as 0600)
    sidecar = {"name": entry.name, "model": entry.model, "config": entry.config, "label": entry.label,
               "digest": entry.digest, "key": entry.key, **meta}
    atomic_write_text(entry.sidecar_path, json.dumps(sidecar, indent=1, sort_keys=True) + "\n")
    return entry.weights_path


def weights_text(checkpoints, unit: str = "seed") -> str:
    """Where weights came from, in words: ``"weights: zoo checkpoints a, b; 1 seed trained in this run"`` for
    a list of ``"zoo:<entry name>"`` markers (anything else counts as trained here; ``unit`` names what)."""
    zoo = [c.split(":", 1)[1] for c in checkpoints if c and c.startswith("zoo:")]
    trained = len(checkpoints) - len(zoo)
    parts = [f"zoo checkpoint{'s' if len(zoo) > 1 else ''} " + ", ".join(zoo)] if zoo else []
    if trained:
        parts.append(f"{trained} {unit}{'s' if trained > 1 else ''} trained in this run")
    return "weights: " + "; ".join(parts)


def load_entry(entry: ZooEntry, model=None):
    """``(model, sidecar)`` of a current entry: the model built from its config (or ``model``, for a network the
    registry does not build), weights loaded strictly (a float16 file into float32 weights), in eval mode. A
    stale or missing entry, or weights that do not fit, is a one-line error saying how to rebuild it."""
    state = status(entry)
    if state != "current":
        raise CompanionError(f"zoo entry {entry.name} is {state}; rebuild it with `python -m companion zoo build "
                             f"{entry.name}`")
    if model is None:
        model = build_model(entry.model, **entry.config)
    try:
        load_model(model, str(entry.weights_path), strict=True)
    except Exception as exc:  # SafetensorError, a missing or unexpected key, a shape mismatch
        raise CompanionError(f"zoo entry {entry.weights_path} cannot be loaded ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0]}); rebuild it with `python -m companion zoo build "
                             f"{entry.name}`") from None
    return model.eval(), read_sidecar(entry)


def train_entries(entries, build_one, *, commit: str, workers: int = 2, progress: bool = True,
                  desc: str = "zoo build", retry: str = "python -m companion zoo build") -> None:
    """Run a chapter's ``build_one(entry, threads, commit) -> sidecar meta`` for every entry: ``workers`` processes
    at a time with one thread each (in this process, with PyTorch's threads, when ``workers <= 1``), under one
    progress bar that names each finished model. A failed entry does not stop the others; the call fails at the
    end naming every failure and the command (``retry``) that retries them (builds resume from checkpoints)."""
    bar = tqdm(total=len(entries), desc=desc, unit="model", disable=not progress)
    failed = []

    def done(entry, meta=None, error=None):
        if error is not None:
            failed.append(entry.name)
            bar.write(f"FAILED {entry.name}: {error}")
        else:
            val = f", val {meta['val_psnr']:.2f} dB" if meta.get("val_psnr") is not None else ""  # a classifier: none
            bar.write(f"{entry.name}: {meta['steps']} steps, {meta['seconds']:.0f} s{val}")
        bar.update()

    if workers <= 1:
        for entry in entries:
            bar.set_postfix_str(entry.name)
            try:
                done(entry, build_one(entry, None, commit))
            except CompanionError as exc:
                done(entry, error=exc)
    else:
        with process_pool(workers) as pool:
            futures = {pool.submit(build_one, entry, 1, commit): entry for entry in entries}
            for future in as_completed(futures):
                try:
                    done(futures[future], future.result())
                except CompanionError as exc:  # the others go on; the call fails at the end
                    done(futures[future], error=exc)
    bar.close()
    if failed:
        raise CompanionError(f"{len(failed)} of {len(entries)} zoo entries failed ({', '.join(failed)}); the "
                             f"messages are above; rerun `{retry}` to retry them")


def chapter_zoos() -> dict[str, object]:
    """``{chapter package name: its zoo module}`` for every chapter package with a ``zoo.py``."""
    found = {}
    for info in pkgutil.iter_modules(companion.__path__):
        if info.ispkg and (Path(companion.__path__[0]) / info.name / "zoo.py").is_file():
            found[info.name] = importlib.import_module(f"companion.{info.name}.zoo")
    return found


def all_entries() -> list[ZooEntry]:
    """Every chapter's entries, in the chapters' order."""
    return [e for module in chapter_zoos().values() for e in module.entries()]


def select(names) -> list[ZooEntry]:
    """The entries named (a full name, or a prefix such as ``ch7/07b``); all when ``names`` is empty."""
    entries = all_entries()
    if not names:
        return entries
    chosen, unknown = [], []
    for name in names:
        name = name.strip("/")
        hits = [e for e in entries if e.name == name or e.name.startswith(name + "/") or e.name.startswith(name + "-")]
        (chosen.extend(hits) if hits else unknown.append(name))
    if unknown:
        raise CompanionError(f"no zoo entry named {', '.join(unknown)}; `python -m companion zoo list` shows them")
    return list({e.name: e for e in chosen}.values())


def size_bytes() -> int:
    """Bytes of every file under the zoo folder."""
    folder = zoo_dir()
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def list_rows(entries=None) -> list[dict]:
    """One row per entry: name, label, status, steps, seconds, val_psnr, megabytes."""
    rows = []
    for e in entries if entries is not None else all_entries():
        meta = read_sidecar(e) or {}
        size = e.weights_path.stat().st_size if e.weights_path.is_file() else 0
        rows.append({"name": e.name, "label": e.label, "status": status(e), "steps": meta.get("steps"),
                     "seconds": meta.get("seconds"), "val_psnr": meta.get("val_psnr"), "mb": size / 1e6})
    return rows


def group_of(entry: ZooEntry) -> str:
    """The folder of an entry's name (``ch7/07c`` for ``ch7/07c/mepsnet-seed0``): the models of one table."""
    return entry.name.rsplit("/", 1)[0]


def recipe(entry: ZooEntry) -> dict:
    """What ``zoo list NAME --recipe`` prints: the model, its configuration and the training recipe (the
    entry's key: everything that shapes the weights) that would build it now, with the sidecar's status and
    validation."""
    meta = read_sidecar(entry) or {}
    return {"name": entry.name, "label": entry.label, "status": status(entry), "model": entry.model,
            "config": entry.config, "recipe": entry.key, "digest": entry.digest,
            "validation": validation_text(entry, meta), "val_psnr": meta.get("val_psnr")}


def validation_text(entry: ZooEntry, meta: dict | None = None) -> str:
    """What an entry's ``val_psnr`` was measured on, in words, from its sidecar (``val_images``: a description,
    or a number of images of the validation split that its recipe's data names)."""
    meta = read_sidecar(entry) if meta is None else meta
    described = (meta or {}).get("val_images")
    scales = entry.config.get("scales")
    scale = f", x{'/'.join(map(str, scales))}" if isinstance(scales, list) and scales else ""
    if isinstance(described, list) and described:
        text = "; ".join(map(str, described))
        return text + (scale if " x" not in text else "")
    if isinstance(described, int):
        data = entry.key.get("data", {}) if isinstance(entry.key.get("data"), dict) else {}
        images = data.get("images", {}) if isinstance(data.get("images"), dict) else {}
        names = [name for name, role in images.items() if role in ("val", "validation")]
        where = f" ({', '.join(names)})" if names else ""
        level = f", {data['level']} level" if data.get("level") else ""
        return f"the first {described} images of the validation split{where}{level}, whole, RGB PSNR"
    return "not recorded"


def label_legend(entries) -> list[str]:
    """One line per label of ``entries`` whose group holds the same model in several configurations: the
    settings that tell it apart from the others (``ch7/07c  K = 16: ... templates=16``), so a table's
    shorthand reads as the configuration it stands for."""
    by_group: dict[str, list[ZooEntry]] = {}
    for e in all_entries():
        by_group.setdefault(group_of(e), []).append(e)
    lines, seen = [], set()
    for e in entries:
        configs = [g.config for g in by_group.get(group_of(e), [e]) if g.model == e.model]
        varying = sorted({k for c in configs for k in c if any(c.get(k) != d.get(k) for d in configs)})
        settings = ", ".join(f"{k}={e.config[k]}" for k in varying if k in e.config)
        if e.label and settings and (group_of(e), e.label) not in seen:
            seen.add((group_of(e), e.label))
            lines.append(f"{group_of(e)}  {e.label}: {settings}")
    return lines


def build(names=(), *, workers: int = 2, force: bool = False, progress: bool = True) -> list[ZooEntry]:
    """(Re)train the named entries that are stale or missing (all named ones with ``force``); returns them."""
    entries = select(names)
    todo = [e for e in entries if force or status(e) != "current"]
    by_chapter: dict[str, list[ZooEntry]] = {}
    for e in todo:
        by_chapter.setdefault(e.name.split("/", 1)[0], []).append(e)
    zoos = chapter_zoos()
    for chapter, group in by_chapter.items():
        zoos[chapter].build(group, workers=workers, progress=progress)
    return todo
