"""Argument types of the command line: each checks a value and says what is wrong in one line.

``argparse`` calls them while parsing, so a bad value stops the command before anything is written; the
parser (:func:`companion.cli.build_parser`) prints ``error: <message>`` and exits with status 2.
:func:`check_seed` is the same seed check for Python callers (the runner, a notebook's ``start``).

Imports nothing but the standard library: the parser uses it before anything heavy loads.
"""
from __future__ import annotations

import argparse
import math
import operator
from pathlib import Path

from companion.errors import CompanionError

#: Seeds are 32-bit unsigned integers (NumPy's legacy seeding and most tools accept exactly these), and a
#: notebook with several seeds uses SEED, SEED + 1, ...: keep room for them.
MAX_SEED = 2**32 - 1 - 1000


def check_seed(value) -> int:
    """``value`` as a plain ``int`` if it is a whole number from 0 to :data:`MAX_SEED` (Python or NumPy
    integer; not a bool, float or string), else raise a :class:`CompanionError` saying so."""
    if isinstance(value, bool):
        raise CompanionError(f"seed must be a whole number, got {value!r}; use one between 0 and {MAX_SEED:,}")
    try:
        number = operator.index(value)
    except TypeError:
        raise CompanionError(f"seed must be a whole number, got {value!r}; use one between 0 and {MAX_SEED:,}"
                             ) from None
    if not 0 <= number <= MAX_SEED:
        raise CompanionError(f"seed must be between 0 and {MAX_SEED:,}, got {number}")
    return int(number)


def _whole_number(text: str, low: int, high: int | None, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} must be a whole number, got {text!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high:,}" if high is not None else f">= {low}"
        raise argparse.ArgumentTypeError(f"{name} must be {bounds}, got {value}")
    return value


def seed(text: str) -> int:
    """A seed: a whole number from 0 to :data:`MAX_SEED` (the bounds of :func:`check_seed`)."""
    return _whole_number(text, 0, MAX_SEED, "seed")


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    return _whole_number(text, 1, None, "the value")


def non_negative_int(text: str) -> int:
    """A whole number >= 0."""
    return _whole_number(text, 0, None, "the value")


def positive_float(text: str) -> float:
    """A finite number > 0 (not nan, not inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _creatable(path: Path, *, want: str) -> Path:
    """``path`` if it can be created or reused as a ``want`` ("folder" or "file"), else a one-line error."""
    if path.exists() and path.is_dir() != (want == "folder"):
        raise argparse.ArgumentTypeError(f"{path} is a folder; name a file" if want == "file"
                                         else f"{path} is a file; name a folder (it is created if missing)")
    for parent in path.parents:  # the nearest existing ancestor must be a folder
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"{path} cannot be created: {parent} is a file")
            break
    return path


def out_folder(text: str) -> Path:
    """An output folder: it may not exist yet (it is created), but it may not be a file."""
    return _creatable(Path(text).expanduser(), want="folder")


def out_file(text: str) -> Path:
    """An output file: it may not exist yet, but it may not be a folder."""
    return _creatable(Path(text).expanduser(), want="file")


def existing_folder(text: str) -> Path:
    """A folder that exists."""
    path = Path(text).expanduser()
    if not path.is_dir():
        problem = "is a file, not a folder" if path.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"{path} {problem}")
    return path


def generator_command(data_sub, name: str, *, help: str, source_help: str, sets: tuple[str, ...], set_help: str,
                      run):
    """Add ``data NAME`` with the options every dataset generator shares (--source, --out, --level, --seed,
    --workers; the generator writes into ``OUT/NAME/``); ``run(args, sets)`` gets the chosen sets (all when none is given). Returns the parser, for
    the generator's own options."""
    parser = data_sub.add_parser(name, help=help)
    parser.add_argument("--source", default="bundled", help=f"{source_help} (default: bundled)")
    parser.add_argument("--out", required=True, type=out_folder,
                        help=f"output folder: the dataset is written into OUT/{name}/ (e.g. --out data: data/{name}/)")
    parser.add_argument("--level", action="append", choices=sets, help=set_help + " (repeatable; default all)")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--workers", type=positive_int, default=1, help="processes (default 1)")
    parser.set_defaults(func=lambda args: run(args, tuple(args.level) if args.level else tuple(sets)) or 0)
    return parser


def source_of(args):
    """``--source`` as the generators take it: "bundled" or a Path."""
    return args.source if args.source == "bundled" else Path(args.source)


def print_build(name: str, report) -> None:
    """One line about a finished generator run."""
    print(f"{name}: {report.n_written} written, {report.n_skipped} already done, {report.seconds:.1f} s -> "
          f"{report.out}")
