"""The MEPSNet authors' released weights, loaded into the companion's :class:`~companion.models.mepsnet.MEPSNet`.

The authors released one checkpoint with their code: repository ``sijinkim/MEPSNet_dev``, file
``mepsnet/pt/1950.pt`` (git blob id ``d1dfe732951e8ddc6df72bf177dfe07bc7545935``). Their solver saves
``net.state_dict()`` itself, unwrapped; :func:`load_authors_mepsnet` also accepts one wrapped under a
``state_dict`` / ``model`` / ``net`` key, and reads either with ``torch.load(weights_only=True)`` only.
``python -m companion download mepsnet-official`` fetches the file, checks its blob id and converts it once
(:func:`convert_official_file`) into ``mepsnet-official.safetensors`` beside it, with the companion's key
names, so later loads (:func:`load_official_mepsnet`) never read the pickle again.

Correspondence (reference module ``Net`` of ``mepsnet/model/mepsnet.py`` → companion ``MEPSNet``; ``e`` an
expert, ``s`` an SRIR, ``b`` an SResidual block):

* ``head.0.expand_conv1`` / ``head.0.expand_conv2`` / ``head.0.conv`` → ``extract.0`` / ``extract.2`` /
  ``extract.4`` (weight and bias each);
* ``bank.templates`` (K×C×C×3×3) → ``bank.templates``;
* ``body.{e}.head.0`` / ``body.{e}.tail.0`` → ``experts.{e}.head`` / ``experts.{e}.tail``;
* ``body.{e}.body.{s}.body.{b}.body.0.coefficients`` (K×1×1×1×1) → ``experts.{e}.body.{s}.body.{b}.conv1.alpha``
  (K), and ``….body.2.coefficients`` → ``….conv2.alpha`` (``body.1`` is the ReLU);
* ``body.{N}.squeeze`` / ``body.{N}.excitation`` (N = number of experts: the fusion follows the experts in
  the reference's ``body``) → ``fusion.attention.1`` / ``fusion.attention.3``;
* ``tail.0.reconst.0`` / ``tail.0.reconst.2`` → ``reconstruct.0`` / ``reconstruct.2``;
* ``sub_mean`` / ``add_mean`` (fixed 1×1 convs: identity weight, bias ∓255·m) → checked, then dropped (the
  companion's fixed, unsaved ``mean`` buffer plays their part).

The template bank is one module registered under every module that uses it (the network, each expert, each
SConv), so the reference's state dict repeats it: ``bank.templates``, ``body.{e}.bank.templates`` and
``body.{e}.body.{s}.body.{b}.body.{0,2}.bank.templates``, 1 + N + N·2·srir·blocks names (220 in the paper
configuration, which has 466 keys for 247 distinct tensors: the companion's 243 and the 4 mean-shift ones).
The conversion takes the bank once, from ``bank.templates``, after checking every other name holds the same
values.

Transform. The reference works in 0..255: ``sub_mean`` subtracts 255·m (m the DIV2K mean, the same as
the companion's) and ``add_mean`` adds it back. The companion works in 0..1 and subtracts m. For
``ours(x) = ref(255·x) / 255`` every activation of the reference must be 255 times ours. A conv
``W h + b`` keeps that factor when its input has it if its bias is divided by 255; ReLUs, SConvs (no bias),
residual sums and the concatenation keep it. The fusion's gate does not scale: it must see the same
pooled features, so the squeeze weight is multiplied by 255 and the squeeze and excitation biases stay as
they are (the sigmoid's output S is then the same, and ``S · F_D`` keeps the factor). Hence:

* every 3×3 conv bias (extraction, expert heads and tails, reconstruction) ÷ 255;
* ``fusion.attention.1.weight`` (squeeze) × 255; the fusion's biases and excitation weight unchanged;
* templates, coefficients and all 3×3 weights unchanged (coefficients reshaped from K×1×1×1×1 to K).

Then ``MEPSNet(x) · 255 = Net(255 · x)`` up to float rounding (``tests/test_authors_weights.py`` checks it
against a functional re-implementation of the reference's forward). Dividing the fusion's biases by 255
as well would change the gate; the tests check that too.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Mapping

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from companion.atomic import atomic_path
from companion.data import folders
from companion.engine.checkpoint import first_names, key_map_problems
from companion.errors import CompanionError
from companion.models.mepsnet import DIV2K_MEAN, PAPER_CONFIG, MEPSNet

OFFICIAL_NAME = "mepsnet-official"
#: The reference's pixel range (its MeanShift's ``rgb_range``).
RGB_RANGE = 255.0
#: Keys of a state dict wrapped by a training script, tried in this order.
WRAPPER_KEYS = ("state_dict", "model", "net", "model_state_dict", "params")
FORMAT = "companion-mepsnet"
_FUSION_SQUEEZE = "fusion.attention.1.weight"
_MEAN_SHIFTS = ("sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias")


def official_weights_path(data_root=None) -> Path:
    """Where ``python -m companion download mepsnet-official`` puts the converted weights (safetensors)."""
    return folders.weights_path(OFFICIAL_NAME, data_root)


# --- the key map ---------------------------------------------------------------------------------------

def _config(config: Mapping | None) -> dict:
    cfg = {**PAPER_CONFIG, **dict(config or {})}
    if not cfg.get("share", True):
        raise CompanionError("the authors' MEPSNet shares its templates (share=True); a no-PS MEPSNet has no "
                             "reference layout")
    return cfg


def reference_key_map(config: Mapping | None = None) -> dict[str, str | None]:
    """Every key of the reference's state dict → the companion key it becomes (``None``: the mean shifts).

    Several reference keys (the repeated template bank) map to ``bank.templates``; the first is canonical.
    """
    cfg = _config(config)
    keys: dict[str, str | None] = {k: None for k in _MEAN_SHIFTS}
    keys["bank.templates"] = "bank.templates"
    for ref, ours in (("expand_conv1", "0"), ("expand_conv2", "2"), ("conv", "4")):
        for p in ("weight", "bias"):
            keys[f"head.0.{ref}.{p}"] = f"extract.{ours}.{p}"
    for e in range(cfg["experts"]):
        keys[f"body.{e}.bank.templates"] = "bank.templates"
        for p in ("weight", "bias"):
            keys[f"body.{e}.head.0.{p}"] = f"experts.{e}.head.{p}"
        for s in range(cfg["srir"]):
            for b in range(cfg["blocks"]):
                for ref, ours in (("0", "conv1"), ("2", "conv2")):
                    stem = f"body.{e}.body.{s}.body.{b}.body.{ref}"
                    keys[f"{stem}.coefficients"] = f"experts.{e}.body.{s}.body.{b}.{ours}.alpha"
                    keys[f"{stem}.bank.templates"] = "bank.templates"
        for p in ("weight", "bias"):
            keys[f"body.{e}.tail.0.{p}"] = f"experts.{e}.tail.{p}"
    fusion = cfg["experts"]
    for ref, ours in (("squeeze", "1"), ("excitation", "3")):
        for p in ("weight", "bias"):
            keys[f"body.{fusion}.{ref}.{p}"] = f"fusion.attention.{ours}.{p}"
    for i in ("0", "2"):
        for p in ("weight", "bias"):
            keys[f"tail.0.reconst.{i}.{p}"] = f"reconstruct.{i}.{p}"
    return keys


def _scale(companion_key: str) -> float:
    """The factor a reference tensor is multiplied by to become the companion's (see the module docstring)."""
    if companion_key == _FUSION_SQUEEZE:
        return RGB_RANGE
    if companion_key.endswith(".bias") and not companion_key.startswith("fusion."):
        return 1.0 / RGB_RANGE
    return 1.0


def _indices(ref: Mapping, pattern: str, group: int = 1) -> list[int]:
    rx = re.compile(pattern)
    return [int(m.group(group)) for k in ref if (m := rx.fullmatch(k))]


def reference_config(ref: Mapping) -> dict:
    """The companion ``MEPSNet`` configuration of a reference-layout state dict, read from its keys and shapes.

    What cannot be read (a key is missing) falls back to the paper configuration; the key check of
    :func:`convert_reference_state_dict` then names what is missing.
    """
    cfg = dict(PAPER_CONFIG)
    bank = next((ref[k] for k in ref if k == "bank.templates" or k.endswith(".bank.templates")), None)
    if isinstance(bank, torch.Tensor) and bank.ndim == 5:
        cfg["templates"], cfg["expert_width"] = int(bank.shape[0]), int(bank.shape[1])
    conv = ref.get("head.0.conv.weight")
    if isinstance(conv, torch.Tensor) and conv.ndim == 4:
        cfg["extract_width"] = int(conv.shape[0])
    experts = _indices(ref, r"body\.(\d+)\.head\.0\.weight")
    if experts:
        cfg["experts"] = max(experts) + 1
    sconv = r"body\.\d+\.body\.(\d+)\.body\.(\d+)\.body\.[02]\.coefficients"
    srirs, blocks = _indices(ref, sconv, 1), _indices(ref, sconv, 2)
    if srirs:
        cfg["srir"], cfg["blocks"] = max(srirs) + 1, max(blocks) + 1
    return cfg


_first = first_names


def _strip_prefix(ref: Mapping) -> dict:
    """Drop a ``module.`` prefix that (Distributed)DataParallel puts on every key."""
    if ref and all(isinstance(k, str) and k.startswith("module.") for k in ref):
        return {k[len("module."):]: v for k, v in ref.items()}
    return dict(ref)


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape:
        return False
    if a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr() \
            and a.storage_offset() == b.storage_offset() and a.stride() == b.stride():
        return True
    return bool(torch.equal(a, b))


def _check_mean_shifts(ref: Mapping) -> list[str]:
    mean = torch.tensor(DIV2K_MEAN, dtype=torch.float64) * RGB_RANGE
    eye = torch.eye(3, dtype=torch.float64).view(3, 3, 1, 1)
    problems = []
    for key, want in (("sub_mean.weight", eye), ("add_mean.weight", eye), ("sub_mean.bias", -mean),
                      ("add_mean.bias", mean)):
        if not torch.allclose(ref[key].detach().to(torch.float64), want, rtol=0, atol=1e-3):
            problems.append(f"{key} = {[round(v, 4) for v in ref[key].detach().flatten().tolist()]}, expected "
                            f"{[round(v, 4) for v in want.flatten().tolist()]}")
    if problems:
        return ["its mean shift is not the DIV2K mean in 0..255 (rgb_range 255, std 1), which the companion's "
                "fixed mean cannot represent: " + "; ".join(problems)]
    return []


def convert_reference_state_dict(ref: Mapping[str, torch.Tensor], config: Mapping | None = None, *,
                                 dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """A companion ``MEPSNet`` state dict (``dtype``, 0..1 range) from the authors' reference state dict.

    ``config`` defaults to the one read from the keys and shapes (:func:`reference_config`; the released
    checkpoint is the paper configuration). Every reference key must be there with the expected shape and
    nothing else (one :class:`CompanionError` lists what differs); the repeated template bank is taken once,
    after checking all its copies agree; the mean shifts are checked and dropped; the weights are
    transformed from 0..255 to 0..1 (module docstring).
    """
    if not isinstance(ref, Mapping):
        raise CompanionError(f"a MEPSNet reference state dict is a dict of tensors, got {type(ref).__name__}")
    ref = _strip_prefix(ref)
    cfg = _config(config if config is not None else reference_config(ref))
    keymap = reference_key_map(cfg)
    shapes = {k: tuple(v.shape) for k, v in MEPSNet(**cfg).state_dict().items()}
    k_templates = cfg["templates"]

    def expected_shape(key: str) -> tuple[int, ...]:
        target = keymap[key]
        if target is None:
            return (3, 3, 1, 1) if key.endswith("weight") else (3,)
        if target.endswith(".alpha"):
            return (k_templates, 1, 1, 1, 1)
        return shapes[target]

    hint = " (these are companion key names: load them with MEPSNet().load_state_dict)" \
        if "extract.0.weight" in ref else ""
    problems = key_map_problems(ref, keymap, expected_shape, unexpected_hint=hint)
    if not problems:
        problems += _check_mean_shifts(ref)
        bank = ref["bank.templates"]
        differ = [k for k, t in keymap.items() if t == "bank.templates" and not _same(ref[k], bank)]
        if differ:
            problems.append(f"{len(differ)} copies of the template bank differ from bank.templates: "
                            f"{_first(differ)}")
    if problems:
        size = ", ".join(f"{k}={cfg[k]}" for k in ("experts", "srir", "blocks", "templates", "extract_width",
                                                    "expert_width"))
        raise CompanionError(f"the weights do not fit the authors' MEPSNet layout ({size}): "
                             f"{'; '.join(problems)}; check the file is the authors' MEPSNet checkpoint")

    out: dict[str, torch.Tensor] = {}
    for key, target in keymap.items():
        if target is None or target in out:  # the mean shifts; the bank's further copies
            continue
        value = ref[key].detach().to("cpu", torch.float64)
        if target.endswith(".alpha"):
            value = value.reshape(k_templates)
        out[target] = (value * _scale(target)).to(dtype).contiguous()
    return {k: out[k] for k in shapes}  # the companion's own order


# --- files ---------------------------------------------------------------------------------------------

def _unwrap(obj, path: Path) -> Mapping:
    if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return inner
    raise CompanionError(f"{path} holds no MEPSNet state dict (a dict of tensors, or one under "
                         f"{', '.join(WRAPPER_KEYS)}); point to the authors' checkpoint")


def read_reference_state_dict(path) -> Mapping[str, torch.Tensor]:
    """The reference state dict in a ``.pt`` file, read only with ``torch.load(weights_only=True)``."""
    path = Path(path)
    if not path.is_file():
        raise CompanionError(f"{path} does not exist; run `python -m companion download {OFFICIAL_NAME}` or "
                             "check the path")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, garbage, or a pickle the safe loader refuses
        raise CompanionError(f"{path} is unreadable by the safe loader ({type(exc).__name__}); it is not a "
                             f"plain tensor checkpoint: download it again with `python -m companion download "
                             f"{OFFICIAL_NAME}`") from None
    return _unwrap(obj, path)


def _model(state: dict[str, torch.Tensor], config: Mapping) -> MEPSNet:
    model = MEPSNet(**_config(config))
    model.load_state_dict(state, strict=True)
    return model.eval()


def _read_safetensors(path: Path) -> MEPSNet:
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CompanionError(f"{path} is not a readable safetensors file ({exc}); delete it and run "
                             f"`python -m companion download {OFFICIAL_NAME}` again") from None
    if meta.get("format") != FORMAT:
        raise CompanionError(f"{path} is not a converted MEPSNet (no {FORMAT!r} marker); delete it and run "
                             f"`python -m companion download {OFFICIAL_NAME}` again")
    try:
        return _model(state, json.loads(meta["config"]))
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise CompanionError(f"{path} does not fit MEPSNet ({str(exc).splitlines()[0]}); delete it and run "
                             f"`python -m companion download {OFFICIAL_NAME}` again") from None


def load_authors_mepsnet(path) -> MEPSNet:
    """The companion ``MEPSNet`` (eval mode, inputs in 0..1) holding the authors' weights in ``path``.

    ``path`` is the authors' ``.pt`` checkpoint (read with ``weights_only=True``, converted) or the
    ``.safetensors`` file :func:`convert_official_file` writes (loaded as it is).
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise CompanionError(f"{path} does not exist; run `python -m companion download {OFFICIAL_NAME}`")
        return _read_safetensors(path)
    ref = read_reference_state_dict(path)
    cfg = reference_config(ref)
    return _model(convert_reference_state_dict(ref, cfg), cfg)


def convert_official_file(src, dest) -> Path:
    """Convert the authors' ``.pt`` checkpoint ``src`` into a companion safetensors file ``dest`` (atomically).

    The file holds the companion's key names and tensors (as :func:`convert_reference_state_dict` makes
    them) and, as metadata, the format marker, the MEPSNet configuration and where it came from.
    """

    src, dest = Path(src), Path(dest)
    ref = read_reference_state_dict(src)
    cfg = reference_config(ref)
    state = convert_reference_state_dict(ref, cfg)
    meta = {"format": FORMAT, "config": json.dumps(cfg, sort_keys=True), "source": src.name,
            "range": "0..1 (converted from the reference's 0..255)"}
    with atomic_path(dest) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return dest


def load_official_mepsnet(data_root=None) -> MEPSNet:
    """The authors' MEPSNet as downloaded by ``python -m companion download mepsnet-official``."""
    path = official_weights_path(data_root)
    if not path.is_file():
        raise CompanionError(f"the authors' MEPSNet weights are not at {path}; run `python -m companion "
                             f"download {OFFICIAL_NAME}` (with --data if your data folder is elsewhere)")
    return load_authors_mepsnet(path)


#: Converters ``python -m companion download`` applies after fetching weights of this chapter.
CONVERTERS = {OFFICIAL_NAME: convert_official_file}
