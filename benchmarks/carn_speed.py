"""CARN-M speed on the CPU: eager PyTorch (the authors' code) against the companion's fast path, side by side.

Measures, in one run on one machine, ×4 super-resolution of a 320×180 input to a 1280×720 output (thesis
§2.4.2's Mult-Adds size; ``--output`` changes it):

1. the machine: CPU, cores, PyTorch threads, vector ISA, its fp32 GEMM rate (``torch.matmul``, n =
   ``--gemm-n``), and how busy the *other* processes kept the CPUs: sampled from /proc/stat just before and
   just after the run (while this process sleeps), and during every set of timed rounds (busy time less this
   process's own CPU time); the run is called idle when all of these stay under 10 %;
2. CARN-M with the authors' weights (CARN-pytorch ``carn_m.pth``, the code reading, via
   ``companion.ch2.authors_weights.load_authors_carn``) in every route (``--routes``):
   ``eager`` NCHW fp32 under ``torch.no_grad`` (what the authors' test code runs; the reference),
   ``channels-last`` eager, ``jit`` (TorchScript trace + freeze + ``optimize_for_inference``: oneDNN weights),
   ``compile`` (``torch.compile``, inductor with freezing; opt-in: about 20 s to compile on 2 cores the first
   time), ``bf16`` (bf16 autocast, channels-last: what ``fastest_mode`` picks on a CPU with AVX512_BF16 or AMX;
   opt-in, and *not* within 1e-4: its max |Δ| says how far), ``ort-unfolded`` (ONNX Runtime on the exported
   graph as it is, without the fast path's pixel-shuffle fold; opt-in) and ``fast``
   (``companion.engine.fast_inference.accelerate``: ONNX Runtime where installed). The routes are timed
   interleaved (one call of each per round, ``--repeats`` rounds after a warm-up), so a change in the
   machine's load hits them alike. Columns: best and median seconds, speed-up (best against eager's best),
   the max |Δ| of the 1280×720 output against eager's, GFLOP/s (2 × the exact Mult-Adds of
   ``companion.analysis.costs.mult_adds`` / best seconds) and its share of the GEMM rate;
3. the CPU half of the thesis' Fig. 2.12 as a table: eager and fast seconds for every Fig. 2.12 model the
   companion has (PCARN and PCARN-M are the CARN and CARN-M generators in the thesis reading; CARN and CARN-M
   in the code reading), on the authors' weights where a file is found (``--weights`` folder, or the
   ``companion download`` folder) and PyTorch's default initialisation of the same shapes otherwise (speed does
   not depend on the values), with the models of the figure that the companion does not have listed.

No timing is asserted anywhere; the numbers are printed (and written with ``--json``).

    python benchmarks/carn_speed.py                        # default routes and Fig. 2.12, about 2 min on 2 cores
    python benchmarks/carn_speed.py --routes eager,fast --no-figure --repeats 3
    python benchmarks/carn_speed.py --routes eager,channels-last,jit,compile,bf16,ort-unfolded,fast --json out.json
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUTES = ("eager", "channels-last", "jit", "compile", "bf16", "ort-unfolded", "fast")
DEFAULT_ROUTES = ("eager", "channels-last", "jit", "fast")
#: The issue's measurement of the authors' code outside the project (2-core AVX2 machine, ×4 to 1280×720).
ISSUE_REFERENCE = {"CARN": 2.9, "CARN-M": 2.2}
#: Fig. 2.12's models (§2.4.8) and whether the companion has them.
FIG_2_12_OTHERS = ("SRGAN", "SRResNet", "ENet", "TSRN-G", "ESRGAN", "G-MGBP", "EPSR")
#: The Fig. 2.12 rows the companion can run: label, model, reading, weight files tried (catalogue name, file).
FIG_2_12_ROWS = (
    ("CARN-M (authors' code)", "carn_m", "code", ("carn-m", "carn_m.pth")),
    ("PCARN-M", "carn_m", "thesis", ("pcarn-m", "PCARN-M.pth")),
    ("CARN (authors' code)", "carn", "code", ("carn", "carn.pth")),
    ("PCARN", "carn", "thesis", ("pcarn", "PCARN.pth")),
)


def parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes are HEIGHTxWIDTH, e.g. 720x1280; got {text!r}") from None
    if h < 4 or w < 4:
        raise argparse.ArgumentTypeError(f"size too small: {text!r}")
    return h, w


def parse_routes(text: str) -> tuple[str, ...]:
    routes = tuple(r.strip() for r in text.split(",") if r.strip())
    bad = [r for r in routes if r not in ROUTES]
    if bad or not routes:
        raise argparse.ArgumentTypeError(f"routes are a comma-separated subset of {','.join(ROUTES)}; got {text!r}")
    if "eager" not in routes:
        routes = ("eager",) + routes  # the reference every other route is compared with
    return routes


def arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds after one warm-up (default 5)")
    parser.add_argument("--output", type=parse_size, default=(720, 1280),
                        help="HR output HEIGHTxWIDTH, divisible by 4 (default 720x1280, the thesis' Mult-Adds size)")
    parser.add_argument("--routes", type=parse_routes, default=DEFAULT_ROUTES,
                        help=f"CARN-M routes, a subset of {','.join(ROUTES)} (default {','.join(DEFAULT_ROUTES)}; "
                             "'compile' compiles for about 20 s on 2 cores)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads and ONNX Runtime's intra-op threads (default: torch's, the cores)")
    parser.add_argument("--weights", type=Path, default=ROOT.parent / "shared" / "weights",
                        help="folder with the authors' .pth files (default ../shared/weights); the `companion "
                             "download` folder is tried first")
    parser.add_argument("--gemm-n", type=int, default=3072, help="side of the fp32 matmul for the GEMM rate")
    parser.add_argument("--idle-sample", type=float, default=2.0,
                        help="seconds to sample the machine's load before and after the run (default 2)")
    parser.add_argument("--no-figure", action="store_true", help="skip the Fig. 2.12 table (CARN-M routes only)")
    parser.add_argument("--json", type=Path, default=None, help="also write every number here")
    args = parser.parse_args(argv)
    if args.output[0] % 4 or args.output[1] % 4:
        parser.error(f"--output must be divisible by 4 (×4 SR); got {args.output[0]}x{args.output[1]}")
    if args.idle_sample < 0:
        parser.error("--idle-sample must be >= 0")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


# --------------------------------------------------------------------------------------------------------
# The machine.


def cpu_info(torch) -> dict:
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name in ("unknown CPU", platform.processor()):
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {"name": name, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "isa": str(torch.backends.cpu.get_cpu_capability()),
            "avx512": "avx512f" in flags, "avx2": "avx2" in flags}


def _cpu_times() -> tuple[int, int] | None:
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields), idle


def busy_fraction(seconds: float = 2.0) -> float | None:
    """Share of all CPUs busy during ``seconds`` while this process sleeps: the rest of the machine's load."""
    start = _cpu_times()
    time.sleep(seconds)
    end = _cpu_times()
    if start is None or end is None or end[0] == start[0]:
        return None
    return 1.0 - (end[1] - start[1]) / (end[0] - start[0])


class OthersLoad:
    """The share of all CPUs that *other* processes used between ``start()`` and ``stop()``: busy time from
    /proc/stat less this process's own CPU time (os.times), over wall time × cores. None where unreadable."""

    def __init__(self):
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.begin = None

    def _now(self):
        times = _cpu_times()
        own = os.times()
        return None if times is None else (times, own.user + own.system, time.perf_counter())

    def start(self) -> None:
        self.begin = self._now()

    def stop(self) -> float | None:
        end = self._now()
        if self.begin is None or end is None:
            return None
        (total0, idle0), own0, wall0 = self.begin
        (total1, idle1), own1, wall1 = end
        busy = ((total1 - idle1) - (total0 - idle0)) / self.tick - (own1 - own0)
        span = (wall1 - wall0) * (os.cpu_count() or 1)
        return None if span <= 0 else min(1.0, max(0.0, busy / span))


def gemm_rate(torch, n: int, repeats: int = 5) -> dict:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return {"n": n, "seconds": best, "gflops": 2 * n ** 3 / best / 1e9}


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# --------------------------------------------------------------------------------------------------------
# Models and routes.


def load_model(model: str, reading: str, names: tuple[str, str], weights_dir: Path):
    """(network, where its weights came from): the authors' file when one is found, else default init."""
    import torch

    from companion.ch2.authors_weights import load_authors_carn
    from companion.errors import CompanionError
    from companion.models import build_model

    catalogue, filename = names
    for source in (catalogue, weights_dir / filename):
        try:
            net = load_authors_carn(source)
        except CompanionError:
            continue
        if net.config.get("reading") == reading:
            where = f"authors' {filename}" if isinstance(source, Path) else f"authors' {catalogue} (downloaded)"
            return net.eval(), where
    torch.manual_seed(0)
    net = build_model(model, "paper", reading=reading).eval()
    return net, f"random weights, PyTorch default init ({filename} not found)"


def test_image(torch, output: tuple[int, int]):
    """1×3×(H/4)×(W/4) in [0, 1]: scikit-image's embedded 'chelsea' photograph resized (antialiased bicubic)."""
    import numpy as np
    from skimage import data

    img = torch.from_numpy(np.ascontiguousarray(data.chelsea())).permute(2, 0, 1)[None].float() / 255
    lr = torch.nn.functional.interpolate(img, size=(output[0] // 4, output[1] // 4), mode="bicubic",
                                         antialias=True, align_corners=False)
    return lr.clamp(0, 1).contiguous()


def build_route(route: str, net, x, threads: int):
    """(callable x → output, seconds it took to build, note)."""
    import torch

    from companion.engine.fast_inference import accelerate

    bound = net.at_scale(4).eval()
    t = time.perf_counter()
    note = ""
    if route == "eager":
        def run(inp):
            with torch.no_grad():
                return bound(inp)
    elif route == "channels-last":
        fast = accelerate(net, scale=4, backend="channels-last", report=None)
        run = fast
    elif route == "jit":
        model = copy.deepcopy(bound)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x).eval()))

        def run(inp):
            with torch.no_grad():
                return frozen(inp)
    elif route == "compile":
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        model = copy.deepcopy(bound)
        compiled = torch.compile(model, dynamic=False)

        def run(inp):
            with torch.no_grad():
                return compiled(inp)
        run(x)  # compile here, not in the timed rounds
        note = "inductor, freezing, compiled on the first call"
    elif route == "bf16":
        fast = accelerate(net, scale=4, backend="channels-last", report=None)
        model = fast._runner.model

        def run(inp):
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                return model(inp.contiguous(memory_format=torch.channels_last)).float()
        note = "bf16 autocast, channels-last (not exact)"
    elif route == "ort-unfolded":
        from companion.engine.fast_inference import FastModel, _OnnxRuntime

        run = FastModel(_OnnxRuntime(bound, threads, fold=False), "onnxruntime", threads=threads)
        note = "ONNX Runtime, exported graph as it is"
    elif route == "fast":
        fast = accelerate(net, scale=4, threads=threads)
        run = fast
        note = f"accelerate(): {fast.label}" + (f"; {'; '.join(fast.notes)}" if fast.notes else "")
    else:
        raise ValueError(route)
    return run, time.perf_counter() - t, note


def time_interleaved(runs: dict, x, repeats: int) -> dict[str, list[float]]:
    """(seconds per call of every callable in ``runs``, the others' CPU share meanwhile): one warm-up call each,
    then ``repeats`` rounds of one call of each, in turn."""
    for run in runs.values():
        run(x)
    times = {key: [] for key in runs}
    load = OthersLoad()
    load.start()
    for _ in range(repeats):
        for key, run in runs.items():
            times[key].append(_timed(lambda: run(x)))
    return times, load.stop()


def max_diff(a, b) -> float:
    return float((a.float() - b.float()).abs().max())


# --------------------------------------------------------------------------------------------------------
# Output.


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])


def main(argv=None) -> int:
    args = arguments(argv)
    import torch

    from companion.analysis.costs import mult_adds
    from companion.engine.fast_inference import available_backends

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    out_h, out_w = args.output
    results: dict = {"output": [out_h, out_w], "input": [out_h // 4, out_w // 4], "repeats": args.repeats}

    # 1. the machine
    busy_before = busy_fraction(args.idle_sample)
    machine = cpu_info(torch)
    gemm = gemm_rate(torch, args.gemm_n)
    backends = available_backends()
    results.update(machine=machine, gemm=gemm, busy_before=busy_before, backends=backends)
    print(f"machine: {machine['name']}, {machine['cores']} cores, PyTorch {torch.__version__} on {threads} "
          f"threads, ISA {machine['isa']}", flush=True)
    print(f"others' load just before: {_pct(busy_before)} of the CPUs busy; fp32 GEMM ({gemm['n']}² matmul): "
          f"{gemm['gflops']:.1f} GFLOP/s", flush=True)
    for name, problem in backends.items():
        if problem:
            print(f"backend {name}: {problem}", flush=True)

    # 2. CARN-M, every route
    x = test_image(torch, args.output)
    carn_m, source = load_model("carn_m", "code", ("carn-m", "carn_m.pth"), args.weights)
    macs = mult_adds(carn_m, 4, args.output)
    print(f"\nCARN-M ×4, {out_w // 4}×{out_h // 4} → {out_w}×{out_h}, {source}; Mult-Adds {macs / 1e9:.2f} G "
          f"(exact: {macs:,})", flush=True)
    runs, built = {}, {}
    for route in args.routes:
        try:
            runs[route], seconds, note = build_route(route, carn_m, x, threads)
        except Exception as exc:  # a route that cannot run here is reported, the others go on
            print(f"  {route}: cannot run here ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
                  flush=True)
            continue
        built[route] = {"build_s": seconds, "note": note}
        print(f"  {route}: ready in {seconds:.1f} s{(' (' + note + ')') if note else ''}", flush=True)
    outputs = {route: run(x) for route, run in runs.items()}
    times, others = time_interleaved(runs, x, args.repeats)
    during = [others]
    eager_best = min(times["eager"])
    rows, route_results = [], {}
    for route in runs:
        best, median = min(times[route]), statistics.median(times[route])
        diff = max_diff(outputs[route], outputs["eager"])
        gflops = 2 * macs / best / 1e9
        route_results[route] = dict(best_s=best, median_s=median, times_s=times[route], speedup=eager_best / best,
                                    max_abs_diff=diff, gflops=gflops, gemm_share=gflops / gemm["gflops"],
                                    **built[route])
        rows.append([route, f"{best:.3f}", f"{median:.3f}", f"{eager_best / best:.2f}×", f"{diff:.1e}",
                     f"{gflops:.1f}", _pct(gflops / gemm["gflops"])])
    print(table(["route", "best s", "median s", "speed-up", "max |Δ| vs eager", "GFLOP/s", "of GEMM rate"], rows))
    results["carn_m"] = {"weights": source, "mult_adds": macs, "routes": route_results, "others_load": others}
    print(f"others' load during these timings: {_pct(others)} of the CPUs", flush=True)

    # 3. Fig. 2.12, CPU half
    if not args.no_figure:
        fig_rows, fig_results = [], []
        print(f"\nFig. 2.12, CPU half: ×4 to {out_w}×{out_h} on this machine ({threads} threads), eager vs fast",
              flush=True)
        for label, model, reading, names in FIG_2_12_ROWS:
            if model == "carn_m" and reading == "code" and "fast" in route_results:
                where, r, load = source, route_results, results["carn_m"]["others_load"]
                eager_s, fast_s, diff = r["eager"]["best_s"], r["fast"]["best_s"], r["fast"]["max_abs_diff"]
                m = macs
            else:
                net, where = load_model(model, reading, names, args.weights)
                m = mult_adds(net, 4, args.output)
                pair = {"eager": build_route("eager", net, x, threads)[0],
                        "fast": build_route("fast", net, x, threads)[0]}
                outs = {k: run(x) for k, run in pair.items()}
                t, load = time_interleaved(pair, x, args.repeats)
                during.append(load)
                eager_s, fast_s, diff = min(t["eager"]), min(t["fast"]), max_diff(outs["fast"], outs["eager"])
            fig_results.append(dict(label=label, model=model, reading=reading, weights=where, mult_adds=m,
                                    others_load=load,
                                    eager_s=eager_s, fast_s=fast_s, speedup=eager_s / fast_s, max_abs_diff=diff,
                                    eager_gflops=2 * m / eager_s / 1e9, fast_gflops=2 * m / fast_s / 1e9))
            fig_rows.append([label, where, f"{m / 1e9:.1f}", f"{eager_s:.3f}", f"{fast_s:.3f}",
                             f"{eager_s / fast_s:.2f}×", f"{diff:.1e}", f"{2 * m / eager_s / 1e9:.1f}",
                             f"{2 * m / fast_s / 1e9:.1f}", _pct(load)])
            print(f"  {label}: done", flush=True)
        print(table(["model", "weights", "Mult-Adds G", "eager s", "fast s", "speed-up", "max |Δ|",
                     "eager GFLOP/s", "fast GFLOP/s", "others' load"], fig_rows))
        print(f"Not in the companion (Fig. 2.12 shows them too): {', '.join(FIG_2_12_OTHERS)}. The figure's times "
              "survive only as a scatter (no numbers); its text says PCARN-M is the fastest on the CPU (Intel i5 "
              "@3.3 GHz). The issue measured the authors' code at "
              f"{ISSUE_REFERENCE['CARN']} s (CARN) and {ISSUE_REFERENCE['CARN-M']} s (CARN-M) on a 2-core AVX2 "
              "machine.")
        results["figure_2_12"] = fig_results

    busy_after = busy_fraction(args.idle_sample)
    results["busy_after"] = busy_after
    loads = [busy_before, busy_after, *during]
    idle = all(v is not None for v in loads) and max(loads) < 0.10
    results.update(idle=idle, others_load_during=during)
    print(f"\nothers' load: {_pct(busy_before)} just before, {_pct(busy_after)} just after, at most "
          f"{_pct(max((v for v in during if v is not None), default=None))} during the timed rounds: the machine "
          f"was {'idle' if idle else 'NOT idle (or unknown): compare the runs with care'}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1, default=str))
        print(f"wrote {args.json}")
    return 0


def _pct(value) -> str:
    return "unknown" if value is None else f"{100 * value:.0f} %"


if __name__ == "__main__":
    sys.exit(main())
