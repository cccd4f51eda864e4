"""Pilot: each Chapter 7 quick model's learning rate, chosen on validation (behind ``model_lr`` in
:mod:`companion.ch7.config`; notebook ``07b_mepsnet_training``).

The rule, fixed before the pilot ran: for each of the five models of Table 7.1, train 3,000-step runs of seed 0
on the quick profile's SHDD (the 07b recipe with the learning rate halved at 1,500 and 2,250 steps) at 2e-3,
1e-3 and 5e-4; score = the mean validation PSNR of the last 4 checkpoints (every 500 steps; the first 4
versions of the validation photograph, never a test image); keep the shared 2e-3 unless another rate scores
at least 0.3 dB higher (then the best-scoring such rate).

Writes ``pilots/results/ch7_model_lr.json`` (atomically, after every run): the settings that ran, every run's
validation curve and score, and each model's choice. Resumable: a run already in the results file with the
same settings is not trained again, and a killed run resumes from its work-folder checkpoint. About 40
CPU-minutes in full; ``--smoke`` runs two models for a few steps on the smoke data in seconds (written to
``runs/smoke/pilots/ch7_model_lr.json`` unless ``--out`` says otherwise).

    python pilots/ch7_model_lr.py            # the pilot
    python pilots/ch7_model_lr.py --smoke    # the code path, in seconds
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from anywhere in the checkout

from companion.atomic import atomic_write_text  # noqa: E402
from companion.ch7.config import TRAINING  # noqa: E402
from companion.ch7.training import shdd_root, train_variant  # noqa: E402
from companion.ch7.variants import Variant, baselines, variant_key  # noqa: E402
from companion.session import NotebookRun, default_figures_dir, git_commit  # noqa: E402
from companion.zoo import digest  # noqa: E402

RATES = (2e-3, 1e-3, 5e-4)
SHARED = 2e-3          # the quick profile's shared rate: kept unless another scores clearly higher
MARGIN = 0.3           # dB a rate must gain over the shared one to replace it
LAST_CHECKPOINTS = 4   # the score: mean validation PSNR of the last this-many checkpoints
SEED = 0
OUT = REPO_ROOT / "pilots" / "results" / "ch7_model_lr.json"
SMOKE_OUT = REPO_ROOT / "runs" / "smoke" / "pilots" / "ch7_model_lr.json"


def pilot_spec(smoke: bool):
    """The experiment spec the pilot trains: 07b's quick spec at 3,000 steps, halved at 1,500 and 2,250,
    validated and saved every 500 steps (smoke: 07b's smoke spec, 4 steps, every step)."""
    if smoke:
        base = TRAINING["smoke"]
        return replace(base, models=("dncnn", "vdsr"),
                       train=replace(base.train, steps=4, milestones=(2, 3), val_every=1, checkpoint_every=1))
    base = TRAINING["quick"]
    return replace(base, model_lr=(), train=replace(base.train, steps=3_000, milestones=(1_500, 2_250),
                                                    val_every=500, checkpoint_every=500))


def score(val: list) -> float:
    """Mean validation PSNR of the last :data:`LAST_CHECKPOINTS` points of a run's validation curve."""
    return float(np.mean([psnr for _, psnr in val[-LAST_CHECKPOINTS:]]))


def choose(scores: dict[float, float]) -> float:
    """The rule: ``SHARED`` unless another rate scores at least ``MARGIN`` dB higher (then the best such)."""
    better = {rate: s for rate, s in scores.items() if rate != SHARED and s >= scores[SHARED] + MARGIN}
    return max(better, key=better.get) if better else SHARED


def run_key(variant: Variant, spec, rate: float) -> str:
    """The digest of everything that shapes one pilot run (its zoo-style key with this rate)."""
    return digest(variant_key(variant, replace(spec, model_lr=((variant.model, rate),)), SEED, SEED))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="two models, a few steps, smoke data: seconds")
    parser.add_argument("--out", type=Path, default=None, help="results file (default: pilots/results/...)")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch threads (default: 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = args.out or (SMOKE_OUT if args.smoke else OUT)
    spec = pilot_spec(args.smoke)
    profile = "smoke" if args.smoke else "quick"
    run = NotebookRun(notebook="07b_mepsnet_training", profile=profile, seed=SEED, device="cpu", config=spec,
                      figures_dir=default_figures_dir(profile), commit=git_commit())
    root = shdd_root(run, spec, progress=not args.smoke)
    done = json.loads(out.read_text()) if out.is_file() else {}
    runs = {r["key"]: r for r in done.get("runs", [])}
    todo = [(variant, rate) for variant in baselines(spec) for rate in RATES]
    bar = tqdm(total=len(todo), desc="lr pilot", unit="run")
    for variant, rate in todo:
        key = run_key(variant, spec, rate)
        bar.set_postfix_str(f"{variant.label} {rate:g}")
        if key not in runs:
            settings = replace(spec, model_lr=((variant.model, rate),))
            _, result = train_variant(run, variant, settings, SEED, root, progress=False, use_zoo=False)
            runs[key] = {"key": key, "model": variant.model, "label": variant.label, "lr": rate,
                         "steps": result.steps_done, "seconds": round(result.seconds, 1),
                         "val": [[int(s), round(float(v), 4)] for s, v in result.val], "score": round(score(result.val), 4)}
            write(out, spec, runs, profile, run.commit)
        bar.update()
    bar.close()
    document = write(out, spec, runs, profile, run.commit)
    for model, entry in document["choices"].items():
        print(f"{model:8s} " + " / ".join(f"{r}: {s:.2f}" for r, s in entry["scores"].items())
              + f" dB -> {entry['chosen']:g}")
    print(f"wrote {out}")
    return 0


def write(out: Path, spec, runs: dict, profile: str, commit: str) -> dict:
    """The results document (settings, runs, each model's choice by the rule), written atomically."""
    choices = {}
    for model in spec.models:
        scores = {r["lr"]: r["score"] for r in runs.values() if r["model"] == model}
        if set(scores) == set(RATES):
            choices[model] = {"scores": {f"{rate:g}": scores[rate] for rate in RATES}, "chosen": choose(scores)}
    document = {"pilot": "ch7_model_lr", "profile": profile, "commit": commit, "seed": SEED, "rates": list(RATES),
                "rule": {"shared": SHARED, "margin_db": MARGIN, "score": f"mean validation PSNR of the last "
                                                                        f"{LAST_CHECKPOINTS} checkpoints"},
                "settings": {"train": asdict(spec.train), "patch_size": spec.patch_size, "level": spec.train_level,
                             "permute_channels": spec.permute_channels, "size": spec.size},
                "runs": sorted(runs.values(), key=lambda r: (spec.models.index(r["model"]), -r["lr"])),
                "choices": choices}
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(document, indent=1) + "\n")
    return document


if __name__ == "__main__":
    raise SystemExit(main())
