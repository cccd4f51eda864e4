"""Chapter 7's conclusions (companion.ch7.conclusions) are rendered from the measurements they are given: other
measurements give other text, and nothing in them is typed."""
from __future__ import annotations

from companion.ch7 import conclusions
from companion.ch7.shdd import LEVELS


def _gains(dncnn_validation: float) -> dict:
    return {"DnCNN": {"validation_gain": dncnn_validation, "reached": dncnn_validation >= 1.0, "test_gain": 1.97,
                      "test_std": 0.12},
            "MEPSNet": {"validation_gain": 1.31, "reached": True, "test_gain": 1.02, "test_std": 0.18}}


def _claim(verdict: str, claim: str = "MEPSNet beats RIDNet") -> dict:
    return {"entry": "Table 7.1", "claim": claim, "verdict": verdict, "detail": "difference +0.100 dB"}


def test_table_7_1_says_which_models_reach_the_target_on_validation():
    orders = {"moderate": ("MEPSNet < DnCNN", False)}
    reached = conclusions.table_7_1(_gains(1.52), orders, [_claim("agrees")], level="moderate", seeds=3)
    missed = conclusions.table_7_1(_gains(0.48), orders, [_claim("unclear")], level="moderate", seeds=3)
    assert "reached by every model" in reached[0] and "DnCNN +1.52 dB" in reached[0]
    assert "missed by DnCNN" in missed[0] and "DnCNN +0.48 dB" in missed[0]
    assert "DnCNN +1.97 ± 0.12 dB" in reached[1] and "validation" in reached[0] and "test" in reached[1]
    assert "matches the paper's on no level" in reached[2]
    assert "1 agrees of 1" in reached[3] and "1 unclear of 1" in missed[3]


def test_sharing_renders_the_counted_parameters():
    fractions = {"ours, 1 expert": {"without": 37851, "with": 19275, "removed": 1 - 19275 / 37851},
                 "paper, 1 expert": {"without": 3900000, "with": 1900000, "removed": 1 - 19 / 39}}
    [text] = conclusions.sharing(fractions)
    assert "37,851 → 19,275 parameters (49% removed)" in text and "(51% removed)" in text


def test_ablations_list_every_claim_with_its_verdict():
    claims = [_claim("agrees", "sharing helps"), _claim("disagrees", "3 experts beat 1"), _claim("unclear", "K")]
    summary, listing = conclusions.ablations(claims)
    assert "1 agrees, 1 disagrees, 1 unclear of 3" in summary
    assert listing.count("\n") == 2 and "3 experts beat 1: **disagrees**" in listing


def test_shdd_renders_region_counts_pixel_shares_and_images_written():
    stats = {level: {"regions": {n: 10, n + 2: 30}, "mean_regions": n + 1.5,
                     "pixel_share": {"noise": 0.3, "blur": 0.2, "identity": 0.5}}
             for n, level in zip((3, 5, 8), LEVELS)}
    regions, shares, written = conclusions.shdd(stats, LEVELS, {"easy": 1008, "moderate": 84}, plans=2000)
    assert "easy (2 lines): 4.50 regions on average, 3–5" in regions and "2,000 sampled plans" in regions
    assert "difficult (4 lines): 9.50 regions on average, 8–10" in regions
    assert shares.index("identity 50%") < shares.index("noise 30%") < shares.index("blur 20%")
    assert "differ by 30%" in shares
    assert "easy 1,008, moderate 84" in written


def _measurements(values: dict) -> list[dict]:
    return [{"key": key, "value": value} for key, value in values.items()]


def test_experts_renders_07d_from_its_measurements():
    same = {"expert_response/gaussian_noise": [1.28, 1.18, 1.27], "expert_response/gaussian_blur": [0.81, 0.95, 0.73],
            "tsne/silhouette_features": -0.0587, "tsne/silhouette_embedding": -0.1158,
            "tsne/silhouette_input_rgb": -0.1064,
            "psd_alpha/gaussian_blur": [2.30, 3.06, 3.13], "psd_alpha/gaussian_noise": [1.77, 1.42, 1.86],
            "fusion/identity": [0.098, 0.096, 0.052], "fusion/gaussian_noise": [0.090, 0.088, 0.046]}
    response, tsne, spectra, fusion = conclusions.experts(_measurements(same))
    assert "expert 2 most inside gaussian_noise (1.18×), least inside gaussian_blur (0.95×)" in response
    assert "do not split the work" in response
    assert "-0.059 in feature space (near zero" in tsne and "-0.116 in the 2-D embedding" in tsne
    assert "closer to the clean image's for gaussian_noise; not for gaussian_blur" in spectra
    assert "weighs experts, not distortions" in fusion
    split = dict(same, **{"expert_response/gaussian_blur": [0.81, 1.95, 0.73]})
    assert "do not split" not in conclusions.experts(_measurements(split))[0]
    assert conclusions.experts([]) == []
