"""The thesis author's released Part I weights, loaded into the companion's :class:`~companion.models.carn.CARN`
and :class:`~companion.models.carn_m.CARNM`.

Six files, all multi-scale (×2, ×3, ×4) generators, in the catalogue :data:`companion.data.folders.WEIGHTS`;
``python -m companion download NAME`` fetches one into ``<data>/weights/NAME.pth``, checks its git blob id
(and its SHA-256 where :data:`RELEASES` records one), and converts it once (:func:`convert_authors_file`) into
``NAME.safetensors`` beside it, with the companion's key names and a metadata marker (model, reading,
configuration, source), so later loads never read the pickle again:

============== ===================================================== ========= =========
name           repository, path                                      model     reading
============== ===================================================== ========= =========
``carn-m``     nmhkahn/CARN-pytorch, ``checkpoint/carn_m.pth``         CARN-M    ``code``
``carn``       nmhkahn/CARN-pytorch, ``checkpoint/carn.pth``           CARN      ``code``
``pcarn-m-l1`` nmhkahn/PCARN-pytorch, ``checkpoints/PCARN-M-L1.pth``   CARN-M    ``thesis``
``pcarn-m``    nmhkahn/PCARN-pytorch, ``checkpoints/PCARN-M.pth``      CARN-M    ``thesis``
``pcarn-l1``   nmhkahn/PCARN-pytorch, ``checkpoints/PCARN-L1.pth``     CARN      ``thesis``
``pcarn``      nmhkahn/PCARN-pytorch, ``checkpoints/PCARN.pth``        CARN      ``thesis``
============== ===================================================== ========= =========

(PCARN and PCARN-M are the CARN / CARN-M generators after adversarial + VGG fine-tuning, thesis §2.3; "-L1"
is the same generator before it, trained with L1 only.) :func:`load_authors_carn` takes any of these names,
or the path of an authors' ``.pth`` (read with ``torch.load(map_location="cpu", weights_only=True)`` only,
converted in memory) or of a converted ``.safetensors``, and returns the companion model in eval mode.

**Which reading.** The two repositories hold two codes whose weights mean different things (see
:mod:`companion.models.carn`): CARN-pytorch (``carn/model/carn.py``, ``carn_m.py``) puts a ReLU after every 1×1
fusion and has no global residual, the ``"code"`` reading; PCARN-pytorch (``pcarn/model/ecarn.py``) has no
ReLU there and adds the entry features before the upsampler, the ``"thesis"`` reading. The reading follows
from the file's layout (its key names), not from its name. Both concatenate the units' own outputs
(``concat="outputs"``) and work in 0..1 with the DIV2K mean, as the companion does: no value is transformed.

**Key map** (authors → companion; ``b`` = 1…B blocks, ``u`` = 1…U units, ``s`` a scale), renaming only:

* ``entry`` / ``exit`` → ``entry`` / ``exit``;
* local fusions ``b{b}.c{u}.body.0`` (CARN-pytorch's ``BasicBlock``) or ``b{b}.c{u}`` (PCARN-pytorch's plain
  conv) → ``blocks.{b-1}.fusions.{u-1}``; global fusions ``c{b}.body.0`` / ``c{b}`` → ``fusions.{b-1}``;
* CARN's residual units ``b{b}.b{u}.body.0`` / ``.body.2`` (CARN-pytorch) or ``.conv1`` / ``.conv2``
  (PCARN-pytorch) → ``blocks.{b-1}.units.{u-1}.conv1`` / ``conv2``;
* CARN-M's shared EResidual: CARN-pytorch registers it once, ``b{b}.b1.body.0`` / ``.2`` / ``.4``;
  PCARN-pytorch registers the one module under every position (``self.b2 = self.b3 = self.b1``), so its file
  stores ``b{b}.b{u}.conv1`` / ``conv2`` / ``pw`` U times. Both → ``blocks.{b-1}.unit.conv1`` / ``conv2`` /
  ``pointwise``; the copies are checked to be equal and the tensor is taken once (a file whose copies differ
  is refused: it is not a recursive CARN-M);
* ``upsample.up{s}.body.{k}`` → ``upsample.x{s}.{k}`` (k = 0, and 3 for ×4's second ×2 stage); a
  single-scale file's ``upsample.up.body.{k}`` → ``upsample.x{s}.{k}``, ``s`` read from the shapes;
* ``sub_mean.shifter`` / ``add_mean.shifter`` (fixed 1×1 convs: identity weight, bias ∓ mean): checked to be
  the DIV2K mean (0.4488, 0.4371, 0.4040), then dropped: the companion's mean is a fixed buffer, not loaded.

A ``module.`` prefix ((Distributed)DataParallel) is dropped, and a state dict wrapped under one of
:data:`WRAPPER_KEYS` is unwrapped. Everything that goes wrong is one :class:`CompanionError` line: a missing
file (naming the download command), a corrupt one, another model's file (MEPSNet's, or companion key names),
a file that does not fit (missing, unexpected or mis-shaped keys, a wrong mean, differing copies).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Mapping

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from companion.atomic import atomic_path
from companion.data import folders
from companion.data.download import file_sha256
from companion.engine.checkpoint import first_names, key_map_problems
from companion.errors import CompanionError
from companion.models import build_model, model_label
from companion.models.carn import DIV2K_MEAN


#: The ``format`` metadata marker of a converted file.
FORMAT = "companion-carn"
#: The two authors' layouts and the reading each one's weights follow.
LAYOUT_READING = {"CARN-pytorch": "code", "PCARN-pytorch": "thesis"}
#: Keys of a state dict wrapped by a training script, tried in this order.
WRAPPER_KEYS = ("state_dict", "model", "net", "model_state_dict", "params")
MEAN_SHIFT_KEYS = ("sub_mean.shifter.weight", "sub_mean.shifter.bias", "add_mean.shifter.weight",
                   "add_mean.shifter.bias")


@dataclass(frozen=True)
class Release:
    """One released file: the companion model it loads into (registry key), its reading, how tables name it,
    its name in the authors' repository, and its SHA-256 where one is recorded."""
    model: str
    reading: str
    label: str
    authors_file: str
    sha256: str | None = None


#: The catalogue names of the Part I weights. SHA-256 sums: ``../shared/weights/README.md`` (computed from the
#: files; the repositories publish only their blob ids, which the download checks).
RELEASES: dict[str, Release] = {
    "carn-m": Release("carn_m", "code", "CARN-M", "carn_m.pth",
                      "d48a759a84509351facb6b7c6d5bd6edec98b98519b8c464ee4ab44d2ba964ff"),
    "carn": Release("carn", "code", "CARN", "carn.pth"),
    "pcarn-m-l1": Release("carn_m", "thesis", "PCARN-M (L1)", "PCARN-M-L1.pth",
                          "50a018566eb28fbf966e0e4d43b513fa90b7242932afd9dddbc0be69d9df6ec9"),
    "pcarn-m": Release("carn_m", "thesis", "PCARN-M", "PCARN-M.pth",
                       "a7e328d6c87991ec81540d6b0b15723714443d0c276bec0e864aae441ef16a24"),
    "pcarn-l1": Release("carn", "thesis", "PCARN (L1)", "PCARN-L1.pth"),
    "pcarn": Release("carn", "thesis", "PCARN", "PCARN.pth"),
}

_EXAMPLES = ", ".join(RELEASES)


def authors_weights_path(name: str, data_root=None) -> Path:
    """Where ``python -m companion download NAME`` puts the converted weights ``name`` (safetensors)."""
    return folders.weights_path(_release_name(name), data_root)


def _release_name(name: str) -> str:
    key = str(name).lower()
    if key not in RELEASES:
        raise CompanionError(f"unknown Part I weights {name!r}; choose one of: {_EXAMPLES}")
    return key


def _release_of_file(filename: str) -> str | None:
    """The catalogue name of a file called ``filename`` (the authors' name or the download's), if any."""
    for name, release in RELEASES.items():
        if filename in (release.authors_file, f"{name}.pth", f"{name}.safetensors"):
            return name
    return None


def _download_hint(path: Path) -> str:
    name = _release_of_file(path.name)
    if name:
        return f"run `python -m companion download {name}` (with --data if your data folder is elsewhere)"
    return f"run `python -m companion download NAME` (NAME one of {_EXAMPLES}) or check the path"


# --- layout and configuration ------------------------------------------------------------------------

_first = first_names


def _not_a_carn(state: Mapping, source: str) -> CompanionError:
    keys = [str(k) for k in state]
    if any(k.endswith("bank.templates") or k.startswith("head.0.expand_conv") for k in keys):
        return CompanionError(f"{source} holds MEPSNet weights (keys {_first(keys, 3)}), not a CARN or PCARN; "
                              "the MEPSNet authors' checkpoint loads with companion.ch7.authors_weights "
                              "(`restore --checkpoint official`)")
    if any(k.startswith(("blocks.0.", "upsample.x")) for k in keys):
        return CompanionError(f"{source} holds companion key names ({_first(keys, 3)}), not the authors' "
                              "layout; load it with the model's load_state_dict (CARN or CARNM with its config)")
    return CompanionError(f"{source} holds no CARN or PCARN weights (keys {_first(keys, 4)}); point to one of "
                          f"the authors' files ({_EXAMPLES}: `python -m companion download NAME`)")


def reference_layout(state: Mapping, *, source: str = "the weights") -> str:
    """``"CARN-pytorch"`` or ``"PCARN-pytorch"``: which authors' code the state dict's key names come from
    (CARN-pytorch wraps each 1×1 fusion in a ``BasicBlock``: ``c1.body.0.weight``; PCARN-pytorch does not:
    ``c1.weight``). Anything else is refused in one line that says what the file seems to hold."""
    keys = [k for k in state if isinstance(k, str)]
    if any(re.fullmatch(r"(b\d+\.)?c\d+\.body\.0\.weight", k) for k in keys):
        return "CARN-pytorch"
    if any(re.fullmatch(r"(b\d+\.)?c\d+\.weight", k) for k in keys):
        return "PCARN-pytorch"
    raise _not_a_carn(state, source)


def _max_index(keys, pattern: str) -> int:
    rx = re.compile(pattern)
    return max((int(m.group(1)) for k in keys if (m := rx.match(k))), default=0)


def _tensor(state: Mapping, key: str, ndim: int) -> torch.Tensor | None:
    value = state.get(key)
    return value if isinstance(value, torch.Tensor) and value.ndim == ndim else None


def _single_scale(state: Mapping, channels: int) -> int | None:
    """The scale of a single-scale file's upsampler (``upsample.up.body.{k}``), from its stages and shapes."""
    stages = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"upsample\.up\.body\.(\d+)\.weight", k)))
    first = _tensor(state, "upsample.up.body.0.weight", 4)
    if len(stages) == 1 and first is not None:
        return {4 * channels: 2, 9 * channels: 3}.get(int(first.shape[0]))
    return {2: 4, 3: 8}.get(len(stages))


def reference_config(state: Mapping, *, source: str = "the weights") -> tuple[str, dict, bool]:
    """``(model, config, multi_scale)`` of an authors'-layout state dict, read from its keys and shapes:
    the companion model (``"carn"`` or ``"carn_m"``), its constructor arguments (the reading follows the
    layout), and whether the upsamplers are named per scale (``up2``…) or, single-scale, ``up``.

    What cannot be read falls back to the paper configuration; the key check of
    :func:`convert_reference_state_dict` then names what is missing or mis-shaped."""
    layout = reference_layout(state, source=source)
    code = layout == "CARN-pytorch"
    keys = [k for k in state if isinstance(k, str)]
    entry = _tensor(state, "entry.weight", 4)
    channels = int(entry.shape[0]) if entry is not None else 64
    blocks = _max_index(keys, r"b(\d+)\.") or 3
    units = _max_index(keys, r"b1\.c(\d+)\.") or 3
    multi = not any(k.startswith("upsample.up.") for k in keys)
    if multi:
        scales = tuple(sorted({int(m.group(1)) for k in keys if (m := re.match(r"upsample\.up(\d+)\.", k))}))
    else:
        scale = _single_scale(state, channels)
        if scale is None:
            raise CompanionError(f"{source} has a single-scale upsampler whose scale cannot be read from its "
                                 "shapes (×2: one conv to 4C, ×3: one to 9C, ×4: two, ×8: three stages); "
                                 "check the file is one of the authors' CARN or PCARN files")
        scales = (scale,)
    scales = scales or (2, 3, 4)
    cfg = dict(channels=channels, blocks=blocks, units=units, scales=scales, reading=LAYOUT_READING[layout],
               global_residual=None, concat="outputs")
    mobile = any(re.fullmatch(r"b\d+\.b\d+\.(body\.4|pw)\.weight", k) for k in keys)
    if not mobile:
        return "carn", dict(cfg, local_cascade=True, global_cascade=True), multi
    conv1 = _tensor(state, "b1.b1.body.0.weight" if code else "b1.b1.conv1.weight", 4)
    groups = channels // int(conv1.shape[1]) if conv1 is not None and conv1.shape[1] \
        and channels % int(conv1.shape[1]) == 0 else 4
    up = _tensor(state, f"upsample.up{scales[0] if multi else ''}.body.0.weight", 4)
    group_upsampler = up is None or int(up.shape[1]) != channels
    return "carn_m", dict(cfg, groups=groups, recursive=True, group_upsampler=group_upsampler), multi


def reference_key_map(model: str, config: Mapping, layout: str, *, multi_scale: bool = True) -> dict[str, str | None]:
    """Every key of the authors' state dict of ``model`` (``"carn"`` / ``"carn_m"``, with ``config``) in
    ``layout`` → the companion key it becomes; ``None`` for the mean shifts (checked, then dropped).

    PCARN-pytorch's CARN-M lists the shared EResidual under every position: several keys map to one companion
    key, the first (``b{b}.b1``) is canonical. See the module docstring for the rules."""
    if layout not in LAYOUT_READING:
        raise CompanionError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUT_READING)}")
    code = layout == "CARN-pytorch"
    mobile = model == "carn_m"
    units, blocks = int(config["units"]), int(config["blocks"])
    keys: dict[str, str | None] = {k: None for k in MEAN_SHIFT_KEYS}

    def pair(ref: str, ours: str) -> None:
        for p in ("weight", "bias"):
            keys[f"{ref}.{p}"] = f"{ours}.{p}"

    fusion = (lambda name: f"{name}.body.0") if code else (lambda name: name)
    pair("entry", "entry")
    for b in range(1, blocks + 1):
        block = f"blocks.{b - 1}"
        if mobile:
            parts = (("body.0", "conv1"), ("body.2", "conv2"), ("body.4", "pointwise")) if code else \
                (("conv1", "conv1"), ("conv2", "conv2"), ("pw", "pointwise"))
            for u in (1,) if code else range(1, units + 1):  # CARN-pytorch registers the shared unit once
                for ref, ours in parts:
                    pair(f"b{b}.b{u}.{ref}", f"{block}.unit.{ours}")
        else:
            parts = (("body.0", "conv1"), ("body.2", "conv2")) if code else (("conv1", "conv1"), ("conv2", "conv2"))
            for u in range(1, units + 1):
                for ref, ours in parts:
                    pair(f"b{b}.b{u}.{ref}", f"{block}.units.{u - 1}.{ours}")
        for u in range(1, units + 1):
            pair(fusion(f"b{b}.c{u}"), f"{block}.fusions.{u - 1}")
    for b in range(1, blocks + 1):
        pair(fusion(f"c{b}"), f"fusions.{b - 1}")
    for s in config["scales"]:
        stages = 1 if s in (2, 3) else {4: 2, 8: 3}[int(s)]
        for i in range(stages):
            pair(f"upsample.up{s if multi_scale else ''}.body.{3 * i}", f"upsample.x{s}.{3 * i}")
    pair("exit", "exit")
    return keys


def _strip_prefix(state: Mapping) -> dict:
    """Drop a ``module.`` prefix that (Distributed)DataParallel puts on every key."""
    if state and all(isinstance(k, str) and k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


def _check_mean_shifts(state: Mapping) -> list[str]:
    mean = torch.tensor(DIV2K_MEAN, dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64).view(3, 3, 1, 1)
    wants = {"sub_mean.shifter.weight": eye, "add_mean.shifter.weight": eye, "sub_mean.shifter.bias": -mean,
             "add_mean.shifter.bias": mean}
    wrong = [f"{k} = {[round(v, 4) for v in state[k].detach().flatten().tolist()]}" for k, want in wants.items()
             if k in state and not torch.allclose(state[k].detach().to(torch.float64), want, rtol=0, atol=1e-6)]
    if wrong:
        return [f"its mean shift is not the DIV2K mean {DIV2K_MEAN} (identity weight, bias ∓ mean) that the "
                f"companion fixes: {'; '.join(wrong)}"]
    return []


def convert_reference_state_dict(state: Mapping[str, torch.Tensor], *, source: str = "the weights"
                                 ) -> tuple[str, dict, dict[str, torch.Tensor]]:
    """``(model, config, companion state dict)`` from an authors' CARN / CARN-M / PCARN / PCARN-M state dict.

    The layout, reading and configuration are read from the keys and shapes (:func:`reference_config`); every
    key the layout has must be there with the expected shape and nothing else (the mean shifts are optional;
    present, they must hold the DIV2K mean); the copies of a shared EResidual must be equal and are taken
    once. Tensors are float32, contiguous, in the companion's key order. One :class:`CompanionError` line
    lists everything that differs; ``source`` names the file in it.
    """
    if not isinstance(state, Mapping) or not state:
        raise CompanionError(f"{source} is not a state dict (a dict of tensors); point to one of the authors' "
                             "CARN or PCARN files")
    state = _strip_prefix(state)
    layout = reference_layout(state, source=source)
    model, cfg, multi = reference_config(state, source=source)
    keymap = reference_key_map(model, cfg, layout, multi_scale=multi)
    try:
        net = build_model(model, **cfg)
    except (ValueError, CompanionError) as exc:
        raise CompanionError(f"{source} does not fit {model_label(model)} ({str(exc).splitlines()[0]}); check "
                             "the file is one of the authors' CARN or PCARN files") from None
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}

    def expected(key: str) -> tuple[int, ...]:
        target = keymap[key]
        if target is None:
            return (3, 3, 1, 1) if key.endswith("weight") else (3,)
        return shapes[target]

    problems = key_map_problems(state, keymap, expected, unmapped_optional=True)
    if not problems:
        problems += _check_mean_shifts(state)
        canonical: dict[str, str] = {}
        differ = []
        for key, target in keymap.items():
            if target is None:
                continue
            first = canonical.setdefault(target, key)
            if first != key and not torch.equal(state[key], state[first]):
                differ.append(f"{key} ≠ {first}")
        if differ:
            problems.append(f"{len(differ)} copies of the shared EResidual differ ({_first(differ, 2)}): the "
                            "authors' CARN-M shares one unit per block, so this is not its file")
    if problems:
        size = ", ".join(f"{k}={cfg[k]}" for k in ("channels", "blocks", "units", "scales", "groups") if k in cfg)
        raise CompanionError(f"{source} does not fit the authors' {model_label(model)} in the {layout} layout "
                             f"({size}): {'; '.join(problems)}; check the file is one of the authors' CARN or "
                             "PCARN files")
    out: dict[str, torch.Tensor] = {}
    for key, target in keymap.items():
        if target is not None and target not in out:  # the mean shifts; the shared unit's further copies
            out[target] = state[key].detach().to("cpu", torch.float32).contiguous().clone()
    return model, dict(net.config), {k: out[k] for k in shapes}


# --- files ---------------------------------------------------------------------------------------------

def _unwrap(obj, path: Path) -> Mapping:
    def tensors(x) -> bool:
        return isinstance(x, Mapping) and bool(x) and all(isinstance(v, torch.Tensor) for v in x.values())

    if tensors(obj):
        return obj
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            if tensors(obj.get(key)):
                return obj[key]
    raise CompanionError(f"{path} holds no state dict (a dict of tensors, or one under {', '.join(WRAPPER_KEYS)}); "
                         f"point to one of the authors' CARN or PCARN files ({_EXAMPLES})")


def read_reference_state_dict(path) -> Mapping[str, torch.Tensor]:
    """The state dict in an authors' ``.pth`` file, read only with ``torch.load(map_location="cpu",
    weights_only=True)`` (their files are legacy pickles saved on a GPU)."""
    path = Path(path)
    if not path.is_file():
        raise CompanionError(f"{path} does not exist; {_download_hint(path)}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, garbage, or a pickle the safe loader refuses
        raise CompanionError(f"{path} is unreadable by the safe loader ({type(exc).__name__}): it is corrupt, "
                             f"truncated or not a plain tensor checkpoint; delete it and {_download_hint(path)}"
                             ) from None
    return _unwrap(obj, path)


def _build(model: str, config: Mapping, state: Mapping[str, torch.Tensor]) -> torch.nn.Module:
    net = build_model(model, **dict(config))
    net.load_state_dict(state, strict=True)
    return net.eval()


def _read_converted(path: Path) -> torch.nn.Module:
    hint = _download_hint(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CompanionError(f"{path} is not a readable safetensors file ({reason}); delete it and {hint}") from None
    if meta.get("format") != FORMAT:
        kind = "a converted MEPSNet (load it with companion.ch7.authors_weights)" \
            if meta.get("format") == "companion-mepsnet" else f"not a converted CARN (no {FORMAT!r} marker)"
        raise CompanionError(f"{path} is {kind}; for the authors' CARN weights {hint}")
    if meta.get("model") not in ("carn", "carn_m"):
        raise CompanionError(f"{path} names model {meta.get('model')!r}, not carn or carn_m; delete it and {hint}")
    try:
        return _build(meta["model"], json.loads(meta["config"]), state)
    except (RuntimeError, KeyError, ValueError, TypeError, CompanionError) as exc:
        raise CompanionError(f"{path} does not fit {model_label(meta['model'])} ({str(exc).splitlines()[0]}); "
                             f"delete it and {hint}") from None


def load_authors_carn(path_or_name, *, data_root=None) -> torch.nn.Module:
    """The companion CARN or CARN-M (eval mode, CPU, float32, inputs in 0..1) holding the authors' weights.

    ``path_or_name``: a catalogue name (:data:`RELEASES`: ``"carn-m"``, ``"pcarn-m-l1"`` …, looked up under
    ``<data_root>/weights/`` where the download command puts it), an authors' ``.pth`` (read safely and
    converted in memory), or a ``.safetensors`` that :func:`convert_authors_file` wrote (loaded as it is).
    CARN-pytorch files give the ``"code"`` reading, PCARN-pytorch files the ``"thesis"`` reading.
    """
    if isinstance(path_or_name, str) and path_or_name.lower() in RELEASES and not Path(path_or_name).exists():
        name = path_or_name.lower()
        path = folders.weights_path(name, data_root)
        if not path.is_file():
            raw = folders.weights_path(name, data_root, converted=False)
            if not raw.is_file():
                raise CompanionError(f"the authors' {RELEASES[name].label} weights are not at {path}; run "
                                     f"`python -m companion download {name}` (with --data if your data folder "
                                     "is elsewhere)")
            path = raw
    else:
        path = Path(path_or_name)
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise CompanionError(f"{path} does not exist; {_download_hint(path)}")
        return _read_converted(path)
    model, config, state = convert_reference_state_dict(read_reference_state_dict(path), source=str(path))
    return _build(model, config, state)


def convert_authors_file(src, dest, *, name: str | None = None) -> Path:
    """Convert the authors' ``.pth`` ``src`` into a companion safetensors file ``dest`` (atomically).

    ``name`` (a :data:`RELEASES` key; the download passes it) makes the conversion check the file's SHA-256
    where one is recorded and that the file is that release (its model and reading). The file holds the
    companion's key names and tensors and, as metadata, the format marker, the model (``carn`` / ``carn_m``),
    the reading, the configuration (JSON), the layout, the release name (if known) and the source file name.
    """
    src, dest = Path(src), Path(dest)
    release = RELEASES[_release_name(name)] if name is not None else None
    if release is not None and release.sha256 and src.is_file() and (got := file_sha256(src)) != release.sha256:
        raise CompanionError(f"{src} has SHA-256 {got}, not the {release.sha256} recorded for {name}; delete it "
                             f"and run `python -m companion download {name}` again")
    model, config, state = convert_reference_state_dict(read_reference_state_dict(src), source=str(src))
    if release is not None and (model, config["reading"]) != (release.model, release.reading):
        raise CompanionError(f"{src} holds a {model_label(model)} in the {config['reading']} reading, but {name} is "
                             f"a {model_label(release.model)} in the {release.reading} reading; check the file")
    layout = next(k for k, v in LAYOUT_READING.items() if v == config["reading"])
    meta = {"format": FORMAT, "model": model, "reading": config["reading"],
            "config": json.dumps(config, sort_keys=True), "layout": layout,
            "weights": name or _release_of_file(src.name) or "", "source": src.name}
    with atomic_path(dest) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return dest


def converted_metadata(path) -> dict[str, str]:
    """The metadata of a converted file (``format``, ``model``, ``reading``, ``config``, ``layout``,
    ``weights``, ``source``), without loading its tensors."""
    path = Path(path)
    if not path.is_file():
        raise CompanionError(f"{path} does not exist; {_download_hint(path)}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except (SafetensorError, OSError, ValueError):
        raise CompanionError(f"{path} is not a readable safetensors file; delete it and "
                             f"{_download_hint(path)}") from None


#: Converters ``python -m companion download`` applies after fetching weights of this chapter.
CONVERTERS = {name: partial(convert_authors_file, name=name) for name in RELEASES}
