"""Pilot: how much do Chapter 4's quick-profile results move from one training seed to the next, and what is the
smallest difference that 3 seeds × 3 test images can resolve? (notebooks ``04b``-``04d``; the quick recipe is
:data:`companion.ch4.config.QUICK_RECIPE`.)

The question, fixed before the pilot ran: the thesis' augmentation gains (Tables 4.2-4.3) are 0.01-0.3 dB. The
quick profile trains each model with 3 seeds and judges every claim on the paired per-seed, per-image PSNRs of
3 test photographs (:func:`companion.summary.paired_interval`). Is the quick recipe's seed spread small enough for
such differences to be called, and does its model learn at all (beat bicubic)?

Method, on the **validation photograph only** (``coffee``, its 256-px centre crop; never a test photograph):

* train the quick baseline EDSR of Table 4.2 (:meth:`companion.ch4.config.TablesSpec.table_4_2_runs`, no
  augmentation) with seeds 0, 1, … (:func:`companion.ch4.runs.trained_model`: the zoo's model when it holds that
  exact run, else trained single-threaded, resuming a work-folder checkpoint); stop starting new seeds once the
  next one would pass the budget of CPU time (``--max-minutes``, this process's CPU time, not the wall clock of a
  shared machine);
* score every model under the SR protocol (Y channel, border 4, 8-bit: :func:`companion.metrics.sr_scores`) on
  the crop and on its :data:`TILES` tiles, and MATLAB bicubic on the same;
* split the seeds × tiles PSNRs into a seed effect (the standard deviation of the seed means, ``seed_std``) and
  what is left once seed and tile means are removed (``cell_std``: how a seed's advantage changes from one part
  of the image to another; tiles stand in for the test images' spread);
* simulate the quick profile's comparison of two recipes (at d = 0: how often no difference is called one):
  paired differences over 3 seeds × 3 images, ``d + e_seed + e_cell`` with e_seed ~ N(0, √2·seed_std) per seed
  and e_cell ~ N(0, √2·cell_std) per cell (the two recipes' seeds taken as independent), judged by :func:`companion.summary.paired_interval`; the **smallest
  resolvable difference** is the smallest d of :data:`DIFFERENCES` called "agrees" in at least
  :data:`POWER` of :data:`SIMULATIONS` draws.

Writes ``pilots/results/ch4_seed_spread.json`` atomically after every seed (settings, per-seed scores, the
spreads, the power curve, the verdict); a rerun reuses the seeds it holds. ``--smoke`` runs the smoke recipe for 2
seeds into ``runs/smoke/pilots/`` in seconds.

    python pilots/ch4_seed_spread.py                   # 5 seeds, at most 8 minutes of training
    python pilots/ch4_seed_spread.py --smoke
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from anywhere in the checkout

from companion.atomic import atomic_write_text  # noqa: E402
from companion.ch4.config import TABLES_QUICK, TABLES_SMOKE, run_key  # noqa: E402
from companion.ch4.runs import VALIDATION_CROP, apply, lr_on_grid, trained_model  # noqa: E402
from companion.data.images import centre_crop_at_most, embedded_image  # noqa: E402
from companion.data.sr import bicubic_downscale, bicubic_upscale, modcrop  # noqa: E402
from companion.metrics import sr_psnr  # noqa: E402
from companion.session import git_commit  # noqa: E402
from companion.summary import paired_interval  # noqa: E402
from companion.zoo import digest  # noqa: E402

TILES = (2, 2)                 # rows × columns of the validation crop
DESIGN = (3, 3)                # the quick profile's seeds × test images
DIFFERENCES = (0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0)
SIMULATIONS = 300
RESAMPLES = 2_000
POWER = 0.8
PAPER_RANGE = (0.01, 0.3)      # dB: Tables 4.2-4.3's gains
OUT = REPO_ROOT / "pilots" / "results" / "ch4_seed_spread.json"
SMOKE_OUT = REPO_ROOT / "runs" / "smoke" / "pilots" / "ch4_seed_spread.json"


def baseline_run(smoke: bool):
    """The quick (smoke) profile's baseline EDSR of Table 4.2."""
    spec = TABLES_SMOKE if smoke else TABLES_QUICK
    [run] = [r for r in spec.table_4_2_runs() if r.augmentation == "none"]
    return run


def validation_image(run) -> np.ndarray:
    """The validation photograph's centre crop (the one quick-profile choices are judged on), a multiple of 4."""
    [name] = run.split.validation
    return modcrop(centre_crop_at_most(embedded_image(name), VALIDATION_CROP), run.recipe.scale)


def tiles(image: np.ndarray, grid=TILES) -> list[tuple[slice, slice]]:
    h, w = image.shape[:2]
    rows, cols = grid
    return [(slice(h * i // rows, h * (i + 1) // rows), slice(w * j // cols, w * (j + 1) // cols))
            for i in range(rows) for j in range(cols)]


def scores(output: np.ndarray, hr: np.ndarray, scale: int) -> dict:
    """Y-PSNR (SR protocol) of the whole crop and of each tile."""
    return {"psnr": sr_psnr(output, hr, scale), "tiles": [sr_psnr(output[r, c], hr[r, c], scale) for r, c in tiles(hr)]}


def spreads(grid: np.ndarray) -> dict:
    """Seed and cell standard deviations of a seeds × tiles PSNR grid (two-way decomposition without replication):
    ``seed_std`` the sample std of the seed means; ``cell_std`` the residual std after removing seed and tile means
    (df = (S-1)(T-1)); ``whole_std`` the sample std of the whole-crop PSNRs is reported beside them."""
    grid = np.asarray(grid, dtype=float)
    s, t = grid.shape
    seed_means = grid.mean(axis=1)
    residual = grid - seed_means[:, None] - grid.mean(axis=0)[None, :] + grid.mean()
    cell = float(np.sqrt((residual ** 2).sum() / ((s - 1) * (t - 1)))) if s > 1 and t > 1 else float("nan")
    return {"seed_std": float(np.std(seed_means, ddof=1)) if s > 1 else float("nan"), "cell_std": cell}


def power_curve(seed_std: float, cell_std: float, *, simulations: int = SIMULATIONS, resamples: int = RESAMPLES,
                design=DESIGN, differences=DIFFERENCES, seed: int = 0) -> dict[float, float]:
    """For each true difference d: the share of simulated 3 × 3 comparisons that
    :func:`companion.summary.paired_interval` calls "agrees" (see the module docstring)."""
    rng = np.random.default_rng(seed)
    seeds, images = design
    sd_seed, sd_cell = np.sqrt(2) * seed_std, np.sqrt(2) * cell_std
    out = {}
    for d in differences:
        agrees = 0
        for k in range(simulations):
            diff = d + rng.normal(0, sd_seed, (seeds, 1)) + rng.normal(0, sd_cell, (seeds, images))
            agrees += paired_interval(diff, np.zeros_like(diff), resamples=resamples, seed=k)["verdict"] == "agrees"
        out[float(d)] = agrees / simulations
    return out


def smallest_resolvable(curve: dict[float, float], power: float = POWER) -> float | None:
    """The smallest positive difference whose share of "agrees" reaches ``power`` (None when none does)."""
    hits = [d for d, p in sorted(curve.items()) if d > 0 and p >= power]
    return hits[0] if hits else None


def verdict(document: dict) -> str:
    """The pilot's answer in words, from its numbers."""
    s = document["summary"]
    smallest = s["smallest_resolvable_db"]
    learnt = s["gain_over_bicubic_db"][0]
    low, high = PAPER_RANGE
    reach = (f"3 seeds × 3 images resolve (power {POWER:.0%}) differences of {smallest:g} dB and more" if smallest
             else f"no difference up to {max(DIFFERENCES):g} dB is resolved with power {POWER:.0%}")
    covered = smallest is not None and smallest <= low
    null = s.get("false_agrees_rate")
    false = "" if null is None else (f" With no true difference, {null:.0%} of the simulated comparisons still read "
                                     "\"agrees\" (the 3-seed bootstrap's false-positive rate).")
    return (f"seed std {s['seed_std_db']:.3f} dB (whole crop {s['whole_std_db']:.3f} dB) over {s['seeds']} seeds; "
            f"cell std {s['cell_std_db']:.3f} dB; {reach}.{false} The model is {learnt:+.2f} dB over bicubic on validation "
            f"({'it learns' if learnt > 0 else 'it does not beat bicubic'}). Differences of the paper's size "
            f"({low:g}-{high:g} dB) {'can' if covered else 'are expected to read unclear: they cannot'} be resolved "
            f"at this scale{'' if covered else ' below ' + (f'{smallest:g} dB' if smallest else 'the largest tested')}.")


def write(out: Path, run, runs: dict, profile: str, commit: str, budget_minutes: float, requested: int,
          stopped: bool, simulations: int, resamples: int) -> dict:
    """The results document, written atomically."""
    done = [runs[k] for k in sorted(runs, key=lambda k: runs[k]["seed"])]
    for r in done:  # paths inside the checkout, relative to it
        path = Path(r["source"])
        r["source"] = path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else r["source"]
    document = {"pilot": "ch4_seed_spread", "profile": profile, "commit": commit,
                "question": "seed spread of the quick baseline EDSR (validation photograph only) and the smallest "
                            "difference 3 seeds x 3 images resolve",
                "settings": {"run": asdict(run), "key_without_seed": {k: v for k, v in run_key(run, 0).items()
                                                                      if k != "seed"},
                             "validation": f"{run.split.validation[0]} centre crop {VALIDATION_CROP} px, Y-PSNR, "
                                           f"border {run.recipe.scale}, 8-bit; tiles {TILES[0]}x{TILES[1]}",
                             "design": list(DESIGN), "simulations": simulations, "resamples": resamples,
                             "power": POWER, "threads": torch.get_num_threads()},
                "seeds_requested": requested, "time_budget_minutes": budget_minutes, "stopped_for_time": stopped,
                "runs": done}
    if len(done) >= 2:
        grid = np.array([r["tiles"] for r in done])
        spread = spreads(grid)
        whole = np.array([r["psnr"] for r in done])
        bicubic = done[0]["bicubic_psnr"]
        curve = power_curve(spread["seed_std"], spread["cell_std"], simulations=simulations, resamples=resamples)
        document["summary"] = {
            "seeds": len(done), "seed_std_db": round(spread["seed_std"], 4), "cell_std_db": round(spread["cell_std"], 4),
            "whole_std_db": round(float(np.std(whole, ddof=1)), 4), "mean_psnr_db": round(float(whole.mean()), 3),
            "bicubic_psnr_db": round(bicubic, 3),
            "gain_over_bicubic_db": [round(float((whole - bicubic).mean()), 3), round(float((whole - bicubic).std(ddof=1)), 3)],
            "power_curve": {f"{d:g}": round(p, 3) for d, p in curve.items()},
            "smallest_resolvable_db": smallest_resolvable(curve),
            "false_agrees_rate": curve.get(0.0),
            "seconds_per_run": round(float(np.mean([r["seconds"] for r in done])), 1),
            "cpu_seconds_per_run": round(float(np.mean([r["cpu_seconds"] for r in done])), 1)}
        document["verdict"] = verdict(document)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(document, indent=1) + "\n")
    return document


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="the smoke recipe, 2 seeds, few simulations: seconds")
    parser.add_argument("--seeds", type=int, default=None, help="seeds to train (default 5; smoke 2)")
    parser.add_argument("--max-minutes", type=float, default=8.0,
                        help="no new seed starts once its CPU time would pass this many minutes (default 8)")
    parser.add_argument("--out", type=Path, default=None, help="results file (default: pilots/results/...)")
    parser.add_argument("--work", type=Path, default=None, help="checkpoint folder (default: runs/<profile>/work/...)")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch threads (default: 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    profile = "smoke" if args.smoke else "quick"
    out = args.out or (SMOKE_OUT if args.smoke else OUT)
    work = args.work or REPO_ROOT / "runs" / profile / "work" / "checkpoints" / "ch4-pilot"
    requested = args.seeds or (2 if args.smoke else 5)
    simulations, resamples = (20, 200) if args.smoke else (SIMULATIONS, RESAMPLES)
    run = baseline_run(args.smoke)
    hr = validation_image(run)
    lq, _ = lr_on_grid(hr, run.recipe.scale)
    bicubic = sr_psnr(bicubic_upscale(bicubic_downscale(hr, run.recipe.scale), run.recipe.scale), hr, run.recipe.scale)
    done = json.loads(out.read_text()) if out.is_file() else {}
    runs = {r["key"]: r for r in done.get("runs", [])}
    commit, started, stopped = git_commit(), time.process_time(), False
    bar = tqdm(range(requested), desc="seed-spread pilot", unit="seed")
    for seed in bar:
        key = digest(run_key(run, seed))
        if key in runs:
            continue
        spent = (time.process_time() - started) / 60
        per_run = np.mean([r["cpu_seconds"] for r in runs.values()]) / 60 if runs else 0.0
        if spent + per_run > args.max_minutes:
            stopped = True
            bar.write(f"stopping before seed {seed}: {spent:.1f} CPU-min spent, a run takes about {per_run:.1f}")
            break
        before = time.process_time()
        model, record = trained_model(run, seed, use_zoo=True, work_dir=work, progress=False)
        measured = scores(apply(model, lq), hr, run.recipe.scale)
        runs[key] = {"key": key, "seed": seed, "source": record.source, "steps": record.steps,
                     "seconds": round(record.seconds, 1), "cpu_seconds": round(time.process_time() - before, 1),
                     "val_rgb_psnr": record.val_psnr,
                     "psnr": round(measured["psnr"], 4), "tiles": [round(v, 4) for v in measured["tiles"]],
                     "bicubic_psnr": round(bicubic, 4)}
        write(out, run, runs, profile, commit, args.max_minutes, requested, stopped, simulations, resamples)
    document = write(out, run, runs, profile, commit, args.max_minutes, requested, stopped, simulations, resamples)
    print(document.get("verdict", f"{len(runs)} seed(s): too few for a spread"))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
