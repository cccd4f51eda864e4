"""Progressive CARN ×8 trained in stages (thesis Chapter 3, §3.3-3.4, Algorithm 1, Tables 3.1-3.2), for
``03_progressive_x8``.

**Data** (§3.4.1: "we downsample the images ×8 scale with Bicubic kernel"). Every HR image is cropped to a
multiple of 8 (:func:`companion.data.sr.modcrop`); its ×8 LR image and the targets of the three stages are
MATLAB-bicubic downscales of it (:func:`companion.data.sr.bicubic_downscale`, 8-bit): stage s (head ×2^s of
the LR image) learns the HR image downscaled by 8 / 2^s, i.e. ×4, ×2 and the HR image itself
(:func:`companion.models.progressive_carn.stage_target_downscale`). One reading where the thesis is silent:
the intermediate targets are downscaled from the HR image directly, not from each other.
:class:`ProgressivePatches` cuts aligned LR / target patches (random position, the same random flips and 90°
rotation on both, §3.4.1) for the current ``stage``; every crop is a function of (seed, stage, step, index).

**Staged training** (Algorithm 1, :func:`train_progressive`): stage 1 trains the entry conv, CARN module 1 and
toRGB 1 on ×8 → ×4; stage 2 adds module 2 and toRGB 2 (toRGB 1 is "detached": it is no longer trained) on ×8 →
×2; stage 3 adds module 3 and toRGB 3 on ×8 → HR. Each stage is one call of the shared loop
:func:`companion.engine.loop.train` with the model's own optimizer groups
(:meth:`companion.models.progressive_carn.ProgressiveCARN.param_groups`: the new module at γ, earlier ones at
0.1× per stage since they were added, Algorithm 1's Γ ← 0.1 Γ; ``decay="prose"`` for the one-off 0.1×), and
a fresh Adam each stage (the thesis does not say whether the moments carry over; Algorithm 1 rebuilds S, so a
new optimizer is read here). Nothing is frozen. The loss is L1 (CARN's, §2.4; Chapter 3 names none).

**Single-stage baseline** (Table 3.1's CARN-B24U4, :func:`train_single_stage`): the same three modules
trained in one stage on ×8 → HR at γ for the sum of the stages' steps. ``baseline="end"`` is the CARN-B24U4
reading of :mod:`companion.models.progressive_carn` (the modules at LR resolution and one ×8 upsampler at the
end: 9.46M parameters at paper size, Table 3.1's row); ``baseline="progressive"`` trains the progressive
network itself in one stage (only the staging differs).

**Evaluation** (:func:`evaluate_heads`): each available head (×2, ×4, ×8 of the LR input) against MATLAB
bicubic upscaling of the same LR image by the same factor, scored against that head's target with
:func:`companion.metrics.sr_scores` (PSNR and SSIM on the Y channel of BT.601, a border of the head's scale,
8-bit outputs); the geometric self-ensemble "+" (:func:`companion.engine.ensemble.self_ensemble`) of every head
when asked. After each stage every head trained so far is scored, so the cost of stage s+1 to head s (whose
toRGB is detached while its module keeps learning at 0.1γ) shows.

**The zoo** (:mod:`companion.ch3.zoo`): with ``cfg.use_zoo`` (the quick profile) every stage and the baseline
whose zoo entry is current (trained with exactly this profile's settings: :func:`companion.ch3.zoo.zoo_key`)
is loaded instead of trained (:func:`zoo_entry`, :func:`load_stage`); each stage's ``checkpoint`` then reads
``"zoo:<entry name>"``, and its steps, seconds and loss curve are those the zoo build recorded.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from companion.data.images import centre_crop_at_most
from companion.device import torch_threads
from companion.errors import CompanionError
from companion.summary import loss_curve

#: The output scales of the three stages' heads (vs the ×8 LR input), and the test-set scale.
HEAD_SCALES = (2, 4, 8)
SCALE = 8
#: Labels of the runs, as Tables 3.1-3.2 name them.
LABELS = {"bicubic": "Bicubic", "progressive": "Progressive CARN", "progressive+": "Progressive CARN+",
          "end": "CARN-B24U4 (one stage)", "progressive-direct": "progressive network, one stage"}


def baseline_label(layout: str) -> str:
    """How the notebook names the single-stage baseline of ``layout``."""
    return LABELS["end"] if layout == "end" else LABELS["progressive-direct"]


# --------------------------------------------------------------------------------------------------------
# Data: ×8 LR images and the three stages' targets.


def stage_images(hr: np.ndarray, scale: int = SCALE) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """(LR, {head scale: target}) of an H×W×3 HR image: the HR image cropped to a multiple of ``scale``, its
    MATLAB-bicubic ×``scale`` downscale (8-bit), and the targets of heads ×2, ×4, … ×``scale`` of the LR image:
    the HR image bicubic-downscaled by ``scale`` / head (the ×``scale`` head's target is the HR image)."""
    from companion.data.images import to_float
    from companion.data.sr import bicubic_downscale, modcrop

    hr = modcrop(to_float(hr), scale)
    lr = bicubic_downscale(hr, scale)
    targets = {}
    head = 2
    while head <= scale:
        targets[head] = hr if head == scale else bicubic_downscale(hr, scale // head)
        head *= 2
    return lr, targets


def _load(item) -> tuple[str, np.ndarray]:
    from companion.data.images import embedded_image, load_image

    if isinstance(item, (str, Path)) and Path(item).suffix:
        return Path(item).stem, load_image(item)
    return str(item), embedded_image(str(item))


class ProgressivePatches(Dataset):
    """Aligned (×8 LR patch, stage target patch) pairs of §3.4.1 for the current :attr:`stage`.

    ``images``: embedded photograph names or HR image paths; ``patch``: the LR patch side; items are dicts
    ``lr`` (3×p×p), ``target`` (3×(p·2^stage)²), ``name``, ``stage``. ``len()`` is images × ``repeat``; the
    engine's loop calls :meth:`set_epoch` with the step. LR images and targets are made once per image (uint8
    in memory) on first use."""

    def __init__(self, images: Sequence, *, patch: int, stage: int = 1, seed: int = 0, repeat: int = 1,
                 augment: bool = True, stages: int = 3):
        images = list(images)
        if not images:
            raise CompanionError("no training images given")
        if isinstance(patch, bool) or not isinstance(patch, int) or patch < 1:
            raise CompanionError(f"patch must be a whole number of LR pixels >= 1, got {patch!r}")
        self.images, self.patch, self.seed, self.repeat, self.augment = images, patch, int(seed), int(repeat), augment
        self.stages = int(stages)
        self.stage = stage
        self.epoch = 0
        self._cache: dict[int, tuple[str, np.ndarray, dict[int, np.ndarray]]] = {}

    @property
    def stage(self) -> int:
        return self._stage

    @stage.setter
    def stage(self, stage: int) -> None:
        if isinstance(stage, bool) or not isinstance(stage, int) or not 1 <= stage <= self.stages:
            raise CompanionError(f"stage must be 1..{self.stages}; got {stage!r}")
        self._stage = stage

    def __len__(self) -> int:
        return len(self.images) * self.repeat

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def pair(self, image: int) -> tuple[str, np.ndarray, dict[int, np.ndarray]]:
        """(name, LR, {head: target}) of training image ``image`` as uint8 arrays, made once."""
        from companion.data.images import to_uint8

        if image not in self._cache:
            name, hr = _load(self.images[image])
            lr, targets = stage_images(hr, 2 ** self.stages)
            if min(lr.shape[:2]) < self.patch:
                raise CompanionError(f"image {name}'s ×{2 ** self.stages} LR image is {lr.shape[1]}×{lr.shape[0]} "
                                     f"px, smaller than patch={self.patch}; use a smaller patch or leave it out")
            self._cache[image] = (name, to_uint8(lr), {s: to_uint8(t) for s, t in targets.items()})
        return self._cache[image]

    def __getitem__(self, index: int) -> dict:
        from companion.data.tensors import augment, to_chw

        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        name, lr, targets = self.pair(index % len(self.images))
        s, p = 2 ** self.stage, self.patch
        target = targets[s]
        rng = np.random.default_rng([self.seed, self.stage, self.epoch, index])
        top, left = int(rng.integers(0, lr.shape[0] - p + 1)), int(rng.integers(0, lr.shape[1] - p + 1))
        crops = [lr[top:top + p, left:left + p], target[top * s:(top + p) * s, left * s:(left + p) * s]]
        if self.augment:
            hflip, vflip, rot = bool(rng.integers(2)), bool(rng.integers(2)), int(rng.integers(4))
            crops = [augment(a, hflip, vflip, rot) for a in crops]
        lr_t, target_t = (to_chw(np.ascontiguousarray(a)).float().div_(255.0) for a in crops)
        return {"lr": lr_t, "target": target_t, "name": name, "stage": self.stage}


_DATA: dict = {}  # per process: (what, settings) -> dataset / test images, built once


def training_patches(cfg, seed: int, data_root=None) -> ProgressivePatches:
    """The training patches of ``cfg``: the embedded photographs ``cfg.train_images`` (``"bundled"``, each
    repeated 8 times per "epoch") or DIV2K's 800 training images (``"data"``); kept per process, re-seeded."""
    leaked = set(cfg.train_images) & set(cfg.eval_images) if cfg.source != "data" else ()
    if leaked:  # checked before the cache: another profile may have made the same patches
        raise CompanionError(f"test images {sorted(leaked)} are also training images; hold them out")
    key = ("train", cfg.source, tuple(cfg.train_images), cfg.patch, str(data_root))
    if key not in _DATA:
        if cfg.source == "data":
            from companion.data import folders

            _DATA[key] = ProgressivePatches(folders.div2k_hr_paths(data_root, "train"), patch=cfg.patch, seed=seed)
        else:
            _DATA[key] = ProgressivePatches(cfg.train_images, patch=cfg.patch, seed=seed, repeat=8)
    data = _DATA[key]
    data.seed = int(seed)
    return data




def evaluation_images(cfg, eval_set: str, data_root=None) -> list[tuple[str, np.ndarray, dict[int, np.ndarray]]]:
    """``[(name, LR, {head: target})]`` of one evaluation set: ``"embedded"`` (the held-out photographs
    ``cfg.eval_images``) or a :data:`companion.data.sr.BENCHMARKS` name read from the data root; whole or
    centre-cropped to ``cfg.eval_crop`` HR px; made once per process."""
    from companion.data.sr import benchmark_paths

    if eval_set == "embedded":  # checked before the cache: another profile may have made the same images
        leaked = set(cfg.eval_images) & set(cfg.train_images)
        if leaked:
            raise CompanionError(f"test images {sorted(leaked)} are also training images; hold them out")
    key = ("test", eval_set, tuple(cfg.eval_images), cfg.eval_crop, str(data_root))
    if key not in _DATA:
        if eval_set == "embedded":
            items = list(cfg.eval_images)
        elif eval_set == "DIV2K":
            from companion.data import folders

            items = folders.div2k_hr_paths(data_root, "valid")
        else:
            items = benchmark_paths(eval_set, data_root)
        out = []
        for item in items:
            name, hr = _load(item)
            if cfg.eval_crop:
                hr = centre_crop_at_most(hr, cfg.eval_crop)
            out.append((name, *stage_images(hr, SCALE)))
        _DATA[key] = out
    return _DATA[key]


# --------------------------------------------------------------------------------------------------------
# Models and settings.


def build(cfg, layout: str = "progressive", seed: int = 0):
    """The progressive CARN of ``cfg.size`` (or Table 3.1's CARN-B24U4 reading, ``layout="end"``), with
    PyTorch's default initialisation drawn after ``torch.manual_seed(seed)``."""
    from companion.models import build_model

    torch.manual_seed(seed)
    return build_model("progressive_carn", cfg.size, layout=layout)


def stage_train_config(cfg, stage: int, seed: int):
    """The loop's settings for stage ``stage`` (1-based; 0 = the single-stage baseline): ``cfg.train`` with
    that stage's steps and batch (the baseline: the sum of the steps at ``cfg.baseline_batch``) and ``seed``
    (mixed with the stage, so every stage draws its own batches)."""
    if stage == 0:
        return replace(cfg.train, steps=cfg.total_steps, batch_size=cfg.baseline_batch, seed=int(seed))
    return replace(cfg.train, steps=int(cfg.steps[stage - 1]), batch_size=int(cfg.batches[stage - 1]),
                   seed=int(seed) * 10 + stage)


def run_settings(cfg, what: str, seed: int, stage: int) -> dict:
    """Everything that decides one trained stage (``what``: ``"progressive"`` or ``"baseline"``; stage 0 for the
    baseline): the model, data, patch, loss, decay and the training settings of this and every earlier stage.
    Its digest names the checkpoint."""
    def train(s):
        return {k: v for k, v in asdict(stage_train_config(cfg, s, seed)).items()
                if k not in ("checkpoint_every", "val_every")}

    stages = [train(s) for s in range(1, stage + 1)] if what == "progressive" else [train(0)]
    layout = "progressive" if what == "progressive" else cfg.baseline
    return dict(notebook="03_progressive_x8", what=what, layout=layout,
                seed=int(seed), stage=int(stage), size=cfg.size, source=cfg.source,
                train_images=list(cfg.train_images), patch=cfg.patch, loss=cfg.loss, decay=cfg.decay, stages=stages)


def checkpoint_path(folder, cfg, what: str, seed: int, stage: int) -> Path:
    """``<folder>/<what>-stage<stage>-seed<seed>-<digest>.pt``: a rerun with the same settings resumes (a
    finished stage only evaluates); changed settings get a new file."""
    from companion.zoo import digest

    return Path(folder) / f"{what}-stage{stage}-seed{seed}-{digest(run_settings(cfg, what, seed, stage))[:10]}.pt"


# --------------------------------------------------------------------------------------------------------
# Evaluation.


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()[None]


def _hwc(x: torch.Tensor) -> np.ndarray:
    return x[0].clamp(0, 1).cpu().numpy().transpose(1, 2, 0)


@torch.no_grad()
def head_output(model, lr: np.ndarray, scale: int, *, ensemble: bool = False, device="cpu") -> np.ndarray:
    """The ×``scale`` head's output for an H×W×3 LR image (H·s×W·s×3 in [0, 1]); ``ensemble``: the geometric
    self-ensemble "+" of §3.4.1 (:func:`companion.engine.ensemble.self_ensemble`: 8 flips / rotations,
    inverted, averaged)."""
    from companion.engine.ensemble import self_ensemble

    was = model.training
    model.eval().to(device)
    try:
        x = _chw(lr).to(device)
        y = self_ensemble(model.at_scale(scale), x) if ensemble else model(x, scale)
    finally:
        model.train(was)
    return _hwc(y.float())


def evaluate_heads(model, images, scales: Sequence[int], *, ensemble: bool = False, device="cpu",
                   with_ssim: bool = True) -> dict[int, dict]:
    """Score heads ``scales`` of ``model`` and MATLAB-bicubic upscaling on ``images`` (:func:`evaluation_images`).

    Per head: ``psnr``, ``ssim``, ``bicubic_psnr``, ``bicubic_ssim``, ``gain`` (mean PSNR over bicubic),
    ``wins`` (images where the head beats bicubic), ``images``, ``seconds``, ``per_image`` and ``protocol``;
    with ``ensemble`` also ``plus_psnr``, ``plus_ssim``, ``plus_gain`` and ``plus_seconds``."""
    from companion.data.sr import bicubic_upscale
    from companion.metrics import sr_scores

    out = {}
    for s in scales:
        per_image, seconds, plus_seconds, protocol = {}, 0.0, 0.0, None
        for name, lr, targets in images:
            start = time.perf_counter()
            sr = head_output(model, lr, s, device=device)
            seconds += time.perf_counter() - start
            ours = sr_scores(sr, targets[s], s, with_ssim=with_ssim)
            base = sr_scores(bicubic_upscale(lr, s), targets[s], s, with_ssim=with_ssim)
            protocol = ours["protocol"]
            row = {"psnr": ours["psnr"], "ssim": ours.get("ssim"), "bicubic_psnr": base["psnr"],
                   "bicubic_ssim": base.get("ssim")}
            if ensemble:
                start = time.perf_counter()
                plus = sr_scores(head_output(model, lr, s, ensemble=True, device=device), targets[s], s,
                                 with_ssim=with_ssim)
                plus_seconds += time.perf_counter() - start
                row.update(plus_psnr=plus["psnr"], plus_ssim=plus.get("ssim"))
            per_image[name] = row
        if not per_image:
            raise CompanionError("no images to evaluate")

        def mean(key):
            values = [v[key] for v in per_image.values()]
            return None if values[0] is None else float(np.mean(values))

        head = {key: mean(key) for key in next(iter(per_image.values()))}
        head.update(gain=head["psnr"] - head["bicubic_psnr"], images=len(per_image), seconds=seconds,
                    wins=sum(v["psnr"] > v["bicubic_psnr"] for v in per_image.values()), per_image=per_image,
                    protocol={**protocol, "images": len(per_image)})
        if ensemble:
            head.update(plus_gain=head["plus_psnr"] - head["bicubic_psnr"], plus_seconds=plus_seconds,
                        plus_wins=sum(v["plus_psnr"] > v["bicubic_psnr"] for v in per_image.values()))
        out[s] = head
    return out


def crop_box(target: np.ndarray, side: int, scale: int = SCALE) -> tuple[int, int, int]:
    """(top, left, side) of a centred square crop of an HR image, on the ×``scale`` LR grid (multiples of
    ``scale``), at most the image."""
    h, w = target.shape[:2]
    side = max(scale, min(side, h, w) // scale * scale)
    return (h - side) // 2 // scale * scale, (w - side) // 2 // scale * scale, side


def figure_crops(model, image, side: int, *, ensemble: bool = True, device="cpu") -> dict:
    """The crops of one test image for the qualitative figure (after Fig. 3.2): ``hr``, ``bicubic`` (×8 MATLAB
    bicubic), ``heads`` ({2: ×2 head, 4: ×4 head, 8: ×8 head}, each at its own size), ``plus`` (×8 "+"), each
    with its PSNR / SSIM on the whole image (``scores``), and ``name``, ``box`` (HR px)."""
    from companion.data.sr import bicubic_upscale
    from companion.metrics import sr_scores

    name, lr, targets = image
    top, left, side = crop_box(targets[SCALE], side)

    def cut(array, s):
        f = s / SCALE
        t, le, sd = int(top * f), int(left * f), int(side * f)
        return np.ascontiguousarray(array[t:t + sd, le:le + sd]).astype(np.float32)

    scales = [s for s in HEAD_SCALES if s in getattr(model, "scales", ())]
    out = {"name": name, "box": (top, left, side), "hr": cut(targets[SCALE], SCALE), "heads": {}, "scores": {},
           "targets": {s: cut(targets[s], s) for s in scales}}
    bic = bicubic_upscale(lr, SCALE)
    out["bicubic"] = cut(bic, SCALE)
    out["scores"]["bicubic"] = sr_scores(bic, targets[SCALE], SCALE)
    for s in scales:
        sr = head_output(model, lr, s, device=device)
        out["heads"][s] = cut(sr, s)
        out["scores"][s] = sr_scores(sr, targets[s], s)
    if ensemble and SCALE in scales:
        plus = head_output(model, lr, SCALE, ensemble=True, device=device)
        out["plus"] = cut(plus, SCALE)
        out["scores"]["plus"] = sr_scores(plus, targets[SCALE], SCALE)
    for v in out["scores"].values():
        v.pop("protocol", None)
    return out


# --------------------------------------------------------------------------------------------------------
# Training.


def _eval_sets(cfg, data_root):
    return {name: evaluation_images(cfg, name, data_root) for name in cfg.eval_sets}


def _figure_image(cfg, sets):
    first = next(iter(sets.values()))
    wanted = [im for im in first if im[0] == cfg.figure_image]
    return wanted[0] if wanted else first[0]


def zoo_entry(cfg, what: str, seed: int, stage: int):
    """The current zoo entry (:mod:`companion.ch3.zoo`) trained with exactly (``cfg``, ``what``, ``seed``,
    ``stage``) when ``cfg.use_zoo``; None otherwise (no such entry, or it is stale or missing)."""
    if not getattr(cfg, "use_zoo", False):
        return None
    from companion.ch3.zoo import find
    from companion.zoo import status

    entry = find(cfg, what, seed, stage)
    return entry if entry is not None and status(entry) == "current" else None


def load_stage(model, entry) -> dict:
    """Load zoo ``entry``'s weights into ``model`` (strictly, :func:`companion.zoo.load_entry`) and return the
    training record its sidecar keeps (``steps``, ``seconds``, ``first_loss``, ``final_loss``, ``loss_curve``),
    with ``checkpoint`` = ``"zoo:<name>"``."""
    from companion.zoo import load_entry

    loaded, meta = load_entry(entry)
    model.load_state_dict(loaded.state_dict())
    return dict(steps=int(meta["steps"]), seconds=float(meta["seconds"]), first_loss=float(meta["first_loss"]),
                final_loss=float(meta["final_loss"]), loss_curve=meta["loss_curve"], checkpoint=f"zoo:{entry.name}")


def fit_stage(model, data, cfg, seed: int, stage: int, *, device="cpu", checkpoint_dir=None,
              progress: bool = False) -> dict:
    """Train stage ``stage`` of Algorithm 1 (``stage`` 0: the single-stage baseline, every parameter at γ for
    ``cfg.total_steps`` steps) through :func:`companion.engine.loop.train`; with ``checkpoint_dir`` it saves to
    (and resumes from) :func:`checkpoint_path`. Returns ``steps``, ``seconds``, ``first_loss``, ``final_loss``,
    ``loss_curve`` and ``checkpoint`` (the file's name, or None)."""
    from companion.engine.loop import LOSSES, paired_batch, train

    if stage == 0:
        what, scale, name = "baseline", SCALE, f"progressive_carn-{cfg.baseline}"
        params = [p for m in (model.stage_modules(3).values() if cfg.baseline == "progressive" else [[model]])
                  for mod in m for p in mod.parameters()]
        groups = [{"name": "all", "params": params}]
        data.stage = 3
    else:
        what, scale, name = "progressive", 2 ** stage, "progressive_carn"
        groups = model.param_groups(stage, lr=cfg.train.lr, decay=cfg.decay)
        data.stage = stage
    path = None if checkpoint_dir is None else checkpoint_path(checkpoint_dir, cfg, what, seed, stage)
    result = train(model.at_scale(scale), data, stage_train_config(cfg, stage, seed), loss=LOSSES[cfg.loss],
                   batch=paired_batch("lr", "target"), model_name=name, device=device, checkpoint_path=path,
                   progress=progress, log=lambda _msg: None, param_groups=groups)
    tail = max(1, len(result.losses) // 10)
    return dict(steps=result.steps_done, seconds=round(result.seconds, 2), first_loss=float(result.losses[0]),
                final_loss=float(np.mean(result.losses[-tail:])), loss_curve=loss_curve(result.losses),
                checkpoint=None if path is None else path.name)


def train_progressive(cfg, seed: int, *, device="cpu", threads: int | None = None, data_root=None,
                      checkpoint_dir=None, progress: bool = False) -> dict:
    """The three stages of Algorithm 1 on ``cfg``'s data, each through :func:`fit_stage` (the shared loop with
    :meth:`~companion.models.progressive_carn.ProgressiveCARN.param_groups`, ``cfg.decay``) or, with
    ``cfg.use_zoo``, loaded from the stage's current zoo entry (:func:`zoo_entry`, :func:`load_stage`: only the
    stages the zoo lacks train), followed by the evaluation of every head trained so far on every set of
    ``cfg.eval_sets``; at the end the "+" of every head (``cfg.ensemble``) and the crops of the figure image.
    With ``checkpoint_dir`` each trained stage saves to (and resumes from) :func:`checkpoint_path`. Each stage's
    ``checkpoint`` says where its weights came from (``"zoo:<entry>"`` or the file). Plain values back (it also
    runs in worker processes)."""
    from companion.analysis.costs import called_parameter_count, mult_adds

    if threads:
        torch.set_num_threads(int(threads))
    model = build(cfg, "progressive", seed)
    data = None
    sets = _eval_sets(cfg, data_root)
    stages = []
    for stage in range(1, model.n_stages + 1):
        groups = model.param_groups(stage, lr=cfg.train.lr, decay=cfg.decay)
        entry = zoo_entry(cfg, "progressive", seed, stage)
        if entry is not None:
            record = load_stage(model, entry)
        else:
            data = data or training_patches(cfg, seed, data_root)
            record = fit_stage(model, data, cfg, seed, stage, device=device, checkpoint_dir=checkpoint_dir,
                               progress=progress)
        heads = {name: evaluate_heads(model, images, model.scales[:stage], device=device)
                 for name, images in sets.items()}
        stages.append(dict(stage=stage, scale=2 ** stage, batch=int(cfg.batches[stage - 1]),
                           lrs={g["name"]: g["lr"] for g in groups}, **record, heads=heads))
    plus = {}
    if cfg.ensemble:
        plus = {name: evaluate_heads(model, images, model.scales, ensemble=True, device=device)
                for name, images in sets.items()}
    crops = figure_crops(model, _figure_image(cfg, sets), cfg.figure_crop, ensemble=cfg.ensemble, device=device)
    with torch.device("meta"):
        meta = build(cfg, "progressive")
    return dict(what="progressive", seed=int(seed), stages=stages, plus=plus, crops=crops,
                params=called_parameter_count(meta, SCALE), mult_adds=mult_adds(meta, SCALE, (1080, 1920)),
                seconds=round(sum(s["seconds"] for s in stages), 2))


def train_single_stage(cfg, seed: int, *, device="cpu", threads: int | None = None, data_root=None,
                       checkpoint_dir=None, progress: bool = False) -> dict:
    """The single-stage baseline: a ``cfg.baseline`` layout model trained on ×8 → HR only, every parameter at
    γ, for ``cfg.total_steps`` steps at ``cfg.baseline_batch`` (:func:`fit_stage` with stage 0), or loaded from
    its current zoo entry with ``cfg.use_zoo``; evaluated (and "+") at ×8 like :func:`train_progressive`."""
    from companion.analysis.costs import called_parameter_count, mult_adds

    if not cfg.baseline:
        raise CompanionError("this profile has no single-stage baseline (baseline='')")
    if threads:
        torch.set_num_threads(int(threads))
    model = build(cfg, cfg.baseline, seed)
    sets = _eval_sets(cfg, data_root)
    entry = zoo_entry(cfg, "baseline", seed, 0)
    if entry is not None:
        record = load_stage(model, entry)
    else:
        record = fit_stage(model, training_patches(cfg, seed, data_root), cfg, seed, 0, device=device,
                           checkpoint_dir=checkpoint_dir, progress=progress)
    heads = {name: evaluate_heads(model, images, (SCALE,), ensemble=cfg.ensemble, device=device)
             for name, images in sets.items()}
    crops = figure_crops(model, _figure_image(cfg, sets), cfg.figure_crop, ensemble=False, device=device)
    with torch.device("meta"):
        meta = build(cfg, cfg.baseline)
    return dict(what="baseline", layout=cfg.baseline, seed=int(seed), batch=cfg.baseline_batch, **record,
                heads=heads, crops=crops, params=called_parameter_count(meta, SCALE),
                mult_adds=mult_adds(meta, SCALE, (1080, 1920)))


def _all_in_zoo(cfg, what: str, seed: int) -> bool:
    stages = range(1, len(cfg.steps) + 1) if what == "progressive" else (0,)
    return all(zoo_entry(cfg, what, seed, s) is not None for s in stages)


def _job(cfg, what, seed, **kw):
    return (train_progressive if what == "progressive" else train_single_stage)(cfg, seed, **kw)


def run_experiment(cfg, *, seed0: int = 0, device="cpu", progress: bool = True, data_root=None,
                   checkpoint_dir=None) -> dict[str, list[dict]]:
    """The progressive run and the single-stage baseline (when ``cfg.baseline``) for ``cfg.seeds`` seeds
    (``seed0``, ``seed0 + 1``, …). On a CPU with ``cfg.workers`` > 1 that many go side by side in worker
    processes of one thread each (in this process, on one thread, when every model comes from the zoo). Returns
    ``{"progressive": [per seed], "baseline": [per seed]}``."""
    from functools import partial

    from companion.processes import run_per_seed

    kinds = ("progressive", "baseline") if cfg.baseline else ("progressive",)
    jobs = [(what, seed0 + i) for i in range(cfg.seeds) for what in kinds]
    workers = min(cfg.workers, len(jobs)) if torch.device(device).type == "cpu" else 1
    from_zoo = all(_all_in_zoo(cfg, what, seed) for what, seed in jobs)
    if from_zoo:
        workers = 1  # nothing trains: the zoo's models are only evaluated, in this process, on one thread
    job = partial(_job, cfg, device=str(device), data_root=data_root, checkpoint_dir=checkpoint_dir)
    if not from_zoo or torch.device(device).type != "cpu":
        return run_per_seed(job, jobs, workers=workers, desc="Chapter 3: train + evaluate", progress=progress)
    with torch_threads(1):  # only evaluation: small convs on a busy CPU run far faster on one thread than on two
        return run_per_seed(job, jobs, workers=1, desc="Chapter 3: train + evaluate", progress=progress)

