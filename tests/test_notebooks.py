"""Every committed notebook: clean on disk, and executed headlessly in the smoke profile.

The execution goes through the same runner as ``python -m companion run`` (papermill), into temporary folders,
so the tests never touch the committed ``figures/``.
"""
from __future__ import annotations

import json

import nbformat
import pytest
from PIL import Image

from companion.profiles import notebook_configs
from companion.runner import available_notebooks, run_notebooks

NOTEBOOKS = available_notebooks()


def test_there_are_notebooks_and_each_has_profiles():
    names = {p.stem for p in NOTEBOOKS}
    assert "00_quickstart" in names
    assert names == set(notebook_configs()), "every notebook needs a config module, and every config a notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name} cell {i + 1} carries outputs; clear them before committing"
            assert cell.execution_count is None, f"{path.name} cell {i + 1} carries an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_declares_profile_device_seed(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    for name in ("PROFILE", "DEVICE", "SEED"):
        assert f"{name} =" in tagged[0].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_smoke_run(path, tmp_path):
    figures = tmp_path / "figures"
    [outcome] = run_notebooks([path.stem], profile="smoke", device="cpu", seed=0, runs_dir=tmp_path / "runs",
                              figures_dir=figures, progress=False, echo=lambda *_: None)
    assert outcome.ok, f"{path.stem} failed in the smoke profile at {outcome.error}"
    results = json.loads((figures / "results" / f"{path.stem}.json").read_text())
    assert results["profile"] == "smoke" and results["notebook"] == path.stem
    assert results["measurements"], "a notebook should measure something"
    for fig in results["figures"]:
        png = figures / fig["file"]
        assert png.exists(), f"{fig['file']} listed but not written"
        assert json.loads(Image.open(png).text["Comment"])["profile"] == "smoke"
