"""04c_where_to_restore (companion.ch4.where) and Chapter 7's training with an augmentation: the noise is seeded
per image and the same for both models, the real pair's CutBlurred input and Δ are what they claim, the claims
follow the paired scores, the records name Table 4.7's rows without putting embedded-photograph numbers in
Kodak24's cells, and MoA enters MEPSNet's zoo key only when it is given."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from companion.ch4 import conclusions, where
from companion.ch4.config import WHERE_SMOKE
from companion.ch7 import training
from companion.ch7.config import TRAINING
from companion.ch7.variants import VariantSpec, analysis_variant, variant_key
from companion.data.augments import NONE, PRESETS, single
from companion.zoo import digest
from conftest import RecordingRun

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_noise_is_seeded_per_image_and_sigma():
    grey = np.full((64, 64, 3), 0.5, np.float32)
    a = where.noisy_copy(grey, 50, "flower")
    assert np.array_equal(a, where.noisy_copy(grey, 50, "flower"))
    assert not np.array_equal(a, where.noisy_copy(grey, 50, "china"))
    assert not np.array_equal(a, where.noisy_copy(grey, 30, "flower"))
    assert (a - grey).std() * 255 == pytest.approx(50, rel=0.05)


def test_selectivity_is_the_mean_spread_of_each_experts_ratio():
    responses = {"noise": {"ratios": [1.5, 1.0]}, "blur": {"ratios": [0.5, 1.2]}, "identity": {"ratios": [1.0, 0.9]}}
    assert where.selectivity(responses) == pytest.approx(((1.5 - 0.5) + (1.2 - 0.9)) / 2)
    assert np.isnan(where.selectivity({"noise": {"ratios": [2.0, 3.0]}}))


def test_quadrants_tile_the_image_once():
    count = np.zeros((37, 50), int)
    for rows, cols in where.quadrants((37, 50)):
        count[rows, cols] += 1
    assert (count == 1).all() and len(where.quadrants((37, 50))) == 4


class Constant(nn.Module):
    """A "model" that returns a fixed image whatever it is given (an ideal restorer when that image is HR)."""

    def __init__(self, image: np.ndarray):
        super().__init__()
        self.register_buffer("image", torch.from_numpy(image.transpose(2, 0, 1).copy())[None])
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.image + 0 * self.w


class Identity(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x * self.w


def real_like_pair(side=64):
    rng = np.random.default_rng(0)
    hr = rng.uniform(0, 1, (side, side, 3)).astype(np.float32)
    lr = np.clip(hr + rng.normal(0, 0.1, hr.shape), 0, 1).astype(np.float32)
    return {"hr": hr, "lr": lr, "folder": "test"}


class Record:
    def __init__(self, source):
        self.source = source


def test_the_real_cutblurred_input_and_its_deltas():
    pair = real_like_pair()
    mixed, (top, left, bh, bw) = where.real_cutblurred(pair, 4)
    inside = np.zeros(mixed.shape[:2], bool)
    inside[top:top + bh, left:left + bw] = True
    assert np.array_equal(mixed[inside], pair["hr"][inside]) and np.array_equal(mixed[~inside], pair["lr"][~inside])
    assert 0.4 < inside.mean() < 0.6                                    # side ratio 0.7: about half the area
    near = np.clip(pair["hr"] + np.random.default_rng(3).normal(0, 0.004, pair["hr"].shape), 0, 1).astype(np.float32)
    models = {"baseline": [(s, Identity(), Record(f"b{s}")) for s in (0, 1)],
              "cutblur": [(s, Constant(near), Record(f"c{s}")) for s in (0, 1)]}
    real = where.real_pair_deltas(WHERE_SMOKE, models, pair)
    base, ideal = real["scores"]["baseline"], real["scores"]["cutblur"]
    assert 0 < np.max(ideal["inside"]) < 1.5 and 0 < np.max(ideal["outside"]) < 1.5   # about 1 level everywhere
    assert np.allclose(base["inside"], 0)                               # the identity leaves the HR box as it is
    error = np.abs(pair["lr"] - pair["hr"]).mean(axis=2) * 255             # the identity leaves the LR error outside
    expected = [error[r, c][~inside[r, c]].mean() for r, c in where.quadrants(error.shape)]
    assert np.allclose(base["outside"], [expected, expected], rtol=1e-4)
    assert np.allclose(base["real_psnr"], real["lr"]["real_psnr"])       # the identity's output is the LR input
    claims = {c["claim"]: c["verdict"] for c in where.real_claims(real)}  # 2 seeds × 4 tiles = 8 pairs
    assert [v for k, v in claims.items() if "restores the real LR" in k] == ["agrees"]
    assert [v for k, v in claims.items() if "outside" in k] == ["agrees"]
    assert [v for k, v in claims.items() if "inside" in k] == ["disagrees"]  # the identity leaves none there
    run = RecordingRun()
    summary = where.real_summary(real)
    where.record_real(run, WHERE_SMOKE, real, summary, where.real_claims(real))
    assert {w["entry"] for _, _, w in run.records} == {"Figure 4.5"}
    text = conclusions.where_real_pair(summary, where.real_claims(real))
    assert "*agrees*" in text and "*disagrees*" in text
    assert conclusions.where_real_pair(None, [], "RealSR not found").endswith("RealSR not found")


def fake_denoise(moa_gain: float, ssim_gain: float, seeds=3):
    images = ["china", "flower", "rocket"]
    rng = np.random.default_rng(1)

    def per_seed(kind, s):
        scores = {}
        for sigma in (70.0, 50.0, 30.0):
            extra = 1 if kind == "moa" else 0
            scores[sigma] = {n: {"psnr": 27 + extra * moa_gain + rng.normal(0, 0.01),
                                 "ssim": 0.7 + extra * ssim_gain + rng.normal(0, 0.001),
                                 "hf_excess": -0.3 + 0.1 * extra + rng.normal(0, 0.005), "input_psnr": 15.0}
                             for n in images}
        return dict(seed=s, scores=scores, steps=600, seconds=3.0, source=f"zoo:{kind}{s}")
    return {"images": images, "sigmas": [70.0, 50.0, 30.0], "models": {},
            "baseline": [per_seed("baseline", s) for s in range(seeds)], "moa": [per_seed("moa", s) for s in range(seeds)]}


def test_denoise_claims_and_records():
    results = fake_denoise(moa_gain=-0.3, ssim_gain=0.05)               # Fig. 4.9: lower PSNR, higher SSIM
    claims = where.denoise_claims(results)
    by = {(c["sigma"], c["metric"]): c for c in claims}
    assert by[(50.0, "psnr")]["verdict"] == "disagrees" and by[(50.0, "ssim")]["verdict"] == "agrees"
    assert by[(50.0, "hf_excess")]["verdict"] == "agrees" and by[(50.0, "hf_excess")]["entry"] == "Figure 4.9"
    assert "SSIM" in by[(50.0, "ssim")]["detail"] and "dB" not in by[(50.0, "ssim")]["detail"]
    assert where.sigma_column(50.0, "psnr") == "Kodak24 sigma70->50 PSNR" and where.sigma_column(30.0, "ssim") is None
    summary = where.denoise_summary(results)
    assert summary[50.0]["moa"]["psnr"][0] == pytest.approx(26.7, abs=0.02)
    run = RecordingRun()
    where.record_denoise(run, WHERE_SMOKE, results, summary, claims)
    table = [(k, w) for k, _, w in run.records if w.get("entry") == "Table 4.7" and not k.startswith("claim")]
    assert len(table) == 3 * 2 * 2 and {w["row"] for _, w in table} == {"EDSR", "EDSR +MoA"}
    assert all(w["column"] is None for _, w in table)                   # not Kodak24: no paper cell
    text = conclusions.where_denoise(summary, claims)
    assert "27.95 / 0.7385" in text and "28.41 / 0.8059" in text        # the paper's EDSR row, from thesis.json
    assert "*disagrees*" in text and "*agrees*" in text


def test_denoisers_train_score_and_draw(tmp_path, monkeypatch):
    from companion.ch4 import table_figures
    from companion.session import start

    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path / "figures"))
    spec = replace(WHERE_SMOKE, eval_crop=48, test_sigmas=(70.0, 50.0))
    results = where.denoise_results(spec, work_dir=tmp_path, progress=False)
    assert [s["seed"] for s in results["moa"]] == [0] and set(results["models"]) == {"baseline", "moa"}
    cell = results["baseline"][0]["scores"][50.0]["flower"]
    assert np.isfinite(cell["psnr"]) and 0 < cell["ssim"] <= 1
    # both models see the same noisy image: the input's PSNR is the same in both
    assert cell["input_psnr"] == results["moa"][0]["scores"][50.0]["flower"]["input_psnr"]
    crops = where.figure_crops(results, spec, "flower", side=32)
    assert crops["sigma"] == 50.0 and crops["panels"]["noisy"].shape == (32, 32, 3)
    run = start("04c_where_to_restore", profile="smoke", device="cpu")
    table_figures.fig4_9_denoise(run, crops)
    table_figures.denoise_sigmas(run, where.denoise_summary(results))
    assert [f["entry"] for f in run.figures] == ["Figure 4.9", "Table 4.7"]


def test_moa_enters_mepsnets_key_only_when_given(tmp_path):
    cfg = TRAINING["quick"]
    variant = analysis_variant()
    plain = training.zoo_spec(variant, cfg, 0)
    assert isinstance(plain, VariantSpec) and plain.key(0) == variant_key(variant, cfg, 0, 0)
    assert plain.zoo_entry(0).name == "ch7/07b/mepsnet-seed0"            # Chapter 7's digests are untouched
    moa = training.zoo_spec(variant, cfg, 0, PRESETS["restoration"], where.MOA_ZOO_GROUP)
    entry = moa.zoo_entry(1)
    assert entry.name == "ch4/shdd/mepsnet-moa-seed1" and entry.config == plain.zoo_entry(1).config
    assert entry.key["augmentation"] == PRESETS["restoration"].as_dict()
    assert {k: v for k, v in entry.key.items() if k != "augmentation"} == plain.key(1)
    assert training.zoo_spec(variant, cfg, 0, single("cutblur")).zoo_entry(0).name == "ch7/07b/mepsnet-cutblur-seed0"
    assert digest(moa.key(0)) != digest(training.zoo_spec(variant, cfg, 0, PRESETS["sr"]).key(0))

    class Run:
        work_dir, seed = tmp_path, 0
    assert training.checkpoint_path(Run, variant, cfg, 0) != training.checkpoint_path(Run, variant, cfg, 0, NONE)
    assert "-moa-" in training.checkpoint_path(Run, variant, cfg, 0, PRESETS["restoration"]).name


def fake_mepsnet(gain: float, selectivity_gain: float, seeds=2, images=4):
    rng = np.random.default_rng(2)

    def per_seed(kind, s):
        extra = 1 if kind == "moa" else 0
        levels = {lv: {"per_image": [{"psnr": 25 + extra * gain + rng.normal(0, 0.01)} for _ in range(images)],
                       "input_psnr": 20.0} for lv in ("easy", "moderate")}
        responses = {"noise": {"ratios": [1.2, 0.9, 1.0]}, "blur": {"ratios": [0.8, 1.1, 1.0 + extra]}}
        return dict(seed=s, levels=levels, selectivity=[0.3 + extra * selectivity_gain + rng.normal(0, 0.001)
                                                        for _ in range(images)],
                    responses=responses, steps=2, seconds=1.0, source=f"{kind}{s}")
    return {"levels": ["easy", "moderate"], "images": [f"im{i}" for i in range(images)], "moa_setting": "MoA p 0.6",
            "train_level": "moderate", "baseline": [per_seed("baseline", s) for s in range(seeds)],
            "moa": [per_seed("moa", s) for s in range(seeds)]}


def test_mepsnet_claims_summary_and_conclusions():
    results = fake_mepsnet(gain=0.4, selectivity_gain=-0.1)
    claims = where.mepsnet_claims(results)
    assert [c["verdict"] for c in claims] == ["agrees", "agrees", "disagrees"]
    assert "ratio" in claims[-1]["detail"]
    summary = where.mepsnet_summary(results)
    assert summary["levels"]["easy"]["moa"][0] == pytest.approx(25.4, abs=0.02)
    assert summary["responses"]["moa"]["blur"] == [0.8, 1.1, 2.0]
    run = RecordingRun()
    where.record_mepsnet(run, WHERE_SMOKE, results, summary, claims)
    assert all(w.get("entry") is None for _, _, w in run.records)        # in no paper
    text = conclusions.where_mepsnet(summary, claims, results["moa_setting"])
    assert "easy" in text and "*disagrees*" in text and "MoA p 0.6" in text


def test_train_variant_applies_the_augmentation(tmp_path, monkeypatch):
    from companion.session import NotebookRun

    cfg = replace(TRAINING["smoke"], train=replace(TRAINING["smoke"].train, steps=1, val_every=0, checkpoint_every=0))
    run = NotebookRun(notebook="04c_where_to_restore", profile="smoke", seed=0, device="cpu", config=cfg,
                      figures_dir=tmp_path / "figures", commit="test")
    monkeypatch.setenv("COMPANION_WORK_DIR", str(tmp_path / "work"))
    root = training.shdd_root(run, cfg, progress=False)
    seen = []
    real = training.augmented

    def spy(batch, loss, augmentation, *, seed, **kw):
        seen.append((augmentation, seed))
        return real(batch, loss, augmentation, seed=seed, **kw)
    monkeypatch.setattr(training, "augmented", spy)
    _, plain = training.train_variant(run, analysis_variant(), cfg, 0, root, progress=False, use_zoo=False)
    assert seen == []
    _, moa = training.train_variant(run, analysis_variant(), cfg, 0, root, progress=False, use_zoo=False,
                                    augmentation=PRESETS["restoration"], zoo_group=where.MOA_ZOO_GROUP)
    assert seen == [(PRESETS["restoration"], 0)] and plain.source != moa.source and "-moa-" in moa.source
