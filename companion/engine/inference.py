"""Tiled inference: :func:`restore` runs an image-to-image model on an image of any size, tile by tile.

The MEPSNet authors' public test code cuts each test image into 8 overlapping patches (2 rows × 4 columns,
overlapping by a shave margin), restores them one by one and stitches the results; that keeps memory
bounded on 2K DIV2K images and is part of reproducing Table 7.1. The companion's reading of the stitching is
*crop-and-stitch*: each tile is restored with ``overlap`` pixels of extra context on every inner side, and
only its own (non-overlapping) part is kept -- no blending. For a fully convolutional model whose receptive
field radius is below ``overlap`` this equals whole-image inference up to float rounding.

With ``scale`` = s (super-resolution, Ch.2-5) the model returns s× the tile; the kept part is the tile's own
part scaled by s, pasted at s× its position.

For image files (``python -m companion restore``): :func:`fastest_mode` picks the precision the hardware
computes fastest (bf16 only where it is native: CUDA with bf16, a CPU with AVX512_BF16 or AMX; else fp32),
:func:`prepare_model` applies it (a model's own ``for_inference`` when it has one), and :func:`restore_files`
checks every input first (:func:`check_inputs`), then restores each file and writes ``<stem>_restored.png``
atomically, never over an input nor over an existing file unless asked to. By default the tiling comes from a
memory budget (:func:`auto_tiles`, :func:`bytes_per_pixel`), since a multi-megapixel photograph restored as one
tile needs gigabytes (measured by ``benchmarks/restore_memory.py``).
"""
from __future__ import annotations

import inspect
import os
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from companion.data.images import load_image, save_image
from companion.device import resolve_device
from companion.errors import CompanionError
from companion.models.common import to_channels_last

def check_tiling(tiles, overlap) -> tuple[int, int]:
    if (not isinstance(tiles, (tuple, list)) or len(tiles) != 2
            or not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) and t >= 1 for t in tiles)):
        raise CompanionError(f"tiles must be two positive integers (rows, columns), got {tiles!r}")
    if not isinstance(overlap, (int, np.integer)) or isinstance(overlap, bool) or overlap < 0:
        raise CompanionError(f"overlap must be a non-negative integer number of pixels, got {overlap!r}")
    return int(tiles[0]), int(tiles[1])


def _bounds(size: int, parts: int, overlap: int, axis: str) -> list[tuple[int, int, int, int]]:
    """(core start, core end, context start, context end) of ``parts`` near-equal tiles along one axis."""
    core = size // parts
    if core < 1 or (parts > 1 and core < overlap):
        raise CompanionError(f"image {axis} of {size} px is too small for {parts} tiles with {overlap} px overlap "
                             f"(tiles of {core} px, need at least {max(1, overlap if parts > 1 else 1)}); "
                             "use fewer tiles or a smaller overlap")
    edges = [i * size // parts for i in range(parts + 1)]
    return [(a, b, max(0, a - overlap), min(size, b + overlap)) for a, b in zip(edges[:-1], edges[1:])]


def _device(device) -> torch.device:
    return device if isinstance(device, torch.device) else resolve_device(str(device))


@torch.no_grad()
def restore(model: nn.Module, image: torch.Tensor, *, tiles=(1, 1), overlap: int = 16, device="cpu",
            bf16: bool = False, channels_last: bool = False, scale: int = 1) -> torch.Tensor:
    """Restore a 3×H×W or B×3×H×W image in [0, 1] tile by tile; returns the same shape (× ``scale`` in height
    and width), CPU float32, in [0, 1].

    The image is split into ``tiles`` = (rows, columns) near-equal tiles (``(1, 1)``: the whole image at
    once); each is cut with ``overlap`` px of context on every side that has a neighbour, restored in
    ``model.eval()`` under ``torch.no_grad()``, and only its own part is pasted back (crop-and-stitch, no
    blending). The model is moved to ``device`` ("cpu", "cuda", "auto" or a torch.device) and, with
    ``channels_last``, to that memory format; its train/eval mode is restored afterwards. ``bf16`` runs it
    under bfloat16 autocast. A tile smaller than ``overlap`` (or than 1 px) is a :class:`CompanionError`;
    the model's own input checks (e.g. ``check_image_batch``) raise unchanged.
    """
    if not isinstance(image, torch.Tensor) or image.ndim not in (3, 4):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise CompanionError(f"restore takes a 3×H×W or B×3×H×W tensor, got {shape}")
    rows, cols = check_tiling(tiles, overlap)
    if not isinstance(scale, (int, np.integer)) or isinstance(scale, bool) or scale < 1:
        raise CompanionError(f"scale must be a whole number >= 1, got {scale!r}")
    single = image.ndim == 3
    batch = image[None] if single else image
    if batch.is_floating_point():
        batch = batch.float()
    h, w = batch.shape[-2:]
    ys, xs = _bounds(h, rows, overlap, "height"), _bounds(w, cols, overlap, "width")

    dev = _device(device)
    was_training = model.training
    model.eval()
    model.to(dev)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        to_channels_last(model)
    autocast = torch.autocast(device_type=dev.type, dtype=torch.bfloat16) if bf16 else nullcontext()

    s = int(scale)
    out = torch.empty(batch.shape[:2] + (s * h, s * w), dtype=torch.float32)
    try:
        for y0, y1, cy0, cy1 in ys:
            for x0, x1, cx0, cx1 in xs:
                tile = batch[..., cy0:cy1, cx0:cx1].to(dev).contiguous(memory_format=fmt)
                with autocast:
                    result = model(tile)
                expected = tile.shape[:2] + (s * tile.shape[2], s * tile.shape[3])
                if result.shape != expected:
                    raise CompanionError(f"the model returned shape {tuple(result.shape)} for a tile of shape "
                                         f"{tuple(tile.shape)}; with scale={s} restore expects "
                                         f"{tuple(expected)}: pass the model's scale factor")
                out[..., s * y0:s * y1, s * x0:s * x1] = \
                    result[..., s * (y0 - cy0):s * (y1 - cy0), s * (x0 - cx0):s * (x1 - cx0)].float().cpu()
    finally:
        model.train(was_training)
    out.clamp_(0.0, 1.0)
    return out[0] if single else out




# --- the fastest exact-enough mode, and restoring files ------------------------------------------------------

#: Names of the CPU instruction sets with native bf16 arithmetic that oneDNN's bf16 convolutions use.
_CPU_BF16_SETS = ("AMX", "AVX512_BF16")


def cpu_bf16_instructions() -> str | None:
    """The native bf16 instruction set of this CPU that PyTorch reports ("AMX" or "AVX512_BF16"), or None.

    ``torch.backends.cpu.get_cpu_capability()`` names the vector set ATen's kernels were dispatched for
    ("AVX2", "AVX512", ...); it is read first, in case a PyTorch build names a bf16 set there. It does not
    say whether AVX512 includes AVX512_BF16, so the CPU's feature bits are asked next through
    ``torch.cpu._is_amx_tile_supported`` / ``torch.cpu._is_avx512_bf16_supported`` (PyTorch's cpuinfo
    probes; private, so each is used only where it exists). Anything unknown counts as "no bf16".
    """
    capability = str(torch.backends.cpu.get_cpu_capability()).upper()
    for name in _CPU_BF16_SETS:
        if name in capability:
            return name
    for name, probe in (("AMX", "_is_amx_tile_supported"), ("AVX512_BF16", "_is_avx512_bf16_supported")):
        check = getattr(torch.cpu, probe, None)
        try:
            if check is not None and check():
                return name
        except Exception:  # a probe that cannot run here: treat as absent
            continue
    return None


def _cuda_bf16(dev: torch.device) -> bool:
    with torch.cuda.device(dev):
        try:  # emulated bf16 (before Ampere) is slower than fp32: only native support counts
            return bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # PyTorch before the including_emulation argument
            return bool(torch.cuda.is_bf16_supported())


def fastest_mode(device="auto") -> dict:
    """The fastest exact-enough inference mode for ``device`` on this hardware (no timing: read from what
    PyTorch reports about the hardware).

    * **bf16** only where the hardware computes it natively: a CUDA GPU for which
      ``torch.cuda.is_bf16_supported(including_emulation=False)`` holds (Ampere and later), or a CPU with
      AVX512_BF16 or AMX (:func:`cpu_bf16_instructions`). Elsewhere bf16 is emulated and *slower* than fp32:
      about 10× on a 2-core AVX2 CPU (28 s against 2.6 s for a paper-size MEPSNet on 1×3×128²). Measured on
      a 2-core AVX512_BF16 CPU (AMD EPYC), paper-size MEPSNet, 1×3×128²: 0.76 s bf16 against 1.48 s fp32.
    * **fp32** otherwise.
    * **channels-last** memory format in both (oneDNN's and cuDNN's fast layout; on the 2-core CPU above a
      quick-size MEPSNet on 512² took 1.4 s fp32 channels-last against 2.3 s contiguous).

    "Exact enough": a bf16 model is run with its reconstruction in float32 where the model allows it
    (MEPSNet's ``for_inference``), else under bf16 autocast; the PSNR it costs is measured by
    ``benchmarks/mepsnet.py``. Pass ``precision="fp32"`` to :func:`inference_mode` for exact float32.

    Returns a dict: ``device`` (torch.device), ``dtype`` (torch.float32 or torch.bfloat16), ``bf16`` (bool),
    ``channels_last`` (bool), ``name`` ("fp32" or "bf16"), ``label`` (e.g. "bf16 channels-last on cpu") and
    ``why`` (the hardware fact the choice rests on).
    """
    dev = _device(device)
    if dev.type == "cuda":
        bf16 = _cuda_bf16(dev)
        why = (f"{torch.cuda.get_device_name(dev)} " + ("computes bf16 natively" if bf16
                                                        else "has no native bf16 (emulated bf16 is slower)"))
    elif dev.type == "cpu":
        found = cpu_bf16_instructions()
        bf16 = found is not None
        why = (f"this CPU has {found}" if bf16 else
               f"this CPU ({torch.backends.cpu.get_cpu_capability()}) has no AVX512_BF16 or AMX, so bf16 would "
               "be emulated and about 10× slower")
    else:
        bf16, why = False, f"no bf16 rule for device type {dev.type!r}"
    return _mode(dev, bf16, why)


def _mode(dev: torch.device, bf16: bool, why: str) -> dict:
    name = "bf16" if bf16 else "fp32"
    return {"device": dev, "dtype": torch.bfloat16 if bf16 else torch.float32, "bf16": bf16,
            "channels_last": True, "name": name, "label": f"{name} channels-last on {dev}", "why": why}


PRECISIONS = ("auto", "fp32", "bf16")


def inference_mode(device="auto", precision: str = "auto") -> dict:
    """:func:`fastest_mode` for ``precision="auto"``; ``"fp32"`` or ``"bf16"`` force that precision (same
    dict, with ``why`` saying it was asked for)."""
    if precision not in PRECISIONS:
        raise CompanionError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return fastest_mode(device)
    return _mode(_device(device), precision == "bf16", f"{precision} asked for")


def _for_inference_hook(model: nn.Module):
    """``model.for_inference`` if the model has one taking ``dtype`` and ``channels_last``; else None."""
    hook = getattr(model, "for_inference", None)
    if not callable(hook):
        return None
    try:
        params = inspect.signature(hook).parameters
    except (TypeError, ValueError):
        return None
    return hook if {"dtype", "channels_last"} <= set(params) else None


def prepare_model(model: nn.Module, mode: dict) -> tuple[nn.Module, dict]:
    """The module to run and the keyword arguments of :func:`restore` for ``mode``.

    A model with a ``for_inference(dtype=..., channels_last=...)`` method (MEPSNet) is converted with it (a
    frozen copy; the model is untouched) and run as is. Any other model runs itself, under bf16 autocast when ``mode`` is bf16.
    """
    hook = _for_inference_hook(model)
    if hook is not None:
        return hook(dtype=mode["dtype"], channels_last=mode["channels_last"]), \
            dict(bf16=False, channels_last=mode["channels_last"])
    return model, dict(bf16=mode["bf16"], channels_last=mode["channels_last"])


def output_path(path, out_dir=None, suffix: str = "restored") -> Path:
    """Where :func:`restore_files` writes the result for ``path``: ``<out_dir>/<stem>_<suffix>.png``
    (``_restored``, or ``_x4`` for super-resolution), with ``out_dir`` defaulting to a ``restored/`` folder
    beside the input."""
    path = Path(path)
    folder = Path(out_dir) if out_dir is not None else path.parent / "restored"
    return folder / f"{path.stem}_{suffix}.png"


# --- tiling from a memory budget -----------------------------------------------------------------------------

#: ``restore``'s default memory budget for one tile's activations, in bytes.
MEMORY_BUDGET = 1 << 30
#: Feature maps of the widest layer alive at once in a forward pass (its input, its output, a residual or a
#: concatenation): the estimate's multiplier, checked against measured peaks by ``benchmarks/restore_memory.py``.
LIVE_MAPS = 4


def bytes_per_pixel(model: nn.Module, scale: int = 1) -> int:
    """An upper estimate of the float32 bytes a forward pass of ``model`` holds per input pixel:
    :data:`LIVE_MAPS` feature maps of its widest convolution (in or out channels), × ``scale``² for a
    super-resolution model whose last layers run at the output size. A model without convolutions (an
    accelerated :class:`~companion.engine.fast_inference.FastModel`) counts as 64 channels wide."""
    widths = [max(m.in_channels, m.out_channels) for m in model.modules() if isinstance(m, nn.Conv2d)]
    return 4 * LIVE_MAPS * (max(widths) if widths else 64) * int(scale) ** 2


def auto_tiles(height: int, width: int, per_pixel: int, *, budget: int = MEMORY_BUDGET,
               overlap: int = 16) -> tuple[int, int]:
    """The fewest (rows, columns) tiles, near-square, whose largest tile (with its ``overlap`` context) needs at
    most ``budget`` bytes at ``per_pixel`` bytes per input pixel (:func:`bytes_per_pixel`); (1, 1) when the
    whole image fits. Tiles never get smaller than the overlap allows."""
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0:
        raise CompanionError(f"the memory budget must be a positive number of bytes, got {budget!r}")
    best = None
    for rows in range(1, max(1, height // max(overlap, 1)) + 1):
        for cols in range(1, max(1, width // max(overlap, 1)) + 1):
            if _tiling_problem(height, width, (rows, cols), overlap) is not None:
                break
            tile_h = -(-height // rows) + (2 * overlap if rows > 1 else 0)
            tile_w = -(-width // cols) + (2 * overlap if cols > 1 else 0)
            if tile_h * tile_w * per_pixel <= budget:
                key = (rows * cols, abs(tile_h - tile_w))
                if best is None or key < best[0]:
                    best = (key, (rows, cols))
                break  # more columns only add tiles
    if best is None:  # even the smallest tiles exceed the budget: the most tiles the overlap allows
        return (max(1, height // max(2 * overlap, 1)), max(1, width // max(2 * overlap, 1)))
    return best[1]


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _tiling_problem(height: int, width: int, tiles: tuple[int, int], overlap: int) -> str | None:
    try:
        _bounds(height, tiles[0], overlap, "height")
        _bounds(width, tiles[1], overlap, "width")
    except CompanionError:
        return f"{width}×{height} px, too small for {tiles[0]}×{tiles[1]} tiles with {overlap} px overlap"
    return None


def check_inputs(paths, out_dir=None, *, tiles=(1, 1), overlap: int = 16, overwrite: bool = False,
                 suffix: str = "restored") -> list[Path]:
    """Check every input before anything is restored; return their output paths (:func:`output_path`).

    Each image is read with the project's checked loader (:func:`companion.data.images.load_image`: missing,
    unreadable, greyscale, alpha, 16-bit and corrupt files are refused) and must be big enough for the
    tiling (each tile at least ``overlap`` px, at least 1 px). No output may be an input, no two inputs
    may share an output, and an output that exists already (an earlier run's, or a file the user had) is
    refused unless ``overwrite``. Every problem is reported in one :class:`CompanionError`: a single bad file with
    its full message, several by name, each with its reason.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise CompanionError("no images given; pass one or more image files")
    auto = tiles == "auto"
    tiles = (1, 1) if auto else check_tiling(tiles, overlap)
    outputs = [output_path(p, out_dir, suffix) for p in paths]
    bad: list[tuple[Path, str, str]] = []  # (path, full message, reason)
    for p in paths:
        try:
            height, width = load_image(p).shape[:2]
        except CompanionError as exc:
            bad.append((p, str(exc), getattr(exc, "reason", None) or str(exc)))
            continue
        problem = None if auto else _tiling_problem(height, width, tiles, overlap)
        if problem is not None:
            bad.append((p, f"image {p} is {problem}: use fewer --tiles or a smaller --overlap", problem))
    if len(bad) == 1:
        raise CompanionError(bad[0][1])
    if bad:
        listed = ", ".join(f"{p} ({reason})" for p, _, reason in bad)
        raise CompanionError(f"{len(bad)} of {len(paths)} images cannot be restored: {listed}; fix or remove them "
                             "(inputs must be 8-bit RGB PNG or JPEG files, big enough for the tiling)")
    for out in outputs:
        if out.is_dir():
            raise CompanionError(f"the output {out} is a folder; move it away or pass another --out folder")
        clash = [p for p in paths if _same_file(out, p)]
        if clash:
            raise CompanionError(f"the output {out} would overwrite the input {clash[0]}; rename the input or pass "
                                 "another --out folder")
    seen: dict[Path, Path] = {}
    for p, out in zip(paths, outputs):
        key = out.resolve()
        if key in seen:
            problem = "is given twice" if _same_file(seen[key], p) else f"and {seen[key]} would both write {out}"
            raise CompanionError(f"{p} {problem}; pass each image once, rename one, or restore them into "
                                 "separate --out folders")
        seen[key] = p
    existing = [out for out in outputs if out.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more output{'s' * (len(existing) > 2)})" if len(existing) > 1 else ""
        raise CompanionError(f"{existing[0]} exists already{more}; pass --overwrite to replace it, or another --out "
                             "folder")
    return outputs


def restore_files(model: nn.Module, paths, out_dir=None, *, device="auto", tiles=(1, 1), overlap: int = 16,
                  mode: dict | None = None, progress: bool = True, on_image=None, overwrite: bool = False,
                  scale: int = 1, memory_budget: int = MEMORY_BUDGET, suffix: str | None = None) -> list[dict]:
    """Restore image files with ``model`` and write each result as ``<out_dir>/<stem>_<suffix>.png``
    (``suffix``: ``restored``, or ``x<scale>`` for super-resolution).

    Every input is checked first (:func:`check_inputs`): if any is bad, one :class:`CompanionError` names
    them all and nothing is written. ``out_dir`` None: a ``restored/`` folder beside each input; an output is
    never an input, and an existing output is refused unless ``overwrite``. ``mode``: a dict of
    :func:`fastest_mode` / :func:`inference_mode` (default: the fastest for ``device``), applied by
    :func:`prepare_model`. Each image is read with the checked loader, restored with :func:`restore`
    (``tiles``, ``overlap``, ``scale``; ``tiles="auto"``: :func:`auto_tiles` for ``memory_budget`` bytes)
    and written atomically as an 8-bit PNG, with a progress bar across images (``progress``).
    ``on_image(record)`` is called after each image (e.g. to print a line without breaking the bar:
    ``tqdm.write``).

    Returns one record per image: ``input``, ``output`` (Paths), ``width``, ``height`` (the input's),
    ``tiles`` (rows, columns), ``seconds`` (read, restore and write), ``mode`` (the mode's label).
    """
    paths = [Path(p) for p in paths]
    suffix = suffix or ("restored" if scale == 1 else f"x{scale}")
    outputs = check_inputs(paths, out_dir, tiles=tiles, overlap=overlap, overwrite=overwrite, suffix=suffix)
    mode = fastest_mode(device) if mode is None else mode
    runner, options = prepare_model(model, mode)
    per_pixel = bytes_per_pixel(model, scale)
    records = []
    for path, out in tqdm(list(zip(paths, outputs)), desc="restore", unit="image", disable=not progress,
                          dynamic_ncols=True):
        t0 = time.perf_counter()
        image = torch.from_numpy(load_image(path)).permute(2, 0, 1)
        height, width = int(image.shape[1]), int(image.shape[2])
        grid = auto_tiles(height, width, per_pixel, budget=memory_budget, overlap=overlap) if tiles == "auto" \
            else tuple(tiles)
        restored = restore(runner, image, tiles=grid, overlap=overlap, device=mode["device"], scale=scale,
                           **options)
        save_image(out, restored.permute(1, 2, 0).numpy())
        record = {"input": path, "output": out, "width": width, "height": height, "tiles": grid,
                  "seconds": time.perf_counter() - t0, "mode": mode["label"]}
        records.append(record)
        if on_image is not None:
            on_image(record)
    return records
