"""Exact costs (companion.analysis.costs): Table 2.4's CARN / CARN-M parameters and Mult-Adds, Table 2.1's
parameters, Tables 2.5–2.7's counts, Eq. 2.10, and a cross-check against PyTorch's own FLOP counter."""
from __future__ import annotations

import json
from fractions import Fraction

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from companion.analysis import costs
from companion.analysis.costs import (CH2_OUTPUT, TABLE_2_1, TABLE_2_4, TABLES_2_5_TO_2_7, conv_costs, eq_2_10_ratio,
                                      eresidual_ratio, mult_adds, mult_adds_printed_as, parameter_count,
                                      params_printed_as)
from companion.models.carn import CARN
from companion.models.carn_m import CARNM, efficient_family
from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("one_thread")

MODELS = {"CARN": CARN, "CARN-M": CARNM}


def meta(cls, **kw):
    with torch.device("meta"):
        return cls(**kw)


# ---------------------------------------------------------------- Table 2.4

@pytest.mark.parametrize("label", sorted(TABLE_2_4))
def test_table_2_4_recounts(label):
    name, scale = label.split(" x")
    cells = TABLE_2_4[label]
    for reading in ("thesis", "code"):  # the readings change what the weights mean, not what they cost
        model = MODELS[name](reading=reading)
        assert mult_adds(model, int(scale), CH2_OUTPUT) == cells["Mult-Adds (G)"]["recount"]
        assert parameter_count(model) == cells["Params"]["recount"]
        assert parameter_count(model, biases=False) == cells["Params"]["weights_only"]
    assert mult_adds_printed_as(cells["Mult-Adds (G)"]["recount"]) == cells["Mult-Adds (G)"]["printed"]


def test_table_2_4_printed_params_carn_with_biases_carn_m_without():
    assert params_printed_as(TABLE_2_4["CARN x2"]["Params"]["recount"]) == 1_592_000          # 1,591,939
    assert params_printed_as(TABLE_2_4["CARN-M x2"]["Params"]["recount"]) == 415_000 != 412_000  # 414,787
    assert params_printed_as(TABLE_2_4["CARN-M x2"]["Params"]["weights_only"]) == 412_000      # 412,032
    # Tables 2.5-2.7's 1,589K for CARN / PCARN is its weights-only count too
    for row in TABLES_2_5_TO_2_7.values():
        assert params_printed_as(row["Params"]["weights_only"]) == row["Params"]["printed"]
        assert mult_adds_printed_as(row["Mult-Adds (G)"]["recount"]) == row["Mult-Adds (G)"]["printed"]


def test_table_2_4_from_the_models():
    rows = costs.table_2_4()
    assert [r["label"] for r in rows] == list(TABLE_2_4)
    assert all(r["mult_adds_match"] for r in rows)
    assert {r["model"]: (r["params_match"], r["weights_only_match"]) for r in rows} == \
        {"CARN": (True, False), "CARN-M": (False, True)}
    assert {r["label"]: r["mult_adds"] for r in rows} == \
        {k: v["Mult-Adds (G)"]["recount"] for k, v in TABLE_2_4.items()}
    # by hand, ×2: body per LR pixel (entry + 3 blocks of 6 3×3 convs and 3 fusions + 3 global fusions)
    body = 27 * 64 + 3 * (6 * 9 * 64 * 64 + (2 + 3 + 4) * 64 * 64) + (2 + 3 + 4) * 64 * 64
    assert body * 640 * 360 + 9 * 64 * 256 * 640 * 360 + 9 * 64 * 3 * 1280 * 720 == 222_820_761_600


def test_printed_cost_cells_are_the_ones_in_the_paper_data():
    entries = {e["id"]: e for e in json.loads((REPO / "companion/paper/thesis.json").read_text())["entries"]}
    rows = {r["label"]: r["values"] for r in entries["Table 2.4"]["rows"]}
    for label, cells in TABLE_2_4.items():
        for column, cell in cells.items():
            assert rows[label][column] == cell["printed"], (label, column)
    assert {r["label"]: r["values"]["Params"] for r in entries["Table 2.1"]["rows"]} == \
        {k: v["printed"] for k, v in TABLE_2_1.items()}
    for table in ("Table 2.5", "Table 2.7"):
        rows = {r["label"]: r["values"] for r in entries[table]["rows"]}
        for label, cells in TABLES_2_5_TO_2_7.items():
            assert {c: rows[label][c] for c in cells} == {c: cell["printed"] for c, cell in cells.items()}


# ---------------------------------------------------------------- Table 2.1

def test_table_2_1_params_truncated_to_k():
    rows = costs.table_2_1()
    assert {r["label"]: r["params"] for r in rows} == {k: v["recount"] for k, v in TABLE_2_1.items()}
    assert all(r["params_match"] for r in rows)
    assert params_printed_as(963_651, "down") == 963_000 and params_printed_as(963_651) == 964_000
    with pytest.raises(ValueError, match="rounding"):
        params_printed_as(1, "up")


# ---------------------------------------------------------------- the counter itself

def test_conv_costs_counts_the_shared_unit_at_every_call_and_grouped_convs_per_group():
    per_conv = {c.name: c for c in conv_costs(CARNM(), 4, CH2_OUTPUT)}
    unit = per_conv["blocks.0.unit.conv1"]
    assert unit.calls == 3 and unit.groups == 4 and unit.kernel == (3, 3)
    assert unit.macs == 3 * (64 * 16 * 9) * (1280 * 720 // 16)  # 3 calls at LR resolution, C_in / G per group
    assert "upsample.x2.0" not in per_conv                        # only the branch that runs
    assert per_conv["upsample.x4.3"].macs == 64 * 4 * 64 // 4 * 9 * (640 * 360)  # second ×2 stage, at 2× LR
    assert per_conv["exit"].macs == 64 * 3 * 9 * 1280 * 720


@pytest.mark.parametrize("probe", [(8, 8), (5, 7), (1, 1)])
def test_mult_adds_do_not_depend_on_the_probe(probe):
    model = CARNM(channels=16)
    for scale in (2, 3, 4):
        assert mult_adds(model, scale, CH2_OUTPUT, probe=probe) == mult_adds(model, scale, CH2_OUTPUT)


def test_thirds_stay_exact_and_other_models_work():
    # ×3 at 1280×720: LR layers count 1280·720/9 = 102,400 px (an LR width of 426⅔)
    (exit_conv,) = [c for c in conv_costs(CARN(channels=8, scales=(3,)), None, (720, 1280)) if c.name == "exit"]
    assert exit_conv.macs == 8 * 3 * 9 * 921_600
    entry = conv_costs(CARN(channels=8, scales=(3,)), 3, (100, 100))[0]
    assert entry.name == "entry" and entry.macs == Fraction(27 * 8 * 10_000, 9)
    from companion.models import build_model
    dncnn = build_model("dncnn", "paper")  # same-size model: called as model(x)
    assert mult_adds(dncnn, None, (1, 1)) == 27 * 64 + 15 * 9 * 64 * 64 + 9 * 64 * 3


def test_parameter_count_counts_a_shared_tensor_once_and_can_skip_biases():
    model = CARNM()
    assert parameter_count(model) == 414_787 == sum(v.numel() for v in model.state_dict().values())
    biases = sum(p.numel() for n, p in model.named_parameters() if n.endswith("bias"))
    assert parameter_count(model, biases=False) == 414_787 - biases == 412_032
    model.entry.weight.requires_grad_(False)
    assert parameter_count(model) == 414_787 - 27 * 64


# ---------------------------------------------------------------- PyTorch's own counter

@pytest.mark.parametrize("cls, kw", [(CARN, {}), (CARNM, {}), (CARNM, dict(groups=64, recursive=False)),
                                     (CARN, dict(scales=(4,), local_cascade=False, global_cascade=False))])
def test_mult_adds_agree_with_torch_flop_counter(cls, kw):
    """FlopCounterMode counts 2 FLOPs per conv MAC (no bias) from the shapes; on the meta device nothing runs."""
    model = meta(cls, **kw)
    for scale in model.scales:
        lr = (720 // scale, 1280 // scale)  # ×3: 240×426 → a 720×1278 output
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            out = model(torch.empty(1, 3, *lr, device="meta"), scale)
        assert counter.get_total_flops() == 2 * mult_adds(model, scale, tuple(out.shape[-2:]))
    if kw == {}:
        assert mult_adds(model, 2, CH2_OUTPUT) == TABLE_2_4[f"{model.label} x2"]["Mult-Adds (G)"]["recount"]


# ---------------------------------------------------------------- Eq. 2.10

def test_eq_2_10_ratio_curve():
    assert eq_2_10_ratio(2) == Fraction(5, 9) and 1 / eq_2_10_ratio(2) == Fraction(9, 5)     # "1.8"
    assert round(float(1 / eq_2_10_ratio(64)), 2) == 14.05                                   # "up to 14 times"
    for g in (1, 2, 4, 8, 16, 32, 64):
        assert eresidual_ratio(g) == eq_2_10_ratio(g) == Fraction(1, g) + Fraction(1, 18)
    assert eresidual_ratio(4, channels=32) == eq_2_10_ratio(4)
    assert eq_2_10_ratio(4, kernel=5) == Fraction(1, 4) + Fraction(1, 50)


def test_figure_2_8_costs_fall_with_groups_and_recursion_keeps_operations():
    model_costs = {name: (parameter_count(meta(CARNM, **cfg)), mult_adds(meta(CARNM, **cfg), 4))
                   for name, cfg in efficient_family(groups=(1, 4, 64)).items()}
    assert model_costs["G4R"] == (414_787, 32_480_870_400)
    for g in (1, 4, 64):
        assert model_costs[f"G{g}"][1] == model_costs[f"G{g}R"][1]    # sharing keeps the operations
        assert model_costs[f"G{g}"][0] > model_costs[f"G{g}R"][0]
    assert model_costs["G1R"][1] > model_costs["G4R"][1] > model_costs["G64R"][1]
