"""Argument types of the command line: each checks a value and says what is wrong in one line.

``argparse`` calls them while parsing, so a bad value stops the command before anything is written; the
parser (:func:`companion.cli.build_parser`) prints ``error: <message>`` and exits with status 2.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

#: Seeds are 32-bit unsigned integers (NumPy's legacy seeding and most tools accept exactly these), and a
#: notebook with several seeds uses SEED, SEED + 1, ...: keep room for them.
MAX_SEED = 2**32 - 1 - 1000


def seed(text: str) -> int:
    """A seed: a whole number from 0 to :data:`MAX_SEED`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a whole number, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed must be between 0 and {MAX_SEED:,}, got {value}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (not nan, not inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def out_folder(text: str) -> Path:
    """An output folder: it may not exist yet, but it may not be a file."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a file; --out needs a folder (it is created if missing)")
    return path


def existing_folder(text: str) -> Path:
    """A folder that exists."""
    path = Path(text).expanduser()
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"{path} {what}")
    return path
