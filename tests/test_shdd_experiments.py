"""Chapter 7 experiment glue: variants, dedupe, summaries, claims, resumable training, the expert explorer."""
import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from companion.ch7 import experiments, training, variants
from companion.analysis.features import response_by_label
from companion.profiles import config_for
from companion.ch7.shdd import build_shdd
from companion.ch7.datasets import SHDDEval
from companion.errors import CompanionError
from companion.ch7.expert_explorer import ExpertExplorer, expert_explorer
from companion.models import build_model, count_parameters
from companion.models.mepsnet import MEPSNet
from tests.conftest import RecordingRun, texture

QUICK = config_for("07c_ablations", "quick")


pytestmark = pytest.mark.usefixtures("one_thread")


def test_ablation_variants_follow_tables_7_3_and_7_4():
    groups = variants.ablation_variants(QUICK)
    t73, t74 = groups["Table 7.3"], groups["Table 7.4"]
    base = dict(QUICK.ablation_base)  # every 07c quick variant starts from the ablation base (3 SRIRs, K = 4)
    assert base == {"extract_width": 16, "srir": 3, "templates": 4}
    assert t73["No ME, no PS (1 expert)"].overrides == {**base, "experts": 1, "share": False}
    assert t73["ME+PS (5 experts)"].overrides == {**base, "experts": 5}
    # 18 blocks in the whole expert module at quick size (3 SRIRs): one expert of 3×6, three of 3×2
    assert t74["1 expert"].kwargs("quick")["blocks"] * 3 == 18
    assert t74["3 experts +PS"].kwargs("quick")["blocks"] * 3 * 3 == 18
    assert sorted(groups["blocks"]) == [3, 6, 12] and sorted(groups["templates"]) == [4, 8, 16, 32]
    full = variants.ablation_variants(config_for("07c_ablations", "full"))["Table 7.4"]
    assert full["1 expert"].kwargs("paper")["blocks"] == 12 and full["3 experts"].kwargs("paper")["blocks"] == 4
    with pytest.raises(CompanionError, match="split evenly"):
        variants.ablation_variants(dataclasses.replace(QUICK, total_blocks=4))


@dataclasses.dataclass
class FakeRun:  # picklable, for the worker processes
    work_dir: object
    seed: int = 0
    device: object = torch.device("cpu")


def fake_run(tmp_path):
    return FakeRun(tmp_path)


def test_compare_trains_each_distinct_network_once(tmp_path, monkeypatch):
    calls = []

    def fake_train(run, variant, cfg, seed, root, progress=True):
        calls.append((variant.label, seed))
        model = MEPSNet(**variant.kwargs(cfg.size))
        return model, training.Trained(3, 1.0, [(3, 20.0)], [[2, 0.5]], "steps", "fake")

    monkeypatch.setattr(experiments, "train_variant", fake_train)
    monkeypatch.setattr(experiments, "evaluate_levels", lambda *a, **k: {"moderate": {"psnr": 30.0}})
    monkeypatch.setattr(experiments, "evaluate_validation", lambda *a, **k: {"psnr": 29.0})
    groups = variants.ablation_variants(QUICK)
    everything = [v for g in groups.values() for v in g.values()]
    serial = dataclasses.replace(QUICK, train_workers=1)
    results = experiments.compare(fake_run(tmp_path), serial, everything, tmp_path, progress=False)
    assert len(calls) == 12 * QUICK.seeds  # 4 + 4 + 1 + 3 distinct networks, not 15
    assert results["ME+PS (3 experts)"] is results["6 blocks per expert"] is results["K = 4"] \
        is results["3 experts +PS"]
    assert results["1 expert +PS"] is not results["PS (1 expert)"]
    assert [r["seed"] for r in results["1 expert"]] == [0, 1, 2]


def level_result(psnr, ssim=0.9, images=(-0.5, 0.5), inputs=(19.0, 21.0)):
    """An evaluate_shdd result whose images score ``psnr`` + each of ``images`` (inputs: ``inputs``)."""
    return {"psnr": psnr, "ssim": ssim, "input_psnr": 20.0, "input_psnr_by_type": {"gaussian_blur": 21.0},
            "psnr_by_type": {"gaussian_blur": psnr + 1}, "protocol": {"channel": "rgb", "border": 0,
                                                                        "tiles": [1, 1], "overlap": 16, "images": 2,
                                                                        "bf16": False},
            "per_image": [{"name": f"i{k}", "psnr": psnr + d, "input_psnr": x}
                          for k, (d, x) in enumerate(zip(images, inputs))]}


def test_summarise_gives_mean_and_sample_std_over_seeds():
    results = {"A": [dict(params=10, steps=s, seconds=s / 10, checkpoint=f"zoo:ch7/07b/a-seed{i}",
                          levels={"moderate": level_result(p)})
                     for i, (s, p) in enumerate(((100, 30.0), (110, 31.0), (120, 32.0)))]}
    row = experiments.summarise(results)["A"]
    assert row["seconds"] == pytest.approx((11.0, 1.0))
    assert experiments.checkpoint_text(row["checkpoints"]) == "zoo ch7/07b/a-seed0, -seed1, -seed2"
    assert experiments.checkpoint_text(["runs/quick/work/checkpoints/a.pt"]) == "runs/quick/work/checkpoints/a.pt"
    assert row[("moderate", "psnr")] == pytest.approx((31.0, 1.0))
    assert row["steps"] == pytest.approx((110.0, 10.0))
    assert row[("moderate", "psnr_by_type")]["gaussian_blur"] == pytest.approx((32.0, 1.0))
    # the paired claims' scores: seeds × images, and the input once per image
    assert experiments.psnr_grid(row, "moderate").tolist() == [[29.5, 30.5], [30.5, 31.5], [31.5, 32.5]]
    assert experiments.input_grid(row, "moderate").tolist() == [[19.0, 21.0]] * 3
    assert ("validation", "psnr") not in row  # these runs did not evaluate the validation images
    text = experiments.table_markdown(experiments.summarise(results), ["moderate"])
    assert "31.00 ± 1.00" in text and "(distorted input)" in text


def test_claims_are_judged_on_paired_scores_per_seed_and_image():
    rng = np.random.default_rng(0)
    images = rng.normal(0.0, 1.0, size=12)  # image difficulty: shared by every model, so it pairs out

    def row(level, spread=0.05):
        seeds = [level + images + rng.normal(0.0, spread, size=12) for _ in range(3)]
        return {("moderate", "psnr_per_image"): [s.tolist() for s in seeds]}

    def table(values):
        return {label: row(*v) if isinstance(v, tuple) else row(v) for label, v in values.items()}

    t73 = table({"No ME, no PS (1 expert)": 29.0, "PS (1 expert)": 30.0,
                 "ME+PS (3 experts)": (30.0, 0.5), "ME+PS (5 experts)": 29.0})
    t74 = table({"1 expert": 29.0, "3 experts": 29.5, "1 expert +PS": 30.0, "3 experts +PS": 30.0})
    templates = {4: row(29.0), 32: row(30.0)}
    verdicts = {c["claim"]: c["verdict"] for c in experiments.ablation_claims(t73, t74, templates, "moderate")}
    assert verdicts["sharing helps one expert"] == "agrees"
    assert verdicts["3 shared experts beat 1"] == "unclear"
    assert verdicts["5 shared experts beat 3"] == "disagrees"
    assert verdicts["more templates help (K=32 vs K=4)"] == "agrees"


def test_checkpoint_names_change_with_what_shapes_the_model(tmp_path):
    run = fake_run(tmp_path)
    v = variants.Variant("MEPSNet", "mepsnet")
    a = training.checkpoint_path(run, v, QUICK, 0)
    assert a == training.checkpoint_path(run, v, QUICK, 0)
    assert a != training.checkpoint_path(run, v, QUICK, 1)
    assert a != training.checkpoint_path(run, variants.Variant("MEPSNet", "mepsnet", {"templates": 4}), QUICK, 0)
    assert a != training.checkpoint_path(run, v, dataclasses.replace(QUICK, train=dataclasses.replace(QUICK.train, lr=1e-4)), 0)
    assert a != training.checkpoint_path(run, v, dataclasses.replace(QUICK, loss="l1"), 0)
    assert a != training.checkpoint_path(run, v, dataclasses.replace(QUICK, patch_size=48), 0)



def test_a_model_s_own_learning_rate_changes_only_its_runs(tmp_path, tiny_shdd):
    own = dataclasses.replace(TINY, model_lr=(("vdsr", 5e-4),))
    assert variants.train_config(own, 0, "vdsr").lr == 5e-4 and variants.train_config(own, 0, "dncnn").lr == TINY.train.lr
    run = fake_run(tmp_path)
    vdsr, dncnn = variants.Variant("VDSR", "vdsr", {"depth": 3, "features": 8}), variants.Variant("DnCNN", "dncnn")
    assert training.checkpoint_path(run, dncnn, own, 0) == training.checkpoint_path(run, dncnn, TINY, 0)  # zoo digests kept
    assert training.checkpoint_path(run, vdsr, own, 0) != training.checkpoint_path(run, vdsr, TINY, 0)
    training.train_variant(run, vdsr, own, 0, tiny_shdd, progress=False)
    saved = torch.load(training.checkpoint_path(run, vdsr, own, 0), weights_only=True)
    assert saved["optimizer"]["param_groups"][0]["initial_lr"] == 5e-4  # the trainer used it
    summary = {"VDSR": {"lr": 5e-4, "params": 10, "steps": (3, 0), "seconds": (1, 0), "seeds": 1,
                        ("moderate", "psnr"): (20.0, 0.0), ("moderate", "ssim"): (0.5, 0.0),
                        ("moderate", "protocol"): {"tiles": [2, 4]}}}
    rec = RecordingRun()
    experiments.record_table(rec, summary, entry="Table 7.1", cfg=own, levels=("moderate",))
    assert rec.records and all("LR 0.0005 (its own)" in where["protocol"] for _, _, where in rec.records)

@pytest.fixture(scope="module")
def tiny_shdd(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shdd")
    src = tmp / "src"
    src.mkdir()
    for i in range(3):
        Image.fromarray(texture(176, 180, i)).save(src / f"im{i}.png")
    build_shdd(src, tmp / "out", levels=("moderate",), versions=2, progress=False)
    return tmp / "out"


_SMOKE = config_for("07b_mepsnet_training", "smoke")
TINY = dataclasses.replace(_SMOKE, eval_levels=("moderate",), seeds=1,
                           train=dataclasses.replace(_SMOKE.train, steps=3, checkpoint_every=2))


def test_train_variant_resumes_from_its_checkpoint_and_evaluates(tmp_path, tiny_shdd):
    run = fake_run(tmp_path)
    v = variants.Variant("DnCNN", "dncnn", {"depth": 3, "features": 8})
    model, first = training.train_variant(run, v, TINY, 0, tiny_shdd, progress=False)
    assert first.steps_done == 3 and training.checkpoint_path(run, v, TINY, 0).exists()
    again, second = training.train_variant(run, v, TINY, 0, tiny_shdd, progress=False)
    assert second.steps_done == 3 and second.val == first.val and len(first.val) == 3  # nothing retrained
    assert first.source.endswith(training.checkpoint_path(run, v, TINY, 0).name)
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    loaded = training.load_variant(run, v, TINY, 0)
    scores = experiments.evaluate_levels(loaded, tiny_shdd, TINY, "cpu")
    assert scores["moderate"]["protocol"]["tiles"] == [2, 4] and math.isfinite(scores["moderate"]["psnr"])


def test_response_by_label_compares_each_type_to_the_image_mean():
    labels = torch.zeros(4, 4, dtype=torch.long)
    labels[:, 2:] = 2
    strong_right = torch.zeros(1, 2, 4, 4)
    strong_right[:, :, :, 2:] = 1.0
    flat = torch.ones(2, 4, 4)
    out = response_by_label([strong_right, flat], labels, ["identity", "noise", "blur"])
    assert out["blur"] == pytest.approx([2.0, 1.0]) and out["identity"] == pytest.approx([0.0, 1.0])
    assert "noise" not in out


def test_expert_explorer_shows_every_expert_for_a_region(tiny_shdd):
    torch.manual_seed(0)
    model = MEPSNet(experts=2, srir=1, blocks=1, templates=2, extract_width=8, expert_width=4).eval()
    items = [SHDDEval(tiny_shdd, level="moderate", split="test")[i] for i in range(2)]
    explorer = ExpertExplorer(model, items)
    names = explorer.regions(0)
    assert len(names) == len(items[0]["record"]["regions"])
    r = items[0]["record"]["regions"][0]
    panels = explorer.panels(0, 0)
    assert list(panels) == ["distorted", "clean", "restored", "expert 1", "expert 2"]
    assert panels["expert 1"].shape == (r["ymax"] - r["ymin"], r["xmax"] - r["xmin"])
    assert explorer.render_png(0, 0).startswith(b"\x89PNG")
    box = expert_explorer(model, items)
    image_dropdown, region_dropdown = box.children[0].children
    first_png = box.children[2].value
    image_dropdown.value = 1
    assert len(region_dropdown.options) == len(items[1]["record"]["regions"])
    assert box.children[2].value != first_png


def test_compare_in_two_worker_processes_matches_one_process(tmp_path, tiny_shdd):
    cfg = dataclasses.replace(TINY, seeds=2, train=dataclasses.replace(TINY.train, steps=2))
    v = variants.Variant("DnCNN", "dncnn", {"depth": 3, "features": 8})
    serial = experiments.compare(fake_run(tmp_path / "a"), cfg, [v], tiny_shdd, progress=False)["DnCNN"]
    parallel = experiments.compare(fake_run(tmp_path / "b"), dataclasses.replace(cfg, train_workers=2), [v], tiny_shdd,
                          progress=False)["DnCNN"]
    assert [r["seed"] for r in parallel] == [0, 1] == [r["seed"] for r in serial]
    for a, b in zip(serial, parallel):
        assert a["steps"] == b["steps"] == 2
        assert a["val"] == b["val"] and len(a["val"]) == 2  # the same validation PSNR after every step
        assert a["levels"]["moderate"]["psnr"] == pytest.approx(b["levels"]["moderate"]["psnr"], abs=1e-3)


def test_record_order_compares_ours_with_table_7_1():
    def row(psnr):
        return {("moderate", "psnr"): (psnr, 0.1)}

    paper_like = {"DnCNN": row(30.0), "VDSR": row(30.5), "OWAN": row(31.0), "RIDNet": row(31.5), "MEPSNet": row(32.0)}
    mepsnet_last = {**paper_like, "MEPSNet": row(29.0)}
    run = RecordingRun()
    assert experiments.record_order(run, paper_like, ["moderate"]) == {
        "moderate": ("DnCNN < VDSR < OWAN < RIDNet < MEPSNet", True)}
    text, same = experiments.record_order(run, mepsnet_last, ["moderate"])["moderate"]
    assert text == "MEPSNet < DnCNN < VDSR < OWAN < RIDNet" and not same
    assert "differs from the paper" in run.records[-1][2]["note"]
    assert "differs" not in run.records[0][2]["note"] and run.records[0][2]["entry"] == "Table 7.1"


def test_sweeps_are_summarised_per_point_and_recorded_beside_figure_7_6():
    groups = variants.ablation_variants(QUICK)
    results = {v.label: [dict(params=100 + i, steps=s, seconds=1.0, levels={"moderate": level_result(30.0 + i + s / 100)})
                         for s in (100, 200)]
               for i, v in enumerate(groups["templates"].values())}
    rows = experiments.sweep_rows(results, groups["templates"])
    assert list(rows) == [4, 8, 16, 32]
    assert rows[8][("moderate", "psnr")] == pytest.approx((32.5, 0.7071067811865476))
    run = RecordingRun()
    experiments.record_sweeps(run, {"templates": rows}, QUICK, "moderate")
    assert [r[0] for r in run.records] == ["fig7_6/templates/4", "fig7_6/templates/8", "fig7_6/templates/16",
                                           "fig7_6/templates/32"]
    assert run.records[1][1] == "32.50 ± 0.71" and run.records[1][2]["entry"] == "Figure 7.6"
    assert "101 parameters, 150 steps; checkpoints: not recorded" in run.records[1][2]["note"]


def test_the_same_seed_gives_the_same_model_and_numbers(tmp_path, tiny_shdd):
    """Equal steps make a run reproducible: two runs from scratch with one seed agree exactly on this CPU."""
    v = variants.Variant("MEPSNet", "mepsnet", {"experts": 2, "srir": 1, "blocks": 1, "templates": 2,
                                          "extract_width": 8, "expert_width": 4})
    cfg = dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, steps=25, val_every=5, checkpoint_every=0))
    a_model, a = training.train_variant(fake_run(tmp_path / "a"), v, cfg, 3, tiny_shdd, progress=False, use_zoo=False)
    b_model, b = training.train_variant(fake_run(tmp_path / "b"), v, cfg, 3, tiny_shdd, progress=False, use_zoo=False)
    assert a.steps_done == b.steps_done == 25 and a.val == b.val and a.loss_curve == b.loss_curve
    for x, y in zip(a_model.state_dict().values(), b_model.state_dict().values()):
        assert torch.equal(x, y)
    c_model, c = training.train_variant(fake_run(tmp_path / "c"), v, cfg, 4, tiny_shdd, progress=False, use_zoo=False)
    assert c.val != a.val  # and another seed gives another run


def test_evaluation_keeps_the_first_versions_of_every_test_photograph(tiny_shdd):
    every = SHDDEval(tiny_shdd, level="moderate", split="train")
    first = SHDDEval(tiny_shdd, level="moderate", split="train", versions=1)
    assert len(every) == 2 * len(first) and all(it[0].stem.endswith("_00") for it in first.items)
    assert {it[0].stem[:-3] for it in first.items} == {it[0].stem[:-3] for it in every.items}
    with pytest.raises(CompanionError, match="versions"):
        SHDDEval(tiny_shdd, level="moderate", split="train", versions=0)


def test_loss_curve_keeps_means_of_every_block_of_steps():
    assert training.window_loss_curve([1.0] * 20 + [3.0] * 20 + [5.0] * 5) == [[20, 1.0], [40, 3.0]]
    assert training.window_loss_curve([2.0] * 10) == []  # fewer steps than one block
    assert training.window_loss_curve([1.0, 3.0] * 20) == [[20, 2.0], [40, 2.0]]


def test_record_gains_judges_the_target_on_validation_and_reports_test():
    def row(test, validation):
        return {("moderate", "psnr"): (test, 0.2), ("moderate", "input_psnr"): 23.0, "seeds": 3,
                ("validation", "psnr_per_image"): [[v + d for d in (-0.1, 0.0, 0.1, 0.0)] for v in validation],
                ("validation", "input_psnr_per_image"): [27.0, 27.0, 27.0, 27.0]}

    # A: test gain 1.5 dB, validation gain 0.5: the target is NOT reached (validation decides);
    # B: test gain 0.5 dB, validation gain 1.6: reached
    summary = {"A": row(24.5, (27.4, 27.5, 27.6)), "B": row(23.5, (28.5, 28.6, 28.7))}
    run = RecordingRun()
    gains = experiments.record_gains(run, summary, "moderate")
    assert gains["A"]["reached"] is False and gains["B"]["reached"] is True
    assert gains["A"]["validation_gain"] == pytest.approx(0.5) and gains["A"]["test_gain"] == pytest.approx(1.5)
    assert gains["B"]["interval"]["verdict"] == "agrees" and gains["A"]["interval"]["verdict"] == "disagrees"
    keys = [r[0] for r in run.records]
    assert keys == ["table7_1_target/A", "table7_1_gain/A/moderate", "table7_1_target/B", "table7_1_gain/B/moderate"]
    assert [r[1] for r in run.records] == [0.5, 1.5, 1.6, 0.5]
    assert "NOT reached" in run.records[0][2]["note"] and "validation" in run.records[0][2]["protocol"]
    assert "judged on validation" in run.records[1][2]["note"] and run.records[1][2]["entry"] == "Table 7.1"


def test_order_claims_pair_the_paper_s_neighbours_on_each_level():
    def row(level):
        return {(lv, "psnr_per_image"): [[level + i * 0.01 + s * 0.001 for i in range(4)] for s in range(3)]
                for lv in ("easy", "moderate")}

    summary = {"DnCNN": row(30.0), "VDSR": row(31.0), "OWAN": row(30.5), "RIDNet": row(32.0), "MEPSNet": row(33.0)}
    claims = experiments.order_claims(summary, ["easy", "moderate"])
    verdicts = {c["claim"]: c["verdict"] for c in claims}
    assert len(claims) == 8 and verdicts["VDSR beats DnCNN on easy"] == "agrees"
    assert verdicts["OWAN beats VDSR on moderate"] == "disagrees"
    run = RecordingRun()
    experiments.record_claims(run, claims)
    assert run.records[0][0] == "claim/VDSR beats DnCNN on easy" and run.records[0][1] == "agrees"


def test_table_7_3_rows_count_at_the_papers_size_without_the_quick_ablation_base():
    """07c's quick variants carry the ablation base (a 16-wide extraction, K = 4, 3 SRIRs); the paper-size count of
    a Table 7.3 row keeps only the row's own settings, so ME+PS (3 experts) is the paper's 2,241,187."""
    groups = variants.ablation_variants(QUICK)["Table 7.3"]
    counts = {label: count_parameters(build_model("mepsnet", "paper", **variants.table_overrides(v, QUICK)))
              for label, v in groups.items()}
    assert counts["ME+PS (3 experts)"] == 2_241_187
    assert counts["No ME, no PS (1 expert)"] > counts["PS (1 expert)"]
    assert variants.table_overrides(groups["No ME, no PS (1 expert)"], QUICK) == {"experts": 1, "share": False}
