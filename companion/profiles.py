"""Profiles as data: every notebook has a ``smoke``, ``quick`` and ``full`` instance of a frozen dataclass.

- ``smoke``: seconds per notebook; every code path runs on tiny inputs. The tests use it.
- ``quick``: CPU, embedded images, a few minutes per notebook; meaningful small-scale results. The committed
  ``figures/`` come from it.
- ``full``: the papers' real settings (patch size, batch, iterations, LR schedule, full datasets), meant for
  a GPU runner.

Each chapter package (``companion/<chapter>/``) declares its notebooks' profiles in its ``config.py`` as
``NOTEBOOKS = {notebook file stem: {profile: config}}``; :func:`notebook_configs` finds every such module, so a
new chapter registers its notebooks by adding its package and nothing here changes. Config modules hold only
dataclasses and import no PyTorch, which keeps ``python -m companion list`` fast. A notebook asks for its
settings with ``config_for("07a_shdd", PROFILE)``; nothing else in a notebook hard-codes sizes or step counts.
"""
from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from pathlib import Path

from companion.errors import CompanionError

PROFILES: tuple[str, ...] = ("smoke", "quick", "full")
_PACKAGE_DIR = Path(__file__).resolve().parent


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is one of :data:`PROFILES`, else raise a one-line error naming them."""
    if profile not in PROFILES:
        raise CompanionError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return profile


def chapter_packages() -> list[str]:
    """Names of the subpackages of ``companion`` that have a ``config.py`` (the chapter packages), sorted."""
    return sorted(m.name for m in pkgutil.iter_modules([str(_PACKAGE_DIR)])
                  if m.ispkg and (_PACKAGE_DIR / m.name / "config.py").is_file())


@lru_cache(maxsize=1)
def notebook_configs() -> dict[str, dict[str, object]]:
    """Every notebook's profiles, ``{notebook stem: {profile: config}}``, gathered from the chapter packages."""
    found: dict[str, dict[str, object]] = {}
    for package in chapter_packages():
        module = importlib.import_module(f"companion.{package}.config")
        for notebook, profiles in getattr(module, "NOTEBOOKS", {}).items():
            if notebook in found:
                raise CompanionError(f"notebook {notebook!r} is declared by two chapter packages; keep one")
            if set(profiles) != set(PROFILES):
                raise CompanionError(f"companion.{package}.config declares profiles {sorted(profiles)} for "
                                     f"{notebook!r}; it needs exactly {', '.join(PROFILES)}")
            found[notebook] = profiles
    return found


def config_for(notebook: str, profile: str):
    """The settings of ``notebook`` (file stem, e.g. ``"00_quickstart"``) under ``profile``."""
    check_profile(profile)
    configs = notebook_configs()
    if notebook not in configs:
        raise CompanionError(f"no profiles for notebook {notebook!r}; declare them in NOTEBOOKS of its chapter's "
                             f"config.py (known: {', '.join(sorted(configs))})")
    return configs[notebook][profile]
