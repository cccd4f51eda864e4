"""Latency of the SHDD playground (notebook 07a) on a 512 × 512 image, as a user moving sliders sees it.

Prints milliseconds per update: a new strength for one region (distort that region, compose, encode PNG), and
the same setting again (cache hit: compose + encode only). Usage: python benchmarks/playground.py [--size 512]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from companion.ch7.playground import SHDDPlayground, grid_boxes, png_bytes
from companion.ch7.shdd import SHDD_RANGES
from companion.data.images import embedded_image
from companion.data.references import fit_square


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--grid", type=int, default=2, help="rows = columns of the region grid")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    image = fit_square(embedded_image("astronaut"), args.size)
    play = SHDDPlayground(image)
    boxes = grid_boxes(args.size, args.size, args.grid, args.grid)
    base = [("identity", 0.0)] * len(boxes)
    print(f"SHDD playground, {args.size}x{args.size}, {args.grid}x{args.grid} regions, one region changed per update")
    print(f"{'distortion':<18}{'new strength (ms)':>20}{'cached (ms)':>14}")
    for kind, (lo, hi) in SHDD_RANGES.items():
        fresh, cached = [], []
        for strength in np.linspace(lo, hi, args.repeats):
            settings = list(base)
            settings[0] = (kind, float(strength))
            for bucket in (fresh, cached):
                t = time.perf_counter()
                out, _ = play.render(boxes, settings)
                png_bytes(out)
                bucket.append(1000 * (time.perf_counter() - t))
        print(f"{kind:<18}{statistics.median(fresh):>20.1f}{statistics.median(cached):>14.1f}")


if __name__ == "__main__":
    main()
