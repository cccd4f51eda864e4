"""``restore``'s time and peak memory on a 512 px and a 3000×2000 photograph: one tile against the tiling chosen
from the memory budget (``companion.engine.inference.auto_tiles``), with the largest difference in 8-bit levels.

Each case runs in a fresh process (``python -m companion restore`` on a synthetic photograph: smooth texture
plus noise, seeded), so its peak resident memory (``ru_maxrss`` of the child) is its own. Writes
``benchmarks/results/restore_memory.json`` with the date, the CPU (``lscpu``) and the companion commit.
No timing is asserted anywhere.

    python benchmarks/restore_memory.py                 # the default model (zoo), both sizes
    python benchmarks/restore_memory.py --model dncnn --sizes 512x512
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from companion.ch7.commands import DEFAULT_MODEL  # noqa: E402
from companion.session import git_commit  # noqa: E402


def photograph(height: int, width: int, seed: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((height, width, 3), np.float32)
    for c in range(3):
        fy, fx, p = rng.uniform(0.005, 0.05, 3)
        out[..., c] = 0.5 + 0.3 * np.sin(xx * fx + p) * np.cos(yy * fy)
    out += rng.normal(0, 0.05, out.shape).astype(np.float32)
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def lscpu() -> dict:
    text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in fields.items() if k.strip() in ("Model name", "CPU(s)", "Architecture")}


#: Runs the command in the child and prints that process's own peak resident memory (KiB) last on stderr.
CHILD = ("import resource, sys\nfrom companion.cli import main\ncode = main(sys.argv[1:])\n"
         "print('peak_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\nsys.exit(code)")


def run_case(image: Path, out: Path, model: str, tiles: list[str]) -> dict:
    argv = ["restore", str(image), "--model", model, "--out", str(out), "--overwrite", "--device", "cpu", *tiles]
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *argv], cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.strip()[-2000:]}")
    peak = int(done.stderr.strip().splitlines()[-1].split()[-1])
    line = [ln for ln in done.stdout.splitlines() if " -> " in ln][-1]
    return {"argv": argv[2:], "process_seconds": round(seconds, 2), "peak_rss_gb": round(peak / 2**20, 3),
            "line": line}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--sizes", nargs="+", default=["512x512", "3000x2000"], help="WIDTHxHEIGHT")
    parser.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "restore_memory.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            width, height = map(int, size.split("x"))
            image = Path(tmp) / f"photo_{size}.png"
            Image.fromarray(photograph(height, width)).save(image)
            outputs = {}
            for name, tiles in (("memory budget", []), ("one tile", ["--tiles", "1", "1"])):
                out = Path(tmp) / name.replace(" ", "_")
                row = {"size": size, "tiling": name, **run_case(image, out, args.model, tiles)}
                outputs[name] = np.asarray(Image.open(out / f"{image.stem}_restored.png"), dtype=np.int16)
                rows.append(row)
                print(json.dumps(row))
            rows[-1]["max_level_difference_vs_budget"] = int(np.abs(outputs["one tile"] - outputs["memory budget"]).max())
    result = {"date": datetime.date.today().isoformat(), "cpu": lscpu(), "commit": git_commit(REPO),
              "model": args.model, "python": sys.version.split()[0], "cpus": os.cpu_count(), "rows": rows,
              "note": "peak_rss_gb: the restoring process's own peak resident memory (ru_maxrss); "
                      "process_seconds includes start-up and loading the model; the line is the command's own"}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
