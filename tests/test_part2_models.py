"""Chapter 4's models (thesis §4.3.3, "Baselines"): SRCNN, EDSR, RCAN, RDN, RNAN and CARN's same-grid option.

Sizes counted by hand and against the thesis' printed parameter counts (``companion/paper/thesis.json``), shapes
in the plain and same-grid settings, what the desubpixel head computes, gradients, the one-line errors, and
that CARN without ``same_grid`` is exactly the model the zoo's committed checkpoints were saved from. The
paper-size networks are built on the meta device: counted, never allocated.
"""
from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch.nn import functional as F

from companion.errors import CompanionError
from companion.models import MODELS, build_model, count_parameters, model_label
from companion.models import edsr as edsr_module
from companion.models import rcan as rcan_module
from companion.models import rdn as rdn_module
from companion.models import rnan as rnan_module
from companion.models import srcnn as srcnn_module
from companion.models.carn import CARN
from companion.models.common import SingleScaleModel
from companion.models.edsr import EDSR
from companion.models.rcan import RCAN
from companion.models.rdn import RDN
from companion.models.rnan import RNAN, NonLocalBlock
from companion.models.srcnn import SRCNN
from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("one_thread")

MODULES = {"srcnn": srcnn_module, "edsr": edsr_module, "rcan": rcan_module, "rdn": rdn_module, "rnan": rnan_module}
SR_NAMES = ("srcnn", "edsr", "rcan")                 # TASK = "super-resolution"
THESIS = {e["id"]: e for e in json.loads((REPO / "companion" / "paper" / "thesis.json").read_text())["entries"]}


def conv(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + c_out


def on_meta(cls, **kwargs):
    with torch.device("meta"):
        return cls(**kwargs)


def printed_params(table: str, row: str) -> tuple[int, int]:
    """(printed count, half a unit of its last printed digit): "43.2M" -> (43_200_000, 50_000)."""
    value = next(r["values"]["Params"] for r in THESIS[table]["rows"] if r["label"] == row)
    unit = 100_000 if value % 100_000 == 0 else 10_000        # "x.yM" or "x.yzM", as these tables print
    return value, unit // 2


def agrees_with_print(count: int, table: str, row: str) -> bool:
    value, half_unit = printed_params(table, row)
    return abs(count - value) <= half_unit


def seeded(cls, **kwargs):
    torch.manual_seed(0)
    return cls(**kwargs)


# ---------------------------------------------------------------- registry

@pytest.mark.parametrize("name, cls, label", [("srcnn", SRCNN, "SRCNN"), ("edsr", EDSR, "EDSR"), ("rcan", RCAN, "RCAN"),
                                              ("rdn", RDN, "RDN"), ("rnan", RNAN, "RNAN")])
def test_registry_finds_every_model(name, cls, label):
    module, entry = MODULES[name], MODELS[name]
    assert entry.cls is cls and entry.label == label == model_label(name) and entry.init
    assert entry.paper_config == module.PAPER_CONFIG and entry.quick_config == module.QUICK_CONFIG
    assert (getattr(module, "TASK", "") == "super-resolution") == (name in SR_NAMES)
    paper = on_meta(cls)                                                  # the constructor's defaults ...
    assert paper.config == entry.paper_config                             # ... are the paper configuration
    quick = build_model(name, "quick")
    assert type(quick) is cls and quick.config == entry.quick_config
    assert cls(**quick.config).config == quick.config                     # a config rebuilds its model
    assert count_parameters(quick) < count_parameters(paper) / 3


# ---------------------------------------------------------------- parameter counts of the paper configurations

def test_srcnn_9_5_5_is_the_thesis_0_07m():
    by_hand = conv(3, 64, 9) + conv(64, 32, 5) + conv(32, 3, 5)
    assert by_hand == 69_251 == count_parameters(SRCNN()) == count_parameters(SRCNN(same_grid=True))
    assert round(by_hand / 1e6, 2) == 0.07                                # §4.3.3: "from 0.07M"
    assert agrees_with_print(by_hand, "Table 4.3", "SRCNN")               # printed 0.1M (one decimal)
    # the other common variants do not round to 0.07M: 9-1-5 and 9-3-5 on RGB, 9-5-5 on Y
    others = [count_parameters(SRCNN(kernels=(9, 1, 5))), count_parameters(SRCNN(kernels=(9, 3, 5))),
              conv(1, 64, 9) + conv(64, 32, 5) + conv(32, 1, 5)]
    assert others == [20_099, 36_483, 57_281] and all(round(n / 1e6, 2) != 0.07 for n in others)


def test_edsr_counts_the_same_grid_network_and_the_restoration_one():
    c = 256
    body = conv(c, c, 3) * (2 * 32 + 1)
    plain = conv(3, c, 3) + body + 2 * conv(c, 4 * c, 3) + conv(c, 3, 3)
    same_grid = plain - conv(3, c, 3) + conv(48, c, 3)
    restoration = conv(3, c, 3) + body + conv(c, 3, 3)
    assert (plain, same_grid, restoration) == (43_089_923, 43_193_603, 38_369_283)
    assert count_parameters(on_meta(EDSR)) == plain
    assert count_parameters(on_meta(EDSR, same_grid=True)) == same_grid
    assert count_parameters(on_meta(EDSR, **edsr_module.RESTORATION_CONFIG)) == restoration
    # the printed 43.2M is the same-grid network (the plain ×4 EDSR rounds to 43.1M)
    for table, row in [("Table 4.3", "EDSR"), ("Table 4.4", "EDSR"), ("Table 5.4", "SimUSR EDSR")]:
        assert agrees_with_print(same_grid, table, row) and not agrees_with_print(plain, table, row)
    for table in ("Table 4.7", "Table 4.8"):
        assert agrees_with_print(restoration, table, "EDSR")              # 38.4M: no upsampler


def test_rcan_paper_count():
    c = 64
    rcab = 2 * conv(c, c, 3) + conv(c, 4, 1) + conv(4, c, 1)
    group = 20 * rcab + conv(c, c, 3)
    plain = conv(3, c, 3) + 10 * group + conv(c, c, 3) + 2 * conv(c, 4 * c, 3) + conv(c, 3, 3)
    same_grid = plain - conv(3, c, 3) + conv(48, c, 3)
    assert (rcab, plain, same_grid) == (74_436, 15_592_355, 15_618_275)
    assert count_parameters(on_meta(RCAN)) == plain
    assert count_parameters(on_meta(RCAN, same_grid=True)) == same_grid
    for table, row in [("Table 4.3", "RCAN"), ("Table 4.5", "RCAN"), ("Table 5.4", "SimUSR RCAN")]:
        assert agrees_with_print(same_grid, table, row) and agrees_with_print(plain, table, row)


def test_rdn_paper_count():
    g0 = g = 64
    rdb = sum(conv(g0 + i * g, g, 3) for i in range(8)) + conv(g0 + 8 * g, g0, 1)
    by_hand = conv(3, g0, 3) + conv(g0, g0, 3) + 16 * rdb + conv(16 * g0, g0, 1) + conv(g0, g0, 3) + conv(g0, 3, 3)
    assert (rdb, by_hand) == (1_364_544, 21_975_683)
    assert count_parameters(on_meta(RDN)) == by_hand
    assert agrees_with_print(by_hand, "Table 4.7", "RDN") and agrees_with_print(by_hand, "Table 4.8", "RDN")


def test_rnan_paper_count():
    c = 64
    rb = 2 * conv(c, c, 3)
    block = 9 * rb + conv(c, c, 3) + (c * c * 36 + c) + conv(c, c, 1)   # 9 RBs, stride-2 conv, deconv 6×6, 1×1
    non_local = 3 * conv(c, c // 2, 1) + conv(c // 2, c, 1)
    by_hand = conv(3, c, 3) + 10 * (block + conv(c, c, 3)) + 2 * non_local + conv(c, c, 3) + conv(c, 3, 3)
    assert (block + conv(c, c, 3), non_local, by_hand) == (890_240, 8_352, 8_959_555)
    assert count_parameters(on_meta(RNAN)) == by_hand
    assert agrees_with_print(by_hand, "Table 4.7", "RNAN") and agrees_with_print(by_hand, "Table 4.8", "RNAN")
    # the paper's q = 2 residual blocks at the start of each attention block would not be 9.0M
    assert not agrees_with_print(by_hand + 10 * rb, "Table 4.8", "RNAN")


def test_carn_same_grid_is_table_5_4s_1_14m():
    plain, same_grid = count_parameters(CARN(scales=(4,))), count_parameters(CARN(scales=(4,), same_grid=True))
    assert plain == 1_111_875 and same_grid == plain + conv(48, 64, 3) - conv(3, 64, 3) == 1_137_795
    assert agrees_with_print(same_grid, "Table 4.3", "CARN") and agrees_with_print(plain, "Table 4.3", "CARN")
    assert agrees_with_print(same_grid, "Table 5.4", "SimUSR CARN")       # 1.14M: the same-grid CARN
    assert not agrees_with_print(plain, "Table 5.4", "SimUSR CARN")


# ---------------------------------------------------------------- shapes

@pytest.mark.parametrize("name", ["srcnn", "edsr", "rcan", "rdn", "carn"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_super_resolution_shapes_plain_and_same_grid(name, scale):
    def build(same_grid):
        if name == "carn":
            return CARN(channels=8, blocks=2, units=2, scales=(scale,), same_grid=same_grid)
        return build_model(name, "quick", scale=scale, same_grid=same_grid)

    plain, grid = build(False), build(True)
    lr = torch.rand(2, 3, 7, 5)
    assert plain(lr).shape == (2, 3, 7 * scale, 5 * scale)
    on_grid = torch.rand(2, 3, 7 * scale, 5 * scale)
    assert grid(on_grid).shape == on_grid.shape
    assert grid(on_grid, scale).shape == grid.at_scale(scale)(on_grid).shape == on_grid.shape
    if name != "srcnn":                                     # SRCNN is natively same-grid: same first conv
        assert grid.state_dict()[_first_conv(name)].shape[1] == 3 * scale ** 2
        assert plain.state_dict()[_first_conv(name)].shape[1] == 3


def _first_conv(name: str) -> str:
    return {"edsr": "head.weight", "rcan": "head.weight", "rdn": "sfe1.weight", "carn": "entry.weight"}[name]


@pytest.mark.parametrize("name", ["edsr", "rdn", "rnan"])
def test_restoration_models_keep_the_size(name):
    model = build_model(name, "quick", scale=1)
    for shape in [(2, 3, 16, 16), (1, 3, 13, 11)]:          # odd sides too (RNAN crops its deconvolution)
        assert model(torch.rand(shape)).shape == shape
    assert model.at_scale(1) is model


def test_paper_edsr_without_upsampler_is_a_restoration_model():
    model = on_meta(EDSR, **edsr_module.RESTORATION_CONFIG)
    assert len(model.upsample) == 0 and model.head.in_channels == 3


# ---------------------------------------------------------------- what the same-grid head computes

def _fold_same_grid_head(weight: torch.Tensor, scale: int) -> torch.Tensor:
    """The 3-channel head that acts on an LR image like the same-grid head on its nearest-neighbour upsampling:
    pixel_unshuffle puts the s² copies of colour c at channels c·s² … c·s² + s² − 1."""
    out, _, k, _ = weight.shape
    return weight.view(out, 3, scale * scale, k, k).sum(dim=2)


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("name", ["edsr", "rcan", "rdn", "carn"])
def test_same_grid_on_a_nearest_upsampled_input_is_the_plain_model_with_a_folded_head(name, scale):
    def build(same_grid):
        if name == "carn":
            return seeded(CARN, channels=8, blocks=2, units=2, scales=(scale,), same_grid=same_grid)
        return seeded(MODELS[name].cls, **{**MODELS[name].quick_config, "scale": scale, "same_grid": same_grid})

    grid, plain = build(True), build(False)
    state = dict(grid.state_dict())
    state[_first_conv(name)] = _fold_same_grid_head(state[_first_conv(name)], scale)
    plain.load_state_dict(state)
    lr = torch.rand(2, 3, 6, 5)
    nearest = F.interpolate(lr, scale_factor=scale, mode="nearest")
    with torch.no_grad():
        assert torch.allclose(grid(nearest), plain(lr), atol=1e-5)


def test_srcnn_plain_upsamples_bicubically_itself():
    grid, plain = seeded(SRCNN, scale=3, same_grid=True), seeded(SRCNN, scale=3)
    lr = torch.rand(1, 3, 9, 8)
    with torch.no_grad():
        upsampled = F.interpolate(lr, scale_factor=3, mode="bicubic", align_corners=False)
        assert torch.equal(plain(lr), grid(upsampled))


# ---------------------------------------------------------------- gradients

@pytest.mark.parametrize("name, kwargs", [("srcnn", {}), ("edsr", {"same_grid": True}), ("rcan", {"same_grid": True}),
                                          ("edsr", {"scale": 1}), ("rdn", {}), ("rnan", {})])
def test_gradients_reach_every_parameter(name, kwargs):
    model = seeded(MODELS[name].cls, **{**MODELS[name].quick_config, **kwargs})
    side = 4 * 6 if kwargs.get("same_grid") else 12
    x = torch.rand(2, 3, side, side, requires_grad=True)
    model(x).square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # the non-local blocks start as the identity (W = 0): their θ, φ, g get gradients once W is not zero
    silent = {n for n, _ in model.named_parameters() if ".theta." in n or ".phi." in n or ".g." in n}
    # a channel attention squeezes to 4 ReLU units fed by one pooled vector: all 4 can be off at a random init,
    # and then the squeeze conv and the excitation conv's weight get no gradient (its bias still does)
    squeeze = {n for n, _ in model.named_parameters() if "attention.gate.1." in n or "attention.gate.3.weight" in n}
    for n, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n
        if n not in squeeze:
            assert (p.grad.abs().sum() > 0) != (n in silent), n
    assert not squeeze or any(p.grad.abs().sum() > 0 for n, p in model.named_parameters() if n in squeeze)


def test_non_local_block_starts_as_identity_and_learns():
    torch.manual_seed(0)
    block = NonLocalBlock(8)
    x = torch.rand(2, 8, 6, 5)
    assert torch.equal(block(x), x)
    with torch.no_grad():
        block.W.weight.normal_()
    block(x).square().mean().backward()
    assert all(p.grad.abs().sum() > 0 for p in block.parameters())


def test_non_local_attention_is_softmax_over_the_attended_positions():
    torch.manual_seed(0)
    block = NonLocalBlock(4)
    with torch.no_grad():
        block.W.weight.normal_()
    x = torch.rand(1, 4, 3, 5)
    theta, phi, g = (m(x).flatten(2)[0] for m in (block.theta, block.phi, block.g))   # C'×N
    y = g @ torch.softmax(theta.T @ phi, dim=1).T                                       # C'×N: Σ_j w_ij g_j
    expected = x + block.W(y.view(1, -1, 3, 5))
    with torch.no_grad():
        assert torch.allclose(block(x), expected, atol=1e-5)


# ---------------------------------------------------------------- errors

def _one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message
    return message


@pytest.mark.parametrize("name", ["srcnn", "edsr", "rcan", "rdn", "rnan"])
def test_wrong_inputs_raise_one_line_errors(name):
    model = build_model(name, "quick")
    for bad in [torch.rand(3, 8, 8), torch.rand(1, 1, 8, 8), torch.zeros(1, 3, 8, 8, dtype=torch.uint8)]:
        with pytest.raises(CompanionError) as excinfo:
            model(bad)
        assert MODELS[name].label in _one_line(excinfo)


@pytest.mark.parametrize("name", ["edsr", "rcan", "rdn"])
def test_same_grid_input_must_divide_by_the_scale(name):
    model = build_model(name, "quick", scale=4, same_grid=True)
    with pytest.raises(CompanionError) as excinfo:
        model(torch.rand(1, 3, 18, 16))
    assert "divisible by 4" in _one_line(excinfo)
    with pytest.raises(CompanionError, match="CARN needs height and width divisible by 3"):
        CARN(channels=8, blocks=1, units=1, scales=(3,), same_grid=True)(torch.rand(1, 3, 10, 9))


@pytest.mark.parametrize("name", SR_NAMES)
def test_a_single_scale_model_refuses_another_scale(name):
    model = build_model(name, "quick", scale=2)
    assert isinstance(model, SingleScaleModel)
    for call in (lambda: model(torch.rand(1, 3, 8, 8), 4), lambda: model.at_scale(3)):
        with pytest.raises(CompanionError) as excinfo:
            call()
        assert "×2 model" in _one_line(excinfo)
    with pytest.raises(ValueError, match="takes scale 1, 2, 3, 4"):
        build_model(name, "quick", scale=8)


def test_rnan_restores_at_the_same_size_only():
    with pytest.raises(ValueError, match="scale=1"):
        RNAN(scale=2)
    with pytest.raises(CompanionError):
        build_model("rnan", "quick").at_scale(4)


# ---------------------------------------------------------------- CARN: the same-grid option changes nothing else

def _zoo_carn_checkpoints() -> list:
    """The zoo's CARN checkpoints trained before the same-grid option existed (Chapters 2-3); the same-grid ones
    (Chapters 4-5) are the option's own models."""
    sidecars = sorted((REPO / "checkpoints").rglob("*.safetensors.json"))
    return [s for s in sidecars if json.loads(s.read_text()).get("model") == "carn"
            and not json.loads(s.read_text()).get("config", {}).get("same_grid")]


def test_the_zoo_holds_carn_checkpoints():
    assert len(_zoo_carn_checkpoints()) >= 1


@pytest.mark.parametrize("sidecar", _zoo_carn_checkpoints(), ids=lambda p: str(p.relative_to(REPO / "checkpoints")))
def test_carn_without_same_grid_is_the_zoos_model(sidecar):
    stored = json.loads(sidecar.read_text())["config"]
    weights = sidecar.with_name(sidecar.name.removesuffix(".json"))
    for model in (CARN(**stored), CARN(**stored, same_grid=False)):
        assert "same_grid" not in model.config
        assert json.loads(json.dumps(model.config)) == stored              # the config the zoo keyed it by
        with safe_open(str(weights), "pt") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == shapes
        model.load_state_dict(load_file(str(weights)), strict=True)


def test_carn_same_grid_enters_the_config_only_when_true():
    plain, explicit = CARN(), CARN(same_grid=False)
    assert plain.config == explicit.config and "same_grid" not in plain.config
    assert list(plain.state_dict()) == list(explicit.state_dict())
    grid = CARN(scales=(4,), same_grid=True)
    assert grid.config == {**CARN(scales=(4,)).config, "same_grid": True}
    assert CARN(**grid.config).config == grid.config
    assert list(grid.state_dict()) == list(CARN(scales=(4,)).state_dict())
    assert grid.state_dict()["entry.weight"].shape == (64, 48, 3, 3)
    with pytest.raises(ValueError, match="one scale"):
        CARN(same_grid=True)                                              # the multi-scale CARN has three
