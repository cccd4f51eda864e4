"""Chapter 5's part of the model zoo (:mod:`companion.zoo`): the offline networks of ``05_simusr``'s quick profile.

* ``ch5/05/simusr-<network>-seed<k>``: SimUSR, trained on the pseudo-pairs of the training photographs' clean LR
  images only (Table 5.1);
* ``ch5/05/simusr-bm3d-<network>-seed<k>``: SimUSR on the same photographs' noisy LR images after BM3D (Table
  5.3's "SimUSR+CARN"), for the seeds of the noisy ablation;
* ``ch5/05/supervised-<network>-seed<k>``: the supervised reference, the same network and recipe on the same
  photographs' (LR, HR) pairs (Table 5.1's "Supervised CARN").

All are trained by :func:`companion.ch5.simusr.train_network` (the one SR trainer, same-grid, MoA); ZSSR is not
here: it trains online, per test image, in the notebook (that is the point of the comparison). One trained
network is a :class:`TrainedNetwork` (the spec, its kind, its backbone); :meth:`TrainedNetwork.zoo_entry` is keyed
by :func:`companion.ch5.simusr.run_key` (data, network configuration, recipe, augmentation, seed). The experiment
finds an entry with ``companion.zoo.find(TrainedNetwork(spec, kind, network), seed)`` and loads it
(:func:`load_network`); this module never imports the experiments. The sidecar's ``val_psnr`` is the RGB PSNR on
the validation photograph's centre crop (coffee: never trained on, its HR image only judges).

``python -m companion zoo build ch5`` (re)trains what is stale or missing, resuming from checkpoints in the work
folder (``runs/quick/work/checkpoints/ch5-zoo``, or under ``$COMPANION_WORK_DIR``).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from companion.ch5 import simusr
from companion.ch5.config import NOTEBOOK, SimUSRSpec
from companion.errors import CompanionError
from companion.profiles import config_for
from companion.session import git_commit
from companion.summary import loss_curve
from companion.zoo import REPO_ROOT, ZooEntry, device_description, load_entry, save_entry, train_entries

#: The profile whose models the zoo holds.
PROFILE = NOTEBOOK, "quick"
LABELS = {"simusr": "SimUSR", "simusr-bm3d": "SimUSR (BM3D pool, noisy setting)", "supervised": "supervised"}


@dataclass(frozen=True)
class TrainedNetwork:
    """One offline network of a :class:`~companion.ch5.config.SimUSRSpec`: ``kind`` (``"simusr"``,
    ``"simusr-bm3d"``, ``"supervised"``) with backbone ``network``."""

    spec: SimUSRSpec
    kind: str
    network: str

    def __post_init__(self) -> None:
        simusr.check_kind(self.kind)

    def zoo_entry(self, seed: int) -> ZooEntry:
        """The zoo entry of this network trained with ``seed`` (for :func:`companion.zoo.find`)."""
        spec = self.spec
        config = simusr.recipe_config(spec, self.network)
        width = "".join(f", {k} {v}" for k, v in spec.simusr.overrides)
        label = f"{LABELS[self.kind]} {self.network.upper()} ({spec.simusr.size} size{width}, same-grid, x{spec.scale})"
        return ZooEntry(name=f"ch5/05/{self.kind}-{self.network}-seed{seed}", model=self.network, config=config,
                        key=simusr.run_key(spec, self.kind, self.network, seed), label=label)


def zoo_spec() -> SimUSRSpec:
    """The spec whose models the zoo holds (:data:`PROFILE`)."""
    return config_for(*PROFILE)


def declared(spec: SimUSRSpec | None = None) -> list[tuple[TrainedNetwork, int]]:
    """Every (network, seed) the profile's notebook evaluates: SimUSR and the supervised reference of every
    backbone for ``spec.seeds`` seeds, SimUSR on the BM3D pool for ``spec.noisy_seeds``."""
    spec = zoo_spec() if spec is None else spec
    out = []
    for network in spec.simusr.networks:
        out += [(TrainedNetwork(spec, "simusr", network), s) for s in range(spec.seeds)]
        if network == spec.supervised_network:
            out += [(TrainedNetwork(spec, "supervised", network), s) for s in range(spec.seeds)]
        out += [(TrainedNetwork(spec, "simusr-bm3d", network), s) for s in range(spec.noisy_seeds)]
    return out


def _planned() -> dict[str, tuple[TrainedNetwork, int]]:
    return {trained.zoo_entry(seed).name: (trained, seed) for trained, seed in declared()}


def entries() -> list[ZooEntry]:
    """The entries of :func:`declared`, in its order."""
    return [trained.zoo_entry(seed) for trained, seed in declared()]


def load_network(entry: ZooEntry) -> tuple[torch.nn.Module, dict]:
    """``(network in eval mode, record)`` of a current entry (:func:`companion.zoo.load_entry`, strict): the
    record holds ``steps``, ``seconds``, ``val`` and ``checkpoint`` = ``"zoo:<name>"``."""
    model, meta = load_entry(entry)
    return model, dict(steps=int(meta["steps"]), seconds=float(meta["seconds"]), val=meta.get("val", []),
                       checkpoint=f"zoo:{entry.name}")


# --------------------------------------------------------------------------------------------------------
# Building the entries.


def work_folder() -> Path:
    """Where the zoo's training checkpoints go (resumable): ``$COMPANION_WORK_DIR/checkpoints/ch5-zoo``, else
    ``runs/quick/work/checkpoints/ch5-zoo`` in the checkout."""
    base = os.environ.get("COMPANION_WORK_DIR")
    return (Path(base) if base else REPO_ROOT / "runs" / "quick" / "work") / "checkpoints" / "ch5-zoo"


def build_one(entry: ZooEntry, threads: int | None = 1, commit: str = "unknown", progress: bool = False) -> dict:
    """Train one entry (resuming its checkpoint) and write it into the zoo with its validation curve."""
    planned = _planned()
    if entry.name not in planned:
        raise CompanionError(f"{entry.name} is not an entry of the Chapter 5 zoo")
    trained, seed = planned[entry.name]
    model, result = simusr.train_network(trained.spec, trained.kind, trained.network, seed,
                                         checkpoint_dir=work_folder(), threads=threads, progress=progress)
    val = [[int(s), round(float(v), 3)] for s, v in result.val]
    crop = trained.spec.simusr.val_crop
    meta = {"seed": seed, "steps": result.steps_done, "seconds": round(result.seconds, 1),
            "device": device_description("cpu"), "commit": commit,
            "val_psnr": val[-1][1] if val else float("nan"),
            "val_images": [f"{trained.spec.split.validation[0]} (centre {crop} px, RGB PSNR, same-grid input; "
                           f"never trained on)"],
            "val": val, "loss_curve": loss_curve(result.losses, 40, digits=5),
            "built": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    save_entry(entry, model, meta)
    return meta


def build(entries, *, workers: int = 2, progress: bool = True) -> None:
    """Train ``entries`` (resumable), ``workers`` at a time with one thread each, with a progress bar."""
    train_entries(list(entries), build_one, commit=git_commit(), workers=workers, progress=progress,
                  desc="zoo build (ch5)", retry="python -m companion zoo build ch5")


__all__ = ["PROFILE", "TrainedNetwork", "zoo_spec", "declared", "entries", "load_network", "work_folder",
           "build_one", "build"]
