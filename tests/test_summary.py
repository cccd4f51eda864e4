"""The shared seed statistics and claim verdicts (companion.summary)."""
import math

import pytest

from companion import summary
from tests.conftest import RecordingRun


def test_mean_std_is_the_sample_std_and_skips_what_is_not_a_number():
    assert summary.mean_std([30.0, 31.0, 32.0]) == pytest.approx((31.0, 1.0))
    assert summary.mean_std([30.0, None, float("nan"), float("inf"), 32.0]) == pytest.approx((31.0, math.sqrt(2)))
    assert summary.mean_std([5.0]) == (5.0, 0.0)
    mean, std = summary.mean_std([])
    assert math.isnan(mean) and math.isnan(std)


def test_pm_formats_mean_and_std():
    assert summary.pm((31.0, 1.0)) == "31.00 ± 1.00"
    assert summary.pm((0.91234, 0.00456), 4) == "0.9123 ± 0.0046"


@pytest.mark.parametrize("better, worse, expected", [
    ((30.0, 0.1), (29.0, 0.1), "agrees"),       # 1 dB ahead, spread 0.14
    ((30.0, 0.5), (29.8, 0.5), "unclear"),      # 0.2 dB ahead, spread 0.71
    ((29.0, 0.1), (30.0, 0.1), "disagrees"),
    ((30.0, 0.3), (29.6, 0.3), "unclear"),      # 0.4 < hypot(0.3, 0.3) = 0.424
    ((30.0, 0.2), (29.6, 0.2), "agrees"),       # 0.4 > 0.283
    ((float("nan"), 0.0), (29.0, 0.0), "unclear"),
])
def test_verdict_needs_a_difference_beyond_the_combined_spread(better, worse, expected):
    assert summary.verdict(better, worse)[0] == expected


def test_check_claims_reports_difference_and_spread():
    out = summary.check_claims([("Table 7.3", "A beats B", (30.0, 0.3), (29.0, 0.4))])
    assert out == [{"entry": "Table 7.3", "claim": "A beats B", "verdict": "agrees",
                    "detail": "difference +1.000 dB, seed spread 0.500 dB"}]


def test_markdown_table_has_a_header_rule_and_rows():
    text = summary.markdown_table(["model", "PSNR"], [["A", "30.00 ± 0.10"], ["B", 29]])
    assert text.splitlines() == ["| model | PSNR |", "|---|---|", "| A | 30.00 ± 0.10 |", "| B | 29 |"]


def test_record_mean_std_records_the_text_beside_the_entry():
    run = RecordingRun()
    assert summary.record_mean_std(run, "k", (30.0, 0.25), entry="Table 7.1", row="MEPSNet") == "30.00 ± 0.25"
    assert run.records == [("k", "30.00 ± 0.25", {"entry": "Table 7.1", "row": "MEPSNet"})]
