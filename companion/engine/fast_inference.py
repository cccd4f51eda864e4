"""The fastest exact CPU inference for an image model: ONNX Runtime, else PyTorch channels-last.

:func:`accelerate` takes a model with ``forward(x)`` on a ``B×3×H×W`` float batch (for a multi-scale
super-resolution model, pass ``scale=`` or ``model.at_scale(s)``) and returns a :class:`FastModel`: an
``nn.Module`` without parameters whose ``forward(x)`` gives the same output, computed by the fastest backend
this machine has, in float32 (no reduced precision: the output stays within ``atol``, 1e-4 by default, of the
eager model's, and is checked to be before it is returned). It is a drop-in for the model in
:func:`companion.engine.inference.restore`.

Backends (:data:`BACKENDS`), tried in this order by ``backend="auto"``:

* ``"onnxruntime"``: the model is exported once to ONNX (PyTorch's TorchScript-based exporter, opset 17,
  batch, height and width dynamic, so one export serves every image size) and run by ONNX Runtime's CPU
  execution provider with all graph optimisations: convolutions in MLAS's blocked ``NCHWc`` layout with the
  ReLU (and the residual addition) fused into them, including the grouped convolutions that PyTorch's eager
  CPU path runs far below the machine's GEMM rate. A pixel shuffle followed by a narrow conv (a
  super-resolution network's exit) is first rewritten into that conv on the low-resolution grid followed by
  the pixel shuffle (:func:`fold_depth_to_space`: the same products and sums), which spares the full-resolution
  layout changes around the shuffle. Needs the ``onnxruntime`` and ``onnx`` packages (pinned in
  ``pyproject.toml``). Measured on the 2-core reference machine for CARN-M ×4 to 1280×720: see
  ``benchmarks/carn_speed.py`` and the README's Performance section.
* ``"channels-last"``: the eager model in channels-last memory format (oneDNN's native layout, no reorder
  per convolution) under ``torch.inference_mode``; always available.
* ``"eager"``: the model as it is (NCHW, ``torch.no_grad``): the reference.

Before a :class:`FastModel` is returned its output is compared with the eager model's on a small probe batch
of a different size from the export's (``check=True``): a backend that differs by more than ``atol`` (say, a
model whose traced graph depends on the input size) is not used. With ``backend="auto"`` every backend that
cannot be used is skipped with a one-line reason, reported once through ``report`` (stderr by default) and
kept in :attr:`FastModel.notes`; a backend asked for by name that cannot be used is a one-line
:class:`~companion.errors.CompanionError` naming the fix.

Threads: ONNX Runtime uses ``threads`` intra-op threads (default: ``torch.get_num_threads()``, the machine's
cores), one inter-op thread, sequential execution, and its worker threads do not spin between calls (so
PyTorch work that runs between two calls gets the cores).
"""
from __future__ import annotations

import copy
import io
import sys
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from companion.errors import CompanionError
from companion.models.common import to_channels_last

#: Backends :func:`accelerate` knows, fastest first; ``"auto"`` tries them in this order.
BACKENDS = ("onnxruntime", "channels-last", "eager")
#: The pins of the ONNX route (as in pyproject.toml), for the install hint.
ONNX_PACKAGES = "onnxruntime==1.31.1 onnx==1.23.2"
#: ONNX opset of the export.
OPSET = 17
#: Export and probe shapes: two different sizes (and batches), so a size-dependent traced graph is caught.
EXPORT_SHAPE = (1, 3, 24, 32)
PROBE_SHAPE = (2, 3, 19, 27)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def backend_problem(backend: str) -> str | None:
    """Why ``backend`` cannot run here (one line), or None when it can. Only ``"onnxruntime"`` needs
    anything beyond PyTorch: the ``onnxruntime`` package and, for the export, the ``onnx`` package."""
    if backend not in BACKENDS:
        raise CompanionError(f"unknown backend {backend!r}; choose one of auto, {', '.join(BACKENDS)}")
    if backend != "onnxruntime":
        return None
    missing = []
    for name in ("onnxruntime", "onnx"):
        try:
            __import__(name)
        except Exception as exc:  # ImportError, or a broken install that fails while importing
            missing.append(f"{name} ({_one_line(exc)})" if not isinstance(exc, ImportError) else name)
    if missing:
        return (f"the ONNX Runtime backend needs {' and '.join(missing)}, not importable here; "
                f"`pip install {ONNX_PACKAGES}` for it")
    return None


def available_backends() -> dict[str, str | None]:
    """Every backend → None if it can run here, else the one-line reason (:func:`backend_problem`)."""
    return {name: backend_problem(name) for name in BACKENDS}


# --- runners: callables CPU float32 batch → CPU float32 batch ------------------------------------------------

class _Eager:
    def __init__(self, model: nn.Module):
        self.model = model

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class _ChannelsLast:
    def __init__(self, model: nn.Module):
        self.model = to_channels_last(copy.deepcopy(model).cpu().float().eval())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = self.model(x.contiguous(memory_format=torch.channels_last))
        return out.contiguous()


class _ChannelsLastBF16:
    """The model's weights in bfloat16, channels-last, input cast to bfloat16 and output back to float32:
    oneDNN runs its convolutions on AMX / AVX512_BF16 where the CPU has them (elsewhere bf16 is emulated and
    slower than fp32, so :func:`~companion.engine.inference.fastest_mode` never picks it there)."""

    def __init__(self, model: nn.Module):
        self.model = to_channels_last(copy.deepcopy(model).cpu().to(torch.bfloat16).eval())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = self.model(x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last))
        return out.float().contiguous()


def export_onnx(model: nn.Module, shape: Sequence[int] = EXPORT_SHAPE) -> bytes:
    """``model`` (``forward(x)``, CPU float32, eval mode) as ONNX bytes with batch, height and width dynamic,
    traced on a ``shape`` batch. Uses PyTorch's TorchScript-based exporter (needs the ``onnx`` package; its
    deprecation warning, and the tracer's warnings about Python-side shape checks, are silenced: the probe in
    :func:`accelerate` checks the exported graph at another size)."""
    model = copy.deepcopy(model).cpu().float().eval()
    example = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), buffer, dynamo=False, opset_version=OPSET, input_names=["image"],
                          output_names=["output"], do_constant_folding=True,
                          dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                        "output": {0: "batch", 2: "out_height", 3: "out_width"}})
    return buffer.getvalue()


def fold_depth_to_space(proto, *, max_outputs: int = 16) -> int:
    """Rewrite, in the ONNX model ``proto`` (in place), every ``DepthToSpace`` (PixelShuffle, mode CRD,
    block r) whose only consumer is a dense, stride-1 ``Conv`` with a square odd k×k kernel, "same" padding p
    and at most ``max_outputs`` / r² output channels, into that conv computed on the low-resolution grid
    followed by the ``DepthToSpace``: the same sums of the same products (so the same output up to float
    rounding), on r² times fewer pixels with r² times the channels, and without the full-resolution layout
    changes around the pixel shuffle. Returns how many were rewritten.

    Why: a super-resolution network's last conv (CARN's exit, 64 → 3 at 1280×720) reads the upsampler's
    widest tensor only after a pixel shuffle, which ONNX Runtime runs outside its blocked ``NCHWc`` layout (two
    reorders and a transpose of a 236 MB tensor for CARN-M ×4). On the low-resolution grid the conv's HR taps
    offset by d ∈ [−p, p] from an output of phase a land on LR offsets ⌊(a + d) / r⌋ ∈ [−P, P] with
    P = max(⌈p / r⌉, ⌊(r − 1 + p) / r⌋) (P = 1 for r = 2, p = 1): weight
    ``W'[o·r² + a·r + b, c·r² + a'·r + b', P + i, P + j] = W[o, c, p + r·i + a' − a, p + r·j + b' − b]``
    where that tap exists, zero elsewhere; bias repeated r² times. The zero taps cost Mult-Adds (r²·(2P+1)²/k²
    times the conv's: 4× for r = 2, k = 3), so only narrow convs (``max_outputs``) are rewritten.
    """
    graph = proto.graph
    initializers = {init.name: init for init in graph.initializer}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph_outputs = {out.name for out in graph.output}
    folded = 0
    for d2s in list(graph.node):
        found = _foldable_conv(d2s, consumers, graph_outputs, initializers, max_outputs)
        if found is not None:
            _fold(graph, d2s, *found, initializers)
            folded += 1
    if folded:
        used = {name for node in graph.node for name in node.input}
        for init in list(graph.initializer):
            if init.name not in used:
                graph.initializer.remove(init)
    return folded


def _attributes(node) -> dict:
    """An ONNX node's attributes as a dict of Python values."""
    from onnx import helper  # reason: heavy optional path; onnx takes seconds to import

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _text(value) -> str:
    """An ONNX string attribute (bytes) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _foldable_conv(d2s, consumers: dict[str, list], graph_outputs: set[str], initializers: dict,
                   max_outputs: int):
    """``(conv, weight)`` when ``d2s`` is a CRD ``DepthToSpace`` whose only consumer is a conv that
    :func:`fold_depth_to_space` can move before it (the conv node and its weight as an array), else None."""
    from onnx import numpy_helper  # reason: heavy optional path; onnx takes seconds to import

    if d2s.op_type != "DepthToSpace" or d2s.domain not in ("", "ai.onnx"):
        return None
    attrs = _attributes(d2s)
    r = int(attrs["blocksize"])
    users = consumers.get(d2s.output[0], [])
    if _text(attrs.get("mode", "DCR")) != "CRD" or d2s.output[0] in graph_outputs or len(users) != 1:
        return None
    conv = users[0]
    if conv.op_type != "Conv" or conv.domain not in ("", "ai.onnx") or conv.input[0] != d2s.output[0]:
        return None
    cattrs = _attributes(conv)
    has_bias = len(conv.input) > 2 and bool(conv.input[2])
    if (cattrs.get("group", 1) != 1 or list(cattrs.get("strides", [1, 1])) != [1, 1]
            or list(cattrs.get("dilations", [1, 1])) != [1, 1]
            or _text(cattrs.get("auto_pad", "NOTSET")) != "NOTSET" or conv.input[1] not in initializers
            or (has_bias and conv.input[2] not in initializers)):
        return None
    weight = numpy_helper.to_array(initializers[conv.input[1]])
    if weight.ndim != 4:
        return None
    out_ch, in_ch, kh, kw = weight.shape
    pads = list(cattrs.get("pads", [0, 0, 0, 0]))
    if kh != kw or kh % 2 == 0 or pads != [kh // 2] * 4 or out_ch * r * r > max_outputs:
        return None
    return conv, weight


def _low_resolution_weight(weight: np.ndarray, r: int) -> tuple[np.ndarray, int]:
    """The weight ``W'`` of :func:`fold_depth_to_space`'s docstring for the k×k "same" conv ``weight`` after a
    pixel shuffle of block ``r``, and its reach ``P`` on the low-resolution grid (its kernel is 2P+1 wide)."""
    out_ch, in_ch, kh, _ = weight.shape
    p = kh // 2
    big = max(-((-p) // r), (r - 1 + p) // r)
    k = 2 * big + 1
    new_weight = np.zeros((out_ch * r * r, in_ch * r * r, k, k), dtype=weight.dtype)
    for a in range(r):
        for b in range(r):
            for a_in in range(r):
                for b_in in range(r):
                    for i in range(k):
                        dy = r * (i - big) + a_in - a
                        if abs(dy) > p:
                            continue
                        for j in range(k):
                            dx = r * (j - big) + b_in - b
                            if abs(dx) <= p:
                                new_weight[a * r + b::r * r, a_in * r + b_in::r * r, i, j] = \
                                    weight[:, :, dy + p, dx + p]
    return new_weight, big


def _fold(graph, d2s, conv, weight: np.ndarray, initializers: dict) -> None:
    """Replace, in ``graph``, ``d2s`` followed by ``conv`` (whose weight is ``weight``) by the low-resolution
    conv followed by the ``DepthToSpace``; the conv's output keeps its name. Old initializers stay."""
    from onnx import helper, numpy_helper  # reason: heavy optional path; onnx takes seconds to import

    r = int(_attributes(d2s)["blocksize"])
    new_weight, big = _low_resolution_weight(weight, r)
    k = 2 * big + 1
    has_bias = len(conv.input) > 2 and bool(conv.input[2])
    out_ch = weight.shape[0]
    bias = numpy_helper.to_array(initializers[conv.input[2]]) if has_bias else np.zeros(out_ch, weight.dtype)
    stem = conv.output[0]
    w_name, b_name, low = f"{stem}/folded_weight", f"{stem}/folded_bias", f"{stem}/before_depth_to_space"
    graph.initializer.extend([numpy_helper.from_array(new_weight, w_name),
                              numpy_helper.from_array(np.repeat(bias, r * r).astype(weight.dtype), b_name)])
    at = list(graph.node).index(conv)
    graph.node.remove(conv)
    graph.node.insert(at, helper.make_node("DepthToSpace", [low], [stem], name=f"{d2s.name}/moved",
                                           blocksize=r, mode="CRD"))
    graph.node.insert(at, helper.make_node("Conv", [d2s.input[0], w_name, b_name], [low],
                                           name=f"{conv.name}/low_resolution", kernel_shape=[k, k],
                                           pads=[big] * 4, strides=[1, 1], dilations=[1, 1], group=1))
    graph.node.remove(d2s)


class _OnnxRuntime:
    def __init__(self, model: nn.Module, threads: int, fold: bool = True):
        # reason: optional fast path; seconds to import, and a missing onnxruntime falls back to PyTorch
        import onnx
        import onnxruntime as ort  # reason: as onnx, above

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.threads = int(threads)
        data = export_onnx(model)
        self.folded = 0
        if fold:
            proto = onnx.load_from_string(data)
            self.folded = fold_depth_to_space(proto)
            if self.folded:
                data = proto.SerializeToString()
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        array = x.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {self.input: array})[0])


# --- the public model ------------------------------------------------------------------------------------

class FastModel(nn.Module):
    """``forward(x)``: the accelerated model on a CPU ``B×3×H×W`` float batch, returning a CPU float32,
    contiguous batch. No parameters (``.eval()``, ``.train()``, ``.to("cpu")`` are harmless, so
    :func:`~companion.engine.inference.restore` can run it). Attributes: ``backend`` (the one used),
    ``label`` (for tables), ``threads``, ``folded`` (pixel shuffles folded, :func:`fold_depth_to_space`),
    ``max_abs_diff`` (on the probe; None unchecked) and ``notes`` (one line per backend that ``"auto"``
    skipped, and why)."""

    def __init__(self, runner: Callable, backend: str, *, threads: int, notes: Sequence[str] = (),
                 max_abs_diff: float | None = None, name: str = "model"):
        super().__init__()
        self._runner, self.backend, self.threads = runner, backend, int(threads)
        self.notes, self.max_abs_diff, self.name = list(notes), max_abs_diff, name

    @property
    def folded(self) -> int:
        """How many pixel shuffles :func:`fold_depth_to_space` moved behind their conv (ONNX Runtime only)."""
        return int(getattr(self._runner, "folded", 0))

    @property
    def label(self) -> str:
        fold = f", {self.folded} pixel shuffle{'s' if self.folded > 1 else ''} folded" if self.folded else ""
        return {"onnxruntime": f"ONNX Runtime fp32, {self.threads} threads{fold}",
                "channels-last": "PyTorch fp32 channels-last", "eager": "PyTorch fp32 eager",
                "bf16": "PyTorch bf16 channels-last"}[self.backend]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise CompanionError(f"{self.name} (fast {self.backend}) takes a B×C×H×W float batch, got {shape}")
        if x.device.type != "cpu":
            raise CompanionError(f"{self.name} (fast {self.backend}) runs on the CPU; got a tensor on "
                                 f"{x.device}: move it with .cpu() or run the eager model on that device")
        out = self._runner(x.float())
        return out.float().contiguous()

    def extra_repr(self) -> str:
        return f"backend={self.backend!r}, threads={self.threads}"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _check_threads(threads) -> int:
    if threads is None:
        return max(1, torch.get_num_threads())
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise CompanionError(f"threads must be a positive whole number, got {threads!r}")
    return threads


#: :func:`accelerate`'s ``precision="bf16"`` tolerance against the eager fp32 model on the probe: bf16 keeps 8
#: bits of mantissa, so a deep network's output moves by a few 8-bit levels at most.
BF16_ATOL = 0.05


def accelerate(model: nn.Module, *, scale: int | None = None, backend: str = "auto", threads: int | None = None,
               check: bool = True, atol: float | None = None, report: Callable[[str], None] | None = _stderr,
               precision: str = "fp32") -> FastModel:
    """The fastest exact CPU version of ``model`` (see the module docstring): a :class:`FastModel`.

    ``model``: ``forward(x)`` on a B×3×H×W batch in [0, 1]; with ``scale``, ``model.at_scale(scale)`` is used
    (CARN, CARN-M) or, for a model without it, ``forward(x, scale)``. The model is copied (never changed) and
    run on the CPU in float32. ``backend``: ``"auto"`` (the fastest usable one) or one of :data:`BACKENDS`.
    ``threads``: ONNX Runtime's intra-op threads (default ``torch.get_num_threads()``). ``check``: compare with
    the eager model on a probe batch; a backend farther than ``atol`` is skipped (``"auto"``) or refused.
    ``report``: called with one line for each backend ``"auto"`` skipped (default: printed to stderr; pass
    ``None`` for silence). A named backend that cannot be used raises a one-line :class:`CompanionError`.
    ``precision="bf16"``: the ``"bf16"`` backend (weights and activations in bfloat16, for CPUs with AMX or
    AVX512_BF16), checked against the fp32 eager model within ``atol`` (default :data:`BF16_ATOL`; fp32's
    default is 1e-4).
    """
    if precision not in ("fp32", "bf16"):
        raise CompanionError(f"unknown precision {precision!r}; choose fp32 or bf16")
    if precision == "bf16":
        if backend not in ("auto", "bf16"):
            raise CompanionError(f"precision bf16 runs on the bf16 backend, not {backend!r}")
        backend = "bf16"
    atol = (BF16_ATOL if backend == "bf16" else 1e-4) if atol is None else atol
    if backend != "auto" and backend not in (*BACKENDS, "bf16"):
        raise CompanionError(f"unknown backend {backend!r}; choose one of auto, {', '.join(BACKENDS)}")
    if not isinstance(model, nn.Module):
        raise CompanionError(f"accelerate takes a torch.nn.Module, got {type(model).__name__}")
    threads = _check_threads(threads)
    name = getattr(model, "label", None) or type(model).__name__
    if scale is not None:
        if hasattr(model, "at_scale"):
            model = model.at_scale(scale)
        else:
            model = _Scaled(model, int(scale))
    reference = copy.deepcopy(model).cpu().float().eval()
    probe = torch.rand(*PROBE_SHAPE, generator=torch.Generator().manual_seed(1)) if check else None
    try:
        expected = _Eager(reference)(probe) if check else None
    except CompanionError as exc:
        raise CompanionError(f"accelerate checks {name} on a {'×'.join(map(str, PROBE_SHAPE))} probe batch, which "
                             f"the eager model refuses ({exc}); pass check=False and test the fast model yourself"
                             ) from None

    candidates = BACKENDS if backend == "auto" else (backend,)
    skipped: list[str] = []
    for candidate in candidates:
        problem = None if candidate == "bf16" else backend_problem(candidate)
        fast, diff = None, None
        if problem is None:
            try:
                runner = {"onnxruntime": lambda: _OnnxRuntime(reference, threads),
                          "channels-last": lambda: _ChannelsLast(reference),
                          "bf16": lambda: _ChannelsLastBF16(reference),
                          "eager": lambda: _Eager(reference)}[candidate]()
                fast = FastModel(runner, candidate, threads=threads if candidate == "onnxruntime"
                                 else torch.get_num_threads(), name=name)
                if check and candidate != "eager":
                    diff = float((fast(probe) - expected).abs().max())
                    if not diff <= atol:  # also catches NaN
                        problem = (f"the {candidate} backend differs from the eager model by {diff:.3g} "
                                   f"(> {atol:g}) on a {'×'.join(map(str, PROBE_SHAPE))} probe")
                elif check:
                    diff = 0.0
            except CompanionError:
                raise
            except Exception as exc:  # an export or runtime failure: that backend cannot run this model
                problem = f"the {candidate} backend cannot run {name} ({_one_line(exc)})"
        if problem is None:
            fast.max_abs_diff = diff
            fast.notes = [f"fast inference: {why}; using the {candidate} backend" for why in skipped]
            if report is not None:
                for note in fast.notes:
                    report(note)
            return fast
        if backend != "auto":
            raise CompanionError(problem)
        skipped.append(problem)
    raise AssertionError("unreachable: the eager backend is always usable")


class _Scaled(nn.Module):
    def __init__(self, model: nn.Module, scale: int):
        super().__init__()
        self.model, self.scale = model, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, self.scale)
