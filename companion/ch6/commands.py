"""Chapter 6's command: ``python -m companion data flickr-distortion`` (registered by :mod:`companion.cli`)."""
from __future__ import annotations

from companion import arguments


def add_data_commands(data_sub) -> None:
    """``data flickr-distortion``."""
    p = arguments.generator_command(
        data_sub, "flickr-distortion", help="generate Flickr-Distortion (thesis §6.2)",
        source_help="'bundled' (embedded images) or a folder of references",
        sets=("classification", "basic", "difficult"), set_help="set to generate", run=_data_flickr)
    p.add_argument("--per-reference", type=arguments.positive_int, default=20,
                   help="detection images per reference (paper: 20)")


def _data_flickr(args, sets) -> None:
    # reason: start-up time; the CLI imports this module for --help, which loads no NumPy
    from companion.ch6.flickr_distortion import build_flickr_distortion

    arguments.print_build("flickr-distortion", build_flickr_distortion(
        source=arguments.source_of(args), out=args.out, sets=sets, seed=args.seed, workers=args.workers,
        per_reference=args.per_reference))
