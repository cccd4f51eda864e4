"""Progressive CARN ×8 trained in stages (thesis Chapter 3, §3.3-3.4, Algorithm 1, Tables 3.1-3.2): the experiment
of ``03_progressive_x8``.

The data and the staged training are :mod:`companion.ch3.staged` (Algorithm 1, each stage one call of the
shared loop); the spec (split, model, recipe, seeds) is :class:`companion.ch3.config.ProgressiveSpec`.

**The runs** (:func:`train_progressive`, :func:`train_single_stage`, :func:`run_experiment`): the three stages
of the progressive model, and the single-stage baseline (Table 3.1's CARN-B24U4): the same three modules
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

**The zoo** (:mod:`companion.ch3.zoo`): with ``spec.use_zoo`` (the quick profile) every stage and the baseline
whose zoo entry is current (trained with exactly this spec's settings) is loaded instead of trained
(:func:`zoo_stage`: ``companion.zoo.find(TrainedStage(spec, kind, stage), seed)``, then
:func:`companion.ch3.zoo.load_stage`); each stage's ``checkpoint`` then reads ``"zoo:<entry name>"``, and its
steps, seconds and loss curve are those the zoo build recorded.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial

import numpy as np
import torch

from companion import zoo
from companion.analysis.costs import called_parameter_count, mult_adds
from companion.ch3.config import ProgressiveSpec
from companion.ch3.staged import (HEAD_SCALES, SCALE, chw, evaluation_images, fit_stage, initial_model,
                                  training_patches)
from companion.ch3.zoo import TrainedStage, load_stage
from companion.data.sr import bicubic_upscale
from companion.device import torch_threads
from companion.engine.ensemble import self_ensemble
from companion.errors import CompanionError
from companion.metrics import sr_scores
from companion.processes import run_per_seed

# --------------------------------------------------------------------------------------------------------
# Evaluation.


def _hwc(x: torch.Tensor) -> np.ndarray:
    return x[0].clamp(0, 1).cpu().numpy().transpose(1, 2, 0)


@torch.no_grad()
def head_output(model, lr: np.ndarray, scale: int, *, ensemble: bool = False, device="cpu") -> np.ndarray:
    """The ×``scale`` head's output for an H×W×3 LR image (H·s×W·s×3 in [0, 1]); ``ensemble``: the geometric
    self-ensemble "+" of §3.4.1 (:func:`companion.engine.ensemble.self_ensemble`: 8 flips / rotations,
    inverted, averaged)."""
    was = model.training
    model.eval().to(device)
    try:
        x = chw(lr).to(device)
        y = self_ensemble(model.at_scale(scale), x) if ensemble else model(x, scale)
    finally:
        model.train(was)
    return _hwc(y.float())


def evaluate_heads(model, images, scales: Sequence[int], *, ensemble: bool = False, device="cpu",
                   with_ssim: bool = True) -> dict[int, dict]:
    """Score heads ``scales`` of ``model`` and MATLAB-bicubic upscaling on ``images`` (:func:`companion.ch3.staged.evaluation_images`).

    Per head: ``psnr``, ``ssim``, ``bicubic_psnr``, ``bicubic_ssim``, ``gain`` (mean PSNR over bicubic),
    ``wins`` (images where the head beats bicubic), ``images``, ``seconds``, ``per_image`` and ``protocol``;
    with ``ensemble`` also ``plus_psnr``, ``plus_ssim``, ``plus_gain`` and ``plus_seconds``."""
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


# --------------------------------------------------------------------------------------------------------
# The runs.


def _eval_sets(spec: ProgressiveSpec, data_root):
    return {name: evaluation_images(spec, name, data_root) for name in spec.eval_sets}


def _figure_image(spec: ProgressiveSpec, sets):
    first = next(iter(sets.values()))
    wanted = [im for im in first if im[0] == spec.figure_image]
    return wanted[0] if wanted else first[0]


def zoo_stage(spec: ProgressiveSpec, kind: str, seed: int, stage: int) -> zoo.ZooEntry | None:
    """The current zoo entry of (``kind``, ``stage``) trained with exactly ``spec``'s settings and ``seed``,
    when ``spec.use_zoo`` (:func:`companion.zoo.find`); None otherwise (not asked, missing or stale)."""
    return zoo.find(TrainedStage(spec, kind, stage), seed) if spec.use_zoo else None


def _costs(spec: ProgressiveSpec, layout: str) -> dict:
    with torch.device("meta"):
        meta = initial_model(spec, layout)
    return dict(params=called_parameter_count(meta, SCALE), mult_adds=mult_adds(meta, SCALE, (1080, 1920)))


def train_progressive(spec: ProgressiveSpec, seed: int, *, device="cpu", threads: int | None = None,
                      data_root=None, checkpoint_dir=None, progress: bool = False) -> dict:
    """The three stages of Algorithm 1 on ``spec``'s data, each through :func:`companion.ch3.staged.fit_stage`
    or, with ``spec.use_zoo``, loaded from the stage's current zoo entry (:func:`zoo_stage`: only the stages the
    zoo lacks train), followed by the evaluation of every head trained so far on every set of
    ``spec.eval_sets``; at the end the "+" of every head (``spec.ensemble``) and the crops of the figure image.
    With ``checkpoint_dir`` each trained stage saves to (and resumes from)
    :func:`companion.ch3.staged.checkpoint_path`. Each stage's ``checkpoint`` says where its weights came from
    (``"zoo:<entry>"`` or the file). Plain values back (it also runs in worker processes)."""
    if threads:
        torch.set_num_threads(int(threads))
    recipe = spec.recipe
    model = initial_model(spec, "progressive", seed)
    data = None
    sets = _eval_sets(spec, data_root)
    stages = []
    for stage in range(1, model.n_stages + 1):
        groups = model.param_groups(stage, lr=recipe.train.lr, decay=recipe.decay)
        entry = zoo_stage(spec, "progressive", seed, stage)
        if entry is not None:
            record = load_stage(model, entry)
        else:
            data = data or training_patches(spec, seed, data_root)
            record = fit_stage(model, data, spec, seed, stage, device=device, checkpoint_dir=checkpoint_dir,
                               progress=progress)
        heads = {name: evaluate_heads(model, images, model.scales[:stage], device=device)
                 for name, images in sets.items()}
        stages.append(dict(stage=stage, scale=2 ** stage, batch=int(recipe.batches[stage - 1]),
                           lrs={g["name"]: g["lr"] for g in groups}, **record, heads=heads))
    plus = {}
    if spec.ensemble:
        plus = {name: evaluate_heads(model, images, model.scales, ensemble=True, device=device)
                for name, images in sets.items()}
    crops = figure_crops(model, _figure_image(spec, sets), spec.figure_crop, ensemble=spec.ensemble, device=device)
    return dict(kind="progressive", seed=int(seed), stages=stages, plus=plus, crops=crops,
                **_costs(spec, "progressive"), seconds=round(sum(s["seconds"] for s in stages), 2))


def train_single_stage(spec: ProgressiveSpec, seed: int, *, device="cpu", threads: int | None = None,
                       data_root=None, checkpoint_dir=None, progress: bool = False) -> dict:
    """The single-stage baseline: a ``spec.baseline`` layout model trained on ×8 → HR only, every parameter at
    γ, for the recipe's total steps at its ``baseline_batch`` (:func:`companion.ch3.staged.fit_stage` with
    stage 0), or loaded from its current zoo entry with ``spec.use_zoo``; evaluated (and "+") at ×8 like
    :func:`train_progressive`."""
    if not spec.baseline:
        raise CompanionError("this profile has no single-stage baseline (baseline='')")
    if threads:
        torch.set_num_threads(int(threads))
    model = initial_model(spec, spec.baseline, seed)
    sets = _eval_sets(spec, data_root)
    entry = zoo_stage(spec, "baseline", seed, 0)
    if entry is not None:
        record = load_stage(model, entry)
    else:
        record = fit_stage(model, training_patches(spec, seed, data_root), spec, seed, 0, device=device,
                           checkpoint_dir=checkpoint_dir, progress=progress)
    heads = {name: evaluate_heads(model, images, (SCALE,), ensemble=spec.ensemble, device=device)
             for name, images in sets.items()}
    crops = figure_crops(model, _figure_image(spec, sets), spec.figure_crop, ensemble=False, device=device)
    return dict(kind="baseline", layout=spec.baseline, seed=int(seed), batch=spec.recipe.baseline_batch, **record,
                heads=heads, crops=crops, **_costs(spec, spec.baseline))


def _all_in_zoo(spec: ProgressiveSpec, kind: str, seed: int) -> bool:
    stages = range(1, len(spec.recipe.steps) + 1) if kind == "progressive" else (0,)
    return all(zoo_stage(spec, kind, seed, s) is not None for s in stages)


def _run_one(spec: ProgressiveSpec, kind: str, seed: int, **kw) -> dict:
    return (train_progressive if kind == "progressive" else train_single_stage)(spec, seed, **kw)


def run_experiment(spec: ProgressiveSpec, *, seed0: int = 0, device="cpu", progress: bool = True, data_root=None,
                   checkpoint_dir=None) -> dict[str, list[dict]]:
    """The progressive run and the single-stage baseline (when ``spec.baseline``) for ``spec.seeds`` seeds
    (``seed0``, ``seed0 + 1``, …). On a CPU with ``spec.workers`` > 1 that many go side by side in worker
    processes of one thread each (in this process, on one thread, when every model comes from the zoo). Returns
    ``{"progressive": [per seed], "baseline": [per seed]}``."""
    kinds = ("progressive", "baseline") if spec.baseline else ("progressive",)
    runs = [(kind, seed0 + i) for i in range(spec.seeds) for kind in kinds]
    on_cpu = torch.device(device).type == "cpu"
    workers = min(spec.workers, len(runs)) if on_cpu else 1
    from_zoo = all(_all_in_zoo(spec, kind, seed) for kind, seed in runs)
    run_one = partial(_run_one, spec, device=str(device), data_root=data_root, checkpoint_dir=checkpoint_dir)
    if not from_zoo or not on_cpu:
        return run_per_seed(run_one, runs, workers=workers, desc="Chapter 3: train + evaluate", progress=progress)
    with torch_threads(1):  # only evaluation: small convs on a busy CPU run far faster on one thread than on two
        return run_per_seed(run_one, runs, workers=1, desc="Chapter 3: train + evaluate", progress=progress)
