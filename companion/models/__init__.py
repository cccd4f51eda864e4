"""Restoration models, one per file; :data:`MODELS` maps a name to its constructor.

Every model maps a distorted ``B×3×H×W`` batch in [0, 1] to a restored batch of the same shape and keeps
its constructor arguments in ``model.config``. Each module has ``PAPER_CONFIG`` (the size the paper
trained) and ``QUICK_CONFIG`` (a small CPU variant for the quick profile); see :mod:`companion.models.common`.
"""
from __future__ import annotations

from companion.errors import CompanionError
from companion.models import dncnn, mepsnet, owan, ridnet, vdsr
from companion.models.common import count_parameters
from companion.models.dncnn import DnCNN
from companion.models.mepsnet import MEPSNet
from companion.models.owan import OWAN
from companion.models.ridnet import RIDNet
from companion.models.vdsr import VDSR

MODELS: dict[str, type] = {"dncnn": DnCNN, "vdsr": VDSR, "owan": OWAN, "ridnet": RIDNet, "mepsnet": MEPSNet}
LABELS: dict[str, str] = {"dncnn": "DnCNN", "vdsr": "VDSR", "owan": "OWAN", "ridnet": "RIDNet", "mepsnet": "MEPSNet"}
_MODULES = {"dncnn": dncnn, "vdsr": vdsr, "owan": owan, "ridnet": ridnet, "mepsnet": mepsnet}
SIZES = ("quick", "paper")


def model_config(name: str, size: str = "paper", **overrides) -> dict:
    """Constructor arguments of model ``name`` at ``size`` ("paper" or "quick"), updated with ``overrides``."""
    if name not in MODELS:
        raise CompanionError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    if size not in SIZES:
        raise CompanionError(f"unknown model size {size!r}; choose one of {', '.join(SIZES)}")
    return {**getattr(_MODULES[name], f"{size.upper()}_CONFIG"), **overrides}


def build_model(name: str, size: str | None = None, **kwargs):
    """Construct model ``name`` (a key of :data:`MODELS`): ``build_model("mepsnet", "quick", templates=4)``.

    Without ``size`` only ``kwargs`` are passed (the constructor's defaults are the paper configuration).
    """
    if name not in MODELS:
        raise CompanionError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    if size is not None:
        kwargs = model_config(name, size, **kwargs)
    return MODELS[name](**kwargs)


__all__ = ["MODELS", "LABELS", "SIZES", "build_model", "model_config", "count_parameters",
           "DnCNN", "VDSR", "OWAN", "RIDNet", "MEPSNet"]
