"""02b_initialisation: Table 2.3's six initialisations (companion.ch2.initialisation), measured.

Each scheme gives the std it should for a known fan-in, matches the authors' ``torch.nn.init.kaiming_*_`` × scale,
reaches every conv of a CARN with zero biases; the histograms count what they are given; the pre-ReLU hooks see
what a hand-written forward computes; on a real batch the three schemes the thesis draws in Fig. 2.7 behave as it
says; the Table 2.3 claims and the small training run do what their docstrings say.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from companion.ch2 import init_histograms, init_schemes
from companion.ch2 import initialisation as ini
from companion.ch2.config import HELD_OUT, INIT_PROFILES, TABLE_2_3_INITS
from companion.ch2.config import SEEN_IMAGES
from companion.errors import CompanionError
from companion.ledger import load_paper
from companion.models.carn import CARN


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- the six schemes ------------------------------------------------------------------------------------------

def test_the_six_schemes_are_table_2_3s_rows_in_order():
    [table] = [e for e in load_paper() if e["id"] == "Table 2.3"]
    assert [ini.INITS[k].row for k in ini.INITS] == [r["label"] for r in table["rows"]]
    assert tuple(ini.INITS) == TABLE_2_3_INITS
    assert ini.BEST == "default_1.0" and ini.INITS[ini.BEST].row == "Uniform 1.0*sqrt(1/F)"
    with pytest.raises(CompanionError, match="unknown initialisation 'xavier'"):
        init_schemes.get_init("xavier")


@pytest.mark.parametrize("key, spread", [("msra_normal_0.1", 0.1 * math.sqrt(2 / 576)),
                                         ("msra_uniform_0.1", 0.1 * math.sqrt(6 / 576)),
                                         ("default_0.1", 0.1 / 24), ("msra_normal_1.0", math.sqrt(2 / 576)),
                                         ("msra_uniform_1.0", math.sqrt(6 / 576)), ("default_1.0", 1 / 24)])
def test_spread_and_std_for_a_known_fan_in(key, spread):
    scheme = ini.INITS[key]
    assert scheme.spread(576) == pytest.approx(spread, rel=1e-12)
    expected_std = spread if scheme.distribution == "normal" else spread / math.sqrt(3)
    assert scheme.std(576) == pytest.approx(expected_std, rel=1e-12)


def test_fan_in_is_input_channels_per_group_times_kernel_area():
    assert init_schemes.fan_in(nn.Conv2d(64, 64, 3).weight) == 576
    assert init_schemes.fan_in(nn.Conv2d(256, 64, 1).weight) == 256
    assert init_schemes.fan_in(nn.Conv2d(64, 64, 3, groups=4).weight) == 144
    with pytest.raises(CompanionError):
        init_schemes.fan_in(torch.zeros(5))


@pytest.mark.parametrize("key", TABLE_2_3_INITS)
def test_each_scheme_gives_its_std_for_a_known_fan_in(key):
    conv = nn.Conv2d(256, 256, 3)  # F = 2304, 589,824 weights
    init_schemes.initialise(conv, key, generator=_gen(1))
    w = conv.weight.detach().double()
    scheme = ini.INITS[key]
    assert float(w.std()) == pytest.approx(scheme.std(2304), rel=0.01)
    assert abs(float(w.mean())) < 0.01 * scheme.std(2304)
    kurtosis = float(((w - w.mean()) ** 4).mean() / w.var(unbiased=False) ** 2)
    if scheme.distribution == "uniform":
        assert float(w.abs().max()) <= scheme.spread(2304) * (1 + 1e-6)
        assert float(w.abs().max()) > 0.999 * scheme.spread(2304)
        assert kurtosis == pytest.approx(1.8, abs=0.02)  # a uniform's
    else:
        assert kurtosis == pytest.approx(3.0, abs=0.05)  # a normal's
    assert torch.count_nonzero(conv.bias) == 0


@pytest.mark.parametrize("authors, scale", [("default", 1.0), ("default", 0.1), ("msra_uniform", 1.0),
                                            ("msra_uniform", 0.1), ("msra_normal", 1.0), ("msra_normal", 0.1)])
def test_same_draws_as_the_authors_kaiming_init_times_scale(authors, scale):
    """The authors' carnpp/init.py: kaiming_uniform_(a=sqrt(5)) / kaiming_uniform_(a=0) / kaiming_normal_(a=0),
    then ``weight *= scale``, biases zeroed."""
    ours, theirs = nn.Conv2d(32, 16, 3), nn.Conv2d(32, 16, 3)
    init_schemes.initialise(ours, f"{authors}_{scale:.1f}", generator=_gen(7))
    with torch.no_grad():
        if authors == "default":
            nn.init.kaiming_uniform_(theirs.weight, a=math.sqrt(5), generator=_gen(7))
        elif authors == "msra_uniform":
            nn.init.kaiming_uniform_(theirs.weight, a=0, generator=_gen(7))
        else:
            nn.init.kaiming_normal_(theirs.weight, a=0, generator=_gen(7))
        theirs.weight *= scale
    torch.testing.assert_close(ours.weight, theirs.weight, rtol=1e-6, atol=0)


def test_one_distribution_differs_only_by_a_factor():
    a, b = nn.Conv2d(8, 8, 3), nn.Conv2d(8, 8, 3)
    init_schemes.initialise(a, "default_1.0", generator=_gen(3))
    init_schemes.initialise(b, "msra_uniform_0.1", generator=_gen(3))
    torch.testing.assert_close(b.weight, a.weight * 0.1 * math.sqrt(6), rtol=1e-5, atol=1e-9)


def test_initialise_reaches_every_conv_of_a_carn_and_zeroes_the_biases():
    model = CARN(channels=8, scales=(4,))
    mean = model.mean.clone()
    init_schemes.initialise(model, "msra_normal_1.0", generator=_gen())
    layers = init_histograms.conv_layers(model)
    assert {layer["kind"] for layer in layers} == set(init_histograms.KINDS)
    assert all(torch.count_nonzero(m.bias) == 0 for m in model.modules() if isinstance(m, nn.Conv2d))
    torch.testing.assert_close(model.mean, mean)
    # the same seed gives the same weights; bias="default" draws U(+-1/sqrt(F))
    other = init_schemes.initialise(CARN(channels=8, scales=(4,)), "msra_normal_1.0", generator=_gen())
    torch.testing.assert_close(other.entry.weight, model.entry.weight)
    init_schemes.initialise(model, "default_1.0", generator=_gen(), bias="default")
    assert 0 < float(model.exit.bias.detach().abs().max()) <= 1 / math.sqrt(init_schemes.fan_in(model.exit.weight))
    with pytest.raises(CompanionError, match="bias must be one of"):
        init_schemes.initialise(model, "default_1.0", bias="ones")
    with pytest.raises(CompanionError, match="no trainable convolution"):
        init_schemes.initialise(nn.Linear(3, 3), "default_1.0")


def test_weight_table_of_the_paper_size_carn():
    model = init_schemes.initialise(init_schemes.build_carn("paper", 4), "msra_normal_1.0", generator=_gen())
    rows = init_histograms.weight_table(model, "msra_normal_1.0")
    fans = {(r["kind"], r["fan_in"]) for r in rows}
    assert ("entry 3×3", 27) in fans and ("residual 3×3", 576) in fans and ("exit 3×3", 576) in fans
    assert {f for k, f in fans if "fusion" in k} == {128, 192, 256}  # Eq. 2.2-2.3: 2C, 3C, 4C inputs
    total = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d))
    assert sum(r["count"] for r in rows) == total
    for r in rows:  # every part measured at the std its fan-in asks for (the entry has only 1,728 weights)
        assert r["measured_std"] == pytest.approx(r["expected_std"], rel=0.05 if r["count"] < 5000 else 0.02)


# --- histograms -----------------------------------------------------------------------------------------------

def test_histogram_counts_sum_to_what_it_was_given():
    values = np.random.default_rng(0).normal(0, 0.4, 10_000)
    clipped = init_histograms.histogram(values, bins=100, limit=0.5, clip=True)
    assert clipped["counts"].sum() == 10_000 == clipped["n"] and len(clipped["edges"]) == 101
    assert clipped["fraction"].sum() == pytest.approx(1.0)
    assert clipped["outside"] == int(np.sum(np.abs(values) > 0.5)) > 0
    assert clipped["counts"][0] + clipped["counts"][-1] >= clipped["outside"]  # piled into the edge bins
    kept = init_histograms.histogram(values, bins=100, limit=0.5)
    assert kept["counts"].sum() + kept["outside"] == 10_000
    assert kept["std"] == pytest.approx(values.std())
    with pytest.raises(CompanionError, match="NaN or inf"):
        init_histograms.histogram([0.0, float("inf")], bins=10, limit=1)


def test_sample_weights_draws_from_the_models_weights():
    model = init_schemes.initialise(CARN(channels=8, scales=(2,)), "default_1.0", generator=_gen())
    everything, kinds, index = init_histograms.all_weights(model)
    values, kinds2, idx = init_histograms.sample_weights(model, 500, generator=_gen(1))
    assert kinds2 == kinds and len(values) == 500 == len(idx)
    assert np.isin(values.astype(np.float32), everything.numpy()).all()
    again, _, _ = init_histograms.sample_weights(model, 10**9)
    assert len(again) == everything.numel()
    # the stacked parts of a histogram sum to the whole
    by_kind = [init_histograms.histogram(values[idx == i], bins=50, limit=0.3)["counts"] for i in range(len(kinds))]
    whole = init_histograms.histogram(values, bins=50, limit=0.3)["counts"]
    assert np.array_equal(sum(by_kind), whole)


def test_weight_histograms_carn_is_wider_than_the_resnet_under_msra():
    cfg = INIT_PROFILES["smoke"]
    w = init_histograms.weight_histograms(replace(cfg, inits=("msra_normal_1.0", "default_0.1")))
    m = w["msra_normal_1.0"]
    assert m["total"]["counts"].sum() + m["total"]["outside"] == cfg.weight_samples
    assert m["total"]["std"] > 1.5 * m["resnet"]["std"]  # the thesis' Fig. 2.6 reading
    assert w["default_0.1"]["total"]["std"] == pytest.approx(m["total"]["std"] * 0.1 / math.sqrt(6), rel=0.05)


# --- activations ----------------------------------------------------------------------------------------------

def test_pre_relu_hooks_see_what_a_hand_written_forward_computes():
    torch.manual_seed(0)
    model = CARN(channels=8, scales=(4,))
    x = torch.rand(2, 3, 12, 12)
    before = model(x, 4)
    acts = init_histograms.pre_relu_activations(model, x, 4)
    assert list(acts)[:3] == ["block1.unit1.relu1", "block1.unit1.relu2", "block1.unit2.relu1"]
    assert len(acts) == 3 * 3 * 2 + 2  # two ReLUs per unit, two x2 stages in the upsampler
    unit = model.blocks[0].units[0]
    h0 = model.entry(x - model.mean)
    c1 = unit.conv1(h0)
    torch.testing.assert_close(acts["block1.unit1.relu1"], c1)
    torch.testing.assert_close(acts["block1.unit1.relu2"], h0 + unit.conv2(F.relu(c1)))
    assert acts["upsample.relu2"].shape == (2, 8 * 4, 24, 24)  # before the pixel shuffle, at 2x LR
    torch.testing.assert_close(model(x, 4), before)  # hooks gone, model unchanged
    assert not any(m._forward_hooks for m in model.modules())
    groups = init_histograms.activation_groups(acts, 3)
    assert groups["first layer"].size == c1.numel()
    assert groups["last cascading block"].size == sum(v.numel() for k, v in acts.items() if k.startswith("block3."))
    with pytest.raises(CompanionError, match="reads a CARN"):
        init_histograms.pre_relu_activations(nn.Conv2d(3, 3, 3), x)


def test_code_reading_keeps_the_fusion_relu_inputs_too():
    model = CARN(channels=8, scales=(2,), reading="code")
    acts = init_histograms.pre_relu_activations(model, torch.rand(1, 3, 8, 8), 2)
    assert "block1.fusion1" in acts and "fusion3" in acts


def test_on_a_real_batch_the_schemes_behave_as_fig_2_7_says():
    """The three schemes the thesis draws: MSRA explodes, 0.1 × default collapses, the default carries."""
    cfg = replace(INIT_PROFILES["smoke"], hist_size="quick", act_batch=2, act_patch=16,
                  inits=("msra_normal_1.0", "default_0.1", "default_1.0"))
    acts = init_histograms.activation_histograms(cfg, init_histograms.activation_batch(cfg))
    readings = {k: init_histograms.activation_reading(v, cfg.act_clip)["reading"] for k, v in acts.items()}
    assert readings == init_histograms.THESIS_FIG_2_7
    for entry in acts.values():
        for g in entry["groups"].values():
            assert g["hist"]["counts"].sum() == g["hist"]["n"]  # clipped: every value is counted
    depth = acts["msra_normal_1.0"]["profile"]
    assert depth[-3]["std"] > 3 * depth[0]["std"]  # grows with depth


def test_activation_reading_thresholds():
    def entry(first_std, last_std, near, beyond):
        g = dict(std=first_std, share_near_zero=0.0, share_beyond_clip=0.0)
        return {"groups": {"first layer": g, "second cascading block": g,
                           "last cascading block": dict(std=last_std, share_near_zero=near, share_beyond_clip=beyond)}}
    assert init_histograms.activation_reading(entry(0.1, 5.0, 0.0, 0.9))["reading"] == "explodes"
    assert init_histograms.activation_reading(entry(0.1, 0.001, 0.9, 0.0))["reading"] == "collapses toward zero"
    r = init_histograms.activation_reading(entry(0.1, 0.05, 0.2, 0.0))
    assert r["reading"] == "carries the signal" and r["ratio"] == pytest.approx(0.5)


# --- Table 2.3 --------------------------------------------------------------------------------------------------

def test_paper_table_and_the_claims():
    paper = ini.paper_table_2_3()
    assert paper["default_1.0"]["psnr"] == (28.5, 0.01) and paper["msra_uniform_1.0"]["psnr"] == (28.44, 0.01)
    assert ini.ranking(paper)[0] == ini.BEST
    base = [[25.0, 27.0, 23.0], [25.2, 27.3, 22.9], [24.8, 26.9, 23.2]]  # 3 seeds × 3 held-out images

    def shifted(by):
        return {"psnr_per_image": [[x + d for x, d in zip(seed, by)] for seed in base]}

    ours = {k: shifted((0.0, 0.0, 0.0)) for k in TABLE_2_3_INITS}
    ours["default_1.0"] = shifted((0.1, 0.12, 0.09))       # ahead on every pair
    ours["msra_normal_1.0"] = shifted((0.3, 0.32, 0.29))   # further ahead than the best row
    ours["default_0.1"] = shifted((0.5, -0.4, 0.1))        # ahead or behind depending on the image
    claims = {c["other"]: c for c in ini.table_2_3_claims(ours, paper)}
    assert len(claims) == 5 and ini.BEST not in claims
    assert claims["msra_uniform_1.0"]["verdict"] == "agrees" and claims["msra_uniform_1.0"]["low"] > 0
    assert claims["msra_normal_1.0"]["verdict"] == "disagrees" and claims["msra_normal_1.0"]["high"] < 0
    assert claims["default_0.1"]["verdict"] == "unclear"
    assert claims["msra_uniform_1.0"]["paper_detail"] == "paper: difference +0.060 dB (stds 0.010 and 0.010 dB)"


def test_profiles_hold_out_their_test_images_and_full_is_the_authors_experiment():
    quick, full = INIT_PROFILES["quick"], INIT_PROFILES["full"]
    assert not set(HELD_OUT) & set(SEEN_IMAGES) and quick.eval_images == HELD_OUT
    assert quick.inits == TABLE_2_3_INITS and quick.seeds == 3 and quick.weight_samples == 100_000
    assert quick.weight_bins == 1000 and quick.weight_range == 0.15 and quick.act_clip == 0.5
    assert full.train.steps == 400_000 and full.train.batch_size == 16 and full.patch == 32
    assert full.train.grad_clip == 10 and full.train.lr == 1e-4 and full.scale == 4 and full.eval_set == "Set14"
    assert full.required_folders() == ("DIV2K", "benchmark/Set14") and quick.required_folders() == ()
    with pytest.raises(CompanionError, match="also training images"):
        ini.held_out_pairs(replace(INIT_PROFILES["smoke"], eval_images=("astronaut",)))


def test_a_small_run_is_deterministic_and_scored_on_held_out_images():
    cfg = INIT_PROFILES["smoke"]
    a = ini.train_and_evaluate(cfg, "default_1.0", 5)
    b = ini.train_and_evaluate(cfg, "default_1.0", 5)
    assert a["steps"] == cfg.train.steps and a["images"] == len(cfg.eval_images)
    assert a["psnr"] == b["psnr"] and a["loss_curve"] == b["loss_curve"]
    assert set(a["per_image"]) == set(cfg.eval_images)
    c = ini.train_and_evaluate(cfg, "msra_normal_1.0", 5)
    assert c["first_loss"] > a["first_loss"]  # an exploding start shows in the first loss
    summary = ini.summarise({"default_1.0": [a, b], "msra_normal_1.0": [c]})
    assert summary["default_1.0"]["psnr"] == (a["psnr"], 0.0) and summary["msra_normal_1.0"]["seeds"] == 1
    assert "ours PSNR" in ini.table_text({k: {**summary["default_1.0"]} for k in TABLE_2_3_INITS})


def test_a_finished_run_is_resumed_from_its_checkpoint_and_changed_settings_get_a_new_one(tmp_path):
    cfg = INIT_PROFILES["smoke"]
    first = ini.train_and_evaluate(cfg, "default_0.1", 2, checkpoint_dir=tmp_path)
    assert (tmp_path / first["checkpoint"]).is_file()
    again = ini.train_and_evaluate(cfg, "default_0.1", 2, checkpoint_dir=tmp_path)
    assert again["psnr"] == first["psnr"] and again["steps"] == first["steps"] and again["seconds"] == first["seconds"]
    other = replace(cfg, train=replace(cfg.train, lr=1e-3))
    assert ini.checkpoint_path(tmp_path, other, "default_0.1", 2).name != first["checkpoint"]
    assert ini.checkpoint_path(tmp_path, cfg, "default_1.0", 2).name != first["checkpoint"]
    assert ini.checkpoint_path(tmp_path, replace(cfg, train=replace(cfg.train, checkpoint_every=5)),
                               "default_0.1", 2).name == first["checkpoint"]


def test_fusion_share_weighs_parts_by_count_and_variance():
    table = [dict(kind="residual 3×3", count=900, measured_std=0.1), dict(kind="1×1 local fusion", count=100,
                                                                           measured_std=0.3)]
    share = init_histograms.fusion_share(table)
    assert share["weights"] == pytest.approx(0.1)
    assert share["variance"] == pytest.approx(9 / (9 + 9))
