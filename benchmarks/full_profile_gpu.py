"""A short check of the full-profile training path on a GPU: every Table 7.1 model at paper size, bf16 and
channels-last, batch 16 of 80×80 patches (the ``full`` profile of ``07b_mepsnet_training``), through the
training loop of :mod:`companion.engine.loop`, on SHDD built from the embedded images (DIV2K is not needed
for a speed check).

For each model it prints the training iterations per second (after ``--warmup`` steps), the projected time of
the paper's 1.2M iterations, and the peak GPU memory; then it trains MEPSNet for ``--mepsnet-steps`` and
evaluates it on the moderate test images with the authors' 2×4 tiling, in fp32 and in bf16, to show the
path end to end (the PSNR after a few hundred steps says nothing about the paper's number).

    python benchmarks/full_profile_gpu.py --out /tmp/gpu --json gpu.json
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from companion.ch7.datasets import SHDDEval, SHDDTrain
from companion.ch7.evaluation import PAPER_TILES, evaluate_shdd
from companion.ch7.shdd import build_shdd
from companion.engine.loop import LOSSES, paired_batch, train
from companion.engine.settings import TrainConfig
from companion.models import build_model, count_parameters, model_label
from companion.profiles import config_for

BATCH = paired_batch("distorted", "clean")


def train_rate(name: str, dataset, cfg: TrainConfig, loss, warmup: int, steps: int, device, out: Path) -> dict:
    torch.manual_seed(0)
    model = build_model(name, "paper")
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / f"{name}.pt"
    if ckpt.exists():
        ckpt.unlink()
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    first = train(model, dataset, replace(cfg, steps=warmup), loss=loss, batch=BATCH, model_name=name, device=device,
                  checkpoint_path=ckpt, progress=False)
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    second = train(model, dataset, replace(cfg, steps=warmup + steps), loss=loss, batch=BATCH, model_name=name,
                   device=device, checkpoint_path=ckpt, progress=False)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    rate = steps / seconds
    return {"model": model_label(name), "params": count_parameters(model), "it_per_s": round(rate, 2),
            "paper_run_hours": round(cfg.steps / rate / 3600, 1) if rate else None,
            "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
            "final_loss": round(second.losses[-1], 5), "warmup_loss": round(first.losses[0], 3)}, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/companion-gpu"))
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per model")
    parser.add_argument("--mepsnet-steps", type=int, default=300)
    parser.add_argument("--models", default="dncnn,vdsr,owan,ridnet,mepsnet")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--device", default="cuda", help="cuda (the point of this script) or cpu (a dry run)")
    args = parser.parse_args()
    device = torch.device(args.device)
    device_name = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__}, {device_name}, TF32 conv "
          f"{torch.backends.cudnn.allow_tf32}, cudnn.benchmark {torch.backends.cudnn.benchmark}", flush=True)

    full = config_for("07b_mepsnet_training", "full")
    t0 = time.perf_counter()
    report = build_shdd("bundled", args.out, levels=("moderate",), versions=2, workers=8, progress=False)
    print(f"SHDD from the embedded images: {report.n_written} written in {time.perf_counter() - t0:.0f} s", flush=True)
    dataset = SHDDTrain(args.out, level="moderate", patch_size=full.patch_size, seed=0, cache=True)
    cfg, loss = replace(full.train, seed=0), LOSSES[full.loss]
    print(f"full profile: batch {cfg.batch_size} × {full.patch_size}², {full.loss} loss, bf16 {cfg.bf16}, "
          f"channels-last {cfg.channels_last}, {cfg.steps:,} steps", flush=True)
    rows, models = [], {}
    for name in args.models.split(","):
        row, model = train_rate(name, dataset, cfg, loss, args.warmup, args.steps, device, args.out)
        rows.append(row)
        models[name] = model
        print(json.dumps(row), flush=True)
    if "mepsnet" in args.models:
        fp32 = replace(cfg, bf16=False, channels_last=False)
        row, _ = train_rate("mepsnet", dataset, fp32, loss, args.warmup, args.steps, device, args.out / "fp32")
        row["model"] = "MEPSNet (fp32, NCHW)"
        rows.append(row)
        print(json.dumps(row), flush=True)

    result = {"device": device_name, "torch": torch.__version__, "training": rows}
    if "mepsnet" in args.models and args.mepsnet_steps:
        torch.manual_seed(0)
        model = build_model("mepsnet", "paper")
        long_ckpt = args.out / "mepsnet-long.pt"
        long_ckpt.unlink(missing_ok=True)  # time a fresh run, never a resumed (finished) one
        t0 = time.perf_counter()
        res = train(model, dataset, replace(cfg, steps=args.mepsnet_steps), loss=loss, batch=BATCH,
                    model_name="mepsnet", device=device, checkpoint_path=long_ckpt, progress=False)
        train_s = time.perf_counter() - t0
        test = SHDDEval(args.out, level="moderate", split="test")
        evals = {}
        for label, bf16 in (("fp32", False), ("bf16", True)):
            t0 = time.perf_counter()
            scores = evaluate_shdd(model, test, tiles=PAPER_TILES, overlap=full.overlap, device=device, bf16=bf16,
                                   progress=False)
            evals[label] = {"psnr": round(scores["psnr"], 3), "ssim": round(scores["ssim"], 4),
                            "input_psnr": round(scores["input_psnr"], 3),
                            "seconds_per_image": round((time.perf_counter() - t0) / len(test), 3),
                            "images": len(test)}
        result["mepsnet_run"] = {"steps": res.steps_done, "seconds": round(train_s, 1),
                                 "final_loss": round(sum(res.losses[-20:]) / len(res.losses[-20:]), 5), "eval": evals}
        print(json.dumps(result["mepsnet_run"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
