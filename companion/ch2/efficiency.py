"""Fig. 2.8's efficiency trade-off (thesis §2.4.5): CARN's efficient variants over group count G and recursion R,
for ``02d_efficiency``.

§2.4.5 "dissects the efficiency by varying the group size and the existence of the recursive scheme": the
efficient CARN (:class:`companion.models.carn_m.CARNM`) with its EResidual's two 3×3 convolutions in G groups
(Eq. 2.10: the block costs ``1/G + 1/(2K²)`` of a standard residual block, :func:`companion.analysis.costs.
eq_2_10_ratio`) and, with R, one EResidual shared by the three positions of each cascading block. The thesis
picks G4R as CARN-M ("the effect of compressing the model is reduced when the number of groups is larger than
four"): about 4× fewer parameters and nearly 3× fewer operations than CARN "with a 0.20 dB loss in PSNR and
0.0053 in SSIM" on Set14 ×4, and says depthwise convolution (G64R) "extremely degrades the performance
(−0.32 dB)". The figure's own points did not survive the text extraction (``companion/paper/thesis.json`` has
no values for it), so the thesis' numbers here are the text's (:data:`THESIS_TEXT`).

Three measurements, one function each:

* :func:`cost_table`: exact parameters and Mult-Adds (:mod:`companion.analysis.costs`, 720p output at ×4) of
  every variant of the profile's ``cost_variants`` at paper size (C = 64, the multi-scale network's ×4 path as
  Table 2.4 counts it: the ×2/×3 upsamplers hold parameters but cost nothing at ×4), beside CARN: the same at
  every profile;
* :func:`latency_table`: CPU time of one forward pass of paper-size networks (``latency_variants``; random
  weights, speed does not depend on them) on an LR input of the profile's size, median of ``latency_repeats``,
  per backend:
  PyTorch eager (``"eager"``) and the fastest exact backend this machine has
  (:func:`companion.engine.fast_inference.accelerate`, ``"auto"``);
* :func:`run_sweep`: the profile's ``variants`` trained single-scale at ×``scale`` with the same recipe and
  steps (:mod:`companion.ch2.training`) and scored under the SR protocol; a current zoo entry
  (``ch2/02d/…``, :mod:`companion.ch2.zoo`) is loaded instead of training.

Profiles (:data:`PROFILES`; the notebook is registered under ``NOTEBOOKS``):

* ``full``: the paper's setting: paper-size single-scale ×4 variants trained on DIV2K with the authors'
  recipe, scored on Set14 ×4, one model each (the figure shows one point per model);
* ``quick``: costs of the whole paper-size family; CPU latency of six of its networks on a 48×80 LR input
  (192×320 output); the quick-size (C = 32) variants CARN, G4R (CARN-M), G32R (depthwise at C = 32, the
  counterpart of G64R at C = 64), G4 and G8R, one seed, 600 steps each with the fixed recipe of
  :data:`QUICK_SWEEP_RECIPE` on seven embedded photographs, scored on the three held-out photographs (china,
  flower, rocket) whole;
* ``smoke``: three variants, a few steps, 48-px crops.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from companion.engine.settings import TrainConfig
from companion.errors import CompanionError

# This module's profiles are registered by companion/ch2/config.py (NOTEBOOKS), which imports it: so it imports
# nothing of companion.ch2 at module level (no import cycle) and no PyTorch. The three constants below repeat
# companion.ch2.config.HELD_OUT, companion.ch2.training.FIT_IMAGES and QUICK_RECIPE; a test checks they agree.
#: The held-out test photographs (companion.ch2.config.HELD_OUT).
HELD_OUT = ("china", "flower", "rocket")
#: The training photographs (companion.ch2.training.FIT_IMAGES: 02b's eight less the validation image, coffee).
FIT_IMAGES = ("astronaut", "chelsea", "hubble_deep_field", "ihc", "motorcycle_left", "motorcycle_right", "retina")
#: companion.ch2.training.QUICK_RECIPE.
QUICK_RECIPE = TrainConfig(steps=2000, batch_size=8, lr=1e-3, milestones=(1200, 1600), gamma=0.5,
                           betas=(0.9, 0.999), grad_clip=10.0, val_every=250, checkpoint_every=100)

#: §2.4.5's numbers, from its text (the figure's points are not in the extraction): PSNR / SSIM change of
#: CARN-M (G4R) and of G64R against CARN on Set14 x4, and CARN-M's "four times" fewer parameters and "nearly
#: three times" fewer operations. Reading: the -0.32 dB of G64R is against CARN, like CARN-M's -0.20 dB.
THESIS_TEXT = {"G4R psnr": -0.20, "G4R ssim": -0.0053, "G64R psnr": -0.32, "G4R params ratio": 4.0,
               "G4R mult-adds ratio": 3.0}
#: The whole family of Fig. 2.8 at paper size (C = 64): CARN, then G ∈ {1, …, 64} without and with recursion.
PAPER_FAMILY = ("CARN",) + tuple(f"G{g}{r}" for g in (1, 2, 4, 8, 16, 32, 64) for r in ("", "R"))
#: The quick sweep's recipe, fixed before the first run: :data:`companion.ch2.training.QUICK_RECIPE` (L1, Adam,
#: batch 8 of 24-px LR patches, LR 1e-3 halved at 60 % and 80 %, gradient norm clipped to 10) shortened to 600
#: steps, so that five models fit a shared two-core machine in about half an hour.
QUICK_SWEEP_RECIPE = replace(QUICK_RECIPE, steps=600, milestones=(360, 480), val_every=200, checkpoint_every=100)
#: The authors' CARN training (nmhkahn/CARN-pytorch: the README's command for ``carn/train.py``, single-scale
#: here): batch 64 of 64-px LR patches, L1, Adam LR 1e-4 halved every 400K steps, 600K steps, gradient norm
#: clipped to 10.
PAPER_RECIPE = TrainConfig(steps=600_000, batch_size=64, lr=1e-4, milestones=(400_000,), gamma=0.5,
                           betas=(0.9, 0.999), grad_clip=10.0, val_every=10_000, checkpoint_every=5_000)


@dataclass(frozen=True)
class EfficiencyConfig:
    """02d: Fig. 2.8's costs (exact, paper size), CPU latency, and PSNR of the variants trained at this scale."""

    # costs and latency, paper-size networks
    cost_variants: tuple[str, ...]      # PAPER_FAMILY names costed and timed
    cost_output: tuple[int, int]        # HR output (height, width) of the Mult-Adds (the thesis: 720p)
    latency_variants: tuple[str, ...]   # PAPER_FAMILY names timed
    latency_lr: tuple[int, int]         # LR input (height, width) of the timing
    latency_repeats: int                # timed passes (median), after one warm-up
    latency_threads: int                # PyTorch / ONNX Runtime threads
    latency_backends: tuple[str, ...]   # "eager" and/or "auto" (companion.engine.fast_inference.accelerate)
    # trained sweep
    variants: tuple[str, ...]           # trained and scored ("CARN", "G4R", ...)
    size: str                           # model size trained ("quick": C = 32; "paper": C = 64)
    scale: int
    patch: int                          # LR patch side
    train: TrainConfig
    loss: str
    seeds: int                          # seeds per variant (SEED, SEED + 1, ...)
    source: str                         # "bundled" (embedded photographs) or "data" (DIV2K train)
    train_images: tuple[str, ...]       # embedded photographs trained on ("bundled")
    eval_set: str                       # "embedded" or a companion.data.sr.BENCHMARKS name
    eval_images: tuple[str, ...]        # the held-out embedded photographs ("embedded")
    eval_crop: int                      # centre crop of each HR test image (0 = whole)
    use_zoo: bool                       # load current ch2/02d zoo entries instead of training
    train_workers: int                  # runs side by side on a CPU, one thread each

    def required_folders(self) -> tuple[str, ...]:
        """Folders that must exist under the data root before the notebook starts (checked by the runner)."""
        if self.source != "data":
            return ()
        return ("DIV2K",) + (() if self.eval_set == "embedded" else (f"benchmark/{self.eval_set}",))


PROFILES = {
    "smoke": EfficiencyConfig(cost_variants=("CARN", "G4", "G4R", "G64R"), cost_output=(720, 1280),
                              latency_variants=("CARN", "G4R"), latency_lr=(16, 16), latency_repeats=1,
                              latency_threads=1, latency_backends=("eager",),
                              variants=("CARN", "G4R", "G8R"), size="quick", scale=4, patch=8,
                              train=replace(QUICK_SWEEP_RECIPE, steps=2, milestones=(), val_every=1,
                                            checkpoint_every=0),
                              loss="l1", seeds=1, source="bundled", train_images=("astronaut",),
                              eval_set="embedded", eval_images=("rocket",),
                              eval_crop=48, use_zoo=False, train_workers=1),
    "quick": EfficiencyConfig(cost_variants=PAPER_FAMILY, cost_output=(720, 1280),
                              latency_variants=("CARN", "G1R", "G4", "G4R", "G16R", "G64R"), latency_lr=(48, 80),
                              latency_repeats=3, latency_threads=1, latency_backends=("eager", "auto"),
                              variants=("CARN", "G4R", "G32R", "G4", "G8R"), size="quick", scale=4, patch=24,
                              train=QUICK_SWEEP_RECIPE, loss="l1", seeds=1, source="bundled", train_images=FIT_IMAGES,
                              eval_set="embedded", eval_images=HELD_OUT, eval_crop=0, use_zoo=True, train_workers=2),
    "full": EfficiencyConfig(cost_variants=PAPER_FAMILY, cost_output=(720, 1280), latency_variants=PAPER_FAMILY,
                             latency_lr=(180, 320),
                             latency_repeats=5, latency_threads=0, latency_backends=("eager", "auto"),
                             variants=PAPER_FAMILY, size="paper", scale=4, patch=64, train=PAPER_RECIPE, loss="l1",
                             seeds=1, source="data", train_images=(), eval_set="Set14", eval_images=(), eval_crop=0,
                             use_zoo=False,
                             train_workers=1),
}

#: notebook stem -> {profile: config}; companion.ch2.config registers it (see companion.profiles).
NOTEBOOKS: dict[str, dict[str, object]] = {"02d_efficiency": PROFILES}

_VARIANT = re.compile(r"G(\d+)(R?)")


def parse_variant(name: str) -> tuple[str, tuple[tuple[str, object], ...]]:
    """``"CARN"`` -> ``("carn", ())``; ``"G8R"`` -> ``("carn_m", (("groups", 8), ("recursive", True)))``: the
    model and constructor overrides of Fig. 2.8's label (:func:`companion.models.carn_m.efficient_variant`)."""
    if name == "CARN":
        return "carn", ()
    match = _VARIANT.fullmatch(name)
    if not match or int(match.group(1)) < 1:
        raise CompanionError(f"unknown Fig. 2.8 variant {name!r}; use CARN or G<groups>[R], e.g. G4R")
    return "carn_m", (("groups", int(match.group(1))), ("recursive", bool(match.group(2))))


def variant_spec(name: str, cfg: EfficiencyConfig):
    """The :class:`companion.ch2.training.SRTraining` of variant ``name`` under ``cfg``."""
    from companion.ch2.training import SRTraining

    model, overrides = parse_variant(name)
    return SRTraining(model, size=cfg.size, scale=cfg.scale, patch=cfg.patch, train=cfg.train, loss=cfg.loss,
                      source=cfg.source, train_images=cfg.train_images, overrides=overrides)


def sweep_specs(cfg: EfficiencyConfig, seed0: int = 0) -> list[tuple]:
    """``[(slug, spec, label, seed)]`` of every (variant, seed) the profile trains (the zoo's ``ch2/02d``)."""
    return [(name.lower(), variant_spec(name, cfg), f"Fig. 2.8 {name} ({cfg.size} size, x{cfg.scale})", seed0 + i)
            for name in cfg.variants for i in range(cfg.seeds)]


# --------------------------------------------------------------------------------------------------------
# Costs (exact) and latency (measured).


def paper_network(name: str, scale: int = 4):
    """Variant ``name`` at paper size (C = 64, the multi-scale ×2/×3/×4 network Table 2.4 counts)."""
    from companion.models import build_model

    model, overrides = parse_variant(name)
    return build_model(model, "paper", **dict(overrides))


def cost_row(model, name: str, scale: int, output) -> dict:
    """``name``'s exact costs: parameters with and without biases, Mult-Adds at ``output`` (×``scale``)."""
    from companion.analysis import costs

    model_name, overrides = parse_variant(name)
    groups = dict(overrides).get("groups")
    return dict(variant=name, groups=groups, recursive=bool(dict(overrides).get("recursive", False)),
                params=costs.parameter_count(model), params_weights_only=costs.parameter_count(model, biases=False),
                mult_adds=costs.mult_adds(model, scale, tuple(output)),
                eq_2_10=None if groups is None else float(costs.eq_2_10_ratio(groups)))


def cost_table(cfg: EfficiencyConfig) -> list[dict]:
    """Exact costs of ``cfg.cost_variants`` at paper size and ×``cfg.scale`` (:func:`cost_row`), each with its
    parameter and Mult-Adds ratios to CARN (``params_vs_carn`` = CARN's / its, so G4R's is the thesis' "four
    times"). The same numbers at every profile."""
    names = dict.fromkeys(("CARN",) + tuple(cfg.cost_variants))
    rows = [cost_row(paper_network(n), n, cfg.scale, cfg.cost_output) for n in names]
    carn = rows[0]
    for r in rows:
        r["params_vs_carn"] = carn["params"] / r["params"]
        r["mult_adds_vs_carn"] = carn["mult_adds"] / r["mult_adds"]
    return [r for r in rows if r["variant"] in cfg.cost_variants]


def cost_line(r: dict) -> str:
    """One printable line of :func:`cost_table`."""
    from companion.analysis.costs import mult_adds_printed_as

    text = f"{r['variant']:>5s}: {r['params']:>9,} params, {mult_adds_printed_as(r['mult_adds']):5.1f} G Mult-Adds"
    if r["variant"] != "CARN":
        text += f"; CARN has {r['params_vs_carn']:.2f}x the parameters and {r['mult_adds_vs_carn']:.2f}x the Mult-Adds"
    if r["eq_2_10"] is not None:
        text += f"; Eq. 2.10 block ratio {r['eq_2_10']:.3f}"
    return text


def time_forward(fn, x, repeats: int) -> float:
    """Median seconds of ``repeats`` calls ``fn(x)`` after one warm-up call (``torch.inference_mode``)."""
    import time

    import numpy as np
    import torch

    with torch.inference_mode():
        fn(x)
        times = []
        for _ in range(max(1, repeats)):
            start = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - start)
    return float(np.median(times))


#: Fig. 2.12's rows that the latency table times (variant -> the figure's label).
FIG_2_12_ROWS = {"CARN": "CARN", "G4R": "CARN-M"}


def latency_table(cfg: EfficiencyConfig, *, progress: bool = True) -> list[dict]:
    """CPU seconds of one ×``cfg.scale`` forward pass of each paper-size variant of ``cfg.latency_variants`` on a
    ``1×3×latency_lr`` input, per backend of ``cfg.latency_backends`` (``"eager"``: the model in eval mode;
    ``"auto"``: :func:`companion.engine.fast_inference.accelerate`, whose ``backend`` is kept), on
    ``cfg.latency_threads`` threads (0: PyTorch's default). Random weights: the speed does not depend on them."""
    import torch
    from tqdm.auto import tqdm

    from companion.engine.fast_inference import accelerate

    bad = set(cfg.latency_backends) - {"eager", "auto"}
    if bad:
        raise CompanionError(f"unknown latency backends {sorted(bad)}; use 'eager' and/or 'auto'")
    saved = torch.get_num_threads()
    if cfg.latency_threads:
        torch.set_num_threads(cfg.latency_threads)
    x = torch.rand(1, 3, *cfg.latency_lr, generator=torch.Generator().manual_seed(0))
    rows = []
    try:
        for name in tqdm(cfg.latency_variants, desc="CPU latency", disable=not progress):
            torch.manual_seed(0)
            model = paper_network(name).eval()
            row = dict(variant=name, threads=torch.get_num_threads(), lr=list(cfg.latency_lr))
            if "eager" in cfg.latency_backends:
                row["eager"] = time_forward(model.at_scale(cfg.scale), x, cfg.latency_repeats)
            if "auto" in cfg.latency_backends:
                fast = accelerate(model, scale=cfg.scale, threads=cfg.latency_threads or None, report=None)
                row["auto"] = time_forward(fast, x, cfg.latency_repeats)
                row["auto_backend"] = fast.backend
            rows.append(row)
    finally:
        torch.set_num_threads(saved)
    return rows


# --------------------------------------------------------------------------------------------------------
# The trained sweep.


def eval_pairs(cfg: EfficiencyConfig, data_root=None) -> list:
    """``[(name, LR, HR)]`` of the sweep's test images: the held-out embedded photographs ``cfg.eval_images``
    (whole, or centre crops of ``cfg.eval_crop`` px) or a benchmark set (Set14 in the full profile)."""
    from companion.ch2.evaluation import sr_pairs
    from companion.data.images import centre_crop_at_most
    from companion.data.images import embedded_image
    from companion.data.sr import lr_hr_pair

    if cfg.eval_set != "embedded":
        return sr_pairs(cfg.eval_set, cfg.scale, crop=cfg.eval_crop, root=data_root)
    seen = {n for n in cfg.eval_images if n not in HELD_OUT}
    if seen:
        raise CompanionError(f"{sorted(seen)} are not held-out photographs; test only on {', '.join(HELD_OUT)}")
    return [(n, *lr_hr_pair(centre_crop_at_most(embedded_image(n), cfg.eval_crop) if cfg.eval_crop else embedded_image(n),
                            cfg.scale)) for n in cfg.eval_images]


def train_and_score(cfg: EfficiencyConfig, name: str, seed: int, *, device="cpu", threads: int | None = None,
                    checkpoint_dir=None, data_root=None) -> dict:
    """One (variant, seed): the current zoo entry when ``cfg.use_zoo`` and there is one, else trained
    (:func:`companion.ch2.training.train_network`, resumable under ``checkpoint_dir``); scored with bicubic on
    :func:`eval_pairs` (:func:`companion.ch2.evaluation.evaluate_sr`). Plain numbers back (it runs in workers)."""
    import torch

    from companion.analysis import costs
    from companion.ch2.evaluation import evaluate_sr
    from companion.ch2.training import train_network
    from companion.zoo import load_entry

    if threads:
        torch.set_num_threads(int(threads))
    spec = variant_spec(name, cfg)
    entry = None
    if cfg.use_zoo:
        from companion.ch2.zoo import find
        from companion.zoo import status

        entry = find(spec, seed)
        entry = entry if entry is not None and status(entry) == "current" else None
    if entry is not None:
        model, meta = load_entry(entry)
        source, steps, seconds = f"zoo:{entry.name}", int(meta["steps"]), float(meta["seconds"])
    else:
        model, result = train_network(spec, seed, device=device, checkpoint_dir=checkpoint_dir, progress=False,
                                      data_root=data_root)
        source, steps, seconds = "trained", result.steps_done, round(result.seconds, 1)
    scores = evaluate_sr(model, eval_pairs(cfg, data_root), cfg.scale, device=device)
    model = model.cpu()
    return dict(variant=name, seed=int(seed), source=source, steps=steps, seconds=seconds,
                params=costs.parameter_count(model), mult_adds=costs.mult_adds(model, cfg.scale, (720, 1280)),
                psnr=scores["psnr"], ssim=scores["ssim"], bicubic_psnr=scores["bicubic_psnr"],
                bicubic_ssim=scores["bicubic_ssim"], gain=scores["gain"], per_image=scores["per_image"],
                protocol=scores["protocol"])


def run_sweep(cfg: EfficiencyConfig, *, seed0: int = 0, device="cpu", progress: bool = True, checkpoint_dir=None,
              data_root=None) -> dict[str, list[dict]]:
    """Every variant of ``cfg.variants`` × ``cfg.seeds`` seeds through :func:`train_and_score`; on a CPU with
    ``cfg.train_workers`` > 1, runs that must train go side by side in worker processes of one thread each.
    Returns ``{variant: [per-seed dicts, by seed]}``."""
    from functools import partial

    import torch

    from companion.processes import run_per_seed

    jobs = [(name, seed0 + i) for name in cfg.variants for i in range(cfg.seeds)]
    workers = cfg.train_workers if torch.device(device).type == "cpu" else 1
    job = partial(train_and_score, cfg, device=str(device), checkpoint_dir=checkpoint_dir, data_root=data_root)
    return run_per_seed(job, jobs, workers=workers, desc="Fig. 2.8: train/load + score", progress=progress)


def summarise(results: dict[str, list[dict]]) -> dict[str, dict]:
    """Per variant: (mean, std) over seeds of ``psnr``, ``ssim`` and ``gain``; ``params`` and ``mult_adds`` of
    the trained size, ``seeds``, ``steps``, ``seconds`` (mean), ``sources``, the bicubic PSNR and ``protocol``."""
    import numpy as np

    from companion.summary import mean_std

    out = {}
    for name, runs in results.items():
        out[name] = dict({m: mean_std([r[m] for r in runs]) for m in ("psnr", "ssim", "gain")},
                         params=runs[0]["params"], mult_adds=runs[0]["mult_adds"], seeds=len(runs),
                         steps=int(np.mean([r["steps"] for r in runs])),
                         seconds=float(np.mean([r["seconds"] for r in runs])),
                         sources=sorted({r["source"].split(":")[0] for r in runs}),
                         bicubic_psnr=runs[0]["bicubic_psnr"], psnr_by_seed=[r["psnr"] for r in runs],
                         protocol=runs[0]["protocol"])
    return out


def depthwise_variant(cfg: EfficiencyConfig) -> str | None:
    """The variant of ``cfg.variants`` with one channel per group and recursion (G64R at C = 64, G32R at
    C = 32), the thesis' "depthwise" model, or None."""
    from companion.models import model_config

    channels = model_config("carn_m", cfg.size)["channels"]
    name = f"G{channels}R"
    return name if name in cfg.variants else None


def claims(summary: dict[str, dict], cfg: EfficiencyConfig) -> list[dict]:
    """§2.4.5's PSNR statements, measured: each variant's difference to CARN (mean over seeds, with the combined
    seed spread), beside the thesis' number where the text gives one (G4R: −0.20 dB; the depthwise model:
    −0.32 dB). ``verdict``: "worse than CARN" / "better than CARN" when the difference exceeds the spread,
    else "within the spread"; with one seed there is no spread, and it says "lower (one seed)" / "higher (one
    seed)": a direction, not a result."""
    from companion.summary import verdict

    if "CARN" not in summary:
        return []
    depthwise = depthwise_variant(cfg)
    out = []
    for name, row in summary.items():
        if name == "CARN":
            continue
        v, diff, spread = verdict(summary["CARN"]["psnr"], row["psnr"])
        thesis = THESIS_TEXT["G4R psnr"] if name == "G4R" else THESIS_TEXT["G64R psnr"] if name == depthwise else None
        if min(row["seeds"], summary["CARN"]["seeds"]) < 2:
            v = "lower than CARN (one seed)" if diff > 0 else "not lower than CARN (one seed)"
        else:
            v = {"agrees": "worse than CARN", "disagrees": "better than CARN"}.get(v, "within the seed spread")
        out.append(dict(variant=name, diff=-diff, spread=spread, seeds=row["seeds"], thesis=thesis, verdict=v))
    return out


def protocol_text(cfg: EfficiencyConfig, row: dict | None = None) -> str:
    """The protocol of the sweep's PSNRs at this profile."""
    from companion.metrics import protocol_text as metric_protocol

    where = (f"held-out embedded photographs {', '.join(cfg.eval_images)}" if cfg.eval_set == "embedded"
             else cfg.eval_set) + (f" ({cfg.eval_crop}-px centre crops)" if cfg.eval_crop else " (whole)")
    t = cfg.train
    protocol = f", {metric_protocol(row['protocol'])}" if row else ""
    return (f"{where} x{cfg.scale}{protocol}; {cfg.size}-size single-scale x{cfg.scale} models, PyTorch default init, "
            f"{cfg.loss.upper()} loss, {t.steps} steps for every model, batch {t.batch_size} of {cfg.patch}-px LR "
            f"patches, Adam LR {t.lr:g}" + (f" halved at {', '.join(map(str, t.milestones))}" if t.milestones else "")
            + (f", gradient norm clipped to {t.grad_clip:g}" if t.grad_clip else "")
            + f"; {cfg.seeds} seed{'s' if cfg.seeds > 1 else ''}")


def record_figure_2_8(run, cost_rows: list[dict], latency_rows: list[dict], summary: dict[str, dict],
                      cfg: EfficiencyConfig) -> list[str]:
    """Record Fig. 2.8's numbers beside the figure: the exact paper-size costs of every variant (with the
    thesis' "four times" / "nearly three times" for G4R), the CPU latencies, and the PSNR (mean ± std over seeds)
    and difference to CARN of each trained variant (the thesis' −0.20 / −0.32 dB in the note). Returns
    printable lines on the trained variants."""
    from companion.analysis.costs import mult_adds_printed_as
    from companion.summary import pm

    lines = []
    cost_protocol = (f"paper-size networks (C = 64, multi-scale x2/x3/x4 as Table 2.4 counts them), x{cfg.scale} "
                     f"path, {cfg.cost_output[1]}x{cfg.cost_output[0]} output; exact counts")
    for r in cost_rows:
        note = (f"{r['params_weights_only']:,} without biases; CARN has {r['params_vs_carn']:.2f}x the parameters "
                f"and {r['mult_adds_vs_carn']:.2f}x the Mult-Adds")
        if r["variant"] == "G4R":
            note += (f"; thesis (text): about {THESIS_TEXT['G4R params ratio']:g}x fewer parameters and nearly "
                     f"{THESIS_TEXT['G4R mult-adds ratio']:g}x fewer operations than CARN")
        run.record(f"fig2_8/{r['variant']}/params", r["params"], entry="Figure 2.8", row=r["variant"],
                   column="Params", status="exact", protocol=cost_protocol, note=note)
        run.record(f"fig2_8/{r['variant']}/mult_adds_g", mult_adds_printed_as(r["mult_adds"]), entry="Figure 2.8",
                   row=r["variant"], column="Mult-Adds (G)", status="exact", protocol=cost_protocol,
                   note=f"{r['mult_adds']:,} MACs")
    for r in latency_rows:
        for backend in ("eager", "auto"):
            if backend in r:
                what = "PyTorch eager" if backend == "eager" else f"fastest exact backend ({r['auto_backend']})"
                run.record(f"fig2_8/{r['variant']}/cpu_ms_{backend}", round(1000 * r[backend], 1),
                           entry="Figure 2.8", row=r["variant"], column=f"CPU ms ({backend})",
                           protocol=f"paper-size network, x{cfg.scale}, one {r['lr'][1]}x{r['lr'][0]} LR input, "
                                    f"{r['threads']} thread(s), median of {cfg.latency_repeats} after a warm-up",
                           note=f"{what}; not in the thesis' Fig. 2.8 (it plots costs, not time); measured on "
                                "this machine, which other work may share")
        if r["variant"] in FIG_2_12_ROWS:  # Fig. 2.12's CPU half has CARN and CARN-M (= G4R) among its methods
            for backend in ("eager", "auto"):
                if backend in r:
                    run.record(f"fig2_12/{r['variant']}/cpu_s_{backend}", round(r[backend], 4), entry="Figure 2.12",
                               row=FIG_2_12_ROWS[r["variant"]], column=f"CPU seconds ({backend})",
                               protocol=f"paper-size network, random weights, x{cfg.scale}, one {r['lr'][1]}x"
                                        f"{r['lr'][0]} LR input, {r['threads']} thread(s), median of "
                                        f"{cfg.latency_repeats}",
                               note="the CPU half of Fig. 2.12 only, without its LPIPS/NIMA axis (no perceptual "
                                    "scores here) and on a smaller input than the figure's; benchmarks/carn_speed.py "
                                    "times the authors' weights at 1280x720 (README, Performance)")
    protocol = protocol_text(cfg, next(iter(summary.values()), None))
    for c in claims(summary, cfg):
        note = f"difference to CARN {c['diff']:+.3f} dB (seed spread {c['spread']:.3f} dB, {c['seeds']} seed(s))"
        if c["thesis"] is not None:
            note += f"; thesis (text, Set14 x4, paper size): {c['thesis']:+.2f} dB"
        run.record(f"fig2_8/{c['variant']}/psnr_vs_carn", round(c["diff"], 3), entry="Figure 2.8", row=c["variant"],
                   column="PSNR difference to CARN (dB)", protocol=protocol, note=note)
    for name, row in summary.items():
        run.record(f"fig2_8/{name}/psnr", pm(row["psnr"]), entry="Figure 2.8", row=name, column="PSNR",
                   protocol=protocol, note=f"gain over bicubic {pm(row['gain'])} dB (bicubic {row['bicubic_psnr']:.2f} "
                                           f"dB); {row['params']:,} parameters at this size; {row['steps']} steps; "
                                           f"from {', '.join(row['sources'])}")
        lines.append(f"{name:>5s} ({cfg.size}): PSNR {pm(row['psnr'])} dB, gain over bicubic {pm(row['gain'])} dB, "
                     f"{row['params']:,} params, {row['steps']} steps ({', '.join(row['sources'])})")
    return lines


__all__ = ["THESIS_TEXT", "PAPER_FAMILY", "QUICK_SWEEP_RECIPE", "PAPER_RECIPE", "EfficiencyConfig", "PROFILES",
           "NOTEBOOKS", "parse_variant", "variant_spec", "sweep_specs", "paper_network", "cost_row", "cost_table",
           "cost_line",
           "time_forward", "latency_table", "eval_pairs", "train_and_score", "run_sweep", "summarise",
           "depthwise_variant", "claims", "protocol_text", "record_figure_2_8", "FIG_2_12_ROWS"]
