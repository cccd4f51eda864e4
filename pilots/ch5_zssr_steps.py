"""Pilot: the quick profile's ZSSR recipe (notebook ``05_simusr``; :data:`companion.ch5.config.QUICK_ZSSR`).

The question, fixed before the pilot ran: the quick notebook trains ZSSR online on every test image (28 runs on
two cores), so its recipe must fit the notebook's five minutes. How much validation PSNR does each cut cost:
fewer steps, no affine augmentation mode, one father a step instead of two?

Method, on the **validation photograph only** (``coffee``, whole, ×4; never a test photograph): each variant of
:data:`VARIANTS` is the quick recipe with its overrides (milestones at 60 % and 80 % of the steps, as the quick
recipe has them), trained once with seed 0 (:func:`companion.ch5.zssr.run_zssr`, one thread) and scored under the
SR protocol (Y channel, :func:`companion.ch5.runs.score`) beside MATLAB bicubic. One seed: this ranks recipes for
a cost choice, it does not claim one beats another.

Writes ``pilots/results/ch5_zssr_steps.json`` atomically after every variant; a rerun reuses what it holds.
``--smoke`` runs two 4-step variants into ``runs/smoke/pilots/`` in seconds.

    python pilots/ch5_zssr_steps.py
    python pilots/ch5_zssr_steps.py --smoke
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from anywhere in the checkout

from companion.atomic import atomic_write_text  # noqa: E402
from companion.ch5.config import QUICK, QUICK_ZSSR  # noqa: E402
from companion.ch5.runs import score  # noqa: E402
from companion.ch5.zssr import run_zssr  # noqa: E402
from companion.data.images import embedded_image  # noqa: E402
from companion.data.sr import bicubic_upscale, lr_hr_pair  # noqa: E402
from companion.session import git_commit  # noqa: E402

#: name -> overrides of the quick recipe (steps, batch, affine).
VARIANTS = {
    "250 steps": dict(steps=250),
    "350 steps": dict(steps=350),
    "400 steps": dict(steps=400),
    "500 steps": dict(steps=500),
    "500 steps, no affine mode": dict(steps=500, affine=False),
    "350 steps, one father a step": dict(steps=350, batch=1),
}
SMOKE_VARIANTS = {"4 steps": dict(steps=4), "4 steps, no affine mode": dict(steps=4, affine=False)}


def recipe_of(overrides: dict):
    steps = overrides["steps"]
    return replace(QUICK_ZSSR, milestones=(int(steps * 0.6), int(steps * 0.8)), **overrides)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="two 4-step variants, into runs/smoke/pilots/")
    parser.add_argument("--out", type=Path, help="the results file (default: pilots/results/, or runs/smoke/pilots/ "
                        "with --smoke)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = (REPO_ROOT / "runs" / "smoke" / "pilots" if args.smoke else REPO_ROOT / "pilots" / "results") \
        / "ch5_zssr_steps.json"
    out = args.out or out
    variants = SMOKE_VARIANTS if args.smoke else VARIANTS
    scale = QUICK.scale
    lr, hr = lr_hr_pair(embedded_image(QUICK.split.validation[0]), scale)  # the whole photograph
    held = json.loads(out.read_text()) if out.exists() else {}
    results = {"question": "validation PSNR of the quick ZSSR recipe's cost cuts (05_simusr)",
               "image": f"{QUICK.split.validation[0]} (whole, x{scale}, Y PSNR), seed 0, one thread",
               "commit": git_commit(), "bicubic_psnr": round(score(bicubic_upscale(lr, scale), hr, scale)["psnr"], 3),
               "variants": {k: v for k, v in held.get("variants", {}).items() if k in variants}}
    for name, overrides in tqdm(variants.items(), desc="ZSSR variants"):
        if name in results["variants"]:
            continue
        recipe = recipe_of(overrides)
        run = run_zssr(lr, recipe, scale=scale, seed=0)
        results["variants"][name] = {"recipe": asdict(recipe), "psnr": round(score(run["sr"], hr, scale)["psnr"], 3),
                                     "train_seconds": round(run["train_seconds"], 1)}
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, json.dumps(results, indent=1) + "\n")
    for name, row in results["variants"].items():
        print(f"{name:32s} {row['psnr']:.2f} dB  ({row['train_seconds']:.0f} s)   bicubic {results['bicubic_psnr']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
