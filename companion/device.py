"""Device selection and seeding shared by every notebook. Nothing in the companion assumes a CPU.

NumPy and PyTorch load only when a device is resolved or a seed set, so checking a device name (what the
command line does before anything runs) stays instant.
"""
from __future__ import annotations

import random
from contextlib import contextmanager
from typing import TYPE_CHECKING

from companion.arguments import check_seed
from companion.errors import CompanionError

if TYPE_CHECKING:
    import numpy as np

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def check_device(name: str) -> str:
    """Validate a device name (``auto``, ``cpu``, ``cuda`` or ``cuda:N``) and that CUDA exists when asked for."""
    base = name.split(":", 1)[0]
    if base not in DEVICE_CHOICES or (":" in name and (base != "cuda" or not name.split(":", 1)[1].isdigit())):
        raise CompanionError(f"unknown device {name!r}; choose one of auto, cpu, cuda (or cuda:N)")
    if base == "cuda":
        # reason: start-up time; checking a device name (the CLI, the runner) loads no PyTorch unless CUDA is named
        import torch

        if not torch.cuda.is_available():
            raise CompanionError(f"device {name!r} asked for, but PyTorch sees no CUDA GPU here; "
                                 "use --device auto or --device cpu")
        index = int(name.split(":", 1)[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise CompanionError(f"device {name!r} asked for, but only {torch.cuda.device_count()} CUDA "
                                 "device(s) are visible; pick a smaller index")
    return name


def resolve_device(name: str = "auto"):
    """The :class:`torch.device` for ``name``: ``auto`` means CUDA when available, else CPU."""
    import torch  # reason: start-up time; the runner imports this module (through session) without PyTorch

    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA); return a NumPy Generator for the caller to use.

    ``seed`` is a whole number from 0 to :data:`companion.arguments.MAX_SEED` (a CompanionError otherwise).
    """
    # reason: start-up time; the runner imports this module (through session) without NumPy or PyTorch
    import numpy as np
    import torch  # reason: as NumPy, above

    seed = check_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


@contextmanager
def torch_threads(threads: int = 1):
    """Run the block on ``threads`` PyTorch CPU threads and restore the previous count after it (small
    convolutions on a busy two-core CPU evaluate far faster on one thread than on two)."""
    import torch  # reason: start-up time; the runner imports this module (through session) without PyTorch

    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)
