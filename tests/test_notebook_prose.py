"""No notebook's prose types a measured number: measured values (decimals in dB, %, seconds, a mean ± std) are
printed by code cells from the run's measurements (``run.conclude``), so a rerun cannot leave the prose stale.
Settings (a patch of 32×32, a 1×1 convolution, a +1 dB target) are words about the recipe, not measurements."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
#: a decimal with a unit of measurement, or a number beside ±: how a measured value reads
MEASURED = re.compile(r"[-+−]?\d+[.,]\d+\s*(?:dB|%|s\b|ms\b|seconds|min\b|GB|MB)|\d\s*±\s*\d")


def measured_numbers(text: str) -> list[str]:
    return [m.group(0) for m in MEASURED.finditer(text)]


def test_the_pattern_finds_measured_numbers_and_leaves_settings_alone():
    assert measured_numbers("MEPSNet scored 23.64 ± 0.18, +1.02 dB over the input, in 259.3 s; 36 %") == [
        "4 ± 0", "+1.02 dB", "259.3 s"]
    assert measured_numbers("sharing removes 0.49 % or 12.5%") == ["0.49 %", "12.5%"]
    assert measured_numbers("a +1 dB target; 8 × 32×32 patches; 1×1 convolutions; LR 2e-3; U(±√(1/F))") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_markdown_cell_types_a_measured_number(path):
    notebook = nbformat.read(path, as_version=4)
    found = [(i, number) for i, cell in enumerate(notebook.cells) if cell.cell_type == "markdown"
             for number in measured_numbers(cell.source)]
    assert not found, f"{path.name}: markdown cells type measured numbers {found}; print them from the results"
