"""Chapter 3's part of the model zoo (:mod:`companion.zoo`): the models of ``03_progressive_x8``'s quick profile.

* ``ch3/03/progressive-stage<s>-seed<k>`` (s = 1, 2, 3): the quick-size progressive CARN ×8 after stage s of
  Algorithm 1 (:func:`companion.ch3.staged.fit_stage`); the notebook scores every head after every stage,
  so every stage's weights ship (the stage-3 entry is the finished model);
* ``ch3/03/baseline-<layout>-seed<k>``: the single-stage baseline (Table 3.1's CARN-B24U4 reading,
  ``layout="end"``), trained on ×8 → HR for the stages' total steps.

One trained model of the experiment is a :class:`TrainedStage` (the spec, which model, which stage); its
:meth:`~TrainedStage.zoo_entry` for a seed is the entry, keyed by :func:`companion.ch3.config.run_settings`
(data, patch, loss, decay and every stage's training settings up to this one, seed) plus the model's
constructor configuration and initialisation. The experiment (:mod:`companion.ch3.progressive`) finds an
entry with ``companion.zoo.find(TrainedStage(spec, kind, stage), seed)`` and loads it (:func:`load_stage`)
instead of training; this module never imports the experiment. The sidecar's ``val_psnr`` is the head's RGB
PSNR on the centre :data:`FIT_CROP` px of :data:`FIT_IMAGE`, one of the training photographs (03 chooses
nothing on a validation image: all eight train), so it is a fit check, not a held-out score.

``python -m companion zoo build ch3`` (re)trains what is stale or missing: the progressive model stage after
stage (a current earlier stage is loaded, not retrained), the baseline side by side; runs resume from
checkpoints in the work folder (``runs/quick/work/checkpoints/ch3-zoo``, or under ``$COMPANION_WORK_DIR``).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from companion.ch3.config import LABELS, NOTEBOOK, ProgressiveSpec, baseline_label, run_settings
from companion.ch3.staged import SCALE, chw, fit_stage, initial_model, stage_images, training_patches
from companion.data.images import centre_crop_at_most, embedded_image
from companion.engine.loop import psnr_on_pairs
from companion.models import model_config as registry_config
from companion.profiles import config_for
from companion.session import git_commit
from companion.zoo import REPO_ROOT, ZooEntry, device_description, load_entry, save_entry, status, train_entries

#: The profile whose models the zoo holds.
PROFILE = NOTEBOOK, "quick"
#: The training photograph (and its centre crop, HR px) of the sidecars' fit check.
FIT_IMAGE, FIT_CROP = "coffee", 256
KINDS = ("progressive", "baseline")


@dataclass(frozen=True)
class TrainedStage:
    """One trained model of a :class:`~companion.ch3.config.ProgressiveSpec`: the progressive model after
    ``stage`` (1..3), or the single-stage baseline (``kind="baseline"``, stage 0)."""

    spec: ProgressiveSpec
    kind: str                        # "progressive" or "baseline"
    stage: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS or (self.kind == "baseline") != (self.stage == 0):
            raise ValueError(f"a trained stage is ('progressive', 1..3) or ('baseline', 0); got "
                             f"({self.kind!r}, {self.stage!r})")

    @property
    def layout(self) -> str:
        return "progressive" if self.kind == "progressive" else self.spec.baseline

    def model_config(self) -> dict:
        """Constructor arguments of the model (JSON-ready: lists, not tuples), as a sidecar stores them."""
        out = registry_config("progressive_carn", self.spec.size, layout=self.layout)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    def zoo_key(self, seed: int) -> dict:
        """Everything that shapes the weights of this stage for ``seed``."""
        return dict(run_settings(self.spec, self.kind, seed, self.stage), model="progressive_carn",
                    config=self.model_config(), init="pytorch default after torch.manual_seed(seed)",
                    lr_images="matlab bicubic x8, 8-bit", augment="flips + rotations")

    def zoo_entry(self, seed: int) -> ZooEntry:
        """The zoo entry of this stage trained with ``seed`` (for :func:`companion.zoo.find`)."""
        if self.kind == "progressive":
            name = f"ch3/03/progressive-stage{self.stage}-seed{seed}"
            label = f"{LABELS['progressive']} after stage {self.stage} (quick size, x8)"
        else:
            name = f"ch3/03/baseline-{self.spec.baseline}-seed{seed}"
            label = f"{baseline_label(self.spec.baseline)} (quick size, x8)"
        return ZooEntry(name=name, model="progressive_carn", config=self.model_config(), key=self.zoo_key(seed),
                        label=label)


def trained_stages(spec: ProgressiveSpec) -> list[TrainedStage]:
    """The progressive model after each stage, then the baseline (when the spec has one)."""
    stages = [TrainedStage(spec, "progressive", s) for s in range(1, len(spec.recipe.steps) + 1)]
    return stages + ([TrainedStage(spec, "baseline", 0)] if spec.baseline else [])


def zoo_spec() -> ProgressiveSpec:
    """The spec whose models the zoo holds (:data:`PROFILE`)."""
    return config_for(*PROFILE)


def _planned() -> dict[str, tuple[TrainedStage, int]]:
    """``{entry name: (trained stage, seed)}`` of every entry, in the zoo's order."""
    spec = zoo_spec()
    return {stage.zoo_entry(seed).name: (stage, seed) for seed in range(spec.seeds)
            for stage in trained_stages(spec)}


def entries() -> list[ZooEntry]:
    """Per seed of the quick profile: the progressive model after stages 1, 2, 3, then the baseline."""
    return [stage.zoo_entry(seed) for stage, seed in _planned().values()]


def load_stage(model, entry: ZooEntry) -> dict:
    """Load zoo ``entry``'s weights into ``model`` (strictly, :func:`companion.zoo.load_entry`) and return the
    training record its sidecar keeps (``steps``, ``seconds``, ``first_loss``, ``final_loss``, ``loss_curve``),
    with ``checkpoint`` = ``"zoo:<name>"``."""
    loaded, meta = load_entry(entry)
    model.load_state_dict(loaded.state_dict())
    return dict(steps=int(meta["steps"]), seconds=float(meta["seconds"]), first_loss=float(meta["first_loss"]),
                final_loss=float(meta["final_loss"]), loss_curve=meta["loss_curve"], checkpoint=f"zoo:{entry.name}")


# --------------------------------------------------------------------------------------------------------
# Building the entries.


def work_folder() -> Path:
    """Where the zoo's training checkpoints go (resumable): ``$COMPANION_WORK_DIR/checkpoints/ch3-zoo``, else
    ``runs/quick/work/checkpoints/ch3-zoo`` in the checkout."""
    base = os.environ.get("COMPANION_WORK_DIR")
    return (Path(base) if base else REPO_ROOT / "runs" / "quick" / "work") / "checkpoints" / "ch3-zoo"


def fit_check(model, scale: int) -> float:
    """RGB PSNR of ``model``'s ×``scale`` head on the centre :data:`FIT_CROP` px of :data:`FIT_IMAGE` (a training
    photograph) against that head's target (:func:`companion.ch3.staged.stage_images`)."""
    lr, targets = stage_images(centre_crop_at_most(embedded_image(FIT_IMAGE), FIT_CROP), SCALE)
    return psnr_on_pairs(model.at_scale(scale), [(chw(lr)[0], chw(targets[scale])[0])])


def _meta(record: dict, model, scale: int, seed: int, commit: str) -> dict:
    val = round(float(fit_check(model, scale)), 3)
    return {"seed": seed, "steps": record["steps"], "seconds": round(record["seconds"], 1),
            "device": device_description("cpu"), "commit": commit, "val_psnr": val,
            "val_images": [f"{FIT_IMAGE} (centre {FIT_CROP} px, x{scale} head, RGB PSNR; a training photograph: "
                           f"a fit check, not a held-out score)"],
            "val": [[record["steps"], val]], "first_loss": round(record["first_loss"], 6),
            "final_loss": round(record["final_loss"], 6), "loss_curve": record["loss_curve"],
            "built": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def build_one(entry: ZooEntry, threads: int | None = 1, commit: str = "unknown", progress: bool = False) -> dict:
    """Train one entry (resuming its checkpoints) and write it into the zoo. A progressive stage-s entry trains
    stages 1..s in turn, loading each earlier stage whose entry is current and writing each one it trains."""
    trained, seed = _planned()[entry.name]
    spec = trained.spec
    if threads:
        torch.set_num_threads(int(threads))
    if trained.kind == "baseline":
        model = initial_model(spec, spec.baseline, seed)
        record = fit_stage(model, training_patches(spec, seed), spec, seed, 0, checkpoint_dir=work_folder(),
                           progress=progress)
        meta = _meta(record, model.eval(), SCALE, seed, commit)
        save_entry(entry, model, meta)
        return meta
    model, data, meta = initial_model(spec, "progressive", seed), None, None
    for s in range(1, trained.stage + 1):
        earlier = TrainedStage(spec, "progressive", s).zoo_entry(seed)
        if s < trained.stage and status(earlier) == "current":
            load_stage(model, earlier)
            continue
        data = data or training_patches(spec, seed)
        record = fit_stage(model, data, spec, seed, s, checkpoint_dir=work_folder(), progress=progress)
        meta = _meta(record, model, 2 ** s, seed, commit)
        save_entry(earlier, model, meta)
    return meta


def build(entries, *, workers: int = 2, progress: bool = True) -> None:
    """Train ``entries`` (resumable), ``workers`` at a time with one thread each, with a progress bar. The
    progressive stages of a seed are one job (the last stage named; it writes the earlier ones it trains)."""
    planned = _planned()
    jobs: dict[tuple, ZooEntry] = {}
    for e in entries:
        trained, seed = planned[e.name]
        key = (trained.kind, seed)
        if key not in jobs or planned[jobs[key].name][0].stage < trained.stage:
            jobs[key] = e
    train_entries(list(jobs.values()), build_one, commit=git_commit(), workers=workers, progress=progress,
                  desc="zoo build (ch3)", retry="python -m companion zoo build ch3")
