"""Chapter 2's conclusions (companion.ch2.conclusions): rendered from the measurements they are given, so a rerun
with other numbers changes the text."""
from __future__ import annotations

import dataclasses

import pytest

from companion.ch2 import conclusions, config, efficiency, initialisation
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


@pytest.mark.parametrize("name", ["table_2_3", "figure_2_8"])
def test_conclusions_type_no_number(name):
    import inspect
    import re

    source = inspect.getsource(getattr(conclusions, name))
    literals = [s for s in re.findall(r'"[^"{}]*"', source) if re.search(r"\d+\.\d+|\d+ dB", s)]
    assert literals == []
