"""The fast CPU inference path (companion.engine.fast_inference) and its benchmark (benchmarks/carn_speed.py).

Every backend's output equals the eager model's within 1e-4 on small inputs (CARN-M at quick size, the
authors' CARN-M when ../shared/weights has it, batches and sizes other than the export's); a missing runtime
falls back with a one-line message, or is a one-line error when asked for by name; a backend whose graph
depends on the input size is caught by the probe. No timing is asserted.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from companion.engine import fast_inference as fi
from companion.engine.inference import restore
from companion.errors import CompanionError
from companion.models import build_model
from conftest import REPO, load_script, texture

pytestmark = pytest.mark.usefixtures("one_thread")

WEIGHTS = REPO.parent / "shared" / "weights"
HAS_ORT = fi.backend_problem("onnxruntime") is None
needs_ort = pytest.mark.skipif(not HAS_ORT, reason="onnxruntime/onnx not installed (pyproject.toml pins them)")
ATOL = 1e-4


@pytest.fixture(scope="module")
def carn_m():
    torch.manual_seed(0)
    return build_model("carn_m", "quick", reading="code").eval()


def image(h: int, w: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.stack([torch.from_numpy(texture(h, w, seed=seed + i, uint8=False)).permute(2, 0, 1)
                        for i in range(batch)])


def eager(model, x, scale=4):
    with torch.no_grad():
        return model(x, scale)


@pytest.mark.parametrize("backend", fi.BACKENDS)
def test_every_backend_equals_eager_within_1e_4(carn_m, backend):
    if backend == "onnxruntime" and not HAS_ORT:
        pytest.skip("onnxruntime/onnx not installed")
    fast = fi.accelerate(carn_m, scale=4, backend=backend, report=None)
    assert fast.backend == backend and fast.notes == [] and fast.max_abs_diff <= ATOL
    for shape in [(1, 17, 23), (2, 24, 32), (1, 9, 40)]:  # batch and sizes other than the export's
        x = image(shape[1], shape[2], batch=shape[0])
        out = fast(x)
        assert out.shape == (shape[0], 3, 4 * shape[1], 4 * shape[2]) and out.dtype == torch.float32
        assert out.is_contiguous()
        assert (out - eager(carn_m, x)).abs().max() <= ATOL


@needs_ort
def test_auto_picks_onnxruntime_and_leaves_the_model_alone(carn_m):
    before = {k: v.clone() for k, v in carn_m.state_dict().items()}
    fast = fi.accelerate(carn_m, scale=2, report=None)
    assert fast.backend == "onnxruntime" and fast.threads == torch.get_num_threads()
    assert "ONNX Runtime" in fast.label and list(fast.parameters()) == []
    x = image(12, 20)
    assert (fast(x) - eager(carn_m, x, 2)).abs().max() <= ATOL
    assert all(torch.equal(before[k], v) for k, v in carn_m.state_dict().items())
    assert fi.accelerate(carn_m.at_scale(3), threads=1, report=None).threads == 1


@needs_ort
def test_a_model_without_at_scale_and_a_same_size_model():
    class TwoArgs(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 12, 3, padding=1, groups=3)
            self.shuffle = nn.PixelShuffle(2)

        def forward(self, x, scale):
            return self.shuffle(torch.relu(self.conv(x)))[:, :3] * scale

    torch.manual_seed(1)
    net = TwoArgs().eval()
    fast = fi.accelerate(net, scale=2, report=None)
    x = image(10, 14)
    with torch.no_grad():
        assert (fast(x) - net(x, 2)).abs().max() <= ATOL
    dncnn = build_model("dncnn", "quick").eval()
    fast = fi.accelerate(dncnn, report=None)
    x = image(21, 18, batch=2)
    with torch.no_grad():
        assert fast.backend == "onnxruntime" and (fast(x) - dncnn(x)).abs().max() <= ATOL


@needs_ort
def test_restore_runs_the_fast_model_tile_by_tile(carn_m):
    fast = fi.accelerate(carn_m, scale=4, report=None)
    img = image(36, 44)[0]
    ref = restore(carn_m.at_scale(4), img, scale=4, tiles=(2, 2), overlap=8)
    got = restore(fast, img, scale=4, tiles=(2, 2), overlap=8, channels_last=True)
    assert got.shape == (3, 144, 176) and (got - ref).abs().max() <= ATOL


def test_the_authors_carn_m_on_an_embedded_crop():
    path = WEIGHTS / "carn_m.pth"
    if not path.is_file():
        pytest.skip(f"{path} is absent (the authors' weights live outside the project; "
                    "`python -m companion download carn-m` fetches them)")
    from skimage import data

    from companion.ch2.authors_weights import load_authors_carn

    net = load_authors_carn(path)
    fast = fi.accelerate(net, scale=4, report=None)
    x = torch.from_numpy(data.astronaut()[100:140, 180:236].copy()).permute(2, 0, 1)[None].float() / 255
    assert (fast(x) - eager(net, x)).abs().max() <= ATOL
    if HAS_ORT:
        assert fast.backend == "onnxruntime"


# --- fallbacks and errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("missing", ["onnxruntime", "onnx"])
def test_a_missing_runtime_falls_back_with_one_line(carn_m, monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # `import onnxruntime` now raises ImportError
    problem = fi.backend_problem("onnxruntime")
    assert problem is not None and "\n" not in problem and missing in problem and fi.ONNX_PACKAGES in problem
    assert fi.available_backends() == {"onnxruntime": problem, "channels-last": None, "eager": None}
    lines = []
    fast = fi.accelerate(carn_m, scale=4, report=lines.append)
    assert fast.backend == "channels-last" and fast.notes == lines and len(lines) == 1
    assert "\n" not in lines[0] and "pip install" in lines[0] and "using the channels-last backend" in lines[0]
    x = image(11, 13)
    assert (fast(x) - eager(carn_m, x)).abs().max() <= ATOL
    with pytest.raises(CompanionError, match="pip install onnxruntime") as err:
        fi.accelerate(carn_m, scale=4, backend="onnxruntime")
    assert "\n" not in str(err.value)


def test_the_fallback_line_goes_to_stderr_by_default(carn_m, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    fi.accelerate(carn_m, scale=4)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fast inference: ")


@needs_ort
def test_a_size_dependent_graph_is_caught_by_the_probe():
    class SizeDependent(nn.Module):  # the tracer bakes float(x.shape[-1]) in as the export size's constant
        def forward(self, x):
            return x * float(x.shape[-1])

    lines = []
    fast = fi.accelerate(SizeDependent(), report=lines.append)
    assert fast.backend == "channels-last" and len(lines) == 1 and "differs from the eager model" in lines[0]
    with pytest.raises(CompanionError, match="differs from the eager model"):
        fi.accelerate(SizeDependent(), backend="onnxruntime")
    assert fi.accelerate(SizeDependent(), check=False, backend="onnxruntime", report=None).max_abs_diff is None


def test_an_export_failure_falls_back(carn_m, monkeypatch):
    def broken(model, shape=fi.EXPORT_SHAPE):
        raise RuntimeError("Exporting the operator 'aten::frobnicate' to ONNX opset 17 is not supported\nmore")

    monkeypatch.setattr(fi, "export_onnx", broken)
    monkeypatch.setattr(fi, "backend_problem", lambda name: None)
    lines = []
    fast = fi.accelerate(carn_m, scale=4, report=lines.append)
    assert fast.backend == "channels-last" and len(lines) == 1 and "\n" not in lines[0]
    assert "cannot run CARN-M (RuntimeError: Exporting the operator" in lines[0]
    with pytest.raises(CompanionError, match="cannot run CARN-M"):
        fi.accelerate(carn_m, scale=4, backend="onnxruntime")


def test_bad_arguments_are_one_line_errors(carn_m):
    with pytest.raises(CompanionError, match="unknown backend 'tensorrt'"):
        fi.accelerate(carn_m, scale=4, backend="tensorrt")
    with pytest.raises(CompanionError, match="unknown backend"):
        fi.backend_problem("openvino")
    with pytest.raises(CompanionError, match="threads must be a positive whole number"):
        fi.accelerate(carn_m, scale=4, threads=0)
    with pytest.raises(CompanionError, match="takes a torch.nn.Module"):
        fi.accelerate(lambda x: x)
    fast = fi.accelerate(carn_m, scale=4, backend="eager", report=None)
    assert fast.max_abs_diff == 0.0 and fast.label == "PyTorch fp32 eager"
    with pytest.raises(CompanionError, match="B×C×H×W float batch"):
        fast(torch.zeros(3, 8, 8))
    with pytest.raises(CompanionError, match="B×C×H×W float batch"):
        fast(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="no ×5 upsampler"):
        fi.accelerate(carn_m, scale=5)

    class Picky(nn.Module):
        def forward(self, x):
            if x.shape[-1] % 8:
                raise CompanionError("Picky needs widths divisible by 8")
            return x

    with pytest.raises(CompanionError, match="probe batch, which the eager model refuses .*check=False"):
        fi.accelerate(Picky())


# --- the benchmark script ---------------------------------------------------------------------------------

def _benchmark():
    return load_script(REPO / "benchmarks" / "carn_speed.py")


def test_benchmark_help_and_argument_errors():
    script = REPO / "benchmarks" / "carn_speed.py"
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--routes" in done.stdout and "Fig. 2.12" in done.stdout
    bad = subprocess.run([sys.executable, str(script), "--output", "721x1280"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "divisible by 4" in bad.stderr
    bench = _benchmark()
    assert bench.parse_routes("fast") == ("eager", "fast")
    with pytest.raises(Exception, match="routes are"):
        bench.parse_routes("eager,tvm")


def test_benchmark_runs_on_a_tiny_output(tmp_path, capsys):
    import json

    bench = _benchmark()
    out = tmp_path / "speed.json"
    assert bench.main(["--output", "16x24", "--repeats", "1", "--routes", "eager,channels-last,fast",
                       "--gemm-n", "64", "--idle-sample", "0", "--weights", str(tmp_path), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| route" in text and "Fig. 2.12, CPU half" in text and "PCARN-M" in text
    results = json.loads(out.read_text())
    routes = results["carn_m"]["routes"]
    assert set(routes) == {"eager", "channels-last", "fast"}
    assert all(r["max_abs_diff"] <= ATOL for r in routes.values())
    assert results["carn_m"]["mult_adds"] == 32_480_870_400 * 16 * 24 // (720 * 1280)
    assert [r["label"] for r in results["figure_2_12"]] == [r[0] for r in bench.FIG_2_12_ROWS]
    assert all(r["max_abs_diff"] <= ATOL for r in results["figure_2_12"])


# --- the pixel-shuffle fold ---------------------------------------------------------------------------------

@needs_ort
@pytest.mark.parametrize("r, k, out, expect", [(2, 3, 3, 1), (3, 5, 1, 1), (2, 1, 4, 1), (2, 3, 8, 0)])
def test_fold_depth_to_space_keeps_the_output(r, k, out, expect):
    import onnx
    import onnxruntime as ort

    torch.manual_seed(r * 10 + k)
    net = nn.Sequential(nn.Conv2d(3, 4 * r * r, 3, padding=1), nn.ReLU(), nn.PixelShuffle(r),
                        nn.Conv2d(4, out, k, padding=k // 2)).eval()
    proto = onnx.load_from_string(fi.export_onnx(net))
    assert fi.fold_depth_to_space(proto) == expect  # 8 outputs × r² = 32 > 16: left as it is
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("DepthToSpace") == 1 and (ops[-1] == "DepthToSpace") == bool(expect)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for shape in [(1, 3, 7, 9), (2, 3, 12, 5)]:
        x = torch.rand(*shape)
        with torch.no_grad():
            assert (torch.from_numpy(session.run(None, {"image": x.numpy()})[0]) - net(x)).abs().max() <= 1e-5


@needs_ort
def test_fold_leaves_grouped_shared_and_strided_convs_alone():
    import onnx

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.up, self.a, self.b = nn.PixelShuffle(2), nn.Conv2d(4, 2, 3, padding=1), nn.Conv2d(4, 2, 3, padding=1)

        def forward(self, x):
            y = self.up(x)
            return self.a(y) + self.b(y)

    for net in [nn.Sequential(nn.PixelShuffle(2), nn.Conv2d(4, 2, 3, padding=1, groups=2)),
                nn.Sequential(nn.PixelShuffle(2), nn.Conv2d(4, 2, 3, padding=1, stride=2)),
                nn.Sequential(nn.PixelShuffle(2), nn.Conv2d(4, 2, 3, padding=0)), Shared()]:
        proto = onnx.load_from_string(fi.export_onnx(net.eval(), shape=(1, 16, 6, 6)))
        assert fi.fold_depth_to_space(proto) == 0


@needs_ort
def test_the_fast_carn_m_has_its_exit_folded(carn_m):
    fast = fi.accelerate(carn_m, scale=4, report=None)
    assert fast.folded == 1  # the exit conv (3 outputs); the upsampler's grouped convs stay
    assert fast.label.endswith("1 pixel shuffle folded")
