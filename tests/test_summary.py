"""The shared seed statistics and the claims' paired verdicts (companion.summary)."""
import math

import numpy as np
import pytest

from companion import summary
from tests.conftest import RecordingRun

#: Three test images of very different difficulty (dB): pairing must remove this, not count it as noise.
IMAGES = np.array([24.0, 29.0, 35.0, 31.0])


def _scores(per_seed_shift, images=IMAGES, wiggle=0.01):
    """seeds × images: each seed's image scores moved by its shift, plus a small per-(seed, image) wiggle."""
    rng = np.random.default_rng(1)
    shifts = np.asarray(per_seed_shift, dtype=float)[:, None]
    return images[None, :] + shifts + wiggle * rng.standard_normal((len(shifts), len(images)))


def test_mean_std_is_the_sample_std_and_skips_what_is_not_a_number():
    assert summary.mean_std([30.0, 31.0, 32.0]) == pytest.approx((31.0, 1.0))
    assert summary.mean_std([30.0, None, float("nan"), float("inf"), 32.0]) == pytest.approx((31.0, math.sqrt(2)))
    assert summary.mean_std([5.0]) == (5.0, 0.0)
    mean, std = summary.mean_std([])
    assert math.isnan(mean) and math.isnan(std)


def test_pm_formats_mean_and_std():
    assert summary.pm((31.0, 1.0)) == "31.00 ± 1.00"
    assert summary.pm((0.91234, 0.00456), 4) == "0.9123 ± 0.0046"


def test_a_consistent_gain_agrees_though_the_images_differ_far_more():
    worse = _scores([0.0, 0.0, 0.0])
    better = _scores([0.1, 0.12, 0.09])
    out = summary.paired_interval(better, worse)
    assert out["verdict"] == "agrees" and (out["seeds"], out["images"]) == (3, 4)
    assert 0 < out["low"] < out["difference"] < out["high"]
    assert out["difference"] == pytest.approx(float(np.mean(better - worse)))
    # unpaired, the 11 dB between images would swamp a 0.1 dB gain; paired, it cancels
    assert np.std(better) > 10 * out["difference"]


def test_a_consistent_loss_disagrees():
    out = summary.paired_interval(_scores([0.0, 0.0, 0.0]), _scores([0.3, 0.25, 0.35]))
    assert out["verdict"] == "disagrees" and out["low"] < out["high"] < 0


def test_differences_on_both_sides_of_zero_are_unclear():
    out = summary.paired_interval(_scores([0.2, -0.2, 0.05]), _scores([0.0, 0.0, 0.0]))
    assert out["verdict"] == "unclear" and out["low"] < 0 < out["high"]


def test_one_seed_that_disagrees_keeps_a_claim_unclear_even_beyond_the_seed_spread():
    """Two seeds gain 1.2 dB, the third loses 0.1 dB on every image. The mean difference (0.77 dB) is larger than
    the seeds' spread (the old rule, diff > hypot(std_A, std_B), called it "agrees"), but one seed in three
    disagrees, and the seed resampling keeps the interval over zero."""
    worse = _scores([0.0, 0.0, 0.0], wiggle=0.0)
    better = _scores([1.2, 1.2, -0.1], wiggle=0.0)
    spread = math.hypot(summary.mean_std(better.mean(axis=1))[1], summary.mean_std(worse.mean(axis=1))[1])
    out = summary.paired_interval(better, worse)
    assert out["difference"] == pytest.approx((1.2 + 1.2 - 0.1) / 3) and out["difference"] > spread
    assert out["verdict"] == "unclear" and out["low"] < 0 < out["high"]


def test_one_seed_and_one_image_is_no_evidence():
    out = summary.paired_interval([[31.0]], [[30.0]])
    assert out["verdict"] == "unclear"
    assert out["difference"] == out["low"] == out["high"] == pytest.approx(1.0)
    assert (out["seeds"], out["images"]) == (1, 1)


def test_a_flat_list_is_one_score_per_seed():
    out = summary.paired_interval([31.0, 31.2, 31.1, 31.3, 31.0, 31.4], [30.0, 30.1, 30.0, 30.2, 30.1, 30.0])
    assert (out["seeds"], out["images"]) == (6, 1) and out["verdict"] == "agrees"


def test_a_score_that_is_not_a_number_makes_the_claim_unclear():
    better = _scores([1.0, 1.0, 1.0])
    better[1, 2] = np.nan
    out = summary.paired_interval(better, _scores([0.0, 0.0, 0.0]))
    assert out["verdict"] == "unclear" and math.isnan(out["difference"]) and math.isnan(out["low"])


@pytest.mark.parametrize("better, worse", [
    (np.zeros((3, 4)), np.zeros((3, 3))),      # different images
    (np.zeros((2, 4)), np.zeros((3, 4))),      # different seeds
    (np.zeros((0, 4)), np.zeros((0, 4))),      # nothing
    (np.zeros((2, 2, 2)), np.zeros((2, 2, 2))),  # not seeds × images
])
def test_scores_that_do_not_pair_are_refused(better, worse):
    with pytest.raises(ValueError):
        summary.paired_interval(better, worse)


def test_the_interval_is_deterministic():
    better, worse = _scores([0.2, -0.1, 0.15]), _scores([0.0, 0.0, 0.0])
    assert summary.paired_interval(better, worse) == summary.paired_interval(better, worse)
    other = summary.paired_interval(better, worse, seed=summary.BOOTSTRAP_SEED + 1)
    assert other["difference"] == summary.paired_interval(better, worse)["difference"]


def test_check_claims_reports_the_interval():
    better, worse = _scores([1.0, 1.1, 0.9]), _scores([0.0, 0.0, 0.0])
    [out] = summary.check_claims([("Table 7.3", "A beats B", better, worse)])
    expected = summary.paired_interval(better, worse)
    assert out == {"entry": "Table 7.3", "claim": "A beats B", "verdict": "agrees",
                   "difference": expected["difference"], "low": expected["low"], "high": expected["high"],
                   "detail": summary.interval_text(expected)}
    assert out["detail"].startswith(f"difference {expected['difference']:+.3f} dB, 95 % interval [")
    assert out["detail"].endswith("over 3 seeds × 4 images")


def test_interval_text_names_one_seed_and_one_image_in_the_singular():
    text = summary.interval_text(summary.paired_interval([[31.0]], [[30.5]]), unit="dB", digits=2)
    assert text == "difference +0.50 dB, 95 % interval [+0.50, +0.50] dB over 1 seed × 1 image"


def test_markdown_table_has_a_header_rule_and_rows():
    text = summary.markdown_table(["model", "PSNR"], [["A", "30.00 ± 0.10"], ["B", 29]])
    assert text.splitlines() == ["| model | PSNR |", "|---|---|", "| A | 30.00 ± 0.10 |", "| B | 29 |"]


def test_record_mean_std_records_the_text_beside_the_entry():
    run = RecordingRun()
    assert summary.record_mean_std(run, "k", (30.0, 0.25), entry="Table 7.1", row="MEPSNet") == "30.00 ± 0.25"
    assert run.records == [("k", "30.00 ± 0.25", {"entry": "Table 7.1", "row": "MEPSNet"})]


def test_fewer_than_six_pairs_are_unclear_even_when_every_one_agrees():
    """Two seeds × one image (the smoke profile) or one seed × three images: every difference positive, yet a sign
    test could not reject "no difference" at 5 %, so the verdict stays unclear; six pairs of one sign agree."""
    assert summary.MIN_PAIRS == 6
    for shape in [(2, 1), (1, 3), (1, 5)]:
        gain = np.full(shape, 1.0)
        result = summary.paired_interval(gain + 30.0, np.full(shape, 30.0))
        assert result["low"] > 0 and result["verdict"] == "unclear", shape
    assert summary.paired_interval(np.full((2, 3), 31.0), np.full((2, 3), 30.0))["verdict"] == "agrees"
