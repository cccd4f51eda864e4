"""Latency of the SHDD playground (notebook 07a) on a 512 × 512 image: the kernel's part of an update.

Prints milliseconds per update: a new strength for one region (distort that region, compose, encode), and the
same setting again (cache hit: compose + encode only), with the size of what goes to the browser. The
default encoding is the widget's (JPEG q95 4:4:4, ``companion.ch7.playground.encode_image``); ``--lossless``
measures the uncompressed PNG instead. The browser's part (comm message, decode, paint) is measured by
``tests/test_browser.py`` (``runs/browser/latency.json``).
Usage: python benchmarks/playground.py [--size 512] [--lossless]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from companion.ch7.playground import SHDDPlayground, encode_image, grid_boxes
from companion.ch7.shdd import SHDD_RANGES
from companion.data.images import embedded_image
from companion.data.references import fit_square


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--grid", type=int, default=2, help="rows = columns of the region grid")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--lossless", action="store_true", help="send uncompressed PNG instead of JPEG")
    args = parser.parse_args()
    image = fit_square(embedded_image("astronaut"), args.size)
    play = SHDDPlayground(image)
    boxes = grid_boxes(args.size, args.size, args.grid, args.grid)
    base = [("identity", 0.0)] * len(boxes)
    encoding = "PNG, uncompressed" if args.lossless else "JPEG q95 4:4:4"
    print(f"SHDD playground, {args.size}x{args.size}, {args.grid}x{args.grid} regions, one region changed per "
          f"update, {encoding}")
    print(f"{'distortion':<18}{'new strength (ms)':>20}{'cached (ms)':>14}{'sent (KB)':>12}")
    for kind, (lo, hi) in SHDD_RANGES.items():
        fresh, cached, sizes = [], [], []
        for strength in np.linspace(lo, hi, args.repeats):
            settings = list(base)
            settings[0] = (kind, float(strength))
            for bucket in (fresh, cached):
                t = time.perf_counter()
                out, _ = play.render(boxes, settings)
                sizes.append(len(encode_image(out, lossless=args.lossless)))
                bucket.append(1000 * (time.perf_counter() - t))
        print(f"{kind:<18}{statistics.median(fresh):>20.1f}{statistics.median(cached):>14.1f}"
              f"{statistics.median(sizes) / 1024:>12.0f}")


if __name__ == "__main__":
    main()
