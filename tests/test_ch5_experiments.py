"""Chapter 5's experiments (companion.ch5.comparison, noisy, latency, tables, figures, conclusions) on the smoke
profile: every method scored per seed and image, the latency of both methods on the same image, the records beside
Tables 5.1 / 5.3 / 5.4, the figures saved with their provenance, and conclusions rendered from the measurements."""
from __future__ import annotations

import ast
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from companion.ch5 import comparison, conclusions, data, figures, latency, noisy, simusr, tables
from companion.ch5.config import FULL, SMOKE, zssr_variants
from companion.data.sr import bicubic_upscale
from companion.metrics import sr_scores
from tests.conftest import RecordingRun

pytestmark = pytest.mark.usefixtures("one_thread")
SPEC = replace(SMOKE, seeds=2)


@pytest.fixture(scope="module")
def results():
    """The smoke profile's three experiments (two seeds for the clean one), BM3D replaced by a light blur so the
    module stays fast (BM3D itself is tested in test_ch5_simusr.py)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(data, "denoise", lambda image, sigma: data.quantise((image + np.roll(image, 1, 0)) / 2))
    try:
        out = {"comparison": comparison.run_comparison(SPEC, progress=False),
               "noisy": noisy.run_noisy(SPEC, progress=False),
               "latency": latency.measure_latency(SPEC)}
    finally:
        mp.undo()
    return out


def test_every_method_is_scored_for_every_seed_and_image(results):
    res = results["comparison"]
    one = res["sets"]["embedded"]
    assert res["seeds"] == 2 and one["images"] == list(SPEC.split.test)
    assert set(one["methods"]) == {"bicubic", "zssr", "simusr-carn", "supervised-carn"}
    for scores in one["methods"].values():
        assert np.shape(scores["psnr"]) == np.shape(scores["ssim"]) == (2, 1)
    [(name, lr, hr)] = data.test_images(SPEC, "embedded")
    assert one["methods"]["bicubic"]["psnr"][0][0] == pytest.approx(sr_scores(bicubic_upscale(lr, 4), hr, 4)["psnr"])
    # the seeds train different networks
    assert one["methods"]["zssr"]["psnr"][0] != one["methods"]["zssr"]["psnr"][1]
    fig = res["figure"]
    side = fig["box"][2]
    assert fig["hr"].shape == (side, side, 3) and set(fig["outputs"]) == set(one["methods"])
    assert all(r.shape == (side, side) and r.min() >= 0 for r in fig["residuals"].values())


def test_the_noisy_rows_are_table_5_3s(results):
    res = results["noisy"]
    assert list(res["rows"]) == [*zssr_variants(SPEC), "SimUSR+CARN"]
    assert set(res["references"]) == set(noisy.REFERENCES)
    assert res["protocol"]["channel"] == "rgb" and np.shape(res["rows"]["ZSSR"]["psnr"]) == (1, 1)
    assert res["lr_psnr"]["denoised"] != res["lr_psnr"]["noisy"]


def test_latency_times_both_methods_on_the_same_image(monkeypatch):
    seen = {}

    def fake_zssr(lr, recipe, **kw):
        seen["zssr"] = lr
        return dict(train_seconds=2.0, infer_seconds=0.5, total_seconds=2.5, steps=recipe.steps)

    real = simusr.super_resolve

    def spy(model, lr, scale, **kw):
        seen.setdefault("simusr", []).append(lr)
        return real(model, lr, scale, **kw)

    monkeypatch.setattr(latency, "run_zssr", fake_zssr)
    monkeypatch.setattr(simusr, "super_resolve", spy)
    out = latency.measure_latency(replace(SPEC, latency_repeats=3))
    assert all(x is seen["zssr"] for x in seen["simusr"]) and len(seen["simusr"]) == 4  # warm-up + 3 timed
    assert out["lr_size"] == seen["zssr"].shape[:2] and out["zssr"]["total"] == 2.5
    assert out["ratio"]["carn"] == pytest.approx(2.5 / out["simusr"]["carn"]["seconds"])


def test_the_latency_image_is_a_centre_crop_when_asked():
    name, lr = latency.latency_image(replace(SPEC, latency_lr=(8, 12)))
    assert name == "rocket" and lr.shape == (8, 12, 3)
    with pytest.raises(Exception, match="smaller than"):
        latency.latency_image(replace(SPEC, latency_lr=(100, 100)))


def test_parameter_counts_match_table_5_4():
    counts = {c["row"]: c for c in latency.parameter_counts(SPEC)}
    assert counts["ZSSR"]["params"] == 225_091 and counts["SimUSR CARN"]["params"] == 1_137_795
    assert all(c["match"] for c in counts.values())


# --------------------------------------------------------------------------------------------------------
# Tables, claims and records.


def test_summaries_claims_and_records(results):
    one = results["comparison"]["sets"]["embedded"]
    summary = tables.summarise(one["methods"], one["images"])
    psnr = np.asarray(one["methods"]["zssr"]["psnr"])
    assert summary["zssr"]["psnr"][0] == pytest.approx(psnr.mean())
    claims = tables.claims_5_1(one["methods"])
    assert [c["claim"] for c in claims][:2] == ["SimUSR CARN beats ZSSR at x4", "Supervised CARN beats SimUSR CARN at x4"]
    assert all(c["verdict"] == "unclear" for c in claims)  # 2 seeds x 1 image: too few pairs to call
    run = RecordingRun()
    tables.record_5_1(run, one, summary, "embedded", SPEC)
    assert all(where["row"] is None and where["column"] is None for _, _, where in run.records)  # not a paper set
    keys = [k for k, _, _ in run.records]
    assert "table5_1/embedded/SimUSR CARN/psnr" in keys and "table5_1/embedded/ZSSR/ssim" in keys
    # on a paper set the numbers go into Table 5.1's cells
    paper_run = RecordingRun()
    tables.record_5_1(paper_run, one, summary, "Set14", SPEC)
    cells = {(w["row"], w["column"]) for _, _, w in paper_run.records if w["row"]}
    assert ("SimUSR CARN", "Set14 PSNR") in cells and ("ZSSR", "Set14 SSIM") in cells
    assert not any(k.startswith("table5_1/Set14/Bicubic") and w["row"] for k, _, w in paper_run.records)


def test_table_5_4_records_exact_parameters_and_measured_runtimes(results):
    run = RecordingRun()
    tables.record_5_4(run, latency.parameter_counts(SPEC), results["latency"], SPEC)
    by_key = {k: (v, w) for k, v, w in run.records}
    value, where = by_key["table5_4/ZSSR/Params"]
    assert value == 225_091 and where["status"] == "exact" and where["column"] == "Params"
    value, where = by_key["table5_4/ZSSR/Runtime (s)"]
    assert value == pytest.approx(results["latency"]["zssr"]["total"], abs=1e-3) and "status" not in where
    assert by_key["table5_4/SimUSR CARN/Runtime (s)"][1]["row"] == "SimUSR CARN"


def test_the_tables_print_ours_beside_the_papers(results):
    one = results["comparison"]["sets"]["embedded"]
    text = tables.table_text(tables.summarise(one["methods"], one["images"]), "embedded", 2)
    assert "| SimUSR CARN |" in text and "+0.37 … +2.19 dB vs ZSSR" in text  # the paper's, from thesis.json
    lat = tables.latency_text(results["latency"])
    assert "300.83 s" in lat and "ZSSR (online training + inference)" in lat


# --------------------------------------------------------------------------------------------------------
# Figures and conclusions.


def test_the_figures_are_saved_with_their_provenance(results, tmp_path, monkeypatch):
    from companion.session import start

    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path))
    run = start("05_simusr", profile="smoke")
    figures.fig5_3_crops(run, results["comparison"]["figure"])
    figures.table5_4_latency(run, results["latency"])
    assert [f["entry"] for f in run.figures] == ["Figure 5.3", "Table 5.4"]
    for f in run.figures:
        png = Image.open(tmp_path / f["file"])
        assert json.loads(png.text["Comment"])["notebook"] == "05_simusr"
        assert round(png.info["dpi"][0]) >= 150


def _conclusions(results):
    one = results["comparison"]["sets"]["embedded"]
    summary = tables.summarise(one["methods"], one["images"])
    nz = results["noisy"]
    noisy_summary = tables.summarise(nz["rows"], nz["images"])
    pool = data.pool_summary(data.lr_pool(SPEC), SPEC.scale)
    counts = latency.parameter_counts(SPEC)
    claims = tables.claims_5_1(one["methods"])
    return conclusions.simusr_vs_zssr(counts, pool, {"set": "embedded", "summary": summary, "claims": claims},
                                      {"summary": noisy_summary, "claims": tables.claims_5_3(nz["rows"]), "result": nz},
                                      results["latency"], SPEC), summary, claims


def test_the_conclusions_are_rendered_from_the_measurements(results):
    paragraphs, summary, claims = _conclusions(results)
    text = "\n\n".join(paragraphs)
    assert len(paragraphs) == 6
    assert "225,091 (printed 0.23M)" in paragraphs[0] and "every count rounds to the printed value" in paragraphs[0]
    assert f"ZSSR {tables.text(summary['zssr']['psnr'], 2)} dB" in paragraphs[2]
    for claim in claims:
        assert f"*{claim['verdict']}* ({claim['detail']})" in text
    lat = results["latency"]
    assert f"ZSSR {lat['zssr']['total']:.2f} s" in paragraphs[4] and "2,507×" in paragraphs[4]
    assert conclusions.scale(FULL) == ""
    # other measurements, other text
    moved = {**results["latency"], "zssr": {**lat["zssr"], "total": lat["zssr"]["total"] + 100.0}}
    assert conclusions.runtime(moved, SPEC) != conclusions.runtime(lat, SPEC)


#: Names that hold digits: the paper's entries and data sets.
NAMES = re.compile(r"Table \d+\.\d+|Fig\. \d+\.\d+|Chapter \d+|NTIRE 2020|DF2K|DIV2K|BM3D|8-bit")


def test_the_conclusions_module_types_no_number():
    """Every number in the conclusions comes from a measurement, the paper file or the spec: the module's prose
    (string constants outside docstrings and format specs) holds no digit but in the names of paper entries and
    data sets."""
    source = Path(conclusions.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    specs = {id(v.format_spec) for v in ast.walk(tree) if isinstance(v, ast.FormattedValue) and v.format_spec}
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef)) and n.body and isinstance(n.body[0], ast.Expr)}
    typed = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and id(node) in specs:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            inside_spec = any(id(s) in specs and node in ast.walk(s) for s in
                              (v.format_spec for v in ast.walk(tree) if isinstance(v, ast.FormattedValue)
                               and v.format_spec))
            if not inside_spec and re.search(r"\d", NAMES.sub("", node.value)):
                typed.append(node.value)
    assert not typed, f"numbers typed into the conclusions' prose: {typed}"


def test_the_small_scale_caveat_follows_the_verdicts(results):
    one = results["comparison"]["sets"]["embedded"]
    summary = tables.summarise(one["methods"], one["images"])
    claims = tables.claims_5_1(one["methods"])
    ahead = [{**c, "verdict": "agrees"} for c in claims]
    behind = [{**c, "verdict": "disagrees" if c["claim"].startswith("SimUSR") else "agrees"} for c in claims]
    assert "not the paper's quality" not in conclusions.bicubic_task(summary, ahead, "embedded", SPEC)
    assert "not the paper's quality" in conclusions.bicubic_task(summary, behind, "embedded", SPEC)


def test_fig_5_3s_window_is_the_most_detailed_one():
    hr = np.full((64, 96, 3), 0.5, np.float32)
    rng = np.random.default_rng(0)
    hr[20:44, 60:84] = rng.random((24, 24, 3))  # the only texture
    top, left, side = comparison.crop_box(hr, 24, 4)
    assert side == 24 and top % 4 == 0 and left % 4 == 0
    assert abs(top - 20) <= 4 and abs(left - 60) <= 4
    assert comparison.crop_box(hr, 500, 4)[2] == 64  # at most the image, a multiple of the scale
