"""SHDD generator speed on 2K images: the naive "whole" method against the "regional" one (thesis §7.3).

The authors' generator distorts the whole image once per region and keeps the region ("whole"); the
companion distorts each region plus its context margin only ("regional", see companion.data.regions). Both run
here on the same images with the same plans (lines, types, strengths drawn from the same seed), level
moderate, so the only difference is the method.

Images: the first ``--n`` DIV2K HR images when the data root (``COMPANION_DATA``) has DIV2K, otherwise
embedded photographs mirror-padded to DIV2K's typical 1356×2040. Prints images/s per method, the speed-up,
the mean cost of one region per type under each method, and the cost of writing one sample's three files
(distorted PNG, label PNG, JSON record), which the build adds on top of either method.

    python benchmarks/shdd_generator.py --n 8 --workers 1
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from companion.processes import process_pool

H2K, W2K = 1356, 2040
LEVEL = "moderate"


def image_2k(i: int, use_div2k: bool) -> np.ndarray:
    from companion.data.images import EMBEDDED_IMAGES, embedded_image, load_image

    if use_div2k:
        from companion.data.folders import div2k_hr_paths

        return load_image(div2k_hr_paths(None, "train")[i])
    img = embedded_image(sorted(EMBEDDED_IMAGES)[i % len(EMBEDDED_IMAGES)])
    pad = ((0, max(0, H2K - img.shape[0])), (0, max(0, W2K - img.shape[1])), (0, 0))
    return np.ascontiguousarray(np.pad(img, pad, mode="symmetric")[:H2K, :W2K])


def one_image(args) -> dict:
    """Time both methods on image ``i`` with one plan; per-type region costs; file writing."""
    from companion.atomic import atomic_write_text
    from companion.data.distortions import DISTORTIONS
    from companion.data.images import save_image, save_label_map
    from companion.ch7.shdd import SHDD_TYPES, plan_regions
    from companion.data.regions import distort_regions

    i, seed, use_div2k = args
    img = image_2k(i, use_div2k)
    h, w = img.shape[:2]
    _, regions = plan_regions(h, w, LEVEL, np.random.default_rng([seed, i]))
    result = {"seconds": {}, "types": {}, "regions": len(regions)}
    for method in ("whole", "regional"):
        t = time.perf_counter()
        distorted, labels = distort_regions(img, regions, np.random.default_rng([seed, i, 1]), method,
                                           names=SHDD_TYPES)
        result["seconds"][method] = time.perf_counter() - t
    for r in regions:  # per-region cost of each type under each method (the distortion call alone)
        if r["type"] == "identity":  # distort_regions skips identity regions: free under both methods
            result["types"].setdefault("identity", []).append((0.0, 0.0))
            continue
        spec, rng = DISTORTIONS[r["type"]], np.random.default_rng(0)
        m = spec.margin(r["strength"])
        window = img[max(0, r["ymin"] - m):r["ymax"] + m, max(0, r["xmin"] - m):r["xmax"] + m]
        costs = result["types"].setdefault(r["type"], [])
        t0 = time.perf_counter()
        spec.fn(window, r["strength"], rng)
        t1 = time.perf_counter()
        spec.fn(img, r["strength"], rng)
        costs.append((t1 - t0, time.perf_counter() - t1))
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        save_image(Path(tmp) / "d.png", distorted)
        save_label_map(Path(tmp) / "l.png", labels)
        atomic_write_text(Path(tmp) / "r.json", json.dumps({"regions": regions}, sort_keys=True, indent=1))
        result["write"] = time.perf_counter() - t
    result["size"] = (h, w)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="number of 2K images (default 8)")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    use_div2k = False
    try:
        from companion.data.folders import div2k_hr_paths

        use_div2k = len(div2k_hr_paths(None, "train")) >= args.n
    except Exception:  # no data root / no DIV2K: embedded images padded to 2K
        pass
    jobs = [(i, args.seed, use_div2k) for i in range(args.n)]
    t = time.perf_counter()
    if args.workers > 1:
        with process_pool(args.workers) as pool:
            results = list(pool.map(one_image, jobs))
    else:
        results = [one_image(j) for j in jobs]
    wall = time.perf_counter() - t

    source = "DIV2K train" if use_div2k else "embedded images padded"
    sizes = {r["size"] for r in results}
    print(f"SHDD generator, level {LEVEL}: {args.n} images ({source}, {sorted(sizes)[0][1]}×{sorted(sizes)[0][0]} px), "
          f"{sum(r['regions'] for r in results)} regions, workers={args.workers} (benchmark wall {wall:.1f} s)")
    total = {m: sum(r["seconds"][m] for r in results) for m in ("whole", "regional")}
    write = sum(r["write"] for r in results)
    # times are per process; with W workers on W free cores the throughput is about W times the per-process one
    w = args.workers
    print(f"{'method':<10}{'s/image':>10}{f'img/s ({w} proc)':>17}{'incl. writing':>15}")
    for m in ("whole", "regional"):
        per = total[m] / args.n
        print(f"{m:<10}{per:>10.3f}{w / per:>17.2f}{w / (per + write / args.n):>15.2f}")
    print(f"speed-up regional vs whole: {total['whole'] / total['regional']:.1f}x (distortion only), "
          f"{(total['whole'] + write) / (total['regional'] + write):.1f}x incl. writing "
          f"({write / args.n:.3f} s/image to write the PNGs and record)")
    print(f"\n{'type':<18}{'regions':>8}{'whole ms':>10}{'regional ms':>13}")
    types = {}
    for r in results:
        for kind, costs in r["types"].items():
            types.setdefault(kind, []).extend(costs)
    for kind in sorted(types):
        costs = np.array(types[kind])
        print(f"{kind:<18}{len(costs):>8}{1000 * costs[:, 1].mean():>10.1f}{1000 * costs[:, 0].mean():>13.1f}")


if __name__ == "__main__":
    main()
