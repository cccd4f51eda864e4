"""Chapter 2's notebook pieces (companion.ch2: costs_tables, evaluation, figures, config) for ``02a_carn``.

* The recorded cost tables are the counter's tables (companion.analysis.costs), cell by cell, under entry, row
  and column names the ledger finds in the paper data, every one ``exact``; the notes say where the print and
  the recount differ and why.
* The Eq. 2.10 curve: 1.8x at G = 2 and 14x at G = 64, the modules agree with the formula, and the network saves
  what Table 2.4's Mult-Adds say.
* The weights: looked up, never downloaded; absent, nothing measured is recorded and the reason names the
  download command; present (``../shared/weights``, skipped otherwise), the authors' CARN-M beats bicubic and
  only in its own reading.
* The figures save, with a legend, under the right ledger entry.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from companion.analysis import costs
from companion.ch2 import costs_tables as ct
from companion.ch2 import evaluation as ev
from companion.ch2 import figures
from companion.ch2.config import CARN_PROFILES, PAPER_SETS
from companion.ledger import build_ledger, load_paper
from companion.models import build_model
from companion.models.carn_m import CARNM
from tests.conftest import RecordingRun

pytestmark = pytest.mark.usefixtures("one_thread")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "weights"


def _by_key(run: RecordingRun) -> dict:
    return {key: (value, where) for key, value, where in run.records}


def _ledger_of(run: RecordingRun):
    """The ledger entries built from ``run``'s records, as a results file would give them, and its warnings."""
    doc = {"notebook": "02a_carn", "profile": "quick", "seed": 0, "commit": "test", "device": "cpu", "_file": "x",
           "measurements": [{"key": k, "value": v, "entry": w.get("entry"), "row": w.get("row"),
                             "column": w.get("column"), "status": w.get("status", "small-scale"),
                             "protocol": w.get("protocol", ""), "note": w.get("note", "")}
                            for k, v, w in run.records]}
    entries, warnings = build_ledger(load_paper(), [doc])
    return {e.paper["id"]: e for e in entries}, warnings


# --- cost tables ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def recorded():
    run = RecordingRun()
    out = {"architecture": ct.record_architecture(run), "2.1": ct.record_table_2_1(run),
           "2.4": ct.record_table_2_4(run)}
    out["2.5-2.7"] = ct.record_tables_2_5_to_2_7(run, out["2.4"])
    out["3.1"] = ct.record_table_3_1(run)
    out["eq"] = ct.eq_2_10_curve()
    ct.record_eq_2_10(run, out["eq"])
    return run, out


def test_recorded_table_2_4_is_the_counters_table_cell_by_cell(recorded):
    run, out = recorded
    assert out["2.4"] == costs.table_2_4()
    cells = _by_key(run)
    for r in out["2.4"]:
        params, where = cells[f"table2_4/{r['label']}/Params"]
        assert params == r["params"] and where["entry"] == "Table 2.4" and where["row"] == r["label"]
        assert where["column"] == "Params" and where["status"] == "exact"
        macs, where = cells[f"table2_4/{r['label']}/Mult-Adds"]
        assert macs == r["mult_adds"] / 1e9 and where["column"] == "Mult-Adds (G)" and where["status"] == "exact"
        assert round(macs, 1) == r["printed_mult_adds_g"] and "matches" in where["note"]
    carn_m = cells["table2_4/CARN-M x4/Params"]
    assert carn_m[0] == 414_787 and "412,032" in carn_m[1]["note"] and "without biases" in carn_m[1]["note"]
    assert "rounded to K" in cells["table2_4/CARN x4/Params"][1]["note"]


def test_tables_2_1_2_5_to_2_7_and_3_1_are_the_counters(recorded):
    run, out = recorded
    cells = _by_key(run)
    assert out["2.1"] == costs.table_2_1() and all(r["params_match"] for r in out["2.1"])
    assert [cells[f"table2_1/{r['label']}/Params"][0] for r in out["2.1"]] == [r["params"] for r in out["2.1"]]
    assert out["3.1"] == costs.table_3_1()
    assert cells["table3_1/CARN-B3U3/Params"][0] == 1_259_587
    assert "truncated" in cells["table3_1/CARN-B3U3/Params"][1]["note"]
    assert "8-pass" in cells["table3_1/progressive CARN+/Mult-Adds"][1]["note"]
    assert len(out["2.5-2.7"]) == 9
    for table in ("Table 2.5", "Table 2.6", "Table 2.7"):
        value, where = cells[f"{table.lower().replace(' ', '')}/CARN/Params"]
        assert value == costs.CARN_PARAMS and "1,588,608" in where["note"]       # the 1,589K print: no biases
        assert cells[f"{table.lower().replace(' ', '')}/PCARN-M/Mult-Adds"][0] == costs.TABLE_2_4["CARN-M x4"][
            "Mult-Adds (G)"]["recount"] / 1e9


def test_every_recorded_cell_is_found_by_the_ledger_and_exact(recorded):
    run, _ = recorded
    entries, warnings = _ledger_of(run)
    assert warnings == []
    for entry in ("Table 2.1", "Table 2.4", "Table 2.5", "Table 2.6", "Table 2.7", "Table 3.1", "Figure 2.1",
                  "Figure 2.2", "Figure 2.4"):
        assert entries[entry].status == "exact", entry
    assert entries["Figure 2.9"].status == "not yet"


def test_parameter_breakdown_adds_up_and_the_blocks_explain_carn_m(recorded):
    _, out = recorded
    arch = out["architecture"]
    assert arch["CARN"]["total"] == costs.CARN_PARAMS and arch["CARN-M"]["total"] == costs.CARN_M_PARAMS
    assert arch["CARN"]["total without biases"] == costs.CARN_WEIGHTS
    assert arch["CARN-M"]["total without biases"] == costs.CARN_M_WEIGHTS
    blocks = arch["blocks"]
    # one shared EResidual per block (3 blocks); unshared, a block would hold three
    assert arch["CARN-M"]["residual units"] == 3 * blocks["EResidual"]
    assert blocks["ECascading block without sharing"] - blocks["ECascading block (shared EResidual)"] == \
        2 * blocks["EResidual"]
    assert arch["CARN"]["residual units"] == 9 * blocks["residual unit"]
    # the cascading blocks and the global fusions are the same in both: only the units and upsamplers shrink
    assert arch["CARN"]["local fusions"] == arch["CARN-M"]["local fusions"] == 3 * (128 + 192 + 256 + 3) * 64


def test_eq_2_10_curve_gives_the_thesis_savings_and_the_networks(recorded):
    _, out = recorded
    rows = {r["groups"]: r for r in out["eq"]}
    assert rows[2]["ratio"] == Fraction(5, 9) and rows[2]["saving"] == pytest.approx(1.8)
    assert round(rows[64]["saving"]) == 14 and rows[64]["saving"] == pytest.approx(14.0488, abs=1e-4)
    assert all(r["block_matches"] for r in out["eq"])
    carn, carn_m = (costs.TABLE_2_4[k]["Mult-Adds (G)"]["recount"] for k in ("CARN x4", "CARN-M x4"))
    assert rows[4]["network_saving"] == pytest.approx(carn / carn_m) and rows[4]["mult_adds"] == carn_m
    assert all(r["network_saving"] < r["saving"] for g, r in rows.items() if g >= 2)   # the ungrouped parts cost


def test_text_table_formats_counts_and_fractions():
    text = ct.text_table([dict(a="x", n=1_591_939, f=222.820761600, b=True, q=Fraction(5, 9))],
                         [("a", "name"), ("n", "count"), ("f", "G"), ("b", "ok"), ("q", "ratio")])
    head, row = text.splitlines()
    assert "1,591,939" in row and "222.8208" in row and "yes" in row and "5/9" in row
    assert len(head) == len(row)


# --- the weights: looked up, never downloaded --------------------------------------------------------------

def test_absent_weights_record_nothing_measured_and_say_why(tmp_path):
    lookup = ev.find_authors_weights("carn-m", data_root=tmp_path, search=[tmp_path / "nowhere"])
    assert not lookup.found and lookup.path is None
    assert "python -m companion download carn-m" in lookup.reason and str(tmp_path) in lookup.reason
    cfg = replace(CARN_PROFILES["smoke"], weights=("carn-m", "pcarn-m-l1"), weights_search=())
    found = ev.evaluate_authors_weights(cfg, data_root=tmp_path)
    assert found.results == [] and found.models == {} and [m.name for m in found.missing] == ["carn-m", "pcarn-m-l1"]
    run = RecordingRun()
    lines = ev.record_evaluation(run, found)
    assert run.records == []
    assert len(lines) == 2 and all(line.startswith("not evaluated: ") for line in lines)
    assert "python -m companion download pcarn-m-l1" in lines[1]


def test_weights_are_found_where_the_download_puts_them_and_in_search_folders(tmp_path):
    weights = tmp_path / "data" / "weights"
    weights.mkdir(parents=True)
    (weights / "carn-m.safetensors").write_bytes(b"x")
    assert ev.find_authors_weights("carn-m", data_root=tmp_path / "data").path == weights / "carn-m.safetensors"
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "PCARN-M-L1.pth").write_bytes(b"x")   # the authors' own file name
    got = ev.find_authors_weights("pcarn-m-l1", data_root=tmp_path / "data", search=[shared])
    assert got.found and got.path.name == "PCARN-M-L1.pth" and got.label == "PCARN-M (L1)"
    with pytest.raises(Exception, match="unknown Part I weights"):
        ev.find_authors_weights("carn-x", data_root=tmp_path)


def test_evaluate_sr_scores_a_model_and_bicubic_under_the_protocol():
    torch.manual_seed(0)
    model = CARNM(channels=8, groups=4).eval()
    pairs = ev.sr_pairs("embedded", 4, images=2, crop=40)
    assert [p[0] for p in pairs] == ["astronaut", "chelsea"]
    assert pairs[0][1].shape == (10, 10, 3) and pairs[0][2].shape == (40, 40, 3)
    r = ev.evaluate_sr(model, pairs, 4)
    assert set(r["per_image"]) == {"astronaut", "chelsea"} and r["images"] == 2
    assert r["protocol"]["channel"] == "y" and r["protocol"]["border"] == 4 and r["protocol"]["rounding"] == "8-bit"
    assert np.isfinite(r["psnr"]) and np.isfinite(r["bicubic_psnr"]) and 0 < r["ssim"] <= 1
    assert r["gain"] == pytest.approx(r["psnr"] - r["bicubic_psnr"])


def _result(name, label, eval_set, scale=4):
    return dict(name=name, label=label, reading="code", path="/x/carn_m.pth", set=eval_set, scale=scale,
                params=414_787, mult_adds=32_480_870_400, psnr=28.0, ssim=0.8, bicubic_psnr=27.0, bicubic_ssim=0.7,
                gain=1.0, wins=3, images=3, seconds=1.0,
                protocol={"scale": scale, "channel": "y", "border": scale, "rounding": "8-bit", "images": 3})


def test_record_evaluation_puts_each_number_beside_the_right_paper_cell():
    found = ev.WeightsEvaluation(results=[_result("carn-m", "CARN-M", "Set14"), _result("carn-m", "CARN-M", "embedded"),
                                          _result("pcarn-m-l1", "PCARN-M (L1)", "Set14"),
                                          _result("carn-m", "CARN-M", "B100", scale=2)])
    run = RecordingRun()
    lines = ev.record_evaluation(run, found)
    cells = _by_key(run)
    assert cells["carn-m/Set14/x4/psnr"][1]["entry"] == "Table 2.4"
    assert cells["carn-m/Set14/x4/psnr"][1]["row"] == "CARN-M x4"
    assert cells["carn-m/Set14/x4/ssim"][1]["column"] == "Set14 SSIM"
    assert cells["carn-m/B100/x2/psnr"][1]["row"] == "CARN-M x2"
    embedded = cells["carn-m/embedded/x4/psnr"][1]
    assert embedded["entry"] == "Figure 2.9" and "not a paper test set" in embedded["note"]
    assert cells["pcarn-m-l1/Set14/x4/psnr"][1]["entry"] == "Figure 2.9"      # no Table 2.4 row of its own
    assert cells["bicubic/Set14/x4/psnr"][1].get("entry") is None
    assert len(lines) == 4 and "+1.00 dB" in lines[0]
    entries, warnings = _ledger_of(run)
    assert warnings == [] and entries["Table 2.4"].status == "measured at small scale"


def test_reading_variants_hold_the_same_tensors_and_compute_differently():
    torch.manual_seed(0)
    model = CARNM(channels=8, groups=4, reading="code").eval()
    variants = ev.reading_variants(model)
    assert list(variants) == ["own reading (code)", "other reading (thesis)", "Eq. 2.2 as printed (concat='fused')"]
    other = variants["other reading (thesis)"]
    assert other.config["reading"] == "thesis" and other.global_residual
    assert variants["Eq. 2.2 as printed (concat='fused')"].concat == "fused"
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        outs = [v(x, 4) for v in variants.values()]
    for v in variants.values():
        assert all(torch.equal(a, b) for a, b in zip(v.state_dict().values(), model.state_dict().values()))
    assert not torch.allclose(outs[0], outs[1]) and not torch.allclose(outs[0], outs[2])


@pytest.mark.skipif(not (SHARED / "carn_m.pth").is_file(),
                    reason="the authors' carn_m.pth is not in ../shared/weights (python -m companion download carn-m)")
def test_authors_carn_m_beats_bicubic_only_in_its_own_reading():
    """The smoke profile's lookup finds the file; on two 96-px crops at ×4 the authors' CARN-M beats bicubic in
    its code reading, and loses in the thesis reading and with the fused concatenation."""
    cfg = replace(CARN_PROFILES["smoke"], images=2, crop=96)
    found = ev.evaluate_authors_weights(cfg)
    [r] = found.results
    assert r["label"] == "CARN-M" and r["reading"] == "code" and r["params"] == 414_787
    assert r["mult_adds"] == costs.TABLE_2_4["CARN-M x4"]["Mult-Adds (G)"]["recount"]
    assert r["wins"] == 2 and r["gain"] > 0.5
    checks = ev.readings_check(found.models["carn-m"], ev.sr_pairs("embedded", 4, images=2, crop=96), 4)
    own, other, fused = (checks[k]["psnr"] for k in checks)
    assert own > fused + 0.3 and own > other + 3


# --- figures -------------------------------------------------------------------------------------------------

@pytest.fixture
def run(tmp_path, monkeypatch):
    from companion.session import start

    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path / "figures"))
    return start("02a_carn", profile="smoke", device="cpu")


def test_paper_points_are_table_2_4s_rows_at_the_scale():
    points = {p["label"]: p for p in figures.paper_points(4)}
    assert len(points) == 13 and points["CARN"]["psnr"]["Set14"] == 28.6 and points["CARN-M"]["params"] == 412_000
    assert points["CARN"]["mult_adds_g"] == 90.9
    assert "Urban100" not in points["SelNet"]["psnr"] and set(points["CARN"]["psnr"]) == set(PAPER_SETS)
    assert {p["label"] for p in figures.paper_points(3)} == set(points) - {"LapSRN", "SRDenseNet"}


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_bubble_plot_saves_with_a_legend_and_files_ours_under_figure_2_9(run):
    import matplotlib.pyplot as plt

    ours = [dict(_result("carn-m", "CARN-M", "embedded"), psnr=29.1, bicubic_psnr=27.6),
            dict(_result("carn-m", "CARN-M", "Set14"), psnr=28.4)]
    fig = figures.fig2_9_bubbles(run, figures.paper_points(4), ours, sets=PAPER_SETS)
    png = run.figures_dir / "fig2_9_psnr_vs_mult_adds.png"
    assert png.is_file() and run.figures[-1]["entry"] == "Figure 2.9"
    texts = _legend_texts(fig)
    assert "ours: authors' CARN-M weights" in texts and "bicubic, same images" in texts
    assert any("parameters" in t for t in texts)
    titles = [ax.get_title() for ax in fig.axes]
    assert "Set14 ×4 (Fig. 2.9's set)" in titles and "ours: embedded ×4, not a paper set" in titles
    assert len(fig.axes) == 6   # four paper sets, the embedded photographs, the legend
    plt.close(fig)


def test_bubble_plot_without_weights_draws_the_paper_and_says_why(run):
    import matplotlib.pyplot as plt

    why = "the authors' CARN-M weights are not on this machine; `python -m companion download carn-m` fetches them"
    fig = figures.fig2_9_bubbles(run, figures.paper_points(4), [], sets=PAPER_SETS, missing=[why])
    assert run.figures[-1]["entry"] is None                      # the paper's numbers alone reproduce nothing
    assert "ours: none (no weights found)" in _legend_texts(fig)
    shown = " ".join(t.get_text() for ax in fig.axes for t in ax.texts).replace("\n", " ")
    assert "python -m companion download" in shown
    plt.close(fig)


def test_eq_2_10_figure_marks_the_thesis_savings(run, recorded):
    import matplotlib.pyplot as plt

    fig = figures.fig_eq_2_10(run, recorded[1]["eq"])
    assert (run.figures_dir / "eq2_10_saving.png").is_file() and run.figures[-1]["entry"] is None
    notes = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "thesis: 1.8×" in notes and "thesis: 14×" in notes and "2.80×" in notes
    assert fig.axes[0].get_legend() is not None
    plt.close(fig)


# --- profiles ------------------------------------------------------------------------------------------------

def test_profiles_quick_runs_on_the_embedded_images_and_full_on_table_2_4s_sets():
    smoke, quick, full = (CARN_PROFILES[p] for p in ("smoke", "quick", "full"))
    assert smoke.crop and smoke.images and quick.crop == 0 and quick.images == 0 and quick.scales == (4,)
    assert smoke.eval_sets == quick.eval_sets == ("embedded",) and smoke.source == quick.source == "bundled"
    assert full.source == "data" and full.eval_sets == PAPER_SETS and full.scales == (2, 3, 4)
    assert full.required_folders() == tuple(f"benchmark/{s}" for s in PAPER_SETS)
    assert smoke.required_folders() == quick.required_folders() == ()
    from companion.ch2.authors_weights import RELEASES
    assert all(set(p.weights) <= set(RELEASES) for p in CARN_PROFILES.values())
    json.dumps([dataclasses.asdict(p) for p in CARN_PROFILES.values()])   # results files store the config


def test_per_image_table_and_bicubic_recorded_once():
    a = dict(_result("carn-m", "CARN-M", "embedded"), per_image={"astronaut": dict(psnr=29.9, bicubic_psnr=26.8)})
    b = dict(_result("pcarn-m-l1", "PCARN-M (L1)", "embedded"),
             per_image={"astronaut": dict(psnr=29.8, bicubic_psnr=26.8)})
    found = ev.WeightsEvaluation(results=[a, b])
    head, row, mean = ev.per_image_table(found, "embedded", 4).splitlines()
    assert "CARN-M" in head and "PCARN-M (L1)" in head
    assert row.split() == ["astronaut", "26.80", "29.90", "29.80"] and mean.split()[0] == "mean"
    assert ev.per_image_table(found, "Set5", 4) == ""
    run = RecordingRun()
    ev.record_evaluation(run, found)
    keys = [k for k, _, _ in run.records]
    assert keys.count("bicubic/embedded/x4/psnr") == 1 and len(keys) == len(set(keys))
