"""Chapter 6's command: ``python -m companion data flickr-distortion`` (registered by :mod:`companion.cli`)."""
from __future__ import annotations

from pathlib import Path

from companion import arguments


def add_data_commands(data_sub) -> None:
    """``data flickr-distortion``."""
    p = data_sub.add_parser("flickr-distortion", help="generate Flickr-Distortion (thesis §6.2)")
    p.add_argument("--source", default="bundled", help="'bundled' (embedded images) or a folder of references")
    p.add_argument("--out", required=True, type=arguments.out_folder, help="output folder")
    p.add_argument("--level", action="append", choices=("classification", "basic", "difficult"),
                   help="set to generate (repeatable; default all)")
    p.add_argument("--seed", type=arguments.seed, default=0)
    p.add_argument("--workers", type=arguments.positive_int, default=1, help="processes (default 1)")
    p.add_argument("--per-reference", type=arguments.positive_int, default=20,
                   help="detection images per reference (paper: 20)")
    p.set_defaults(func=_data_flickr)


def _data_flickr(args) -> int:
    from companion.ch6.flickr_distortion import SETS, build_flickr_distortion

    source = args.source if args.source == "bundled" else Path(args.source)
    sets = tuple(args.level) if args.level else tuple(SETS)
    report = build_flickr_distortion(source=source, out=args.out, sets=sets, seed=args.seed, workers=args.workers,
                                     per_reference=args.per_reference)
    print(f"flickr-distortion: {report.n_written} written, {report.n_skipped} already done, "
          f"{report.seconds:.1f} s -> {report.out}")
    return 0
