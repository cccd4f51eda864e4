"""One trainer for every restoration model, with the settings of thesis §7.5.

§7.5: "16 patches of 80×80, 1.2M iterations, ADAM (β1, β2, ε) = (0.9, 0.99, 1e-8), weight decay 1e-4, He
initialisation, learning rate 1e-4 halved at 120K and 300K iterations, pixel-wise L2 loss". Those are the
defaults of :class:`TrainConfig`; :func:`train` runs them for any model that maps a ``B×3×H×W`` batch in
[0, 1] to the same shape and keeps its constructor arguments in ``model.config``. He initialisation is done
by the models themselves (:func:`companion.models.common.he_init`); the trainer never re-initialises.
Weight decay is Adam's classic L2 term (``torch.optim.Adam(weight_decay=…)``), not AdamW.

Readings chosen here:

* **Batches are a pure function of the step.** Step ``s`` (0-based) draws ``batch_size`` indices *with
  replacement* from ``torch.Generator().manual_seed(h(seed, s))`` and calls ``dataset.set_epoch(s)`` when the
  dataset has it (SHDDTrain with a ``seed`` then crops by (seed, s, index)). Items are collated in the main
  process, without DataLoader workers: nothing about the data stream lives outside the checkpoint, so a
  resumed run is bit-identical to an uninterrupted one, and the CPU-sized data does not need workers.
  (On CUDA that also needs ``torch.backends.cudnn.deterministic = True``; cuDNN's fastest kernels are not.)
* **Checkpoints** are one file, written atomically, holding only tensors, numbers, strings and plain
  containers (the scheduler's milestone ``Counter`` included, which torch's safe loader allows), and read
  only with ``torch.load(weights_only=True)``. They carry the loss/validation history and the training
  seconds so far, so ``TrainResult`` and ``max_seconds`` cover the whole run across resumes.
* ``resume=False`` starts from scratch and replaces the file at the first save. An interrupt between saves
  (Ctrl-C, a killed kernel) keeps the last periodic checkpoint; a partial step is never saved.
* **Multi-GPU**: under ``torchrun`` the same call wraps the model in DistributedDataParallel; every rank
  takes its slice of the step's global batch of ``batch_size``, so with averaged gradients N processes
  follow the one-process run. Only rank 0 writes checkpoints, validates and shows the progress bar.
"""
from __future__ import annotations

import hashlib
import math
import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from companion.atomic import atomic_path
from companion.errors import CompanionError
from companion.models.common import to_channels_last

FORMAT = "companion-checkpoint"
FORMAT_VERSION = 1
LOSSES = ("l2", "l1")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; the defaults are the paper's (§7.5)."""

    steps: int = 1_200_000  # iterations (paper)
    batch_size: int = 16  # global batch (split across DDP ranks)
    patch_size: int = 80  # informational; the dataset crops
    lr: float = 1e-4
    milestones: tuple[int, ...] = (120_000, 300_000)
    gamma: float = 0.5
    betas: tuple[float, float] = (0.9, 0.99)
    eps: float = 1e-8
    weight_decay: float = 1e-4
    loss: str = "l2"  # "l2" | "l1"
    bf16: bool = False  # torch.autocast(device_type, dtype=torch.bfloat16) on forward + loss
    channels_last: bool = False
    max_seconds: float | None = None  # CPU-budget mode: stop at the first step past this training wall time
    checkpoint_every: int = 0  # 0 = only at the end
    val_every: int = 0  # 0 = never
    seed: int = 0
    grad_clip: float | None = None


@dataclass
class TrainResult:
    """What a run did. ``losses[i]`` is the loss of step ``i + 1`` and ``val`` holds (step, PSNR dB), both over
    the whole run including resumed parts; ``seconds`` is the training wall time, also across resumes."""

    steps_done: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    val: list[tuple[int, float]] = field(default_factory=list)
    stopped: str = "steps"  # "steps" | "time"
    checkpoint: Path | None = None


# --------------------------------------------------------------------------------------------------------
# Optimiser, scheduler, loss.


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam with (β1, β2, ε) and L2 weight decay of §7.5."""
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                            weight_decay=cfg.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig):
    """Multiply the learning rate by ``gamma`` after each milestone (stepped once per iteration): steps
    1..120K use 1e-4, 120K+1..300K 5e-5, then 2.5e-5."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.milestones), gamma=cfg.gamma)


def _check_config(cfg: TrainConfig) -> None:
    if cfg.loss not in LOSSES:
        raise CompanionError(f"unknown loss {cfg.loss!r}; choose one of: {', '.join(LOSSES)}")
    if cfg.steps < 0 or cfg.batch_size < 1:
        raise CompanionError(f"steps must be >= 0 and batch_size >= 1, got steps={cfg.steps}, "
                             f"batch_size={cfg.batch_size}")
    if cfg.checkpoint_every < 0 or cfg.val_every < 0:
        raise CompanionError("checkpoint_every and val_every must be >= 0 (0 = off)")


def _loss(out: torch.Tensor, target: torch.Tensor, name: str) -> torch.Tensor:
    out = out.float()
    return F.mse_loss(out, target) if name == "l2" else F.l1_loss(out, target)


# --------------------------------------------------------------------------------------------------------
# Data.


def _pair(item) -> tuple[torch.Tensor, torch.Tensor]:
    """(distorted, clean) of a dataset item: a dict with those keys or a (distorted, clean, ...) tuple."""
    if isinstance(item, dict):
        return item["distorted"], item["clean"]
    return item[0], item[1]


def step_seed(seed: int, step: int) -> int:
    """The 64-bit seed of step ``step``'s batch: a hash of (seed, step)."""
    return int.from_bytes(hashlib.blake2b(f"{seed}:{step}".encode(), digest_size=8).digest(), "little")


def batch_indices(n: int, cfg: TrainConfig, step: int) -> list[int]:
    """The global batch of step ``step`` (0-based): ``batch_size`` indices in [0, n), with replacement."""
    g = torch.Generator().manual_seed(step_seed(cfg.seed, step))
    return torch.randint(0, n, (cfg.batch_size,), generator=g).tolist()


def _batch(dataset, indices: list[int], step: int) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(step)
    pairs = [_pair(dataset[i]) for i in indices]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def _to(x: torch.Tensor, device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, torch.float32, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@torch.no_grad()
def validate(model: nn.Module, val_data, *, device="cpu", bf16: bool = False, channels_last: bool = False) -> float:
    """Mean per-image RGB PSNR (dB, output clamped to [0, 1], capped at 100 dB) over ``val_data``: an
    iterable of (distorted, clean) pairs or dicts, batched ``B×3×H×W`` or single ``3×H×W``."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    values = []
    try:
        for item in val_data:
            x, y = _pair(item)
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
        raise CompanionError("val_data is empty; pass at least one (distorted, clean) pair or set val_every=0")
    return sum(values) / len(values)


# --------------------------------------------------------------------------------------------------------
# Checkpoints.


def _plain(obj) -> bool:
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return True
    if isinstance(obj, (list, tuple)):
        return all(_plain(v) for v in obj)
    if isinstance(obj, dict):
        return all(isinstance(k, (str, int)) and _plain(v) for k, v in obj.items())
    return isinstance(obj, torch.Tensor)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _model_config(model: nn.Module) -> dict:
    return dict(getattr(_unwrap(model), "config", {}) or {})


def save_checkpoint(path, *, model, model_name: str, optimizer, scheduler, step: int, cfg: TrainConfig,
                    extra: dict | None = None) -> Path:
    """Write the training state to ``path`` atomically (temp file, then ``os.replace``) and return the path."""
    model = _unwrap(model)
    config, extra = _model_config(model), dict(extra or {})
    for what, value in (("model.config", config), ("extra", extra)):
        if not _plain(value):
            raise CompanionError(f"{what} of {model_name} must hold only numbers, strings, tensors, lists, tuples "
                                 f"and dicts to be saved in a checkpoint; got {value!r}")
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    state = {"format": FORMAT, "version": FORMAT_VERSION, "model_name": model_name, "model_config": config,
             "model": model.state_dict(), "optimizer": optimizer.state_dict() if optimizer is not None else None,
             "scheduler": scheduler.state_dict() if scheduler is not None else None, "step": int(step),
             "train_config": asdict(cfg) if cfg is not None else None, "rng": rng, "extra": extra}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def _corrupt(path, why: str) -> CompanionError:
    return CompanionError(f"checkpoint {path} is corrupt or not a companion checkpoint ({why}); "
                          "delete it or point to another file")


def _read(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CompanionError(f"checkpoint {path} does not exist; train the model first or check the path")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, garbage bytes, a pickle the safe loader refuses, …
        raise _corrupt(path, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'unreadable'}"
                       ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise _corrupt(path, "no companion format marker")
    if state.get("version") != FORMAT_VERSION:
        raise _corrupt(path, f"format version {state.get('version')!r}, this companion reads {FORMAT_VERSION}")
    missing = [k for k in ("model_name", "model_config", "model", "step") if k not in state]
    if missing:
        raise _corrupt(path, f"missing {', '.join(missing)}")
    if not isinstance(state["model"], dict) or not all(isinstance(v, torch.Tensor) for v in state["model"].values()):
        raise _corrupt(path, "its weights are not a state dict of tensors")
    return state


def _first(names, n: int = 4) -> str:
    names = sorted(names)
    return ", ".join(names[:n]) + (f" (+{len(names) - n} more)" if len(names) > n else "")


def _check_model(path, state: dict, model: nn.Module | None, model_name: str | None) -> None:
    problems = []
    if model_name is not None and state["model_name"] != model_name:
        problems.append(f"it is for model {state['model_name']!r}, not {model_name!r}")
    if model is not None:
        mine, theirs = _model_config(model), dict(state["model_config"])
        diff = [f"{k}={theirs.get(k, '<unset>')!r} in checkpoint vs {mine.get(k, '<unset>')!r} here"
                for k in sorted(set(mine) | set(theirs), key=str) if mine.get(k, "<unset>") != theirs.get(k, "<unset>")]
        if diff:
            problems.append("config differs: " + "; ".join(diff))
        own = {k: tuple(v.shape) for k, v in _unwrap(model).state_dict().items()}
        saved = {k: tuple(v.shape) for k, v in state["model"].items()}
        if set(own) - set(saved):
            problems.append(f"weights missing from the checkpoint: {_first(set(own) - set(saved))}")
        if set(saved) - set(own):
            problems.append(f"unexpected weights in the checkpoint: {_first(set(saved) - set(own))}")
        shapes = [f"{k} {saved[k]} vs {own[k]}" for k in sorted(set(own) & set(saved)) if own[k] != saved[k]]
        if shapes:
            problems.append("shapes differ: " + _first(shapes))
    if problems:
        raise CompanionError(f"checkpoint {path} does not fit this model: {'; '.join(problems)}; "
                             "build the model with the checkpoint's configuration or point to another file")


def load_checkpoint(path, *, model: nn.Module | None = None, model_name: str | None = None, optimizer=None,
                    scheduler=None) -> dict:
    """Read a checkpoint safely (``weights_only=True``), check it fits ``model`` / ``model_name`` (name, config,
    weight names and shapes), then load the given model, optimizer and scheduler; return the checkpoint dict."""
    state = _read(path)
    _check_model(path, state, model, model_name)
    if model is not None:
        _unwrap(model).load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    return state


def load_weights(model: nn.Module, path, *, model_name: str) -> dict:
    """For evaluation: load only the weights of checkpoint ``path`` into ``model``, with the same checks."""
    return load_checkpoint(path, model=model, model_name=model_name)


# --------------------------------------------------------------------------------------------------------
# Distributed helpers (torchrun).


def _setup_distributed(device: torch.device) -> tuple[int, int, torch.device, bool]:
    """(rank, world size, device, whether we initialised the process group)."""
    import torch.distributed as dist

    created = False
    if not (dist.is_available() and dist.is_initialized()):
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return 0, 1, device, False
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        created = True
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", dist.get_rank() % torch.cuda.device_count())))
        torch.cuda.set_device(device)
    return dist.get_rank(), dist.get_world_size(), device, created


def _barrier(world: int) -> None:
    if world > 1:
        torch.distributed.barrier()


def _agree(flag: bool, world: int, device: torch.device) -> bool:
    """True on every rank when it is true on any (clocks differ; all ranks must stop at the same step)."""
    if world == 1:
        return flag
    t = torch.tensor(float(flag), device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item())


# --------------------------------------------------------------------------------------------------------
# The trainer.


def train(model: nn.Module, dataset, cfg: TrainConfig, *, model_name: str, device="cpu", checkpoint_path=None,
          resume: bool = True, val_data=None, progress: bool = True,
          log: Callable[[str], None] | None = None) -> TrainResult:
    """Train ``model`` on ``dataset`` (items: dicts with ``distorted``/``clean`` 3×P×P tensors) with ``cfg``.

    With ``checkpoint_path`` the state is saved every ``cfg.checkpoint_every`` steps and at the end, and an
    existing checkpoint there is resumed (``resume=True``) after checking it fits the model. ``val_data``:
    (distorted, clean) pairs scored by mean PSNR every ``cfg.val_every`` steps. ``log`` receives messages
    (default: ``print`` when ``progress``). Raises :class:`CompanionError` on bad input and on a NaN/inf loss.
    """
    from companion.device import resolve_device

    _check_config(cfg)
    if len(dataset) == 0:
        raise CompanionError("the training dataset is empty; generate the data first")
    device = resolve_device(device) if isinstance(device, str) else torch.device(device)
    rank, world, device, created = _setup_distributed(device)
    try:
        return _train(model, dataset, cfg, model_name, device, checkpoint_path, resume, val_data, progress, log,
                      rank, world)
    finally:
        if created:
            torch.distributed.destroy_process_group()


def _train(model, dataset, cfg, model_name, device, checkpoint_path, resume, val_data, progress, log, rank,
           world) -> TrainResult:
    say = (log or (print if progress else (lambda _msg: None))) if rank == 0 else (lambda _msg: None)
    if cfg.batch_size % world:
        raise CompanionError(f"batch_size={cfg.batch_size} does not split across {world} processes; "
                             f"use a multiple of {world}")
    local = cfg.batch_size // world
    path = Path(checkpoint_path) if checkpoint_path is not None else None

    model.to(device)
    if cfg.channels_last:
        to_channels_last(model)
    optimizer = make_optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg)
    step, seconds, losses, val = 0, 0.0, [], []
    last_good: int | None = None
    if path is not None and resume and path.exists():
        state = load_checkpoint(path, model=model, model_name=model_name, optimizer=optimizer, scheduler=scheduler)
        step, last_good = int(state["step"]), int(state["step"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        extra = state.get("extra") or {}
        seconds = float(extra.get("seconds", 0.0))
        losses = [float(v) for v in extra.get("losses", torch.zeros(0)).tolist()]
        val = [(int(s), float(p)) for s, p in extra.get("val", torch.zeros(0, 2)).tolist()]
        saved_cfg = state.get("train_config") or {}
        changed = [k for k, v in asdict(cfg).items() if k in saved_cfg and saved_cfg[k] != v
                   and k not in ("steps", "max_seconds", "checkpoint_every", "val_every")]
        say(f"resumed {model_name} from {path} at step {step}"
            + (f" (settings changed since: {', '.join(changed)})" if changed else ""))

    def kept() -> str:
        if path is not None and last_good is not None:
            return f"the last good checkpoint {path} (step {last_good}) was kept"
        return "no checkpoint had been written, so none was kept"

    net = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()

    def save(at: int) -> None:
        nonlocal last_good
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):  # finite loss, inf gradients
            raise CompanionError(f"training {model_name} stopped: the weights became NaN/inf at step {at} and "
                                 f"were not saved; {kept()}; lower the learning rate or set grad_clip")
        _barrier(world)
        if rank == 0 and path is not None:
            extra = {"seconds": seconds, "losses": torch.tensor(losses, dtype=torch.float64),
                     "val": torch.tensor(val, dtype=torch.float64).reshape(-1, 2)}
            save_checkpoint(path, model=model, model_name=model_name, optimizer=optimizer, scheduler=scheduler,
                            step=at, cfg=cfg, extra=extra)
        _barrier(world)
        last_good = at

    stopped = "steps"
    recent: deque[float] = deque(maxlen=100)
    if progress and rank == 0:
        from tqdm.auto import tqdm  # imported here: tqdm.auto is slow to import and unused without a bar
    else:
        from tqdm import tqdm
    bar = tqdm(total=cfg.steps, initial=min(step, cfg.steps), desc=model_name, disable=not progress or rank != 0,
               dynamic_ncols=True)
    t0 = time.perf_counter() - seconds
    try:
        while step < cfg.steps:
            if cfg.max_seconds is not None and _agree(seconds >= cfg.max_seconds, world, device):
                stopped = "time"
                break
            indices = batch_indices(len(dataset), cfg, step)[rank * local:(rank + 1) * local]
            x, y = _batch(dataset, indices, step)
            x, y = _to(x, device, cfg.channels_last), y.to(device, torch.float32, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                loss = _loss(net(x), y, cfg.loss)
            value = loss.detach().clone()
            if world > 1:
                torch.distributed.all_reduce(value)
                value /= world
            value = float(value)
            if not math.isfinite(value):
                say(f"{model_name}: loss is {value} at step {step + 1}; stopping")
                raise CompanionError(f"training {model_name} stopped: the loss became {value} at step {step + 1} "
                                     f"and the bad state was not saved; {kept()}; lower the learning rate, set "
                                     "grad_clip, or check the data for NaN/inf")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            losses.append(value)
            recent.append(value)
            seconds = time.perf_counter() - t0
            if val_data is not None and cfg.val_every and step % cfg.val_every == 0 and rank == 0:
                val.append((step, validate(model, val_data, device=device, bf16=cfg.bf16,
                                           channels_last=cfg.channels_last)))
                seconds = time.perf_counter() - t0
            bar.update(1)
            bar.set_postfix({"loss": f"{sum(recent) / len(recent):.4g}",
                             **({"val": f"{val[-1][1]:.2f} dB"} if val else {})}, refresh=False)
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                save(step)
    finally:
        bar.close()
    if stopped == "time":
        say(f"{model_name}: time budget of {cfg.max_seconds:g} s reached at step {step}")
    if path is not None and last_good != step:
        save(step)
    return TrainResult(steps_done=step, seconds=seconds, losses=losses, val=val, stopped=stopped,
                       checkpoint=path if path is not None and last_good is not None else None)
