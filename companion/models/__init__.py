"""Restoration models, one per file; the registry is built from the model files themselves.

Every model module declares ``NAME`` (the registry key), ``LABEL`` (how tables name it), ``MODEL`` (its class
name), ``PAPER_CONFIG`` (the size the paper trained) and ``QUICK_CONFIG`` (a small CPU variant for the quick
profile), and may declare ``INIT`` (how fresh weights are drawn, when that was a choice). :data:`MODELS` maps each name to its :class:`ModelEntry`; a new model is a new file here and
nothing else changes. Every model keeps its constructor arguments in ``model.config`` (a plain dict) so a
checkpoint can say which architecture and configuration its weights belong to; see
:mod:`companion.models.common` for what they share.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from companion.errors import CompanionError
from companion.models.common import count_parameters

SIZES = ("quick", "paper")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    label: str
    cls: type
    paper_config: dict
    quick_config: dict
    init: str = ""  # the module's INIT: how fresh weights are drawn, when a model says so


def _discover() -> dict[str, ModelEntry]:
    entries = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if not hasattr(module, "NAME"):
            continue  # shared helpers (common.py)
        entries[module.NAME] = ModelEntry(module.NAME, module.LABEL, getattr(module, module.MODEL),
                                          dict(module.PAPER_CONFIG), dict(module.QUICK_CONFIG),
                                          getattr(module, "INIT", ""))
    return entries


#: name -> :class:`ModelEntry`, from every model file in this package.
MODELS: dict[str, ModelEntry] = _discover()


def _entry(name: str) -> ModelEntry:
    if name not in MODELS:
        raise CompanionError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def model_label(name: str) -> str:
    """How tables name model ``name`` ("mepsnet" -> "MEPSNet")."""
    return _entry(name).label


def model_config(name: str, size: str = "paper", **overrides) -> dict:
    """Constructor arguments of model ``name`` at ``size`` ("paper" or "quick"), updated with ``overrides``."""
    entry = _entry(name)
    if size not in SIZES:
        raise CompanionError(f"unknown model size {size!r}; choose one of {', '.join(SIZES)}")
    return {**(entry.paper_config if size == "paper" else entry.quick_config), **overrides}


def build_model(name: str, size: str | None = None, **kwargs):
    """Construct model ``name`` (a key of :data:`MODELS`): ``build_model("mepsnet", "quick", templates=4)``.

    Without ``size`` only ``kwargs`` are passed (the constructor's defaults are the paper configuration).
    """
    entry = _entry(name)
    if size is not None:
        kwargs = model_config(name, size, **kwargs)
    return entry.cls(**kwargs)


__all__ = ["MODELS", "SIZES", "ModelEntry", "build_model", "model_config", "model_label", "count_parameters"]
