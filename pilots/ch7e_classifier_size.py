"""Pilot: the size and crops of 07e's SHDD-type classifier (``classifier_width``, ``classifier_patch`` of
:data:`companion.ch7.config.RECOGNITION`; notebook ``07e_recognition_after_restoration``).

The question, fixed before this script ran: the routing experiment needs a classifier that labels a whole SHDD
image with one distortion type, trained as 06b's classifiers are (cross-entropy, the one loop). Which of widths
8 and 16, on 32- or 48-px training crops, labels the most whole validation images, and at what training cost?

Method, on **validation images only** (the validation photograph of 07e's SHDD copy, distorted whole by each
SHDD type, :data:`companion.ch7.routing.VAL_VERSIONS` copies each; never a test image): each variant is 07e's
quick :class:`companion.ch7.routing.ClassifierSpec` with its width and crop replaced, trained with seed 0 for the
quick recipe's steps (:func:`companion.ch7.routing.train_model`; the variant the zoo holds is loaded from it,
with the seconds its build took), scored by its accuracy on those images. One seed: a cost choice among
variants, not a claim that one beats another.

Writes ``pilots/results/ch7e_classifier_size.json`` atomically after every variant; a rerun reuses what it
holds. ``--smoke`` trains two variants for 4 steps into ``runs/smoke/pilots/`` in seconds.

    python pilots/ch7e_classifier_size.py
    python pilots/ch7e_classifier_size.py --smoke
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from anywhere in the checkout

from companion.atomic import atomic_write_text  # noqa: E402
from companion.ch7.config import RECOGNITION  # noqa: E402
from companion.ch7.routing import ClassifierSpec, train_model  # noqa: E402
from companion.ch7.training import shdd_root  # noqa: E402
from companion.session import NotebookRun, default_figures_dir, git_commit  # noqa: E402

#: (width, crop px) of each variant.
VARIANTS = ((8, 32), (8, 48), (16, 32), (16, 48))
SMOKE_VARIANTS = ((8, 32), (16, 32))
SEED = 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="two 4-step variants, into runs/smoke/pilots/")
    parser.add_argument("--out", type=Path, help="the results file (default: pilots/results/, or runs/smoke/pilots/ "
                        "with --smoke)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    profile = "smoke" if args.smoke else "quick"
    base = RECOGNITION[profile]
    if args.smoke:
        base = replace(base, classifier_train=replace(base.classifier_train, steps=4, milestones=(2, 3),
                                                      checkpoint_every=2))
    out = (REPO_ROOT / "runs" / "smoke" / "pilots" if args.smoke else REPO_ROOT / "pilots" / "results") \
        / "ch7e_classifier_size.json"
    out = args.out or out
    run = NotebookRun(notebook="07e_recognition_after_restoration", profile=profile, seed=SEED, device="cpu",
                      config=base, figures_dir=default_figures_dir(profile), commit=git_commit())
    root = shdd_root(run, base.routing_shdd)
    held = json.loads(out.read_text()) if out.exists() else {}
    results = {"question": "validation accuracy of 07e's SHDD-type classifier by width and training crop",
               "validation": "the validation photograph(s) of 07e's SHDD copy, distorted whole by each SHDD type",
               "recipe": {"steps": base.classifier_train.steps, "batch": base.classifier_train.batch_size,
                          "lr": base.classifier_train.lr},
               "commit": run.commit, "variants": held.get("variants", {})}
    for width, crop in tqdm(SMOKE_VARIANTS if args.smoke else VARIANTS, desc="classifier variants"):
        name = f"width {width}, {crop}-px crops"
        if name in results["variants"]:
            continue
        spec = ClassifierSpec(replace(base, classifier_width=width, classifier_patch=crop), SEED)
        _, meta = train_model(run, spec, SEED, root, progress=False)
        results["variants"][name] = {"width": width, "crop": crop, "val_accuracy": meta["val_accuracy"],
                                     "seconds": meta["seconds"],
                                     "source": meta["source"] if meta["source"].startswith("zoo:") else "trained here"}
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, json.dumps(results, indent=1) + "\n")
    for name, row in results["variants"].items():
        print(f"{name:24s} validation accuracy {row['val_accuracy']:.3f}  ({row['seconds']:.0f} s, {row['source']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
