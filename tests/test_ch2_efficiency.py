"""02d_efficiency (companion.ch2.efficiency, companion.ch2.efficiency_figures): Fig. 2.8's G/R family, its exact
costs, CPU timing, the trained sweep (zoo-backed), the claims against CARN, the ledger records and the figures.
The notebook itself runs in the smoke profile in tests/test_notebooks.py (every notebook does)."""
from __future__ import annotations

import dataclasses

import pytest

from companion.ch2 import config
from companion.ch2 import efficiency as ef
from companion.ch2 import training as tr
from companion.ch2.config import HELD_OUT
from companion.errors import CompanionError
from companion.profiles import PROFILES

pytestmark = pytest.mark.usefixtures("one_thread")
SMOKE = config.EFFICIENCY_PROFILES["smoke"]


def test_three_profiles_and_the_notebook_stem():
    assert set(config.EFFICIENCY_PROFILES) == set(PROFILES)
    assert config.NOTEBOOKS["02d_efficiency"] is config.EFFICIENCY_PROFILES
    quick, full = config.EFFICIENCY_PROFILES["quick"], config.EFFICIENCY_PROFILES["full"]
    assert quick.required_folders() == () and full.required_folders() == ("DIV2K", "benchmark/Set14")
    assert set(quick.eval_images) == set(HELD_OUT) and not set(quick.train_images) & set(HELD_OUT)
    assert quick.cost_variants == config.PAPER_FAMILY and len(config.PAPER_FAMILY) == 15
    assert "G4R" in quick.variants and "CARN" in quick.variants and ef.depthwise_variant(quick) == "G32R"
    assert ef.depthwise_variant(full) == "G64R"


def test_the_registered_profiles_are_these():
    """companion/ch2/config.py registers 02d under NOTEBOOKS (companion.profiles finds notebooks only there)."""
    from companion.profiles import notebook_configs

    assert notebook_configs().get("02d_efficiency") is config.EFFICIENCY_PROFILES, \
        "add `\"02d_efficiency\": EFFICIENCY_PROFILES` to NOTEBOOKS in companion/ch2/config.py"


def test_labels_parse_into_the_models_of_the_family():
    assert ef.parse_variant("CARN") == ("carn", ())
    assert ef.parse_variant("G8R") == ("carn_m", (("groups", 8), ("recursive", True)))
    assert ef.parse_variant("G64") == ("carn_m", (("groups", 64), ("recursive", False)))
    for bad in ("G0R", "G4r", "carn", "G", "GxR"):
        with pytest.raises(CompanionError, match="unknown Fig. 2.8 variant"):
            ef.parse_variant(bad)
    # G4R at the quick size is the quick CARN-M of the zoo's main entry (same network, another recipe)
    quick = config.EFFICIENCY_PROFILES["quick"]
    assert tr.network_config(ef.variant_spec("G4R", quick)) == tr.network_config(tr.SRTraining("carn_m"))
    assert tr.network_config(ef.variant_spec("G4", quick))["recursive"] is False


def test_costs_are_exact_and_g4r_is_carn_m():
    rows = {r["variant"]: r for r in ef.cost_table(SMOKE)}
    assert list(rows) == list(SMOKE.cost_variants)
    # Table 2.4's CARN-M (414,787 with biases; 412K printed = 412,032 without) and CARN at x4, 720p
    assert rows["G4R"]["params"] == 414_787 and rows["G4R"]["params_weights_only"] == 412_032
    assert rows["G4R"]["mult_adds"] == 32_480_870_400 and rows["CARN"]["mult_adds"] == 90_873_446_400
    assert rows["CARN"]["params"] == 1_591_939 and rows["CARN"]["eq_2_10"] is None
    # recursion divides parameters, not operations; more groups cost less
    assert rows["G4"]["mult_adds"] == rows["G4R"]["mult_adds"] and rows["G4"]["params"] > rows["G4R"]["params"]
    assert rows["G64R"]["mult_adds"] < rows["G4R"]["mult_adds"] and rows["G64R"]["params"] < rows["G4R"]["params"]
    assert rows["G4R"]["eq_2_10"] == pytest.approx(1 / 4 + 1 / 18)
    # the thesis' "four times" fewer parameters and "nearly three times" fewer operations
    assert 3.5 < rows["G4R"]["params_vs_carn"] < 4.5 and 2.5 < rows["G4R"]["mult_adds_vs_carn"] < 3.0
    assert "CARN has 3.84x the parameters" in ef.cost_line(rows["G4R"])


def test_latency_is_measured_per_backend():
    rows = ef.latency_table(dataclasses.replace(SMOKE, latency_backends=("eager",)), progress=False)
    assert [r["variant"] for r in rows] == list(SMOKE.latency_variants)
    assert all(r["eager"] > 0 and r["threads"] == 1 for r in rows)
    with pytest.raises(CompanionError, match="unknown latency backends"):
        ef.latency_table(dataclasses.replace(SMOKE, latency_backends=("gpu",)), progress=False)


def test_the_sweep_trains_scores_and_then_loads_from_the_zoo(tmp_path, monkeypatch):
    from companion import zoo
    from companion.ch2 import zoo as ch2_zoo

    cfg = dataclasses.replace(SMOKE, variants=("CARN", "G8R"))
    results = ef.run_sweep(cfg, device="cpu", progress=False, checkpoint_dir=tmp_path / "ck")
    assert list(results) == ["CARN", "G8R"] and all(len(v) == 1 for v in results.values())
    first = results["G8R"][0]
    assert first["source"] == "trained" and first["steps"] == cfg.train.steps and first["params"] == 58_755
    summary = ef.summarise(results)
    assert summary["G8R"]["psnr"][0] == pytest.approx(first["psnr"]) and summary["G8R"]["seeds"] == 1
    # a zoo holding the variant: the sweep loads it instead of training
    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "zoo"))
    monkeypatch.setitem(config.EFFICIENCY_PROFILES, "quick", dataclasses.replace(cfg, use_zoo=True))
    entry = next(e for e in ch2_zoo.entries() if e.name == "ch2/02d/g8r-seed0")
    model = tr.build_network(ef.variant_spec("G8R", cfg), 0)
    zoo.save_entry(entry, model, {"steps": 2, "seconds": 1.0, "val_psnr": 10.0, "val": [], "loss_curve": []})
    loaded = ef.train_and_score(dataclasses.replace(cfg, use_zoo=True), "G8R", 0)
    assert loaded["source"] == "zoo:ch2/02d/g8r-seed0" and loaded["steps"] == 2


def test_the_sweep_tests_only_on_held_out_photographs():
    with pytest.raises(CompanionError, match="not held-out"):
        ef.eval_pairs(dataclasses.replace(SMOKE, eval_images=("astronaut",)))
    [(name, lr, hr)] = ef.eval_pairs(SMOKE)
    assert name == "rocket" and hr.shape[:2] == (48, 48) and lr.shape[:2] == (12, 12)


IMAGES = ("china", "flower", "rocket")


def _summary(psnrs: dict[str, list]) -> dict:
    """``ef.summarise`` of fake runs: ``psnrs[variant]`` holds one list of per-image PSNRs per seed (or one PSNR
    per seed, the same on every image)."""
    runs = {}
    for k, seeds in psnrs.items():
        runs[k] = []
        for i, p in enumerate(seeds):
            per = list(p) if isinstance(p, (list, tuple)) else [p] * len(IMAGES)
            runs[k].append(dict(variant=k, seed=i, source="trained", steps=5, seconds=1.0, params=10, mult_adds=20,
                                psnr=sum(per) / len(per), ssim=0.5, bicubic_psnr=20.0, bicubic_ssim=0.4,
                                gain=sum(per) / len(per) - 20.0, per_image={n: {"psnr": x} for n, x in zip(IMAGES, per)},
                                protocol={}))
    return ef.summarise(runs)


def test_claims_compare_with_carn_on_paired_scores_beside_the_thesis_numbers():
    quick = config.EFFICIENCY_PROFILES["quick"]
    carn = [[25.0, 27.0, 23.0], [25.2, 27.1, 23.3], [24.9, 26.8, 23.1]]
    lower = [[x - 0.3 - 0.01 * j for j, x in enumerate(seed)] for seed in carn]          # 0.30-0.32 dB below, every pair
    higher = [[x + 0.2 for x in seed] for seed in carn]
    mixed = [[x + d for x, d in zip(seed, (0.4, -0.5, 0.1))] for seed in carn]           # the sign depends on the image
    claims = {c["variant"]: c for c in ef.claims(_summary({"CARN": carn, "G4R": lower, "G32R": higher, "G8R": mixed}),
                                                  quick)}
    assert claims["G4R"]["verdict"] == "worse than CARN" and claims["G4R"]["diff"] == pytest.approx(-0.31)
    assert claims["G4R"]["low"] > 0 and claims["G4R"]["thesis"] == -0.20 and claims["G4R"]["images"] == 3
    assert claims["G32R"]["verdict"] == "better than CARN" and claims["G32R"]["thesis"] == -0.32
    assert claims["G8R"]["verdict"] == "unclear" and claims["G8R"]["thesis"] is None
    assert claims["G8R"]["low"] < 0 < claims["G8R"]["high"]
    one_number = ef.claims(_summary({"CARN": [[25.0]], "G4R": [[24.0]]}), quick)
    assert one_number[0]["verdict"] == "unclear"  # one seed, one image: no evidence
    assert ef.claims(_summary({"G4R": [24.0]}), quick) == []


def test_records_and_figures(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from conftest import RecordingRun

    from companion.ch2 import efficiency_figures as figs

    class Run(RecordingRun):
        def __init__(self):
            super().__init__()
            self.saved = []

        def save_figure(self, fig, name, **kw):
            path = tmp_path / f"{name}.png"
            fig.savefig(path, dpi=150)
            self.saved.append((name, kw.get("entry")))
            return path

    run = Run()
    costs = ef.cost_table(dataclasses.replace(SMOKE, cost_variants=("CARN", "G4R", "G64R")))
    latency = [dict(variant="CARN", threads=1, lr=[16, 16], eager=0.05),
               dict(variant="G4R", threads=1, lr=[16, 16], eager=0.02)]
    summary = _summary({"CARN": [25.0], "G4R": [24.8]})
    lines = ef.record_figure_2_8(run, costs, latency, summary, SMOKE)
    keys = {k: (v, w) for k, v, w in run.records}
    assert keys["fig2_8/G4R/params"][0] == 414_787 and keys["fig2_8/G4R/params"][1]["status"] == "exact"
    assert keys["fig2_8/G4R/mult_adds_g"][0] == 32.5
    assert "four" in keys["fig2_8/G4R/params"][1]["note"] or "4x" in keys["fig2_8/G4R/params"][1]["note"]
    assert keys["fig2_8/CARN/cpu_ms_eager"][0] == 50.0
    assert keys["fig2_8/G4R/psnr_vs_carn"][0] == pytest.approx(-0.2)
    assert "-0.20 dB" in keys["fig2_8/G4R/psnr_vs_carn"][1]["note"]
    # CARN and CARN-M (G4R) timings also go beside Fig. 2.12's CPU half, labelled as the figure labels them
    assert keys["fig2_12/G4R/cpu_s_eager"][0] == 0.02 and keys["fig2_12/G4R/cpu_s_eager"][1]["row"] == "CARN-M"
    assert "LPIPS/NIMA" in keys["fig2_12/CARN/cpu_s_eager"][1]["note"]
    assert {w["entry"] for _, _, w in run.records} == {"Figure 2.8", "Figure 2.12"} and len(lines) == 2
    figs.fig2_8_costs(run, costs, latency)
    figs.fig2_8_tradeoff(run, summary, protocol="test protocol")
    assert run.saved == [("fig2_8_costs", "Figure 2.8"), ("fig2_8_tradeoff", "Figure 2.8")]
    assert (tmp_path / "fig2_8_costs.png").stat().st_size > 10_000
