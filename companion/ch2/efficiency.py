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

import time
from functools import partial

import numpy as np
import torch
from tqdm.auto import tqdm

from companion.analysis import costs
from companion.analysis.costs import mult_adds_printed_as
from companion.ch2.config import EfficiencyConfig, HELD_OUT, parse_variant, variant_spec
from companion.ch2.evaluation import evaluate_sr, sr_pairs
from companion.ch2.training import train_network
from companion.ch2.zoo import sweep_model
from companion.data.images import centre_crop_at_most, embedded_image
from companion.data.sr import lr_hr_pair
from companion.engine.fast_inference import accelerate
from companion.errors import CompanionError
from companion.metrics import protocol_text as metric_protocol
from companion.models import build_model, model_config
from companion.processes import run_per_seed
from companion.summary import check_claims, mean_std, pm
from companion.zoo import find, load_entry


#: §2.4.5's numbers, from its text (the figure's points are not in the extraction): PSNR / SSIM change of
#: CARN-M (G4R) and of G64R against CARN on Set14 x4, and CARN-M's "four times" fewer parameters and "nearly
#: three times" fewer operations. Reading: the -0.32 dB of G64R is against CARN, like CARN-M's -0.20 dB.
THESIS_TEXT = {"G4R psnr": -0.20, "G4R ssim": -0.0053, "G64R psnr": -0.32, "G4R params ratio": 4.0,
               "G4R mult-adds ratio": 3.0}


def thesis_text_line() -> str:
    """The thesis' §2.4.5 numbers (:data:`THESIS_TEXT`) in one printable line."""
    t = THESIS_TEXT
    return (f"thesis (§2.4.5 text, Set14 x4, paper size): CARN-M (G4R) has about {t['G4R params ratio']:g}x fewer "
            f"parameters and nearly {t['G4R mult-adds ratio']:g}x fewer operations than CARN, and loses "
            f"{-t['G4R psnr']:.2f} dB PSNR ({-t['G4R ssim']:.4f} SSIM); the depthwise G64R loses {-t['G64R psnr']:.2f} dB")


# --------------------------------------------------------------------------------------------------------
# Costs (exact) and latency (measured).


def paper_network(name: str, scale: int = 4):
    """Variant ``name`` at paper size (C = 64, the multi-scale ×2/×3/×4 network Table 2.4 counts)."""
    model, overrides = parse_variant(name)
    return build_model(model, "paper", **dict(overrides))


def cost_row(model, name: str, scale: int, output) -> dict:
    """``name``'s exact costs: parameters with and without biases, Mult-Adds at ``output`` (×``scale``)."""
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
    text = f"{r['variant']:>5s}: {r['params']:>9,} params, {mult_adds_printed_as(r['mult_adds']):5.1f} G Mult-Adds"
    if r["variant"] != "CARN":
        text += f"; CARN has {r['params_vs_carn']:.2f}x the parameters and {r['mult_adds_vs_carn']:.2f}x the Mult-Adds"
    if r["eq_2_10"] is not None:
        text += f"; Eq. 2.10 block ratio {r['eq_2_10']:.3f}"
    return text


def time_forward(fn, x, repeats: int) -> float:
    """Median seconds of ``repeats`` calls ``fn(x)`` after one warm-up call (``torch.inference_mode``)."""

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

    if threads:
        torch.set_num_threads(int(threads))
    spec = variant_spec(name, cfg)
    entry = None
    if cfg.use_zoo:
        entry = find(sweep_model(name, cfg), seed)
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
    jobs = [(name, seed0 + i) for name in cfg.variants for i in range(cfg.seeds)]
    workers = cfg.train_workers if torch.device(device).type == "cpu" else 1
    job = partial(train_and_score, cfg, device=str(device), checkpoint_dir=checkpoint_dir, data_root=data_root)
    return run_per_seed(job, jobs, workers=workers, desc="Fig. 2.8: train/load + score", progress=progress)


def summarise(results: dict[str, list[dict]]) -> dict[str, dict]:
    """Per variant: (mean, std) over seeds of ``psnr``, ``ssim`` and ``gain``; ``params`` and ``mult_adds`` of
    the trained size, ``seeds``, ``steps``, ``seconds`` (mean), ``sources``, the bicubic PSNR, ``images``,
    ``psnr_per_image`` (seeds × images, for :func:`claims`) and ``protocol``."""
    out = {}
    for name, runs in results.items():
        out[name] = dict({m: mean_std([r[m] for r in runs]) for m in ("psnr", "ssim", "gain")},
                         params=runs[0]["params"], mult_adds=runs[0]["mult_adds"], seeds=len(runs),
                         steps=int(np.mean([r["steps"] for r in runs])),
                         seconds=float(np.mean([r["seconds"] for r in runs])),
                         sources=sorted({r["source"].split(":")[0] for r in runs}),
                         bicubic_psnr=runs[0]["bicubic_psnr"], psnr_by_seed=[r["psnr"] for r in runs],
                         images=list(runs[0]["per_image"]),
                         psnr_per_image=[[r["per_image"][n]["psnr"] for n in runs[0]["per_image"]] for r in runs],
                         protocol=runs[0]["protocol"])
    return out


def depthwise_variant(cfg: EfficiencyConfig) -> str | None:
    """The variant of ``cfg.variants`` with one channel per group and recursion (G64R at C = 64, G32R at
    C = 32), the thesis' "depthwise" model, or None."""
    channels = model_config("carn_m", cfg.size)["channels"]
    name = f"G{channels}R"
    return name if name in cfg.variants else None


def claims(summary: dict[str, dict], cfg: EfficiencyConfig) -> list[dict]:
    """§2.4.5's PSNR statements, measured: "CARN beats <variant>" for each trained variant, judged on the paired
    differences of the per-seed, per-image PSNRs (``psnr_per_image``, seeds × held-out images;
    :func:`companion.summary.check_claims`), beside the thesis' number where the text gives one (G4R: −0.20 dB;
    the depthwise model: −0.32 dB). Each dict: ``variant``, ``diff`` (variant − CARN, dB), ``low`` / ``high``
    (the 95 % interval of CARN − variant), ``seeds``, ``images``, ``thesis``, ``verdict`` ("worse than CARN" when
    the interval is above zero, "better than CARN" when below, else "unclear") and ``detail``."""
    if "CARN" not in summary:
        return []
    depthwise = depthwise_variant(cfg)
    others = [name for name in summary if name != "CARN"]
    checked = check_claims([("Figure 2.8", f"CARN beats {name}", summary["CARN"]["psnr_per_image"],
                             summary[name]["psnr_per_image"]) for name in others])
    out = []
    for name, claim in zip(others, checked):
        thesis = THESIS_TEXT["G4R psnr"] if name == "G4R" else THESIS_TEXT["G64R psnr"] if name == depthwise else None
        verdict = {"agrees": "worse than CARN", "disagrees": "better than CARN"}.get(claim["verdict"], "unclear")
        out.append(dict(variant=name, diff=-claim["difference"], low=claim["low"], high=claim["high"],
                        seeds=summary[name]["seeds"], images=len(summary[name]["images"]), thesis=thesis,
                        verdict=verdict, detail=claim["detail"]))
    return out


def protocol_text(cfg: EfficiencyConfig, row: dict | None = None) -> str:
    """The protocol of the sweep's PSNRs at this profile."""
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
                backend_name = "PyTorch eager" if backend == "eager" else f"fastest exact backend ({r['auto_backend']})"
                run.record(f"fig2_8/{r['variant']}/cpu_ms_{backend}", round(1000 * r[backend], 1),
                           entry="Figure 2.8", row=r["variant"], column=f"CPU ms ({backend})",
                           protocol=f"paper-size network, x{cfg.scale}, one {r['lr'][1]}x{r['lr'][0]} LR input, "
                                    f"{r['threads']} thread(s), median of {cfg.latency_repeats} after a warm-up",
                           note=f"{backend_name}; not in the thesis' Fig. 2.8 (it plots costs, not time); measured on "
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
        note = f"CARN beats {c['variant']}: {c['verdict']} ({c['detail']}; paired over seeds and held-out images)"
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


__all__ = ["THESIS_TEXT", "thesis_text_line", "paper_network", "cost_row", "cost_table", "cost_line", "time_forward", "FIG_2_12_ROWS",
           "latency_table", "eval_pairs", "train_and_score", "run_sweep", "summarise", "depthwise_variant", "claims",
           "protocol_text", "record_figure_2_8"]
