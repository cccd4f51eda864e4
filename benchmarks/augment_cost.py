"""What Chapter 4's augmentations cost beside one CARN training step (thesis §4.3.2: MoA augments every batch).

Measures, side by side in one run on one machine:

1. one training step of CARN (``companion.models.build_model("carn", "paper")`` at ×4): forward, L1 loss,
   backward and an Adam step on a batch of ``--batch`` × 3 × ``--patch``² LR patches (16 × 48², the thesis'
   batch and patch);
2. every augmentation of ``companion.data.augments`` (``FUNCTIONS``, each with its default α) and every MoA
   preset (``PRESETS``, through ``augment_batch``, so their cost includes the p / r draw and the batches left
   alone) on the matching HQ batch, ``--batch`` × 3 × (4·``--patch``)², with the LQ batch on the HQ grid (what
   the trainer augments with ``same_grid=True``), and the nearest-neighbour resize that puts it there
   (``to_hq_grid``).

The rounds are interleaved (one CARN step, then ``--inner`` calls of every augmentation, per round; one
warm-up round first), so a change of the machine's load hits both alike; each generator is seeded once, so
the MoA rows draw a different augmentation on every call. Columns: the median and mean milliseconds per batch,
and the median as a share of the median CARN step, against the 3 % budget. No timing is asserted; the
numbers are printed with the CPU (``lscpu``: model, AVX2 / AVX-512 / AMX) and written to
``benchmarks/results/augment_cost.json``.

    python benchmarks/augment_cost.py                      # one thread, 3 CARN steps: about a minute on 2 cores
    python benchmarks/augment_cost.py --threads 2 --repeats 5
"""
from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from companion.atomic import atomic_write_text  # noqa: E402
from companion.data.augments import DEFAULT_ALPHAS, FUNCTIONS, PRESETS, augment_batch, to_hq_grid  # noqa: E402
from companion.models import build_model  # noqa: E402
from companion.session import git_commit  # noqa: E402

SCALE = 4
BUDGET = 0.03  # the share of a CARN step an augmentation may cost
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--batch", type=int, default=16, help="batch size (default 16, the thesis')")
    parser.add_argument("--patch", type=int, default=48, help="LR patch side (default 48; HQ is 4× that)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds after one warm-up (default 3)")
    parser.add_argument("--inner", type=int, default=20, help="calls of every augmentation per round (default 20)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "augment_cost.json",
                        help="where to write the results (default benchmarks/results/augment_cost.json)")
    args = parser.parse_args(argv)
    for name in ("batch", "patch", "repeats", "inner", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def cpu() -> dict:
    """The CPU as ``lscpu`` names it, and which of :data:`CPU_FLAGS` it has."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        text = ""
    fields = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line)}
    flags = set(fields.get("Flags", "").split())
    return {"model": fields.get("Model name", "unknown"), "cpus": fields.get("CPU(s)", "unknown"),
            "flags": {f: f in flags for f in CPU_FLAGS}}


def carn_step(batch: int, patch: int):
    """One CARN ×4 training step (forward, L1, backward, Adam) on fixed random patches, as a function."""
    torch.manual_seed(0)
    model = build_model("carn", "paper")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    lr, hr = torch.rand(batch, 3, patch, patch, generator=g), torch.rand(batch, 3, SCALE * patch, SCALE * patch,
                                                                         generator=g)

    def step():
        optimizer.zero_grad(set_to_none=True)
        F.l1_loss(model(lr, SCALE), hr).backward()
        optimizer.step()
    return step


def augmentations(batch: int, patch: int) -> dict:
    """Every row to time, as a function of no argument: the grid resize, each augmentation, each MoA preset."""
    g = torch.Generator().manual_seed(1)
    side = SCALE * patch
    lr = torch.rand(batch, 3, patch, patch, generator=g)
    hq = torch.rand(batch, 3, side, side, generator=g)
    lq = to_hq_grid(lr, (side, side))
    rows = {"to_hq_grid (LR → HQ grid)": lambda: to_hq_grid(lr, (side, side))}
    for name, function in FUNCTIONS.items():
        rows[name] = (lambda f=function, a=DEFAULT_ALPHAS[name], gen=torch.Generator().manual_seed(2):
                      f(lq, hq, alpha=a, generator=gen))
    for name, preset in PRESETS.items():
        rows[f"MoA {name} (p {preset.prob:g})"] = (lambda s=preset, gen=torch.Generator().manual_seed(3):
                                                   augment_batch(lq, hq, s, generator=gen))
    return rows


def _seconds(function) -> float:
    t0 = time.perf_counter()
    function()
    return time.perf_counter() - t0


def measure(step, rows: dict, repeats: int, inner: int) -> tuple[list[float], dict[str, list[float]]]:
    """Interleaved rounds (the first a warm-up, not kept): one CARN step, then ``inner`` calls of every row."""
    steps, times = [], {name: [] for name in rows}
    for round_ in range(repeats + 1):
        seconds = _seconds(step)
        per_row = {name: [_seconds(run) for _ in range(inner)] for name, run in rows.items()}
        if round_:
            steps.append(seconds)
            for name, values in per_row.items():
                times[name].extend(values)
    return steps, times


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])


def main(argv=None) -> int:
    args = arguments(argv)
    torch.set_num_threads(args.threads)
    machine = cpu()
    side = SCALE * args.patch
    steps, times = measure(carn_step(args.batch, args.patch), augmentations(args.batch, args.patch), args.repeats,
                           args.inner)
    step_median = statistics.median(steps)
    rows = {name: {"median_ms": 1e3 * statistics.median(v), "mean_ms": 1e3 * statistics.fmean(v),
                   "share_of_step": statistics.median(v) / step_median,
                   "under_budget": statistics.median(v) / step_median < BUDGET} for name, v in times.items()}
    print(f"CPU: {machine['model']} ({machine['cpus']} CPUs); "
          + ", ".join(f"{f} {'yes' if on else 'no'}" for f, on in machine["flags"].items())
          + f"; torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"CARN (paper) ×{SCALE} training step on {args.batch}×3×{args.patch}²: median {step_median:.3f} s over "
          f"{len(steps)} steps ({', '.join(f'{s:.3f}' for s in steps)})")
    print(f"augmenting {args.batch}×3×{side}² (LQ on the HQ grid), {args.repeats}×{args.inner} calls each:")
    print(table(["augmentation", "median ms", "mean ms", "of a CARN step", f"under {BUDGET:.0%}"],
                [[name, f"{r['median_ms']:.2f}", f"{r['mean_ms']:.2f}", f"{100 * r['share_of_step']:.2f} %",
                  "yes" if r["under_budget"] else "NO"] for name, r in rows.items()]))
    result = {"date": datetime.date.today().isoformat(), "commit": git_commit(REPO), "cpu": machine,
              "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "budget_share": BUDGET,
              "carn_step": {"model": "carn paper", "scale": SCALE, "lr_batch": [args.batch, 3, args.patch, args.patch],
                            "seconds": steps, "median_seconds": step_median},
              "hq_batch": [args.batch, 3, side, side], "repeats": args.repeats, "inner": args.inner,
              "augmentations": rows}
    atomic_write_text(args.json, json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
