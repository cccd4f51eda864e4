"""Chapter 2's conclusions (companion.ch2.conclusions): rendered from the measurements they are given, so a rerun
with other numbers changes the text."""
from __future__ import annotations

import dataclasses

import pytest

from companion.ch2 import conclusions, config, costs_tables, efficiency, initialisation
from companion.ch2.config import OURS_GAN, OURS_L1
from companion.ch2.conclusions import AUTHORS_GAN, AUTHORS_L1
from companion.ch2.init_schemes import BEST, INITS

IMAGES = ("china", "flower", "rocket")


def _runs(by_scheme: dict[str, list[list[float]]]) -> dict[str, list[dict]]:
    out = {}
    for key, seeds in by_scheme.items():
        out[key] = [dict(init=key, seed=i, steps=1000, seconds=100.0, first_loss=0.5, final_loss=0.05, params=70_611,
                         psnr=sum(p) / 3, ssim=0.8, gain=sum(p) / 3 - 27.0, bicubic_psnr=27.0, bicubic_ssim=0.8,
                         checkpoint=f"zoo:ch2/02b/{key}-seed{i}", protocol={},
                         per_image={n: {"psnr": x} for n, x in zip(IMAGES, p)}) for i, p in enumerate(seeds)]
    return out


def test_table_2_3_renders_the_winner_its_lead_and_the_verdicts():
    base = [[26.0, 27.0, 25.0], [26.2, 27.1, 25.3], [25.9, 26.8, 25.1]]
    runs = {k: [[x - 1.0 for x in s] for s in base] for k in config.TABLE_2_3_INITS}
    runs[BEST] = base
    runs["default_0.1"] = [[x + d for x, d in zip(s, (-0.3, 0.3, -0.1))] for s in base]  # image-dependent sign
    summary = initialisation.summarise(_runs(runs))
    paper = initialisation.paper_table_2_3()
    claims = initialisation.table_2_3_claims(summary, paper)
    text = "\n\n".join(conclusions.table_2_3(summary, claims, paper))
    assert f"{INITS[BEST].label}, has the highest mean PSNR" in text
    assert "supports 4 of the 5 claims" in text and f"unclear against {INITS['default_0.1'].label}" in text
    assert "70,611 parameters" in text and "1,000 steps" in text
    assert "the winner by" in text and "27.00 dB" in text  # every mean is below bicubic here
    worse = {**runs, "msra_normal_1.0": [[x + 0.5 for x in s] for s in base]}
    summary2 = initialisation.summarise(_runs(worse))
    text2 = "\n\n".join(conclusions.table_2_3(summary2, initialisation.table_2_3_claims(summary2, paper), paper))
    assert f"is not the best here: {INITS['msra_normal_1.0'].label}" in text2 and text2 != text


def test_figure_2_8_renders_the_exact_costs_and_the_paired_verdicts():
    smoke = dataclasses.replace(config.EFFICIENCY_PROFILES["smoke"], cost_variants=("CARN", "G4R", "G8R", "G16R"))
    rows = efficiency.cost_table(smoke)
    by = {r["variant"]: r for r in rows}
    carn = [[25.0, 27.0, 23.0]]
    claims = [dict(variant="G4R", diff=-0.31, low=0.3, high=0.32, seeds=1, images=3, thesis=-0.2,
                   verdict="worse than CARN", detail="difference +0.310 dB, 95 % interval [+0.300, +0.320] dB")]
    text = "\n\n".join(conclusions.figure_2_8(rows, claims, smoke))
    assert f"{by['G4R']['params']:,} parameters" in text and f"{by['CARN']['params']:,}" in text
    assert f"{by['G4R']['params_vs_carn']:.2f}×" in text and "G8R" in text and "G16R" in text
    assert f"G8R saves {(by['G4R']['mult_adds'] - by['G8R']['mult_adds']) / 1e9:.1f} G over G4R" in text
    assert "G4R: worse than CARN (difference +0.310 dB" in text and "the thesis -0.20 dB" in text
    assert f"{smoke.train.steps:,} steps" in text and carn
    assert conclusions.figure_2_8([], [], smoke) == []


class _Recorder:
    def record(self, *args, **kwargs):
        pass


def test_carn_costs_counts_the_printed_cells_and_eq_2_10_from_the_recount():
    run = _Recorder()
    t21, t24 = costs_tables.record_table_2_1(run), costs_tables.record_table_2_4(run)
    t25, t31 = costs_tables.record_tables_2_5_to_2_7(run, t24), costs_tables.record_table_3_1(run)
    curve = costs_tables.eq_2_10_curve((1, 2, 4, 64))
    text = "\n\n".join(conclusions.carn_costs(t21, t24, t25, t31, curve))
    assert f"Table 2.1: {len(t21)} of {len(t21)} parameter cells" in text
    assert "Table 2.4 CARN-M x4" in text and "Table 2.4 CARN x4" not in text  # CARN-M's print is bias-free
    g2, g4, g64 = curve[1], curve[2], curve[3]
    assert f"{g2['saving']:.2f}× fewer Mult-Adds than a residual block at G = 2" in text
    assert f"{g64['saving']:.2f}× fewer at G = 64" in text
    assert f"CARN costs {g4['network_saving']:.2f}× the Mult-Adds" in text and g4["network_saving"] < g4["saving"]
    mismatch = [dict(r, printed_params=1_000) if r["label"] == "CARN x4" else r for r in t24]
    assert "1 match neither count" in "\n".join(conclusions.carn_costs(t21, mismatch, t25, t31, curve))


def test_authors_weights_renders_each_release_and_the_best_reading():
    result = dict(label="CARN-M", reading="code", set="embedded", scale=4, psnr=28.3, bicubic_psnr=27.33, gain=0.97,
                  wins=2, images=3)
    checks = {"own reading (code)": dict(psnr=24.71, bicubic_psnr=23.51),
              "other reading (thesis)": dict(psnr=12.65, bicubic_psnr=23.51),
              "Eq. 2.2 as printed (concat='fused')": dict(psnr=23.62, bicubic_psnr=23.51)}
    text = "\n\n".join(conclusions.authors_weights([result], [], {"CARN-M": checks}))
    assert "28.30 dB against bicubic's 27.33 (+0.97 dB, better on 2 of 3 images)" in text
    assert "restore best in the reading they were released in" in text
    checks["other reading (thesis)"]["psnr"] = 30.0
    assert "the best is other reading (thesis)" in "\n".join(conclusions.authors_weights([result], [], {"CARN-M": checks}))
    assert "not on this machine" in conclusions.authors_weights([], ["no file"], {})[0]


def test_figure_2_10_renders_each_models_gain_over_bicubic():
    data = {"psnr": {"china": {"bicubic": 17.73, "CARN": 17.91, "CARN-M, authors'": 18.39},
                     "rocket": {"bicubic": 22.48, "CARN": 22.75, "CARN-M, authors'": 23.44}}}
    text = conclusions.figure_2_10(data, ["CARN, authors': not here"])[0]
    assert "CARN from +0.18 to +0.27 dB" in text and "CARN-M, authors' from +0.66 to +0.96 dB" in text
    assert "china 17.73 → 18.39 dB" in text and "Not shown: CARN, authors'." in text


def _pcarn_result(authors: bool = True) -> dict:
    def score(psnr, ssim, per_image):
        return dict(psnr=psnr, ssim=ssim, per_image={n: {"psnr": v} for n, v in zip(IMAGES, per_image)})

    scores = {"bicubic": score(27.71, 0.803, (25.0, 28.0, 30.1)), OURS_L1: score(27.85, 0.805, (25.2, 28.2, 30.1)),
              OURS_GAN: score(24.38, 0.668, (22.0, 25.0, 26.1))}
    mean = {"bicubic": -1.30, OURS_L1: -1.18, OURS_GAN: -0.52}
    median = {"bicubic": -1.40, OURS_L1: -1.24, OURS_GAN: -1.09}
    if authors:
        scores |= {AUTHORS_L1: score(29.30, 0.843, (26.0, 30.0, 31.9)), AUTHORS_GAN: score(27.91, 0.812, (25, 28, 30.7))}
        mean |= {AUTHORS_L1: -0.97, AUTHORS_GAN: -0.41}
        median |= {AUTHORS_L1: -1.05, AUTHORS_GAN: -0.42}
    history = {"d": [4.16] * 90 + [3.79] * 10, "d_real": [0.5] * 90 + [0.56] * 10, "d_fake": [0.5] * 90 + [0.44] * 10}
    return dict(scores=scores, psd=dict(mean_high_band=mean, mean_high_band_median=median),
                gan=dict(steps=100, history=history))


def test_pcarn_renders_both_stages_the_authors_and_table_2_2():
    text = "\n\n".join(conclusions.pcarn(_pcarn_result()))
    assert "PSNR 29.30 → 27.91 dB (-1.39)" in text and "-0.97 → -0.41 of the mean" in text
    assert "CARN's PSNR changes from -2.40 to -2.14 dB with adversarial" in text  # from companion/paper
    assert "27.85 dB / SSIM 0.805 against 27.71 dB / 0.803 (+0.14 dB, ahead on 2 of 3 images)" in text
    assert "PSNR 27.85 → 24.38 dB (-3.47)" in text and "loss is 3.79 (first step 4.16), D(HR) 0.56" in text
    assert "median ring +0.15 for ours and +0.63 for theirs" in text
    alone = "\n\n".join(conclusions.pcarn(_pcarn_result(authors=False)))
    assert "authors'" not in alone and "Our adversarial stage" in alone


def test_pcarn_figures_render_the_discriminator_crops_text_and_table_2_8():
    facts = dict(params=15_887_427, params_one=5_295_809, patch=192, factors=[1, 2, 4],
                 map_shapes=[[1, 1, 24, 24], [1, 1, 12, 12], [1, 1, 6, 6]])
    maps = {"HR": {"mean": [0.35, 0.51, 0.49]}}
    failure = {"pair": (AUTHORS_L1, AUTHORS_GAN), "psnr": {"china": {AUTHORS_L1: 19.68, AUTHORS_GAN: 17.83}}}
    texture = {"psnr": {"china": {"bicubic": 18.59, AUTHORS_GAN: 17.39}}}
    text_data = {"source": "rendered text", "psnr": {"text": {8: {"bicubic": 20.0, OURS_L1: 20.4}}}}
    t28 = {"values": [], "reason": "no AlexNet weights"}
    text = "\n\n".join(conclusions.pcarn_figures(facts, maps, failure, texture, text_data, t28))
    assert "15,887,427 parameters (5,295,809 per scale)" in text and "24×24, 12×12, 6×6 maps" in text
    assert "HR 0.35, 0.51, 0.49" in text and "china 19.68 → 17.83 dB" in text and "+1.85 dB" in text
    assert f"{AUTHORS_GAN} -1.20 dB from bicubic" in text and f"{OURS_L1} 8 px +0.40" in text
    assert "not measured at this profile (no AlexNet weights)" in text
    t28 = {"values": [dict(row="PCARN x4", set="Set14", lpips=0.1234)], "reason": ""}
    assert "PCARN x4 on Set14: LPIPS 0.123" in "\n".join(
        conclusions.pcarn_figures(facts, maps, failure, texture, text_data, t28))


@pytest.mark.parametrize("name", ["table_2_3", "figure_2_8", "carn_costs", "authors_weights", "figure_2_10", "pcarn",
                                  "pcarn_figures"])
def test_conclusions_type_no_number(name):
    import inspect
    import re

    function = getattr(conclusions, name)
    source = inspect.getsource(function).replace(function.__doc__ or "", "")  # the docstring may cite "Eq. 2.10"
    literals = [s for s in re.findall(r'"[^"{}]*"', source) if re.search(r"\d+\.\d+|\d+ dB", s)]
    assert literals == []
