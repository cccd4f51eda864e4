"""Training checkpoints: one file, written atomically, read only with ``torch.load(weights_only=True)``.

A checkpoint holds only tensors, numbers, strings and plain containers: the model's weights and its
constructor arguments (``model.config``), the optimizer and scheduler states, any further named states a
loop needs (a GAN's discriminator and its optimizer: ``states={"disc": disc, "disc_opt": opt}``), the step,
the training settings, the RNG state and an ``extra`` dict (loss history, seconds so far). Every loop of the
companion (:mod:`companion.engine.loop` and the chapters' own loops) saves and resumes through here.

Loading checks that the file fits before touching the model: the model name, its configuration, the weight
names and shapes; a mismatch is one :class:`CompanionError` listing what differs. A file that is not a
companion checkpoint (truncated, garbage, or holding objects other than tensors and plain data) is refused
with a message that never suggests unsafe loading.
"""
from __future__ import annotations

from dataclasses import asdict, is_dataclass
from pathlib import Path

import torch
from torch import nn

from companion.atomic import atomic_path
from companion.errors import CompanionError

FORMAT = "companion-checkpoint"
FORMAT_VERSION = 1


def _plain(obj) -> bool:
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return True
    if isinstance(obj, (list, tuple)):
        return all(_plain(v) for v in obj)
    if isinstance(obj, dict):
        return all(isinstance(k, (str, int)) and _plain(v) for k, v in obj.items())
    return isinstance(obj, torch.Tensor)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def model_config(model: nn.Module) -> dict:
    """The constructor arguments a model keeps in ``model.config`` (empty when it keeps none)."""
    return dict(getattr(unwrap(model), "config", {}) or {})


def save_checkpoint(path, *, model, model_name: str, optimizer=None, scheduler=None, step: int, cfg=None,
                    extra: dict | None = None, states: dict | None = None) -> Path:
    """Write the training state to ``path`` atomically (temp file, then ``os.replace``) and return the path.

    ``cfg``: the training settings (a dataclass), stored as a dict; ``states``: further objects with a
    ``state_dict()`` (modules, optimizers, schedulers), saved by name.
    """
    model = unwrap(model)
    config, extra = model_config(model), dict(extra or {})
    for part, value in (("model.config", config), ("extra", extra)):
        if not _plain(value):
            raise CompanionError(f"{part} of {model_name} must hold only numbers, strings, tensors, lists, tuples "
                                 f"and dicts to be saved in a checkpoint; got {value!r}")
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    state = {"format": FORMAT, "version": FORMAT_VERSION, "model_name": model_name, "model_config": config,
             "model": model.state_dict(), "optimizer": optimizer.state_dict() if optimizer is not None else None,
             "scheduler": scheduler.state_dict() if scheduler is not None else None, "step": int(step),
             "train_config": asdict(cfg) if is_dataclass(cfg) else cfg, "rng": rng, "extra": extra,
             "states": {name: unwrap(obj).state_dict() if isinstance(obj, nn.Module) else obj.state_dict()
                        for name, obj in (states or {}).items()}}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def _corrupt(path, why: str) -> CompanionError:
    return CompanionError(f"checkpoint {path} is corrupt or not a companion checkpoint ({why}); "
                          "delete it or point to another file")


def read_checkpoint(path) -> dict:
    """The checkpoint dict of ``path``, read safely (``weights_only=True``) and checked for the format."""
    path = Path(path)
    if path.is_dir():
        raise CompanionError(f"checkpoint {path} is a folder, not a file; pass the checkpoint file inside it")
    if not path.is_file():
        raise CompanionError(f"checkpoint {path} does not exist; train the model first or check the path")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, garbage bytes, a pickle the safe loader refuses, ...
        # torch's own message suggests loading unsafely; never pass that on.
        raise _corrupt(path, f"unreadable by the safe loader: {type(exc).__name__}") from None
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
    return first_names(sorted(names), n)


def first_names(names, n: int = 4) -> str:
    """The first ``n`` of ``names``, comma-separated, with ``(+k more)``: lists of keys in one-line errors."""
    names = [str(name) for name in names]
    return ", ".join(names[:n]) + (f" (+{len(names) - n} more)" if len(names) > n else "")


def key_map_problems(state: dict, keymap: dict, expected_shape, *, unmapped_optional: bool = False,
                     unexpected_hint: str = "") -> list[str]:
    """What stops a foreign state dict (e.g. an authors' release) from loading through ``keymap``
    (``{file key: companion key, or None for a key that is checked but not loaded}``): missing keys, unexpected
    keys (followed by ``unexpected_hint``), values that are not tensors, shapes that differ from
    ``expected_shape(file key)``. ``unmapped_optional``: keys mapped to None may be absent. Empty when it fits."""
    problems = []
    missing = [k for k, t in keymap.items() if k not in state and not (unmapped_optional and t is None)]
    unexpected = [str(k) for k in state if k not in keymap]
    not_tensors = [k for k in state if k in keymap and not isinstance(state[k], torch.Tensor)]
    if missing:
        problems.append(f"missing {len(missing)} key(s): {first_names(missing)}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} key(s): {first_names(unexpected)}{unexpected_hint}")
    if not_tensors:
        problems.append(f"not tensors: {first_names(not_tensors)}")
    wrong = [f"{k} {tuple(state[k].shape)} vs {expected_shape(k)}" for k in keymap
             if isinstance(state.get(k), torch.Tensor) and tuple(state[k].shape) != expected_shape(k)]
    if wrong:
        problems.append(f"shapes differ (file vs expected): {first_names(wrong)}")
    return problems


def check_fits(path, state: dict, model: nn.Module | None, model_name: str | None) -> None:
    """Raise one :class:`CompanionError` listing every way checkpoint ``state`` does not fit ``model``."""
    problems = []
    if model_name is not None and state["model_name"] != model_name:
        problems.append(f"it is for model {state['model_name']!r}, not {model_name!r}")
    if model is not None:
        mine, theirs = model_config(model), dict(state["model_config"])
        diff = [f"{k}={theirs.get(k, '<unset>')!r} in checkpoint vs {mine.get(k, '<unset>')!r} here"
                for k in sorted(set(mine) | set(theirs), key=str) if mine.get(k, "<unset>") != theirs.get(k, "<unset>")]
        if diff:
            problems.append("config differs: " + "; ".join(diff))
        own = {k: tuple(v.shape) for k, v in unwrap(model).state_dict().items()}
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
                    scheduler=None, states: dict | None = None) -> dict:
    """Read a checkpoint safely (``weights_only=True``), check it fits ``model`` / ``model_name`` (name, config,
    weight names and shapes), then load the given model, optimizer, scheduler and named ``states``; return
    the checkpoint dict."""
    state = read_checkpoint(path)
    check_fits(path, state, model, model_name)
    saved_states = state.get("states") or {}
    missing = sorted(set(states or {}) - set(saved_states))
    if missing:
        raise CompanionError(f"checkpoint {path} has no state for {', '.join(missing)}; it was written by another "
                             "training loop; point to another file or start over")
    if model is not None:
        unwrap(model).load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    for name, obj in (states or {}).items():
        unwrap(obj).load_state_dict(saved_states[name]) if isinstance(obj, nn.Module) \
            else obj.load_state_dict(saved_states[name])
    return state


def load_weights(model: nn.Module, path, *, model_name: str) -> dict:
    """For evaluation: load only the weights of checkpoint ``path`` into ``model``, with the same checks."""
    return load_checkpoint(path, model=model, model_name=model_name)


def restore_rng(state: dict) -> None:
    """Put the RNG state saved in a checkpoint back (CPU, and CUDA when present)."""
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
