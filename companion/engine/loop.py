"""The training loop every chapter uses: ``train(model, dataset, cfg, loss=..., batch=...)``.

It reads top to bottom: set up the device (and the ranks under ``torchrun``), build Adam and the step
schedule, resume from the checkpoint if there is one, then for each step draw the batch, compute the loss,
step the optimizer, validate and save now and then. What differs between tasks comes in as arguments:

* ``loss(output, target) -> scalar``: :data:`LOSSES` has the L2 and L1 pixel losses (restoration at the
  same size, Ch.7; super-resolution where the output is s× the input, Ch.2-5); ``F.cross_entropy`` serves
  classification (Ch.6). The output is cast to float32 before the loss (bf16 autocast).
* ``batch(dataset, indices, step) -> (inputs, targets)``: :func:`paired_batch` stacks two keys of dict
  items (``paired_batch("distorted", "clean")``, ``paired_batch("lr", "hr")``); :func:`tuple_batch` takes
  (input, target, ...) tuples such as (image, class id). A target may also be a tuple of tensors (a target
  and its loss mask: :mod:`companion.engine.augmented`); the loop moves each to the device.
* ``validate(model) -> float``, called every ``cfg.val_every`` steps on rank 0 (shown in the progress bar,
  kept in the history): :func:`psnr_on_pairs` for image-to-image models.

:class:`TrainConfig` holds only what the loop needs, with neutral defaults (no schedule, Adam's own betas,
no weight decay); a chapter's config declares its paper's settings once, as a ``TrainConfig``. Loops of
another shape (GAN training with two optimizers, online per-image training, detection) write their own
loop on :mod:`companion.engine.checkpoint` and :mod:`companion.engine.distributed`.

Readings chosen here:

* **Batches are a pure function of the step.** Step ``s`` (0-based) draws ``batch_size`` indices *with
  replacement* from ``torch.Generator().manual_seed(h(seed, s))`` and calls ``dataset.set_epoch(s)`` when the
  dataset has it. Items are collated in the main process, without DataLoader workers: nothing about the data
  stream lives outside the checkpoint, so a resumed run is bit-identical to an uninterrupted one. (On CUDA
  that also needs ``torch.backends.cudnn.deterministic = True``; cuDNN's fastest kernels are not.)
* **Checkpoints** (:mod:`companion.engine.checkpoint`) carry the loss/validation history and the training
  seconds so far, so :class:`TrainResult` and ``max_seconds`` cover the whole run across resumes. A run
  resumed with more ``steps`` and extra ``milestones`` after the saved step (a longer schedule) follows the
  config's milestones, and equals a run started with them.
  ``resume=False`` starts from scratch and replaces the file at the first save. Saves come every
  ``cfg.checkpoint_every`` steps (the paper's setting) and, with ``checkpoint_seconds``, whenever that much
  wall time has passed since the last save (what a CPU user lives with). A partial step is never saved.
* **Ctrl-C and SIGTERM** (with a checkpoint file, in the main thread): the signal is noted, the step under
  way finishes, the state is saved atomically at that step, and :class:`TrainingInterrupted` (a
  ``KeyboardInterrupt``) is raised naming the step a rerun resumes from. A second Ctrl-C stops at once,
  keeping the last checkpoint.
* **Which weights come back** (``keep=``): ``"last"`` (the default) returns the weights of the last step;
  ``"best"`` the weights of the validation step with the highest ``validate`` score; ``"average"`` the mean of
  the weights saved at the last ``average_last`` checkpoints (every ``cfg.checkpoint_every`` steps, and the
  last step). The choice is made on validation, never on a test split. The checkpoint file still holds the
  last step's training state (so a longer run resumes from it) and, for ``"best"`` / ``"average"``, the
  candidate weights too, so a resumed run chooses among the same steps as an uninterrupted one.
* **Weight decay** is Adam's classic L2 term (``torch.optim.Adam(weight_decay=…)``), not AdamW.
* **Parameter groups** (``param_groups=``, optional): a list of optimizer groups, ``{"params": [...], "lr":
  ...}`` plus any other keys (``"name"``), for per-group learning rates such as staged training's (thesis
  Algorithm 1: earlier modules at 0.1× the rate; ``ProgressiveCARN.param_groups`` in
  :mod:`companion.models.progressive_carn`). A group without ``"lr"`` takes ``cfg.lr``; the schedule
  (``milestones``/``gamma``) scales every group's own rate; only the grouped parameters are updated (the
  others keep their values, and weight decay and gradient clipping see only the grouped ones). Without it,
  Adam gets every parameter at ``cfg.lr``.
* **Several GPUs**: under ``torchrun`` every rank takes its slice of the step's global batch of
  ``batch_size``, so with averaged gradients N processes follow the one-process run.
"""
from __future__ import annotations

import hashlib
import math
import signal
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from companion.device import resolve_device
from companion.engine import distributed
from companion.engine.checkpoint import load_checkpoint, restore_rng, save_checkpoint
from companion.engine.settings import TrainConfig
from companion.errors import CompanionError
from companion.models.common import to_channels_last

#: Pixel losses by name, for configs that name their loss.
LOSSES: dict[str, Callable] = {"l2": F.mse_loss, "l1": F.l1_loss}

#: What ``train(keep=...)`` returns: the last step's weights, the best validation step's, or the average of the
#: last checkpoints'.
KEEP = ("last", "best", "average")


@dataclass
class TrainResult:
    """What a run did. ``losses[i]`` is the loss of step ``i + 1`` and ``val`` holds (step, value), both over
    the whole run including resumed parts; ``seconds`` is the training wall time, also across resumes."""

    steps_done: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    val: list[tuple[int, float]] = field(default_factory=list)
    stop_reason: str = "step limit"  # "step limit" (every step ran) or "time budget" (max_seconds reached)
    checkpoint: Path | None = None
    kept: str = "last"  # which weights the model holds: "last", "best at step S", "average of steps A, B, ..."


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT / SIGTERM after saving its checkpoint at ``step`` (the step a rerun resumes
    from). ``signum`` is the signal; ``str()`` is the one line to show."""

    def __init__(self, message: str, *, step: int, signum: int):
        super().__init__(message)
        self.step, self.signum = step, signum


class _StopRequests:
    """While active, SIGINT and SIGTERM only note that a stop was asked for (the loop stops at the end of the
    step); a second signal raises ``KeyboardInterrupt`` at once. Signal handlers can only be installed in the
    main thread: elsewhere (the zoo trains in threads) and when ``active`` is False nothing changes."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, active: bool):
        self.active = active and threading.current_thread() is threading.main_thread()
        self.signum: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> "_StopRequests":
        if self.active:
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


# --------------------------------------------------------------------------------------------------------
# Batches.


def step_seed(seed: int, step: int) -> int:
    """The 64-bit seed of step ``step``'s batch: a hash of (seed, step)."""
    return int.from_bytes(hashlib.blake2b(f"{seed}:{step}".encode(), digest_size=8).digest(), "little")


def batch_indices(n: int, cfg: TrainConfig, step: int) -> list[int]:
    """The global batch of step ``step`` (0-based): ``batch_size`` indices in [0, n), with replacement."""
    g = torch.Generator().manual_seed(step_seed(cfg.seed, step))
    return torch.randint(0, n, (cfg.batch_size,), generator=g).tolist()


def _items(dataset, indices: list[int], step: int) -> list:
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(step)
    return [dataset[i] for i in indices]


def paired_batch(inputs: str, targets: str) -> Callable:
    """A ``batch`` function stacking ``item[inputs]`` and ``item[targets]`` of dict items."""
    def batch(dataset, indices: list[int], step: int) -> tuple[torch.Tensor, torch.Tensor]:
        items = _items(dataset, indices, step)
        return torch.stack([it[inputs] for it in items]), torch.stack([it[targets] for it in items])
    batch.__name__ = f"paired_batch({inputs!r}, {targets!r})"
    return batch


def tuple_batch(dataset, indices: list[int], step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``batch`` function for (input, target, ...) tuple items; targets may be tensors or numbers."""
    items = _items(dataset, indices, step)
    return torch.stack([it[0] for it in items]), torch.as_tensor([it[1] for it in items]) \
        if not isinstance(items[0][1], torch.Tensor) else torch.stack([it[1] for it in items])


def _to(x: torch.Tensor, device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, torch.float32, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _target(y: torch.Tensor, device) -> torch.Tensor:
    if isinstance(y, tuple):  # (target, loss mask): a masked loss's target (companion.engine.augmented.masked)
        return tuple(_target(part, device) for part in y)
    return y.to(device, torch.float32 if y.is_floating_point() else y.dtype, non_blocking=True)


@torch.no_grad()
def psnr_on_pairs(model: nn.Module, pairs, *, device="cpu", bf16: bool = False, channels_last: bool = False) -> float:
    """Mean per-image RGB PSNR (dB, output clamped to [0, 1], capped at 100 dB) of ``model`` over ``pairs``:
    an iterable of (input, target) pairs or dicts, batched ``B×3×H×W`` or single ``3×H×W``; the target may be
    larger than the input (super-resolution). Use as ``validate=lambda m: psnr_on_pairs(m, pairs, ...)``."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    values = []
    try:
        for item in pairs:
            x, y = (item["distorted"], item["clean"]) if isinstance(item, dict) else (item[0], item[1])
            if x.ndim == 3:
                x, y = x[None], y[None]
            x, y = _to(x, device, channels_last), y.to(device, torch.float32)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                out = model(x)
            mse = (out.float().clamp(0, 1) - y).double().pow(2).flatten(1).mean(1).clamp_min(1e-10)
            values.extend((10 * torch.log10(1 / mse)).tolist())
    finally:
        model.train(was_training)
    if not values:
        raise CompanionError("the validation pairs are empty; pass at least one (input, target) pair or set "
                             "val_every=0")
    return sum(values) / len(values)


# --------------------------------------------------------------------------------------------------------
# The loop.


def train(model: nn.Module, dataset, cfg: TrainConfig, *, loss: Callable, batch: Callable, model_name: str,
          device="cpu", checkpoint_path=None, resume: bool = True, validate: Callable | None = None,
          progress: bool = True, log: Callable[[str], None] | None = None,
          param_groups: list[dict] | None = None, keep: str = "last", average_last: int = 4,
          checkpoint_seconds: float | None = None) -> TrainResult:
    """Train ``model`` on ``dataset`` with ``cfg``; see the module docstring for ``loss``, ``batch``, ``validate``
    and ``param_groups`` (per-group learning rates; default: every parameter at ``cfg.lr``). ``keep`` chooses the
    weights the model holds at the end (:data:`KEEP`; ``"best"`` needs ``validate`` and ``cfg.val_every``,
    ``"average"`` averages the last ``average_last`` checkpoints and needs ``cfg.checkpoint_every``).

    With ``checkpoint_path`` the state is saved every ``cfg.checkpoint_every`` steps, every
    ``checkpoint_seconds`` of wall time (None: not by time), on SIGINT / SIGTERM (then
    :class:`TrainingInterrupted` is raised) and at the end, and an existing checkpoint there is resumed
    (``resume=True``) after checking it fits the model. ``log`` receives
    messages (default: ``print`` when ``progress``). Raises :class:`CompanionError` on bad input and on a
    NaN/inf loss or weights, keeping the last good checkpoint.
    """
    cfg.check()
    if len(dataset) == 0:
        raise CompanionError("the training dataset is empty; generate the data first")
    groups = check_param_groups(model, param_groups, cfg.lr) if param_groups is not None else None
    check_keep(keep, average_last, cfg, validate)
    if checkpoint_seconds is not None and (isinstance(checkpoint_seconds, bool)
                                           or not isinstance(checkpoint_seconds, (int, float))
                                           or not math.isfinite(checkpoint_seconds) or checkpoint_seconds <= 0):
        raise CompanionError(f"checkpoint_seconds={checkpoint_seconds!r}; need a finite number > 0, or None")
    device = resolve_device(device) if isinstance(device, str) else torch.device(device)
    with distributed.setup(device) as world:
        return _train(model, dataset, cfg, loss, batch, model_name, checkpoint_path, resume, validate, progress,
                      log, world, groups, keep, average_last, checkpoint_seconds)


def check_keep(keep: str, average_last: int, cfg: TrainConfig, validate) -> None:
    """Raise :class:`CompanionError` when ``keep`` cannot be honoured with these settings."""
    if keep not in KEEP:
        raise CompanionError(f"keep={keep!r}; choose one of {', '.join(KEEP)}")
    if keep == "best" and (validate is None or not cfg.val_every):
        raise CompanionError("keep='best' chooses the best validation step: pass validate= and set val_every")
    if keep == "average" and (not cfg.checkpoint_every or isinstance(average_last, bool)
                              or not isinstance(average_last, int) or average_last < 1):
        raise CompanionError(f"keep='average' averages the last checkpoints: set checkpoint_every and "
                             f"average_last >= 1 (got {average_last!r})")


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the model's weights and buffers."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def average_weights(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of floating-point tensors over ``states``; other tensors (counters) from the last."""
    out = {}
    for key, last in states[-1].items():
        if last.is_floating_point():
            out[key] = torch.stack([s[key].double() for s in states]).mean(0).to(last.dtype)
        else:
            out[key] = last.clone()
    return out


def check_param_groups(model: nn.Module, param_groups, default_lr: float) -> list[dict]:
    """``param_groups`` as fresh optimizer group dicts (each with an ``"lr"``, ``cfg.lr`` where it had none),
    after checking them: a non-empty list of dicts, each with a non-empty ``"params"`` of ``model``'s own
    parameters, no parameter in two groups, every ``"lr"`` a finite number > 0. Raises :class:`CompanionError`."""
    if isinstance(param_groups, (dict, torch.Tensor)) or not isinstance(param_groups, (list, tuple)) \
            or not param_groups:
        raise CompanionError("param_groups must be a non-empty list of dicts such as [{'params': [...], 'lr': "
                             f"1e-4}}, ...]; got {type(param_groups).__name__}")
    own = {id(p) for p in model.parameters()}
    seen: set[int] = set()
    out = []
    for i, group in enumerate(param_groups):
        name = group.get("name", i) if isinstance(group, dict) else i
        if not isinstance(group, dict) or "params" not in group:
            raise CompanionError(f"param_groups[{i}] must be a dict with a 'params' list")
        params = [group["params"]] if isinstance(group["params"], torch.Tensor) else list(group["params"])
        if not params:
            raise CompanionError(f"parameter group {name!r} has no parameters")
        if any(not isinstance(p, torch.Tensor) or id(p) not in own for p in params):
            raise CompanionError(f"parameter group {name!r} holds tensors that are not parameters of the model being "
                                 "trained; build the groups from that model")
        if seen & {id(p) for p in params}:
            raise CompanionError(f"parameter group {name!r} repeats parameters of an earlier group; put each "
                                 "parameter in one group")
        seen |= {id(p) for p in params}
        lr = group.get("lr", default_lr)
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
            raise CompanionError(f"parameter group {name!r} has lr={lr!r}; need a finite number > 0")
        out.append({**group, "params": params, "lr": float(lr)})
    return out


def _follow_milestones(scheduler, optimizer, bases: list[float], cfg: TrainConfig, step: int) -> None:
    """After a resume, use ``cfg.milestones`` rather than the checkpoint's when they differ (a longer run that
    adds halvings after the saved step): each group's rate becomes its base rate × ``gamma`` ** (milestones
    passed by ``step``). When every changed milestone lies at or after the saved step, that is exactly the rate
    a run started with these milestones has there, so the resumed run is bit-identical to it (tested)."""
    if sorted(scheduler.milestones.elements()) == sorted(cfg.milestones):
        return
    scheduler.milestones = Counter(cfg.milestones)
    for group, base in zip(optimizer.param_groups, bases):
        group["lr"] = base * cfg.gamma ** sum(1 for m in cfg.milestones if m <= step)
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]


def _optimizer(model: nn.Module, groups: list[dict] | None, cfg: TrainConfig):
    """The parameters being trained, Adam over them (with L2 weight decay) and the step schedule."""
    trained = [p for g in groups for p in g["params"]] if groups is not None else list(model.parameters())
    optimizer = torch.optim.Adam(groups if groups is not None else trained, lr=cfg.lr, betas=tuple(cfg.betas),
                                 eps=cfg.eps, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.milestones), gamma=cfg.gamma)
    return trained, optimizer, scheduler


class _Candidates:
    """The weights ``keep=`` chooses among, as ``entries`` of (step, score, CPU weights): for ``"best"`` the one
    best validation step so far, for ``"average"`` the last ``average_last`` checkpoint steps (score NaN), for
    ``"last"`` none (a checkpoint's entries are loaded but neither saved nor used)."""

    def __init__(self, keep: str, average_last: int):
        self.keep, self.average_last = keep, average_last
        self.entries: list[tuple[int, float, dict]] = []

    def load(self, saved: list[dict]) -> None:
        """Take the entries a checkpoint's ``extra["kept"]`` holds."""
        self.entries = [(int(c["step"]), float(c["score"]), c["weights"]) for c in saved]

    def saved(self) -> list[dict]:
        """The entries as the checkpoint's ``extra["kept"]``."""
        return [{"step": s, "score": v, "weights": w} for s, v, w in self.entries]

    def validated(self, step: int, score: float, model: nn.Module) -> None:
        """For ``"best"``: keep the model's weights when ``score`` beats the best so far."""
        if self.keep == "best" and (not self.entries or score > self.entries[0][1]):
            self.entries = [(step, score, _weights(model))]

    def stepped(self, step: int, model: nn.Module, checkpoint_every: int) -> None:
        """For ``"average"``: add the model's weights when ``step`` is a checkpoint step."""
        if self.keep == "average" and step % checkpoint_every == 0:
            self._add(step, model)

    def finished(self, step: int, model: nn.Module) -> None:
        """For ``"average"``: add the last step's weights unless they are in already."""
        if self.keep == "average" and (not self.entries or self.entries[-1][0] != step):
            self._add(step, model)

    def _add(self, step: int, model: nn.Module) -> None:
        """Append the model's weights at ``step``, keeping the last ``average_last``."""
        self.entries = (self.entries + [(step, float("nan"), _weights(model))])[-self.average_last:]

    def choose(self, model: nn.Module) -> str:
        """Load the chosen weights into ``model``; return which they are (:attr:`TrainResult.kept`)."""
        if self.keep == "last" or not self.entries:
            return "last"
        chosen = self.entries[0][2] if self.keep == "best" else average_weights([w for _, _, w in self.entries])
        model.load_state_dict(chosen)
        if self.keep == "best":
            return f"best at step {self.entries[0][0]}"
        return "average of steps " + ", ".join(str(s) for s, _, _ in self.entries)


@dataclass
class _Run:
    """Where a run stands, all of it kept in the checkpoint: steps done, training seconds, the loss and
    validation history, the ``keep=`` candidates, and the last step saved (None: none saved yet)."""

    candidates: _Candidates
    step: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)
    val: list[tuple[int, float]] = field(default_factory=list)
    last_good: int | None = None


def _resume(run: _Run, path: Path | None, resume: bool, model, model_name: str, optimizer, scheduler,
            cfg: TrainConfig, say: Callable[[str], None]) -> None:
    """When ``resume`` and the checkpoint at ``path`` exists: load the model, optimizer, schedule (following
    ``cfg.milestones``, :func:`_follow_milestones`) and RNG states from it, and ``run``'s history; say so,
    naming the settings that changed since it was saved."""
    if path is None or not resume or not path.exists():
        return
    bases = list(scheduler.base_lrs)
    state = load_checkpoint(path, model=model, model_name=model_name, optimizer=optimizer, scheduler=scheduler)
    run.step = run.last_good = int(state["step"])
    _follow_milestones(scheduler, optimizer, bases, cfg, run.step)
    restore_rng(state)
    extra = state.get("extra") or {}
    run.seconds = float(extra.get("seconds", 0.0))
    run.losses = [float(v) for v in extra.get("losses", torch.zeros(0)).tolist()]
    run.val = [(int(s), float(p)) for s, p in extra.get("val", torch.zeros(0, 2)).tolist()]
    run.candidates.load(extra.get("kept", []))
    saved_cfg = state.get("train_config") or {}
    changed = [k for k, v in asdict(cfg).items() if k in saved_cfg and saved_cfg[k] != v
               and k not in ("steps", "max_seconds", "checkpoint_every", "val_every")]
    say(f"resumed {model_name} from {path} at step {run.step}"
        + (f" (settings changed since: {', '.join(changed)})" if changed else ""))


class _Checkpoints:
    """The checkpoint policy: :meth:`due` after every ``cfg.checkpoint_every`` steps and, with
    ``every_seconds``, once that much wall time has passed since the last save; :meth:`save` checks the weights
    are finite and writes the run's state (rank 0, when there is a ``path``)."""

    def __init__(self, path: Path | None, model, model_name: str, optimizer, scheduler, cfg: TrainConfig, world,
                 every_seconds: float | None):
        self.path, self.model, self.model_name = path, model, model_name
        self.optimizer, self.scheduler, self.cfg, self.world = optimizer, scheduler, cfg, world
        self.every_seconds = every_seconds
        self.last_save = time.perf_counter()

    def kept(self, run: _Run) -> str:
        """Which checkpoint survives a failure, as a clause of the error message."""
        if self.path is not None and run.last_good is not None:
            return f"the last good checkpoint {self.path} (step {run.last_good}) was kept"
        return "no checkpoint had been written, so none was kept"

    def due(self, step: int) -> bool:
        """Whether to save after ``step`` (the same answer on every rank)."""
        by_time = self.every_seconds is not None and time.perf_counter() - self.last_save >= self.every_seconds
        return bool((self.cfg.checkpoint_every and step % self.cfg.checkpoint_every == 0)
                    or (self.every_seconds is not None and distributed.any_rank(by_time, self.world)))

    def save(self, run: _Run, at: int) -> None:
        """Save the state at step ``at``, or raise :class:`CompanionError` when the weights are NaN/inf."""
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):  # finite loss, inf gradients
            raise CompanionError(f"training {self.model_name} stopped: the weights became NaN/inf at step {at} "
                                 f"and were not saved; {self.kept(run)}; lower the learning rate or clip gradients "
                                 "(TrainConfig.grad_clip, --grad-clip)")
        distributed.barrier(self.world)
        if self.world.main and self.path is not None:
            extra = {"seconds": run.seconds, "losses": torch.tensor(run.losses, dtype=torch.float64),
                     "val": torch.tensor(run.val, dtype=torch.float64).reshape(-1, 2)}
            if run.candidates.keep != "last":
                extra["kept"] = run.candidates.saved()
            save_checkpoint(self.path, model=self.model, model_name=self.model_name, optimizer=self.optimizer,
                            scheduler=self.scheduler, step=at, cfg=self.cfg, extra=extra)
        distributed.barrier(self.world)
        run.last_good, self.last_save = at, time.perf_counter()


def _stop_if_asked(stops: _StopRequests, checkpoints: _Checkpoints, run: _Run, world) -> None:
    """When SIGINT / SIGTERM came on any rank: save the current step (unless it is saved) and raise
    :class:`TrainingInterrupted`."""
    if not distributed.any_rank(stops.signum is not None, world):
        return
    if run.last_good != run.step:
        checkpoints.save(run, run.step)
    name = signal.Signals(stops.signum).name if stops.signum is not None else "a signal on another rank"
    raise TrainingInterrupted(f"interrupted ({name}) at step {run.step}: checkpoint saved to {checkpoints.path}; "
                              f"rerun the same command to resume from step {run.step}",
                              step=run.step, signum=stops.signum or signal.SIGINT)


def _forward(net: nn.Module, dataset, batch_fn: Callable, loss_fn: Callable, cfg: TrainConfig, world, step: int):
    """The loss of step ``step`` on this rank's slice of its global batch (bf16 autocast if asked), as the
    tensor to backpropagate and its mean over the ranks as a float."""
    local = cfg.batch_size // world.size
    indices = batch_indices(len(dataset), cfg, step)[world.rank * local:(world.rank + 1) * local]
    x, y = batch_fn(dataset, indices, step)
    x, y = _to(x, world.device, cfg.channels_last), _target(y, world.device)
    with torch.autocast(world.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
        value_t = loss_fn(net(x).float(), y)
    return value_t, distributed.mean_over_ranks(value_t, world)


def _check_loss(value: float, step: int, model_name: str, say: Callable[[str], None], kept: Callable[[], str]) -> None:
    """Say so and raise :class:`CompanionError` when the loss of step ``step`` (1-based) is NaN/inf; ``kept()``
    names the checkpoint that survives."""
    if not math.isfinite(value):
        say(f"{model_name}: loss is {value} at step {step}; stopping")
        raise CompanionError(f"training {model_name} stopped: the loss became {value} at step {step} and the bad "
                             f"state was not saved; {kept()}; lower the learning rate, clip gradients "
                             "(TrainConfig.grad_clip, --grad-clip), or check the data for NaN/inf")


def _update(loss_t: torch.Tensor, trained: list, optimizer, scheduler, cfg: TrainConfig) -> None:
    """Backward, gradient clipping (``cfg.grad_clip``), the optimizer step and the schedule step."""
    optimizer.zero_grad(set_to_none=True)
    loss_t.backward()
    if cfg.grad_clip is not None:
        nn.utils.clip_grad_norm_(trained, cfg.grad_clip)
    optimizer.step()
    scheduler.step()


def _train(model, dataset, cfg, loss_fn, batch_fn, model_name, checkpoint_path, resume, validate, progress, log,
           world, groups=None, keep="last", average_last=4, checkpoint_seconds=None) -> TrainResult:
    """:func:`train` inside the process group ``world``, with the arguments checked."""
    device = world.device
    say = (log or (print if progress else (lambda _msg: None))) if world.main else (lambda _msg: None)
    if cfg.batch_size % world.size:
        raise CompanionError(f"batch_size={cfg.batch_size} does not split across {world.size} processes; "
                             f"use a multiple of {world.size}")
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    model.to(device)
    if cfg.channels_last:
        to_channels_last(model)
    trained, optimizer, scheduler = _optimizer(model, groups, cfg)
    run = _Run(_Candidates(keep, average_last))
    _resume(run, path, resume, model, model_name, optimizer, scheduler, cfg, say)

    net = distributed.wrap(model, world)
    model.train()
    stop_reason = "step limit"
    recent: deque[float] = deque(maxlen=100)
    bar = tqdm(total=cfg.steps, initial=min(run.step, cfg.steps), desc=model_name,
               disable=not progress or not world.main, dynamic_ncols=True)
    t0 = time.perf_counter() - run.seconds
    checkpoints = _Checkpoints(path, model, model_name, optimizer, scheduler, cfg, world, checkpoint_seconds)
    stops = _StopRequests(path is not None)
    try:
        stops.__enter__()
        while run.step < cfg.steps:
            _stop_if_asked(stops, checkpoints, run, world)
            if cfg.max_seconds is not None and distributed.any_rank(run.seconds >= cfg.max_seconds, world):
                stop_reason = "time budget"
                break
            # One step: this rank's slice of the global batch, forward, loss, backward, update.
            value_t, value = _forward(net, dataset, batch_fn, loss_fn, cfg, world, run.step)
            _check_loss(value, run.step + 1, model_name, say, lambda: checkpoints.kept(run))
            _update(value_t, trained, optimizer, scheduler, cfg)
            run.step += 1
            run.losses.append(value)
            recent.append(value)
            run.seconds = time.perf_counter() - t0

            # Now and then: validate, show, save.
            if validate is not None and cfg.val_every and run.step % cfg.val_every == 0 and world.main:
                run.val.append((run.step, float(validate(model))))
                run.seconds = time.perf_counter() - t0
                run.candidates.validated(run.step, run.val[-1][1], model)
            run.candidates.stepped(run.step, model, cfg.checkpoint_every)
            bar.update(1)
            bar.set_postfix({"loss": f"{sum(recent) / len(recent):.4g}",
                             **({"val": f"{run.val[-1][1]:.2f}"} if run.val else {})}, refresh=False)
            if checkpoints.due(run.step):
                checkpoints.save(run, run.step)
    finally:
        stops.__exit__()
        bar.close()
    if stop_reason == "time budget":
        say(f"{model_name}: time budget of {cfg.max_seconds:g} s reached at step {run.step}")
    run.candidates.finished(run.step, model)
    if path is not None and run.last_good != run.step:
        checkpoints.save(run, run.step)
    kept = run.candidates.choose(model)
    return TrainResult(steps_done=run.step, seconds=run.seconds, losses=run.losses, val=run.val,
                       stop_reason=stop_reason, kept=kept,
                       checkpoint=path if path is not None and run.last_good is not None else None)
