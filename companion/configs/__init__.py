"""Profiles as data: one small frozen dataclass per notebook, with a ``smoke``, ``quick`` and ``full`` instance.

- ``smoke``: seconds per notebook; every code path runs on tiny inputs. The tests use it.
- ``quick``: CPU, embedded images, a few minutes per notebook; meaningful small-scale results. The committed
  ``figures/`` come from it.
- ``full``: the papers' real settings (patch size, batch, iterations, LR schedule, full datasets), meant for
  a GPU runner.

Each chapter's notebook has a module here; :data:`NOTEBOOK_CONFIGS` maps the notebook's file stem to its
profiles. A notebook asks for its settings with ``config_for("07a_shdd", PROFILE)``; nothing else in a notebook
hard-codes sizes or step counts.
"""
from __future__ import annotations

from companion.configs import distortion_datasets, mepsnet, quickstart, shdd
from companion.errors import CompanionError

PROFILES: tuple[str, ...] = ("smoke", "quick", "full")

NOTEBOOK_CONFIGS: dict[str, dict[str, object]] = {
    "00_quickstart": quickstart.PROFILES,
    "06a_distortion_datasets": distortion_datasets.PROFILES,
    "07a_shdd": shdd.PROFILES,
    "07b_mepsnet_training": mepsnet.TRAINING,
    "07c_ablations": mepsnet.ABLATIONS,
    "07d_what_experts_learn": mepsnet.ANALYSIS,
}


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is one of :data:`PROFILES`, else raise a one-line error naming them."""
    if profile not in PROFILES:
        raise CompanionError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return profile


def config_for(notebook: str, profile: str):
    """The settings of ``notebook`` (file stem, e.g. ``"00_quickstart"``) under ``profile``."""
    check_profile(profile)
    if notebook not in NOTEBOOK_CONFIGS:
        raise CompanionError(f"no profiles for notebook {notebook!r}; add a module to companion/configs/ "
                             f"and register it in NOTEBOOK_CONFIGS (known: {', '.join(sorted(NOTEBOOK_CONFIGS))})")
    return NOTEBOOK_CONFIGS[notebook][profile]
