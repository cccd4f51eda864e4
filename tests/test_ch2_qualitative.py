"""Chapter 2's qualitative figures and Table 2.8 (companion.ch2.qualitative, companion.ch2.qualitative_figures):
the crop rules pick what they say, the figures are written with provenance, the records carry honest statuses."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from companion.ch2 import config
from companion.ch2 import qualitative as q
from companion.ch2 import qualitative_figures as qf
from companion.ch2.config import OURS_GAN, OURS_L1
from companion.ledger import build_ledger, load_paper
from companion.session import start


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path / "figures"))
    return start("02c_pcarn", profile="smoke", device="cpu", seed=0)


def _grey(h=128, w=128, value=0.5):
    return np.full((h, w, 3), value, dtype=np.float32)


def _stripes(image, top, left, side, period=4):
    image[top:top + side, left:left + side] = ((np.arange(side) // (period // 2)) % 2)[None, :, None]
    return image


def _inside(window, top, left, side):
    return top <= window.top and window.top + window.side <= top + side and \
        left <= window.left and window.left + window.side <= left + side


# --- crop rules ----------------------------------------------------------------------------------------------


def test_highest_gradient_window_finds_the_stripes():
    hr = _stripes(_grey(128, 160), 64, 96, 64)
    w = q.highest_gradient_window(hr, 32)
    assert _inside(w, 64, 96, 64) and w.side == 32 and w.score > 0


def test_texture_window_prefers_texture_to_one_strong_edge():
    rng = np.random.default_rng(0)
    hr = _grey(96, 192)
    hr[:, 48:] = 0.0  # one strong step edge at x = 48 (left half)
    hr[:, 48:96] = 1.0
    hr[:, 128:] = 0.5 + 0.15 * rng.standard_normal((96, 64, 1))  # fine texture on the right
    texture = q.texture_window(hr, 32)
    assert texture.left >= 128
    edge = q.highest_gradient_window(hr, 32)
    assert edge.left < 96, "a sum of gradient energy goes for the strong edges; the median rule does not"


def test_failure_window_is_the_dense_window_where_the_gan_loses_most():
    rng = np.random.default_rng(1)
    hr = _grey(128, 128)
    hr = _stripes(hr, 0, 0, 64)       # dense top-left
    hr = _stripes(hr, 64, 64, 64)     # dense bottom-right
    l1 = np.clip(hr + 0.01 * rng.standard_normal(hr.shape), 0, 1)
    gan = l1.copy()
    gan[72:120, 72:120] = rng.random((48, 48, 3))   # artefacts on the bottom-right stripes
    gan[0:64, 64:128] = rng.random((64, 64, 3))     # worse damage on a flat region: not a candidate
    w = q.failure_window(hr, l1, gan, 32, quantile=0.75)
    assert _inside(w, 64, 64, 64)
    assert w.score == pytest.approx(q.crop_psnr(gan, hr, w) - q.crop_psnr(l1, hr, w)) and w.score < -5
    with pytest.raises(Exception, match="dense_quantile"):
        q.failure_window(hr, l1, gan, 32, quantile=1.0)


def test_crop_psnr_is_the_metric_on_the_window_only():
    from companion.metrics import psnr

    hr = _grey(64, 64, 128 / 255)  # on the 8-bit grid, so rounding changes nothing
    sr = hr.copy()
    sr[:32] += 10 / 255  # the top half is off by 10 grey levels, the bottom half exact
    top = q.Window(0, 0, 32, 0.0, "")
    assert q.crop_psnr(sr, hr, top) == pytest.approx(psnr(top.cut(sr), top.cut(hr), channel="y"), abs=0.05)
    assert q.crop_psnr(sr, hr, top) < 30
    assert q.crop_psnr(sr, hr, q.Window(32, 0, 32, 0.0, "")) > 90  # identical: as high as the metric goes


def test_top_rows_keep_the_best_scored_images():
    windows = {n: q.Window(0, 0, 8, s, "") for n, s in (("a", 1.0), ("b", 3.0), ("c", 2.0))}
    assert list(q._top_rows(windows, 2)) == ["b", "c"]
    assert list(q._top_rows(windows, 1, lowest=True)) == ["a"]


def test_gan_pair_prefers_the_authors_pair():
    outputs = {"bicubic": {}, OURS_L1: {}, OURS_GAN: {}, "HR": {}}
    assert q.gan_pair(outputs) == (OURS_L1, OURS_GAN)
    outputs.update({"PCARN-M (L1), authors'": {}, "PCARN-M, authors'": {}})
    assert q.gan_pair(outputs) == ("PCARN-M (L1), authors'", "PCARN-M, authors'")
    with pytest.raises(Exception, match="L1 model"):
        q.gan_pair({"bicubic": {}, "HR": {}})


def test_rendered_text_bands_sit_on_the_scale_grid_and_fit_the_page():
    hr, bands = q.render_text((8, 16), 0, 4)
    assert hr.shape[0] == bands[-1][2] and hr.shape[0] % 4 == 0 and hr.shape[1] % 4 == 0
    for size, top, bottom in bands:
        assert top % 4 == 0 and bottom % 4 == 0
        assert (hr[top:bottom] < 0.5).any(), f"no ink in the {size}-px band"
    assert (hr[:, -1] == 1).all(), "the widest line is cut: the page should fit it"


def test_text_pairs_fall_back_to_rendered_text_without_manga109(tmp_path):
    cfg = config.PCARN_PROFILES["full"].qualitative
    source, pairs, bands, reason = q.text_pairs(config.QUALITATIVE_PROFILES["smoke"], 4)
    assert source == "rendered text" and "text" in bands and reason
    source, pairs, bands, reason = q.text_pairs(cfg, 4, data_root=tmp_path)
    assert source == "rendered text" and "Manga109" in reason


def test_02a_and_02c_take_their_qualitative_settings_from_one_spec_per_profile():
    for profile, settings in config.QUALITATIVE_PROFILES.items():
        assert config.CARN_PROFILES[profile].qualitative is settings
        assert config.PCARN_PROFILES[profile].qualitative is settings


# --- Figure 2.3 -----------------------------------------------------------------------------------------------


def test_msd_facts_of_the_paper_size_discriminator():
    facts = q.msd_facts(192)
    assert facts["params"] == 3 * facts["params_one"] == 15_887_427
    assert [s[-1] for s in facts["map_shapes"]] == [24, 12, 6] and facts["input_sides"] == [192, 96, 48]


def test_msd_maps_pool_and_score_every_scale():
    from companion.ch2.config import PCARN_PROFILES
    from companion.ch2.pcarn_training import build_discriminator

    disc = build_discriminator(PCARN_PROFILES["smoke"])
    maps = q.msd_maps(disc, {"HR": _stripes(_grey(32, 32), 0, 0, 32)})
    m = maps["HR"]
    assert [p.shape[0] for p in m["pooled"]] == [32, 16, 8] and [p.shape for p in m["prob"]] == [(4, 4), (2, 2), (1, 1)]
    assert all(0 < v < 1 for v in m["mean"])


# --- figures and records -----------------------------------------------------------------------------------------


def _synthetic_outputs(seed=0):
    rng = np.random.default_rng(seed)
    hr = _stripes(_grey(64, 64), 0, 0, 64)
    out = {"bicubic": {"img": np.clip(hr + 0.05 * rng.standard_normal(hr.shape), 0, 1).astype(np.float32)},
           OURS_L1: {"img": np.clip(hr + 0.02 * rng.standard_normal(hr.shape), 0, 1).astype(np.float32)},
           OURS_GAN: {"img": np.clip(hr + 0.1 * rng.standard_normal(hr.shape), 0, 1).astype(np.float32)},
           "HR": {"img": hr}}
    return out


def _saved(run, name, entry):
    path = run.figures_dir / f"{name}.png"
    assert path.is_file()
    png = Image.open(path)
    assert json.loads(png.text["Comment"])["profile"] == "smoke"
    assert png.info["dpi"][0] >= 149
    assert run.figures[-1]["entry"] == entry and run.figures[-1]["name"] == name


def test_crop_figures_are_saved_with_provenance_and_recorded(run):
    import matplotlib.pyplot as plt

    qcfg = config.QUALITATIVE_PROFILES["smoke"]
    outputs = _synthetic_outputs()
    windows = {"img": q.highest_gradient_window(outputs["HR"]["img"], qcfg.crop)}
    pixel = {"outputs": outputs, "windows": windows, "psnr": q.crop_table(outputs, windows), "scale": 4}
    qf.fig2_10_crops(run, pixel, missing=["CARN, authors': not here"])
    _saved(run, "fig2_10_pixel_crops", "Figure 2.10")
    lines = q.record_figure_2_10(run, pixel, ["CARN, authors': not here"], {OURS_L1: "zoo x (9 L1 steps)"})
    assert lines[-1].startswith("not shown: CARN")
    assert "zoo x (9 L1 steps)" in run.measurements[0]["note"] and "not shown: CARN, authors'" in \
        run.measurements[0]["note"]
    failure = q.figure_2_11_data(outputs, qcfg)
    qf.fig2_11_failure(run, failure)
    _saved(run, "fig2_11_failure", "Figure 2.11")
    texture = q.figure_2_13_data(outputs, qcfg)
    assert texture["lpips"] is None
    qf.fig2_13_crops(run, texture)
    _saved(run, "fig2_13_perceptual_crops", "Figure 2.13")
    q.record_crops(run, failure, "Figure 2.11", where="synthetic")
    q.record_crops(run, texture, "Figure 2.13", where="synthetic")
    plt.close("all")
    recs = {m["key"]: m for m in run.measurements}
    assert recs[f"fig2_11/img/{OURS_GAN}"]["value"] < recs[f"fig2_11/img/{OURS_L1}"]["value"]
    assert {m["status"] for m in run.measurements} == {"small-scale"}
    assert {m["entry"] for m in run.measurements} == {"Figure 2.10", "Figure 2.11", "Figure 2.13"}


def test_text_figure_and_records(run):
    import matplotlib.pyplot as plt
    import torch

    from companion.models import build_model

    torch.manual_seed(0)
    model = build_model("carn_m", "quick", scales=(4,), reading="thesis").eval()
    data = q.figure_2_14_data({"random CARN-M": model}, config.QUALITATIVE_PROFILES["smoke"], 4)
    assert data["source"] == "rendered text" and set(data["psnr"]["text"]) == {8, 12}
    qf.fig2_14_text(run, data)
    plt.close("all")
    _saved(run, "fig2_14_text", "Figure 2.14")
    q.record_figure_2_14(run, data)
    notes = {m["note"] for m in run.measurements}
    assert all("NOT Manga109" in n for n in notes)
    assert {m["key"] for m in run.measurements} >= {"fig2_14/text/8px/bicubic", "fig2_14/text/12px/random CARN-M"}


def test_figure_2_3_records_exact_and_measured_numbers(run):
    import matplotlib.pyplot as plt

    from companion.ch2.config import PCARN_PROFILES
    from companion.ch2.pcarn_training import build_discriminator

    facts = q.msd_facts(64)
    maps = q.msd_maps(build_discriminator(PCARN_PROFILES["smoke"]), {"HR": _stripes(_grey(32, 32), 0, 0, 32)})
    qf.fig2_3_msd(run, facts, maps)
    plt.close("all")
    _saved(run, "fig2_3_msd", "Figure 2.3")
    q.record_figure_2_3(run, facts, maps, where="synthetic")
    status = {m["key"]: m["status"] for m in run.measurements}
    assert status["msd/params"] == "exact" and status["msd/map sides for a 64-px HR patch"] == "exact"
    assert status["msd/P(real)/HR"] == "small-scale"
    doc = {"notebook": run.notebook, "profile": "quick", "seed": 0, "commit": "x", "_file": "t",
           "measurements": run.measurements, "figures": run.figures}
    entries, warnings = build_ledger(load_paper(), [doc])
    assert not warnings
    [entry] = [e for e in entries if e.paper["id"] == "Figure 2.3"]
    assert entry.status == "exact + measured at small scale"


def test_table_2_8_without_lpips_is_full_only_with_the_reason(run):
    t28 = q.table_2_8(config.QUALITATIVE_PROFILES["quick"], metric=None, reason="LPIPS skipped: no AlexNet weights")
    assert t28["values"] == []
    q.record_table_2_8(run, t28, config.QUALITATIVE_PROFILES["quick"])
    assert len(run.measurements) == 2 * 3 * 4
    assert {m["status"] for m in run.measurements} == {"full-only"}
    assert all(m["value"] is None and "no AlexNet weights" in m["note"] and "NIMA" in m["note"]
               for m in run.measurements)
    doc = {"notebook": run.notebook, "profile": "quick", "seed": 0, "commit": "x", "_file": "t",
           "measurements": run.measurements, "figures": []}
    entries, warnings = build_ledger(load_paper(), [doc])
    assert not warnings, warnings
    [entry] = [e for e in entries if e.paper["id"] == "Table 2.8"]
    assert entry.status == "full profile only"


def test_table_2_8_measured_cells_go_into_the_paper_table(run):
    t28 = {"values": [dict(row="PCARN-M x4", set="Set5", scale=4, lpips=0.08, images=5),
                      dict(row="PCARN-M x2", set="embedded", scale=2, lpips=0.02, images=3)],
           "missing": {"PCARN": "not found"}, "reason": ""}
    q.record_table_2_8(run, t28, config.QUALITATIVE_PROFILES["quick"])
    by_key = {m["key"]: m for m in run.measurements}
    assert by_key["table2_8/PCARN-M x4/Set5 LPIPS"]["column"] == "Set5 LPIPS"
    assert by_key["table2_8/PCARN-M x4/Set5 LPIPS"]["status"] == "small-scale"
    assert by_key["table2_8/PCARN-M x2/embedded LPIPS"]["column"] is None
    assert by_key["table2_8/PCARN x2/Set5 LPIPS"]["status"] == "full-only"
    assert "not found" in by_key["table2_8/PCARN x2/Set5 LPIPS"]["note"]
    assert "table2_8/PCARN-M x4/Set14 LPIPS" not in by_key  # a measured row is not also "full-only"


def test_pixel_models_say_which_authors_weights_are_missing():
    models, missing, sources = q.pixel_models({}, seed=12345)
    assert not models and not sources
    assert any("ch2/carn-x4-seed12345" in m for m in missing)
    assert any(m.startswith("CARN-M, authors'") and "download carn-m" in m for m in missing)
