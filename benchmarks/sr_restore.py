"""``restore --model carn-m --scale 4``'s engine: CARN-M ×4 to a 1280×720 output, eager against the fast path
(``companion.engine.fast_inference.accelerate``) side by side in one run, frames per second, and the PSNR of
the fast path (and of the bf16 path) against fp32 eager on the held-out photographs
(``companion.data.splits.EMBEDDED_SR.test``: each bicubically downscaled ×4, upscaled back, PSNR against the
original, RGB, 4 px border shaved).

The bf16 path (weights and activations in bfloat16, channels-last) is built and checked on every machine;
its *speed* means something only on a CPU with AMX or AVX512_BF16 (elsewhere bf16 is emulated), so on a CPU
without them the output says that its speed was not measured there. The CPU (``lscpu``) and its flags are
recorded. Weights: the authors' CARN-M when ``--weights`` (or ``../shared/weights/carn_m.pth``) exists, else
the zoo's quick ×4 model. Writes ``benchmarks/results/sr_restore.json``; asserts no timing.

    python benchmarks/sr_restore.py
    python benchmarks/sr_restore.py --repeats 5 --weights /path/to/carn_m.pth
"""
from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from companion.data.images import embedded_image  # noqa: E402
from companion.data.splits import EMBEDDED_SR  # noqa: E402
from companion.engine.fast_inference import accelerate  # noqa: E402
from companion.session import git_commit  # noqa: E402

BF16_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16")


def cpu() -> dict:
    text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line)}
    flags = fields.get("Flags", "").split()
    return {"model": fields.get("Model name"), "cpus": fields.get("CPU(s)"),
            "bf16_flags": [f for f in BF16_FLAGS if f in flags], "avx2": "avx2" in flags,
            "avx512f": "avx512f" in flags}


def load_model(weights: Path | None):
    if weights is not None and weights.is_file():
        from companion.ch2.authors_weights import load_authors_carn  # reason: the authors' path only

        return load_authors_carn(weights), f"the authors' CARN-M ({weights})"
    from companion.ch2.zoo import main_entry  # reason: the zoo path only
    from companion.zoo import load_entry

    model, _ = load_entry(main_entry("carn-m-x4"))
    return model, "zoo ch2/carn-m-x4-seed0 (quick size)"


def best_seconds(run, x, repeats: int) -> list[float]:
    run(x)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - t0)
    return times


def psnr(a: np.ndarray, b: np.ndarray, shave: int = 4) -> float:
    a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    return float(10 * np.log10(1 / np.mean((a.astype(np.float64) - b) ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=REPO.parent / "shared" / "weights" / "carn_m.pth")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "sr_restore.json"))
    args = parser.parse_args()
    machine = cpu()
    model, source = load_model(args.weights)
    eager = model.at_scale(4).eval()
    fast = accelerate(model, scale=4, report=print)
    bf16 = accelerate(model, scale=4, precision="bf16", report=print)
    frame = torch.rand(1, 3, 180, 320, generator=torch.Generator().manual_seed(0))

    def run_eager(x):
        with torch.no_grad():
            return eager(x)

    timings = {"eager fp32": best_seconds(run_eager, frame, args.repeats),
               f"fast ({fast.label})": best_seconds(fast, frame, args.repeats)}
    native_bf16 = bool(machine["bf16_flags"])
    if native_bf16:
        timings[f"bf16 ({bf16.label})"] = best_seconds(bf16, frame, args.repeats)
    rows = {name: {"best_seconds": round(min(t), 4), "median_seconds": round(float(np.median(t)), 4),
                   "frames_per_second": round(1 / min(t), 2)} for name, t in timings.items()}
    quality = []
    for name in EMBEDDED_SR.test:
        hr = embedded_image(name)
        h, w = (hr.shape[0] // 4) * 4, (hr.shape[1] // 4) * 4
        hr = hr[:h, :w]
        lr = np.asarray(Image.fromarray((hr * 255).round().astype(np.uint8)).resize((w // 4, h // 4),
                                                                                     Image.BICUBIC)) / 255.0
        x = torch.from_numpy(lr.astype(np.float32)).permute(2, 0, 1)[None]
        outs = {"eager fp32": run_eager(x), "fast": fast(x), "bf16": bf16(x)}
        outs = {k: v[0].clamp(0, 1).permute(1, 2, 0).numpy() for k, v in outs.items()}
        scores = {k: round(psnr(v, hr), 4) for k, v in outs.items()}
        quality.append({"image": name, "psnr_db": scores,
                        "fast_minus_fp32_db": round(scores["fast"] - scores["eager fp32"], 4),
                        "bf16_minus_fp32_db": round(scores["bf16"] - scores["eager fp32"], 4)})
    note = ("bf16 speed measured on this CPU (it has " + ", ".join(machine["bf16_flags"]) + ")" if native_bf16 else
            "bf16 speed NOT measured here: this CPU has no AMX or AVX512_BF16 (bf16 would be emulated); the bf16 "
            "path was built and its PSNR checked against fp32 only")
    result = {"date": datetime.date.today().isoformat(), "cpu": machine, "commit": git_commit(REPO),
              "torch_threads": torch.get_num_threads(), "weights": source, "input": "1×3×180×320",
              "output": "1280×720", "speed": rows, "held_out_psnr": quality, "bf16": note}
    for name, row in rows.items():
        print(f"{name:48s} {row['best_seconds']:.3f} s best, {row['frames_per_second']:.2f} frames/s")
    for q in quality:
        print(f"{q['image']:8s} PSNR {q['psnr_db']}; fast - fp32 {q['fast_minus_fp32_db']:+.4f} dB, "
              f"bf16 - fp32 {q['bf16_minus_fp32_db']:+.4f} dB")
    print(f"CPU: {machine['model']} ({machine['cpus']} CPUs); {note}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
