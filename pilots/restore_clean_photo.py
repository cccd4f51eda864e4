"""Pilot: does ``restore`` leave a clean photograph alone, and how much does each zoo model help a noisy one?
(``python -m companion restore``; issue "what a newcomer hits", §3; docs/restore.md.)

A restorer for SHDD should leave undistorted regions as they are: every SHDD image has "identity" regions, and
Table 7.1 scores them with the rest. So the question is measured on a photograph that no split uses,
matplotlib's sample ``grace_hopper.jpg`` (a portrait; Chapter 7's quick models never saw it):

* **clean**: the photograph restored as it is; PSNR of the output against the input (higher = left more alone)
  and the largest shift of a channel's mean (a colour cast, in 8-bit levels);
* **noisy**: Gaussian noise of σ = 20/255 added (seeded), restored; PSNR against the clean photograph.

Every Chapter 7 model ``restore`` offers is run (its seed-0 zoo entry, the one ``restore`` loads). Writes
``pilots/results/restore_clean_photo.json`` atomically with the settings, the CPU and the commit;
``--smoke`` runs one model on a 64-px crop into ``runs/smoke/pilots/`` in seconds.

    python pilots/restore_clean_photo.py
    python pilots/restore_clean_photo.py --smoke
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib
import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from anywhere in the checkout

from companion.atomic import atomic_write_text  # noqa: E402
from companion.ch7.config import ALL_MODELS  # noqa: E402
from companion.ch7.zoo import restore_entry  # noqa: E402
from companion.data.images import load_image  # noqa: E402
from companion.data.tensors import to_chw  # noqa: E402
from companion.engine.inference import restore  # noqa: E402
from companion.metrics import psnr  # noqa: E402
from companion.session import git_commit  # noqa: E402
from companion.zoo import device_description, load_entry  # noqa: E402

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
NOISE_SIGMA = 20 / 255
NOISE_SEED = 0


def photograph(crop: int = 0) -> np.ndarray:
    """The clean photograph, float32 H×W×3 in [0, 1] (its top-left ``crop`` px square when ``crop``)."""
    image = load_image(PHOTO)
    return image[:crop, :crop] if crop else image


def restored(model, image: np.ndarray) -> np.ndarray:
    return restore(model, to_chw(image)).numpy().transpose(1, 2, 0)


def score_model(name: str, clean: np.ndarray, noisy: np.ndarray) -> dict:
    """One model's scores on the clean and the noisy photograph."""
    entry = restore_entry(name)
    model, _ = load_entry(entry)
    started = time.perf_counter()
    with torch.inference_mode():
        out_clean, out_noisy = restored(model, clean), restored(model, noisy)
    cast = np.abs(out_clean.reshape(-1, 3).mean(0) - clean.reshape(-1, 3).mean(0)) * 255
    return {"entry": entry.name, "clean_psnr_vs_input": round(float(psnr(out_clean, clean)), 3),
            "clean_largest_channel_shift_levels": round(float(cast.max()), 2),
            "noisy_psnr_vs_clean": round(float(psnr(out_noisy, clean)), 3),
            "seconds": round(time.perf_counter() - started, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="one model on a 64-px crop, in seconds")
    parser.add_argument("--out", type=Path, help="results file (default: pilots/results/restore_clean_photo.json; "
                                                 "--smoke: runs/smoke/pilots/restore_clean_photo.json)")
    args = parser.parse_args(argv)
    if not PHOTO.is_file():
        print(f"skipped: {PHOTO} is not in this matplotlib install")
        return 0
    out = args.out or (REPO_ROOT / ("runs/smoke/pilots" if args.smoke else "pilots/results")
                       / "restore_clean_photo.json")
    clean = photograph(64 if args.smoke else 0)
    noise = np.random.default_rng(NOISE_SEED).normal(0.0, NOISE_SIGMA, clean.shape).astype(np.float32)
    noisy = np.clip(clean + noise, 0.0, 1.0)
    models = ALL_MODELS[:1] if args.smoke else ALL_MODELS
    scores = {name: score_model(name, clean, noisy) for name in models}
    result = {"photograph": PHOTO.name, "size": list(clean.shape[:2]), "noise_sigma": NOISE_SIGMA,
              "noise_seed": NOISE_SEED, "noisy_input_psnr": round(float(psnr(noisy, clean)), 3),
              "models": scores, "device": device_description("cpu"), "commit": git_commit(),
              "date": time.strftime("%Y-%m-%d")}
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    for name, row in scores.items():
        print(f"{name:8s} clean: {row['clean_psnr_vs_input']:6.2f} dB vs input, cast "
              f"{row['clean_largest_channel_shift_levels']:5.2f} levels; noisy: {row['noisy_psnr_vs_clean']:6.2f} dB "
              f"(input {result['noisy_input_psnr']:.2f})")
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
