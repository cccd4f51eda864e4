"""CARN and CARN-M (thesis §2.3): sizes counted by hand, shapes, the two readings, the shared EResidual, Table
2.1's variants, Fig. 2.8's family, and the authors' released weights (when ``../shared/weights`` is there)."""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from companion.errors import CompanionError
from companion.models import MODELS, build_model, count_parameters, model_label
from companion.models import carn as carn_module
from companion.models import carn_m as carn_m_module
from companion.models.carn import CARN, TABLE_2_1, CascadingBlock, ResidualUnit
from companion.models.carn_m import CARNM, EResidual, efficient_family, efficient_variant
from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("one_thread")

WEIGHTS = REPO.parent / "shared" / "weights"
TINY = dict(channels=8, blocks=2, units=2)


def conv(c_in, c_out, k, groups=1):
    return c_in // groups * c_out * k * k + c_out


def seeded(cls, **kwargs):
    torch.manual_seed(0)
    return cls(**kwargs)


# ---------------------------------------------------------------- registry and sizes

@pytest.mark.parametrize("name, cls, label", [("carn", CARN, "CARN"), ("carn_m", CARNM, "CARN-M")])
def test_registry_entries(name, cls, label):
    entry = MODELS[name]
    module = {"carn": carn_module, "carn_m": carn_m_module}[name]
    assert entry.cls is cls and model_label(name) == label and module.TASK == "super-resolution"
    assert entry.init and entry.paper_config["scales"] == (2, 3, 4) and entry.paper_config["reading"] == "thesis"
    paper = build_model(name, "paper")
    assert paper.config == entry.paper_config == cls().config
    quick = build_model(name, "quick")
    assert quick.config["channels"] == 32 and count_parameters(quick) < count_parameters(paper) / 3
    assert type(cls(**paper.config)) is cls and cls(**paper.config).config == paper.config  # config rebuilds


def test_carn_paper_parameter_count_by_hand():
    c = 64
    block = 3 * 2 * conv(c, c, 3) + sum(conv(k * c, c, 1) for k in (2, 3, 4))
    ups = conv(c, 4 * c, 3) + conv(c, 9 * c, 3) + 2 * conv(c, 4 * c, 3)
    by_hand = conv(3, c, 3) + 3 * block + sum(conv(k * c, c, 1) for k in (2, 3, 4)) + ups + conv(c, 3, 3)
    assert by_hand == 1_591_939                           # Table 2.4: 1,592K
    assert count_parameters(CARN()) == count_parameters(CARN(reading="code")) == by_hand


def test_carn_m_paper_parameter_count_by_hand():
    c, g = 64, 4
    eresidual = 2 * conv(c, c, 3, g) + conv(c, c, 1)     # shared: once per block
    block = eresidual + sum(conv(k * c, c, 1) for k in (2, 3, 4))
    ups = conv(c, 4 * c, 3, g) + conv(c, 9 * c, 3, g) + 2 * conv(c, 4 * c, 3, g)
    by_hand = conv(3, c, 3) + 3 * block + sum(conv(k * c, c, 1) for k in (2, 3, 4)) + ups + conv(c, 3, 3)
    assert by_hand == 414_787                             # the released carn_m.pth; Table 2.4 prints 412K
    assert count_parameters(CARNM(reading="code")) == count_parameters(CARNM()) == by_hand


def test_table_2_1_variants_parameter_counts():
    counts = {label: count_parameters(CARN(**kw)) for label, kw in TABLE_2_1.items()}
    assert counts == {"Baseline": 963_651, "+Local": 1_074_819, "+Global": 1_000_707, "+L/G": 1_111_875,
                      "+Residual": 1_111_875}
    base = CARN(**TABLE_2_1["Baseline"])
    assert len(base.fusions) == 0 and all(len(b.fusions) == 0 for b in base.blocks) and not base.global_residual
    assert CARN(**TABLE_2_1["+Residual"]).global_residual and CARN().global_residual


# ---------------------------------------------------------------- shapes and errors

@pytest.mark.parametrize("cls", [CARN, CARNM])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_is_scale_times_larger(cls, scale):
    model = seeded(cls, channels=16).eval()
    x = torch.rand(2, 3, 7, 10)
    with torch.no_grad():
        y = model(x, scale)
    assert y.shape == (2, 3, 7 * scale, 10 * scale) and y.dtype == torch.float32 and torch.isfinite(y).all()


def test_paper_size_models_run_at_every_scale():
    x = torch.rand(1, 3, 6, 5)
    for model in (seeded(CARN).eval(), seeded(CARNM).eval()):
        with torch.no_grad():
            assert [tuple(model(x, s).shape[-2:]) for s in (2, 3, 4)] == [(12, 10), (18, 15), (24, 20)]


def test_single_scale_model_and_scale_errors():
    single = CARN(channels=8, scales=(4,))
    assert list(single.upsample) == ["x4"]
    assert single(torch.rand(1, 3, 5, 5)).shape[-2:] == (20, 20) == single(torch.rand(1, 3, 5, 5), 4).shape[-2:]
    multi = CARNM(channels=8)
    with pytest.raises(ValueError, match=r"call model\(x, scale\)"):
        multi(torch.rand(1, 3, 5, 5))
    with pytest.raises(ValueError, match="no ×8 upsampler"):
        multi(torch.rand(1, 3, 5, 5), 8)
    with pytest.raises(CompanionError, match="B×3×H×W"):
        multi(torch.rand(3, 5, 5), 2)
    with pytest.raises(ValueError, match="reading must be one of thesis, code"):
        CARN(reading="paper")
    with pytest.raises(ValueError, match="no global residual"):
        CARNM(reading="code", global_residual=True)
    with pytest.raises(ValueError, match="groups must divide"):
        CARNM(channels=30, groups=4)
    with pytest.raises(ValueError, match="scales"):
        CARN(scales=(5,))
    assert CARN(channels=8, scales=(2, 3, 4, 8))(torch.rand(1, 3, 3, 3), 8).shape[-2:] == (24, 24)


def test_at_scale_binds_the_scale_for_tiled_restore():
    from companion.engine.inference import restore
    model = seeded(CARNM, **TINY)
    x = torch.rand(3, 28, 32)
    whole = restore(model.at_scale(3), x, scale=3)
    # receptive radius in LR px: entry 1 + 2 blocks × 2 uses × 2 convs + upsampler 1 + exit ⅓ → 11 < 12
    tiled = restore(model.at_scale(3), x, scale=3, tiles=(2, 2), overlap=12)
    with torch.no_grad():
        direct = model.eval()(x[None], 3)[0].clamp(0, 1)
    assert whole.shape == (3, 84, 96) and torch.allclose(whole, direct, atol=1e-6)
    assert torch.allclose(tiled, direct, atol=1e-5)


# ---------------------------------------------------------------- the readings

def _same_weights(cls, **kw):
    thesis = seeded(cls, reading="thesis", **kw).eval()
    code = cls(reading="code", **kw).eval()
    code.load_state_dict(thesis.state_dict())
    return thesis, code


@pytest.mark.parametrize("cls", [CARN, CARNM])
def test_code_reading_puts_a_relu_after_every_fusion(cls):
    thesis, code = _same_weights(cls, **TINY)
    outs = {"thesis": [], "code": []}
    for name, model in (("thesis", thesis), ("code", code)):
        for block in model.blocks:  # a block's output is its last local fusion's
            block.register_forward_hook(lambda m, i, o, name=name: outs[name].append(o))
        with torch.no_grad():
            feats = model.features(torch.rand(1, 3, 12, 12))
        outs[name].append(feats)
    assert all(float(o.min()) >= 0 for o in outs["code"])  # ReLU after local and global fusions
    assert all(float(o.min()) < 0 for o in outs["thesis"][:-1])  # plain 1×1 outputs take both signs


@pytest.mark.parametrize("cls", [CARN, CARNM])
def test_only_the_thesis_reading_adds_the_entry_features_before_the_upsampler(cls):
    thesis, code = _same_weights(cls, **TINY)
    for model in (thesis, code):  # silence the last global fusion: H^B = 0 (before any ReLU)
        torch.nn.init.zeros_(model.fusions[-1].weight)
        torch.nn.init.zeros_(model.fusions[-1].bias)
    x = torch.rand(1, 3, 9, 11)
    with torch.no_grad():
        h0 = thesis.entry(x - thesis.mean)
        assert torch.equal(thesis.features(x), h0)            # O = H^B + H^0
        assert torch.equal(code.features(x), torch.zeros_like(h0))
        no_residual = cls(reading="thesis", global_residual=False, **TINY).eval()
        no_residual.load_state_dict(thesis.state_dict())
        assert torch.equal(no_residual.features(x), torch.zeros_like(h0))
    assert thesis.config["global_residual"] is None and thesis.global_residual and not code.global_residual


def test_concatenation_readings_differ_in_output_not_in_size():
    outputs, fused = seeded(CARN, **TINY).eval(), CARN(concat="fused", **TINY).eval()
    fused.load_state_dict(outputs.state_dict())
    assert count_parameters(outputs) == count_parameters(fused)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(outputs(x, 2), fused(x, 2))
    with pytest.raises(ValueError, match="concat"):
        CARN(concat="dense")


def test_block_concatenates_the_units_own_outputs():
    """concat="outputs": fusion u sees [B^0, R_1, …, R_u] (the authors' codes); "fused": [B^0, B^1, …, R_u]."""
    torch.manual_seed(0)
    block = CascadingBlock(4, 2, lambda: ResidualUnit(4)).eval()
    x = torch.rand(1, 4, 6, 6)
    with torch.no_grad():
        r1 = block.units[0](x)
        b1 = block.fusions[0](torch.cat([x, r1], 1))
        r2 = block.units[1](b1)
        assert torch.allclose(block(x), block.fusions[1](torch.cat([x, r1, r2], 1)))
        block.concat = "fused"
        assert torch.allclose(block(x), block.fusions[1](torch.cat([x, b1, r2], 1)))


# ---------------------------------------------------------------- the shared EResidual and Fig. 2.8's family

def test_the_recursive_eresidual_is_one_module_per_block():
    model = CARNM()
    for block in model.blocks:
        assert isinstance(block.unit, EResidual) and not hasattr(block, "units")
        assert all(stage is block.unit for stage in block.stages()) and len(block.stages()) == 3
    calls = Counter()
    for b, block in enumerate(model.blocks):
        block.unit.register_forward_hook(lambda m, i, o, b=b: calls.update([b]))
    with torch.no_grad():
        model(torch.rand(1, 3, 4, 4), 2)
    assert calls == {0: 3, 1: 3, 2: 3}                     # applied at every position
    state = model.state_dict()
    assert len(state) == 54 and sum(v.numel() for v in state.values()) == count_parameters(model) == 414_787
    eresidual = count_parameters(EResidual(64, 4))
    assert eresidual == 22_720
    unshared = CARNM(recursive=False)
    assert count_parameters(unshared) - count_parameters(model) == 3 * 2 * eresidual  # ÷U on the units


def test_shared_unit_gets_the_gradient_of_all_its_uses():
    model = seeded(CARNM, **TINY)
    model(torch.rand(2, 3, 6, 6), 2).square().mean().backward()
    for name, p in model.named_parameters():
        if name.startswith(("upsample.x3", "upsample.x4")):  # the other scales' branches are not used at ×2
            assert p.grad is None
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert all(float(p.grad.abs().sum()) > 0 for p in model.blocks[0].unit.parameters())


def test_figure_2_8_family():
    family = efficient_family()
    assert list(family)[:4] == ["G1", "G1R", "G2", "G2R"] and family["G4R"] == MODELS["carn_m"].paper_config
    assert efficient_variant(64, True)["groups"] == 64
    params = {name: count_parameters(CARNM(**cfg)) for name, cfg in family.items()}
    assert params["G4R"] == 414_787
    for g in (1, 2, 4, 8, 16, 32):
        assert params[f"G{g}R"] > params[f"G{2 * g}R"] and params[f"G{g}"] > params[f"G{g}R"]
    depthwise = CARNM(groups=64)
    assert depthwise.blocks[0].unit.conv1.weight.shape == (64, 1, 3, 3)
    assert CARNM(group_upsampler=False).upsample["x2"][0].groups == 1


def test_training_step_lowers_the_loss():
    torch.manual_seed(0)
    model = CARNM(**TINY)
    lr, hr = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 16, 16)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = F.l1_loss(model(lr, 2), hr)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


# ---------------------------------------------------------------- the authors' released weights

def _authors(name: str) -> dict:
    path = WEIGHTS / name
    if not path.exists():
        pytest.skip(f"{path} is absent (the authors' weights live outside the project; see its README)")
    return torch.load(path, map_location="cpu", weights_only=True)


_RENAMES = [(r"^b(\d)\.", lambda m: f"blocks.{int(m[1]) - 1}."), (r"(^|\.)c(\d)\.(body\.0\.)?",
            lambda m: f"{m[1]}fusions.{int(m[2]) - 1}."), (r"\.b1\.(body\.0|conv1)\.", ".unit.conv1."),
            (r"\.b1\.(body\.2|conv2)\.", ".unit.conv2."), (r"\.b1\.(body\.4|pw)\.", ".unit.pointwise."),
            (r"upsample\.up(\d)\.body\.", r"upsample.x\1.")]


def _companion_names(state: dict) -> dict:
    """The authors' names onto the companion's, by renaming only; their mean shifts are fixed buffers here, and
    PCARN-M's copies of the shared unit under b2/b3 are dropped (the test checks they equal b1's)."""
    out = {}
    for key, value in state.items():
        if key.startswith(("sub_mean", "add_mean")) or re.search(r"\.b[23]\.", key):
            continue
        for pattern, repl in _RENAMES:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def _shapes(state: dict) -> Counter:
    return Counter(tuple(v.shape) for v in state.values())


def test_carn_m_pth_fits_the_code_reading():
    state = _authors("carn_m.pth")
    assert len(state) == 58 and sum(v.numel() for v in state.values()) == 414_811
    shifts = [k for k in state if k.startswith(("sub_mean", "add_mean"))]
    assert sum(state[k].numel() for k in shifts) == 24
    trainable = {k: v for k, v in state.items() if k not in shifts}
    model = CARNM(reading="code")
    assert _shapes(trainable) == _shapes(model.state_dict()) and len(trainable) == 54
    assert sum(v.numel() for v in trainable.values()) == count_parameters(model) == 414_787
    model.load_state_dict(_companion_names(state), strict=True)


def test_pcarn_m_l1_fits_the_thesis_reading_by_distinct_tensors():
    state = _authors("PCARN-M-L1.pth")
    assert len(state) == 94
    for b in (1, 2, 3):  # the shared EResidual, stored under each of its three names
        for part in ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "pw.weight", "pw.bias"):
            assert torch.equal(state[f"b{b}.b1.{part}"], state[f"b{b}.b2.{part}"])
            assert torch.equal(state[f"b{b}.b1.{part}"], state[f"b{b}.b3.{part}"])
    distinct = _companion_names(state)
    model = CARNM()
    assert len(distinct) == 54 and _shapes(distinct) == _shapes(model.state_dict())
    assert sum(v.numel() for v in distinct.values()) == 414_787
    model.load_state_dict(distinct, strict=True)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(F.mse_loss(a.clamp(0, 1), b)))


@pytest.mark.parametrize("file, reading", [("carn_m.pth", "code"), ("PCARN-M-L1.pth", "thesis")])
def test_each_released_file_restores_well_only_in_its_own_reading(file, reading):
    """A sanity check of what the weights mean (not the protocol of §3 of the issue): a 96×96 astronaut crop,
    downscaled with torch's antialiased bicubic; the file's own reading beats bicubic by over 1.5 dB at ×2–×4,
    the other reading falls below bicubic and Eq. 2.2's literal concatenation loses over 1.5 dB."""
    from companion.data.images import embedded_image
    state = _companion_names(_authors(file))
    hr = torch.from_numpy(np.ascontiguousarray(embedded_image("astronaut")[160:256, 160:256])).permute(2, 0, 1)[None]
    other = {"code": "thesis", "thesis": "code"}[reading]
    for scale in (2, 3, 4):
        lr = F.interpolate(hr, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
        bicubic = _psnr(F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False), hr)
        got = {}
        for name, kw in (("own", dict(reading=reading)), ("other", dict(reading=other)),
                         ("fused", dict(reading=reading, concat="fused"))):
            model = CARNM(**kw).eval()
            model.load_state_dict(state)
            with torch.no_grad():
                got[name] = _psnr(model(lr, scale), hr)
        assert got["own"] > bicubic + 1.5, (scale, bicubic, got)
        assert got["other"] < bicubic and got["fused"] < got["own"] - 1.5, (scale, bicubic, got)
