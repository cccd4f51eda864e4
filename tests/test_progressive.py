"""Progressive CARN ×8 (thesis Chapter 3): sizes counted by hand, the three stages and their heads, the staged
learning rates of Algorithm 1 (and the prose's reading), the geometric self-ensemble "+", and Table 3.1's costs
(printed beside our exact recount)."""
from __future__ import annotations

from fractions import Fraction

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from companion.analysis import costs
from companion.analysis.costs import (TABLE_3_1, TABLE_3_1_OUTPUT, called_parameter_count, conv_costs, edsr_costs,
                                      mult_adds, mult_adds_printed_as_g, parameter_count, params_printed_as_m)
from companion.engine.ensemble import TRANSFORMS, inverse_transform, self_ensemble, transform
from companion.errors import CompanionError
from companion.models import MODELS, build_model, count_parameters, model_label
from companion.models import progressive_carn as module
from companion.models.carn import CARN
from companion.models.progressive_carn import STAGES, ProgressiveCARN, stage_target_downscale

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(channels=8, blocks=2, units=2)


def conv(c_in, c_out, k):
    return c_in * c_out * k * k + c_out


def meta(cls, **kw):
    with torch.device("meta"):
        return cls(**kw)


def seeded(**kw):
    torch.manual_seed(0)
    return ProgressiveCARN(**{**TINY, **kw})


# ---------------------------------------------------------------- registry and sizes

def test_registry_entry():
    entry = MODELS["progressive_carn"]
    assert entry.cls is ProgressiveCARN and model_label("progressive_carn") == "Progressive CARN"
    assert module.TASK == "super-resolution" and entry.init
    assert entry.paper_config == dict(channels=64, blocks=8, units=4, stages=3, layout="progressive",
                                      reading="thesis", global_residual=None, concat="outputs")
    with torch.device("meta"):
        paper = build_model("progressive_carn", "paper")
        quick = build_model("progressive_carn", "quick")
    assert paper.config == entry.paper_config and ProgressiveCARN(**paper.config).config == paper.config
    assert quick.scales == paper.scales == (2, 4, 8)
    assert count_parameters(quick) < count_parameters(paper) / 50


def test_paper_parameter_count_by_hand():
    c, b, u = 64, 8, 4
    block = u * 2 * conv(c, c, 3) + sum(conv(k * c, c, 1) for k in range(2, u + 2))
    body = b * block + sum(conv(k * c, c, 1) for k in range(2, b + 2))
    assert body == 3_004_928
    stage = body + conv(c, 4 * c, 3)                                 # + the ×2 upsampler
    x8_path = conv(3, c, 3) + 3 * stage + conv(c, 3, 3)
    assert x8_path == 9_461_443                                     # Table 3.1: 9.46M
    paper = meta(ProgressiveCARN)
    assert count_parameters(paper) == x8_path + 2 * conv(c, 3, 3)   # the two detached heads, kept here
    assert called_parameter_count(paper, 8) == x8_path
    assert called_parameter_count(paper, 2) == conv(3, c, 3) + stage + conv(c, 3, 3)
    # §3.4.1's "B = 4 and U = 8" would be 9.88M, not the 9.46M of Table 3.1 and §3.4.2
    assert params_printed_as_m(called_parameter_count(meta(ProgressiveCARN, blocks=4, units=8), 8)) == 9.88
    # layout="end" (Table 3.1's CARN-B24U4): the same tensors, the upsampling moved to the end, one head
    end = meta(ProgressiveCARN, layout="end")
    assert count_parameters(end) == x8_path and end.scales == (8,)


# ---------------------------------------------------------------- forward

def test_three_stages_give_x2_x4_x8_images():
    model = seeded().eval()
    x = torch.rand(2, 3, 6, 5)
    with torch.no_grad():
        outs = model.outputs(x)
        assert {s: tuple(o.shape) for s, o in outs.items()} == {2: (2, 3, 12, 10), 4: (2, 3, 24, 20),
                                                                8: (2, 3, 48, 40)}
        for s, o in outs.items():
            assert torch.allclose(model(x, s), o, atol=1e-6)
            assert torch.allclose(model.at_scale(s)(x), o, atol=1e-6)
        assert torch.equal(model(x), model(x, 8))
        # stage 1's image does not depend on the modules added later
        before = model(x, 2)
        for p in list(model.carn[1].parameters()) + list(model.carn[2].parameters()):
            p.add_(1.0)
        assert torch.equal(model(x, 2), before)
    for bad in (3, 16, True, 2.5):
        with pytest.raises(ValueError, match="has no"):
            model(x, bad)
    with pytest.raises(CompanionError, match="B×3×H×W"):
        model(x[0])


def test_end_layout_is_one_x8_upsampler_after_the_three_modules():
    model = seeded(layout="end").eval()
    assert model.upsample is not None and all(m.upsample is None for m in model.carn) and len(model.to_rgb) == 1
    with torch.no_grad():
        x = torch.rand(1, 3, 4, 6)
        assert model(x).shape == (1, 3, 32, 48) and set(model.outputs(x)) == {8}
    with pytest.raises(ValueError, match="staged training needs layout='progressive'"):
        model.param_groups(1)


def test_constructor_errors_name_the_choices():
    for kwargs, match in [(dict(layout="late"), "layout must be one of progressive, end"),
                          (dict(reading="paper"), "reading must be one of thesis, code"),
                          (dict(concat="all"), "concat must be one of outputs, fused"),
                          (dict(stages=0), ">= 1"), (dict(stages=4, layout="end"), "stages must be 1, 2 or 3"),
                          (dict(reading="code", global_residual=True), "no global residual")]:
        with pytest.raises(ValueError, match=match):
            ProgressiveCARN(**{**TINY, **kwargs})
    assert ProgressiveCARN(**TINY, stages=4).scales == (2, 4, 8, 16)


# ---------------------------------------------------------------- staged training

def test_stage_schedule_of_section_3_4_1():
    assert [(s.stage, s.scale, s.batch_size, s.steps) for s in STAGES] == \
        [(1, 2, 32, 150_000), (2, 4, 8, 200_000), (3, 8, 2, 300_000)]
    assert module.PATCH_SIZE == 48 and module.LEARNING_RATE == 1e-4
    assert [stage_target_downscale(s) for s in (1, 2, 3)] == [4, 2, 1]   # ×8→×4, ×8→×2, ×8→HR


@pytest.mark.parametrize("decay, expected", [
    ("algorithm", {1: {"entry": 1e-4, "module1": 1e-4, "to_rgb1": 1e-4},
                   2: {"entry": 1e-5, "module1": 1e-5, "module2": 1e-4, "to_rgb2": 1e-4},
                   3: {"entry": 1e-6, "module1": 1e-6, "module2": 1e-5, "module3": 1e-4, "to_rgb3": 1e-4}}),
    ("prose", {1: {"entry": 1e-4, "module1": 1e-4, "to_rgb1": 1e-4},
               2: {"entry": 1e-5, "module1": 1e-5, "module2": 1e-4, "to_rgb2": 1e-4},
               3: {"entry": 1e-5, "module1": 1e-5, "module2": 1e-5, "module3": 1e-4, "to_rgb3": 1e-4}}),
])
def test_param_groups_decay_earlier_modules(decay, expected):
    model = seeded()
    for stage, lrs in expected.items():
        groups = model.param_groups(stage, decay=decay)
        assert {g["name"]: g["lr"] for g in groups} == lrs
        # the groups hold exactly the parameters the stage's output uses: detached heads and later modules out
        model.zero_grad(set_to_none=True)
        model(torch.rand(1, 3, 4, 4), 2 ** stage).mean().backward()
        used = {id(p) for p in model.parameters() if p.grad is not None}
        grouped = [id(p) for g in groups for p in g["params"]]
        assert len(grouped) == len(set(grouped)) and set(grouped) == used


def test_a_stage_two_step_leaves_the_detached_head_and_stage_three_alone():
    model = seeded()
    opt = torch.optim.Adam(model.param_groups(2))
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if n.startswith(("to_rgb.0", "carn.2"))}
    loss = F.l1_loss(model(torch.rand(2, 3, 4, 4), 4), torch.rand(2, 3, 16, 16))
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)
    assert {g["name"]: g["lr"] for g in opt.param_groups}["module1"] == 1e-5
    for bad in (0, 4, True):
        with pytest.raises(ValueError, match="stage must be 1..3"):
            model.param_groups(bad)
    with pytest.raises(ValueError, match="decay must be one of algorithm, prose"):
        model.param_groups(2, decay="once")


# ---------------------------------------------------------------- self-ensemble

def test_transforms_are_the_eight_dihedral_maps_and_invert():
    assert len(TRANSFORMS) == len(set(TRANSFORMS)) == 8 and TRANSFORMS[0] == (False, 0)
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    images = {tuple(transform(x, f, k).flatten().tolist()) for f, k in TRANSFORMS}
    assert len(images) == 8
    for f, k in TRANSFORMS:
        assert torch.equal(inverse_transform(transform(x, f, k), f, k), x)


def test_self_ensemble_of_an_equivariant_model_is_the_model():
    x = torch.rand(1, 3, 5, 7)

    def nearest_x2(t):
        return F.interpolate(t, scale_factor=2, mode="nearest")
    assert torch.allclose(self_ensemble(nearest_x2, x), nearest_x2(x))


def test_self_ensemble_averages_and_is_itself_equivariant():
    model = seeded().eval()
    x = torch.rand(1, 3, 4, 6)
    with torch.no_grad():
        plus = self_ensemble(model.at_scale(8), x)
        manual = sum(inverse_transform(model(transform(x, f, k), 8), f, k) for f, k in TRANSFORMS) / 8
        assert plus.shape == (1, 3, 32, 48) and torch.allclose(plus, manual, atol=1e-6)
        assert not torch.allclose(plus, model(x, 8), atol=1e-4)      # the model alone is not equivariant
        for f, k in TRANSFORMS:
            assert torch.allclose(self_ensemble(model.at_scale(8), transform(x, f, k)), transform(plus, f, k),
                                  atol=1e-5)
    with pytest.raises(ValueError, match="not geometry-preserving"):
        self_ensemble(lambda t: t[..., :2, :], x)


# ---------------------------------------------------------------- Table 3.1

def test_table_3_1_recounts_beside_the_printed_values():
    rows = {r["label"]: r for r in costs.table_3_1()}
    assert list(rows) == ["CARN-B3U3", "CARN-B24U4", "EDSR", "progressive CARN", "progressive CARN+"]
    ours = {label: (r["params"], r["mult_adds"]) for label, r in rows.items()}
    assert ours == {"CARN-B3U3": (1_259_587, 130_244_889_600), "CARN-B24U4": (9_461_443, 395_400_268_800),
                    "EDSR": (45_450_243, 2_861_991_014_400), "progressive CARN": (9_461_443, 2_143_992_499_200),
                    "progressive CARN+": (9_461_443, 2_143_992_499_200)}
    printed = {label: (r["printed_params"], r["printed_mult_adds_g"]) for label, r in rows.items()}
    assert printed == {"CARN-B3U3": (1_250_000, 130.0), "CARN-B24U4": (9_460_000, 395.0),
                       "EDSR": (45_450_000, 2862.0), "progressive CARN": (9_460_000, 2144.0),
                       "progressive CARN+": (9_460_000, 2144.0)}
    for label, r in rows.items():
        cells = TABLE_3_1[label]
        assert (r["params"], r["params_weights_only"], r["mult_adds"]) == \
            (cells["Params"]["recount"], cells["Params"]["weights_only"], cells["Mult-Adds (G)"]["recount"])
        assert r["mult_adds_match"] and r["params_match"]          # Params truncated to 0.01M, as printed
    # rounded instead of truncated, CARN-B3U3 would print 1.26M
    assert {label for label, r in rows.items() if not r["params_match_rounded"]} == {"CARN-B3U3"}
    assert params_printed_as_m(1_259_587) == 1.26 and params_printed_as_m(1_259_587, "down") == 1.25
    assert TABLE_3_1["progressive CARN+"]["Mult-Adds (G)"]["ensemble"] == 8 * 2_143_992_499_200


def test_table_3_1_mult_adds_by_hand():
    lr = 240 * 135                                   # the LR size of a 1920×1080 ×8 output
    c = 64
    body_weights = 3_004_928 - (8 * (8 + 4) * c + 8 * c)            # B8U4 body, biases out
    per_module = body_weights + 9 * c * 4 * c                        # + its ×2 upsampler conv
    head, entry = 27 * c, 27 * c
    progressive = lr * (entry + per_module * (1 + 4 + 16) + 64 * head)
    end = lr * (entry + 3 * body_weights + 9 * c * 4 * c * (1 + 4 + 16) + 64 * head)
    assert progressive == 2_143_992_499_200 and mult_adds_printed_as_g(progressive) == 2144
    assert end == 395_400_268_800 and mult_adds_printed_as_g(end) == 395


def test_plain_carn_b24u4_is_not_the_printed_row():
    """A single global cascade over 24 blocks (1×1 fusions up to 25C inputs) is bigger than the table says."""
    plain = meta(CARN, blocks=24, units=4, scales=(8,))
    params, macs = parameter_count(plain), mult_adds(plain, 8, TABLE_3_1_OUTPUT)
    assert (params, macs) == (TABLE_3_1["CARN-B24U4"]["Params"]["plain"],
                              TABLE_3_1["CARN-B24U4"]["Mult-Adds (G)"]["plain"]) == (10_247_875, 420_880_665_600)
    assert params_printed_as_m(params) == 10.25 and mult_adds_printed_as_g(macs) == 421


class _EDSR(nn.Module):
    """An EDSR-shaped network (head, residual blocks, body conv, ×2 upsampler stages, tail) to count with the
    hook-based counter and cross-check :func:`edsr_costs`' arithmetic."""

    def __init__(self, blocks, c, stages):
        super().__init__()
        self.head = nn.Conv2d(3, c, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1))
            for _ in range(blocks))
        self.body = nn.Conv2d(c, c, 3, padding=1)
        self.up = nn.Sequential(*[m for _ in range(stages) for m in (nn.Conv2d(c, 4 * c, 3, padding=1),
                                                                      nn.PixelShuffle(2))])
        self.tail = nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, x):
        h = self.head(x)
        r = h
        for block in self.blocks:
            r = r + 0.1 * block(r)
        return self.tail(self.up(self.body(r) + h))


def test_edsr_costs_match_a_built_edsr():
    built = meta(_EDSR, blocks=32, c=256, stages=3)
    ours = edsr_costs()
    assert ours["params"] == parameter_count(built) == 45_450_243
    assert ours["weights_only"] == parameter_count(built, biases=False)
    assert ours["mult_adds"] == mult_adds(built, None, TABLE_3_1_OUTPUT) == 2_861_991_014_400
    small = edsr_costs(blocks=2, channels=8, scale=4, output_size=(64, 64))
    assert small["mult_adds"] == mult_adds(meta(_EDSR, blocks=2, c=8, stages=2), None, (64, 64))
    with pytest.raises(ValueError, match="EDSR scales"):
        edsr_costs(scale=5)


def test_counter_agrees_with_torch_flop_counter_on_a_progressive_model():
    model = seeded().eval()
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(x, 8)
    size = tuple(out.shape[-2:])
    assert Fraction(counter.get_total_flops(), 2) == sum((c.macs for c in conv_costs(model, 8, size)), Fraction(0))
