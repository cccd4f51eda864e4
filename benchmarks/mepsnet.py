"""MEPSNet speed, paper configuration: forward modes at 1×3×128×128, one training step, GEMM peak, PSNR cost.

Measures, for ``MEPSNet()`` (2,241,187 parameters):

1. forward of 1×3×128×128 under ``torch.no_grad`` (best of ``--repeats`` after a warm-up) in these modes:
   (a) straightforward: every SConv synthesises its weight at every call (``model.train()`` under no_grad);
   (b) eval mode, SConv weights cached, fp32; (c) ``for_inference`` fp32, channels-last and NCHW;
   (d) ``for_inference`` bf16, channels-last; (e) bf16 autocast on the eval model, NCHW (the issue's reference
   mode); (f) the same with a channels-last input. Seconds, GFLOP/s (2 × MACs, 3×3 convs only) and speed-up
   vs (a). On a CPU without bf16 hardware (no AVX512_BF16 / AMX) the bf16 modes are timed once without a
   warm-up, and a mode whose time a one-conv probe estimates above ``--max-seconds`` is skipped (bf16 NCHW
   convs there run at about 0.1 GFLOP/s).
2. one training step (forward, L2 loss, backward, Adam with the paper's settings of
   ``companion.ch7.config.PAPER_TRAINING``) at batch 16 × 3 × 80 × 80: fp32 on CPU; bf16 autocast +
   channels-last (the full profile) and fp32 on CUDA. Training FLOPs are taken as 3 × forward FLOPs.
3. the machine: CPU model, threads, AVX-512 / AVX512_BF16 / AMX flags, a measured fp32 and bf16 GEMM rate
   (``torch.matmul``), and every rate above as a fraction of the measured GEMM rate.
4. the PSNR cost of the inference modes on SHDD test images (with ``--checkpoint`` of a trained MEPSNet and
   an SHDD folder), and, always, the output difference of each mode on untrained (He-initialised) weights.

    python benchmarks/mepsnet.py --repeats 3                   # CPU, everything
    python benchmarks/mepsnet.py --device cuda --json gpu.json
    python benchmarks/mepsnet.py --skip-train --checkpoint runs/full/work/checkpoints/mepsnet-….pt
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from companion.ch7.config import PAPER_TRAINING
from companion.models.mepsnet import PAPER_CONFIG, QUICK_CONFIG, MEPSNet, for_inference, macs_per_pixel

ROOT = Path(__file__).resolve().parents[1]
SIZE = 128  # forward input side
TRAIN_BATCH, TRAIN_PATCH = 16, 80
# The figures for a straightforward implementation, measured on an AVX-512 machine (not this one).
REFERENCE = {"machine": "AVX-512 CPU (the issue's; fp32 peak about 171 GFLOP/s)", "forward_fp32_s": 1.95,
             "forward_fp32_gflops": 160.0, "forward_bf16_autocast_s": 1.21, "train_step_fp32_s": 34.8}
CL = torch.channels_last


# --------------------------------------------------------------------------------------------------------
# Machine.


def cpu_info() -> dict:
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and name in ("unknown CPU", platform.processor()):
                name = value.strip()
            elif key == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    has = {f: f in flags for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")}
    return {"name": name, "flags": has, "bf16_hardware": has["avx512_bf16"] or has["amx_bf16"]}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn, device: torch.device, repeats: int, warmup: int, inner: int = 1):
    """Best seconds per call of ``fn`` over ``repeats`` timings of ``inner`` calls each; and the last output."""
    out = None
    for _ in range(warmup):
        out = fn()
    sync(device)
    best = math.inf
    for _ in range(max(1, repeats)):
        sync(device)
        t = time.perf_counter()
        for _ in range(inner):
            out = fn()
        sync(device)
        best = min(best, (time.perf_counter() - t) / inner)
    return best, out


def gemm_rate(dtype: torch.dtype, device: torch.device, repeats: int, max_n: int) -> dict:
    """GFLOP/s of an n×n matmul in ``dtype`` (n = ``max_n``). For bf16 on a CPU, n shrinks until one product is
    estimated (from a 512 probe) at 3 s or less: bf16 without bf16 hardware runs at well under 1 GFLOP/s."""
    n = max_n
    if device.type == "cpu" and dtype != torch.float32:
        a, b = torch.randn(512, 512, dtype=dtype), torch.randn(512, 512, dtype=dtype)
        a @ b
        t = time.perf_counter()
        a @ b
        rate = 2 * 512 ** 3 / max(time.perf_counter() - t, 1e-9)
        while n > 512 and 2 * n ** 3 / rate > 3.0:
            n //= 2
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    inner = 10 if device.type == "cuda" else 1
    seconds, _ = time_call(lambda: a @ b, device, repeats=max(3, repeats), warmup=3 if device.type == "cuda" else 1,
                           inner=inner)
    return {"n": n, "seconds": seconds, "gflops": 2 * n ** 3 / seconds / 1e9}


# --------------------------------------------------------------------------------------------------------
# Models.


def convs_channels_last(model: nn.Module) -> nn.Module:
    """Channels-last weights for the ordinary convs. ``model.to(memory_format=channels_last)`` fails on
    MEPSNet: the template bank is a 5-D parameter (K×C×C×3×3), which torch refuses to make channels-last."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.to(memory_format=CL)
    return model


def probe_forward_seconds(flops: float, device: torch.device, *, dtype: torch.dtype, channels_last: bool,
                          autocast: bool) -> float:
    """Estimated forward seconds from one 64→64 3×3 conv on 32×32 in the mode's dtype / layout (CPU only)."""
    x, w = torch.randn(1, 64, 32, 32, device=device), torch.randn(64, 64, 3, 3, device=device)
    if not autocast:
        x, w = x.to(dtype), w.to(dtype)
    if channels_last:
        x, w = x.contiguous(memory_format=CL), (w if autocast else w.contiguous(memory_format=CL))
    ctx = torch.autocast(device.type, dtype=dtype) if autocast else nullcontext()
    with torch.no_grad(), ctx:
        seconds, _ = time_call(lambda: F.conv2d(x, w, padding=1), device, repeats=1, warmup=1)
    return flops / (2 * 64 * 64 * 9 * 32 * 32 / seconds)


def forward_modes(model: MEPSNet, device: torch.device):
    """(key, label, dtype tag, build) per mode; ``build()`` returns the callable on an input ``x``."""
    def straightforward():
        model.train()
        return lambda x: model(x)

    def eval_fp32():
        model.eval()
        return lambda x: model(x)

    def inference(dtype, channels_last):
        def build():
            net = for_inference(model, dtype=dtype, channels_last=channels_last)
            return lambda x: net(x)
        return build

    def autocast(channels_last):
        def build():
            net = convs_channels_last(copy.deepcopy(model)) if channels_last else model
            net.eval()

            def run(x):
                if channels_last:
                    x = x.contiguous(memory_format=CL)
                with torch.autocast(device.type, dtype=torch.bfloat16):
                    return net(x).float()
            return run
        return build

    return [
        ("a", "(a) straightforward, synthesise per call, fp32", "fp32", straightforward),
        ("b", "(b) eval, cached weights, fp32", "fp32", eval_fp32),
        ("c_cl", "(c) for_inference fp32, channels-last", "fp32", inference(torch.float32, True)),
        ("c_nchw", "(c) for_inference fp32, NCHW", "fp32", inference(torch.float32, False)),
        ("d", "(d) for_inference bf16, channels-last", "bf16", inference(torch.bfloat16, True)),
        ("e", "(e) bf16 autocast, eval, NCHW (issue ref.)", "bf16", autocast(False)),
        ("f", "(f) bf16 autocast, eval, channels-last", "bf16", autocast(True)),
    ]


def measure_forward(model: MEPSNet, config: dict, device: torch.device, args, slow_bf16: bool) -> list[dict]:
    flops = 2 * macs_per_pixel(config) * SIZE * SIZE
    torch.manual_seed(0)
    x = torch.rand(1, 3, SIZE, SIZE, device=device)
    cuda = device.type == "cuda"
    rows, reference = [], None
    for key, label, tag, build in forward_modes(model, device):
        row = {"key": key, "mode": label, "dtype": tag}
        once = tag == "bf16" and slow_bf16
        if once:
            estimate = probe_forward_seconds(flops, device, dtype=torch.bfloat16,
                                             channels_last=key in ("d", "f"), autocast=key in ("e", "f"))
            row["estimate_s"] = estimate
            if estimate > args.max_seconds:
                row["skipped"] = (f"a one-conv probe estimates {estimate:.0f} s > --max-seconds {args.max_seconds:g} "
                                  "(no bf16 hardware)")
                print(f"  {label:<46} skipped: {row['skipped']}", flush=True)
                rows.append(row)
                continue
        fn = build()
        with torch.no_grad():
            seconds, out = time_call(lambda: fn(x), device, repeats=1 if once else args.repeats,
                                     warmup=0 if once else (3 if cuda else 1), inner=10 if cuda else 1)
        out = out.float()
        if key == "b":
            reference = out
        row.update(seconds=seconds, gflops=flops / seconds / 1e9, timed="1 call, no warm-up" if once else
                   f"best of {args.repeats}" + (" × 10 calls" if cuda else ""), output=out)
        rows.append(row)
        print(f"  {label:<46} {seconds:9.3f} s  {row['gflops']:8.1f} GFLOP/s  ({row['timed']})", flush=True)
        del fn
    model.eval()
    base = next(r for r in rows if r["key"] == "a").get("seconds")
    for row in rows:
        out = row.pop("output", None)
        if out is not None:
            row["speedup"] = base / row["seconds"] if base else None
            row["max_abs_diff"] = float((out - reference).abs().max())
            row["max_abs_reference"] = float(reference.abs().max())
    return rows


def measure_training(config: dict, device: torch.device, *, steps: int, warmup: int, bf16: bool,
                     channels_last: bool) -> dict:
    torch.manual_seed(0)
    model = MEPSNet(**config).to(device)
    if channels_last:
        convs_channels_last(model)
    model.train()
    # the optimizer of companion.engine.loop with the paper's settings (§7.5): Adam, classic L2 weight decay
    cfg = PAPER_TRAINING
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                                 weight_decay=cfg.weight_decay)
    x = torch.rand(TRAIN_BATCH, 3, TRAIN_PATCH, TRAIN_PATCH, device=device)
    y = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    if channels_last:
        x = x.contiguous(memory_format=CL)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        loss = F.mse_loss(out.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(warmup):
        step()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    seconds = (time.perf_counter() - t) / steps
    flops = 3 * 2 * macs_per_pixel(config) * TRAIN_BATCH * TRAIN_PATCH * TRAIN_PATCH
    label = ("bf16 autocast + channels-last" if bf16 and channels_last else "bf16 autocast" if bf16
             else "fp32 + channels-last" if channels_last else "fp32")
    return {"mode": label, "seconds": seconds, "it_per_s": 1 / seconds, "gflops": flops / seconds / 1e9,
            "steps": steps, "warmup": warmup}


# --------------------------------------------------------------------------------------------------------
# PSNR cost on SHDD.


def default_shdd_root() -> Path | None:
    work = ROOT / "runs" / "quick" / "work"
    for candidate in (work, work / "datasets"):
        if (candidate / "shdd").is_dir():
            return candidate
    return None


def measure_psnr(args, device: torch.device, root: Path) -> dict:
    from companion.ch7.datasets import SHDDEval
    from companion.ch7.evaluation import evaluate_shdd
    from companion.ch7.shdd import LEVELS
    from companion.engine.checkpoint import load_weights, read_checkpoint
    from companion.errors import CompanionError

    state = read_checkpoint(args.checkpoint)
    if state["model_name"] != "mepsnet":
        raise SystemExit(f"{args.checkpoint} is a checkpoint of {state['model_name']!r}, not of MEPSNet")
    config = dict(state["model_config"])
    model = MEPSNet(**config)
    load_weights(model, args.checkpoint, model_name="mepsnet")
    model.to(device).eval()
    modes = {"fp32 eval": model,
             "for_inference fp32 CL": for_inference(model, dtype=torch.float32, channels_last=True),
             "for_inference bf16 CL": for_inference(model, dtype=torch.bfloat16, channels_last=True)}
    levels = [lv for lv in LEVELS if not args.levels or lv in args.levels.split(",")]
    print(f"\nPSNR cost: checkpoint {args.checkpoint} (step {state['step']}, config {config}), SHDD {root}, "
          f"test split, whole images (tiles 1×1), first {args.images} image(s) per level", flush=True)
    result = {"checkpoint": str(args.checkpoint), "step": int(state["step"]), "config": config, "root": str(root),
              "levels": {}}
    for level in levels:
        try:
            data = SHDDEval(root, level, "test")
        except CompanionError as exc:
            print(f"  {level}: skipped ({exc})")
            continue
        scores = {}
        for name, net in modes.items():
            t = time.perf_counter()
            r = evaluate_shdd(net, data, tiles=(1, 1), progress=False, limit=args.images, device=device)
            scores[name] = {"psnr": r["psnr"], "per_image": [p["psnr"] for p in r["per_image"]],
                            "seconds": time.perf_counter() - t}
            print(f"  {level:<10}{name:<24}{r['psnr']:9.3f} dB  ({scores[name]['seconds']:.0f} s)", flush=True)
        base = scores["fp32 eval"]
        for name, s in scores.items():
            s["delta_db"] = s["psnr"] - base["psnr"]
            s["max_image_abs_delta_db"] = max(abs(a - b) for a, b in zip(s["per_image"], base["per_image"]))
        result["levels"][level] = {"images": len(base["per_image"]), "scores": scores}
    return result


# --------------------------------------------------------------------------------------------------------


def pct(value: float | None, peak: float | None) -> str:
    return f"{100 * value / peak:.0f} %" if value and peak else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeats", type=int, default=3, help="timings per forward mode (best is kept)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--train-steps", type=int, default=None,
                        help="timed training steps (default: 1 on CPU after 1 warm-up, 20 on CUDA after 3)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="a companion checkpoint of a trained MEPSNet")
    parser.add_argument("--shdd", type=Path, default=None,
                        help="generated SHDD root (default: runs/quick/work's, if any)")
    parser.add_argument("--images", type=int, default=6, help="SHDD test images per level for the PSNR part")
    parser.add_argument("--levels", default="", help="comma-separated SHDD levels (default: all present)")
    parser.add_argument("--max-seconds", type=float, default=240.0,
                        help="CPU without bf16 hardware: skip a bf16 forward mode estimated to take longer")
    parser.add_argument("--config", choices=("paper", "quick"), default="paper",
                        help="model size; 'quick' (QUICK_CONFIG) only to smoke-test this script")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: PyTorch sees no CUDA GPU here")
        torch.backends.cudnn.benchmark = True
    if args.threads:
        torch.set_num_threads(args.threads)
    config = dict(PAPER_CONFIG if args.config == "paper" else QUICK_CONFIG)
    cpu = cpu_info()
    slow_bf16 = device.type == "cpu" and not cpu["bf16_hardware"]
    if device.type == "cuda":
        machine = f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    else:
        machine = f"{cpu['name']}, {torch.get_num_threads()} threads"
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cpu["flags"].items())
    torch.manual_seed(0)
    model = MEPSNet(**config).to(device)
    params = sum(p.numel() for p in model.parameters())
    macs = macs_per_pixel(config)
    fwd_flops = 2 * macs * SIZE * SIZE

    print(f"MEPSNet benchmark: torch {torch.__version__}, device {machine}")
    print(f"CPU {cpu['name']}; torch threads {torch.get_num_threads()}; flags: {flags}; "
          f"torch CPU capability {torch.backends.cpu.get_cpu_capability()}")
    if device.type == "cuda":
        print(f"cuDNN TF32 {torch.backends.cudnn.allow_tf32} (fp32 convs may run in TF32), "
              f"matmul TF32 {torch.backends.cuda.matmul.allow_tf32}")
    print(f"model: {args.config} configuration {config}, {params:,} parameters, {macs / 1e6:.2f} M MACs/pixel "
          f"(3×3 convs), forward 1×3×{SIZE}×{SIZE} = {fwd_flops / 1e9:.1f} GFLOP")

    # 3. GEMM peak (first: the forward table needs it).
    print("\nmeasured GEMM rate (torch.matmul):", flush=True)
    max_n = 8192 if device.type == "cuda" else 4096
    gemm = {"fp32": gemm_rate(torch.float32, device, args.repeats, max_n),
            "bf16": gemm_rate(torch.bfloat16, device, args.repeats, max_n)}
    for k, g in gemm.items():
        print(f"  {k}: {g['n']}×{g['n']}  {g['seconds']:.3f} s  {g['gflops']:.1f} GFLOP/s", flush=True)
    peak32, peak16 = gemm["fp32"]["gflops"], gemm["bf16"]["gflops"]

    # 1. Forward.
    print(f"\nforward 1×3×{SIZE}×{SIZE}, no_grad:", flush=True)
    forward = measure_forward(model, config, device, args, slow_bf16)

    # 2. Training.
    training = []
    if not args.skip_train:
        cuda = device.type == "cuda"
        steps = args.train_steps or (20 if cuda else 1)
        warmup = 3 if cuda else 1
        print(f"\ntraining step, batch {TRAIN_BATCH}×3×{TRAIN_PATCH}×{TRAIN_PATCH}, L2 + Adam "
              f"({warmup} warm-up, {steps} timed):", flush=True)
        variants = [(True, True), (False, False)] if cuda else [(False, False)]
        for bf16, channels_last in variants:
            r = measure_training(config, device, steps=steps, warmup=warmup, bf16=bf16, channels_last=channels_last)
            training.append(r)
            print(f"  {r['mode']:<32}{r['seconds']:9.3f} s/step  {r['it_per_s']:8.3f} it/s  "
                  f"{r['gflops']:8.1f} GFLOP/s", flush=True)

    # 4. PSNR.
    root = args.shdd or default_shdd_root()
    psnr = None
    if args.checkpoint is not None and root is not None:
        psnr = measure_psnr(args, device, root)
    else:
        why = "no --checkpoint given" if args.checkpoint is None else "no SHDD folder (--shdd, or runs/quick/work)"
        print(f"\nPSNR cost on SHDD: skipped ({why}); the output difference on untrained weights is below.")

    # Table.
    print(f"\n=== MEPSNet {args.config} configuration on {machine} (torch {torch.__version__}) ===")
    print(f"forward 1×3×{SIZE}×{SIZE} ({fwd_flops / 1e9:.1f} GFLOP); % of the measured GEMM rate "
          f"(fp32 {peak32:.1f}, bf16 {peak16:.1f} GFLOP/s; measured matmul, not the datasheet peak)")
    head = (f"{'mode':<46}{'seconds':>9}{'GFLOP/s':>9}{'%fp32 GEMM':>11}{'%bf16 GEMM':>11}{'speed-up':>9}"
            f"{'max|Δ| vs (b)':>15}")
    print(head)
    for r in forward:
        if "skipped" in r:
            print(f"{r['mode']:<46}{'skipped: est. ' + format(r['estimate_s'], '.0f') + ' s':>29}")
            continue
        print(f"{r['mode']:<46}{r['seconds']:>9.3f}{r['gflops']:>9.1f}{pct(r['gflops'], peak32):>11}"
              f"{pct(r['gflops'], peak16) if r['dtype'] == 'bf16' else '-':>11}{r['speedup']:>8.2f}x"
              f"{r['max_abs_diff']:>15.2e}")
    ref_max = next((r["max_abs_reference"] for r in forward if "max_abs_reference" in r), float("nan"))
    print(f"max|Δ|: untrained weights (He init, torch.manual_seed(0)): output difference only, vs (b) on the same "
          f"random 128×128 input (max |output| of (b): {ref_max:.3g})")
    if slow_bf16:
        print("no bf16 hardware on this CPU: bf16 modes timed once, without warm-up")
    if training:
        print(f"\ntraining step, batch {TRAIN_BATCH}×3×{TRAIN_PATCH}×{TRAIN_PATCH} (FLOPs ≈ 3 × forward FLOPs "
              f"= {3 * 2 * macs * TRAIN_BATCH * TRAIN_PATCH ** 2 / 1e12:.2f} TFLOP, an approximation)")
        print(f"{'mode':<34}{'s/step':>9}{'it/s':>9}{'GFLOP/s':>9}{'%fp32 GEMM':>11}{'%bf16 GEMM':>11}")
        for r in training:
            print(f"{r['mode']:<34}{r['seconds']:>9.3f}{r['it_per_s']:>9.3f}{r['gflops']:>9.1f}"
                  f"{pct(r['gflops'], peak32):>11}{pct(r['gflops'], peak16) if 'bf16' in r['mode'] else '-':>11}")
    if psnr is not None:
        print(f"\nPSNR on SHDD test (mean over images; Δ vs fp32 eval; checkpoint step {psnr['step']})")
        print(f"{'level':<11}{'mode':<24}{'images':>7}{'PSNR dB':>9}{'Δ dB':>9}{'max |Δ| per image':>19}")
        for level, lv in psnr["levels"].items():
            for name, s in lv["scores"].items():
                print(f"{level:<11}{name:<24}{lv['images']:>7}{s['psnr']:>9.3f}{s['delta_db']:>+9.3f}"
                      f"{s['max_image_abs_delta_db']:>19.3f}")

    done = [r for r in forward if "seconds" in r]
    best = min((r for r in done if r["key"] not in ("a", "e")), key=lambda r: r["seconds"], default=None)
    print(f"\nissue's reference, a straightforward implementation on {REFERENCE['machine']}: forward fp32 "
          f"{REFERENCE['forward_fp32_s']} s (≈{REFERENCE['forward_fp32_gflops']:.0f} GFLOP/s), bf16 autocast "
          f"{REFERENCE['forward_bf16_autocast_s']} s, training step fp32 {REFERENCE['train_step_fp32_s']} s; "
          f"target: an inference mode ≥ 1.5× faster than the straightforward forward (≤ "
          f"{REFERENCE['forward_fp32_s'] / 1.5:.2f} s there)")
    ours = next(r for r in forward if r["key"] == "a")
    line = f"ours, on {machine}: forward straightforward fp32 {ours['seconds']:.3f} s"
    e = next(r for r in forward if r["key"] == "e")
    line += f", bf16 autocast {e['seconds']:.3f} s" if "seconds" in e else ", bf16 autocast skipped"
    fp32_train = next((r for r in training if r["mode"] == "fp32"), None)
    if fp32_train:
        line += f", training step fp32 {fp32_train['seconds']:.2f} s"
    if best:
        line += f"; fastest inference mode {best['mode'].split(' ', 1)[1]}: {best['seconds']:.3f} s = " \
                f"{best['speedup']:.2f}x vs straightforward"
    print(line)

    if args.json:
        results = {"torch": torch.__version__, "device": str(device), "machine": machine, "cpu": cpu,
                   "threads": torch.get_num_threads(), "config_name": args.config, "config": config,
                   "parameters": params, "macs_per_pixel": macs, "forward_flops": fwd_flops, "gemm": gemm,
                   "forward": forward, "training": training, "training_flops_note": "3 × forward FLOPs",
                   "psnr": psnr, "reference": REFERENCE, "repeats": args.repeats}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=str))
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
