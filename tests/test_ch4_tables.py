"""04d_augmentation_tables (companion.ch4.tables, table_figures, conclusions) and the seed-spread pilot: the
claims are judged on the paired scores they are given, the records put gains in the paper's δ cells and absolute
PSNRs only on the paper's set, Tables 4.4-4.10 name what is missing, a run both tables name trains once, and the
pilot's statistics recover what they are built from."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from companion.ch4 import conclusions, table_figures, tables
from companion.ch4.config import AUGMENTATION_CHOICES, TABLES_FULL, TABLES_QUICK, TABLES_SMOKE
from companion.zoo import REPO_ROOT
from conftest import RecordingRun, load_script

pytestmark = pytest.mark.usefixtures("one_thread")

IMAGES = ("china", "flower", "rocket")


def fake_results(spec, gains: dict, *, seeds: int = 3, base: float = 25.0, noise: float = 0.0, seed: int = 0,
                 eval_set: str = tables.EMBEDDED) -> dict:
    """Results shaped like :func:`companion.ch4.tables.train_and_score`'s: every run of ``spec`` gets PSNR
    ``base + gains.get(run_name, 0)`` on every seed × image, plus seeded noise of std ``noise``."""
    rng = np.random.default_rng(seed)
    out = {}
    for run, s in tables.unique_jobs(spec.table_4_2_runs() + spec.table_4_3_runs(), seeds):
        name = tables.run_name(run)
        scores = {img: {"psnr": base + gains.get(name, 0.0) + rng.normal(0, noise), "ssim": 0.8} for img in IMAGES}
        out.setdefault(name, []).append(dict(seed=s, scores={eval_set: scores}, steps=600, seconds=12.0,
                                             val_psnr=24.0, source=f"zoo:{name}-seed{s}", params=1234))
    return out


def name_of(spec, model, augmentation, fraction=1.0):
    [run] = [r for r in spec.table_4_2_runs() + spec.table_4_3_runs()
             if (r.model, r.augmentation, r.fraction) == (model, augmentation, fraction)][:1]
    return tables.run_name(run)


def test_rows_and_columns_are_the_papers():
    paper42, paper43 = tables.paper_table("Table 4.2"), tables.paper_table("Table 4.3")
    assert set(tables.TABLE_4_2_ROWS) == set(AUGMENTATION_CHOICES)
    assert set(tables.TABLE_4_2_ROWS.values()) == set(paper42)
    for row in tables.MODEL_ROWS.values():
        assert row in paper43 and f"{row} +MoA delta" in paper43
    assert [tables.fraction_column(f) for f in (1.0, 0.5, 0.25, 0.15, 0.1)] == \
        ["100% data", "50% data", "25% data", "15% data", "10% data"]
    assert all(tables.fraction_column(f) in paper43["EDSR"] for f in TABLES_QUICK.fractions)


def test_a_run_both_tables_name_is_trained_once():
    jobs = tables.unique_jobs(TABLES_QUICK.table_4_2_runs() + TABLES_QUICK.table_4_3_runs(), TABLES_QUICK.seeds)
    # 9 augmentations + 4 models x 2 fractions x 2, less EDSR's two full-data runs named by both tables
    assert len(jobs) == (9 + 4 * 2 * 2 - 2) * 3
    assert len({tables.run_name(r) + str(s) for r, s in jobs}) == len(jobs)


def test_claims_follow_the_paired_scores():
    spec = TABLES_QUICK
    gains = {name_of(spec, "edsr", "moa"): 0.5, name_of(spec, "edsr", "cutblur"): -0.5,
             name_of(spec, "edsr", "moa", 0.1): 1.0, name_of(spec, "rcan", "moa", 0.1): 0.2,
             name_of(spec, "rcan", "moa"): 0.2}
    results = fake_results(spec, gains, noise=0.01)
    c42 = {c["augmentation"]: c for c in tables.claims_4_2(spec, results, tables.EMBEDDED)}
    assert c42["moa"]["verdict"] == "agrees" and c42["moa"]["difference"] == pytest.approx(0.5, abs=0.02)
    assert c42["cutblur"]["verdict"] == "disagrees"
    assert c42["blend"]["verdict"] == "unclear"
    assert c42["moa"]["paper_delta"] == 0.09 and c42["cutblur"]["paper_delta_realsr"] == 0.23
    c43 = tables.claims_4_3(spec, results, tables.EMBEDDED)
    by = {(c["model"], c["fraction"]): c for c in c43}
    assert by[("edsr", 0.1)]["verdict"] == "agrees" and by[("edsr", 1.0)]["verdict"] == "agrees"
    assert by[("edsr", 0.1)]["paper_delta"] == 0.11
    # "more with less data": EDSR gains 1.0 at 10 % and 0.5 at 100 %; RCAN the same at both
    assert by[("edsr", None)]["verdict"] == "agrees" and by[("edsr", None)]["difference"] == pytest.approx(0.5, abs=0.03)
    assert by[("rcan", None)]["verdict"] == "unclear"
    assert by[("edsr", None)]["paper_delta"] == pytest.approx(0.11 - 0.08)
    assert by[("srcnn", 1.0)]["verdict"] == "unclear"


def test_one_seed_is_never_enough():
    spec = replace(TABLES_QUICK, seeds=1)
    results = fake_results(spec, {name_of(spec, "edsr", "moa"): 0.5}, seeds=1)
    assert {c["augmentation"]: c["verdict"] for c in tables.claims_4_2(spec, results, tables.EMBEDDED)}["moa"] == \
        "unclear"  # 1 seed x 3 images: fewer pairs than companion.summary.MIN_PAIRS


@pytest.mark.parametrize("eval_set", [tables.EMBEDDED, tables.DIV2K])
def test_gains_go_into_the_delta_cells_and_psnr_only_on_the_papers_set(eval_set):
    spec = TABLES_QUICK
    results = fake_results(spec, {name_of(spec, "edsr", "moa"): 0.3, name_of(spec, "edsr", "moa", 0.1): 0.4},
                           noise=0.01, eval_set=eval_set)
    run = RecordingRun()
    rows42 = tables.table_4_2_rows(spec, results, eval_set)
    tables.record_table_4_2(run, spec, rows42, tables.claims_4_2(spec, results, eval_set), eval_set)
    rows43 = tables.table_4_3_rows(spec, results, eval_set)
    tables.record_table_4_3(run, spec, rows43, tables.claims_4_3(spec, results, eval_set), eval_set)
    cells = {(w.get("entry"), w.get("row"), w.get("column")): (k, v, w) for k, v, w in run.records}
    key, value, where = cells[("Table 4.2", "MoA", "DIV2K delta")]
    assert value == pytest.approx(0.3, abs=0.02) and "below the paper's scale" in where["note"]
    assert cells[("Table 4.3", "EDSR +MoA delta", "10% data")][1] == pytest.approx(0.4, abs=0.02)
    psnr_cell = ("Table 4.2", "MoA", "DIV2K PSNR") in cells
    assert psnr_cell == (eval_set == tables.DIV2K)
    assert (("Table 4.3", "EDSR", "10% data") in cells) == (eval_set == tables.DIV2K)
    assert any(k.startswith("claim/MoA helps EDSR more") for k, _, _ in run.records)
    text = tables.table_4_2_text(rows42, tables.claims_4_2(spec, results, eval_set))
    assert "| MoA |" in text and "+0.09" in text  # the paper's δ beside ours


def test_data_status_names_what_is_missing(tmp_path):
    (tmp_path / "DIV2K" / "DIV2K_train_HR").mkdir(parents=True)
    (tmp_path / "DIV2K" / "DIV2K_train_HR" / "0001.png").write_bytes(b"x")
    (tmp_path / "benchmark" / "Set5" / "HR").mkdir(parents=True)           # an empty folder is not data
    status = tables.data_status(tmp_path)
    assert set(status) == {f"Table 4.{k}" for k in range(4, 11)}
    assert status["Table 4.4"]["present"] == ["DIV2K"] and "Set5" in status["Table 4.4"]["missing"]
    assert status["Table 4.9"]["missing"] == [] and status["Table 4.8"]["missing"] == ["SIDD+"]
    run = RecordingRun()
    lines = tables.record_full_only(run, status, measured=("Table 4.4", *tables.MEASURED_ELSEWHERE))
    assert len(lines) == 7 and len(run.records) == 5 and lines[0] == "Table 4.4: measured by this run"
    assert lines[3].startswith("Table 4.7: measured 04c_where_to_restore")
    assert {w["entry"] for _, _, w in run.records} == {"Table 4.5", "Table 4.6", "Table 4.8", "Table 4.9", "Table 4.10"}
    for key, value, where in run.records:
        assert value is None and where["status"] == "full-only" and "needs" in where["note"]
    table_4_5 = next(w for k, v, w in run.records if w["entry"] == "Table 4.5")
    assert "RealSR (RealSR/)" in table_4_5["note"] and "missing: RealSR, CameraSR" in table_4_5["note"]
    assert tables.data_status(tmp_path / "nowhere")["Table 4.4"]["present"] == []


def test_train_and_score_trains_each_setting_once_and_scores_every_set(monkeypatch, tmp_path):
    spec = replace(TABLES_SMOKE, table_4_2_model="srcnn", augmentations=("none", "moa"), table_4_3_models=("srcnn",),
                   fractions=(1.0, 0.5), eval_crop=48)
    calls = []
    real = tables.trained_model

    def counting(run, seed, **kw):
        calls.append((tables.run_name(run), seed))
        return real(run, seed, **kw)
    monkeypatch.setattr(tables, "trained_model", counting)
    sets = tables.evaluation_sets(spec)
    extra = {"twice": {"rocket": sets[tables.EMBEDDED]["rocket"]}}
    results = tables.train_and_score(spec, spec.table_4_2_runs() + spec.table_4_3_runs(), sets,
                                     extra_sets=lambda run: extra if run.fraction == 0.5 else {},
                                     work_dir=tmp_path, progress=False)
    assert len(calls) == len(set(calls)) == 4 and len(results) == 4          # 6 named, 4 distinct
    for name, per_seed in results.items():
        scores = per_seed[0]["scores"]
        assert set(scores[tables.EMBEDDED]) == set(IMAGES)
        assert ("twice" in scores) == name.endswith("50pct")
        assert all(np.isfinite(v["psnr"]) and 0 < v["ssim"] <= 1 for v in scores[tables.EMBEDDED].values())
    # the same model on the same image scores the same in both sets
    half = next(n for n in results if n.endswith("50pct"))
    assert results[half][0]["scores"]["twice"]["rocket"] == results[half][0]["scores"][tables.EMBEDDED]["rocket"]


def test_set_scores_match_the_sr_protocol():
    import torch
    from torch import nn

    from companion.ch4.runs import lr_on_grid
    from companion.metrics import sr_scores

    identity = nn.Conv2d(3, 3, 1, bias=False)                            # returns the LR image on the grid
    with torch.no_grad():
        identity.weight.copy_(torch.eye(3)[:, :, None, None])
    image = tables.evaluation_sets(replace(TABLES_SMOKE, eval_crop=40))[tables.EMBEDDED]
    scores = tables.sr_set_scores(identity, 4, image)
    lq, hr = lr_on_grid(image["flower"], 4)
    assert scores["flower"]["psnr"] == pytest.approx(sr_scores(lq, hr, 4)["psnr"])
    assert tables.bicubic_scores(4, image)["flower"]["psnr"] > scores["flower"]["psnr"]  # bicubic beats nearest


def test_figures_and_conclusions(tmp_path, monkeypatch):
    from companion.session import start

    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path / "figures"))
    spec = TABLES_QUICK
    results = fake_results(spec, {name_of(spec, "edsr", "moa"): 0.5, name_of(spec, "carn", "moa", 0.1): -0.4},
                           noise=0.02)
    run = start("04d_augmentation_tables", profile="smoke", device="cpu")
    c42, c43 = (tables.claims_4_2(spec, results, tables.EMBEDDED), tables.claims_4_3(spec, results, tables.EMBEDDED))
    table_figures.table_4_2_gains(run, c42, spec)
    table_figures.table_4_3_gains(run, c43, spec)
    assert {f["entry"] for f in run.figures} == {"Table 4.2", "Table 4.3"}
    assert all((tmp_path / "figures" / f["file"]).stat().st_size > 10_000 for f in run.figures)
    rows42, rows43 = tables.table_4_2_rows(spec, results, tables.EMBEDDED), tables.table_4_3_rows(spec, results,
                                                                                                  tables.EMBEDDED)
    status = tables.data_status(tmp_path / "nowhere")
    text = "\n\n".join(conclusions.augmentation_tables(spec, rows42, c42, rows43, c43, status, tables.EMBEDDED))
    assert "*agrees* for MoA" in text and "CARN at 10% data -0.4" in text and "*disagrees*" in text
    assert "+0.01 to +0.09 dB" in text                                     # the paper's δ range, from thesis.json
    assert "Table 4.8 needs SIDD+ (missing here: SIDD+)" in text
    assert "600 steps" in text and "700,000" in text and "nan" not in text.lower()
    assert conclusions.tables_scale(TABLES_FULL) == ""


# --- the seed-spread pilot -----------------------------------------------------------------------------------

def load_pilot():
    return load_script(REPO_ROOT / "pilots" / "ch4_seed_spread.py")


def test_the_pilot_statistics_recover_what_they_are_built_from():
    pilot = load_pilot()
    rng = np.random.default_rng(0)
    seeds, tiles_ = 200, 4
    grid = 30 + rng.normal(0, 0.2, (seeds, 1)) + rng.normal(0, 1.0, (1, tiles_)) + rng.normal(0, 0.05, (seeds, tiles_))
    s = pilot.spreads(grid)
    assert s["seed_std"] == pytest.approx(0.2, rel=0.15) and s["cell_std"] == pytest.approx(0.05, rel=0.15)
    quiet = pilot.power_curve(0.001, 0.001, simulations=40, resamples=300, differences=(0.0, 0.01, 0.05))
    assert quiet[0.05] == 1.0 and pilot.smallest_resolvable(quiet) == 0.01
    noisy = pilot.power_curve(0.5, 0.2, simulations=40, resamples=300, differences=(0.0, 0.05, 3.0))
    assert noisy[0.05] < 0.8 <= noisy[3.0] and noisy[0.0] < 0.5
    assert pilot.smallest_resolvable({0.0: 1.0, 0.1: 0.5, 0.2: 0.9}) == 0.2
    assert pilot.smallest_resolvable({0.1: 0.5}) is None


def test_the_smoke_pilot_writes_its_results_and_resumes(tmp_path, monkeypatch):
    pilot = load_pilot()
    out = tmp_path / "pilot.json"
    assert pilot.main(["--smoke", "--out", str(out), "--work", str(tmp_path / "work")]) == 0
    document = json.loads(out.read_text())
    assert document["profile"] == "smoke" and [r["seed"] for r in document["runs"]] == [0, 1]
    summary = document["summary"]
    assert summary["seeds"] == 2 and set(summary["power_curve"]) >= {"0", "0.01", "0.3"}
    grid = np.array([r["tiles"] for r in document["runs"]])
    assert summary["seed_std_db"] == pytest.approx(float(np.std(grid.mean(axis=1), ddof=1)), abs=1e-3)
    assert "seed std" in document["verdict"] and document["settings"]["run"]["augmentation"] == "none"
    assert not list(tmp_path.glob("*.tmp*"))
    before = document["runs"]
    monkeypatch.setattr(pilot, "trained_model", lambda *a, **k: pytest.fail("a finished seed was trained again"))
    assert pilot.main(["--smoke", "--out", str(out), "--work", str(tmp_path / "work")]) == 0
    assert json.loads(out.read_text())["runs"] == before


def test_the_committed_pilot_results_are_the_quick_recipes():
    path = REPO_ROOT / "pilots" / "results" / "ch4_seed_spread.json"
    if not path.is_file():
        pytest.skip("pilots/results/ch4_seed_spread.json not written yet (python pilots/ch4_seed_spread.py)")
    document = json.loads(path.read_text())
    run = load_pilot().baseline_run(False)
    assert document["profile"] == "quick" and document["settings"]["run"]["recipe"]["train"]["steps"] == \
        run.recipe.train.steps
    assert len(document["runs"]) >= 2 and "verdict" in document
